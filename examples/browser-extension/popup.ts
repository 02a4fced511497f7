/**
 * The popup: asks the service worker for the state, shows the login code while a device login runs,
 * and the basket with the state of each Rucio item's rules. It never sees a token.
 */
import { chrome, type Prompt, type Status, type View } from './shared.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const send = (type: 'login' | 'logout' | 'refresh' | 'status') => chrome.runtime.sendMessage({ type });

function cell(text: string, className?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function showView(view: View | undefined): void {
  if (!view) {
    $('basket').replaceChildren();
    return;
  }
  $('who').textContent = `${view.user} (Rucio account ${view.account}) — ${view.rows.length} basket items, ${new Date(view.at).toLocaleTimeString()}`;
  const table = document.createElement('table');
  table.innerHTML = '<thead><tr><th>#</th><th>archive</th><th>item</th><th>rules</th></tr></thead>';
  const body = table.createTBody();
  for (const r of view.rows) {
    const tr = body.insertRow();
    if (r.did) tr.dataset.did = r.did;
    tr.append(cell(String(r.index)), cell(r.archive), cell(r.label), cell(r.did ? r.rules.map((x) => `${x.id.slice(0, 8)}… ${x.state} @ ${x.rse}`).join('; ') || 'no rule' : '-', 'rules'));
  }
  $('basket').replaceChildren(table);
}

function showPrompt(prompt: Prompt | undefined): void {
  $('prompt').hidden = !prompt;
  if (!prompt) return;
  $('code').textContent = prompt.userCode;
  $<HTMLAnchorElement>('verify').href = prompt.verificationUriComplete ?? prompt.verificationUri;
}

async function update(): Promise<void> {
  const status = (await send('status')) as Status;
  const { view, prompt, error } = (await chrome.storage.session.get(['view', 'prompt', 'error'])) as { view?: View; prompt?: Prompt; error?: string };
  $('error').textContent = error || status.error || '';
  if (!status.configured) {
    $('who').textContent = 'Set the Data Lake in the options first.';
    return;
  }
  $('login').hidden = status.loggedIn;
  $('actions').hidden = !status.loggedIn;
  if (!status.loggedIn) $('who').textContent = 'Not logged in.';
  showPrompt(status.loggedIn ? undefined : prompt);
  showView(status.loggedIn ? view : undefined);
}

$('login-button').onclick = () => void send('login');
$('refresh').onclick = () => void send('refresh').then(update);
$('logout').onclick = () => void send('logout').then(update);
chrome.storage.onChanged.addListener(() => void update());
await update();
if (!$('actions').hidden) await send('refresh');

/**
 * The extension's service worker (MV3): it owns the identity and talks to the Data Lake.
 *
 * - Login: the OIDC device flow (no redirect URI to register; the code is shown in the popup). The
 *   session, with its refresh token, is kept in `chrome.storage.local` by the SDK's
 *   `chromeStorageStore`, and renews itself.
 * - View: the ESAP basket (bearer token) and, for each Rucio item, the rules on it with their state,
 *   written to `chrome.storage.session` for the popup.
 *
 * The SDK's core runs in service workers as is: static imports, fetch, WebCrypto, no DOM.
 */
import { EsapClient, OidcClient, RucioClient, chromeStorageStore, formatDid, type OidcSession } from 'dlaas';
import { chrome, type Config, type Message, type Prompt, type Status, type View } from './shared.ts';

const store = chromeStorageStore('local');

async function config(): Promise<Config | undefined> {
  return (await chrome.storage.local.get('config')).config as Config | undefined;
}

function client(c: Config): OidcClient {
  // allowInsecureLoopback: a local test provider on http://127.0.0.1 (https is required for any other host).
  return new OidcClient({ issuer: c.issuer, clientId: c.clientId, store, allowInsecureLoopback: true });
}

async function session(): Promise<OidcSession | undefined> {
  const c = await config();
  return c ? client(c).restoreSession() : undefined;
}

async function setError(error: unknown): Promise<void> {
  const e = error as { code?: string; message?: string };
  await chrome.storage.session.set({ error: `${e.code ?? 'ERROR'}: ${e.message ?? String(error)}` });
}

async function refresh(): Promise<void> {
  const c = await config();
  const s = await session();
  if (!c || !s) return;
  const esap = new EsapClient({ baseUrl: c.esapUrl, token: s });
  const rucio = new RucioClient({ baseUrl: c.rucioUrl, token: s });
  const [basket, me] = await Promise.all([esap.basket.get(), rucio.accounts.whoami()]);
  const rows: View['rows'] = await Promise.all(
    basket.items.map(async (item, i) => {
      if (item.kind !== 'rucio') return { index: i + 1, archive: item.archive, label: 'accessUrl' in item && item.accessUrl ? item.accessUrl : JSON.stringify(item.data).slice(0, 80), rules: [] };
      const rules = (await rucio.dids.rules(item.did).toArray()).map((r) => ({ id: r.id, state: r.state, rse: r.rse_expression }));
      return { index: i + 1, archive: item.archive, label: formatDid(item.did), did: formatDid(item.did), rules };
    }),
  );
  const view: View = { account: me.account, user: basket.userName, at: new Date().toISOString(), rows };
  await chrome.storage.session.set({ view, error: '' });
}

async function login(): Promise<void> {
  const c = await config();
  if (!c) throw new Error('Set the Data Lake in the extension options first');
  await chrome.storage.session.remove(['prompt', 'view', 'error']);
  await client(c).deviceLogin({
    scope: 'openid profile offline_access wlcg.groups',
    audience: 'rucio',
    onPrompt: (p) => chrome.storage.session.set({ prompt: { userCode: p.userCode, verificationUri: p.verificationUri, ...(p.verificationUriComplete ? { verificationUriComplete: p.verificationUriComplete } : {}), expiresAt: p.expiresAt.toISOString() } satisfies Prompt }),
  });
  await chrome.storage.session.remove('prompt');
  await refresh();
}

chrome.runtime.onMessage.addListener((message, _sender, respond) => {
  const m = message as Message;
  const answer = async (): Promise<Status | { ok: true }> => {
    if (m.type === 'status') return { configured: (await config()) !== undefined, loggedIn: (await session()) !== undefined };
    if (m.type === 'login') void login().catch(setError); // runs on; the popup follows chrome.storage
    if (m.type === 'refresh') await refresh().catch(setError);
    if (m.type === 'logout') {
      await (await session())?.logout().catch(() => {});
      await chrome.storage.session.remove(['view', 'prompt', 'error']);
    }
    return { ok: true };
  };
  answer().then(respond, (e: unknown) => respond({ configured: false, loggedIn: false, error: String(e) }));
  return true; // respond asynchronously
});

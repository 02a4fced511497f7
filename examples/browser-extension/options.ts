/** The options page: where the Data Lake is (kept in `chrome.storage.local`). */
import { chrome, type Config } from './shared.ts';

const form = document.getElementById('form') as HTMLFormElement;
const current = (await chrome.storage.local.get('config')).config as Config | undefined;
for (const [k, v] of Object.entries(current ?? {})) (form.elements.namedItem(k) as HTMLInputElement | null)?.setAttribute('value', v);
form.onsubmit = async (event) => {
  event.preventDefault();
  const data = Object.fromEntries(new FormData(form)) as unknown as Config;
  await chrome.storage.local.set({ config: data });
  document.getElementById('saved')!.textContent = 'Saved.';
};

// A web page using the browser ESM bundle of the packed package: OIDC pending login and session in
// sessionStorage, downloads into the Origin Private File System. Every request is cross-origin
// (page, Data Lake and OpenID Provider are on different loopback ports), so CORS is exercised.
import * as dlaas from './dlaas.js';
import { runScenario } from './scenario.mjs';

async function main() {
  const config = await (await fetch('./config/page.json')).json();
  const opfs = await navigator.storage.getDirectory();
  const dir = await opfs.getDirectoryHandle('dlaas-matrix', { create: true });
  const result = await runScenario({
    ...config.scenario,
    dlaas,
    oidc: {
      ...config.scenario.oidc,
      store: dlaas.webStorageStore('session'),
      authorize: async (url) => (await fetch('./browse', { method: 'POST', body: url })).text(),
    },
    sink: dlaas.opfsSink(dir),
    read: async (location) => new Uint8Array(await (await location.handle.getFile()).arrayBuffer()),
  });
  return { ...result, stored: Object.keys(sessionStorage).filter((k) => k.startsWith('dlaas:oidc:')).length };
}

window.__result = main().catch((error) => ({ ok: false, error: String(error?.message ?? error), stack: String(error?.stack ?? '') }));

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
  return { ...result, stored: Object.keys(sessionStorage).filter((k) => k.startsWith('dlaas:oidc:')).length, opfsLock: await twoWriters(dir) };
}

/**
 * Two writers of one OPFS file (two tabs or workers): the second waits on the Web Lock until the
 * first closes, then resumes from the state the first kept; positional writes land at their offsets.
 */
async function twoWriters(dir) {
  const expected = { id: 'user.x:y', bytes: 4, adler32: null, md5: null };
  const first = await dlaas.opfsSink(dir).open('locks/y', { expected });
  let secondOpened = false;
  const second = dlaas.opfsSink(dir).open('locks/y', { expected }).then((f) => ((secondOpened = true), f));
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 10));
  const waited = !secondOpened;
  await first.write(new Uint8Array([1, 2]), 0);
  await first.close({ keep: { segments: [{ start: 0, end: 4, done: 2 }] } });
  const next = await second;
  const resumed = next.resume?.segments[0]?.done ?? 0;
  await next.write(new Uint8Array([4]), 3);
  await next.write(new Uint8Array([3]), 2);
  await next.commit();
  const locks = await dir.getDirectoryHandle('locks');
  const bytes = [...new Uint8Array(await (await (await locks.getFileHandle('y')).getFile()).arrayBuffer())];
  const left = [];
  for await (const name of locks.keys()) left.push(name);
  return { webLocks: !!navigator.locks, waited, resumed, bytes, left };
}

window.__result = main().catch((error) => ({ ok: false, error: String(error?.message ?? error), stack: String(error?.stack ?? '') }));

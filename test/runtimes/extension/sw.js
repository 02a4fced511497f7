/* global chrome */
// An MV3 extension service worker using the SDK: static imports only (no dynamic import()), no DOM,
// no eval (the extension CSP forbids it), OIDC login state and session in chrome.storage. It runs
// the scenario once at start-up and POSTs the result to the harness.
import * as dlaas from './dlaas.js';
import { runScenario } from './scenario.js';
import config from './config.js';

function evalBlocked() {
  try {
    new Function('return 1')();
    return false;
  } catch {
    return true;
  }
}

async function run() {
  let report;
  try {
    const result = await runScenario({
      ...config.scenario,
      dlaas,
      oidc: {
        ...config.scenario.oidc,
        store: dlaas.chromeStorageStore('local'),
        authorize: async (url) => (await fetch(config.browseUrl, { method: 'POST', body: url })).text(),
      },
      sink: dlaas.memorySink(),
      read: async (location) => new Uint8Array(await location.blob.arrayBuffer()),
    });
    const stored = await chrome.storage.local.get(null);
    const sessions = Object.entries(stored).filter(([k, v]) => k.startsWith('dlaas:oidc:') && typeof v === 'string' && v.includes('refreshToken'));
    report = {
      ...result,
      runtime: `chromium ${/Chrome\/([\d.]+)/.exec(navigator.userAgent)?.[1] ?? '?'} (MV3 service worker)`,
      chromeStorageSessions: sessions.length,
      dom: typeof document !== 'undefined' || typeof window !== 'undefined',
      evalBlocked: evalBlocked(),
    };
  } catch (error) {
    report = { ok: false, error: String(error?.message ?? error), stack: String(error?.stack ?? '') };
  }
  await chrome.storage.local.set({ result: report });
  await fetch(config.reportUrl, { method: 'POST', body: JSON.stringify(report) });
}

run();

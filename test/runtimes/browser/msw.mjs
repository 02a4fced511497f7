// msw's browser worker mode: the emulated Data Lake of `dlaas/testing` runs in the page, and msw's
// service worker (`setupWorker(...lake.handlers())`) intercepts the SDK's requests to it. Requests
// msw does not handle (the real OpenID Provider, the harness) go to the network.
import { dlaas, setupWorker, testing } from './msw/entry.js';
import { runScenario } from './scenario.mjs';

async function main() {
  const config = await (await fetch('./config/msw.json')).json();
  const s = config.scenario;
  const lake = await testing.createDataLakeEmulator({
    serve: 'fetch',
    baseUrl: config.emulatorUrl,
    rucio: { oidc: { issuers: [{ issuer: s.oidc.issuer, jwksUri: `${s.oidc.issuer}/jwks` }] } },
  });
  const token = lake.addUser({ account: s.account, email: `${s.account}@example.org`, admin: true });
  lake.rucio.addOidcIdentity(s.account, s.oidc.issuer, s.account);
  await lake.seedDataset({ scope: s.scope, name: s.dataset, rse: s.rse, files: config.files.map((f) => ({ name: f.name, content: new Uint8Array(f.content) })) });
  lake.esap.setBasket(s.account, [{ archive: 'rucio', record: { scope: s.scope, name: s.dataset } }]);

  const worker = setupWorker(...lake.handlers());
  await worker.start({ quiet: true, onUnhandledFrame: 'bypass', serviceWorker: { url: './mockServiceWorker.js' } });
  // The harness's job elsewhere: finish the rule's transfers (and copy the bytes to storage).
  const transfers = setInterval(() => void lake.completeTransfers(), 100);
  try {
    const result = await runScenario({
      ...s,
      dlaas,
      url: lake.url,
      token,
      storageToken: await lake.mintStorageToken(),
      oidc: { ...s.oidc, store: dlaas.webStorageStore('session'), authorize: async (url) => (await fetch('./browse', { method: 'POST', body: url })).text() },
      sink: dlaas.memorySink(),
      read: async (location) => new Uint8Array(await location.blob.arrayBuffer()),
    });
    const intercepted = lake.rucio.requests?.length ?? undefined;
    return { ...result, controlled: navigator.serviceWorker.controller !== null, intercepted };
  } finally {
    clearInterval(transfers);
    worker.stop();
  }
}

window.__result = main().catch((error) => ({ ok: false, error: String(error?.message ?? error), stack: String(error?.stack ?? '') }));

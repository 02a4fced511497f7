// The runtime matrix's one end-to-end scenario, in plain ESM JavaScript with no imports of its own,
// so that Node (import and require), Deno, Bun, a browser page and an MV3 extension service worker
// all run this file unchanged. Each runtime hands in the package it imported and its natural sink.
//
// Steps: static-token auth → one OIDC login (authorization code + PKCE against a real OpenID
// Provider; the "user's browser" is played by the harness) whose session is saved in the runtime's
// token store and restored from it → read the ESAP basket → list DIDs and replicas → create a rule
// to another RSE and wait for it → stage one file in download mode into the sink → verify the bytes
// → (where a stalled URL is given) abort a download mid-body: rejected with AbortError, nothing published.

/**
 * @typedef {object} ScenarioOptions
 * @property {any} dlaas The imported `dlaas` namespace (ESM namespace, CommonJS exports or the browser bundle).
 * @property {string} url Base URL of the Data Lake (Rucio at `/`, ESAP at `/esap-api/`, storage at `/storage/<rse>/`).
 * @property {string} account The Rucio account (also the ESAP user and the OIDC subject).
 * @property {string} token A Rucio token for `account` (used through `staticToken`).
 * @property {string} storageToken A WLCG token for storage.
 * @property {{ issuer: string, clientId: string, redirectUri: string, store?: any, authorize: (url: string) => Promise<string> }} oidc
 *   The OpenID Provider, the public client, its token store, and who plays the user's browser.
 * @property {string} scope The scope of the datasets.
 * @property {string} dataset This run's dataset (it must be in the basket).
 * @property {string} rse Where the dataset is; `ruleRse` is where the rule copies it.
 * @property {string} ruleRse
 * @property {{ name: string, bytes: number, sha256: string }} file The file to stage and what it must contain.
 * @property {any} sink The download sink.
 * @property {(location: any) => Promise<Uint8Array>} read Reads back a staged file from its location.
 * @property {{ url: string, bytes: number }} [stalled] A URL whose server sends some bytes, then goes
 *   silent without closing: the download is aborted mid-body and must reject at once, publishing nothing.
 */

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function check(condition, message) {
  if (!condition) throw new Error(`scenario: ${message}`);
}

/**
 * Run the scenario; resolves to a JSON-serialisable summary, or rejects with the first failure.
 * @param {ScenarioOptions} o
 */
export async function runScenario(o) {
  const { dlaas } = o;
  const timings = {};
  const started = Date.now();
  const step = async (name, fn) => {
    const t = Date.now();
    try {
      return await fn();
    } catch (error) {
      const e = new Error(`step "${name}" failed: ${error?.name ?? 'Error'}: ${error?.message ?? error}`, { cause: error });
      throw e;
    } finally {
      timings[name] = Date.now() - t;
    }
  };

  // 1. A static token (a login done elsewhere), shared by Rucio, ESAP and the lake.
  const lake = dlaas.createDataLake({
    rucio: { baseUrl: o.url, account: o.account, retry: { limit: 0 } },
    esap: { baseUrl: o.url },
    auth: { token: dlaas.staticToken(o.token), storageToken: o.storageToken, source: 'scenario' },
  });
  const staticAccount = await step('static token', async () => (await lake.rucio.accounts.whoami()).account);
  check(staticAccount === o.account, `whoami with the static token gave ${staticAccount}`);

  // 2. OIDC: authorization code + PKCE. The pending login and the session live in the runtime's store;
  //    a second client over the same store restores the session (as after a page reload / SW restart).
  const oidcOptions = { issuer: o.oidc.issuer, clientId: o.oidc.clientId, allowInsecureLoopback: true, ...(o.oidc.store ? { store: o.oidc.store } : {}) };
  const oidc = await step('oidc login', async () => {
    const client = new dlaas.OidcClient(oidcOptions);
    const request = await client.createAuthorizationRequest({ redirectUri: o.oidc.redirectUri, scope: 'openid profile offline_access' });
    const callback = await o.oidc.authorize(request.url.href);
    const session = await client.completeAuthorization(callback);
    const restored = await new dlaas.OidcClient(oidcOptions).restoreSession();
    check(restored !== undefined, 'the OIDC session was not found in the token store');
    check((await restored.getToken()) === (await session.getToken()), 'the restored session has another token');
    const rucio = new dlaas.RucioClient({ baseUrl: o.url, account: o.account, token: restored, retry: { limit: 0 } });
    const me = await rucio.accounts.whoami();
    return { rucio, account: me.account, grantType: session.grantType };
  });
  check(oidc.account === o.account, `whoami with the OIDC token gave ${oidc.account}`);

  // 3. The ESAP basket holds this run's dataset.
  const datasetDid = { scope: o.scope, name: o.dataset };
  const basket = await step('basket', async () => lake.esap.basket.dids());
  check(
    basket.some((d) => d.scope === o.scope && d.name === o.dataset),
    `the basket lacks ${o.scope}:${o.dataset}`,
  );

  // 4. DIDs and replicas.
  const listed = await step('list dids', async () => {
    const names = await lake.rucio.dids.search(o.scope, { type: 'dataset', name: o.dataset }).toArray();
    const files = await lake.rucio.dids.files(datasetDid).toArray();
    return { names, files };
  });
  check(listed.names.includes(o.dataset), `did search did not find ${o.dataset}`);
  check(
    listed.files.some((f) => f.name === o.file.name),
    `${o.file.name} is not in the dataset`,
  );
  const replicas = await step('list replicas', async () =>
    lake.rucio.replicas.list(listed.files.map((f) => ({ scope: f.scope, name: f.name }))).toArray(),
  );
  check(replicas.length === listed.files.length, `${replicas.length} replicas for ${listed.files.length} files`);
  check(
    replicas.every((r) => r.states?.[o.rse] === 'AVAILABLE'),
    `not every file is AVAILABLE on ${o.rse}`,
  );

  // 5. A rule to another RSE, created with the OIDC identity, and waited for.
  const rule = await step('rule', async () => {
    const [id] = await oidc.rucio.rules.create({ dids: [datasetDid], copies: 1, rse_expression: o.ruleRse });
    return oidc.rucio.rules.waitFor(id, { pollInterval: 50, maxPollInterval: 250 });
  });
  check(rule.state === 'OK', `rule ${rule.id} ended ${rule.state}`);

  // 6. Stage one file in download mode into the runtime's sink, and check the bytes.
  const staged = await step('stage', async () => {
    const result = await lake.staging.stage([{ scope: o.scope, name: o.file.name }], { mode: 'download', sink: o.sink });
    check(result.status === 'AVAILABLE', `staging ended ${result.status}: ${JSON.stringify(result.files.map((f) => f.error))}`);
    const file = result.files[0];
    const bytes = await o.read(file.location);
    return { file, bytes };
  });
  const sha256 = await sha256Hex(staged.bytes);
  check(staged.bytes.byteLength === o.file.bytes, `staged ${staged.bytes.byteLength} bytes, expected ${o.file.bytes}`);
  check(sha256 === o.file.sha256, 'the staged bytes differ from the seeded file');

  // 6b. Random access (`lake.files.open`): a Range read of the same file, then the whole file, verified.
  const random = await step('random access', async () => {
    const file = await lake.files.open({ scope: o.scope, name: o.file.name }, { blockSize: 1024 });
    const at = Math.floor(o.file.bytes / 3);
    const part = await file.read(at, 100);
    check(part.byteLength === Math.min(100, o.file.bytes - at) && part.every((b, i) => b === staged.bytes[at + i]), 'a Range read differs from the staged bytes');
    const rangeBytes = file.stats.bytesTransferred;
    const whole = new Uint8Array(await file.arrayBuffer());
    check(file.verified?.verified.includes('adler32') === true, 'the whole read was not verified against the catalogue');
    check((await sha256Hex(whole)) === o.file.sha256, 'the whole read differs from the seeded file');
    return { rangeBytes, verified: file.verified.verified };
  });

  // 7. Cancellation mid-body: the server has gone silent, the runtime's own fetch would wait forever,
  // and the stall watchdog is set to a day: only the abort can settle the download (an abort that is
  // not wired through leaves it waiting, and the harness reports no result), however slow the machine.
  const cancel = o.stalled
    ? await step('cancel', async () => {
        const ac = new AbortController();
        let aborted = false;
        const pending = lake.staging.stage([{ url: o.stalled.url, bytes: o.stalled.bytes }], {
          mode: 'download',
          sink: o.sink,
          signal: ac.signal,
          stallTimeout: 86_400_000,
          onProgress: (e) => {
            if (e.type === 'bytes' && e.transferred > 0 && !aborted) {
              aborted = true;
              ac.abort();
            }
          },
        });
        const outcome = await pending.then(
          () => 'resolved',
          (e) => e?.name,
        );
        const relPath = `urls/${o.stalled.url.split('/').pop()}`;
        check(aborted, 'the download ended before any byte arrived');
        check(outcome === 'AbortError', `the aborted download ended with ${outcome}`);
        return { outcome, published: (await o.sink.existing(relPath)) !== undefined };
      })
    : undefined;

  return {
    ok: true,
    ...(cancel ? { cancel } : {}),
    account: staticAccount,
    oidc: { account: oidc.account, grantType: oidc.grantType },
    basket: basket.length,
    files: listed.files.length,
    replicas: replicas.length,
    rule: { state: rule.state, rse: o.ruleRse },
    staged: { name: o.file.name, bytes: staged.bytes.byteLength, verified: staged.file.verified, location: staged.file.location?.kind, sha256 },
    random,
    timings,
    ms: Date.now() - started,
  };
}

/**
 * Which token storage gets, and where it may go: only over TLS (loopback aside, or a host the user
 * lists), the WLCG storage token preferred over the Rucio token, the fallback reported, `false` for none.
 * Storage here is a `fetch` that records what each host received (the SDK's requests go through it
 * unchanged); Rucio is the emulator.
 */
import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { createDataLake, ForbiddenError, OidcClient, type DataLakeOptions } from '../../src/index.js';
import { STORAGE_SCOPES, TEST_CLIENTS, WLCG_ANY_AUDIENCE, startTestOP } from '../auth/op.js';
import { createRucioEmulator } from '../../src/testing.js';
import { memorySink } from '../../src/staging/sinks.js';
import { createDataLake as createNodeDataLake } from '../../src/node.js';
import { noise } from './helpers.js';

interface Seen {
  method: string;
  url: string;
  authorization: string | null;
}

/** Storage hosts behind one recording fetch; `publicRead: false` answers 403 to requests without a token. */
function recordingStorage(files: Map<string, Uint8Array>, options: { publicRead?: boolean } = {}) {
  const seen: Seen[] = [];
  const fetchImpl: typeof fetch = async (input, init) => {
    const req = new Request(input, init);
    const authorization = req.headers.get('authorization');
    seen.push({ method: req.method, url: req.url, authorization });
    if (options.publicRead === false && !authorization) return new Response('token required', { status: 403 });
    const data = files.get(new URL(req.url).pathname);
    if (!data) return new Response('no such file', { status: 404 });
    return new Response(req.method === 'HEAD' ? null : (data as BodyInit), { status: 200, headers: { 'Content-Length': String(data.byteLength) } });
  };
  return { seen, fetch: fetchImpl };
}

async function world(rses: Record<string, { scheme: string; hostname: string; port: number }>) {
  const rucio = createRucioEmulator();
  rucio.addAccount('jdoe', { admin: true });
  rucio.addScope('user.jdoe', 'jdoe');
  const files = new Map<string, Uint8Array>();
  const content = noise(64 << 10, 9);
  for (const [rse, p] of Object.entries(rses)) {
    rucio.addRse(rse, { lfn2pfnAlgorithm: 'identity', protocols: [{ ...p, prefix: `/${rse.toLowerCase()}/` }] });
    files.set(`/${rse.toLowerCase()}/user/jdoe/f.bin`, content);
  }
  await rucio.seedDataset({ scope: 'user.jdoe', name: 'ds', rses: Object.keys(rses), files: [{ name: 'f.bin', content }] });
  const token = rucio.issueToken('jdoe');
  const rucioOptions = { baseUrl: rucio.baseUrl, account: 'jdoe', token, fetch: rucio.fetch, retry: { limit: 0 } };
  return { files, token, rucioOptions };
}

const auth = (h: string | null) => h?.replace(/^Bearer /, '');

describe('the storage token goes only over TLS', () => {
  it('a storage host on plain http gets no token (loopback and https do); public data still downloads', async () => {
    const w = await world({
      PLAIN: { scheme: 'http', hostname: 'se.example.org', port: 8000 },
      TLS: { scheme: 'davs', hostname: 'se.example.org', port: 8443 },
      LOOP: { scheme: 'http', hostname: '127.0.0.1', port: 1094 },
    });
    const storage = recordingStorage(w.files);
    const lake = createDataLake({ rucio: w.rucioOptions, auth: { storageToken: 'storage-secret' }, staging: { fetch: storage.fetch } });
    for (const rse of ['PLAIN', 'TLS', 'LOOP']) {
      const r = await lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: memorySink(), preferRses: [rse] });
      expect(r.files[0], rse).toMatchObject({ status: 'OK' });
    }
    const byHost = (prefix: string) => storage.seen.filter((s) => s.url.startsWith(prefix));
    expect(byHost('http://se.example.org:8000/').length).toBeGreaterThan(0);
    expect(byHost('http://se.example.org:8000/').map((s) => s.authorization)).toEqual(byHost('http://se.example.org:8000/').map(() => null));
    expect(byHost('https://se.example.org:8443/').map((s) => auth(s.authorization))).toContain('storage-secret');
    expect(byHost('http://127.0.0.1:1094/').map((s) => auth(s.authorization))).toContain('storage-secret');
  });

  it('a 403 from a plain-http host says the token was kept back and what to do; listing the host sends it', async () => {
    const w = await world({ PLAIN: { scheme: 'http', hostname: 'se.example.org', port: 8000 } });
    const storage = recordingStorage(w.files, { publicRead: false });
    const base = { rucio: w.rucioOptions, auth: { storageToken: 'storage-secret' } } satisfies DataLakeOptions;
    const refused = await createDataLake({ ...base, staging: { fetch: storage.fetch } }).staging.stage(['user.jdoe:ds'], { mode: 'download', sink: memorySink() });
    const error = refused.files[0]?.error;
    expect(refused.files[0]?.status).toBe('FAILED');
    const cause = [error, (error as { cause?: unknown } | undefined)?.cause].find((e) => e instanceof ForbiddenError) ?? error;
    expect(String((cause as Error).message)).toMatch(/no token was sent: se\.example\.org was asked over plain http.*tokenOverPlainHttp/);
    expect(String((cause as Error).message)).not.toContain('storage-secret');
    expect(storage.seen.every((s) => s.authorization === null)).toBe(true);

    storage.seen.length = 0;
    const allowed = await createDataLake({ ...base, staging: { fetch: storage.fetch, tokenOverPlainHttp: ['SE.example.org'] } }).staging.stage(['user.jdoe:ds'], { mode: 'download', sink: memorySink() });
    expect(allowed.files[0]?.status).toBe('OK');
    expect(storage.seen.map((s) => auth(s.authorization))).toContain('storage-secret');
  });
});

describe('which token storage gets', () => {
  it('the storage token over the Rucio token; the Rucio token only as a reported fallback; false: none', async () => {
    const w = await world({ TLS: { scheme: 'davs', hostname: 'se.example.org', port: 8443 } });
    const storage = recordingStorage(w.files);
    const run = async (a: DataLakeOptions['auth']) => {
      storage.seen.length = 0;
      const lake = createDataLake({ rucio: w.rucioOptions, auth: a, staging: { fetch: storage.fetch } });
      const r = await lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: memorySink() });
      expect(r.files[0]?.status).toBe('OK');
      return { source: lake.auth.storageSource, sent: [...new Set(storage.seen.map((s) => auth(s.authorization)))] };
    };
    expect(await run({ token: w.token, storageToken: 'wlcg-storage-token', storageSource: 'file:bt_u1000' })).toEqual({ source: 'file:bt_u1000', sent: ['wlcg-storage-token'] });
    expect(await run({ token: w.token })).toEqual({ source: 'fallback: the Rucio token', sent: [w.token] });
    expect(await run({ token: w.token, storageToken: false })).toEqual({ source: 'none', sent: [undefined] });
  });

  it('dlaas/node: a WLCG bearer token found by discovery goes to storage, the Rucio token to Rucio', async () => {
    const w = await world({ TLS: { scheme: 'davs', hostname: 'se.example.org', port: 8443 } });
    const storage = recordingStorage(w.files);
    const both: typeof fetch = (input, init) => ((input instanceof Request ? input.url : String(input)).startsWith(w.rucioOptions.baseUrl) ? w.rucioOptions.fetch(input, init) : storage.fetch(input, init));
    const env = { RUCIO_BASE_URL: w.rucioOptions.baseUrl, RUCIO_ACCOUNT: 'jdoe', RUCIO_ACCESS_TOKEN: w.token };
    const config = { configFile: false, defaultTokenFile: false, uid: 4_000_000_001 } as const;
    const withWlcg = await createNodeDataLake({ env: { ...env, BEARER_TOKEN: 'wlcg-bearer-token' }, config, fetch: both });
    expect(withWlcg.auth.storageSource).toBe('env:BEARER_TOKEN');
    expect((await withWlcg.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: memorySink() })).files[0]?.status).toBe('OK');
    expect([...new Set(storage.seen.map((s) => auth(s.authorization)))]).toEqual(['wlcg-bearer-token']);

    const without = await createNodeDataLake({ env, config, fetch: both });
    expect(without.auth.storageSource).toBe('fallback: the Rucio token');
  });
});

describe('a WLCG storage token by RFC 8693 exchange (real OpenID Provider)', () => {
  it('storage gets a token with the WLCG storage audience and storage scopes, not the Rucio token', async () => {
    const op = await startTestOP();
    try {
      const client = (o: object) => new OidcClient({ issuer: op.issuer, allowInsecureLoopback: true, ...o } as ConstructorParameters<typeof OidcClient>[0]);
      const prompts: string[] = [];
      const user = await client({ clientId: TEST_CLIENTS.device.clientId }).deviceLogin({
        scope: 'openid profile offline_access wlcg.groups',
        onPrompt: (p) => void prompts.push(p.userCode),
        wait: async () => op.approveDevice(prompts[0]!, 'dave'),
      });
      const w = await world({ TLS: { scheme: 'davs', hostname: 'se.example.org', port: 8443 } });
      const storage = recordingStorage(w.files);
      const lake = createDataLake({
        rucio: w.rucioOptions,
        auth: { token: user, oidc: client({ clientId: TEST_CLIENTS.service.clientId, clientSecret: TEST_CLIENTS.service.clientSecret }), storageTokenExchange: true },
        staging: { fetch: storage.fetch },
      });
      expect(lake.auth.storageSource).toBe(`token exchange at ${op.issuer}`);
      const r = await lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: memorySink() });
      expect(r.files[0]?.status).toBe('OK');
      const sent = [...new Set(storage.seen.map((s) => auth(s.authorization)))];
      expect(sent).toHaveLength(1);
      expect(sent[0]).not.toBe(await user.getToken());
      const claims = decodeJwt(sent[0] as string);
      expect(claims).toMatchObject({ sub: 'dave', aud: WLCG_ANY_AUDIENCE, scope: STORAGE_SCOPES });
    } finally {
      await op.close();
    }
  });
});

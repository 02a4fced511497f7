/**
 * Fault injection on the catalogue (Rucio), identity and ESAP calls, through a fault proxy on
 * 127.0.0.1 in front of the emulated Data Lake. For each fault, the SDK's contract:
 *
 * - idempotent reads retry and succeed, or fail with a typed error after the retry budget, never hang;
 * - rule creation (a POST) is never blindly repeated; `rules.ensure()` checks the catalogue after an
 *   ambiguous failure, so no rule is made twice;
 * - a truncated listing is an error, not a short list (with the one undetectable case documented);
 * - an expired token is refreshed once and the call succeeds;
 * - credentials never follow a redirect to another origin, and tokens never appear in URLs.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ConnectionError,
  DlaasError,
  DuplicateError,
  RateLimitError,
  RucioClient,
  ServerError,
  StreamError,
  TimeoutError,
  UnauthenticatedError,
  createDataLake,
  parseDid,
  type Did,
} from '../../src/index.js';
import { RUCIO_TOKEN, RefreshingTokenProvider, rucioUserpass } from '../../src/auth/index.js';
import { serveFetch, type FetchServer } from '../../src/testing/http-server.js';
import { FAKE_PASSWORD, TOKEN_MARK, expireOnServer, fakeTokenProvider, registerToken, startProxiedLake, type ProxiedLake } from '../support/reliability-lake.js';
import { Ledger, useLedger } from '../support/reliability-ledger.js';

let lake: ProxiedLake;
let other: FetchServer;
const otherRequests: { url: string; headers: Record<string, string> }[] = [];
const BIG = parseDid('user.jdoe:big');
const FILE = parseDid('user.jdoe:big_000');
const RETRY = { baseDelay: 20, limit: 3 } as const;

/** Rules per DID in the emulator (its unique key makes two equal rules impossible: count all of a DID). */
function rulesOn(did: Did): number {
  const store = (lake.emu.rucio as unknown as { store: { rules: Map<string, { scope: string; name: string }> } }).store;
  return [...store.rules.values()].filter((r) => r.scope === did.scope && r.name === did.name).length;
}
const ruleDids: Did[] = [];

const ledger: Ledger = useLedger(import.meta.url, (l) => {
  l.data.faults += lake.proxy.stats.faults;
  // Tokens are never put in URLs: every request target the proxy saw is scanned.
  for (const e of lake.proxy.log) l.scanText(e.target, `request URL ${e.method}`);
  for (const e of otherRequests) l.scanText(JSON.stringify(e), 'request to the other origin');
  // Duplicate rules: any DID of the rule scenarios with more than one rule (whatever its key).
  l.data.duplicateRules += ruleDids.reduce((n, d) => n + Math.max(0, rulesOn(d) - 1), 0);
});

/**
 * A client with a generous per-attempt timeout: a loaded machine never turns a healthy request into
 * a TimeoutError. The stall scenarios set their own timeouts, on a client whose default is off
 * (`client(p, { timeout: false })`), so that the timeout under test is the only way out.
 */
function client(token: RucioClient['transport']['tokenProvider'] | string, extra: Partial<ConstructorParameters<typeof RucioClient>[0]> = {}): RucioClient {
  return new RucioClient({ baseUrl: lake.url, account: 'jdoe', token, retry: RETRY, timeout: 30_000, ...extra });
}

/**
 * Run `fn`, expect a typed SDK error, record it for the secret scan, return it. "Never hangs" is
 * the test timeout's job (a hang fails the test); no wall-clock bound here, which a busy machine
 * could break. Where the retry budget matters, the scenarios count the attempts.
 */
async function typedFailure(fn: () => Promise<unknown>): Promise<DlaasError> {
  const err = await fn().then(
    () => undefined,
    (e: unknown) => e,
  );
  ledger.capture(err, 'error');
  expect(err, 'expected a typed failure').toBeInstanceOf(DlaasError);
  return err as DlaasError;
}

let tokens: ReturnType<typeof fakeTokenProvider>;
let rucio: RucioClient;

beforeAll(async () => {
  lake = await startProxiedLake();
  const { emu } = lake;
  emu.addUser({ account: 'jdoe', admin: true, password: FAKE_PASSWORD });
  ledger.secret(TOKEN_MARK, FAKE_PASSWORD);
  // 300 files: a listing body of ~40 kB, so that cuts land in the middle of the stream.
  const files = Array.from({ length: 300 }, (_, i) => ({ name: `big_${String(i).padStart(3, '0')}`, content: `file ${i} ${'x'.repeat(i % 50)}` }));
  await emu.seedDataset({ scope: 'user.jdoe', name: 'big', rses: ['SITE_A'], files });
  tokens = fakeTokenProvider(emu, 'jdoe');
  rucio = client(tokens.provider);
  other = await serveFetch(async (request) => {
    otherRequests.push({ url: request.url, headers: Object.fromEntries(request.headers) });
    // "Another origin" serving what the Data Lake would, without being given any credentials.
    const path = new URL(request.url).pathname;
    const res = await emu.fetch(new Request(new URL(path, `${lake.url}/`), { headers: { 'X-Rucio-Auth-Token': tokens.issued[0] ?? '', Accept: 'application/json' } }));
    return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers });
  });
});

afterEach(() => lake.proxy.clear());
afterAll(async () => {
  await other?.close();
  await lake?.close();
});

describe('idempotent reads under faults', () => {
  it('502/503/504 bursts within the retry budget: retried, then success', async () => {
    ledger.scenario();
    for (const status of [502, 503, 504]) {
      lake.proxy.inject({ match: { method: 'GET', path: '/dids/user.jdoe/big_000' }, fault: { kind: 'status', status }, times: 3 });
      const before = lake.proxy.count({ method: 'GET', path: '/dids/user.jdoe/big_000' });
      const info = await rucio.dids.get(FILE);
      expect(info.name).toBe('big_000');
      expect(lake.proxy.count({ method: 'GET', path: '/dids/user.jdoe/big_000' }) - before).toBe(4);
      lake.proxy.clear();
    }
  });

  it('a burst longer than the budget: ServerError after 1 + limit attempts', async () => {
    ledger.scenario();
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'status', status: 503, body: '<h1>Service Unavailable</h1>' }, times: Infinity });
    const before = lake.proxy.count({ path: '/dids/user.jdoe/big_000' });
    const err = await typedFailure(() => rucio.dids.get(FILE));
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).status).toBe(503);
    expect(lake.proxy.count({ path: '/dids/user.jdoe/big_000' }) - before).toBe(1 + RETRY.limit);
  });

  it('500 is not a transient status: a ServerError at once, one attempt', async () => {
    ledger.scenario();
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'status', status: 500, body: '{"ExceptionClass": "DatabaseException", "ExceptionMessage": "boom"}' } });
    const before = lake.proxy.count({ path: '/dids/user.jdoe/big_000' });
    const err = await typedFailure(() => rucio.dids.get(FILE));
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).exceptionClass).toBe('DatabaseException');
    expect(lake.proxy.count({ path: '/dids/user.jdoe/big_000' }) - before).toBe(1);
  });

  it('429 with Retry-After: waits as asked, then success; a persistent 429 is a RateLimitError with retryAfter', async () => {
    ledger.scenario();
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'status', status: 429, headers: { 'Retry-After': '1' } } });
    const t0 = Date.now();
    await rucio.dids.get(FILE);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    // maxRetryAfter caps the wait: a server asking for a day is retried after 100 ms here. Without
    // the cap no retry could happen while the test runs: the retries themselves are the proof.
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'status', status: 429, headers: { 'Retry-After': '86400' } }, times: Infinity });
    const capped = client(tokens.provider, { retry: { ...RETRY, maxRetryAfter: 100 } });
    const before = lake.proxy.count({ path: '/dids/user.jdoe/big_000' });
    const err = await typedFailure(() => capped.dids.get(FILE));
    expect(err).toBeInstanceOf(RateLimitError);
    expect((err as RateLimitError).retryAfter).toBe(86_400);
    expect(lake.proxy.count({ path: '/dids/user.jdoe/big_000' }) - before).toBe(1 + RETRY.limit);
  });

  it('connection reset before the headers: retried, then success; always reset: ConnectionError', async () => {
    ledger.scenario();
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'reset' }, times: 2 });
    expect((await rucio.dids.get(FILE)).name).toBe('big_000');
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'reset' }, times: Infinity });
    const err = await typedFailure(() => rucio.dids.get(FILE));
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).not.toBeInstanceOf(TimeoutError);
  });

  it('a JSON document cut mid-body (reset, or closed before Content-Length): the read is retried, then success', async () => {
    ledger.scenario();
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'reset-body', afterBytes: 20 } });
    expect((await rucio.dids.get(FILE)).name).toBe('big_000');
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'truncate', afterBytes: 20, framing: 'length' }, times: 2 });
    expect((await rucio.dids.get(FILE)).name).toBe('big_000');
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'truncate', afterBytes: 20, framing: 'chunked' }, times: Infinity });
    const err = await typedFailure(() => rucio.dids.get(FILE));
    expect(err).toBeInstanceOf(ConnectionError);
  });

  // The stalls below never end by themselves (the proxy holds them until the client leaves), and the
  // client's default timeout is off: only the timeout under test can end the call, so a TimeoutError
  // proves it works, and if it did not the test would time out. The timeouts are long enough for a
  // busy machine to get the request to the stalled point first (checked: the stall was reached).
  const stalls = (path: string) => lake.proxy.log.filter((e) => e.target === path && e.fault === 'stall').length;

  it('stall before the headers longer than the timeout: TimeoutError, never a hang', async () => {
    ledger.scenario();
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'stall', phase: 'headers' } });
    const before = lake.proxy.count({ path: '/dids/user.jdoe/big_000' });
    const stalledBefore = stalls('/dids/user.jdoe/big_000');
    const err = await typedFailure(() => client(tokens.provider, { timeout: false }).dids.get(FILE, { timeout: 1_000 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(stalls('/dids/user.jdoe/big_000') - stalledBefore).toBe(1);
    expect(lake.proxy.count({ path: '/dids/user.jdoe/big_000' }) - before).toBe(1); // a stalled attempt is not retried
  });

  it('stall in the middle of a JSON body longer than the timeout: TimeoutError, never a hang', async () => {
    ledger.scenario();
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'stall', phase: 'body', afterBytes: 10 } });
    const before = lake.proxy.count({ path: '/dids/user.jdoe/big_000' });
    const stalledBefore = stalls('/dids/user.jdoe/big_000');
    const err = await typedFailure(() => client(tokens.provider, { timeout: false }).dids.get(FILE, { timeout: 1_000 }));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(stalls('/dids/user.jdoe/big_000') - stalledBefore).toBe(1);
    expect(lake.proxy.count({ path: '/dids/user.jdoe/big_000' }) - before).toBe(1);
  });

  it('a total timeout bounds a whole call, retries and body included', async () => {
    ledger.scenario();
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'status', status: 503 }, times: 2 });
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'stall', phase: 'body', afterBytes: 5 } });
    const before = lake.proxy.count({ path: '/dids/user.jdoe/big_000' });
    const stalledBefore = stalls('/dids/user.jdoe/big_000');
    // No per-attempt (or body idle) timeout at all: the total timeout is the only way out of the stall.
    const err = await typedFailure(() => client(tokens.provider, { timeout: false }).dids.get(FILE, { timeout: false, totalTimeout: 3_000 }));
    expect(err).toBeInstanceOf(TimeoutError);
    // The two 503s were retried and the stalled body reached: the total covered retries and body.
    expect(lake.proxy.count({ path: '/dids/user.jdoe/big_000' }) - before).toBe(3);
    expect(stalls('/dids/user.jdoe/big_000') - stalledBefore).toBe(1);
  });
});

describe('listings: a truncated listing is an error, never a short list', () => {
  const count = async (o: { idleTimeout?: number } = {}) => {
    const seen: string[] = [];
    try {
      for await (const f of rucio.dids.files(BIG, o)) seen.push(f.name);
      return { seen, error: undefined };
    } catch (e) {
      ledger.capture(e, 'listing error');
      return { seen, error: e };
    }
  };

  it('the listing is whole without faults', async () => {
    ledger.scenario();
    expect((await count()).seen).toHaveLength(300);
  });

  it('a 503 before the first byte of a listing is retried', async () => {
    ledger.scenario();
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big/files' }, fault: { kind: 'status', status: 503 }, times: 2 });
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big/files' }, fault: { kind: 'reset' } });
    expect((await count()).seen).toHaveLength(300);
  });

  for (const [label, fault] of [
    ['connection reset mid-stream', { kind: 'reset-body', afterBytes: 9_000 }],
    ['chunked stream closed without its terminating chunk', { kind: 'truncate', afterBytes: 9_000, framing: 'chunked' }],
    ['Content-Length longer than the bytes sent', { kind: 'truncate', afterBytes: 9_000, framing: 'length' }],
    ['a clean chunked end in the middle of a line', { kind: 'truncate', afterBytes: 9_000, framing: 'clean-chunked' }],
  ] as const) {
    it(`${label}: a typed error after the items before the cut`, async () => {
      ledger.scenario();
      lake.proxy.inject({ match: { path: '/dids/user.jdoe/big/files' }, fault });
      const { seen, error } = await count();
      expect(error).toBeInstanceOf(DlaasError);
      expect(error instanceof ConnectionError || error instanceof StreamError).toBe(true);
      expect(seen.length).toBeLessThan(300);
      // The same listing through toArray() rejects: no partial array is ever returned.
      lake.proxy.inject({ match: { path: '/dids/user.jdoe/big/files' }, fault });
      await typedFailure(() => rucio.dids.files(BIG).toArray());
    });
  }

  it('a stall mid-stream longer than idleTimeout: TimeoutError after the items before it, never a hang', async () => {
    ledger.scenario();
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big/files' }, fault: { kind: 'stall', phase: 'body', afterBytes: 5_000 } });
    // The stall never ends by itself and the client's own timeout is off: only idleTimeout can end it.
    const seen: string[] = [];
    let error: unknown;
    try {
      for await (const f of client(tokens.provider, { timeout: false }).dids.files(BIG, { idleTimeout: 1_000 })) seen.push(f.name);
    } catch (e) {
      ledger.capture(e, 'listing error');
      error = e;
    }
    expect(error).toBeInstanceOf(TimeoutError);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.length).toBeLessThan(300);
  });

  it('documented limit: a body cut exactly at a line boundary and ended cleanly is indistinguishable from a complete listing', async () => {
    ledger.scenario();
    // Find where line 100 ends in the real body, and end the chunked stream cleanly right there.
    const res = await lake.emu.fetch(new Request(`${lake.url}/dids/user.jdoe/big/files`, { headers: { 'X-Rucio-Auth-Token': await tokens.provider.getToken(), Accept: 'application/x-json-stream' } }));
    const text = await res.text();
    let cut = 0;
    for (let i = 0; i < 100; i++) cut = text.indexOf('\n', cut) + 1;
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big/files' }, fault: { kind: 'truncate', afterBytes: Buffer.byteLength(text.slice(0, cut)), framing: 'clean-chunked' } });
    const { seen, error } = await count();
    // Rucio's NDJSON has no count or end marker: this cut is undetectable on the client. Every other
    // cut above is detected (mid-line, missing terminator, short of Content-Length, reset).
    expect(error).toBeUndefined();
    expect(seen).toHaveLength(100);
    ledger.note('undetectable by design: an NDJSON body cut exactly at a line boundary with a clean chunked terminator (Rucio sends no count or end marker)');
  });
});

describe('identity: an expired token is refreshed once, mid-run', () => {
  it('a token that expires on the server (401 on a call that worked a moment ago) is refreshed once and the call succeeds', async () => {
    ledger.scenario();
    const tp = fakeTokenProvider(lake.emu, 'jdoe');
    const c = client(tp.provider);
    await c.dids.get(FILE);
    expect(tp.loads).toBe(1);
    expireOnServer(lake.emu, tp.issued[0] as string);
    const info = await c.dids.get(FILE);
    expect(info.name).toBe('big_000');
    expect(tp.loads).toBe(2);
    // A listing and a POST after another expiry.
    expireOnServer(lake.emu, tp.issued[1] as string);
    expect(await c.dids.files(BIG).toArray()).toHaveLength(300);
    expect(tp.loads).toBe(3);
  });

  it('a proxy-injected 401 (CannotAuthenticate) costs exactly one refresh', async () => {
    ledger.scenario();
    const tp = fakeTokenProvider(lake.emu, 'jdoe');
    const c = client(tp.provider);
    await c.dids.get(FILE);
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'status', status: 401, body: JSON.stringify({ ExceptionClass: 'CannotAuthenticate', ExceptionMessage: 'Cannot authenticate with given credentials' }) } });
    await c.dids.get(FILE);
    expect(tp.loads).toBe(2);
  });

  it('a token rejected again after the refresh is a typed UnauthenticatedError, without a refresh loop', async () => {
    ledger.scenario();
    const tp = fakeTokenProvider(lake.emu, 'jdoe');
    const c = client(tp.provider);
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_000' }, fault: { kind: 'status', status: 401, body: '{"ExceptionClass": "CannotAuthenticate", "ExceptionMessage": "no"}' }, times: Infinity });
    const err = await typedFailure(() => c.dids.get(FILE));
    expect(err).toBeInstanceOf(UnauthenticatedError);
    expect(tp.loads).toBe(2);
  });

  it('what the SDK logs about tokens (console.warn of TokenWarnings) never contains the token', async () => {
    ledger.scenario();
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    // A JWT for the wrong audience, already expired by its own claims: the provider warns about both.
    const jwt = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ sub: 'jdoe', aud: 'esap', scope: 'openid', exp: Math.floor(Date.now() / 1000) - 60 })}.${TOKEN_MARK}-signature`;
    ledger.secret(jwt);
    registerToken(lake.emu, jwt, 'jdoe');
    const warn = vi.spyOn(console, 'warn');
    try {
      const c = client(new RefreshingTokenProvider({ load: async () => ({ token: jwt }), expect: RUCIO_TOKEN }));
      expect((await c.dids.get(FILE)).name).toBe('big_000');
      const logged = warn.mock.calls.map((a) => a.map(String).join(' '));
      expect(logged.some((l) => l.includes('audience'))).toBe(true);
      expect(logged.some((l) => l.includes('expired'))).toBe(true);
    } finally {
      warn.mockRestore();
    }
  });

  it('userpass login with a password, through 503s, resets and a wrong password: typed errors, the password never shown', async () => {
    ledger.scenario();
    lake.proxy.inject({ match: { path: '/auth/userpass' }, fault: { kind: 'status', status: 503 }, times: 2 });
    lake.proxy.inject({ match: { path: '/auth/userpass' }, fault: { kind: 'reset' } });
    const login = new RucioClient({ baseUrl: lake.url, account: 'jdoe', retry: RETRY });
    const provider = rucioUserpass({ client: login, username: 'jdoe', password: FAKE_PASSWORD, account: 'jdoe' });
    const c = client(provider);
    expect((await c.dids.get(FILE)).name).toBe('big_000');
    const wrong = rucioUserpass({ client: login, username: 'jdoe', password: `${FAKE_PASSWORD}-wrong`, account: 'jdoe' });
    ledger.secret(`${FAKE_PASSWORD}-wrong`);
    const err = await typedFailure(() => client(wrong).dids.get(FILE));
    expect(err).toBeInstanceOf(UnauthenticatedError);
    lake.proxy.inject({ match: { path: '/auth/userpass' }, fault: { kind: 'status', status: 503 }, times: Infinity });
    const down = rucioUserpass({ client: login, username: 'jdoe', password: FAKE_PASSWORD, account: 'jdoe' });
    await typedFailure(() => client(down).dids.get(FILE));
    // The password travelled only in X-Rucio-Password, never in a URL.
    expect(lake.proxy.log.filter((e) => e.target.includes('DLAASFAKEPASSWORD'))).toEqual([]);
  });
});

describe('credentials and redirects', () => {
  it('a redirect to another origin drops the token; the same origin keeps it', async () => {
    ledger.scenario();
    otherRequests.length = 0;
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_001' }, fault: { kind: 'redirect', status: 302, location: `${other.url}/dids/user.jdoe/big_001` } });
    const info = await rucio.dids.get(parseDid('user.jdoe:big_001'));
    expect(info.name).toBe('big_001');
    expect(otherRequests).toHaveLength(1);
    const sent = Object.keys(otherRequests[0]!.headers).map((h) => h.toLowerCase());
    expect(sent).not.toContain('x-rucio-auth-token');
    expect(sent).not.toContain('authorization');
    // Same origin: followed with the token.
    lake.proxy.inject({ match: { path: '/dids/user.jdoe/big_002' }, fault: { kind: 'redirect', status: 307, location: `${lake.url}/dids/user.jdoe/big_003` } });
    expect((await rucio.dids.get(parseDid('user.jdoe:big_002'))).name).toBe('big_003');
    const followed = lake.proxy.log.filter((e) => e.target === '/dids/user.jdoe/big_003').at(-1);
    expect(followed?.headers['x-rucio-auth-token']).toContain(TOKEN_MARK);
  });

  it('the secret scan finds a planted secret (self-test of the scanner)', () => {
    const probe = new Ledger('self-test');
    probe.secret(TOKEN_MARK);
    const leaky = new Error('outer', { cause: Object.assign(new Error('inner'), { request: { headers: { 'X-Rucio-Auth-Token': `x-${TOKEN_MARK}-y` } } }) });
    probe.capture(leaky, 'planted');
    expect(probe.data.secretsFound).toBeGreaterThan(0);
    const clean = new Ledger('self-test');
    clean.secret(TOKEN_MARK);
    clean.capture(new Error('nothing here', { cause: new Error('still nothing') }), 'clean');
    expect(clean.data.secretsFound).toBe(0);
  });

  it('tokens are never put in URLs (every request the proxy saw so far)', () => {
    ledger.scenario();
    expect(lake.proxy.log.length).toBeGreaterThan(50);
    expect(lake.proxy.log.filter((e) => e.target.includes(TOKEN_MARK) || e.target.includes('DLAASFAKEPASSWORD'))).toEqual([]);
    expect(lake.proxy.log.some((e) => String(e.headers['x-rucio-auth-token'] ?? '').includes(TOKEN_MARK))).toBe(true);
  });

  it('ESAP basket reads under faults: retried, or typed errors', async () => {
    ledger.scenario();
    const dl = createDataLake({ rucio: { baseUrl: lake.url, account: 'jdoe', retry: RETRY }, esap: { baseUrl: lake.url, retry: RETRY, timeout: 30_000 }, auth: { token: tokens.provider } });
    lake.emu.esap.setBasket('jdoe', [{ archive: 'rucio', record: { scope: 'user.jdoe', name: 'big' } }]);
    lake.proxy.inject({ match: { path: '/esap-api/' }, fault: { kind: 'status', status: 502 }, times: 2 });
    lake.proxy.inject({ match: { path: '/esap-api/' }, fault: { kind: 'reset' } });
    expect((await dl.esap.basket.dids()).map((d) => d.name)).toEqual(['big']);
    lake.proxy.inject({ match: { path: '/esap-api/' }, fault: { kind: 'status', status: 504 }, times: Infinity });
    await typedFailure(() => dl.esap.basket.dids());
    lake.proxy.clear();
    lake.proxy.inject({ match: { path: '/esap-api/' }, fault: { kind: 'stall', phase: 'body', afterBytes: 3 } });
    const slow = createDataLake({ rucio: { baseUrl: lake.url }, esap: { baseUrl: lake.url, retry: RETRY, timeout: 300 }, auth: { token: tokens.provider } });
    // The stall never ends by itself: the esap `timeout` (300 ms) must end it, not the 30 s default
    // (past a generous 15 s the call is aborted, an AbortError, and the check below fails).
    const err = await typedFailure(() => slow.esap.basket.dids({ signal: AbortSignal.timeout(15_000) }));
    expect(err).toBeInstanceOf(TimeoutError);
  });
});

describe('rule creation is never blindly repeated', () => {
  let n = 0;
  async function freshDataset(): Promise<Did> {
    const did = parseDid(`user.jdoe:rule_ds_${++n}`);
    await lake.emu.seedDataset({ scope: 'user.jdoe', name: did.name, rses: ['SITE_A'], files: [{ name: `rule_file_${n}`, content: `rule ${n}` }] });
    ruleDids.push(did);
    return did;
  }
  const rule = (did: Did) => ({ dids: [did], copies: 1, rse_expression: 'SITE_B', lifetime: 3600 });
  const posts = () => lake.proxy.count({ method: 'POST', path: '/rules/' });

  it('reset before the request reached the server: create fails with ConnectionError, sent once; ensure() creates it', async () => {
    ledger.scenario();
    const did = await freshDataset();
    lake.proxy.inject({ match: { method: 'POST', path: '/rules/' }, fault: { kind: 'reset' } });
    const p0 = posts();
    const err = await typedFailure(() => rucio.rules.create(rule(did)));
    expect(err).toBeInstanceOf(ConnectionError);
    expect(posts() - p0).toBe(1);
    expect(rulesOn(did)).toBe(0);
    lake.proxy.inject({ match: { method: 'POST', path: '/rules/' }, fault: { kind: 'reset' } });
    const [r] = await rucio.rules.ensure(rule(did));
    expect(r).toMatchObject({ outcome: 'created' });
    expect(rulesOn(did)).toBe(1);
  });

  it('answer lost after the server created the rule (reset after forwarding): create is not repeated; ensure() finds the rule', async () => {
    ledger.scenario();
    const did = await freshDataset();
    lake.proxy.inject({ match: { method: 'POST', path: '/rules/' }, fault: { kind: 'reset', forward: true } });
    const p0 = posts();
    const err = await typedFailure(() => rucio.rules.create(rule(did)));
    expect(err).toBeInstanceOf(ConnectionError);
    expect(posts() - p0).toBe(1);
    expect(rulesOn(did)).toBe(1);
    // ensure() itself losing the answer: one POST, then the catalogue is read, not written.
    const did2 = await freshDataset();
    lake.proxy.inject({ match: { method: 'POST', path: '/rules/' }, fault: { kind: 'reset', forward: true } });
    const p1 = posts();
    const [r] = await rucio.rules.ensure(rule(did2));
    expect(r?.outcome).toBe('found');
    expect(r?.id).toMatch(/^[0-9a-f]{32}$/);
    expect(posts() - p1).toBe(1);
    expect(rulesOn(did2)).toBe(1);
    // After the earlier create() failed ambiguously, ensure() meets DuplicateRule and returns the rule.
    const [again] = await rucio.rules.ensure(rule(did));
    expect(again?.outcome).toBe('found');
    expect(rulesOn(did)).toBe(1);
  });

  it('504 from a gateway after the server acted: ensure() looks before it acts again', async () => {
    ledger.scenario();
    const did = await freshDataset();
    lake.proxy.inject({ match: { method: 'POST', path: '/rules/' }, fault: { kind: 'status', status: 504, forward: true } });
    const p0 = posts();
    const [r] = await rucio.rules.ensure(rule(did));
    expect(r?.outcome).toBe('found');
    expect(posts() - p0).toBe(1);
    expect(rulesOn(did)).toBe(1);
  });

  it('503 before the server acted: ensure() checks, finds nothing, sends once more, one rule', async () => {
    ledger.scenario();
    const did = await freshDataset();
    lake.proxy.inject({ match: { method: 'POST', path: '/rules/' }, fault: { kind: 'status', status: 503 } });
    const p0 = posts();
    const [r] = await rucio.rules.ensure(rule(did));
    expect(r?.outcome).toBe('created');
    expect(posts() - p0).toBe(2);
    expect(rulesOn(did)).toBe(1);
  });

  it('duplicate delivery of the POST: create reports DuplicateError for its own rule; ensure() returns that rule; one rule', async () => {
    ledger.scenario();
    const did = await freshDataset();
    lake.proxy.inject({ match: { method: 'POST', path: '/rules/' }, fault: { kind: 'duplicate' } });
    const err = await typedFailure(() => rucio.rules.create(rule(did)));
    expect(err).toBeInstanceOf(DuplicateError);
    expect(rulesOn(did)).toBe(1);
    const did2 = await freshDataset();
    lake.proxy.inject({ match: { method: 'POST', path: '/rules/' }, fault: { kind: 'duplicate' } });
    const [r] = await rucio.rules.ensure(rule(did2));
    expect(r?.outcome).toBe('found');
    const listed = await rucio.dids.rules(did2).toArray();
    expect(listed.map((x) => x.id)).toEqual([r?.id]);
    expect(rulesOn(did2)).toBe(1);
  });

  it('a 201 whose body is cut (the rule exists, its id did not arrive): ensure() finds it', async () => {
    ledger.scenario();
    const did = await freshDataset();
    lake.proxy.inject({ match: { method: 'POST', path: '/rules/' }, fault: { kind: 'truncate', afterBytes: 5, framing: 'length' } });
    const [r] = await rucio.rules.ensure(rule(did));
    expect(r?.outcome).toBe('found');
    expect(rulesOn(did)).toBe(1);
  });

  it('several DIDs in one ensure() with lost answers and a flaky lookup: one rule each', async () => {
    ledger.scenario();
    const dids = [await freshDataset(), await freshDataset(), await freshDataset()];
    lake.proxy.inject({ match: { method: 'POST', path: '/rules/' }, fault: { kind: 'reset', forward: true } });
    lake.proxy.inject({ match: { method: 'GET', path: /^\/dids\/user\.jdoe\/rule_ds_\d+\/rules$/ }, fault: { kind: 'reset-body', afterBytes: 30 } });
    const out = await rucio.rules.ensure({ dids, copies: 1, rse_expression: 'SITE_B' });
    expect(out.map((r) => r.outcome)).toEqual(['found', 'found', 'found']);
    for (const d of dids) expect(rulesOn(d)).toBe(1);
  });

  it('the catalogue unreachable after an ambiguous failure: ensure() gives up with a typed error and never re-sends blindly', async () => {
    ledger.scenario();
    const did = await freshDataset();
    lake.proxy.inject({ match: { method: 'POST', path: '/rules/' }, fault: { kind: 'reset', forward: true } });
    lake.proxy.inject({ match: { method: 'GET', path: /\/rules$/ }, fault: { kind: 'status', status: 503 }, times: Infinity });
    const p0 = posts();
    await typedFailure(() => rucio.rules.ensure(rule(did)));
    expect(posts() - p0).toBe(1);
    expect(rulesOn(did)).toBe(1);
  });

  it('a non-ambiguous refusal is not retried (bad RSE expression)', async () => {
    ledger.scenario();
    const did = await freshDataset();
    const p0 = posts();
    await typedFailure(() => rucio.rules.ensure({ dids: [did], copies: 1, rse_expression: 'NO_SUCH_RSE' }));
    expect(posts() - p0).toBe(1);
  });
});

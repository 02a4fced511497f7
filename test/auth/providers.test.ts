import { ErrorCode } from '../../src/core/errors.js';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RucioClient, UnauthenticatedError, ForbiddenError } from '../../src/index.js';
import {
  RUCIO_TOKEN,
  SourceTokenProvider,
  TokenExpiredError,
  TokenSourceError,
  TokenStoreError,
  TokenWarning,
  NoTokenError,
  chromeStorageStore,
  envCandidate,
  jupyterHubToken,
  memoryStore,
  parseTokenText,
  rucioUserpass,
  staticToken,
  webStorageStore,
  type ChromeStorageAreaLike,
} from '../../src/auth/index.js';
import { createRucioEmulator } from '../../src/testing.js';
import { errorOf, expectNoSecrets, fakeClock, makeKey, mint } from './helpers.js';
import { closeServer, listen } from './op.js';

const ISS = 'https://iam.example.org/';

describe('staticToken', () => {
  it('returns the token, cannot refresh, reads expiresAt from the JWT', async () => {
    const key = await makeKey('k');
    const jwt = await mint(key, { iss: ISS });
    const p = staticToken(`  ${jwt}\n`);
    expect(p.canRefresh).toBe(false);
    expect(await p.getToken()).toBe(jwt);
    expect(p.expiresAt).toBeInstanceOf(Date);
    expect(p.source).toBe('static');
    expect(await staticToken('root-ddmlab-unknown-0123456789abcdef').getToken()).toBe('root-ddmlab-unknown-0123456789abcdef');
  });

  it('an expired token is a TokenExpiredError, a malformed one a TokenSourceError — neither quotes it', async () => {
    const key = await makeKey('k');
    const old = await mint(key, { iss: ISS }, { expiresIn: -3600 });
    const e = await errorOf(staticToken(old).getToken());
    expect(e).toBeInstanceOf(TokenExpiredError);
    expect((e as TokenExpiredError).code).toBe(ErrorCode.tokenExpired);
    expectNoSecrets(e, [old]);
    const garbage = 'two words-secretvalue';
    const m = await errorOf(staticToken(garbage).getToken());
    expect(m).toBeInstanceOf(TokenSourceError);
    expect((m as TokenSourceError).problem).toBe('malformed');
    expectNoSecrets(m, ['secretvalue']);
  });

  it('warns when a token meant for Rucio lacks audience rucio / scope openid profile', async () => {
    const key = await makeKey('k');
    const jwt = await mint(key, { iss: ISS, aud: 'esap', scope: 'openid email' });
    const warnings: TokenWarning[] = [];
    await staticToken(jwt, { expect: RUCIO_TOKEN, onWarning: (w) => warnings.push(w) }).getToken();
    expect(warnings.map((w) => w.claim)).toEqual(['aud', 'scope']);
  });
});

describe('token text and sources', () => {
  it('strips whitespace, reads JSON access_token, rejects the rest without quoting it', () => {
    expect(parseTokenText('\n  abc.def-_~+/=  \n', 's')).toBe('abc.def-_~+/=');
    expect(parseTokenText('{"access_token":"tok-abcdef","expires_in":3600}', 's')).toBe('tok-abcdef');
    const cases: [string, string][] = [
      ['', 'empty'],
      ['   \n', 'empty'],
      ['{"access_token": 3}', 'malformed'],
      ['{not json', 'malformed'],
      ['line-one-secret\nline-two-secret', 'malformed'],
      ['Bearer secret-token-value', 'malformed'],
      ['eyJub3QiOiJqc29u.eyJ4Ijox.c2ln', 'malformed'],
    ];
    for (const [text, problem] of cases) {
      let err: TokenSourceError | undefined;
      try {
        parseTokenText(text, 'file:/x');
      } catch (e) {
        err = e as TokenSourceError;
      }
      expect(err, JSON.stringify(text)).toBeInstanceOf(TokenSourceError);
      expect(err?.problem).toBe(problem);
      expect(err?.source).toBe('file:/x');
      expectNoSecrets(err, ['line-one-secret', 'secret-token-value']);
    }
  });

  it('a chain takes the first valid source, skips expired ones and says what it tried', async () => {
    const key = await makeKey('k');
    const expired = await mint(key, { iss: ISS }, { expiresIn: -600 });
    const fresh = await mint(key, { iss: ISS });
    const env: Record<string, string | undefined> = { A: expired, B: fresh };
    const p = new SourceTokenProvider(() => [envCandidate(env, 'NONE'), envCandidate(env, 'A'), envCandidate(env, 'B')], { hint: 'Set A.' });
    expect(await p.getToken()).toBe(fresh);
    expect(p.source).toBe('env:B');
    expect(p.tried).toEqual(['env:NONE (not set)', 'env:A (expired)', 'env:B (used)']);
    // The variable changes: noticed on the next call.
    const newer = await mint(key, { iss: ISS, jti: 'newer' });
    env.B = newer;
    expect(await p.getToken()).toBe(newer);
    // Nothing anywhere: NoTokenError naming what to set.
    const none = new SourceTokenProvider(() => [envCandidate({}, 'X')], { hint: 'Set X.' });
    const e = await errorOf(none.getToken());
    expect(e).toBeInstanceOf(NoTokenError);
    expect(e.message).toMatch(/Set X\./);
    expect((e as NoTokenError).tried).toEqual(['env:X (not set)']);
  });
});

describe('rucioUserpass (against the Rucio emulator)', () => {
  it('logs in, renews before the announced expiry, and keeps the password out of errors', async () => {
    const clock = fakeClock(Date.UTC(2026, 0, 10, 12, 0, 0));
    const rucio = createRucioEmulator({ now: clock.date });
    const token = rucioUserpass({ baseUrl: rucio.baseUrl, fetch: rucio.fetch, username: 'ddmlab', password: 'secret', account: 'root', now: clock.now, skew: 60 });
    const client = new RucioClient({ baseUrl: rucio.baseUrl, fetch: rucio.fetch, token });
    expect((await client.accounts.whoami()).account).toBe('root');
    const logins = () => rucio.requests.filter((r) => r.path === '/auth/userpass').length;
    expect(logins()).toBe(1);
    expect(token.expiresAt?.getTime()).toBe(clock.now() + 3600_000);
    clock.advance(3500_000);
    await client.accounts.whoami();
    expect(logins()).toBe(1);
    clock.advance(60_000); // inside the 60 s skew
    await client.accounts.whoami();
    expect(logins()).toBe(2);

    const wrong = 'not-the-password-123';
    const bad = rucioUserpass({ baseUrl: rucio.baseUrl, fetch: rucio.fetch, username: 'ddmlab', password: wrong, account: 'root' });
    const e = await errorOf(new RucioClient({ baseUrl: rucio.baseUrl, fetch: rucio.fetch, token: bad }).accounts.whoami());
    expect(e).toBeInstanceOf(UnauthenticatedError);
    expectNoSecrets(e, [wrong, 'secret-not-here']);
  });
});

describe('jupyterHubToken (against a loopback hub API)', () => {
  let url = '';
  let user: unknown = {};
  let status = 200;
  const seen: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    if (req.url !== '/hub/api/user') return void res.writeHead(404).end();
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(status === 200 ? user : { status, message: 'Forbidden' }));
  });
  beforeAll(async () => {
    url = `http://127.0.0.1:${await listen(server)}/hub/api`;
  });
  afterAll(() => closeServer(server));
  const apiToken = 'hub-api-token-0123456789';

  it('takes auth_state.exchanged_tokens.rucio, else access_token, with "Authorization: token"', async () => {
    const key = await makeKey('k');
    const rucioToken = await mint(key, { iss: ISS, aud: 'rucio' });
    const raw = await mint(key, { iss: ISS, aud: 'eos' });
    user = { name: 'jdoe', auth_state: { access_token: raw, exchanged_tokens: { rucio: rucioToken } } };
    const p = jupyterHubToken({ apiUrl: url, apiToken });
    expect(await p.getToken()).toBe(rucioToken);
    expect(p.source).toBe('jupyterhub');
    expect(seen.at(-1)).toBe(`token ${apiToken}`);
    user = { name: 'jdoe', auth_state: { access_token: raw } };
    expect(await jupyterHubToken({ apiUrl: url, apiToken }).getToken()).toBe(raw);
  });

  it('no auth_state, or a refused API token, are typed errors without the API token', async () => {
    user = { name: 'jdoe', auth_state: null };
    const e = await errorOf(jupyterHubToken({ apiUrl: url, apiToken }).getToken());
    expect(e).toBeInstanceOf(TokenSourceError);
    expect((e as TokenSourceError).problem).toBe('unavailable');
    expect(e.message).toMatch(/read:users:auth_state/);
    status = 403;
    const f = await errorOf(jupyterHubToken({ apiUrl: url, apiToken }).getToken());
    expect(f).toBeInstanceOf(ForbiddenError);
    status = 200;
    for (const x of [e, f]) expectNoSecrets(x, [apiToken]);
  });
});

describe('token stores', () => {
  it('memory, Web Storage and chrome.storage adapters store, read and delete strings', async () => {
    const m = new Map<string, string>();
    const web = { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k) };
    const items: Record<string, unknown> = {};
    const area: ChromeStorageAreaLike = {
      get: async (k) => (k in items ? { [k]: items[k] } : {}),
      set: async (o) => void Object.assign(items, o),
      remove: async (k) => void delete items[k],
    };
    for (const store of [memoryStore(), webStorageStore(web), chromeStorageStore(area)]) {
      expect(await store.get('k')).toBeUndefined();
      await store.set('k', '{"v":1}');
      expect(await store.get('k')).toBe('{"v":1}');
      await store.delete('k');
      expect(await store.get('k')).toBeUndefined();
    }
  });

  it('reaches the runtime storage through globalThis, and fails typed where there is none', async () => {
    const g = globalThis as Record<string, unknown>;
    const items: Record<string, unknown> = {};
    g.chrome = { storage: { session: { get: async (k: string) => ({ [k]: items[k] }), set: async (o: object) => void Object.assign(items, o), remove: async () => {} } } };
    try {
      await chromeStorageStore().set('a', 'b');
      expect(items.a).toBe('b');
      await expect(chromeStorageStore('local').get('a')).rejects.toBeInstanceOf(TokenStoreError);
    } finally {
      delete g.chrome;
    }
    expect(() => webStorageStore('local')).toThrow(TokenStoreError);
    const failing = webStorageStore({
      getItem: () => {
        throw new Error('QuotaExceeded with value secret-value-123');
      },
      setItem: () => {},
      removeItem: () => {},
    });
    const e = await errorOf(failing.get('x'));
    expect(e).toBeInstanceOf(TokenStoreError);
    expect((e as TokenStoreError).operation).toBe('get');
  });
});

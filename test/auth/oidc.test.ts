import { ErrorCode } from '../../src/core/errors.js';
/**
 * Every OIDC flow end to end against a real OpenID Provider (npm oidc-provider on 127.0.0.1), the
 * attacks the issue lists, and acceptance of the resulting tokens by Rucio's JWT rules.
 */
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, DlaasError, UnauthenticatedError } from '../../src/index.js';
import {
  CALLBACK_MESSAGE_TYPE,
  InsecureIssuerError,
  IssuerMismatchError,
  OAuthError,
  OAuthProtocolError,
  OidcClient,
  StateMismatchError,
  discoverIssuer,
  handleRedirectCallback,
  loginWithPopup,
  loginWithRedirect,
  memoryStore,
  notifyOpener,
  webStorageStore,
  type DevicePrompt,
  type MessageEventLike,
  type OidcSession,
  type PopupHost,
  type TokenStore,
} from '../../src/auth/index.js';
import { secureFetch } from '../../src/auth/http.js';
import { createJwtValidator, oidcIdentity, type JwtValidator } from '../../src/testing/rucio/jwt.js';
import { captureConsole, errorOf, expectNoSecrets, fakeClock } from './helpers.js';
import { TEST_CLIENTS, closeServer, listen, startTestOP, type TestOP } from './op.js';

let op: TestOP;
let rucioAccepts: JwtValidator;
/** Every credential seen in this suite: none may appear in an error or on the console. */
const secrets: string[] = [TEST_CLIENTS.service.clientSecret];

beforeAll(async () => {
  op = await startTestOP();
  rucioAccepts = createJwtValidator({
    issuers: [{ issuer: op.issuer, jwks: op.jwks }],
    identities: new Map([
      [oidcIdentity('alice', op.issuer), 'alice'],
      [oidcIdentity('bob', op.issuer), 'bob'],
      [oidcIdentity('carol', op.issuer), 'carol'],
      [oidcIdentity('dave', op.issuer), 'dave'],
      [oidcIdentity(TEST_CLIENTS.service.clientId, op.issuer), 'svc'],
    ]),
  });
});
afterAll(() => op?.close());

const sessionKey = (clientId: string) => `dlaas:oidc:${op.issuer}:${clientId}`;
async function storedRefreshToken(store: TokenStore, clientId: string): Promise<string | undefined> {
  const raw = await store.get(sessionKey(clientId));
  return raw ? (JSON.parse(raw) as { refreshToken: string }).refreshToken : undefined;
}
async function remember(session: OidcSession, store?: TokenStore): Promise<string> {
  const token = await session.getToken();
  secrets.push(token);
  const rt = store ? await storedRefreshToken(store, session.clientId) : undefined;
  if (rt) secrets.push(rt);
  return token;
}
function cliClient(store: TokenStore = memoryStore(), extra: object = {}) {
  return new OidcClient({ issuer: op.issuer, clientId: TEST_CLIENTS.device.clientId, allowInsecureLoopback: true, store, ...extra });
}
function serviceClient(extra: object = {}) {
  return new OidcClient({ issuer: op.issuer, clientId: TEST_CLIENTS.service.clientId, clientSecret: TEST_CLIENTS.service.clientSecret, allowInsecureLoopback: true, ...extra });
}

/** Device login approved headlessly at the n-th poll. */
async function deviceLogin(client: OidcClient, account: string, options: { approveAt?: number } = {}) {
  const prompts: DevicePrompt[] = [];
  const waits: number[] = [];
  const session = await client.deviceLogin({
    scope: 'openid profile offline_access wlcg.groups',
    onPrompt: (p) => void prompts.push(p),
    wait: async (ms) => {
      waits.push(ms);
      if (waits.length === (options.approveAt ?? 1)) await op.approveDevice(prompts[0]!.userCode, account);
    },
  });
  return { session, prompts, waits };
}

describe('discovery', () => {
  it('uses only the endpoints the discovery document lists', async () => {
    const urls: string[] = [];
    const client = cliClient(memoryStore(), { fetch: (u: string | URL | Request, init?: RequestInit) => (urls.push(String(u)), fetch(u, init)) });
    const { session } = await deviceLogin(client, 'alice');
    await remember(session);
    const meta = await discoverIssuer(op.issuer, { allowInsecureLoopback: true });
    const listed = new Set([`${op.issuer}/.well-known/openid-configuration`, meta.device_authorization_endpoint, meta.token_endpoint]);
    expect(urls.length).toBeGreaterThanOrEqual(3);
    for (const u of urls) expect(listed.has(u), u).toBe(true);
  });

  it('refuses an issuer whose discovery document names another issuer', async () => {
    const doc = await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).text();
    const liar = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(doc));
    const port = await listen(liar);
    try {
      const fake = `http://127.0.0.1:${port}`;
      const e = await errorOf(discoverIssuer(fake, { allowInsecureLoopback: true }));
      expect(e).toBeInstanceOf(IssuerMismatchError);
      expect((e as IssuerMismatchError).code).toBe(ErrorCode.issuerMismatch);
      expect((e as IssuerMismatchError).received).toBe(op.issuer);
      const client = new OidcClient({ issuer: fake, clientId: TEST_CLIENTS.device.clientId, allowInsecureLoopback: true });
      await expect(client.deviceLogin({ onPrompt: () => {} })).rejects.toBeInstanceOf(IssuerMismatchError);
    } finally {
      await closeServer(liar);
    }
  });

  it('refuses plain-http issuers except on loopback with the explicit option', async () => {
    expect(() => new OidcClient({ issuer: 'http://iam.example.org/', clientId: 'x' })).toThrow(InsecureIssuerError);
    expect(() => new OidcClient({ issuer: 'http://iam.example.org/', clientId: 'x', allowInsecureLoopback: true })).toThrow(/loopback/);
    expect(() => new OidcClient({ issuer: op.issuer, clientId: 'x' })).toThrow(/allowInsecureLoopback/);
    expect(() => new OidcClient({ issuer: 'ftp://iam.example.org/', clientId: 'x' })).toThrow(InsecureIssuerError);
    await expect(discoverIssuer(op.issuer)).rejects.toBeInstanceOf(InsecureIssuerError);
    // Endpoints a (compromised) https issuer might list on plain http are refused too.
    expect(() => secureFetch({ allowInsecureLoopback: true })('http://token.example.org/token')).toThrow(InsecureIssuerError);
  });
});

describe('device authorization grant (RFC 8628)', () => {
  it('prompts with the user code, polls until approval, and yields a Rucio-acceptable session', async () => {
    const store = memoryStore();
    const { session, prompts, waits } = await deviceLogin(cliClient(store), 'alice', { approveAt: 2 });
    expect(prompts).toHaveLength(1);
    const p = prompts[0]!;
    expect(p.userCode).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(p.verificationUri).toBe(`${op.issuer}/device`);
    expect(p.verificationUriComplete).toContain(`user_code=${p.userCode}`);
    expect(p.expiresAt.getTime()).toBeGreaterThan(Date.now());
    expect(waits).toEqual([5000, 5000]);
    const token = await remember(session, store);
    expect(session.grantType).toBe('device_code');
    expect(session.hasRefreshToken).toBe(true);
    expect(session.canRefresh).toBe(true);
    expect(session.idTokenClaims?.sub).toBe('alice');
    expect(session.scope).toEqual(expect.arrayContaining(['openid', 'profile', 'offline_access']));
    expect(session.claims()).toMatchObject({ aud: ['rucio'], sub: 'alice', groups: ['/escape', '/escape/alice'] });
    expect(await rucioAccepts(token)).toMatchObject({ account: 'alice', identity: `SUB=alice, ISS=${op.issuer}` });
    // Tokens never show in the session's JSON form.
    expect(JSON.stringify(session)).not.toContain(token);
    expect(JSON.stringify(session)).toContain('"hasRefreshToken":true');
  });

  it('honours slow_down (+5 s per answer) and the interval', async () => {
    op.slowDown(2);
    const { waits } = await deviceLogin(cliClient(), 'alice', { approveAt: 3 });
    expect(waits).toEqual([5000, 10000, 15000]);
  });

  it('stops on denial, abort and expiry with typed errors', async () => {
    const prompts: DevicePrompt[] = [];
    const denied = await errorOf(
      cliClient().deviceLogin({ onPrompt: (p) => void prompts.push(p), wait: async () => op.denyDevice(prompts.at(-1)!.userCode) }),
    );
    expect(denied).toBeInstanceOf(OAuthError);
    expect((denied as OAuthError).oauthCode).toBe('access_denied');

    // The pause between polls is made impossible to outwait: the device authorization answer is
    // rewritten to ask for a one-day interval (and a code valid for two). Only an interrupted pause
    // lets the promise settle; a pause that ignored the signal would keep the test waiting.
    const DAY_S = 86_400;
    const patient: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (!res.ok || !(res.headers.get('content-type') ?? '').includes('json')) return res;
      const body = (await res.json()) as Record<string, unknown>;
      if (typeof body.device_code === 'string') Object.assign(body, { interval: DAY_S, expires_in: 2 * DAY_S });
      return new Response(JSON.stringify(body), { status: res.status, statusText: res.statusText, headers: res.headers });
    };
    const ac = new AbortController();
    const asked: number[] = [];
    const aborted = cliClient(memoryStore(), { fetch: patient }).deviceLogin({
      // A macrotask after the prompt: the SDK is inside its pause by then (it starts it right after onPrompt).
      onPrompt: (p) => void (asked.push(p.interval), setTimeout(() => ac.abort(), 0)),
      signal: ac.signal,
    });
    expect(await errorOf(aborted)).toBeInstanceOf(AbortError);
    expect(asked).toEqual([DAY_S]); // the one-day pause was in force, and was interrupted

    const clock = fakeClock();
    const expiring = cliClient(memoryStore(), { now: clock.now });
    const expired = await errorOf(expiring.deviceLogin({ onPrompt: () => {}, wait: async () => clock.advance(700_000) }));
    expect(expired).toBeInstanceOf(OAuthError);
    expect((expired as OAuthError).oauthCode).toBe('expired_token');
    expect((expired as OAuthError).code).toBe(ErrorCode.oauth);
  });
});

describe('refresh, persistence and logout', () => {
  it('refreshes with rotation, persists the rotated token, restores the session, and drops a dead one', async () => {
    const store = memoryStore();
    const client = cliClient(store);
    const { session } = await deviceLogin(client, 'alice');
    const t1 = await remember(session, store);
    const rt1 = (await storedRefreshToken(store, client.clientId))!;
    const t2 = await session.refresh();
    secrets.push(t2);
    const rt2 = (await storedRefreshToken(store, client.clientId))!;
    secrets.push(rt2);
    expect(t2).not.toBe(t1);
    expect(rt2).not.toBe(rt1); // rotated, and the store holds the new one
    expect(await rucioAccepts(t2)).toMatchObject({ account: 'alice' });

    // Another process with the same store picks the session up.
    const restored = await cliClient(store).restoreSession();
    expect(restored?.grantType).toBe('device_code');
    expect(await restored!.getToken()).toBe(t2);
    const t3 = await restored!.refresh();
    secrets.push(t3, (await storedRefreshToken(store, client.clientId))!);

    // Replaying a rotated-out refresh token is refused (and the issuer revokes the grant).
    const e = await errorOf(client.refreshSession(rt1));
    expect(e).toBeInstanceOf(OAuthError);
    expect((e as OAuthError).oauthCode).toBe('invalid_grant');
    expectNoSecrets(e, secrets);
    const dead = await errorOf(restored!.refresh());
    expect((dead as OAuthError).oauthCode).toBe('invalid_grant');
    expect(await store.get(sessionKey(client.clientId))).toBeUndefined();
  });

  it('logout revokes the refresh token and forgets the session', async () => {
    const store = memoryStore();
    const client = cliClient(store);
    const { session } = await deviceLogin(client, 'bob');
    await remember(session, store);
    const rt = (await storedRefreshToken(store, client.clientId))!;
    await session.logout();
    expect(await store.get(sessionKey(client.clientId))).toBeUndefined();
    expect(((await errorOf(client.refreshSession(rt))) as OAuthError).oauthCode).toBe('invalid_grant');
    const after = await errorOf(session.getToken());
    expect((after as OAuthError).oauthCode).toBe('login_required');
  });

  it('a refresh-token session made from a stored refresh token', async () => {
    const store = memoryStore();
    const client = cliClient(store);
    const { session } = await deviceLogin(client, 'carol');
    await remember(session, store);
    const rt = (await storedRefreshToken(store, client.clientId))!;
    const other = await cliClient(memoryStore()).refreshSession(rt);
    expect(other.grantType).toBe('refresh_token');
    expect(await rucioAccepts(await remember(other))).toMatchObject({ account: 'carol' });
  });
});

describe('client credentials and token exchange', () => {
  it('client credentials: a service token, renewed by repeating the grant', async () => {
    const session = await serviceClient().clientCredentials({ scope: 'openid profile' });
    const t1 = await remember(session);
    expect(session.grantType).toBe('client_credentials');
    expect(session.canRefresh).toBe(true);
    expect(session.hasRefreshToken).toBe(false);
    expect(await rucioAccepts(t1)).toMatchObject({ account: 'svc' });
    const t2 = await session.refresh();
    secrets.push(t2);
    expect(t2).not.toBe(t1);
  });

  it('a wrong client secret is a typed error without the secret', async () => {
    const wrong = 'wrong-secret-abcdefghijkl';
    const e = await errorOf(serviceClient({ clientSecret: wrong }).clientCredentials());
    expect(e instanceof OAuthError || e instanceof UnauthenticatedError).toBe(true);
    expect(e instanceof OAuthError ? e.oauthCode : (e as UnauthenticatedError).exceptionClass).toBe('invalid_client');
    expectNoSecrets(e, [wrong, ...secrets]);
  });

  it('RFC 8693: exchanges a user token for an audience-rucio token, again on renewal', async () => {
    const { session: user } = await deviceLogin(cliClient(), 'dave');
    const userToken = await remember(user);
    const exchanged = await serviceClient().exchangeToken(user);
    const t = await remember(exchanged);
    expect(exchanged.grantType).toBe('token_exchange');
    expect(exchanged.claims()).toMatchObject({ sub: 'dave', aud: ['rucio'], scope: ['openid', 'profile'], clientId: TEST_CLIENTS.service.clientId });
    expect(t).not.toBe(userToken);
    expect(await rucioAccepts(t)).toMatchObject({ account: 'dave' });
    const again = await exchanged.refresh();
    secrets.push(again);
    expect(decodeSub(again)).toBe('dave');

    const bad = await errorOf(serviceClient().exchangeToken('not-a-valid-subject-token'));
    expect((bad as OAuthError).oauthCode).toBe('invalid_grant');
    const publicClient = await errorOf(cliClient().exchangeToken(userToken));
    expect(publicClient).toBeInstanceOf(OAuthError);
    expectNoSecrets(bad, secrets);
    expectNoSecrets(publicClient, secrets);
  });
});

function decodeSub(jwt: string): string {
  return (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { sub: string }).sub;
}

describe('authorization code + PKCE', () => {
  const redirectUri = 'http://127.0.0.1:8765/callback';
  const app = (store: TokenStore) => new OidcClient({ issuer: op.issuer, clientId: TEST_CLIENTS.app.clientId, allowInsecureLoopback: true, store });

  it('logs in through the real login and consent pages, verifying state, nonce and PKCE', async () => {
    const store = memoryStore();
    const client = app(store);
    const req = await client.createAuthorizationRequest({ redirectUri });
    const meta = await client.metadata();
    expect(`${req.url.origin}${req.url.pathname}`).toBe(meta.authorization_endpoint);
    expect(req.url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(req.url.searchParams.get('state')).toBe(req.state);
    expect(req.url.searchParams.get('nonce')).toBeTruthy();
    expect(req.url.searchParams.get('scope')).toBe('openid profile offline_access');
    expect(req.url.searchParams.get('prompt')).toBe('consent'); // offline_access needs it
    const back = await op.browse(req.url, 'bob');
    expect(back.searchParams.get('code')).toBeTruthy();
    const session = await client.completeAuthorization(back);
    expect(session.grantType).toBe('authorization_code');
    expect(session.hasRefreshToken).toBe(true);
    expect(session.idTokenClaims).toMatchObject({ sub: 'bob', nonce: req.url.searchParams.get('nonce') });
    expect(await rucioAccepts(await remember(session, store))).toMatchObject({ account: 'bob' });
  });

  it('rejects a wrong state, a replayed callback, a replayed code, a PKCE mismatch, a foreign iss and an error response — typed, nothing leaked', async () => {
    const { output } = await captureConsole(async () => {
      const store = memoryStore();
      const client = app(store);
      const errors: Error[] = [];

      const req = await client.createAuthorizationRequest({ redirectUri });
      const back = await op.browse(req.url, 'bob');
      const tampered = new URL(back);
      tampered.searchParams.set('state', 'forged-state-value');
      const wrongState = await errorOf(client.completeAuthorization(tampered));
      expect(wrongState).toBeInstanceOf(StateMismatchError);
      expect((wrongState as StateMismatchError).code).toBe(ErrorCode.stateMismatch);
      errors.push(wrongState);
      const ok = await client.completeAuthorization(back); // the genuine callback still works
      await remember(ok, store);

      const replayed = await errorOf(client.completeAuthorization(back));
      expect(replayed).toBeInstanceOf(StateMismatchError);
      errors.push(replayed);

      // A used code injected into a fresh login: the OP refuses it.
      const req2 = await client.createAuthorizationRequest({ redirectUri });
      const inject = new URL(back);
      inject.searchParams.set('state', req2.state);
      const replayedCode = await errorOf(client.completeAuthorization(inject));
      expect(replayedCode).toBeInstanceOf(OAuthError);
      expect((replayedCode as OAuthError).oauthCode).toBe('invalid_grant');
      errors.push(replayedCode);

      // Two logins, codes swapped: the code was bound to the other PKCE challenge.
      const [a, b] = await Promise.all([client.createAuthorizationRequest({ redirectUri }), client.createAuthorizationRequest({ redirectUri })]);
      const [backA] = await Promise.all([op.browse(a.url, 'bob'), op.browse(b.url, 'bob')]);
      const swapped = new URL(backA);
      swapped.searchParams.set('state', b.state);
      const pkce = await errorOf(client.completeAuthorization(swapped));
      expect((pkce as OAuthError).oauthCode).toBe('invalid_grant');
      errors.push(pkce);

      // A response claiming another issuer (mix-up attack, RFC 9207).
      const c = await client.createAuthorizationRequest({ redirectUri });
      const mixup = new URL(await op.browse(c.url, 'bob'));
      mixup.searchParams.set('iss', 'https://evil.example.org/');
      const foreign = await errorOf(client.completeAuthorization(mixup));
      expect(foreign).toBeInstanceOf(OAuthProtocolError);
      errors.push(foreign);

      // The user refused: error response with our state.
      const d = await client.createAuthorizationRequest({ redirectUri });
      const refused = new URL(redirectUri);
      refused.search = new URLSearchParams({ error: 'access_denied', error_description: 'End-User aborted interaction', state: d.state, iss: op.issuer }).toString();
      const denied = await errorOf(client.completeAuthorization(refused));
      expect((denied as OAuthError).oauthCode).toBe('access_denied');
      errors.push(denied);

      const codes = [back, swapped, mixup].map((u) => u.searchParams.get('code')!);
      for (const e of errors) {
        expect(e).toBeInstanceOf(DlaasError);
        expectNoSecrets(e, [...secrets, ...codes]);
      }
    });
    for (const s of secrets) expect(output.includes(s)).toBe(false);
  });
});

describe('browser helpers', () => {
  /** A Web Storage double (what sessionStorage offers). */
  function fakeStorage() {
    const m = new Map<string, string>();
    return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v), removeItem: (k: string) => void m.delete(k), size: () => m.size };
  }
  const web = (storage: ReturnType<typeof fakeStorage>) =>
    new OidcClient({ issuer: op.issuer, clientId: TEST_CLIENTS.web.clientId, allowInsecureLoopback: true, store: webStorageStore(storage) });

  it('redirect login survives the page change through sessionStorage', async () => {
    const storage = fakeStorage();
    let target: URL | undefined;
    await loginWithRedirect(web(storage), { redirectUri: TEST_CLIENTS.web.redirectUri, navigate: (u) => void (target = u) });
    expect(storage.size()).toBe(1); // only the pending request (verifier, nonce) until the callback
    const back = await op.browse(target!, 'carol');
    expect(back.origin).toBe('https://app.dlaas.test');
    const session = await handleRedirectCallback(web(storage), { url: back }); // a new page, a new client
    expect(await rucioAccepts(await remember(session))).toMatchObject({ account: 'carol' });
  });

  it('popup login: opened synchronously, answered by the callback page, other origins ignored; closing it is access_denied', async () => {
    const storage = fakeStorage();
    const listeners = new Set<(e: MessageEventLike) => void>();
    let opened = 0;
    const popup = {
      closed: false,
      close() {
        this.closed = true;
      },
      location: {
        set href(url: string) {
          if (url === 'about:blank') return;
          void op.browse(url, 'dave').then((cb) => {
            for (const l of [...listeners]) l({ origin: 'https://evil.example.org', data: { type: CALLBACK_MESSAGE_TYPE, url: 'https://evil.example.org/cb?state=x' }, source: popup });
            for (const l of [...listeners]) l({ origin: cb.origin, data: { type: CALLBACK_MESSAGE_TYPE, url: cb.href }, source: popup });
          });
        },
        get href() {
          return 'about:blank';
        },
      },
    };
    const host: PopupHost = {
      open: () => (opened++, popup),
      addEventListener: (_t, l) => void listeners.add(l),
      removeEventListener: (_t, l) => void listeners.delete(l),
    };
    const pending = loginWithPopup(web(storage), { host, redirectUri: TEST_CLIENTS.web.redirectUri });
    expect(opened).toBe(1); // before the first await: not blocked by the browser
    const session = await pending;
    expect(popup.closed).toBe(true);
    expect(await rucioAccepts(await remember(session))).toMatchObject({ account: 'dave' });

    const closing = { closed: false, close() {}, location: { href: '' } };
    const closedHost: PopupHost = { open: () => closing, addEventListener: () => {}, removeEventListener: () => {} };
    setTimeout(() => (closing.closed = true), 50);
    const e = await errorOf(loginWithPopup(web(fakeStorage()), { host: closedHost, redirectUri: TEST_CLIENTS.web.redirectUri }));
    expect((e as OAuthError).oauthCode).toBe('access_denied');
    const blocked = await errorOf(loginWithPopup(web(fakeStorage()), { host: { ...closedHost, open: () => null }, redirectUri: TEST_CLIENTS.web.redirectUri }));
    expect((blocked as OAuthError).description).toMatch(/blocked/);
  });

  it('notifyOpener posts the callback URL to the opener, same origin only', () => {
    const g = globalThis as Record<string, unknown>;
    const posted: [unknown, string][] = [];
    expect(notifyOpener()).toBe(false);
    g.opener = { postMessage: (d: unknown, o: string) => posted.push([d, o]) };
    g.location = { href: 'https://app.dlaas.test/callback?code=c&state=s', origin: 'https://app.dlaas.test' };
    try {
      expect(notifyOpener({ close: false })).toBe(true);
      expect(posted).toEqual([[{ type: CALLBACK_MESSAGE_TYPE, url: 'https://app.dlaas.test/callback?code=c&state=s' }, 'https://app.dlaas.test']]);
    } finally {
      delete g.opener;
      delete g.location;
    }
  });
});

describe('no credential ever leaks', () => {
  it('collected every token of this suite', () => {
    expect(secrets.length).toBeGreaterThan(10);
    // Errors from the issuer's side with a registered secret in them are scrubbed.
    const e = new OAuthError('invalid_grant', `token ${secrets[1]} is bad`, 400, 'OIDC refresh');
    expectNoSecrets(e, secrets);
  });

  it('abort mid-flow is an AbortError', async () => {
    const ac = new AbortController();
    ac.abort();
    expect(await errorOf(serviceClient().clientCredentials({ signal: ac.signal }))).toBeInstanceOf(AbortError);
  });
});

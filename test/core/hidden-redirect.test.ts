/**
 * Redirects a browser hides from `fetch` (`redirect: 'manual'` → an opaque response), with a fake
 * `fetch` that behaves like Chromium: it hides the Location of manual redirects, and when it follows
 * one itself it keeps custom headers on a cross-origin hop (only `Authorization` is dropped). The real
 * browser is exercised in test/runtimes/redirect-credentials.test.ts; this runs the same rules in Node.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionError, HiddenRedirectError, RucioClient, Transport, UnauthenticatedError } from '../../src/index.js';

const A = 'https://rucio.a.test';
const B = 'https://other.b.test';
const TOKEN = 'tok-9c1e7a';

type Route = (url: URL, headers: Headers) => { status: number; location?: string; body?: unknown };

/** A browser-like fetch over `route`; `seen` records every request (URL, method, headers). */
function browserFetch(route: Route) {
  const seen: { url: string; method: string; headers: Record<string, string>; credentials: string }[] = [];
  const f = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const req = input instanceof Request ? new Request(input, init) : new Request(input, init);
    let url = new URL(req.url);
    let method = req.method;
    const headers = new Headers(req.headers);
    for (let hop = 0; hop < 10; hop++) {
      seen.push({ url: url.href, method, headers: Object.fromEntries(headers), credentials: req.credentials });
      const out = route(url, headers);
      if (out.location && [301, 302, 303, 307, 308].includes(out.status)) {
        if (req.redirect === 'manual') {
          const opaque = new Response(null, { status: 200 });
          Object.defineProperties(opaque, { type: { value: 'opaqueredirect' }, status: { value: 0 }, ok: { value: false }, url: { value: '' } });
          return opaque;
        }
        const next = new URL(out.location, url);
        // Fetch spec: only Authorization is removed on a cross-origin redirect.
        if (next.origin !== url.origin) headers.delete('authorization');
        if (out.status === 303 || ((out.status === 301 || out.status === 302) && method === 'POST')) method = 'GET';
        url = next;
        continue;
      }
      const text = typeof out.body === 'string' ? out.body : out.body === undefined ? null : JSON.stringify(out.body);
      const res = new Response(text, { status: out.status, headers: { 'content-type': typeof out.body === 'string' ? 'application/octet-stream' : 'application/json' } });
      Object.defineProperties(res, { url: { value: url.href }, redirected: { value: hop > 0 } });
      return res;
    }
    throw new TypeError('Failed to fetch (redirect loop)');
  };
  return { fetch: f as typeof fetch, seen };
}

const account = { account: 'jdoe', account_type: 'USER', status: 'ACTIVE' };
const denied = { status: 401, body: { ExceptionClass: 'CannotAuthenticate', ExceptionMessage: 'no token' } };

function lake(): Route {
  return (url, headers) => {
    const auth = headers.get('x-rucio-auth-token') ?? headers.get('authorization');
    if (url.origin === B) return auth ? { status: 200, body: account } : denied;
    if (url.pathname === '/cross/accounts/whoami') return { status: 303, location: `${B}/accounts/jdoe` };
    if (url.pathname === '/same/accounts/whoami') return { status: 303, location: '/same/accounts/jdoe' };
    if (url.pathname === '/same/accounts/jdoe') return auth === TOKEN ? { status: 200, body: account } : denied;
    if (url.pathname === '/cross/rules/') return { status: 307, location: `${B}/rules/` };
    // Like Rucio: whoami redirects only requests with a valid token.
    if (url.pathname === '/gated/accounts/whoami') return auth === TOKEN ? { status: 303, location: `${B}/accounts/jdoe` } : denied;
    if (url.pathname === '/gated/auth/validate') return auth === TOKEN ? { status: 200, body: "{'account': 'jdoe', 'identity': 'jdoe', 'lifetime': None, 'audience': None, 'authz_scope': None, 'vo': 'def'}" } : denied;
    if (url.pathname === '/gated/accounts/jdoe') return auth === TOKEN ? { status: 200, body: account } : denied;
    return { status: 404, body: { ExceptionClass: 'NotFound', ExceptionMessage: url.pathname } };
  };
}

const noRetry = { limit: 0 };

describe('redirects the runtime hides (browser semantics)', () => {
  it('to another origin: followed without any credential; the answer is the other origin’s', async () => {
    const { fetch, seen } = browserFetch(lake());
    const t = new Transport({ service: 'rucio', baseUrl: `${A}/cross/`, auth: { token: TOKEN, header: 'X-Rucio-Auth-Token' }, headers: { 'X-Rucio-Script': 'test' }, fetch, retry: noRetry });
    await expect(t.json({ method: 'GET', path: 'accounts/whoami' })).rejects.toBeInstanceOf(UnauthenticatedError);
    const atB = seen.filter((s) => s.url.startsWith(B));
    expect(atB).toHaveLength(1);
    expect(atB[0]!.headers['x-rucio-auth-token']).toBeUndefined();
    expect(atB[0]!.headers['x-rucio-script']).toBe('test');
    expect(atB[0]!.credentials).toBe('omit');
  });

  it('on the same origin: followed anonymously, then the final URL is asked again with the token', async () => {
    const { fetch, seen } = browserFetch(lake());
    const t = new Transport({ service: 'rucio', baseUrl: `${A}/same/`, auth: { token: TOKEN, header: 'X-Rucio-Auth-Token' }, fetch, retry: noRetry });
    expect(await t.json({ method: 'GET', path: 'accounts/whoami' })).toEqual(account);
    expect(seen.map((s) => [new URL(s.url).pathname, s.headers['x-rucio-auth-token'] ?? null])).toEqual([
      ['/same/accounts/whoami', TOKEN],
      ['/same/accounts/whoami', null],
      ['/same/accounts/jdoe', null],
      ['/same/accounts/jdoe', TOKEN],
    ]);
  });

  it('secret headers of the request (X-Rucio-Password) are not sent on the anonymous follow either', async () => {
    const { fetch, seen } = browserFetch(lake());
    const t = new Transport({ service: 'rucio', baseUrl: `${A}/cross/`, fetch, retry: noRetry });
    await expect(t.request({ method: 'GET', path: 'accounts/whoami', headers: { 'X-Rucio-Username': 'jdoe', 'X-Rucio-Password': 'pw' } })).rejects.toBeInstanceOf(UnauthenticatedError);
    const atB = seen.filter((s) => s.url.startsWith(B));
    expect(atB).toHaveLength(1);
    expect(atB[0]!.headers['x-rucio-password']).toBeUndefined();
  });

  it('a custom auth header name is stripped too', async () => {
    const { fetch, seen } = browserFetch(lake());
    const t = new Transport({ service: 'esap', baseUrl: `${A}/cross/`, auth: { token: TOKEN, header: 'X-Api-Key' }, fetch, retry: noRetry });
    await expect(t.request({ method: 'GET', path: 'accounts/whoami' })).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(seen.filter((s) => s.url.startsWith(B)).map((s) => s.headers['x-api-key'])).toEqual([undefined]);
  });

  it('a non-idempotent request with credentials is not replayed: HiddenRedirectError naming the host', async () => {
    const { fetch, seen } = browserFetch(lake());
    const t = new Transport({ service: 'rucio', baseUrl: `${A}/cross/`, auth: { token: TOKEN, header: 'X-Rucio-Auth-Token' }, fetch, retry: noRetry });
    const err = await t.json({ method: 'POST', path: 'rules/', json: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err).toBeInstanceOf(HiddenRedirectError);
    expect((err as HiddenRedirectError).host).toBe('rucio.a.test');
    expect((err as Error).message).toContain('POST /cross/rules/: rucio.a.test answered with a redirect the browser does not disclose');
    expect(seen).toHaveLength(1);
  });

  it('a redirect only given to requests with the token: HiddenRedirectError; nothing reaches the other origin', async () => {
    const { fetch, seen } = browserFetch(lake());
    const t = new Transport({ service: 'rucio', baseUrl: `${A}/gated/`, auth: { token: TOKEN, header: 'X-Rucio-Auth-Token' }, fetch, retry: noRetry });
    const err = await t.json({ method: 'GET', path: 'accounts/whoami' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HiddenRedirectError);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(seen.map((s) => [s.url, s.headers['x-rucio-auth-token'] ?? null])).toEqual([
      [`${A}/gated/accounts/whoami`, TOKEN],
      [`${A}/gated/accounts/whoami`, null],
    ]);
  });

  it('whoami then asks /auth/validate and reads the account: the token stays on the configured origin', async () => {
    const { fetch, seen } = browserFetch(lake());
    const rucio = new RucioClient({ baseUrl: `${A}/gated/`, token: TOKEN, fetch, retry: noRetry });
    expect(await rucio.accounts.whoami()).toEqual(account);
    expect(seen.filter((s) => !s.url.startsWith(A))).toEqual([]);
    expect(seen.map((s) => new URL(s.url).pathname)).toEqual(['/gated/accounts/whoami', '/gated/accounts/whoami', '/gated/auth/validate', '/gated/accounts/jdoe']);
  });

  it('`redirect: manual` hands the opaque response to the caller', async () => {
    const { fetch, seen } = browserFetch(lake());
    const t = new Transport({ service: 'rucio', baseUrl: `${A}/cross/`, auth: { token: TOKEN, header: 'X-Rucio-Auth-Token' }, fetch, retry: noRetry });
    const res = await t.request({ method: 'GET', path: 'accounts/whoami', redirect: 'manual' });
    expect(res.type).toBe('opaqueredirect');
    expect(seen).toHaveLength(1);
  });

  it('`redirect: follow` is not handed to the runtime with credentials', async () => {
    const { fetch, seen } = browserFetch(lake());
    const t = new Transport({ service: 'rucio', baseUrl: `${A}/cross/`, auth: { token: TOKEN, header: 'X-Rucio-Auth-Token' }, fetch, retry: noRetry });
    await expect(t.json({ method: 'GET', path: 'accounts/whoami', redirect: 'follow' })).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(seen.filter((s) => s.url.startsWith(B)).map((s) => s.headers['x-rucio-auth-token'])).toEqual([undefined]);
  });
});

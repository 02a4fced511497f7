/**
 * Credentials never follow a redirect to another origin, in a real browser (Debian's Chromium through
 * playwright-core). Browsers hide the target of a redirect from `fetch` (`redirect: 'manual'` gives an
 * opaque response), and when they follow one themselves they keep custom headers such as
 * `X-Rucio-Auth-Token` or `X-Rucio-Password` on a cross-origin hop (and cookies go to every port of
 * the host). Here the configured service is origin A (a loopback server), which redirects to origin B
 * (another port: another origin); B records every request it receives and must never see a secret.
 * A same-origin redirect still works with the token: one answered to anyone (a moved path) is followed
 * anonymously by the browser, then asked again with the token; Rucio's `whoami`, whose redirect only
 * authenticated requests get, is answered through `/auth/validate` instead (the transport gives a typed
 * `HiddenRedirectError` for such a redirect, naming the host).
 *
 * The page loads the SDK bundled from the sources (esbuild, browser platform).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, ensureChromium, startSite, type Site } from './harness.js';

const TOKEN = 'rucio-token-7f3c9d2e1b';
const PASSWORD = 'pw-secret-4a8e6c';
const SESSION = 'esap-session-91bd5f';
const ACCOUNT = { account: 'jdoe', account_type: 'USER', status: 'ACTIVE' };

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

/** A loopback origin that answers CORS for the page and records every request it receives. */
interface Origin {
  readonly url: string;
  readonly seen: Seen[];
  close(): Promise<void>;
}

async function startOrigin(route: (req: IncomingMessage, path: string) => { status: number; headers?: Record<string, string>; body?: unknown; raw?: string }): Promise<Origin> {
  const seen: Seen[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    seen.push({ method: req.method ?? '', path, headers: { ...req.headers } });
    req.resume();
    // Permissive CORS, as an attacker's origin would answer (credentials and every header allowed).
    const cors: Record<string, string> = {
      'access-control-allow-origin': req.headers.origin ?? '*',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'X-Rucio-Auth-Token',
      vary: 'Origin',
      // Every request reaches the server (a 308 would otherwise be served from the browser's cache).
      'cache-control': 'no-store',
    };
    if (req.method === 'OPTIONS') {
      res
        .writeHead(204, {
          ...cors,
          'access-control-allow-methods': 'GET, POST, PUT, PATCH, DELETE',
          'access-control-allow-headers': req.headers['access-control-request-headers'] ?? '',
          'access-control-max-age': '0',
        })
        .end();
      return;
    }
    const out = route(req, path);
    const body = out.raw ?? (out.body === undefined ? '' : JSON.stringify(out.body));
    const type = out.raw !== undefined ? 'application/octet-stream' : out.body !== undefined ? 'application/json' : undefined;
    res.writeHead(out.status, { ...cors, ...(type ? { 'content-type': type } : {}), ...out.headers }).end(body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}

/** What Rucio's `GET /auth/validate` answers: the `str()` of a Python dict. */
const VALIDATE = "{'account': 'jdoe', 'identity': 'jdoe', 'lifetime': datetime.datetime(2031, 1, 1, 0, 0), 'audience': None, 'authz_scope': None, 'vo': 'def'}";
const unauthenticated = { status: 401, body: { ExceptionClass: 'CannotAuthenticate', ExceptionMessage: 'Cannot authenticate' } };

let work = '';
let site: Site | undefined;
let a: Origin | undefined;
let b: Origin | undefined;
let browser: Browser | undefined;
let context: BrowserContext | undefined;
let page: Page | undefined;

beforeAll(async () => {
  ensureChromium();
  work = mkdtempSync(join(tmpdir(), 'dlaas-redirect-'));
  await build({
    entryPoints: [resolve(import.meta.dirname, '../../src/index.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'silent',
    outfile: join(work, 'dlaas.js'),
  });
  writeFileSync(join(work, 'page.html'), `<!doctype html><meta charset="utf-8"><script type="module">import * as dlaas from './dlaas.js'; window.dlaas = dlaas; document.body.dataset.ready = '1';</script><body></body>`);
  site = await startSite(work, () => Promise.reject(new Error('no logins here')));
  // B: what a foreign origin would answer: the account for anyone who shows a credential.
  b = await startOrigin((req) => (req.headers['x-rucio-auth-token'] || req.headers.authorization || req.headers['x-rucio-password'] ? { status: 200, body: ACCOUNT, headers: { 'x-rucio-auth-token': 'issued-by-b' } } : unauthenticated));
  const other = b.url;
  // A: the configured service. Like Rucio, `whoami` redirects only requests with a valid token.
  a = await startOrigin((req, path) => {
    const authed = req.headers['x-rucio-auth-token'] === TOKEN;
    const prefix = /^\/(cross|same)\//.exec(path)?.[0] ?? '/';
    const rest = path.slice(prefix.length);
    if (rest === 'accounts/jdoe') return authed ? { status: 200, body: ACCOUNT } : unauthenticated;
    if (rest === 'auth/validate') return authed ? { status: 200, raw: VALIDATE } : unauthenticated;
    if (path === '/cross/accounts/whoami') return authed ? { status: 303, headers: { location: `${other}/accounts/jdoe` } } : unauthenticated;
    if (path === '/same/accounts/whoami') return authed ? { status: 303, headers: { location: 'jdoe' } } : unauthenticated;
    // Redirects answered to anyone.
    if (path === '/cross/auth/userpass') return { status: 303, headers: { location: `${other}/auth/userpass` } };
    if (path === '/cross/rules/') return { status: 307, headers: { location: `${other}/rules/` } };
    if (path === '/cross/bearer/thing') return { status: 302, headers: { location: `${other}/thing` } };
    if (path === '/cross/esap-api/accounts/user-profiles/') return { status: 302, headers: { location: `${other}/oidc/authenticate/` } };
    if (path === '/same/scopes/') return { status: 308, headers: { location: '/same/v2/scopes/' } };
    if (path === '/same/v2/scopes/') return authed ? { status: 200, body: ['user.jdoe'] } : unauthenticated;
    return { status: 404, body: { ExceptionClass: 'NotFound', ExceptionMessage: path } };
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, env: { ...process.env, XDG_CONFIG_HOME: join(work, 'xdg-config'), XDG_CACHE_HOME: join(work, 'xdg-cache') } });
  context = await browser.newContext();
  // An ESAP session cookie for A's host: cookies are not bound to a port, so B's host gets it too.
  await context.addCookies([{ name: 'sessionid', value: SESSION, url: a.url }]);
  page = await context.newPage();
  await page.goto(`${site.origin}/page.html`);
  await page.waitForSelector('body[data-ready]', { state: 'attached' });
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await site?.close();
  await a?.close();
  await b?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

beforeEach(() => {
  a!.seen.length = 0;
  b!.seen.length = 0;
});

type Outcome = { ok: true; value: unknown } | { ok: false; name: string; code: string; status?: number | undefined; message: string };

/** Run one SDK call in the page. */
function inPage(kind: string): Promise<Outcome> {
  return page!.evaluate(
    async ({ kind, base, token, password }) => {
      const { RucioClient, EsapClient, Transport } = (window as unknown as { dlaas: typeof import('../../src/index.js') }).dlaas;
      const retry = { limit: 0 };
      try {
        let value: unknown;
        if (kind === 'whoami-cross') value = await new RucioClient({ baseUrl: `${base}/cross/`, token, retry }).accounts.whoami();
        else if (kind === 'whoami-same') value = await new RucioClient({ baseUrl: `${base}/same/`, token, retry }).accounts.whoami();
        else if (kind === 'get-whoami-cross') value = await new RucioClient({ baseUrl: `${base}/cross/`, token, retry }).transport.json({ method: 'GET', path: 'accounts/whoami' });
        else if (kind === 'scopes-same') value = await new RucioClient({ baseUrl: `${base}/same/`, token, retry }).scopes.list().toArray();
        else if (kind === 'userpass-cross') value = await new RucioClient({ baseUrl: `${base}/cross/`, retry }).auth.userpass({ username: 'jdoe', password });
        else if (kind === 'post-cross') value = await new RucioClient({ baseUrl: `${base}/cross/`, token, retry }).transport.json({ method: 'POST', path: 'rules/', json: { dids: [] } });
        else if (kind === 'bearer-cross') value = await new Transport({ service: 'storage', baseUrl: `${base}/cross/`, auth: { token }, retry }).json({ method: 'GET', path: 'bearer/thing' });
        else if (kind === 'esap-session-cross') value = await new EsapClient({ baseUrl: `${base}/cross/`, credentials: 'include', retry }).basket.get();
        else throw new Error(`unknown case ${kind}`);
        return { ok: true as const, value };
      } catch (e) {
        const err = e as { name: string; code: string; status?: number; message: string };
        return { ok: false as const, name: err.name, code: err.code, status: err.status, message: err.message };
      }
    },
    { kind, base: a!.url, token: TOKEN, password: PASSWORD },
  );
}

/** Every secret the page holds, wherever B might have received it (header names or values). */
function expectNothingSecretAt(origin: Origin): void {
  const text = JSON.stringify(origin.seen).toLowerCase();
  for (const secret of [TOKEN, PASSWORD, SESSION]) expect(text).not.toContain(secret.toLowerCase());
  for (const s of origin.seen) {
    expect(s.headers['x-rucio-auth-token'], `${s.method} ${s.path}`).toBeUndefined();
    expect(s.headers.authorization, `${s.method} ${s.path}`).toBeUndefined();
    expect(s.headers['x-rucio-password'], `${s.method} ${s.path}`).toBeUndefined();
    expect(s.headers.cookie, `${s.method} ${s.path}`).toBeUndefined();
    // Not even named in a CORS preflight.
    expect(String(s.headers['access-control-request-headers'] ?? ''), `${s.method} ${s.path}`).not.toMatch(/x-rucio-auth-token|authorization|x-rucio-password/);
  }
}

describe('credentials and redirects in Chromium', () => {
  it('a GET whose redirect (to another origin) only requests with the token get: typed HiddenRedirectError naming the host; B receives nothing', async () => {
    const out = await inPage('get-whoami-cross');
    expect(out).toMatchObject({ ok: false, name: 'HiddenRedirectError', code: 'DLAAS_CONNECTION' });
    expect((out as { message: string }).message).toContain(`${new URL(a!.url).host} answered with a redirect the browser does not disclose`);
    expect(b!.seen).toEqual([]);
    // A (the configured origin) got the token once, then the same request without it, which it did not redirect.
    expect(a!.seen.filter((s) => s.method === 'GET').map((s) => [s.path, s.headers['x-rucio-auth-token'] ?? null])).toEqual([
      ['/cross/accounts/whoami', TOKEN],
      ['/cross/accounts/whoami', null],
    ]);
  });

  it('whoami redirected to another origin: B never receives X-Rucio-Auth-Token; the account comes from /auth/validate on A', async () => {
    const out = await inPage('whoami-cross');
    expect(out).toEqual({ ok: true, value: ACCOUNT });
    expectNothingSecretAt(b!);
    expect(b!.seen).toEqual([]);
  });

  it('whoami redirected on the same origin (Rucio’s relative Location) works with the token', async () => {
    const out = await inPage('whoami-same');
    expect(out).toEqual({ ok: true, value: ACCOUNT });
    expect(a!.seen.filter((s) => s.method === 'GET').map((s) => [s.path, s.headers['x-rucio-auth-token'] ?? null])).toEqual([
      ['/same/accounts/whoami', TOKEN],
      ['/same/accounts/whoami', null],
      ['/same/auth/validate', TOKEN],
      ['/same/accounts/jdoe', TOKEN],
    ]);
    expect(b!.seen).toEqual([]);
  });

  it('a same-origin redirect answered to anyone is followed, then asked again with the token', async () => {
    const out = await inPage('scopes-same');
    expect(out).toEqual({ ok: true, value: ['user.jdoe'] });
    // Followed by the browser without the token, then asked again on the same origin with it.
    expect(a!.seen.filter((s) => s.method === 'GET').map((s) => [s.path, s.headers['x-rucio-auth-token'] ?? null])).toEqual([
      ['/same/scopes/', TOKEN],
      ['/same/scopes/', null],
      ['/same/v2/scopes/', null],
      ['/same/v2/scopes/', TOKEN],
    ]);
    expect(b!.seen).toEqual([]);
  });

  it('userpass redirected to another origin: B never receives X-Rucio-Password', async () => {
    const out = await inPage('userpass-cross');
    expectNothingSecretAt(b!);
    expect(out).toMatchObject({ ok: false, code: 'DLAAS_UNAUTHENTICATED' });
  });

  it('Authorization: Bearer redirected to another origin never reaches B', async () => {
    const out = await inPage('bearer-cross');
    expectNothingSecretAt(b!);
    expect(out).toMatchObject({ ok: false, code: 'DLAAS_UNAUTHENTICATED' });
  });

  it('a POST with the token answered by a hidden redirect is refused (typed error naming the host), nothing reaches B', async () => {
    const out = await inPage('post-cross');
    expect(out).toMatchObject({ ok: false, name: 'HiddenRedirectError', code: 'DLAAS_CONNECTION' });
    expect((out as { message: string }).message).toContain(new URL(a!.url).host);
    expectNothingSecretAt(b!);
    expect(b!.seen).toEqual([]);
  });

  it('an ESAP cookie session redirected to another origin: the session expired error, B never gets the cookie', async () => {
    const out = await inPage('esap-session-cross');
    expectNothingSecretAt(b!);
    expect(out).toMatchObject({ ok: false, name: 'EsapSessionExpiredError' });
  });
});

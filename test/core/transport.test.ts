import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  ConnectionError,
  DuplicateError,
  ErrorCode,
  InvalidArgumentError,
  NotFoundError,
  RateLimitError,
  ResponseValidationError,
  ServerError,
  TimeoutError,
  Transport,
  UnauthenticatedError,
  UnsupportedContentTypeError,
  type TokenProvider,
} from '../../src/index.js';
import { z } from 'zod/mini';

const BASE = 'https://rucio.test/api/';
const server = setupServer();
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

function rucioError(status: number, cls: string, msg: string, extra: Record<string, string> = {}) {
  return new HttpResponse(JSON.stringify({ ExceptionClass: cls, ExceptionMessage: msg }), {
    status,
    headers: { 'Content-Type': 'application/octet-stream', ExceptionClass: cls, ExceptionMessage: msg.slice(0, 125), ...extra },
  });
}

const fast = { baseDelay: 1, backoffLimit: 5 };

describe('Transport', () => {
  it('sends credentials only over https or to loopback: a plain-http host gets no request with a token, password or cookie', async () => {
    const seen: string[] = [];
    const fetchImpl = async (input: RequestInfo | URL) => {
      seen.push(input instanceof Request ? input.url : String(input));
      return new Response('{}', { status: 200, headers: { 'Content-Type': 'application/json' } });
    };
    const over = (baseUrl: string, o: object = {}) => new Transport({ service: 'rucio', baseUrl, retry: { limit: 0 }, fetch: fetchImpl, ...o });
    const token = { auth: { token: 'tls-only-token', header: 'X-Rucio-Auth-Token' } };
    const refused = await over('http://rucio.example.org/', token).json({ method: 'GET', path: 'ping' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InvalidArgumentError);
    expect(String((refused as Error).message)).toMatch(/rucio\.example\.org: credentials are sent only over https .*use the https:\/\/ URL/);
    expect(String((refused as Error).message)).not.toContain('tls-only-token');
    // A password header (userpass) and a browser cookie session are credentials too.
    await expect(over('http://rucio.example.org/').json({ method: 'GET', path: 'auth/userpass', headers: { 'X-Rucio-Password': 'pw' } })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(over('http://esap.example.org/', { credentials: 'include' }).json({ method: 'GET', path: 'x' })).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(seen).toEqual([]);
    // Without credentials plain http is fine; https and loopback get the token.
    await over('http://rucio.example.org/').json({ method: 'GET', path: 'ping' });
    await over('https://rucio.example.org/', token).json({ method: 'GET', path: 'ping' });
    await over('http://127.0.0.1:9/', token).json({ method: 'GET', path: 'ping' });
    await over('http://localhost:9/', token).json({ method: 'GET', path: 'ping' });
    expect(seen).toEqual(['http://rucio.example.org/ping', 'https://rucio.example.org/ping', 'http://127.0.0.1:9/ping', 'http://localhost:9/ping']);
  });

  it('resolves paths under a base URL with a prefix and encodes repeated query keys', async () => {
    let seen = '';
    server.use(http.get('https://rucio.test/api/rses/X/lfns2pfns', ({ request }) => ((seen = request.url), HttpResponse.json({}))));
    const t = new Transport({ service: 'rucio', baseUrl: 'https://rucio.test/api' });
    await t.json({ method: 'GET', path: '/rses/X/lfns2pfns', query: { lfn: ['a:1', 'b:2'], scheme: undefined, n: 3 } });
    expect(seen).toBe('https://rucio.test/api/rses/X/lfns2pfns?lfn=a%3A1&lfn=b%3A2&n=3');
  });

  it('injects the token in the configured header and sends no Accept unless the endpoint asks', async () => {
    const seen: Record<string, string | null>[] = [];
    server.use(
      http.get(`${BASE}x`, ({ request }) => {
        seen.push({ tok: request.headers.get('X-Rucio-Auth-Token'), auth: request.headers.get('Authorization'), accept: request.headers.get('Accept') });
        return HttpResponse.json({ ok: true });
      }),
    );
    const t = new Transport({ service: 'rucio', baseUrl: BASE, auth: { token: 'tok-123456', header: 'X-Rucio-Auth-Token' } });
    await t.json({ method: 'GET', path: 'x' });
    await t.json({ method: 'GET', path: 'x', accept: 'application/x-json-stream' });
    // fetch itself may add `*/*` (which Rucio accepts); the SDK never adds application/json.
    expect(seen[0]).toMatchObject({ tok: 'tok-123456', auth: null });
    expect([null, '*/*']).toContain(seen[0]?.accept);
    expect(seen[1]?.accept).toBe('application/x-json-stream');
    const b = new Transport({ service: 'esap', baseUrl: BASE, auth: { token: async () => 'bearer-abcdef' } });
    await b.json({ method: 'GET', path: 'x' });
    expect(seen[2]?.auth).toBe('Bearer bearer-abcdef');
  });

  it('retries idempotent requests on 503 honouring Retry-After, then succeeds', async () => {
    const times: number[] = [];
    server.use(
      http.get(`${BASE}r`, () => {
        times.push(Date.now());
        if (times.length < 3) return new HttpResponse('busy', { status: 503, headers: { 'Retry-After': '1' } });
        return HttpResponse.json({ n: times.length });
      }),
    );
    const t = new Transport({ service: 'rucio', baseUrl: BASE, retry: fast });
    expect(await t.json({ method: 'GET', path: 'r' })).toEqual({ n: 3 });
    // Retry-After: 1 s wins over the 1 ms backoff.
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(900);
  });

  it('uses exponential backoff for 502/504 and gives up with a typed error after the budget', async () => {
    let calls = 0;
    server.use(http.get(`${BASE}down`, () => (calls++, rucioError(502, 'ServiceUnavailable', 'gateway'))));
    const t = new Transport({ service: 'rucio', baseUrl: BASE, retry: { limit: 2, baseDelay: 1 } });
    const err = await t.json({ method: 'GET', path: 'down' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect(calls).toBe(3);
  });

  it('retries 429 and reports RateLimitError with retryAfter when the budget is spent', async () => {
    let calls = 0;
    server.use(http.get(`${BASE}rl`, () => (calls++, new HttpResponse('slow down', { status: 429, headers: { 'Retry-After': '0' } }))));
    const t = new Transport({ service: 'rucio', baseUrl: BASE, retry: { limit: 1, baseDelay: 1 } });
    const err = (await t.json({ method: 'GET', path: 'rl' }).catch((e: unknown) => e)) as RateLimitError;
    expect(err).toBeInstanceOf(RateLimitError);
    expect(err.retryAfter).toBe(0);
    expect(calls).toBe(2);
  });

  it('never retries a POST, but retries a POST marked idempotent (a read such as /replicas/list)', async () => {
    let calls = 0;
    server.use(http.post(`${BASE}rules/`, () => (calls++, new HttpResponse('x', { status: 503 }))));
    const t = new Transport({ service: 'rucio', baseUrl: BASE, retry: fast });
    await expect(t.json({ method: 'POST', path: 'rules/', json: {} })).rejects.toBeInstanceOf(ServerError);
    expect(calls).toBe(1);
    calls = 0;
    await expect(t.json({ method: 'POST', path: 'rules/', json: {}, idempotent: true })).rejects.toBeInstanceOf(ServerError);
    expect(calls).toBe(4);
  });

  it('does not retry a POST after a network error', async () => {
    let calls = 0;
    server.use(http.post(`${BASE}p`, () => (calls++, HttpResponse.error())));
    const t = new Transport({ service: 'rucio', baseUrl: BASE, retry: fast });
    await expect(t.json({ method: 'POST', path: 'p', json: {} })).rejects.toBeInstanceOf(ConnectionError);
    expect(calls).toBe(1);
  });

  it('retries a GET after network errors, then reports ConnectionError', async () => {
    let calls = 0;
    server.use(http.get(`${BASE}net`, () => (calls++, HttpResponse.error())));
    const t = new Transport({ service: 'rucio', baseUrl: BASE, retry: { limit: 2, baseDelay: 1 } });
    const err = await t.json({ method: 'GET', path: 'net' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe(ErrorCode.connection);
    expect(calls).toBe(3);
  });

  it('times out a stalled attempt with TimeoutError (the server never answers: only the attempt timeout can end the call)', async () => {
    // The handler never answers while the test runs, and the transport's own default timeout is off,
    // so the call can settle only through the per-call `timeout`: a slow machine cannot fake it.
    let release!: () => void;
    const never = new Promise<void>((r) => (release = r));
    let calls = 0;
    server.use(http.get(`${BASE}slow`, async () => (calls++, await never, HttpResponse.json({}))));
    try {
      const t = new Transport({ service: 'rucio', baseUrl: BASE, retry: { limit: 0 }, timeout: false });
      const err = await t.json({ method: 'GET', path: 'slow', timeout: 100 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TimeoutError);
      expect((err as TimeoutError).code).toBe(ErrorCode.timeout);
      expect((err as TimeoutError).timeoutMs).toBe(100);
      expect(calls).toBe(1); // a stalled attempt is not retried
    } finally {
      release();
    }
  });

  it('enforces a total timeout across retries (Retry-After 5 s against a 300 ms total: no second attempt)', async () => {
    let calls = 0;
    server.use(http.get(`${BASE}flaky`, () => (calls++, new HttpResponse('x', { status: 503, headers: { 'Retry-After': '5' } }))));
    const t = new Transport({ service: 'rucio', baseUrl: BASE, retry: { limit: 5 } });
    const err = await t.json({ method: 'GET', path: 'flaky', totalTimeout: 300 }).catch((e: unknown) => e);
    // Without the total timeout the transport would wait 5 s and try again (6 attempts, then the
    // 503 as a ServerError): a TimeoutError after exactly one attempt is the total timeout's doing.
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).not.toBeInstanceOf(ServerError);
    expect(calls).toBe(1);
  });

  it('aborts with AbortError, before sending and in flight', async () => {
    // The handler never answers while the test runs (and the default timeout is off): only the abort can end the call.
    let release!: () => void;
    const never = new Promise<void>((r) => (release = r));
    let arrived!: () => void;
    const inFlight = new Promise<void>((r) => (arrived = r));
    let calls = 0;
    server.use(http.get(`${BASE}hang`, async () => (calls++, arrived(), await never, HttpResponse.json({}))));
    try {
      const t = new Transport({ service: 'rucio', baseUrl: BASE, timeout: false });
      const pre = new AbortController();
      pre.abort();
      await expect(t.json({ method: 'GET', path: 'hang', signal: pre.signal })).rejects.toBeInstanceOf(AbortError);
      expect(calls).toBe(0); // nothing was sent
      const c = new AbortController();
      const pending = t.json({ method: 'GET', path: 'hang', signal: c.signal }).catch((e: unknown) => e);
      await inFlight; // the request reached the server
      c.abort();
      const err = await pending;
      expect(err).toBeInstanceOf(AbortError);
      expect((err as AbortError).code).toBe(ErrorCode.aborted);
      expect(calls).toBe(1); // not retried
    } finally {
      release();
    }
  });

  it('on 401 asks a refreshable provider for a fresh token exactly once and retries', async () => {
    const sent: string[] = [];
    server.use(
      http.post(`${BASE}rules/`, ({ request }) => {
        const tok = request.headers.get('X-Rucio-Auth-Token') ?? '';
        sent.push(tok);
        return tok === 'fresh-token' ? new HttpResponse('["id"]', { status: 201 }) : rucioError(401, 'CannotAuthenticate', 'Cannot authenticate with given credentials');
      }),
    );
    let refreshes = 0;
    const provider: TokenProvider = {
      canRefresh: true,
      getToken: async (o) => (o?.forceRefresh ? (refreshes++, 'fresh-token') : 'stale-token'),
    };
    const t = new Transport({ service: 'rucio', baseUrl: BASE, auth: { token: provider, header: 'X-Rucio-Auth-Token' } });
    expect(await t.json({ method: 'POST', path: 'rules/', json: {} })).toEqual(['id']);
    expect(sent).toEqual(['stale-token', 'fresh-token']);
    expect(refreshes).toBe(1);
  });

  it('does not loop when the refreshed token is rejected too, and does not refresh a static token', async () => {
    let calls = 0;
    server.use(http.get(`${BASE}who`, () => (calls++, rucioError(401, 'CannotAuthenticate', 'Cannot authenticate with given credentials'))));
    let refreshes = 0;
    const provider: TokenProvider = { canRefresh: true, getToken: async (o) => (o?.forceRefresh && refreshes++, 'token-never-good') };
    const t = new Transport({ service: 'rucio', baseUrl: BASE, auth: { token: provider, header: 'X-Rucio-Auth-Token' } });
    await expect(t.json({ method: 'GET', path: 'who' })).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(calls).toBe(2);
    expect(refreshes).toBe(1);
    calls = 0;
    const s = new Transport({ service: 'rucio', baseUrl: BASE, auth: { token: 'static-token-1', header: 'X-Rucio-Auth-Token' } });
    await expect(s.json({ method: 'GET', path: 'who' })).rejects.toBeInstanceOf(UnauthenticatedError);
    expect(calls).toBe(1);
  });

  it('maps Rucio error documents by ExceptionClass first, status second', async () => {
    server.use(
      http.get(`${BASE}e1`, () => rucioError(404, 'DataIdentifierNotFound', "Data identifier 'test:nothere' not found")),
      http.post(`${BASE}e2`, () => rucioError(400, 'DataIdentifierNotFound', 'missing')),
      http.post(`${BASE}e3`, () => rucioError(409, 'DuplicateRule', 'A duplicate rule for this account, did, rse_expression, copies already exists.')),
      http.get(`${BASE}e4`, () => rucioError(406, 'UnsupportedRequestedContentType', 'x')),
      http.get(`${BASE}e5`, () => new HttpResponse('Internal Server Error', { status: 500, headers: { 'Content-Type': 'text/plain' } })),
    );
    const t = new Transport({ service: 'rucio', baseUrl: BASE, retry: { limit: 0 } });
    const e1 = (await t.json({ method: 'GET', path: 'e1' }).catch((e: unknown) => e)) as NotFoundError;
    expect(e1).toBeInstanceOf(NotFoundError);
    expect(e1.exceptionMessage).toBe("Data identifier 'test:nothere' not found");
    expect(e1.status).toBe(404);
    expect(e1.message).toContain('DataIdentifierNotFound');
    await expect(t.json({ method: 'POST', path: 'e2', json: {} })).rejects.toBeInstanceOf(NotFoundError);
    await expect(t.json({ method: 'POST', path: 'e3', json: {} })).rejects.toBeInstanceOf(DuplicateError);
    await expect(t.json({ method: 'GET', path: 'e4' })).rejects.toBeInstanceOf(UnsupportedContentTypeError);
    const e5 = (await t.json({ method: 'GET', path: 'e5' }).catch((e: unknown) => e)) as ServerError;
    expect(e5).toBeInstanceOf(ServerError);
    expect(e5.exceptionClass).toBeUndefined();
    expect(e5.bodyExcerpt).toBe('Internal Server Error');
  });

  it('validates JSON responses and names the endpoint and field', async () => {
    server.use(http.get(`${BASE}ping`, () => HttpResponse.json({ version: 41 })), http.get(`${BASE}bad`, () => new HttpResponse('{nope', { status: 200 })));
    const t = new Transport({ service: 'rucio', baseUrl: BASE });
    const err = (await t.json({ method: 'GET', path: 'ping' }, z.looseObject({ version: z.string() })).catch((e: unknown) => e)) as ResponseValidationError;
    expect(err).toBeInstanceOf(ResponseValidationError);
    expect(err.endpoint).toBe('GET /ping');
    expect(err.path).toBe('version');
    expect(err.excerpt).toBe('41');
    await expect(t.json({ method: 'GET', path: 'bad' })).rejects.toBeInstanceOf(ResponseValidationError);
  });

  it('keeps unknown extra fields of validated objects', async () => {
    server.use(http.get(`${BASE}ping`, () => HttpResponse.json({ version: '41.0.0', extra: [1] })));
    const t = new Transport({ service: 'rucio', baseUrl: BASE });
    expect(await t.json({ method: 'GET', path: 'ping' }, z.looseObject({ version: z.string() }))).toEqual({ version: '41.0.0', extra: [1] });
  });

  it('streams NDJSON lazily and cancels the request on break', async () => {
    let pulled = 0;
    let cancelled = false;
    let onCancel!: () => void;
    const cancelledAt = new Promise<void>((r) => (onCancel = r));
    server.use(
      http.get(`${BASE}stream`, () => {
        const enc = new TextEncoder();
        const body = new ReadableStream<Uint8Array>({
          pull(c) {
            pulled++;
            c.enqueue(enc.encode(`{"i": ${pulled}}\n`));
          },
          cancel() {
            cancelled = true;
            onCancel();
          },
        });
        return new HttpResponse(body, { headers: { 'Content-Type': 'application/x-json-stream' } });
      }),
    );
    const t = new Transport({ service: 'rucio', baseUrl: BASE });
    const got: unknown[] = [];
    for await (const item of t.ndjson({ method: 'GET', path: 'stream' }, z.looseObject({ i: z.number() }))) {
      got.push(item);
      if (got.length === 5) break;
    }
    expect(got).toEqual([1, 2, 3, 4, 5].map((i) => ({ i })));
    // The server's body is cancelled (awaited as an event: a body that is never cancelled times the test out).
    await cancelledAt;
    expect(cancelled).toBe(true);
    const pulledAtCancel = pulled;
    // Nothing is pulled after the cancel (a check that something does not happen: a busy machine cannot break it).
    await new Promise((r) => setTimeout(r, 100));
    expect(pulled).toBe(pulledAtCancel);
  });

  it('rejects bad configuration with typed errors', () => {
    expect(() => new Transport({ service: 'rucio', baseUrl: 'not a url' })).toThrow(/not an absolute URL/);
    expect(() => new Transport({ service: 'rucio', baseUrl: 'ftp://x' })).toThrow(/http/);
    expect(() => new Transport({ service: 'rucio', baseUrl: 'https://u:pw@x' })).toThrow(/credentials/);
  });

  it('uses a custom fetch when given', async () => {
    const urls: string[] = [];
    const t = new Transport({
      service: 'rucio',
      baseUrl: 'http://custom.invalid/',
      fetch: async (input) => {
        urls.push(input instanceof Request ? input.url : String(input));
        return new Response('{"version":"1"}', { headers: { 'Content-Type': 'application/json' } });
      },
    });
    expect(await t.json({ method: 'GET', path: 'ping' })).toEqual({ version: '1' });
    expect(urls).toEqual(['http://custom.invalid/ping']);
  });
});

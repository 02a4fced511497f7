/**
 * The three ways to reach the emulator: a real HTTP server on 127.0.0.1, msw (`setupServer`), and
 * the injected `fetch`. Each must carry the same bytes, headers and streaming behaviour.
 */
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { recordedWorld, WIRE } from './helpers.js';

async function seed(base: string, fetcher: typeof fetch, token: string): Promise<void> {
  const post = (path: string, body: unknown) => fetcher(`${base}${path}`, { method: 'POST', headers: { 'X-Rucio-Auth-Token': token }, body: JSON.stringify(body) });
  expect((await post('/dids/test/ds', { type: 'DATASET' })).status).toBe(201);
  expect((await post('/replicas', { rse: 'SITE_A', files: [{ scope: 'test', name: 'file1', bytes: 1500, adler32: '8dc1fca8' }] })).status).toBe(201);
  expect((await post('/dids/test/ds/dids', { dids: [{ scope: 'test', name: 'file1' }] })).status).toBe(201);
}

/** What every mode must answer identically. */
async function exercise(base: string, fetcher: typeof fetch, token: string): Promise<void> {
  const ping = await fetcher(`${base}/ping`);
  expect(ping.status).toBe(200);
  expect(await ping.text()).toBe((WIRE.get(1) as { response: { body: string } }).response.body);

  const noToken = await fetcher(`${base}/rses/`);
  expect(noToken.status).toBe(400);
  expect(noToken.headers.get('ExceptionClass')).toBe('ValueError');
  expect(noToken.headers.get('content-type')).toBe('application/octet-stream');
  expect(await noToken.text()).toBe('{"ExceptionClass": "ValueError", "ExceptionMessage": "Token must be set."}');

  await seed(base, fetcher, token);
  const list = await fetcher(`${base}/replicas/list`, { method: 'POST', headers: { 'X-Rucio-Auth-Token': token }, body: JSON.stringify({ dids: [{ scope: 'test', name: 'ds' }] }) });
  expect(list.headers.get('content-type')).toBe('application/x-json-stream');
  expect(list.headers.get('content-length')).toBeNull();
  expect(await list.text()).toBe(
    '{"scope": "test", "name": "file1", "bytes": 1500, "md5": null, "adler32": "8dc1fca8", "pfns": {"file://localhost/rucio/SITE_A/test/80/25/file1": {"rse_id": "018169b14a2d4f2fbe09c9b0f5bcb263", "rse": "SITE_A", "type": "DISK", "volatile": false, "domain": "wan", "priority": 1, "client_extract": false}}, "rses": {"SITE_A": ["file://localhost/rucio/SITE_A/test/80/25/file1"]}, "states": {"SITE_A": "AVAILABLE"}}\n',
  );

  const login = await fetcher(`${base}/auth/userpass`, { headers: { 'X-Rucio-Account': 'alice', 'X-Rucio-Username': 'alice', 'X-Rucio-Password': 'alicepw' } });
  expect(login.status).toBe(200);
  expect(login.headers.get('X-Rucio-Auth-Token')).toMatch(/^alice-alice-unknown-[0-9a-f]{32}$/);
  expect(login.headers.get('X-Rucio-Auth-Token-Expires')).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} UTC$/);
}

describe('HTTP server on 127.0.0.1 (real fetch)', () => {
  it('serves the emulator over a socket, streams NDJSON, and closes', async () => {
    const rucio = recordedWorld();
    const url = await rucio.listen();
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(rucio.url).toBe(url);
      expect(await rucio.listen()).toBe(url);
      await exercise(url, fetch, rucio.issueToken('root'));
      // A percent-encoded slash in a DID name survives the socket.
      const token = rucio.issueToken('root');
      const r = await fetch(`${url}/dids/test/${encodeURIComponent('dir/ds2')}`, { method: 'POST', headers: { 'X-Rucio-Auth-Token': token }, body: '{"type": "DATASET"}' });
      expect(r.status).toBe(201);
      const got = await fetch(`${url}/dids/test/dir%2Fds2`, { headers: { 'X-Rucio-Auth-Token': token } });
      expect(((await got.json()) as { name: string }).name).toBe('dir/ds2');
    } finally {
      await rucio.close();
    }
    expect(rucio.url).toBeUndefined();
    await expect(fetch(url)).rejects.toThrow();
  });

  it('answers CORS preflights and echoes allowed origins only', async () => {
    const rucio = recordedWorld({ corsOrigins: ['https://app.example.org'] });
    const url = await rucio.listen();
    try {
      const ok = await fetch(`${url}/rses/`, { method: 'OPTIONS', headers: { Origin: 'https://app.example.org', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'x-rucio-auth-token' } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.org');
      expect(ok.headers.get('access-control-allow-headers')).toBe('x-rucio-auth-token');
      expect(ok.headers.get('access-control-allow-methods')).toBe('GET, POST, PUT, DELETE, OPTIONS');
      const denied = await fetch(`${url}/rses/`, { method: 'OPTIONS', headers: { Origin: 'https://evil.example.org' } });
      expect(denied.status).toBe(403);
      const token = rucio.issueToken('root');
      const get = await fetch(`${url}/rses/`, { headers: { Origin: 'https://app.example.org', 'X-Rucio-Auth-Token': token } });
      expect(get.headers.get('access-control-allow-origin')).toBe('https://app.example.org');
      const foreign = await fetch(`${url}/rses/`, { headers: { Origin: 'https://evil.example.org', 'X-Rucio-Auth-Token': token } });
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
      const login = await fetch(`${url}/auth/userpass`, { headers: { Origin: 'https://app.example.org', 'X-Rucio-Username': 'ddmlab', 'X-Rucio-Password': 'secret', 'X-Rucio-Account': 'root' } });
      expect(login.headers.get('access-control-expose-headers')).toBe('X-Rucio-Auth-Token, X-Rucio-Auth-Token-Expires, X-Rucio-Auth-Account, X-Rucio-Auth-Accounts');
    } finally {
      await rucio.close();
    }
  });

  it('default CORS allows any origin; preflights list X-Rucio-Auth-Token when no headers are requested', async () => {
    const rucio = recordedWorld();
    const res = await rucio.handle(new Request(`${rucio.baseUrl}/dids/test/x`, { method: 'OPTIONS', headers: { Origin: 'https://anything.example' } }));
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-headers')).toContain('X-Rucio-Auth-Token');
  });
});

describe('msw (setupServer, onUnhandledFrame: error)', () => {
  const rucio = recordedWorld();
  const server = setupServer(...rucio.handlers());
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());

  it('intercepts global fetch to the emulator base URL', async () => {
    expect(rucio.baseUrl).toBe('https://rucio.emulator.test');
    await exercise(rucio.baseUrl, fetch, rucio.issueToken('root'));
    expect(rucio.requests.some((r) => r.path === '/replicas/list' && r.status === 200)).toBe(true);
  });

  it('leaves other hosts unhandled (msw errors)', async () => {
    await expect(fetch('http://elsewhere.test/ping')).rejects.toThrow();
  });
});

describe('injected fetch', () => {
  it('routes relative and absolute URLs, any host, to the handler', async () => {
    const rucio = recordedWorld();
    await exercise(rucio.baseUrl, rucio.fetch, rucio.issueToken('root'));
    const rel = await rucio.fetch('/ping');
    expect(rel.status).toBe(200);
    rucio.resetLog();
    await rucio.fetch('https://other.example/scopes/', { headers: { 'X-Rucio-Auth-Token': rucio.issueToken('root') } });
    expect(rucio.requests).toEqual([{ method: 'GET', path: '/scopes/', query: '', status: 200 }]);
  });
});

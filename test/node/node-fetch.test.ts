/**
 * nodeFetch(): fetch on node:http, as the CLI's Rucio client uses it, against real loopback servers.
 * Responses as fetch gives them (status, headers, url, streamed and decoded bodies, null bodies),
 * request bodies (whole with a length, long streams chunked), redirects per the Fetch rules,
 * aborts before and after the headers (the server sees the connection go), fetch's network errors,
 * keep-alive, and the Transport on top of it. Ordered by events; nothing depends on speed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, ConnectionError, RucioClient } from '../../src/index.js';
import { nodeFetch } from '../../src/node/node-fetch.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
const routes = new Map<string, Handler>();
let connections = 0;
const closed: Array<() => void> = [];

function signalled<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function listen(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    // Routes that must answer before the body is read take it themselves.
    const route = routes.get((req.url ?? '/').split('?')[0] ?? '/');
    if (!route) return void res.writeHead(404).end();
    if (req.headers['x-no-read']) return route(req, res, Buffer.alloc(0));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => route(req, res, Buffer.concat(chunks)));
  });
  server.on('connection', (socket) => {
    connections++;
    socket.on('close', () => closed.splice(0).forEach((f) => f()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

let a: { server: Server; url: string };
const fetchImpl = nodeFetch();
beforeAll(async () => {
  a = await listen();
});
afterEach(() => routes.clear());
afterAll(async () => {
  fetchImpl.close();
  a.server.closeAllConnections();
  await new Promise((r) => a.server.close(r));
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('nodeFetch', () => {
  it('answers a GET as fetch does: status, status text, repeated headers, url, streamed body; keep-alive reuses the connection', async () => {
    routes.set('/json', (req, res) => {
      res.setHeader('X-Multi', ['a', 'b']);
      res.writeHead(200, 'Fine', { 'Content-Type': 'application/json' }).end(JSON.stringify({ seen: req.headers }));
    });
    const before = connections;
    const res = await fetchImpl(`${a.url}/json?x=1`, { headers: { 'X-Rucio-Auth-Token': 't' } });
    expect(res).toBeInstanceOf(Response);
    expect([res.status, res.statusText, res.ok, res.redirected, res.url]).toEqual([200, 'Fine', true, false, `${a.url}/json?x=1`]);
    expect(res.headers.get('x-multi')).toBe('a, b');
    const { seen } = (await res.json()) as { seen: Record<string, string> };
    expect(seen['x-rucio-auth-token']).toBe('t');
    expect(seen['accept-encoding']).toBe('gzip, deflate');
    const again = await fetchImpl(`${a.url}/json`);
    await again.text();
    expect(connections - before).toBe(1);
  });

  it('sends a small body whole with its Content-Length, and a long stream chunked, byte for byte', async () => {
    routes.set('/echo', (req, res, body) => res.writeHead(200).end(JSON.stringify({ length: req.headers['content-length'] ?? null, chunked: req.headers['transfer-encoding'] === 'chunked', type: req.headers['content-type'], sha: sha(body) })));
    const json = JSON.stringify({ dids: [{ scope: 'user.jdoe', name: 'f' }] });
    const small = await (await fetchImpl(`${a.url}/echo`, { method: 'POST', body: json, headers: { 'Content-Type': 'application/json' } })).json();
    expect(small).toEqual({ length: String(Buffer.byteLength(json)), chunked: false, type: 'application/json', sha: sha(Buffer.from(json)) });
    const big = randomBytes(3 * 1024 * 1024 + 17);
    let offset = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (offset >= big.length) return c.close();
        c.enqueue(big.subarray(offset, offset + 100_000));
        offset += 100_000;
      },
    });
    const init = { method: 'PUT', body: stream, duplex: 'half' } as RequestInit;
    expect(await (await fetchImpl(`${a.url}/echo`, init)).json()).toEqual({ length: null, chunked: true, sha: sha(big) });
    const empty = await (await fetchImpl(`${a.url}/echo`, { method: 'POST' })).json();
    expect(empty.length).toBe('0');
  });

  it('follows redirects as fetch does: 303 turns a POST into a GET without body, 307 keeps both, Authorization stays on the origin; manual and error modes', async () => {
    const b = await listen();
    try {
      routes.set('/see-other', (_q, res) => res.writeHead(303, { Location: '/landing' }).end('moved'));
      routes.set('/temporary', (_q, res) => res.writeHead(307, { Location: '/landing' }).end());
      routes.set('/away', (_q, res) => res.writeHead(302, { Location: `${b.url}/landing` }).end());
      routes.set('/loop', (_q, res) => res.writeHead(302, { Location: '/loop' }).end());
      routes.set('/landing', (req, res, body) => res.writeHead(200).end(JSON.stringify({ method: req.method, body: body.toString(), type: req.headers['content-type'] ?? null, auth: req.headers.authorization ?? null, other: req.headers['x-other'] ?? null })));
      const post = { method: 'POST', body: 'payload', headers: { 'Content-Type': 'text/plain', Authorization: 'Bearer secret', 'X-Other': 'kept' } };
      const seeOther = await fetchImpl(`${a.url}/see-other`, post);
      expect([seeOther.redirected, seeOther.url]).toEqual([true, `${a.url}/landing`]);
      expect(await seeOther.json()).toEqual({ method: 'GET', body: '', type: null, auth: 'Bearer secret', other: 'kept' });
      expect(await (await fetchImpl(`${a.url}/temporary`, post)).json()).toEqual({ method: 'POST', body: 'payload', type: 'text/plain', auth: 'Bearer secret', other: 'kept' });
      // Another origin (another port): Authorization is dropped, as fetch does.
      expect(await (await fetchImpl(`${a.url}/away`, { headers: post.headers })).json()).toMatchObject({ method: 'GET', auth: null, other: 'kept' });
      const manual = await fetchImpl(`${a.url}/see-other`, { ...post, redirect: 'manual' });
      expect([manual.status, manual.headers.get('location'), manual.redirected, await manual.text()]).toEqual([303, '/landing', false, 'moved']);
      await expect(fetchImpl(`${a.url}/see-other`, { redirect: 'error' })).rejects.toThrow(TypeError);
      const loop = await fetchImpl(`${a.url}/loop`).catch((e: unknown) => e);
      expect(loop).toBeInstanceOf(TypeError);
      expect(String((loop as TypeError).cause)).toMatch(/too many redirects/);
    } finally {
      b.server.closeAllConnections();
      await new Promise((r) => b.server.close(r));
    }
  });

  it('decodes gzip and deflate bodies, and gives HEAD, 204 and 304 a null body', async () => {
    const text = 'x'.repeat(100_000);
    routes.set('/gz', (_q, res) => res.writeHead(200, { 'Content-Encoding': 'gzip' }).end(gzipSync(text)));
    routes.set('/none', (_q, res) => res.writeHead(204).end());
    routes.set('/head', (_q, res) => res.writeHead(200, { 'Content-Length': '5' }).end());
    expect(await (await fetchImpl(`${a.url}/gz`)).text()).toBe(text);
    expect((await fetchImpl(`${a.url}/none`)).body).toBeNull();
    const head = await fetchImpl(`${a.url}/head`, { method: 'HEAD' });
    expect([head.status, head.body, head.headers.get('content-length')]).toEqual([200, null, '5']);
  });

  it('rejects with the signal’s reason when aborted before the headers and while the body streams; the server sees the connection close', async () => {
    const arrived = signalled();
    routes.set('/stall', () => arrived.resolve()); // never answers
    const ctl = new AbortController();
    const gone = signalled();
    const pending = fetchImpl(`${a.url}/stall`, { signal: ctl.signal });
    await arrived.promise;
    closed.push(gone.resolve);
    ctl.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    await gone.promise;

    const wrote = signalled();
    routes.set('/drip', (_q, res) => {
      res.writeHead(200);
      res.write('first', () => wrote.resolve());
    });
    const ctl2 = new AbortController();
    const res = await fetchImpl(`${a.url}/drip`, { signal: ctl2.signal });
    const reader = res.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('first');
    await wrote.promise;
    const gone2 = signalled();
    closed.push(gone2.resolve);
    const next = reader.read();
    ctl2.abort(new Error('enough'));
    await expect(next).rejects.toThrow('enough');
    await gone2.promise;
  });

  it('reports network failures as fetch does: TypeError "fetch failed" with the system error as cause; a body cut short is an error, not an end', async () => {
    const { server, url } = await listen();
    await new Promise((r) => server.close(r));
    const refused = await fetchImpl(`${url}/x`).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TypeError);
    expect((refused as TypeError).message).toBe('fetch failed');
    expect(((refused as TypeError).cause as { code?: string }).code).toBe('ECONNREFUSED');
    const bad = await fetchImpl('http://127.0.0.1:6000/').catch((e: unknown) => e);
    expect([bad instanceof TypeError, String((bad as TypeError).cause)]).toEqual([true, 'Error: bad port']);
    routes.set('/short', (_q, res) => {
      res.writeHead(200, { 'Content-Length': '1000' });
      res.write('only this', () => res.socket?.destroy());
    });
    const res = await fetchImpl(`${a.url}/short`);
    await expect(res.text()).rejects.toThrow(TypeError);
  });

  it('sends a GET again when a kept-alive connection turns out closed, but never a POST (whether it arrived is unknown)', async () => {
    const seen: string[] = [];
    let n = 0;
    // Each request after the first on a connection is dropped unanswered, as by a server that had closed it.
    const drop: Handler = (req, res) => {
      seen.push(req.method ?? '');
      if (n++ % 2 === 1) req.socket.destroy();
      else res.writeHead(200).end('ok');
    };
    routes.set('/flaky', drop);
    const f = nodeFetch();
    try {
      expect(await (await f(`${a.url}/flaky`)).text()).toBe('ok');
      // The second GET goes out on the kept-alive connection, is dropped, and is sent once more on a new one.
      expect(await (await f(`${a.url}/flaky`)).text()).toBe('ok');
      expect(seen).toEqual(['GET', 'GET', 'GET']);
      seen.length = 0;
      n = 0;
      expect(await (await f(`${a.url}/flaky`, { method: 'POST', body: 'x' })).text()).toBe('ok');
      const again = await f(`${a.url}/flaky`, { method: 'POST', body: 'x' }).catch((e: unknown) => e);
      expect(again).toBeInstanceOf(TypeError);
      expect(seen).toEqual(['POST', 'POST']);
    } finally {
      f.close();
    }
  });

  it('carries the Transport: a Rucio whoami redirect followed by the SDK with the token kept on its origin, typed errors, aborts', async () => {
    routes.set('/accounts/whoami', (req, res) => res.writeHead(303, { Location: '/accounts/root' }).end(String(req.headers['x-rucio-auth-token'])));
    routes.set('/accounts/root', (req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ account: 'root', account_type: 'SERVICE', status: 'ACTIVE', email: null, token: req.headers['x-rucio-auth-token'] })));
    const rucio = new RucioClient({ baseUrl: a.url, token: 'tok', fetch: fetchImpl, retry: { limit: 0 } });
    expect(await rucio.accounts.whoami()).toMatchObject({ account: 'root', token: 'tok' });
    const { url } = await listen().then(async (s) => (await new Promise((r) => s.server.close(r)), s));
    await expect(new RucioClient({ baseUrl: url, token: 'tok', fetch: fetchImpl, retry: { limit: 0 } }).ping()).rejects.toBeInstanceOf(ConnectionError);
    const arrived = signalled();
    routes.set('/ping', () => arrived.resolve());
    const ctl = new AbortController();
    const ping = rucio.ping({ signal: ctl.signal });
    await arrived.promise;
    ctl.abort();
    await expect(ping).rejects.toBeInstanceOf(AbortError);
  });
});

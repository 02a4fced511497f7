/**
 * The storage emulator's own features, beyond what the conformance suite compares with XRootD: msw
 * handlers, the in-memory store API, fault hooks, digests, authorization options and CORS.
 */
import { adler32, md5 } from 'hash-wasm';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  FULL_STORAGE_SCOPE,
  createStorageEmulator,
  createWlcgTokenIssuer,
  type StorageEmulator,
} from '../../../src/testing/storage/index.js';

const hex2b64 = (hex: string) => Buffer.from(hex, 'hex').toString('base64');
const adler = async (d: Uint8Array | string) => (await adler32(d)).padStart(8, '0');

describe('msw handlers', () => {
  const emu = createStorageEmulator({ baseUrl: 'https://se.msw.test/' });
  const server = setupServer(...emu.handlers());
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
  afterAll(() => server.close());

  it('serves the whole origin, WebDAV methods included, through the global fetch', async () => {
    expect(emu.url).toBe('https://se.msw.test/');
    const auth = await emu.authHeader();
    expect((await fetch('https://se.msw.test/dir/f.txt', { method: 'PUT', headers: auth, body: 'via msw' })).status).toBe(201);
    expect(await (await fetch('https://se.msw.test/dir/f.txt', { headers: auth })).text()).toBe('via msw');
    const mv = await fetch('https://se.msw.test/dir/f.txt', { method: 'MOVE', headers: { ...auth, destination: 'https://se.msw.test/dir/g.txt' } });
    expect(mv.status).toBe(201);
    const pf = await fetch('https://se.msw.test/', { method: 'PROPFIND', headers: { ...auth, depth: '1' } });
    expect(pf.status).toBe(207);
    expect(await pf.text()).toContain('<D:href>/dir</D:href>');
    const head = await fetch('https://se.msw.test/dir/g.txt', { method: 'HEAD', headers: { ...auth, 'want-digest': 'adler32' } });
    expect(head.headers.get('digest')).toBe(`adler32=${await adler('via msw')}`);
    expect(head.headers.get('content-length')).toBe('7');
    expect(emu.list()).toEqual(['/dir/g.txt']);
  });
});

describe('store API', () => {
  it('put/get/delete/mkdir/list/clear, visible over HTTP', async () => {
    const emu = createStorageEmulator();
    emu.put('/a/b/c.txt', 'c');
    emu.put('a/d.bin', new Uint8Array([1, 2, 3]));
    emu.mkdir('/empty/dir');
    expect(emu.list()).toEqual(['/a/b/c.txt', '/a/d.bin']);
    expect(emu.list('/a/b')).toEqual(['/a/b/c.txt']);
    expect(emu.list('/a/d.bin')).toEqual(['/a/d.bin']);
    expect(emu.list('/nope')).toEqual([]);
    expect(emu.get('/a/d.bin')).toEqual(new Uint8Array([1, 2, 3]));
    expect(emu.get('/a')).toBeUndefined();
    const auth = await emu.authHeader({ scope: 'storage.read:/' });
    expect((await emu.fetch(`${emu.url}empty/dir`, { method: 'HEAD', headers: auth })).status).toBe(200);
    expect(emu.delete('/a/b/c.txt')).toBe(true);
    expect(emu.delete('/a/b/c.txt')).toBe(false);
    expect(() => emu.delete('/a')).toThrow(/not empty/);
    emu.clear();
    expect(emu.list()).toEqual([]);
    expect((await emu.fetch(`${emu.url}a/d.bin`, { headers: auth })).status).toBe(404);
  });
});

describe('fault hooks', () => {
  let emu: StorageEmulator;
  let auth: { authorization: string };
  beforeAll(async () => {
    emu = createStorageEmulator();
    await emu.listen();
    auth = await emu.authHeader();
  });
  afterAll(() => emu.close());
  afterEach(() => emu.clear());

  it('corrupt() flips a byte but keeps reporting the old checksum (as a cached XRootD checksum would)', async () => {
    const data = new TextEncoder().encode('the original content');
    emu.put('/f.txt', data);
    const before = await fetch(`${emu.url}f.txt`, { method: 'HEAD', headers: { ...auth, 'want-digest': 'adler32' } });
    emu.corrupt('/f.txt');
    const body = new Uint8Array(await (await fetch(`${emu.url}f.txt`, { headers: auth })).arrayBuffer());
    expect(body.byteLength).toBe(data.byteLength);
    expect(Buffer.from(body).equals(Buffer.from(data))).toBe(false);
    const after = await fetch(`${emu.url}f.txt`, { method: 'HEAD', headers: { ...auth, 'want-digest': 'adler32' } });
    expect(after.headers.get('digest')).toBe(before.headers.get('digest'));
    expect(after.headers.get('digest')).toBe(`adler32=${await adler(data)}`);
    expect(after.headers.get('digest')).not.toBe(`adler32=${await adler(body)}`);
  });

  it('corrupt() with digest: "actual" reports the checksum of the corrupted bytes; offset is honoured', async () => {
    emu.put('/g.txt', 'abcdef');
    emu.corrupt('/g.txt', { offset: 0, digest: 'actual' });
    const got = emu.get('/g.txt') as Uint8Array;
    expect(got[0]).toBe('a'.charCodeAt(0) ^ 0xff);
    const head = await fetch(`${emu.url}g.txt`, { method: 'HEAD', headers: { ...auth, 'want-digest': 'adler32' } });
    expect(head.headers.get('digest')).toBe(`adler32=${await adler(got)}`);
    expect(() => emu.corrupt('/nope')).toThrow(/no non-empty file/);
  });

  it('interruptNextGet() breaks the connection after N bytes, once (over HTTP and in-process)', async () => {
    const data = new Uint8Array(200_000).map((_, i) => i % 251);
    emu.put('/big.bin', data);
    emu.interruptNextGet('/big.bin', 70_000);
    const res = await fetch(`${emu.url}big.bin`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('200000');
    let received = 0;
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          received += value.byteLength;
        }
      })(),
    ).rejects.toThrow();
    expect(received).toBe(70_000);
    // Resume with Range: works, and the fault is gone.
    const rest = await fetch(`${emu.url}big.bin`, { headers: { ...auth, range: `bytes=${received}-` } });
    expect(rest.status).toBe(206);
    expect(Buffer.from(await rest.arrayBuffer()).equals(Buffer.from(data.subarray(received)))).toBe(true);

    emu.interruptNextGet('/big.bin', 10);
    const local = await emu.fetch(`${emu.url}big.bin`, { headers: auth });
    await expect(local.arrayBuffer()).rejects.toThrow(/interruptNextGet/);
    expect((await emu.fetch(`${emu.url}big.bin`, { headers: auth })).status).toBe(200);
  });

  it('failNext() answers matching requests with a canned response, `times` times', async () => {
    emu.put('/f.txt', 'x');
    emu.failNext({ method: 'GET', path: '/f.txt', status: 503, body: 'busy', headers: { 'retry-after': '1' }, times: 2 });
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${emu.url}f.txt`, { headers: auth });
      expect([r.status, r.headers.get('retry-after'), await r.text()]).toEqual([503, '1', 'busy']);
    }
    expect((await fetch(`${emu.url}f.txt`, { method: 'HEAD', headers: auth })).status).toBe(200);
    expect((await fetch(`${emu.url}f.txt`, { headers: auth })).status).toBe(200);
  });

  it('records requests with the token elided', async () => {
    const n = emu.requests.length;
    await fetch(`${emu.url}nope.txt`, { method: 'HEAD', headers: { ...auth, 'want-digest': 'adler32' } });
    const rec = emu.requests[n];
    expect(rec).toMatchObject({ method: 'HEAD', path: '/nope.txt', status: 404 });
    expect(rec?.headers['want-digest']).toBe('adler32');
    expect(rec?.headers.authorization).toMatch(/^Bearer .{5}…$/);
  });
});

describe('digests', () => {
  it('with digests [adler32, md5]: md5 is given as base64 (RFC 3230), preference follows q-values', async () => {
    const emu = createStorageEmulator({ digests: ['adler32', 'md5'] });
    emu.put('/f.txt', 'hello world!');
    const auth = await emu.authHeader();
    const digest = async (want?: string) =>
      (await emu.fetch(`${emu.url}f.txt`, { method: 'HEAD', headers: { ...auth, ...(want ? { 'want-digest': want } : {}) } })).headers.get('digest');
    const md5b64 = hex2b64(await md5('hello world!'));
    expect(md5b64).toBe('/D/5joxqDTCH1RXARz+Gdw==');
    expect(await digest('md5')).toBe(`md5=${md5b64}`);
    expect(await digest('MD5')).toBe(`md5=${md5b64}`);
    expect(await digest('adler32')).toBe('adler32=1e89047e');
    expect(await digest('adler32;q=0.3, md5;q=0.9')).toBe(`md5=${md5b64}`);
    expect(await digest('md5;q=0, adler32')).toBe('adler32=1e89047e');
    expect(await digest('sha-256')).toBe('adler32=1e89047e'); // nothing known: the first configured, like XRootD
    expect(await digest()).toBeNull();
  });
});

describe('authorization options', () => {
  it("authorization: 'none' is anonymous read/write (XRootD without ofs.authorize)", async () => {
    const emu = createStorageEmulator({ authorization: 'none' });
    expect((await emu.fetch(`${emu.url}f.txt`, { method: 'PUT', body: 'anon' })).status).toBe(201);
    expect(await (await emu.fetch(`${emu.url}f.txt`)).text()).toBe('anon');
    expect((await emu.fetch(`${emu.url}f.txt`, { method: 'DELETE' })).status).toBe(200);
  });

  it('verifyToken hook decides the scopes', async () => {
    const emu = createStorageEmulator({ verifyToken: (t) => (t === 'a.b.c' ? { scopes: ['storage.read:/pub'] } : undefined) });
    emu.put('/pub/f.txt', 'public');
    emu.put('/priv/f.txt', 'private');
    const h = { authorization: 'Bearer a.b.c' };
    expect((await emu.fetch(`${emu.url}pub/f.txt`, { headers: h })).status).toBe(200);
    expect((await emu.fetch(`${emu.url}priv/f.txt`, { headers: h })).status).toBe(403);
    expect((await emu.fetch(`${emu.url}pub/f.txt`, { headers: { authorization: 'Bearer x.y.z' } })).status).toBe(403);
    await expect(emu.mintToken()).rejects.toThrow(/own issuer/);
  });

  it('accepts tokens of a given issuer and audience', async () => {
    const issuer = await createWlcgTokenIssuer({ issuer: 'https://iam.example', audience: 'https://se.example:1094' });
    const emu = createStorageEmulator({ issuer, audience: 'https://se.example:1094' });
    emu.put('/f.txt', 'x');
    expect((await emu.fetch(`${emu.url}f.txt`, { headers: { authorization: `Bearer ${await issuer.mintToken()}` } })).status).toBe(200);
    const wrongAud = await issuer.mintToken({ aud: emu.url.replace(/\/$/, '') });
    expect((await emu.fetch(`${emu.url}f.txt`, { headers: { authorization: `Bearer ${wrongAud}` } })).status).toBe(403);
    const other = await createWlcgTokenIssuer({ issuer: 'https://iam.example', audience: 'https://se.example:1094' });
    expect((await emu.fetch(`${emu.url}f.txt`, { headers: { authorization: `Bearer ${await other.mintToken()}` } })).status).toBe(403);
  });

  it('basePath makes scope paths relative to it', async () => {
    const emu = createStorageEmulator({ basePath: '/eos/escape' });
    emu.put('/eos/escape/data/f.txt', 'x');
    const h = await emu.authHeader({ scope: 'storage.read:/data' });
    expect((await emu.fetch(`${emu.url}eos/escape/data/f.txt`, { headers: h })).status).toBe(200);
    emu.put('/data/f.txt', 'y');
    expect((await emu.fetch(`${emu.url}data/f.txt`, { headers: h })).status).toBe(403);
  });

  it('checks token times against the emulator clock', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const emu = createStorageEmulator({ now: () => now });
    emu.put('/f.txt', 'x');
    const h = await emu.authHeader({ expiresIn: 60 });
    expect((await emu.fetch(`${emu.url}f.txt`, { headers: h })).status).toBe(200);
    now += 61_000;
    expect((await emu.fetch(`${emu.url}f.txt`, { headers: h })).status).toBe(403);
  });

  it('default audience is the origin without a slash, also the listening one', async () => {
    const emu = createStorageEmulator();
    expect(emu.audience).toEqual(['https://storage.dlaas.test']);
    const url = await emu.listen();
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(emu.audience).toEqual([url.replace(/\/$/, ''), 'https://storage.dlaas.test']);
      emu.put('/f.txt', 'x');
      const tok = await emu.mintToken();
      expect(JSON.parse(Buffer.from(tok.split('.')[1] as string, 'base64url').toString()).aud).toBe(url.replace(/\/$/, ''));
      expect((await fetch(`${url}f.txt`, { headers: { authorization: `Bearer ${tok}` } })).status).toBe(200);
      expect(await emu.listen()).toBe(url);
    } finally {
      await emu.close();
    }
    expect(emu.url).toBe('https://storage.dlaas.test/');
  });

  it('minted tokens carry the WLCG claims', async () => {
    const emu = createStorageEmulator();
    const claims = JSON.parse(Buffer.from((await emu.mintToken({ sub: 'alice' })).split('.')[1] as string, 'base64url').toString());
    expect(claims).toMatchObject({ 'wlcg.ver': '1.0', scope: FULL_STORAGE_SCOPE, sub: 'alice', iss: 'https://issuer.dlaas.test', aud: 'https://storage.dlaas.test' });
    expect(claims.exp - claims.iat).toBe(600);
    expect(typeof claims.jti).toBe('string');
  });
});

describe('CORS, listings and directory quirks', () => {
  it('answers preflights and exposes Digest/Content-Range/Content-Length to a browser origin', async () => {
    const emu = createStorageEmulator();
    emu.put('/f.txt', 'hello');
    const pre = await emu.fetch(`${emu.url}f.txt`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization,range,want-digest,destination' },
    });
    expect(pre.status).toBe(200);
    expect(pre.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    const allowHeaders = (pre.headers.get('access-control-allow-headers') ?? '').toLowerCase();
    for (const h of ['authorization', 'range', 'want-digest', 'destination']) expect(allowHeaders).toContain(h);
    expect(pre.headers.get('access-control-allow-methods')).toContain('MOVE');

    const res = await emu.fetch(`${emu.url}f.txt`, { headers: { ...(await emu.authHeader()), origin: 'http://localhost:5173', range: 'bytes=0-1', 'want-digest': 'adler32' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    const expose = (res.headers.get('access-control-expose-headers') ?? '').toLowerCase();
    for (const h of ['digest', 'content-range', 'content-length']) expect(expose).toContain(h);
    const denied = await emu.fetch(`${emu.url}f.txt`, { headers: { origin: 'http://localhost:5173' } });
    expect(denied.status).toBe(403);
    expect(denied.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
  });

  it('cors: a list allows only those origins; false sends none', async () => {
    const listed = createStorageEmulator({ cors: ['https://app.example'] });
    const h = (o: string) => ({ origin: o });
    expect((await listed.fetch(listed.url, { method: 'OPTIONS', headers: h('https://app.example') })).headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect((await listed.fetch(listed.url, { method: 'OPTIONS', headers: h('https://evil.example') })).headers.get('access-control-allow-origin')).toBeNull();
    const none = createStorageEmulator({ cors: false });
    expect((await none.fetch(none.url, { method: 'OPTIONS', headers: h('https://app.example') })).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('HEAD of a directory with Want-Digest → 409 (XRootD, when it answers; outside the conformance suite)', async () => {
    const emu = createStorageEmulator();
    emu.mkdir('/d');
    const r = await emu.fetch(`${emu.url}d`, { method: 'HEAD', headers: { ...(await emu.authHeader()), 'want-digest': 'adler32' } });
    expect([r.status, r.headers.get('content-length'), r.headers.get('digest')]).toEqual([409, '0', null]);
  });

  it('listing: false answers GET on a directory like XRootD with listings denied', async () => {
    const emu = createStorageEmulator({ listing: false });
    emu.put('/d/f.txt', 'x');
    const r = await emu.fetch(`${emu.url}d/`, { headers: await emu.authHeader() });
    expect([r.status, await r.text()]).toEqual([503, 'Listings are disabled.']);
  });
});

/**
 * nodeStorageHttp(): the bulk StorageHttp on node:http/node:https, against real loopback servers.
 * Whole and ranged GETs, bodies cut short (an error, never a silent end), aborts while the headers
 * are awaited and mid-body (the server sees the connection go), redirects returned as they are,
 * streamed PUTs of a file-backed Blob, parallel GETs, keep-alive, and TLS with a test CA trusted
 * through the default store. Everything is ordered by events; no assertion depends on speed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openAsBlob, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AbortError, InvalidArgumentError } from '../../src/core/errors.js';
import { nodeStorageHttp } from '../../src/node.js';
import type { BodyReader, StorageResponse } from '../../src/staging/http.js';

const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
/** A promise and its resolver: tests wait on what the server saw, never on the clock. */
function signalled<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Read a body to its end. */
async function readAll(body: BodyReader | null): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  if (body) for (let c = await body.read(); c; c = await body.read()) chunks.push(c);
  return Buffer.concat(chunks);
}

const OBJECT = randomBytes(32 * MiB);
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
/** Per-test routes; `/obj` (32 MiB, with Range) is always there. */
const routes = new Map<string, Handler>();
let connections = 0;

function serveObject(req: IncomingMessage, res: ServerResponse): void {
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  res.setHeader('X-Multi', ['a', 'b']);
  if (!m) {
    res.writeHead(200, { 'Content-Length': OBJECT.length }).end(OBJECT);
    return;
  }
  const start = Number(m[1]);
  const end = m[2] ? Math.min(Number(m[2]), OBJECT.length - 1) : OBJECT.length - 1;
  res.writeHead(206, { 'Content-Length': end - start + 1, 'Content-Range': `bytes ${start}-${end}/${OBJECT.length}` }).end(OBJECT.subarray(start, end + 1));
}

const handler: Handler = (req, res) => {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  const route = routes.get(path);
  if (route) route(req, res);
  else if (path === '/obj') serveObject(req, res);
  else res.writeHead(404).end();
};

async function listen(server: Server): Promise<string> {
  server.on('connection', () => connections++);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}
const close = (server: Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

let server: Server;
let base: string;
beforeAll(async () => {
  server = createHttpServer(handler);
  base = `http://${await listen(server)}`;
});
afterAll(() => close(server));
afterEach(() => {
  routes.clear();
  vi.restoreAllMocks();
});

const http = nodeStorageHttp();
afterAll(() => http.close());
const get = (url: string, headers: Record<string, string> = {}, signal = new AbortController().signal) => http.send({ method: 'GET', url, headers, signal });

describe('nodeStorageHttp(): GET', () => {
  it('reads a whole object and a Range (206), byte for byte, with headers as fetch has them', async () => {
    const whole = await get(`${base}/obj`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-length')).toBe(String(OBJECT.length));
    expect(whole.headers.get('x-multi')).toBe('a, b');
    expect((await readAll(whole.body)).equals(OBJECT)).toBe(true);
    expect(await whole.body?.read()).toBeUndefined(); // the end stays the end

    const part = await get(`${base}/obj`, { Range: 'bytes=1000-2000999' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 1000-2000999/${OBJECT.length}`);
    expect((await readAll(part.body)).equals(OBJECT.subarray(1000, 2001000))).toBe(true);
  });

  it('reads 8 GETs of the same 32 MiB object in parallel, all correct', async () => {
    const bodies = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const res = await get(`${base}/obj`, i % 2 ? { Range: `bytes=${i * MiB}-` } : {});
        return { i, bytes: await readAll(res.body) };
      }),
    );
    for (const { i, bytes } of bodies) expect(sha256(bytes)).toBe(sha256(i % 2 ? OBJECT.subarray(i * MiB) : OBJECT));
  });

  it('a slow reader gets every byte: the response pauses while its queue is full and resumes', async () => {
    const pause = vi.spyOn(IncomingMessage.prototype, 'pause');
    const h = nodeStorageHttp({ highWaterMark: 16 * 1024 });
    try {
      const res = await h.send({ method: 'GET', url: `${base}/obj`, headers: {}, signal: new AbortController().signal });
      const chunks: Uint8Array[] = [];
      for (let c = await res.body?.read(); c; c = await res.body?.read()) {
        chunks.push(c);
        await new Promise((r) => setImmediate(r)); // let the socket deliver while nobody reads
      }
      expect(Buffer.concat(chunks).equals(OBJECT)).toBe(true);
      expect(pause).toHaveBeenCalled();
    } finally {
      h.close();
    }
  });

  it('keeps the connection alive between requests', async () => {
    const h = nodeStorageHttp({ maxSockets: 1 });
    try {
      const before = connections;
      for (let i = 0; i < 3; i++) await readAll((await h.send({ method: 'GET', url: `${base}/obj`, headers: { Range: 'bytes=0-9' }, signal: new AbortController().signal })).body);
      expect(connections - before).toBe(1);
    } finally {
      h.close();
    }
  });

  it('rejects read() when the server cuts the body short of its Content-Length', async () => {
    routes.set('/short', (_req, res) => {
      res.writeHead(200, { 'Content-Length': 4 * MiB });
      res.write(OBJECT.subarray(0, 256 * 1024), () => res.socket?.destroy());
    });
    const res = await get(`${base}/short`);
    let got = 0;
    const drain = async () => {
      for (let c = await res.body?.read(); c; c = await res.body?.read()) got += c.byteLength;
    };
    await expect(drain()).rejects.toThrow();
    expect(got).toBeLessThanOrEqual(256 * 1024);
  });

  it('rejects read() when a chunked body is cut short', async () => {
    routes.set('/short-chunked', (_req, res) => {
      res.writeHead(200); // no Content-Length: chunked
      res.write(OBJECT.subarray(0, 64 * 1024), () => res.socket?.destroy());
    });
    const res = await get(`${base}/short-chunked`);
    expect(res.headers.get('transfer-encoding')).toBe('chunked');
    await expect(readAll(res.body)).rejects.toThrow();
  });

  it('returns a redirect as it is, without following it', async () => {
    let followed = false;
    routes.set('/moved', (_req, res) => res.writeHead(302, { Location: '/target', 'Content-Length': 5 }).end('moved'));
    routes.set('/target', (_req, res) => {
      followed = true;
      res.writeHead(200).end('target');
    });
    const res = await get(`${base}/moved`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/target');
    expect((await readAll(res.body)).toString()).toBe('moved');
    expect(followed).toBe(false);
  });

  it('has no body for 204 and reads an empty 200 body as an immediate end', async () => {
    routes.set('/none', (_req, res) => res.writeHead(204).end());
    routes.set('/empty', (_req, res) => res.writeHead(200, { 'Content-Length': 0 }).end());
    expect((await get(`${base}/none`)).body).toBeNull();
    const empty = await get(`${base}/empty`);
    expect(await empty.body?.read()).toBeUndefined();
  });

  it('cancel() closes the connection; read() then reports the end', async () => {
    const closed = signalled();
    routes.set('/endless', (req, res) => {
      req.socket.once('close', () => closed.resolve());
      res.writeHead(200, { 'Content-Length': 1024 * MiB });
      res.write(OBJECT.subarray(0, MiB));
    });
    const res = await get(`${base}/endless`);
    expect((await res.body?.read())?.byteLength).toBeGreaterThan(0);
    await res.body?.cancel();
    await closed.promise;
    expect(await res.body?.read()).toBeUndefined();
  });

  it('refuses URLs that are not http(s) and bad options', async () => {
    await expect(get('ftp://127.0.0.1/x')).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(() => nodeStorageHttp({ maxSockets: 0 })).toThrow(InvalidArgumentError);
  });
});

describe('nodeStorageHttp(): aborts', () => {
  it('rejects with AbortError when aborted while the headers are awaited, and closes the connection', async () => {
    const arrived = signalled();
    const closed = signalled();
    routes.set('/hang', (req) => {
      req.socket.once('close', () => closed.resolve());
      arrived.resolve(); // and never answer
    });
    const ac = new AbortController();
    const sent = get(`${base}/hang`, {}, ac.signal);
    await arrived.promise;
    ac.abort();
    await expect(sent).rejects.toBeInstanceOf(AbortError);
    await closed.promise;
  });

  it('rejects at once when the signal is already aborted', async () => {
    await expect(get(`${base}/obj`, {}, AbortSignal.abort())).rejects.toBeInstanceOf(AbortError);
  });

  it('rejects a read() with AbortError when aborted mid-body, and closes the connection', async () => {
    const closed = signalled();
    // 64 KiB of a 1 GiB body, then silence until the client goes away. The test takes those 64 KiB
    // (however they are split), so the next read() can only wait: no data can resolve it before the
    // abort, whatever the timing (a trickle of more data could, on a busy machine).
    routes.set('/silent', (req, res) => {
      res.writeHead(200, { 'Content-Length': 1024 * MiB });
      res.write(OBJECT.subarray(0, 64 * 1024));
      req.socket.once('close', () => closed.resolve());
    });
    const ac = new AbortController();
    const res = await get(`${base}/silent`, {}, ac.signal);
    for (let got = 0; got < 64 * 1024; ) got += (await res.body?.read())?.byteLength ?? Infinity;
    const pending = res.body?.read();
    ac.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    await expect(res.body?.read()).rejects.toBeInstanceOf(AbortError);
    await closed.promise;
  });

  it('keeps the abort reason when it is an AbortError', async () => {
    routes.set('/hang2', () => {});
    const ac = new AbortController();
    const reason = new AbortError('stop now');
    const sent = get(`${base}/hang2`, {}, ac.signal);
    ac.abort(reason);
    await expect(sent).rejects.toBe(reason);
  });
});

describe('nodeStorageHttp(): PUT', () => {
  let dir: string;
  let file: string;
  let content: Buffer;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dlaas-storage-http-'));
    file = join(dir, 'upload.bin');
    content = randomBytes(64 * MiB);
    writeFileSync(file, content);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A PUT sink: hashes and counts what arrives, notes the first chunk, answers 201 with the totals. */
  function sink(path: string, events: string[]) {
    const done = signalled<{ bytes: number; sha: string; complete: boolean; contentLength: string | undefined }>();
    routes.set(path, (req, res) => {
      const hash = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        if (bytes === 0) events.push('server: first chunk');
        bytes += c.byteLength;
        hash.update(c);
      });
      req.on('end', () => res.writeHead(201, { 'Content-Type': 'application/json' }).end(JSON.stringify({ bytes })));
      req.on('close', () => done.resolve({ bytes, sha: hash.digest('hex'), complete: req.complete, contentLength: req.headers['content-length'] }));
    });
    return done.promise;
  }

  it('streams a 64 MiB file-backed Blob: every byte arrives, sent before the file is read whole', async () => {
    const events: string[] = [];
    const received = sink('/put', events);
    const blob = await openAsBlob(file);
    const stream = blob.stream.bind(blob);
    let read = 0;
    const counted = new TransformStream<Uint8Array<ArrayBuffer>, Uint8Array<ArrayBuffer>>({
      transform(chunk, controller) {
        read += chunk.byteLength;
        if (read === blob.size) events.push('blob: last byte read');
        controller.enqueue(chunk);
      },
    });
    vi.spyOn(blob, 'stream').mockImplementation(() => stream().pipeThrough(counted));
    const whole = vi.spyOn(blob, 'arrayBuffer');
    const bytes = vi.spyOn(blob, 'bytes');

    const res = await http.send({ method: 'PUT', url: `${base}/put`, headers: { 'Content-Type': 'application/octet-stream', 'content-length': '1' }, body: blob, signal: new AbortController().signal });
    expect(res.status).toBe(201);
    expect(JSON.parse((await readAll(res.body)).toString())).toEqual({ bytes: content.length });
    const got = await received;
    expect(got).toMatchObject({ bytes: content.length, sha: sha256(content), complete: true, contentLength: String(content.length) });
    expect(whole).not.toHaveBeenCalled();
    expect(bytes).not.toHaveBeenCalled();
    expect(events).toEqual(['server: first chunk', 'blob: last byte read']);
  });

  it('sends a Uint8Array body whole, and an empty PUT with Content-Length: 0', async () => {
    const received = sink('/put-bytes', []);
    const body = content.subarray(0, 3 * MiB);
    const res = await http.send({ method: 'PUT', url: `${base}/put-bytes`, headers: {}, body, signal: new AbortController().signal });
    expect(res.status).toBe(201);
    await res.body?.cancel(); // the response body may be left unread
    expect(await received).toMatchObject({ bytes: body.length, sha: sha256(body), complete: true });

    const empty = sink('/put-empty', []);
    const res2 = await http.send({ method: 'PUT', url: `${base}/put-empty`, headers: {}, signal: new AbortController().signal });
    expect(res2.status).toBe(201);
    await readAll(res2.body);
    expect(await empty).toMatchObject({ bytes: 0, complete: true, contentLength: '0' });
  });

  it('aborting mid-upload rejects with AbortError and the server sees the request cut off', async () => {
    const ac = new AbortController();
    const received = signalled<{ bytes: number; complete: boolean }>();
    routes.set('/put-abort', (req) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        if (bytes === 0) ac.abort(); // the upload is under way: stop it
        bytes += c.byteLength;
      });
      req.on('error', () => {}); // 'aborted'
      req.on('close', () => received.resolve({ bytes, complete: req.complete }));
    });
    const sent = http.send({ method: 'PUT', url: `${base}/put-abort`, headers: {}, body: await openAsBlob(file), signal: ac.signal });
    await expect(sent).rejects.toBeInstanceOf(AbortError);
    const got = await received.promise;
    expect(got.complete).toBe(false);
    expect(got.bytes).toBeLessThan(content.length);
  });

  it('stops uploading when the server refuses early, and returns its answer', async () => {
    const closed = signalled<number>();
    routes.set('/put-refused', (req, res) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.byteLength));
      req.on('error', () => {});
      // Once the answer is out the server stops tracking the request: the socket tells when the client hangs up.
      req.socket.once('close', () => closed.resolve(bytes));
      req.once('data', () => res.writeHead(403, { 'Content-Length': 6 }).end('denied'));
    });
    const res: StorageResponse = await http.send({ method: 'PUT', url: `${base}/put-refused`, headers: {}, body: await openAsBlob(file), signal: new AbortController().signal });
    expect(res.status).toBe(403);
    expect((await readAll(res.body)).toString()).toBe('denied');
    expect(await closed.promise).toBeLessThan(content.length);
  });
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

describe.skipIf(!hasOpenssl)('nodeStorageHttp(): https', () => {
  let dir: string;
  let secure: Server;
  let untrusted: Server;
  let original: string[];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dlaas-storage-https-'));
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ossl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=dlaas storage-http test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    ossl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
    ossl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
    // A second, self-signed certificate no trusted CA vouches for.
    ossl('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1');
    const pem = (name: string) => readFileSync(join(dir, name), 'utf8');
    original = tls.getCACertificates('default');
    tls.setDefaultCACertificates([...original, pem('ca.pem')]);
    secure = createHttpsServer({ key: pem('server.key'), cert: pem('server.pem') }, handler);
    untrusted = createHttpsServer({ key: pem('other.key'), cert: pem('other.pem') }, handler);
    await listen(secure);
    await listen(untrusted);
  });
  afterAll(async () => {
    await Promise.all([close(secure), close(untrusted)]);
    tls.setDefaultCACertificates(original);
    rmSync(dir, { recursive: true, force: true });
  });
  const url = (s: Server, path: string) => `https://127.0.0.1:${(s.address() as AddressInfo).port}${path}`;

  it('GETs whole and ranged over TLS with the CA from the default store', async () => {
    const whole = await get(url(secure, '/obj'));
    expect(sha256(await readAll(whole.body))).toBe(sha256(OBJECT));
    const part = await get(url(secure, '/obj'), { Range: 'bytes=5-' });
    expect(part.status).toBe(206);
    expect((await readAll(part.body)).equals(OBJECT.subarray(5))).toBe(true);
  });

  it('PUTs over TLS', async () => {
    const received = signalled<number>();
    routes.set('/tls-put', (req, res) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.byteLength));
      req.on('end', () => {
        received.resolve(bytes);
        res.writeHead(201).end();
      });
    });
    const res = await http.send({ method: 'PUT', url: url(secure, '/tls-put'), headers: {}, body: new Blob([OBJECT.subarray(0, 5 * MiB)]), signal: new AbortController().signal });
    expect(res.status).toBe(201);
    expect(await received.promise).toBe(5 * MiB);
  });

  it('refuses a certificate that no trusted CA signed', async () => {
    await expect(get(url(untrusted, '/obj'))).rejects.toThrow(/self-signed|certificate/i);
  });
});

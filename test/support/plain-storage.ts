/**
 * A plain HTTP storage server on 127.0.0.1 (node:http, no SDK code): GET with `Range`, HEAD with
 * `Digest: adler32=…` on `Want-Digest`, PUT, MOVE, DELETE, MKCOL — the WebDAV subset staging
 * uses. Tests steer it per request: hold a body after N bytes (the connection stays open and
 * silent, as a stalled server's), hold before the headers, corrupt bytes of one range, pace PUT
 * bodies. It records every request and whether the client closed the connection early.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checksumOf } from '../../src/staging/checksum.js';

/** One request as the server saw it. */
export interface PlainRequest {
  method: string;
  path: string;
  range: string | null;
  authorization: string | null;
  /** Body bytes sent (GET) or received (PUT). */
  bytes: number;
  /** The client closed the connection before the response ended. */
  closedEarly: boolean;
}

/** What to do with one request (decided when it arrives). */
export interface PlainPlan {
  /** Send the headers and this many body bytes, then nothing more (until the client goes away). */
  holdAfter?: number;
  /** Never send the headers. */
  holdHeaders?: boolean;
  /** XOR these absolute byte offsets of the file with 0xff in the body. */
  corrupt?: number[];
  /** PUT: stop reading the request body after this many bytes. */
  holdPutAfter?: number;
  /** PUT: store the body with the byte at this offset XORed with 0xff (as a bad link or disk would). */
  corruptPutAt?: number;
  /** HEAD: answer without a `Digest`, even when asked (a storage that keeps no checksums). */
  noDigest?: boolean;
}

export interface PlainStorage {
  /** `http://127.0.0.1:PORT` */
  readonly origin: string;
  readonly port: number;
  readonly files: Map<string, Uint8Array>;
  readonly requests: PlainRequest[];
  /** Decide per request (default: serve normally). */
  plan: (req: PlainRequest, index: number) => PlainPlan | undefined;
  /** Resolves when a request reaches its hold point (headers held, body or PUT held). */
  held(): Promise<PlainRequest>;
  /** Resolves when a request's connection was closed by the client before it ended. */
  closed(): Promise<PlainRequest>;
  /** Most GET bodies in flight at once. */
  readonly maxConcurrentGets: number;
  close(): Promise<void>;
}



/** Start the server. */
export async function startPlainStorage(): Promise<PlainStorage> {
  const files = new Map<string, Uint8Array>();
  const requests: PlainRequest[] = [];
  const waiters = { held: [] as ((r: PlainRequest) => void)[], closed: [] as ((r: PlainRequest) => void)[] };
  const fire = (kind: 'held' | 'closed', r: PlainRequest) => waiters[kind].splice(0).forEach((w) => w(r));
  let gets = 0;
  const state = { maxConcurrentGets: 0 };

  const handle = async (req: IncomingMessage, res: ServerResponse, seen: PlainRequest, plan: PlainPlan) => {
    const path = seen.path;
    if (plan.holdHeaders) {
      fire('held', seen);
      return; // never answer
    }
    if (req.method === 'GET' || req.method === 'HEAD') {
      const data = files.get(path);
      if (!data) return void res.writeHead(404).end('not found');
      let start = 0;
      let end = data.byteLength;
      const m = /^bytes=(\d+)-(\d*)$/.exec(seen.range ?? '');
      if (m) {
        start = Number(m[1]);
        end = m[2] ? Math.min(data.byteLength, Number(m[2]) + 1) : data.byteLength;
        if (start >= data.byteLength && data.byteLength > 0) return void res.writeHead(416, { 'Content-Range': `bytes */${data.byteLength}` }).end();
      }
      const headers: Record<string, string> = { 'Content-Length': String(end - start), 'Accept-Ranges': 'bytes' };
      if (m) headers['Content-Range'] = `bytes ${start}-${end - 1}/${data.byteLength}`;
      if (req.method === 'HEAD') {
        if (!plan.noDigest && /adler32/i.test(String(req.headers['want-digest'] ?? ''))) headers.Digest = `adler32=${(await checksumOf(data)).adler32}`;
        return void res.writeHead(200, headers).end();
      }
      let body = data.subarray(start, end);
      if (plan.corrupt?.some((o) => o >= start && o < end)) {
        body = body.slice();
        for (const o of plan.corrupt) if (o >= start && o < end) body[o - start]! ^= 0xff;
      }
      res.writeHead(m ? 206 : 200, headers);
      gets++;
      state.maxConcurrentGets = Math.max(state.maxConcurrentGets, gets);
      res.on('close', () => gets--);
      const limit = plan.holdAfter ?? body.byteLength;
      for (let at = 0; at < Math.min(limit, body.byteLength); ) {
        const n = Math.min(256 << 10, Math.min(limit, body.byteLength) - at);
        seen.bytes += n;
        if (!res.write(body.subarray(at, at + n)))
          await new Promise<void>((r) => {
            const go = () => {
              res.off('drain', go).off('close', go);
              r();
            };
            res.on('drain', go).on('close', go);
          });
        if (res.destroyed) return;
        at += n;
      }
      if (plan.holdAfter !== undefined && plan.holdAfter < body.byteLength) {
        fire('held', seen);
        return; // silent from here on, connection open
      }
      res.end();
      return;
    }
    if (req.method === 'PUT') {
      const chunks: Buffer[] = [];
      for await (const c of req as AsyncIterable<Buffer>) {
        chunks.push(c);
        seen.bytes += c.byteLength;
        if (plan.holdPutAfter !== undefined && seen.bytes >= plan.holdPutAfter) {
          req.pause();
          fire('held', seen);
          return; // never read more, never answer
        }
      }
      const stored = new Uint8Array(Buffer.concat(chunks));
      if (plan.corruptPutAt !== undefined && plan.corruptPutAt < stored.byteLength) stored[plan.corruptPutAt]! ^= 0xff;
      files.set(path, stored);
      return void res.writeHead(201).end();
    }
    if (req.method === 'MOVE') {
      const dest = new URL(String(req.headers.destination)).pathname;
      const data = files.get(path);
      if (!data) return void res.writeHead(404).end();
      files.delete(path);
      files.set(decodeURIComponent(dest), data);
      return void res.writeHead(201).end();
    }
    if (req.method === 'DELETE') return void res.writeHead(files.delete(path) ? 204 : 404).end();
    if (req.method === 'MKCOL') return void res.writeHead(201).end();
    res.writeHead(405).end();
  };

  const server = createServer((req, res) => {
    const seen: PlainRequest = {
      method: req.method ?? '',
      path: decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname),
      range: req.headers.range ?? null,
      authorization: req.headers.authorization ?? null,
      bytes: 0,
      closedEarly: false,
    };
    const plan = storage.plan(seen, requests.length) ?? {};
    requests.push(seen);
    res.on('close', () => {
      if (!res.writableFinished) {
        seen.closedEarly = true;
        fire('closed', seen);
      }
    });
    handle(req, res, seen, plan).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const storage: PlainStorage = {
    origin: `http://127.0.0.1:${port}`,
    port,
    files,
    requests,
    plan: () => undefined,
    held: () => new Promise((r) => waiters.held.push(r)),
    closed: () => new Promise((r) => waiters.closed.push(r)),
    get maxConcurrentGets() {
      return state.maxConcurrentGets;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return storage;
}

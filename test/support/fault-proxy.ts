/**
 * A small fault-injecting HTTP/1.1 proxy for tests, on 127.0.0.1, in front of one upstream origin
 * (the emulated Data Lake, or a real XRootD storage element over plain HTTP).
 *
 * Scriptable per test: {@link FaultProxy.inject} adds a rule (which requests, which fault, how many
 * times); {@link FaultProxy.chaos} injects faults at random with a seeded generator. Every fault the
 * proxy injects is counted ({@link FaultProxy.stats}) and logged ({@link FaultProxy.log}).
 *
 * The faults, and what a client can observe:
 *
 * | kind | on the wire | detectable by the client |
 * |---|---|---|
 * | `status` | a canned status (500/502/503/504/429 + `Retry-After`/401/...) instead of the upstream's; `forward: true` sends the request upstream first (the server acted, the answer is lost) | yes (status) |
 * | `reset` | TCP RST before any response byte; `forward: true`: after the upstream processed the request | yes (network error) |
 * | `reset-body` | headers and `afterBytes` body bytes, then RST | yes (body read fails) |
 * | `truncate` | headers and `afterBytes` body bytes, then a clean FIN. `framing: 'length'` keeps the full `Content-Length`; `'chunked'` drops the last chunk and the terminating `0` chunk; both are detectable. `'clean-chunked'` ends the chunked body properly after `afterBytes` (a complete-looking short body: detectable only when the cut is inside an NDJSON line); `'short-length'` rewrites `Content-Length` to `afterBytes` (a server that lies: only a checksum/size check can tell) | see left |
 * | `stall` | `phase: 'headers'`: nothing is sent; `'body'`: headers and `afterBytes` bytes, then nothing; for `ms` (then the rest), or until the client gives up | only by a timeout |
 * | `corrupt` | the body with one byte flipped (same length) | only by a checksum |
 * | `corrupt-request` | the request body is forwarded with one byte flipped | only by a checksum on the server side |
 * | `duplicate` | the request is delivered upstream twice; the client gets the second answer (e.g. a `DuplicateRule` 409 for its own rule) | yes (status) |
 * | `redirect` | a 3xx to `location` | — |
 * | `delay` | the upstream answer, `ms` late | — |
 *
 * Request bodies are buffered (tests upload small files); response bodies stream through unless a
 * body fault needs them whole.
 *
 * @example
 * ```ts
 * const proxy = await startFaultProxy({ upstream: 'http://127.0.0.1:4000' });
 * proxy.inject({ match: { method: 'GET', path: /^\/dids\// }, fault: { kind: 'status', status: 503 }, times: 2 });
 * // ... point the SDK at proxy.url ...
 * await proxy.close();
 * ```
 */
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { once } from 'node:events';

/** A fault the proxy can inject. */
export type Fault =
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string; forward?: boolean }
  | { kind: 'reset'; forward?: boolean }
  | { kind: 'reset-body'; afterBytes: number }
  | { kind: 'truncate'; afterBytes: number; framing?: 'length' | 'chunked' | 'clean-chunked' | 'short-length' }
  | { kind: 'stall'; phase: 'headers' | 'body'; afterBytes?: number; ms?: number }
  | { kind: 'corrupt'; offset?: number }
  | { kind: 'corrupt-request'; offset?: number }
  | { kind: 'duplicate' }
  | { kind: 'redirect'; status?: 301 | 302 | 303 | 307 | 308; location: string | ((req: ProxyRequest) => string) }
  | { kind: 'delay'; ms: number };

/** The kinds of {@link Fault}. */
export type FaultKind = Fault['kind'];

/** A request as the proxy saw it. */
export interface ProxyRequest {
  /** 1-based sequence number. */
  n: number;
  method: string;
  /** Path and query, as sent. */
  target: string;
  /** Path without the query. */
  path: string;
  headers: IncomingHttpHeaders;
}

/** Which requests a rule applies to (all given conditions must hold). */
export interface Matcher {
  method?: string | readonly string[];
  /** Prefix string or regular expression on the path (without the query). */
  path?: string | RegExp;
  test?: (req: ProxyRequest) => boolean;
}

/** A scripted fault. */
export interface FaultRule {
  match?: Matcher;
  /** The fault, or a function choosing it per request (return undefined to let the request pass). */
  fault: Fault | ((req: ProxyRequest) => Fault | undefined);
  /** How many requests it hits (default 1; `Infinity` for all). */
  times?: number;
  /** Let this many matching requests pass first. */
  skip?: number;
}

/** Random faults. */
export interface ChaosOptions {
  /** Probability that a matching request gets a fault (0..1). */
  rate: number;
  /** The faults to pick from, uniformly, or a function choosing one. */
  faults: readonly Fault[] | ((req: ProxyRequest, random: () => number) => Fault | undefined);
  match?: Matcher;
  /** Seed of the generator (default 1). */
  seed?: number;
}

/** One log line. */
export interface ProxyLogEntry {
  n: number;
  method: string;
  target: string;
  /** Request headers as sent by the client (for credential checks). */
  headers: IncomingHttpHeaders;
  fault?: FaultKind;
  /** Status sent to the client (0 when none was). */
  status: number;
}

/** Counters. */
export interface ProxyStats {
  requests: number;
  /** Requests sent upstream (a `duplicate` counts twice). */
  forwarded: number;
  faults: number;
  byKind: Partial<Record<FaultKind, number>>;
}

/** A running proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Where requests go (set later with {@link setUpstream} when the upstream needs the proxy's URL first). */
  readonly upstream: string | undefined;
  setUpstream(url: string): void;
  /** Add a rule; returns a function removing it. Rules are tried in order; the first that fires wins. */
  inject(rule: FaultRule): () => void;
  /** Random faults (replaces earlier chaos settings); `undefined` switches them off. */
  chaos(options: ChaosOptions | undefined): void;
  /** Remove every rule and chaos setting (counters stay). */
  clear(): void;
  readonly stats: ProxyStats;
  /** The most recent requests (bounded by `logLimit`). */
  readonly log: readonly ProxyLogEntry[];
  /** Requests (by method and path prefix/regexp) logged so far. */
  count(match: Matcher): number;
  /** Resolves when no request is in flight. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** Upstream origin, e.g. `http://127.0.0.1:4000`; may be set later. */
  upstream?: string;
  /** Keep at most this many log entries (default 20 000). */
  logLimit?: number;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/** Deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function matches(m: Matcher | undefined, r: ProxyRequest): boolean {
  if (!m) return true;
  if (m.method !== undefined) {
    const methods = typeof m.method === 'string' ? [m.method] : m.method;
    if (!methods.includes(r.method)) return false;
  }
  if (m.path !== undefined) {
    if (typeof m.path === 'string' ? !r.path.startsWith(m.path) : !m.path.test(r.path)) return false;
  }
  return m.test ? m.test(r) : true;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function readAll(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Write and wait until the bytes are handed to the socket. */
function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (chunk.length === 0) return resolve();
    res.write(chunk, () => resolve());
  });
}

/** Start a proxy on 127.0.0.1 (a free port). */
export async function startFaultProxy(options: FaultProxyOptions = {}): Promise<FaultProxy> {
  let upstream = options.upstream?.replace(/\/+$/, '');
  const logLimit = options.logLimit ?? 20_000;
  const rules: { rule: FaultRule; hits: number; seen: number }[] = [];
  let chaos: (ChaosOptions & { random: () => number }) | undefined;
  const stats: ProxyStats = { requests: 0, forwarded: 0, faults: 0, byKind: {} };
  const log: ProxyLogEntry[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  let inFlight = 0;
  let closed = false;

  const pick = (r: ProxyRequest): Fault | undefined => {
    for (const entry of rules) {
      const { rule } = entry;
      if ((rule.times ?? 1) <= entry.hits || !matches(rule.match, r)) continue;
      entry.seen++;
      if (entry.seen <= (rule.skip ?? 0)) continue;
      const fault = typeof rule.fault === 'function' ? rule.fault(r) : rule.fault;
      if (!fault) continue;
      entry.hits++;
      return fault;
    }
    if (chaos && matches(chaos.match, r) && chaos.random() < chaos.rate) {
      const { faults, random } = chaos;
      return typeof faults === 'function' ? faults(r, random) : faults[Math.floor(random() * faults.length)];
    }
    return undefined;
  };

  const forward = (r: ProxyRequest, body: Buffer): Promise<IncomingMessage> => {
    if (!upstream) throw new Error('fault proxy: no upstream set');
    const u = new URL(upstream);
    stats.forwarded++;
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(r.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    headers.host = u.host;
    if (body.length > 0 || r.headers['content-length'] !== undefined) headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const up = httpRequest({ agent, host: u.hostname, port: u.port, method: r.method, path: r.target, headers }, resolve);
      up.on('error', reject);
      up.end(body);
    });
  };

  /** Wait `ms` (forever when undefined) or until the client goes away; true when the client left. */
  const hold = (req: IncomingMessage, res: ServerResponse, ms: number | undefined): Promise<boolean> =>
    new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (left: boolean) => {
        if (timer) clearTimeout(timer);
        res.off('close', onClose);
        waiters.delete(onClose);
        resolve(left);
      };
      const onClose = () => done(true);
      if (res.destroyed || req.socket.destroyed) return resolve(true);
      res.on('close', onClose);
      waiters.add(onClose);
      if (ms !== undefined) timer = setTimeout(() => done(false), ms);
    });

  const reset = (res: ServerResponse) => {
    const s = res.socket;
    if (s && !s.destroyed) s.resetAndDestroy();
  };

  const responseHeaders = (up: IncomingMessage): OutgoingHttpHeaders => {
    const h: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) h[k] = v;
    return h;
  };

  const relay = async (req: IncomingMessage, res: ServerResponse, r: ProxyRequest, up: IncomingMessage, fault: Fault | undefined, entry: ProxyLogEntry) => {
    const status = up.statusCode ?? 502;
    const headers = responseHeaders(up);
    const noBody = r.method === 'HEAD' || status === 204 || status === 304;
    const bodyFault = fault && ['reset-body', 'truncate', 'stall', 'corrupt'].includes(fault.kind) && !(fault.kind === 'stall' && fault.phase === 'headers');
    if (!bodyFault || noBody) {
      res.writeHead(status, headers);
      entry.status = status;
      up.pipe(res);
      await once(up, 'end').catch(() => undefined);
      return;
    }
    const body = await readAll(up);
    entry.status = status;
    switch (fault.kind) {
      case 'corrupt': {
        if (body.length > 0) {
          const at = Math.min(body.length - 1, Math.max(0, fault.offset ?? Math.floor(body.length / 2)));
          body[at] = (body[at] as number) ^ 0xff;
        }
        res.writeHead(status, { ...headers, 'content-length': String(body.length) });
        res.end(body);
        return;
      }
      case 'reset-body': {
        res.writeHead(status, { ...headers, 'content-length': String(body.length) });
        await write(res, body.subarray(0, Math.min(fault.afterBytes, body.length)));
        await sleep(5);
        reset(res);
        return;
      }
      case 'truncate': {
        const cut = body.subarray(0, Math.min(fault.afterBytes, body.length));
        const framing = fault.framing ?? 'length';
        const { 'content-length': _len, ...rest } = headers;
        if (framing === 'length') res.writeHead(status, { ...rest, 'content-length': String(body.length) });
        else if (framing === 'short-length') res.writeHead(status, { ...rest, 'content-length': String(cut.length) });
        else res.writeHead(status, rest); // chunked
        if (framing === 'short-length' || framing === 'clean-chunked') {
          res.end(cut);
          return;
        }
        await write(res, cut);
        await sleep(5);
        // A clean FIN, without the rest of the body (or the terminating chunk).
        res.socket?.end();
        return;
      }
      case 'stall': {
        res.writeHead(status, { ...headers, 'content-length': String(body.length) });
        const first = Math.min(fault.afterBytes ?? 0, body.length);
        await write(res, body.subarray(0, first));
        const left = await hold(req, res, fault.ms);
        if (left) return;
        res.end(body.subarray(first));
        return;
      }
      default:
        res.writeHead(status, headers);
        res.end(body);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    inFlight++;
    const target = req.url ?? '/';
    const r: ProxyRequest = { n: ++stats.requests, method: req.method ?? 'GET', target, path: target.split('?')[0] ?? '/', headers: req.headers };
    const entry: ProxyLogEntry = { n: r.n, method: r.method, target, headers: req.headers, status: 0 };
    log.push(entry);
    if (log.length > logLimit) log.splice(0, log.length - logLimit);
    try {
      let body = await readAll(req);
      const fault = pick(r);
      if (fault) {
        stats.faults++;
        stats.byKind[fault.kind] = (stats.byKind[fault.kind] ?? 0) + 1;
        entry.fault = fault.kind;
      }
      if (fault?.kind === 'corrupt-request' && body.length > 0) {
        body = Buffer.from(body);
        const at = Math.min(body.length - 1, Math.max(0, fault.offset ?? Math.floor(body.length / 2)));
        body[at] = (body[at] as number) ^ 0xff;
      }
      if (fault?.kind === 'delay') await sleep(fault.ms);
      if (fault?.kind === 'redirect') {
        const location = typeof fault.location === 'function' ? fault.location(r) : fault.location;
        res.writeHead(fault.status ?? 302, { location, 'content-length': '0' });
        entry.status = fault.status ?? 302;
        res.end();
        return;
      }
      if (fault?.kind === 'stall' && fault.phase === 'headers') {
        const left = await hold(req, res, fault.ms);
        if (left) return;
      }
      if ((fault?.kind === 'status' || fault?.kind === 'reset') && !fault.forward) {
        if (fault.kind === 'reset') return reset(res);
        const payload = fault.body ?? '';
        res.writeHead(fault.status, { 'content-type': 'text/html; charset=utf-8', 'content-length': String(Buffer.byteLength(payload)), ...fault.headers });
        entry.status = fault.status;
        res.end(payload);
        return;
      }
      let up = await forward(r, body);
      if (fault?.kind === 'duplicate') {
        await readAll(up);
        up = await forward(r, body);
      }
      if (fault?.kind === 'status' || fault?.kind === 'reset') {
        // The upstream acted on the request; its answer is lost.
        await readAll(up);
        if (fault.kind === 'reset') return reset(res);
        const payload = fault.body ?? '';
        res.writeHead(fault.status, { 'content-type': 'text/html; charset=utf-8', 'content-length': String(Buffer.byteLength(payload)), ...fault.headers });
        entry.status = fault.status;
        res.end(payload);
        return;
      }
      if (res.destroyed) {
        up.resume();
        return;
      }
      await relay(req, res, r, up, fault, entry);
    } catch (error) {
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`fault proxy: upstream failed: ${String(error)}`);
        entry.status = 502;
      } else reset(res);
    } finally {
      inFlight--;
      if (inFlight === 0) for (const w of idleWaiters.splice(0)) w();
    }
  };
  const idleWaiters: (() => void)[] = [];

  const server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => void handle(req, res));
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    // RSTs from the client side are expected with fault injection.
    s.on('error', () => undefined);
  });
  server.on('clientError', (_e, s) => s.destroy());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    port,
    get upstream() {
      return upstream;
    },
    setUpstream(u: string) {
      upstream = u.replace(/\/+$/, '');
    },
    inject(rule) {
      const entry = { rule, hits: 0, seen: 0 };
      rules.push(entry);
      return () => {
        const i = rules.indexOf(entry);
        if (i >= 0) rules.splice(i, 1);
      };
    },
    chaos(o) {
      chaos = o ? { ...o, random: prng(o.seed ?? 1) } : undefined;
    },
    clear() {
      rules.length = 0;
      chaos = undefined;
    },
    stats,
    log,
    count(m) {
      return log.filter((e) => matches(m, { n: e.n, method: e.method, target: e.target, path: e.target.split('?')[0] ?? '/', headers: e.headers })).length;
    },
    idle() {
      return inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const w of [...waiters]) w();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      agent.destroy();
      await done;
    },
  };
}

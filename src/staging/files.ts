/**
 * Random access to Data Lake files without FUSE: open a DID (or a URL) and read only the bytes you
 * need, through `Range` requests, a bounded block cache, read-ahead for sequential access,
 * coalesced requests and replica fallback. A {@link RemoteFile} behaves like a `Blob` (`size`,
 * `type`, lazy `slice()`, `arrayBuffer()`, `stream()`, `text()`), and {@link RemoteFile.asyncBuffer}
 * gives the `{ byteLength, slice(start, end) }` shape that Parquet/HDF5/FITS readers take.
 *
 * Integrity: the catalogue has one checksum per file, so a partial read cannot be checked against
 * it. Reading the whole file (`arrayBuffer()`, `text()`, `bytes()`, `stream()` of the file) checks
 * size and adler32, and so does {@link RemoteFile.verify}; range reads that together received every
 * block are checked too (the blocks' adler32 values combined).
 *
 * @module
 */
import { parseDid, toDid, formatDid, type Did } from '../core/did.js';
import { AbortError, ConnectionError, DlaasError, ErrorCode, ForbiddenError, InvalidArgumentError, NotFoundError, TimeoutError, UnauthenticatedError } from '../core/errors.js';
import type { TokenSource } from '../core/token.js';
import type { RetryPolicy } from '../core/transport.js';
import type { RucioClient } from '../rucio/client.js';
import { StreamChecksum, combineAdler32, sameAdler32 } from './checksum.js';
import { ChecksumMismatchError } from './download.js';
import { abortReason, raceAbort, type BodyReader, type StorageHttp } from './http.js';
import { orderSources } from './staging.js';
import { StorageClient, displayUrl, isHttpPfn, type StorageBody } from './storage.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const READ_SCHEMES = ['https', 'davs', 'http', 'dav'];

/** Options of the {@link Files} module (usually filled by `createDataLake`, from the staging options). */
export interface FilesOptions {
  rucio: RucioClient;
  /** The storage token (WLCG bearer): sent only over TLS or to loopback, and only to the origin of the replica read. */
  storageToken?: TokenSource | undefined;
  /** Hosts that may get the storage token over plain `http`/`dav`. */
  tokenOverPlainHttp?: readonly string[] | undefined;
  fetch?: typeof fetch | undefined;
  /** The bulk HTTP client for file bytes (default `fetch`; `dlaas/node` passes its `node:http` one). */
  storageHttp?: StorageHttp | undefined;
  /** Per-request timeout until the response headers, in ms (default 60 000). */
  storageTimeout?: number | false | undefined;
  storageRetry?: RetryPolicy | undefined;
  /** The compute site's RSE: preferred as a source. */
  destinationRse?: string | undefined;
}

/** A file to open: a DID (object or `scope:name`), an `http(s)` URL, or `{ url, bytes?, adler32? }`. */
export type OpenSource = Did | string | { url: string; bytes?: number; adler32?: string };

/** Options of {@link Files.open}. */
export interface OpenOptions {
  /** Only replicas on RSEs matching this RSE expression. */
  rse_expression?: string;
  /** RSEs to prefer, best first (the destination RSE is preferred anyway). */
  preferRses?: readonly string[];
  /** PFN schemes to ask the catalogue for (default `https`, `davs`, `http`, `dav`). */
  schemes?: readonly string[];
  /** Cache block size in bytes, the unit of every `Range` request (default 1 MiB). */
  blockSize?: number;
  /** Most bytes the block cache keeps (LRU; default 64 MiB). */
  cacheSize?: number;
  /** Most bytes read ahead of a sequential reader (default 8 MiB; 0: none). */
  readAhead?: number;
  /** Largest single `Range` request, in bytes (default 16 MiB): adjacent missing blocks are coalesced up to it. */
  maxRequestBytes?: number;
  /** Most `Range` requests in flight for this file (default 4). */
  concurrency?: number;
  /**
   * A server that ignores `Range` (answers 200 with the whole file) is read only when the bytes
   * needed end within this many bytes of the start (default 8 MiB); otherwise its body is cancelled
   * at once and another replica is tried.
   */
  ignoredRangeLimit?: number;
  /** Give up on a body that delivers nothing for this long, in ms (default 60 000); another replica is tried. */
  stallTimeout?: number;
  /** The MIME type `type` reports (default `''`, as a `Blob`). */
  type?: string;
  /** Aborts the lookup and, later, every read of the file. */
  signal?: AbortSignal;
}

/** Options of one read. */
export interface ReadOptions {
  signal?: AbortSignal | undefined;
}

/** What a file's reads have cost so far. */
export interface RemoteFileStats {
  /** Body bytes received from storage. */
  bytesTransferred: number;
  /** GET requests sent. */
  requests: number;
  /** Bytes held by the block cache now (never more than `cacheSize`). */
  cacheBytes: number;
  /** Blocks served from the cache / fetched. */
  cacheHits: number;
  cacheMisses: number;
}

/** The outcome of a whole-file check. */
export interface FileVerification {
  /** What was checked: `size` (catalogue or server size) and `adler32` when the catalogue has one. */
  verified: ('size' | 'adler32')[];
  /** The replica (PFN or URL) the checked bytes came from (the first, if a failure moved to another). */
  source: string;
}

/** A replica that served bytes not matching the catalogue on a whole read. */
export interface FileCorruptReplica {
  pfn: string;
  rse: string | undefined;
  check: 'size' | 'adler32';
  error: ChecksumMismatchError;
}

/** No replica of the file can serve byte ranges (every one failed or ignored `Range`). */
export class RangeNotSupportedError extends DlaasError {
  constructor(message: string) {
    super(message, {}, ErrorCode.stream);
  }
}

/** A replica of an open file. */
interface Source {
  pfn: string;
  rse: string | undefined;
  failures: number;
  /** Set when the source must not be used again (refused, wrong size, corrupt, ignores Range for this file). */
  bad?: DlaasError | undefined;
}

/** A `Range` request in flight for blocks `[first, last]`. */
interface Run {
  ac: AbortController;
  done: boolean;
  blocks: Pending[];
}

/** A block on its way: queued, then part of a {@link Run}. */
interface Pending {
  promise: Promise<Uint8Array>;
  resolve: (b: Uint8Array) => void;
  reject: (e: unknown) => void;
  run: Run | undefined;
  /** Reads waiting for this block now. */
  waiters: number;
}

/** A counting semaphore whose waits are abortable. */
class Gate {
  #free: number;
  readonly #queue: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  async acquire(signal: AbortSignal): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    let go!: () => void;
    const turn = new Promise<void>((r) => (go = r));
    this.#queue.push(go);
    try {
      await raceAbort(turn, signal);
    } catch (e) {
      const i = this.#queue.indexOf(go);
      if (i >= 0) this.#queue.splice(i, 1);
      else this.release(); // granted just as it was aborted: give it back
      throw e;
    }
  }
  release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#free++;
  }
}

function permanent(e: unknown): boolean {
  return e instanceof ForbiddenError || e instanceof UnauthenticatedError || e instanceof NotFoundError || e instanceof ChecksumMismatchError || e instanceof RangeNotSupportedError;
}

/** adler32 of `b` as 8 hex digits (plain JS: blocks are hashed as they arrive, synchronously). */
function adler32Hex(b: Uint8Array): string {
  let a = 1;
  let s = 0;
  for (let i = 0; i < b.length; ) {
    const n = Math.min(b.length, i + 5552);
    for (; i < n; i++) {
      a += b[i] as number;
      s += a;
    }
    a %= 65521;
    s %= 65521;
  }
  return (((s << 16) | a) >>> 0).toString(16).padStart(8, '0');
}

/** A signal that fires when either does. */
function eitherSignal(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (!a) return b;
  if (!b) return a;
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([a, b]);
  const ac = new AbortController();
  const fire = (s: AbortSignal) => () => ac.abort(s.reason);
  if (a.aborted) ac.abort(a.reason);
  else if (b.aborted) ac.abort(b.reason);
  else {
    a.addEventListener('abort', fire(a), { once: true });
    b.addEventListener('abort', fire(b), { once: true });
  }
  return ac.signal;
}

function checkCount(name: string, v: unknown, min: number): void {
  if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= min)) throw new InvalidArgumentError(name, `${name} must be an integer ≥ ${min}, got ${String(v)}`);
}

/** Settings of an open file, resolved. */
interface Settings {
  blockSize: number;
  cacheSize: number;
  readAhead: number;
  maxRequestBytes: number;
  concurrency: number;
  ignoredRangeLimit: number;
  stallTimeout: number;
}

/** A GET in flight with its own controller and stall watchdog. */
interface Opened {
  ac: AbortController & { stalled: boolean; last: number };
  body: StorageBody;
  cleanup: () => void;
}

/** @internal The state shared by a file and its slices: sources, block cache, requests in flight, counters. */
export class FileCore {
  readonly sources: Source[];
  readonly stats: RemoteFileStats = { bytesTransferred: 0, requests: 0, cacheBytes: 0, cacheHits: 0, cacheMisses: 0 };
  readonly corrupt: FileCorruptReplica[] = [];
  verification: FileVerification | undefined;
  /** Set when the blocks received covered the whole file and did not match the catalogue. */
  rangeMismatch: ChecksumMismatchError | undefined;
  readonly #sums = new Map<number, { adler: string; bytes: number; src: Source }>();
  readonly #cache = new Map<number, Uint8Array>();
  readonly #inflight = new Map<number, Pending>();
  readonly #gate: Gate;
  readonly #closed = new AbortController();
  #lastEnd = -1;
  #window = 0;
  #queued: number[] = [];
  #mark = -1;
  #current = 0;

  constructor(
    readonly storage: StorageClient,
    sources: readonly { pfn: string; rse: string | undefined }[],
    readonly size: number,
    readonly adler32: string | null,
    readonly settings: Settings,
    readonly signal: AbortSignal | undefined,
  ) {
    this.sources = sources.map((s) => ({ ...s, failures: 0 }));
    this.#gate = new Gate(settings.concurrency);
  }

  get closedSignal(): AbortSignal {
    return this.#closed.signal;
  }

  close(): void {
    this.#closed.abort(new AbortError('the file was closed'));
    this.#cache.clear();
    this.stats.cacheBytes = 0;
  }

  /** The source to use next: the current one unless it is bad, else the least-failed usable one. */
  pick(exclude?: ReadonlySet<Source>): Source | undefined {
    const usable = this.sources.filter((s) => !s.bad && !exclude?.has(s));
    if (!usable.length) return undefined;
    const cur = this.sources[this.#current];
    if (cur && usable.includes(cur) && cur.failures === Math.min(...usable.map((s) => s.failures))) return cur;
    const best = usable.reduce((a, b) => (b.failures < a.failures ? b : a));
    this.#current = this.sources.indexOf(best);
    return best;
  }

  /** Note a failure of `src` (permanent ones, or a third transient one, retire it). */
  failed(src: Source, e: unknown): void {
    src.failures++;
    if (permanent(e) || src.failures >= 3) src.bad = e instanceof DlaasError ? e : new DlaasError(String(e));
  }

  /** The error when no source is left. */
  exhausted(last: unknown): DlaasError {
    if (last instanceof DlaasError) return last;
    const why = this.sources.map((s) => `${displayUrl(s.pfn)}: ${s.bad?.message ?? 'failed'}`).join('; ');
    return new DlaasError(`no replica could serve the file (${why || 'none'})`, {}, ErrorCode.notFound);
  }

  #touch(i: number): Uint8Array | undefined {
    const b = this.#cache.get(i);
    if (b) {
      this.#cache.delete(i);
      this.#cache.set(i, b);
    }
    return b;
  }

  #store(i: number, b: Uint8Array): void {
    if (this.#closed.signal.aborted || b.byteLength > this.settings.cacheSize) return;
    const old = this.#cache.get(i);
    if (old) {
      this.#cache.delete(i);
      this.stats.cacheBytes -= old.byteLength;
    }
    this.#cache.set(i, b);
    this.stats.cacheBytes += b.byteLength;
    for (const [k, v] of this.#cache) {
      if (this.stats.cacheBytes <= this.settings.cacheSize) break;
      this.#cache.delete(k);
      this.stats.cacheBytes -= v.byteLength;
    }
  }

  /**
   * Note the adler32 of block `i` as received. Once every block of the file has been received (in
   * any order, across any number of reads), the blocks' adler32 values are combined and checked
   * against the catalogue: a file read whole through ranges is verified too.
   */
  #sum(i: number, b: Uint8Array, src: Source): void {
    const blocks = Math.ceil(this.size / this.settings.blockSize);
    // Bounded bookkeeping: beyond 2^18 blocks (256 GiB in 1 MiB blocks) only whole reads verify.
    if (this.verification || this.size === 0 || blocks > 1 << 18) return;
    this.#sums.set(i, { adler: adler32Hex(b), bytes: b.byteLength, src });
    if (this.#sums.size < blocks) return;
    const sums = [...this.#sums.entries()].sort(([a], [b]) => a - b).map(([, v]) => v);
    this.#sums.clear();
    const got = sums.slice(1).reduce((acc, x) => combineAdler32(acc, x.adler, x.bytes), (sums[0] as { adler: string }).adler);
    const first = (sums[0] as { src: Source }).src;
    if (!this.adler32 || sameAdler32(got, this.adler32)) {
      this.verification = { verified: this.adler32 ? ['size', 'adler32'] : ['size'], source: first.pfn };
      return;
    }
    const from = new Set(sums.map((x) => x.src));
    const e = new ChecksumMismatchError('adler32', this.adler32, got, from.size === 1 ? first.pfn : `${from.size} replicas`);
    this.rangeMismatch = e;
    // From one replica alone: that replica is corrupt (retired, named); else the cache is dropped.
    if (from.size === 1) this.#mismatch(first, e);
    else {
      this.#cache.clear();
      this.stats.cacheBytes = 0;
    }
  }

  #blockEnd(i: number): number {
    return Math.min(this.size, (i + 1) * this.settings.blockSize);
  }

  /** Bytes `[start, end)` (already clamped to the file), through the cache. */
  async read(start: number, end: number, signal: AbortSignal | undefined): Promise<Uint8Array> {
    const sig = eitherSignal(signal, this.signal);
    if (sig?.aborted) throw abortReason(sig);
    if (this.#closed.signal.aborted) throw new AbortError('the file was closed');
    if (end <= start) return new Uint8Array(0);
    const B = this.settings.blockSize;
    const first = Math.floor(start / B);
    const last = Math.floor((end - 1) / B);
    const lastBlock = Math.floor((this.size - 1) / B);
    // Sequential: this read starts where the previous one ended. The read-ahead window doubles up
    // to `readAhead`; a new window is requested (as one run) when the reader passes the middle of
    // the previous one, so read-ahead comes in few, growing requests.
    const sequential = start === this.#lastEnd && this.settings.readAhead > 0;
    this.#lastEnd = end;
    let ahead = last;
    if (!sequential) {
      this.#window = 0;
      this.#mark = -1;
    } else {
      this.#window = Math.min(this.settings.readAhead, Math.max(B, this.#window * 2));
      const blocks = Math.ceil(this.#window / B);
      if (last >= this.#mark) {
        ahead = Math.min(lastBlock, last + blocks);
        this.#mark = last + Math.ceil(blocks / 2);
      }
    }
    // Missing blocks (wanted and read-ahead) are queued; the queue becomes coalesced runs at the
    // end of this tick, so reads issued together (e.g. the rows of a cutout) share requests.
    for (let i = first; i <= ahead; i++) if (!this.#cache.has(i) && !this.#inflight.has(i)) this.#queue(i);
    const parts: Promise<Uint8Array>[] = [];
    const waited: Pending[] = [];
    for (let i = first; i <= last; i++) {
      const hit = this.#touch(i);
      if (hit) {
        this.stats.cacheHits++;
        parts.push(Promise.resolve(hit));
        continue;
      }
      const p = this.#inflight.get(i) as Pending;
      p.waiters++;
      waited.push(p);
      parts.push(p.promise);
    }
    let blocks: Uint8Array[];
    try {
      blocks = await raceAbort(Promise.all(parts), sig);
    } finally {
      for (const p of waited) p.waiters--;
      // An aborted read cancels the requests no other read waits for.
      if (sig?.aborted) for (const r of new Set(waited.map((p) => p.run))) if (r && !r.done && r.blocks.every((p) => p.waiters === 0)) r.ac.abort(sig.reason);
    }
    if (blocks.length === 1) {
      const b = blocks[0] as Uint8Array;
      return b.slice(start - first * B, end - first * B);
    }
    const out = new Uint8Array(end - start);
    let at = 0;
    blocks.forEach((b, k) => {
      const i = first + k;
      const from = i === first ? start - i * B : 0;
      const to = i === last ? end - i * B : b.byteLength;
      out.set(b.subarray(from, to), at);
      at += to - from;
    });
    return out;
  }

  /** Put block `i` in flight; requests for queued blocks start at the end of the tick. */
  #queue(i: number): void {
    let resolve!: (b: Uint8Array) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<Uint8Array>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => {});
    this.#inflight.set(i, { promise, resolve, reject, run: undefined, waiters: 0 });
    this.stats.cacheMisses++;
    this.#queued.push(i);
    if (this.#queued.length === 1) queueMicrotask(() => this.#flush());
  }

  /** Start the queued blocks as runs of adjacent blocks, each at most `maxRequestBytes`. */
  #flush(): void {
    const q = [...new Set(this.#queued)].sort((a, b) => a - b);
    this.#queued = [];
    const perRun = Math.max(1, Math.floor(this.settings.maxRequestBytes / this.settings.blockSize));
    for (let k = 0; k < q.length; ) {
      let j = k;
      while (j + 1 < q.length && q[j + 1] === (q[j] as number) + 1 && j + 1 - k < perRun) j++;
      this.#startRun(q[k] as number, q[j] as number);
      k = j + 1;
    }
  }

  #startRun(first: number, last: number): void {
    const run: Run = { ac: new AbortController(), done: false, blocks: [] };
    const onClose = () => run.ac.abort(this.#closed.signal.reason);
    this.#closed.signal.addEventListener('abort', onClose, { once: true });
    for (let i = first; i <= last; i++) {
      const p = this.#inflight.get(i) as Pending;
      p.run = run;
      run.blocks.push(p);
    }
    void this.#fetchRun(run, first, last).finally(() => {
      run.done = true;
      this.#closed.signal.removeEventListener('abort', onClose);
    });
  }

  /** Settle blocks `[from, last]` of a run that failed for good. */
  #fail(from: number, last: number, e: unknown): void {
    for (let i = from; i <= last; i++) {
      this.#inflight.get(i)?.reject(e);
      this.#inflight.delete(i);
    }
  }

  #deliver(i: number, b: Uint8Array, src: Source): void {
    const p = this.#inflight.get(i);
    this.#sum(i, b, src);
    this.#store(i, b);
    this.#inflight.delete(i);
    p?.resolve(b);
  }

  async #fetchRun(run: Run, first: number, last: number): Promise<void> {
    const B = this.settings.blockSize;
    let next = first; // the first block not yet delivered
    try {
      await this.#gate.acquire(run.ac.signal);
    } catch (e) {
      this.#fail(first, last, e);
      return;
    }
    let lastError: unknown;
    try {
      const tried = new Set<Source>();
      for (;;) {
        if (run.ac.signal.aborted) throw abortReason(run.ac.signal);
        const src = this.pick(tried);
        if (!src) throw this.exhausted(lastError);
        const start = next * B;
        const end = this.#blockEnd(last);
        const before = next;
        try {
          await this.#fetchInto(src, start, end, run.ac.signal, (i, b) => {
            this.#deliver(i, b, src);
            next = i + 1;
          });
          return;
        } catch (e) {
          if (run.ac.signal.aborted) throw abortReason(run.ac.signal);
          lastError = e;
          this.failed(src, e);
          // No progress from this source: do not come back to it for this run.
          if (next === before) tried.add(src);
        }
      }
    } catch (e) {
      this.#fail(next, last, e);
    } finally {
      this.#gate.release();
    }
  }

  /**
   * GET `[start, end)` (block-aligned start) from `src`, delivering whole blocks as they complete.
   * A 200 (Range ignored) is read from byte 0 only when the needed bytes end within
   * `ignoredRangeLimit`; else cancelled at once.
   */
  async #fetchInto(src: Source, start: number, end: number, signal: AbortSignal, deliver: (i: number, b: Uint8Array) => void): Promise<void> {
    const B = this.settings.blockSize;
    const { ac, body, cleanup } = await this.#open(src, { start, end }, signal);
    try {
      const res = body;
      let from = start;
      if (res.status === 200) {
        if (end > this.settings.ignoredRangeLimit) {
          await res.body.cancel();
          throw new RangeNotSupportedError(`${displayUrl(src.pfn)} ignored the Range request (answered 200 with the whole file); not read, as bytes ${start}-${end - 1} lie beyond the first ${this.settings.ignoredRangeLimit} bytes`);
        }
        from = 0;
      } else {
        const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('Content-Range') ?? '');
        if (res.status !== 206 || !m || Number(m[1]) !== start || Number(m[2]) !== end - 1 || (m[3] !== '*' && Number(m[3]) !== this.size)) {
          await res.body.cancel();
          throw new DlaasError(`${displayUrl(src.pfn)} answered Range bytes=${start}-${end - 1} with ${res.status} ${res.headers.get('Content-Range') ?? 'and no Content-Range'} (file size ${this.size})`, {}, ErrorCode.stream);
        }
      }
      // Fill block by block: a block is delivered as soon as its last byte is here.
      let i = Math.floor(from / B);
      let buf = new Uint8Array(this.#blockEnd(i) - i * B);
      let fill = 0;
      let at = from;
      for (;;) {
        const chunk = await this.#chunk(res.body, ac, src);
        if (!chunk) break;
        this.stats.bytesTransferred += chunk.byteLength;
        let off = 0;
        while (off < chunk.byteLength) {
          if (at >= end) {
            await res.body.cancel();
            if (res.status === 206) throw new ChecksumMismatchError('size', end - start, `more than ${end - start}`, src.pfn);
            return; // a server that ignores Range: the prefix needed is here
          }
          const n = Math.min(buf.byteLength - fill, chunk.byteLength - off);
          buf.set(chunk.subarray(off, off + n), fill);
          fill += n;
          off += n;
          at += n;
          if (fill === buf.byteLength) {
            // Blocks before the requested range (a server that ignored Range) are cached too.
            if (i * B >= start) deliver(i, buf);
            else if (!this.#cache.has(i)) {
              this.#sum(i, buf, src);
              this.#store(i, buf);
            }
            i++;
            if (at < end) {
              buf = new Uint8Array(this.#blockEnd(i) - i * B);
              fill = 0;
            }
          }
        }
        if (at >= end && res.status === 200) {
          await res.body.cancel();
          return;
        }
      }
      if (at < end) throw new ConnectionError({ service: 'storage', method: 'GET', url: src.pfn }, `storage GET ${displayUrl(src.pfn)}: the body ended after ${at - from} of ${end - from} bytes`);
    } catch (e) {
      await body.body.cancel().catch(() => {});
      throw e;
    } finally {
      cleanup();
    }
  }

  /** One GET with its own controller (the caller's signal, or the stall watchdog, aborts it). */
  async #open(src: Source, range: { start: number; end?: number } | undefined, signal: AbortSignal): Promise<Opened> {
    const ac = Object.assign(new AbortController(), { last: Date.now(), stalled: false });
    const onAbort = () => ac.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const stall = this.settings.stallTimeout;
    const watchdog = setInterval(
      () => {
        if (Date.now() - ac.last < stall) return;
        ac.stalled = true;
        ac.abort(new TimeoutError({ service: 'storage', method: 'GET', url: src.pfn, timeoutMs: stall }));
      },
      Math.max(10, Math.min(1000, stall / 4)),
    );
    (watchdog as { unref?: () => void }).unref?.();
    const cleanup = () => {
      clearInterval(watchdog);
      signal.removeEventListener('abort', onAbort);
    };
    try {
      this.stats.requests++;
      const body = await this.storage.read(src.pfn, range, ac.signal);
      ac.last = Date.now();
      return { ac, body, cleanup };
    } catch (e) {
      cleanup();
      if (signal.aborted) throw abortReason(signal);
      if (ac.stalled) throw new TimeoutError({ service: 'storage', method: 'GET', url: src.pfn, timeoutMs: stall });
      throw e;
    }
  }

  async #chunk(body: BodyReader, ac: Opened['ac'], src: Source): Promise<Uint8Array | undefined> {
    try {
      const c = await body.read();
      ac.last = Date.now();
      return c;
    } catch (e) {
      if (ac.stalled) throw new TimeoutError({ service: 'storage', method: 'GET', url: src.pfn, timeoutMs: this.settings.stallTimeout });
      if (e instanceof DlaasError) throw e;
      throw new ConnectionError({ service: 'storage', method: 'GET', url: src.pfn, cause: e }, `storage GET ${displayUrl(src.pfn)}: the transfer broke off (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  /**
   * The whole file as chunks, in one streaming GET (resumed with `Range` on another replica when a
   * source fails mid-way), with size and adler32 checked at the end: a mismatch throws
   * {@link ChecksumMismatchError} after the last chunk. `only`: read from that source alone.
   */
  async *whole(signal: AbortSignal | undefined, only?: Source): AsyncGenerator<Uint8Array, FileVerification> {
    const sig = eitherSignal(eitherSignal(signal, this.signal), this.#closed.signal) as AbortSignal;
    const sum = await StreamChecksum.create();
    let at = 0;
    let first: Source | undefined;
    let lastError: unknown;
    const tried = new Set<Source>();
    try {
      for (;;) {
        if (sig.aborted) throw abortReason(sig);
        const src = only ? (tried.has(only) || only.bad ? undefined : only) : this.pick(tried);
        if (!src) throw this.exhausted(lastError);
        first ??= src;
        const before = at;
        let opened: Opened | undefined;
        try {
          opened = await this.#open(src, at === 0 ? undefined : { start: at }, sig);
          const res = opened.body;
          if (at > 0) {
            const m = /^bytes (\d+)-/.exec(res.headers.get('Content-Range') ?? '');
            if (res.status !== 206 || Number(m?.[1]) !== at) {
              await res.body.cancel();
              throw new RangeNotSupportedError(`${displayUrl(src.pfn)} cannot continue at byte ${at} (answered ${res.status})`);
            }
          }
          for (;;) {
            const chunk = await this.#chunk(res.body, opened.ac, src);
            if (!chunk) break;
            this.stats.bytesTransferred += chunk.byteLength;
            if (at + chunk.byteLength > this.size) {
              await res.body.cancel();
              throw this.#mismatch(src, new ChecksumMismatchError('size', this.size, `more than ${this.size}`, src.pfn));
            }
            sum.update(chunk);
            at += chunk.byteLength;
            yield chunk;
          }
          if (at < this.size) throw new ConnectionError({ service: 'storage', method: 'GET', url: src.pfn }, `storage GET ${displayUrl(src.pfn)}: the body ended after ${at} of ${this.size} bytes`);
          const got = sum.digest();
          const verified: FileVerification['verified'] = ['size'];
          if (this.adler32) {
            if (!sameAdler32(got.adler32, this.adler32)) throw this.#mismatch(src, new ChecksumMismatchError('adler32', this.adler32, got.adler32, src.pfn), before === 0);
            verified.push('adler32');
          }
          this.verification = { verified, source: first.pfn };
          return this.verification;
        } catch (e) {
          await opened?.body.body.cancel().catch(() => {});
          if (sig.aborted) throw abortReason(sig);
          if (e instanceof ChecksumMismatchError) throw e;
          lastError = e;
          this.failed(src, e);
          if (at === before) tried.add(src);
        } finally {
          // Also when the consumer stops early (the generator returned at a `yield`): release the body.
          await opened?.body.body.cancel().catch(() => {});
          opened?.cleanup();
        }
      }
    } finally {
      sum.dispose();
    }
  }

  /** Record a corrupt replica (when the bytes came from it alone), drop its cached blocks, retire it. */
  #mismatch(src: Source, e: ChecksumMismatchError, alone = true): ChecksumMismatchError {
    src.bad = e;
    if (alone) {
      this.corrupt.push({ pfn: src.pfn, rse: src.rse, check: e.check as 'size' | 'adler32', error: e });
    }
    this.#cache.clear();
    this.stats.cacheBytes = 0;
    return e;
  }
}

/**
 * A byte range of a remote file, lazy like a `Blob`: nothing is read until `arrayBuffer()`,
 * `bytes()`, `text()` or `stream()`. A partial range is not verified (the catalogue checksums the
 * whole file only).
 */
export class RemoteBlob {
  /** @internal */
  protected readonly core: FileCore;
  readonly #start: number;
  readonly #end: number;
  readonly type: string;

  /** @internal */
  constructor(core: FileCore, start: number, end: number, type: string) {
    this.core = core;
    this.#start = start;
    this.#end = end;
    this.type = type;
  }

  /** Bytes in this range. */
  get size(): number {
    return this.#end - this.#start;
  }

  /** Whether this covers the whole file (then whole reads are verified). */
  get #whole(): boolean {
    return this.#start === 0 && this.#end === this.core.size;
  }

  /**
   * A lazy sub-range, with `Blob.slice` semantics (negative offsets count from the end).
   *
   * @example
   * ```ts
   * const header = await file.slice(0, 2880).text();
   * ```
   */
  slice(start?: number, end?: number, contentType?: string): RemoteBlob {
    const rel = (v: number | undefined, d: number) => {
      if (v === undefined) return d;
      const n = Math.trunc(Number(v)) || 0;
      return n < 0 ? Math.max(this.size + n, 0) : Math.min(n, this.size);
    };
    const s = rel(start, 0);
    const e = Math.max(s, rel(end, this.size));
    return new RemoteBlob(this.core, this.#start + s, this.#start + e, contentType ?? '');
  }

  /** The bytes (a whole file: verified against the catalogue, trying another replica on a mismatch). */
  async bytes(options: ReadOptions = {}): Promise<Uint8Array> {
    if (!this.#whole) return this.core.read(this.#start, this.#end, options.signal);
    for (;;) {
      const out = new Uint8Array(this.size);
      let at = 0;
      try {
        for await (const c of this.core.whole(options.signal)) {
          out.set(c, at);
          at += c.byteLength;
        }
        return out;
      } catch (e) {
        // A corrupt replica was retired: the next one is tried, until none is left.
        if (!(e instanceof ChecksumMismatchError) || !this.core.pick()) throw e;
      }
    }
  }

  async arrayBuffer(options: ReadOptions = {}): Promise<ArrayBuffer> {
    const b = await this.bytes(options);
    return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : (b.slice().buffer as ArrayBuffer);
  }

  async text(options: ReadOptions = {}): Promise<string> {
    return new TextDecoder().decode(await this.bytes(options));
  }

  /**
   * The bytes as a stream. The whole file streams in one request (resumed on another replica if one
   * fails), and the stream errors with a {@link ChecksumMismatchError} after the last chunk when the
   * bytes do not match the catalogue. A partial range is read block by block through the cache,
   * with read-ahead.
   */
  stream(options: ReadOptions = {}): ReadableStream<Uint8Array> {
    const ac = new AbortController();
    const signal = eitherSignal(options.signal, ac.signal);
    if (this.#whole) {
      const it = this.core.whole(signal);
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await it.next();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        async cancel(reason) {
          ac.abort(reason);
          await it.return(undefined as never).catch(() => {});
        },
      });
    }
    let at = this.#start;
    const end = this.#end;
    const step = this.core.settings.blockSize;
    const core = this.core;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (at >= end) return controller.close();
        const n = Math.min(step - (at % step), end - at);
        const chunk = await core.read(at, at + n, signal);
        at += n;
        controller.enqueue(chunk);
      },
      cancel(reason) {
        ac.abort(reason);
      },
    });
  }
}

/**
 * A Data Lake file opened for random access (see {@link Files.open}). Behaves like a `Blob`;
 * {@link RemoteFile.read} reads at an offset, {@link RemoteFile.asyncBuffer} plugs into readers that
 * take `{ byteLength, slice(start, end) }` (hyparquet, …).
 *
 * **Integrity.** Bytes read by range cannot be checked against the catalogue (it holds one checksum
 * per file); `verified` stays `undefined` until the whole file was read (`arrayBuffer()`, `bytes()`,
 * `text()`, `stream()` of the whole file), {@link RemoteFile.verify} was called, or range reads
 * received every block (then their combined adler32 is checked; see `rangeMismatch`).
 *
 * @example
 * ```ts
 * const file = await lake.files.open('user.jdoe:survey.parquet');
 * const tail = await file.read(file.size - 8, 8); // only these bytes (and their cache block) are fetched
 * const rows = await parquetReadObjects({ file: file.asyncBuffer(), columns: ['ra'] });
 * console.log(file.stats.bytesTransferred, 'of', file.size);
 * ```
 */
export class RemoteFile extends RemoteBlob {
  /** The file's DID (`undefined` for a URL). */
  readonly did: Did | undefined;
  /** The URL, for a URL source. */
  readonly url: string | undefined;
  /** The catalogue adler32 (`null` when unknown, e.g. a URL). */
  readonly adler32: string | null;

  /** @internal */
  constructor(core: FileCore, type: string, did: Did | undefined, url: string | undefined) {
    super(core, 0, core.size, type);
    this.did = did;
    this.url = url;
    this.adler32 = core.adler32;
  }

  /** The file name (the DID's name or the URL's last path segment). */
  get name(): string {
    if (this.did) return this.did.name;
    return decodeURIComponent(new URL(this.url as string).pathname.split('/').filter(Boolean).pop() ?? '');
  }

  /** The replicas (PFNs) this file may be read from, best first; `bad` says why one is not used any more. */
  get sources(): readonly { pfn: string; rse: string | undefined; bad?: DlaasError | undefined }[] {
    return this.core.sources.map((s) => ({ pfn: s.pfn, rse: s.rse, ...(s.bad ? { bad: s.bad } : {}) }));
  }

  /** Bytes transferred, requests, cache use. */
  get stats(): Readonly<RemoteFileStats> {
    return { ...this.core.stats };
  }

  /**
   * Set once the file's bytes matched the catalogue: after a whole read, {@link RemoteFile.verify},
   * or range reads that together received every block (their adler32 values are combined);
   * `undefined` otherwise — a partial read is not verified.
   */
  get verified(): FileVerification | undefined {
    return this.core.verification;
  }

  /**
   * Set when the blocks read by range came to cover the whole file and their combined adler32 did
   * not match the catalogue (the replica, when they all came from one, is then in `corruptReplicas`).
   */
  get rangeMismatch(): ChecksumMismatchError | undefined {
    return this.core.rangeMismatch;
  }

  /** Replicas found corrupt by a whole read (tell Rucio with `rucio.replicas.declareBad`). */
  get corruptReplicas(): readonly FileCorruptReplica[] {
    return [...this.core.corrupt];
  }

  /**
   * Read `length` bytes at `offset` (fewer at the end of the file). Unverified: see the class notes.
   *
   * @example
   * ```ts
   * const header = await file.read(0, 2880, { signal: AbortSignal.timeout(10_000) });
   * ```
   */
  async read(offset: number, length: number, options: ReadOptions = {}): Promise<Uint8Array> {
    if (!Number.isInteger(offset) || offset < 0) throw new InvalidArgumentError('offset', `offset must be a non-negative integer, got ${String(offset)}`);
    if (!Number.isInteger(length) || length < 0) throw new InvalidArgumentError('length', `length must be a non-negative integer, got ${String(length)}`);
    const start = Math.min(offset, this.size);
    return this.core.read(start, Math.min(this.size, start + length), options.signal);
  }

  /**
   * Read the whole file from one replica (streaming, nothing kept) and check size and adler32
   * against the catalogue. A mismatch retires that replica, records it in `corruptReplicas` and
   * throws {@link ChecksumMismatchError}.
   *
   * @example
   * ```ts
   * const { verified, source } = await file.verify();
   * ```
   */
  async verify(options: ReadOptions = {}): Promise<FileVerification> {
    const it = this.core.whole(options.signal, this.core.pick());
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  /**
   * The `{ byteLength, slice(start, end) }` "async buffer" that hyparquet and similar readers take;
   * every slice goes through the block cache.
   *
   * @example
   * ```ts
   * import { parquetReadObjects } from 'hyparquet';
   * const rows = await parquetReadObjects({ file: file.asyncBuffer(), columns: ['flux'] });
   * ```
   */
  asyncBuffer(options: ReadOptions = {}): { byteLength: number; slice(start: number, end?: number): Promise<ArrayBuffer> } {
    return {
      byteLength: this.size,
      slice: (start, end) => this.slice(start, end ?? this.size).arrayBuffer(options),
    };
  }

  /** Cancel read-ahead and requests in flight, and drop the cache. Reads after this reject. */
  close(): void {
    this.core.close();
  }
}

/**
 * Random access to Data Lake files: `lake.files.open(did)`. Replicas are chosen as staging
 * chooses them (RSE expression, preferred RSEs, readable schemes), the storage token goes only to
 * the replica's storage (TLS or loopback, same origin; never to a URL source), and a replica that
 * fails is replaced by the next one, even in the middle of a read.
 *
 * @example
 * ```ts
 * const file = await lake.files.open('user.jdoe:image.fits', { preferRses: ['SITE_A'] });
 * const header = await file.slice(0, 2880).text();
 * const whole = await file.arrayBuffer(); // verified against the catalogue's size and adler32
 * ```
 */
export class Files {
  readonly #o: FilesOptions;
  readonly #storage: StorageClient;
  readonly #anonymous: StorageClient;

  constructor(options: FilesOptions) {
    this.#o = options;
    const common = { fetch: options.fetch, http: options.storageHttp, timeout: options.storageTimeout, retry: options.storageRetry };
    this.#storage = new StorageClient({ ...common, token: options.storageToken, tokenOverPlainHttp: options.tokenOverPlainHttp });
    this.#anonymous = new StorageClient(common);
  }

  /**
   * Open a file for random access: its replicas and catalogue size/adler32 are looked up (a URL:
   * a HEAD for its size), nothing of the file is read yet.
   * @throws {@link NotFoundError} when the DID has no readable replica, {@link InvalidArgumentError}
   *   for bad options, {@link AbortError} when `signal` fires.
   */
  async open(source: OpenSource, options: OpenOptions = {}): Promise<RemoteFile> {
    const settings = checkOpenOptions(options);
    const signal = options.signal;
    const type = options.type ?? '';
    const url = typeof source === 'string' ? (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) ? source : undefined) : isUrl(source) ? source.url : undefined;
    if (url !== undefined) {
      let u: URL;
      try {
        u = new URL(url);
      } catch {
        throw new InvalidArgumentError('source', `not a URL: ${JSON.stringify(url.slice(0, 80))}`);
      }
      if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new InvalidArgumentError('source', `only http(s) URLs can be opened, got ${u.protocol}`);
      const given = isUrl(source) ? source : undefined;
      // A URL is a third party: it never gets the Data Lake token.
      let size = given?.bytes;
      if (size === undefined) size = await urlSize(this.#anonymous, url, signal);
      const core = new FileCore(this.#anonymous, [{ pfn: url, rse: undefined }], size, given?.adler32 ?? null, settings, signal);
      return new RemoteFile(core, type, undefined, url);
    }
    const did = typeof source === 'string' ? parseDid(source) : toDid(source as Did);
    const prefer = [...(this.#o.destinationRse ? [this.#o.destinationRse] : []), ...(options.preferRses ?? [])];
    let found: { sources: { pfn: string; rse: string | undefined }[]; bytes: number | null; adler32: string | null } | undefined;
    for await (const rep of this.#o.rucio.replicas.list([did], { schemes: options.schemes ?? READ_SCHEMES, ...(options.rse_expression ? { rse_expression: options.rse_expression } : {}), signal })) {
      if (rep.scope !== did.scope || rep.name !== did.name) continue;
      const sources = orderSources(rep, prefer).filter(isHttpPfn).map((pfn) => ({ pfn, rse: rep.replicas.find((r) => r.pfn === pfn)?.rse }));
      found = { sources, bytes: rep.bytes ?? null, adler32: rep.adler32 ?? null };
    }
    if (!found || found.sources.length === 0) throw new DlaasError(`no available replica of ${formatDid(did)} that can be read over https/davs${options.rse_expression ? ` on ${options.rse_expression}` : ''}`, {}, ErrorCode.notFound);
    let size = found.bytes;
    if (size === null) size = (await urlSizeOf(this.#storage, found.sources[0]?.pfn as string, signal)) ?? null;
    if (size === null) throw new DlaasError(`the size of ${formatDid(did)} is unknown`, {}, ErrorCode.notFound);
    const core = new FileCore(this.#storage, found.sources, size, found.adler32, settings, signal);
    return new RemoteFile(core, type, did, undefined);
  }
}

function isUrl(s: unknown): s is { url: string; bytes?: number; adler32?: string } {
  return typeof s === 'object' && s !== null && typeof (s as { url?: unknown }).url === 'string';
}

/** The size of an object: HEAD, else the total of a one-byte `Range` answer. */
async function urlSizeOf(storage: StorageClient, url: string, signal: AbortSignal | undefined): Promise<number | undefined> {
  const st = await storage.stat(url, signal).catch((e: unknown) => {
    if (e instanceof AbortError) throw e;
    return undefined;
  });
  if (st?.bytes !== undefined && Number.isFinite(st.bytes)) return st.bytes;
  const res = await storage.read(url, { start: 0, end: 1 }, signal);
  await res.body.cancel();
  const m = /\/(\d+)$/.exec(res.headers.get('Content-Range') ?? '');
  if (res.status === 206 && m) return Number(m[1]);
  const len = res.headers.get('Content-Length');
  return res.status === 200 && len !== null ? Number(len) : undefined;
}

async function urlSize(storage: StorageClient, url: string, signal: AbortSignal | undefined): Promise<number> {
  const size = await urlSizeOf(storage, url, signal);
  if (size === undefined) throw new DlaasError(`${displayUrl(url)}: the server tells no size (no Content-Length or Content-Range)`, {}, ErrorCode.stream);
  return size;
}

function checkOpenOptions(o: OpenOptions): Settings {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('options', 'open options must be an object');
  checkCount('blockSize', o.blockSize, 1);
  checkCount('cacheSize', o.cacheSize, 0);
  checkCount('readAhead', o.readAhead, 0);
  checkCount('maxRequestBytes', o.maxRequestBytes, 1);
  checkCount('concurrency', o.concurrency, 1);
  checkCount('ignoredRangeLimit', o.ignoredRangeLimit, 0);
  checkCount('stallTimeout', o.stallTimeout, 1);
  const blockSize = o.blockSize ?? MiB;
  return {
    blockSize,
    cacheSize: o.cacheSize ?? 64 * MiB,
    readAhead: o.readAhead ?? 8 * MiB,
    maxRequestBytes: Math.max(blockSize, o.maxRequestBytes ?? 16 * MiB),
    concurrency: o.concurrency ?? 4,
    ignoredRangeLimit: o.ignoredRangeLimit ?? 8 * MiB,
    stallTimeout: o.stallTimeout ?? 60_000,
  };
}

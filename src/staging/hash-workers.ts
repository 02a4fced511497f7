/**
 * Hashing in workers: the part every runtime shares. A pool of workers, each job pinned to one
 * worker (a stream's chunks are hashed in order); the producer's chunks are copied into pooled
 * batch buffers that are transferred (not cloned) to the worker and come back with its
 * acknowledgement, so the calling thread only copies bytes and the queue stays bounded.
 *
 * The worker runs a self-contained script (no imports, no module resolution: it works from the
 * sources, the built package, a bundle, a `blob:` URL): adler32 in plain JavaScript, md5 through
 * the runtime's crypto module where the worker has one (Node, Deno, Bun: OpenSSL-class speed) and otherwise in
 * plain JavaScript. Node, Deno and Bun get the pool from `workerHashing()` in `dlaas/node`
 * (worker threads); browsers and Deno from `webWorkerHashing()` (`globalThis.Worker`).
 *
 * @module
 */
import { MD5_S, MD5_T } from '../rucio/md5.js';
import { DlaasError, ErrorCode, InvalidArgumentError } from '../core/errors.js';
import type { Checksums } from './checksum.js';
import { mainThreadHashing, type HashJob, type Hashing, type HashKinds } from './hashing.js';

/** Options of the worker hashing pools (`workerHashing()` in `dlaas/node`, `webWorkerHashing()`). */
export interface WorkerHashingOptions {
  /** Number of workers (default: hardware concurrency − 1, at least 1, at most 2). Started on first use. */
  workers?: number | undefined;
  /**
   * Bytes a job may have queued for its worker (copied, not yet hashed) before
   * the job's `update` returns a promise to wait on (default 8 MiB).
   */
  maxQueuedBytes?: number | undefined;
}

/** A hashing job (`HashJob`) of a worker pool. */
export interface WorkerHashJob extends HashJob {
  /** Bytes fed but not hashed yet (the queue that {@link WorkerHashingOptions.maxQueuedBytes} bounds). */
  readonly queuedBytes: number;
  /** `false` when no worker could be started and the job runs on the calling thread. */
  readonly inWorker: boolean;
}

/**
 * A pool of hashing workers. Those of `workerHashing()` (`dlaas/node`) never keep a process alive
 * while idle.
 */
export interface WorkerHashing extends Hashing {
  /**
   * Start a job, in a worker; on the calling thread (`mainThreadHashing`) when no worker can
   * be started.
   */
  start(kinds?: HashKinds): Promise<WorkerHashJob>;
  /**
   * Stop the workers. Running jobs fail; a later {@link WorkerHashing.start} starts new workers.
   * Not needed before a process exits.
   */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// The protocol between the pool and a worker (structured-clone messages; `buf` is transferred).

/** @internal */
export type ToHashWorker =
  | { t: 'start'; id: number; md5: boolean }
  | { t: 'data'; id: number; buf: ArrayBuffer; len: number }
  | { t: 'end'; id: number }
  | { t: 'drop'; id: number };

/** @internal */
export type FromHashWorker =
  | { t: 'ack'; id: number; buf: ArrayBuffer; len: number }
  | { t: 'done'; id: number; bytes: number; adler32: string; md5?: string }
  | { t: 'error'; id: number; message: string };

/** @internal One worker as the pool sees it; the host-specific part. */
export interface HashThread {
  post(message: ToHashWorker, transfer?: ArrayBuffer[]): void;
  /** Keep the host process alive (a result is awaited). */
  ref(): void;
  /** Let the host process exit (nothing is awaited). */
  unref(): void;
  terminate(): Promise<unknown> | void;
}

/** @internal What a {@link HashThread} reports. `died` may be called more than once. */
export interface HashThreadEvents {
  message(message: FromHashWorker): void;
  died(cause: unknown): void;
}

/** @internal Starts one worker running {@link hashWorkerSource}. May throw. */
export type SpawnHashThread = (events: HashThreadEvents) => HashThread;

// ---------------------------------------------------------------------------------------------
// The worker script.

// md5 (RFC 1321 §3.4): the constants and per-round rotations of the Rucio client's md5.


/** The 64 md5 steps, unrolled (constants and message-word indices inline). */
function md5Steps(): string {
  let [a, b, c, d] = ['a', 'b', 'c', 'd'];
  let out = '';
  for (let j = 0; j < 64; j++) {
    const round = j >> 4;
    const [f, g] =
      round === 0
        ? [`(${b} & ${c}) | (~${b} & ${d})`, j]
        : round === 1
          ? [`(${d} & ${b}) | (~${d} & ${c})`, (5 * j + 1) & 15]
          : round === 2
            ? [`${b} ^ ${c} ^ ${d}`, (3 * j + 5) & 15]
            : [`${c} ^ (${b} | ~${d})`, (7 * j) & 15];
    const s = MD5_S[round * 4 + (j & 3)]!;
    out += `${a} = (${a} + (${f}) + x${g} + ${MD5_T[j]! | 0}) | 0; ${a} = (((${a} << ${s}) | (${a} >>> ${32 - s})) + ${b}) | 0;\n`;
    [a, b, c, d] = [d, a, b, c];
  }
  return out;
}

// The hashing and message handling, the same in every host. Plain ES2020, strict, no imports.
function workerCore(): string {
  const loads = Array.from({ length: 16 }, (_, k) => `const x${k} = v.getInt32(o + ${k * 4}, true);`).join(' ');
  const adlerWords = Array.from(
    { length: 16 },
    (_, k) => `v = w[k + ${k}]; slo = (slo + (v & 0xff00ff)) | 0; shi = (shi + ((v >>> 8) & 0xff00ff)) | 0; plo = (plo + slo) | 0; phi = (phi + shi) | 0;`,
  ).join('\n        ');
  return `
const LITTLE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

// adler32 (RFC 1950). Aligned data goes 64 bytes at a time, four bytes per load split into two
// 16-bit lanes (bytes 0 and 2, bytes 1 and 3): s = the lane sums, p = the sums of the running lane
// sums = sum of (16 - word) * byte per lane. Over the 64 bytes, a += sum of bytes and
// b += 64a + sum of (64 - j) * byte j = 64a + 4 * sum(p) - (s1 + 2 s2 + 3 s3). Lanes stay below 2^16,
// a and b below 2^31 for 16 blocks between reductions.
function adler32(j, d) {
  let a = j.a, b = j.b, i = 0;
  const n = d.length;
  if (LITTLE && (d.byteOffset & 3) === 0) {
    const blocks = n >>> 6;
    const w = new Uint32Array(d.buffer, d.byteOffset, blocks * 16);
    let k = 0;
    for (let blk = 0; blk < blocks; ) {
      const stop = Math.min(blocks, blk + 16);
      for (; blk < stop; blk++, k += 16) {
        let v, slo = 0, shi = 0, plo = 0, phi = 0;
        ${adlerWords}
        b += 64 * a + 4 * ((plo & 0xffff) + (plo >>> 16) + (phi & 0xffff) + (phi >>> 16)) - ((shi & 0xffff) + 2 * (slo >>> 16) + 3 * (shi >>> 16));
        a += (slo & 0xffff) + (slo >>> 16) + (shi & 0xffff) + (shi >>> 16);
      }
      a %= 65521; b %= 65521;
    }
    i = blocks * 64;
  }
  while (i < n) {
    const end = Math.min(n, i + 3800);
    for (; i < end; i++) { a += d[i]; b += a; }
    a %= 65521; b %= 65521;
  }
  j.a = a; j.b = b;
}

function md5Blocks(st, v, o, end) {
  let a = st[0], b = st[1], c = st[2], d = st[3];
  for (; o < end; o += 64) {
    ${loads}
    const a0 = a, b0 = b, c0 = c, d0 = d;
    ${md5Steps()}
    a = (a + a0) | 0; b = (b + b0) | 0; c = (c + c0) | 0; d = (d + d0) | 0;
  }
  st[0] = a; st[1] = b; st[2] = c; st[3] = d;
}

function jsMd5() {
  const st = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
  const tail = new Uint8Array(128);
  const tailView = new DataView(tail.buffer);
  let tl = 0, total = 0;
  return {
    update(d) {
      const n = d.length;
      let off = 0;
      total += n;
      if (tl > 0) {
        off = Math.min(64 - tl, n);
        tail.set(d.subarray(0, off), tl);
        tl += off;
        if (tl < 64) return;
        md5Blocks(st, tailView, 0, 64);
        tl = 0;
      }
      const full = (n - off) & ~63;
      if (full > 0) md5Blocks(st, new DataView(d.buffer, d.byteOffset + off, full), 0, full);
      off += full;
      if (off < n) { tail.set(d.subarray(off), 0); tl = n - off; }
    },
    digest() {
      const len = tl < 56 ? 64 : 128;
      tail.fill(0, tl);
      tail[tl] = 0x80;
      tailView.setUint32(len - 8, (total * 8) >>> 0, true);
      tailView.setUint32(len - 4, Math.floor(total / 0x20000000) >>> 0, true);
      md5Blocks(st, tailView, 0, len);
      let hex = '';
      for (let k = 0; k < 16; k++) hex += ((st[k >> 2] >>> ((k & 3) * 8)) & 255).toString(16).padStart(2, '0');
      return hex;
    },
  };
}

function newMd5() {
  if (nodeCrypto) {
    const h = nodeCrypto.createHash('md5');
    return { update: (d) => { h.update(d); }, digest: () => h.digest('hex') };
  }
  return jsMd5();
}

const jobs = new Map();
function onMessage(m) {
  const j = jobs.get(m.id);
  try {
    if (m.t === 'start') jobs.set(m.id, { a: 1, b: 0, bytes: 0, md5: m.md5 ? newMd5() : null });
    else if (m.t === 'data') {
      if (j) {
        const d = new Uint8Array(m.buf, 0, m.len);
        adler32(j, d);
        if (j.md5) j.md5.update(d);
        j.bytes += m.len;
      }
      post({ t: 'ack', id: m.id, buf: m.buf, len: m.len }, [m.buf]);
    } else if (m.t === 'end') {
      jobs.delete(m.id);
      if (!j) throw new Error('unknown job');
      const out = { t: 'done', id: m.id, bytes: j.bytes, adler32: (((j.b << 16) | j.a) >>> 0).toString(16).padStart(8, '0') };
      if (j.md5) out.md5 = j.md5.digest();
      post(out);
    } else if (m.t === 'drop') jobs.delete(m.id);
  } catch (e) {
    jobs.delete(m.id);
    post({ t: 'error', id: m.id, message: String((e && e.message) || e) });
  }
}
`;
}

/** The Web Worker's preamble: messages through `globalThis`, md5 in JavaScript. */
const WEB_PREAMBLE = `'use strict';
const post = (m, transfer) => globalThis.postMessage(m, transfer || []);
const nodeCrypto = null;
globalThis.onmessage = (e) => onMessage(e.data);
`;

let webSource: string | undefined;

/**
 * @internal The worker script: a host `preamble` (it defines `post(message, transfer)`, `nodeCrypto`
 * — a `crypto` module with md5, or `null` — and routes messages to `onMessage`), then the hashing
 * code. Without a preamble: the Web Worker's (classic or module worker, md5 in JavaScript). The
 * `node:worker_threads` preamble lives in `dlaas/node`, so no Node built-in is named here.
 */
export function hashWorkerSource(preamble?: string): string {
  if (preamble !== undefined) return preamble + workerCore();
  return (webSource ??= WEB_PREAMBLE + workerCore());
}

// ---------------------------------------------------------------------------------------------
// The pool.

const MiB = 1024 * 1024;

class Slot {
  readonly jobs = new Map<number, PooledJob>();
  dead = false;
  #holds = 0;
  thread!: HashThread;

  hold(): void {
    if (this.#holds++ === 0 && !this.dead) this.thread.ref();
  }

  release(): void {
    if (--this.#holds === 0 && !this.dead) this.thread.unref();
  }
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

class Pool implements WorkerHashing {
  readonly batchBytes: number;
  readonly maxQueuedBytes: number;
  readonly #size: number;
  readonly #spawn: SpawnHashThread;
  #slots: Slot[] = [];
  #free: ArrayBuffer[] = [];
  #nextId = 1;
  readonly #maxFree: number;

  constructor(spawn: SpawnHashThread, size: number, maxQueuedBytes: number) {
    this.#spawn = spawn;
    this.#size = size;
    this.maxQueuedBytes = maxQueuedBytes;
    this.batchBytes = Math.min(MiB, Math.max(64 * 1024, Math.floor(maxQueuedBytes / 4)));
    // Enough kept for one job's full queue; more are allocated (and dropped) as needed.
    this.#maxFree = Math.min(16, Math.ceil(maxQueuedBytes / this.batchBytes) + 2);
  }

  async start(kinds: HashKinds = {}): Promise<WorkerHashJob> {
    const slot = this.#pick();
    if (!slot) return callingThreadJob(kinds);
    const id = this.#nextId++;
    const job = new PooledJob(this, slot, id);
    slot.jobs.set(id, job);
    try {
      slot.thread.post({ t: 'start', id, md5: !!kinds.md5 });
    } catch (e) {
      this.died(slot, e);
      return callingThreadJob(kinds);
    }
    return job;
  }

  async close(): Promise<void> {
    const slots = this.#slots;
    this.#slots = [];
    this.#free = [];
    await Promise.allSettled(slots.map((slot) => this.died(slot, new Error('the hashing pool was closed'))));
  }

  /** The live worker with the fewest jobs, or a new one while the pool is not full; none if no worker can start. */
  #pick(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.#slots) if (!best || s.jobs.size < best.jobs.size) best = s;
    if (best && (best.jobs.size === 0 || this.#slots.length >= this.#size)) return best;
    const slot = new Slot();
    try {
      slot.thread = this.#spawn({ message: (m) => this.#onMessage(slot, m), died: (cause) => this.died(slot, cause) });
    } catch {
      // No worker here (no permission to start one, a Content-Security-Policy, ...).
      return best;
    }
    this.#slots.push(slot);
    return slot;
  }

  #onMessage(slot: Slot, m: FromHashWorker): void {
    const job = slot.jobs.get(m.id);
    if (m.t === 'ack') {
      this.giveBack(m.buf);
      job?.acked(m.len);
    } else if (m.t === 'done') {
      job?.done(m);
    } else if (m.t === 'error') {
      job?.fail(new DlaasError(`hashing failed in the worker: ${m.message}`, {}, ErrorCode.stream));
    }
  }

  /** A worker is gone (crash, exit, `close()`): its jobs fail; the next start() replaces it. */
  died(slot: Slot, cause: unknown): Promise<unknown> | undefined {
    if (slot.dead) return undefined;
    slot.dead = true;
    this.#slots = this.#slots.filter((s) => s !== slot);
    const why = cause instanceof Error ? cause.message : String(cause);
    const error = new DlaasError(`the hashing worker stopped: ${why}`, { cause }, ErrorCode.stream);
    for (const job of [...slot.jobs.values()]) job.fail(error);
    slot.jobs.clear();
    try {
      return Promise.resolve(slot.thread.terminate()).catch(() => {});
    } catch {
      return undefined; // Already gone.
    }
  }

  takeBuffer(): Uint8Array {
    return new Uint8Array(this.#free.pop() ?? new ArrayBuffer(this.batchBytes));
  }

  giveBack(buf: ArrayBuffer): void {
    if (buf.byteLength === this.batchBytes && this.#free.length < this.#maxFree) this.#free.push(buf);
  }
}

/** A job on the calling thread, where no worker can start. */
async function callingThreadJob(kinds: HashKinds): Promise<WorkerHashJob> {
  const job = await mainThreadHashing.start(kinds);
  return {
    update: (chunk) => job.update(chunk),
    digest: () => job.digest(),
    dispose: () => job.dispose(),
    queuedBytes: 0,
    inWorker: false,
  };
}

class PooledJob implements WorkerHashJob {
  readonly #pool: Pool;
  readonly #slot: Slot;
  readonly #id: number;
  #batch: Uint8Array | undefined;
  #fill = 0;
  #queued = 0;
  #bytes = 0;
  #open = true;
  #error: DlaasError | undefined;
  #drain: Deferred<void> | undefined;
  #result: Deferred<Checksums> | undefined;

  constructor(pool: Pool, slot: Slot, id: number) {
    this.#pool = pool;
    this.#slot = slot;
    this.#id = id;
  }

  get queuedBytes(): number {
    return this.#queued;
  }

  get inWorker(): boolean {
    return true;
  }

  update(chunk: Uint8Array): void | Promise<void> {
    if (!this.#open) throw this.#error ?? new DlaasError('hash job used after digest() or dispose()');
    const n = chunk.byteLength;
    let off = 0;
    while (off < n) {
      const batch = (this.#batch ??= this.#pool.takeBuffer());
      const take = Math.min(n - off, batch.byteLength - this.#fill);
      batch.set(take === n ? chunk : chunk.subarray(off, off + take), this.#fill);
      this.#fill += take;
      off += take;
      if (this.#fill === batch.byteLength) this.#flush();
      if (!this.#open) throw this.#error!;
    }
    this.#bytes += n;
    this.#queued += n;
    if (this.#queued <= this.#pool.maxQueuedBytes) return;
    // Full: whatever is batched goes now (the acknowledgements that release the producer need it).
    this.#flush();
    if (!this.#open) throw this.#error!;
    if (!this.#drain) {
      this.#drain = deferred();
      this.#slot.hold();
    }
    return this.#drain.promise;
  }

  digest(): Promise<Checksums> {
    if (!this.#open) return Promise.reject(this.#error ?? new DlaasError('hash job digested twice or disposed'));
    this.#flush();
    this.#post({ t: 'end', id: this.#id });
    if (!this.#open) return Promise.reject(this.#error!);
    this.#open = false;
    this.#error = new DlaasError('hash job used after digest()');
    this.#result = deferred();
    this.#slot.hold();
    return this.#result.promise;
  }

  dispose(): void {
    if (this.#slot.jobs.get(this.#id) !== this) return;
    this.#post({ t: 'drop', id: this.#id });
    this.#end(new DlaasError('hash job disposed', {}, ErrorCode.aborted));
  }

  acked(len: number): void {
    this.#queued -= len;
    if (this.#drain && this.#queued <= this.#pool.maxQueuedBytes / 2) this.#releaseDrain();
  }

  done(m: { bytes: number; adler32: string; md5?: string }): void {
    if (m.bytes !== this.#bytes) {
      this.fail(new DlaasError(`the hashing worker saw ${m.bytes} bytes, ${this.#bytes} were fed`, {}, ErrorCode.stream));
      return;
    }
    const result = this.#result;
    this.#end(undefined);
    result?.resolve(m.md5 === undefined ? { bytes: m.bytes, adler32: m.adler32 } : { bytes: m.bytes, adler32: m.adler32, md5: m.md5 });
  }

  fail(error: DlaasError): void {
    if (this.#slot.jobs.get(this.#id) !== this) return;
    this.#end(error);
  }

  /** Leave the pool: the batch buffer back, the producer and the digest released. */
  #end(error: DlaasError | undefined): void {
    this.#slot.jobs.delete(this.#id);
    this.#open = false;
    if (error) this.#error = error;
    if (this.#batch) this.#pool.giveBack(this.#batch.buffer as ArrayBuffer);
    this.#batch = undefined;
    this.#fill = 0;
    // A waiting producer goes on; its next update() throws the error.
    if (this.#drain) this.#releaseDrain();
    const result = this.#result;
    this.#result = undefined;
    if (result) {
      this.#slot.release();
      if (error) result.reject(error);
    }
  }

  #releaseDrain(): void {
    const drain = this.#drain!;
    this.#drain = undefined;
    this.#slot.release();
    drain.resolve();
  }

  #flush(): void {
    const batch = this.#batch;
    if (!batch || this.#fill === 0) return;
    const buf = batch.buffer as ArrayBuffer;
    this.#batch = undefined;
    this.#post({ t: 'data', id: this.#id, buf, len: this.#fill }, [buf]);
    this.#fill = 0;
  }

  #post(message: ToHashWorker, transfer?: ArrayBuffer[]): void {
    if (this.#slot.dead) return;
    try {
      this.#slot.thread.post(message, transfer);
    } catch (e) {
      this.#pool.died(this.#slot, e);
    }
  }
}

/**
 * @internal A worker hashing pool over a host's workers (`spawn`); `defaultWorkers` when
 * `options.workers` is not given.
 */
export function createWorkerHashing(spawn: SpawnHashThread, options: WorkerHashingOptions, defaultWorkers: number): WorkerHashing {
  const workers = options.workers ?? defaultWorkers;
  if (!Number.isInteger(workers) || workers < 1) throw new InvalidArgumentError('workers', `workers must be a positive integer, not ${String(workers)}`);
  const maxQueuedBytes = options.maxQueuedBytes ?? 8 * MiB;
  if (!(maxQueuedBytes > 0)) throw new InvalidArgumentError('maxQueuedBytes', `maxQueuedBytes must be positive, not ${String(maxQueuedBytes)}`);
  return new Pool(spawn, workers, maxQueuedBytes);
}

// ---------------------------------------------------------------------------------------------
// Web Workers (browsers, Deno, Bun).

let webScriptUrl: string | undefined;

function spawnWebThread(events: HashThreadEvents): HashThread {
  webScriptUrl ??= URL.createObjectURL(new Blob([hashWorkerSource()], { type: 'text/javascript' }));
  const worker = new Worker(webScriptUrl, { type: 'module', name: 'dlaas-hashing' });
  worker.onmessage = (e: MessageEvent<FromHashWorker>) => events.message(e.data);
  worker.onerror = (e: ErrorEvent) => {
    e.preventDefault();
    events.died(new Error(e.message || 'the worker failed (blocked by a Content-Security-Policy?)'));
  };
  worker.onmessageerror = () => events.died(new Error('a message from the worker could not be read'));
  return {
    post: (message, transfer) => worker.postMessage(message, transfer ?? []),
    ref: () => {},
    unref: () => {},
    terminate: () => worker.terminate(),
  };
}

const PROBE_TIMEOUT_MS = 10_000;

/** Whether a first worker answers (a blocked `blob:` worker fails asynchronously, not in `new Worker`). */
async function answers(pool: WorkerHashing): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const job = await pool.start();
    if (!job.inWorker) {
      job.dispose();
      return false;
    }
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), PROBE_TIMEOUT_MS);
    });
    const sums = await Promise.race([job.digest(), timeout]);
    return sums?.adler32 === '00000001';
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Hashing in Web Workers (browsers, Deno, Bun) started from a `blob:` script, so checksums are
 * computed while the calling thread moves bytes. Where no worker can run — no `Worker` (MV3
 * service workers), or a Content-Security-Policy refusing `blob:` workers — every job runs on the
 * calling thread (`mainThreadHashing`); the first `start` finds out.
 *
 * In the workers adler32 and md5 are plain JavaScript (no WebAssembly, which strict CSPs refuse).
 * In Deno, a Web Worker keeps the process alive until {@link WorkerHashing.close}; Node, Deno and
 * Bun have `workerHashing()` from `dlaas/node`, whose idle workers never do.
 *
 * @example
 * ```ts
 * const hashing = webWorkerHashing();
 * const job = await hashing.start({ md5: true });
 * await job.update(bytes);
 * const { adler32, md5 } = await job.digest();
 * ```
 */
export function webWorkerHashing(options: WorkerHashingOptions = {}): WorkerHashing {
  const pool = createWorkerHashing(spawnWebThread, options, Math.min(2, Math.max(1, (globalThis.navigator?.hardwareConcurrency ?? 2) - 1)));
  let usable: Promise<boolean> | undefined;
  const probe = async () => {
    const ok = typeof globalThis.Worker === 'function' && typeof URL.createObjectURL === 'function' && (await answers(pool));
    if (!ok) await pool.close();
    return ok;
  };
  return {
    async start(kinds: HashKinds = {}): Promise<WorkerHashJob> {
      return (await (usable ??= probe())) ? pool.start(kinds) : callingThreadJob(kinds);
    },
    close: () => pool.close(),
  };
}

let pageHashing: WorkerHashing | undefined;

/**
 * @internal The hashing staging uses when none is configured: Web Workers in a page (a document and
 * `Worker` are there; the first job finds out whether the page's CSP lets them run), the calling
 * thread elsewhere (MV3 service workers have no `Worker`; Deno and Bun get worker threads from
 * `dlaas/node`, whose Web Workers would keep the process alive).
 */
export function defaultHashing(): Hashing {
  const g = globalThis as { document?: unknown; Worker?: unknown };
  if (g.document === undefined || typeof g.Worker !== 'function') return mainThreadHashing;
  return (pageHashing ??= webWorkerHashing());
}

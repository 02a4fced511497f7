/**
 * @internal Verified download of one file: try each source in order (each up to `attemptsPerSource`
 * times), in one or several parallel `Range` streams written at their offsets, hash while streaming
 * (each stream its own adler32, combined at the end), resume an interrupted transfer where its
 * bytes stopped, verify size and checksums, and only then publish through the sink.
 *
 * Cancellation is tied to every body reader: an abort stops the transfer at once, keeps the
 * partial state for a resume, and publishes nothing.
 * @module
 */
import type { Did } from '../core/did.js';
import { AbortError, ConnectionError, DlaasError, ErrorCode, ForbiddenError, NotFoundError, TimeoutError, UnauthenticatedError } from '../core/errors.js';
import { combineAdler32, sameAdler32, type Checksums } from './checksum.js';
import { mainThreadHashing, type HashJob, type Hashing } from './hashing.js';
import { abortReason } from './http.js';
import type { DownloadSink, ExpectedFile, PartialState, Segment, SinkFile, StagedLocation } from './sinks.js';
import { displayUrl, pfnToHttpUrl, type StorageBody, type StorageClient } from './storage.js';
import type { CorruptReplica, FileManifest } from './types.js';

/** One file to download. */
export interface DownloadTask {
  did: Did | undefined;
  url?: string;
  /** Catalogue values (`null` when unknown, e.g. a plain URL). */
  bytes: number | null;
  adler32: string | null;
  md5: string | null;
  /** PFNs or URLs to try, best first. */
  sources: string[];
  /** Path under the sink. */
  relPath: string;
  /** The RSE of each source PFN (DIDs), to name a corrupt replica. */
  sourceRses?: Readonly<Record<string, string>>;
}

/** A checksum the download can verify. */
export type VerifyCheck = 'adler32' | 'md5';

/** Context shared by all downloads of one staging run. */
export interface DownloadContext {
  storage: StorageClient;
  sink: DownloadSink;
  signal: AbortSignal | undefined;
  attemptsPerSource: number;
  /** Give up on a response body that delivers nothing for this long (ms); the next try resumes. */
  stallTimeout: number;
  /** Parallel `Range` streams for one large file (1: one stream). */
  streams: number;
  /** A file is split only into segments of at least this many bytes. */
  segmentSize: number;
  /** Checks to make (`undefined`: adler32 when the catalogue has it, else md5). */
  verify: readonly VerifyCheck[] | undefined;
  hashing: Hashing;
  /** The file now holds `bytes`, `chunk` of which just arrived (called per chunk; the caller throttles). */
  onBytes: (task: DownloadTask, bytes: number, chunk: number) => void;
}

/**
 * Downloaded bytes do not match the catalogue (size, adler32 or md5); `check` says which.
 *
 * @example
 * ```ts
 * const r = await lake.staging.stage(['user.jdoe:obs1'], { mode: 'download' });
 * for (const f of r.files) if (f.error instanceof ChecksumMismatchError) console.log(f.did, f.error.check);
 * ```
 */
export class ChecksumMismatchError extends DlaasError {
  /** Which check failed. */
  readonly check: 'size' | 'adler32' | 'md5';
  constructor(check: 'size' | 'adler32' | 'md5', expected: string | number, got: string | number, source: string) {
    super(`${check} mismatch from ${displayUrl(source)}: expected ${expected}, got ${got}`, {}, ErrorCode.checksumMismatch);
    this.check = check;
  }
}

/** The partial data cannot be continued from: start the file again (`single`: in one stream, the server ignores ranges). */
class RestartTransfer extends DlaasError {
  constructor(
    message: string,
    readonly single = false,
  ) {
    super(message, {}, ErrorCode.stream);
  }
}

/** Writing to the local destination failed: not the source's fault, and not worth another try. */
class SinkWriteError extends DlaasError {
  constructor(relPath: string, cause: unknown) {
    super(`writing ${relPath} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause }, ErrorCode.stream);
  }
}


function asDlaasError(e: unknown): DlaasError {
  return e instanceof DlaasError ? e : new DlaasError(e instanceof Error ? e.message : String(e), { cause: e });
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('staging was aborted', { cause: signal.reason });
}

/** Which checksums to compute and compare for a task. adler32 is always computed (cheap, combinable). */
interface Checks {
  adler32: boolean;
  md5: boolean;
}

/**
 * What Rucio verifies: adler32 when the catalogue has it; md5 only when adler32 is absent or the
 * caller asks for it (`verify: ['adler32', 'md5']`).
 */
export function checksFor(task: Pick<DownloadTask, 'adler32' | 'md5'>, verify: readonly VerifyCheck[] | undefined): Checks {
  if (!verify) return { adler32: !!task.adler32, md5: !task.adler32 && !!task.md5 };
  return { adler32: verify.includes('adler32') && !!task.adler32, md5: verify.includes('md5') && !!task.md5 };
}

/** Compare checksums with the catalogue; returns the checks that passed, throws on the first mismatch. */
function verify(task: DownloadTask, got: Checksums, source: string, checks: Checks): FileManifest['verified'] {
  const verified: FileManifest['verified'] = [];
  if (task.bytes !== null) {
    if (got.bytes !== task.bytes) throw new ChecksumMismatchError('size', task.bytes, got.bytes, source);
    verified.push('size');
  }
  if (checks.adler32 && task.adler32) {
    if (!sameAdler32(got.adler32, task.adler32)) throw new ChecksumMismatchError('adler32', task.adler32, got.adler32, source);
    verified.push('adler32');
  }
  if (checks.md5 && task.md5) {
    if (got.md5 !== task.md5.toLowerCase()) throw new ChecksumMismatchError('md5', task.md5, got.md5 ?? '', source);
    verified.push('md5');
  }
  return verified;
}

/** The manifest of a task; checksums are the catalogue's, else those computed from the bytes (URL sources). */
function manifest(task: DownloadTask, fields: Omit<FileManifest, 'did' | 'url' | 'bytes' | 'adler32' | 'md5'>, sums?: Checksums): FileManifest {
  const location = fields.location;
  return {
    did: task.did,
    ...(task.url ? { url: task.url } : {}),
    ...fields,
    ...(location?.kind === 'path' ? { localPath: location.path } : {}),
    bytes: task.bytes ?? sums?.bytes ?? null,
    adler32: task.adler32 ?? sums?.adler32 ?? null,
    md5: task.md5 ?? sums?.md5 ?? null,
  };
}

/** Feed an async sequence of chunks into a job, checking `signal` between chunks. */
async function hashAll(job: HashJob, chunks: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined): Promise<void> {
  for await (const chunk of chunks) {
    throwIfAborted(signal);
    const wait = job.update(chunk);
    if (wait) await wait;
  }
}

async function* chunksOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** An already published copy that matches the catalogue (size and the checksums to verify), if there is one. */
async function verifyExisting(task: DownloadTask, ctx: DownloadContext, checks: Checks): Promise<FileManifest | undefined> {
  if (task.bytes === null || !(checks.adler32 || checks.md5)) return undefined;
  const existing = await ctx.sink.existing(task.relPath);
  if (!existing || existing.bytes !== task.bytes) return undefined;
  const job = await hashingFor(ctx, task.bytes).start({ md5: checks.md5 });
  let sums: Checksums;
  try {
    await hashAll(job, chunksOf(existing.read()), ctx.signal);
    sums = await job.digest();
  } catch (e) {
    job.dispose();
    if (e instanceof AbortError) throw e;
    return undefined;
  }
  try {
    return manifest(task, { status: 'OK', location: existing.location, verified: verify(task, sums, task.relPath, checks), skipped: true, attempts: 0 }, sums);
  } catch {
    return undefined;
  }
}

/** Below this size a file is hashed on the calling thread: a worker's round trips cost more than the hashing. */
const INLINE_HASH_BELOW = 8 << 20;

/** Where to hash `bytes` (unknown: the configured hashing). */
function hashingFor(ctx: DownloadContext, bytes: number | null): Hashing {
  return bytes !== null && bytes < INLINE_HASH_BELOW ? mainThreadHashing : ctx.hashing;
}

/** Bytes of pending writes per stream before the reader waits for the disk. */
const WRITE_WINDOW = 4 << 20;
/** Bytes gathered into one write, where the sink takes several chunks at once. */
const WRITE_BATCH = 1 << 20;
/** Record resumable state after about this many new bytes. */
const CHECKPOINT_EVERY = 64 << 20;

/** One segment being downloaded: its range, what was received and hashed, and what is written. */
interface Part {
  seg: Segment;
  job: HashJob;
  /** Bytes received (and hashed) from `seg.start`; `seg.done` counts those written. */
  received: number;
}

/** The partial file of one download: its segments, kept in step with the sink's slot. */
class Slot {
  parts: Part[] = [];
  /** Some bytes came from elsewhere than the current source (an earlier run, or another replica). */
  mixed = false;
  source: string | undefined;
  #sinceCheckpoint = 0;
  #checkpointing: Promise<void> | undefined;

  constructor(
    readonly file: SinkFile,
    readonly task: DownloadTask,
    readonly ctx: DownloadContext,
    readonly checks: Checks,
  ) {}

  get received(): number {
    return this.parts.reduce((n, p) => n + p.received, 0);
  }

  state(): PartialState {
    return { segments: this.parts.map((p) => ({ ...p.seg })) };
  }

  /** Lay out the segments: the resumable state of an earlier run, else a fresh split. Resumed bytes are re-hashed. */
  async init(): Promise<void> {
    const { file, ctx } = this;
    const resume = file.resume && (file.resume.segments.length === 1 || !this.checks.md5) ? file.resume.segments : undefined;
    if (file.resume && !resume) await file.reset();
    const segments = resume ?? this.#split();
    for (const seg of segments) {
      const job = await hashingFor(ctx, seg.end - seg.start).start({ md5: this.checks.md5 });
      this.parts.push({ seg: { ...seg }, job, received: seg.done });
      if (seg.done > 0) {
        this.mixed = true;
        await hashAll(job, file.readRange(seg.start, seg.start + seg.done), ctx.signal);
      }
    }
  }

  #split(single = false): Segment[] {
    const { task, ctx, file } = this;
    const bytes = task.bytes;
    if (bytes === null) return [{ start: 0, end: Number.POSITIVE_INFINITY, done: 0 }];
    const n = single || !file.positional || this.checks.md5 ? 1 : Math.max(1, Math.min(ctx.streams, Math.floor(bytes / ctx.segmentSize)));
    const size = Math.ceil(bytes / n / 65536) * 65536;
    const out: Segment[] = [];
    for (let start = 0; start < bytes || out.length === 0; start += size) out.push({ start, end: Math.min(bytes, start + size), done: 0 });
    return out;
  }

  /** Drop every byte: the next transfer starts at 0 (`single`: in one stream). */
  async restart(single = false): Promise<void> {
    this.dispose();
    await this.file.reset();
    this.mixed = false;
    this.source = undefined;
    for (const seg of this.#split(single)) this.parts.push({ seg, job: await hashingFor(this.ctx, seg.end - seg.start).start({ md5: this.checks.md5 }), received: 0 });
  }

  /** The checksums of the whole file (segments' adler32 combined). Consumes the hash jobs. */
  async digest(): Promise<Checksums> {
    let out: Checksums | undefined;
    for (const p of this.parts) {
      const d = await p.job.digest();
      out = out === undefined ? d : { bytes: out.bytes + d.bytes, adler32: combineAdler32(out.adler32, d.adler32, d.bytes) };
    }
    this.parts = [];
    return out as Checksums;
  }

  dispose(): void {
    for (const p of this.parts) p.job.dispose();
    this.parts = [];
  }

  /** Note written bytes; now and then record the state so a run that dies can resume. */
  wrote(n: number): void {
    this.#sinceCheckpoint += n;
    if (this.#sinceCheckpoint < CHECKPOINT_EVERY || this.#checkpointing || this.task.bytes === null) return;
    this.#sinceCheckpoint = 0;
    this.#checkpointing = this.file
      .checkpoint(this.state())
      .catch(() => {})
      .finally(() => (this.#checkpointing = undefined));
  }

  async settled(): Promise<void> {
    await this.#checkpointing;
  }

  /** Stop writing; keep the partial bytes and their state when any were written. */
  async close(keep: boolean): Promise<void> {
    await this.settled();
    const state = this.task.bytes !== null && this.parts.some((p) => p.seg.done > 0) ? this.state() : undefined;
    this.dispose();
    await this.file.close({ keep: keep ? state : undefined });
  }
}

/** A source that refused or does not have the file: trying it again is pointless. */
function permanent(e: unknown): boolean {
  return e instanceof ForbiddenError || e instanceof UnauthenticatedError || e instanceof NotFoundError;
}

/** The error of a round of parallel streams: an abort first, then a sink failure, a restart, a mismatch, then any. */
function firstError(results: PromiseSettledResult<void>[]): unknown {
  const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
  return (
    errors.find((e) => e instanceof AbortError) ??
    errors.find((e) => e instanceof SinkWriteError) ??
    errors.find((e) => e instanceof RestartTransfer) ??
    errors.find((e) => e instanceof ChecksumMismatchError) ??
    errors.find((e) => !permanent(e)) ??
    errors[0]
  );
}

/**
 * Download one file. Never throws for a failed file (the manifest says why), except on abort, where
 * partial data is kept for a later resume and an {@link AbortError} is thrown. Nothing is published
 * before size and checksums are verified.
 */
export async function downloadFile(task: DownloadTask, ctx: DownloadContext): Promise<FileManifest> {
  if (task.sources.length === 0) {
    return manifest(task, { status: 'NOT_AVAILABLE', verified: [], attempts: 0, error: new DlaasError(`no available replica of ${task.relPath} that can be read over https/davs`, {}, ErrorCode.notFound) });
  }
  const checks = checksFor(task, ctx.verify);
  const expected: ExpectedFile = { id: task.did ? `${task.did.scope}:${task.did.name}` : (task.url ?? task.relPath), bytes: task.bytes, adler32: task.adler32, md5: task.md5 };
  let file: SinkFile;
  try {
    file = await ctx.sink.open(task.relPath, { expected, signal: ctx.signal });
  } catch (e) {
    if (e instanceof AbortError || ctx.signal?.aborted) throw e instanceof AbortError ? e : abortReason(ctx.signal as AbortSignal);
    return manifest(task, { status: 'FAILED', verified: [], attempts: 0, error: e instanceof DlaasError ? e : new SinkWriteError(task.relPath, e) });
  }
  const slot = new Slot(file, task, ctx, checks);
  let attempts = 0;
  let lastError: DlaasError | undefined;
  // Sources whose own bytes failed verification: reported even when another source succeeds.
  const corrupt: CorruptReplica[] = [];
  const found = () => (corrupt.length ? { corruptReplicas: corrupt } : {});
  try {
    // Under the file's lock: a verified copy published meanwhile (e.g. by another run) is reused.
    const skipped = await verifyExisting(task, ctx, checks);
    if (skipped) {
      await file.close({ keep: file.resume });
      return skipped;
    }
    await slot.init();
    sources: for (const source of task.sources) {
      for (let tries = 0; tries < ctx.attemptsPerSource; ) {
        throwIfAborted(ctx.signal);
        tries++;
        attempts++;
        let verified: FileManifest['verified'];
        let sums: Checksums;
        try {
          if (slot.received > 0 && slot.source !== source) slot.mixed = true;
          slot.source = source;
          const rounds = await Promise.allSettled(slot.parts.map((p) => transfer(slot, p, source)));
          const error = firstError(rounds);
          if (error !== undefined) throw error;
          sums = await slot.digest();
          verified = verify(task, sums, source, checks);
        } catch (e) {
          if (e instanceof AbortError || ctx.signal?.aborted) throw e instanceof AbortError ? e : abortReason(ctx.signal as AbortSignal);
          lastError = asDlaasError(e);
          if (e instanceof SinkWriteError) break sources;
          if (e instanceof ChecksumMismatchError) {
            // Bytes partly from elsewhere: give this source one clean try before blaming it.
            const blameless = slot.mixed;
            await slot.restart();
            if (!blameless) {
              if (task.did) corrupt.push({ pfn: source, rse: task.sourceRses?.[source], check: e.check, error: e });
              break; // a corrupt replica: on to the next one
            }
            tries--;
            continue;
          }
          if (e instanceof RestartTransfer) await slot.restart(e.single);
          else if (permanent(e)) break;
          // Otherwise (connection, timeout, 5xx) the bytes are kept and the next try resumes with Range.
          continue;
        }
        let location: StagedLocation;
        try {
          await slot.settled();
          location = await file.commit();
        } catch (e) {
          lastError = new SinkWriteError(task.relPath, e);
          break sources;
        }
        return manifest(task, { status: 'OK', sourcePfn: source, location, verified, attempts, ...found() }, sums);
      }
    }
    await slot.close(!(lastError instanceof SinkWriteError));
    return manifest(task, { status: 'FAILED', verified: [], attempts, error: lastError as DlaasError, ...found() });
  } catch (e) {
    await slot.close(true).catch(() => {});
    throw e;
  }
}

/**
 * Stream one segment from `source` into the slot, from where its bytes stopped. Throws on any
 * failure; the bytes written stay counted in `part.seg.done` for the next try.
 */
async function transfer(slot: Slot, part: Part, source: string): Promise<void> {
  const { task, ctx, file } = slot;
  const { seg } = part;
  const from = seg.start + part.received;
  const bytes = task.bytes;
  if (from >= seg.end && !(bytes === 0 && part.received === 0 && slot.parts.length === 1)) return; // every byte is here
  const whole = slot.parts.length === 1 && from === 0;
  // One controller per stream: the caller's abort, or this stream's stall, cancels its body.
  const ac = new AbortController();
  const onAbort = () => ac.abort(ctx.signal?.reason);
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  let stalled = false;
  let last = Date.now();
  const watchdog = setInterval(
    () => {
      if (Date.now() - last < ctx.stallTimeout) return;
      stalled = true;
      ac.abort(new DlaasError('stalled'));
    },
    Math.max(10, Math.min(1000, ctx.stallTimeout / 4)),
  );
  const url = pfnToHttpUrl(source);
  const pending: { p: Promise<void>; n: number }[] = [];
  let pendingBytes = 0;
  let writeError: unknown;
  // Chunks are written in batches of about WRITE_BATCH bytes where the sink can (one system call each).
  const batched = typeof file.writev === 'function';
  let batch: Uint8Array[] = [];
  let batchBytes = 0;
  let written = from;
  const issue = (p: Promise<void>, n: number) => {
    p.catch(() => {});
    pending.push({ p, n });
    pendingBytes += n;
    written += n;
  };
  const flush = () => {
    if (!batchBytes) return;
    issue((file.writev as NonNullable<SinkFile['writev']>)(batch, written), batchBytes);
    batch = [];
    batchBytes = 0;
  };
  const settleOne = async () => {
    const head = pending.shift() as { p: Promise<void>; n: number };
    pendingBytes -= head.n;
    try {
      await head.p;
      seg.done += head.n;
      slot.wrote(head.n);
    } catch (e) {
      writeError ??= e;
    }
  };
  let res: StorageBody | undefined;
  try {
    try {
      // The last segment asks for everything from its start (`bytes=N-`), as a plain resume does.
      res = await ctx.storage.read(source, whole ? undefined : { start: from, ...(bytes !== null && seg.end < bytes ? { end: seg.end } : {}) }, ac.signal);
    } catch (e) {
      // 416: the partial data is longer than the object now is.
      if (from > 0 && (e as { status?: number }).status === 416) throw new RestartTransfer(`${displayUrl(source)} cannot continue at byte ${from}`);
      throw e;
    }
    last = Date.now();
    let at = from;
    if (!whole && res.status !== 206) {
      if (slot.parts.length !== 1 || res.status !== 200) {
        await res.body.cancel();
        throw new RestartTransfer(`${displayUrl(source)} ignored Range (answered ${res.status}): reading in one stream`, true);
      }
      // The server ignored the Range and sends the whole file: start over with this very response.
      await file.reset();
      part.job.dispose();
      part.job = await hashingFor(ctx, seg.end - seg.start).start({ md5: slot.checks.md5 });
      part.received = 0;
      seg.done = 0;
      slot.mixed = false;
      at = 0;
      written = 0;
    } else if (!whole) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('Content-Range') ?? '');
      const total = range?.[3] === '*' ? null : Number(range?.[3]);
      if (!range || Number(range[1]) !== from || (bytes !== null && total !== null && total !== bytes)) {
        await res.body.cancel();
        throw new RestartTransfer(`${displayUrl(source)} answered Range: bytes=${from}- with ${res.headers.get('Content-Range') ?? 'no Content-Range'}`);
      }
    }
    for (;;) {
      const chunk = await res.body.read();
      if (!chunk) break;
      last = Date.now();
      if (at + chunk.byteLength > seg.end) throw new ChecksumMismatchError('size', bytes ?? seg.end, `more than ${bytes ?? seg.end}`, source);
      const wait = part.job.update(chunk);
      if (wait) await wait;
      if (batched) {
        batch.push(chunk);
        batchBytes += chunk.byteLength;
        if (batchBytes >= WRITE_BATCH) flush();
      } else issue(file.write(chunk, at), chunk.byteLength);
      at += chunk.byteLength;
      part.received += chunk.byteLength;
      ctx.onBytes(task, slot.received, chunk.byteLength);
      while (pendingBytes > WRITE_WINDOW) await settleOne();
      if (writeError) throw new SinkWriteError(task.relPath, writeError);
    }
    if (Number.isFinite(seg.end) && at < seg.end) throw new ConnectionError({ service: 'storage', method: 'GET', url }, `storage GET ${displayUrl(source)}: the body ended after ${at - seg.start} of ${seg.end - seg.start} bytes`);
  } catch (e) {
    await res?.body.cancel().catch(() => {});
    if (ctx.signal?.aborted) throw abortReason(ctx.signal);
    if (stalled) throw new TimeoutError({ service: 'storage', method: 'GET', url, timeoutMs: ctx.stallTimeout });
    if (e instanceof DlaasError) throw e;
    throw new ConnectionError({ service: 'storage', method: 'GET', url, cause: e }, `storage GET ${displayUrl(source)}: transfer broke off after ${part.received} bytes`);
  } finally {
    clearInterval(watchdog);
    ctx.signal?.removeEventListener('abort', onAbort);
    // Bytes received (and hashed) are written even after a failure: they are kept for a resume.
    flush();
    while (pending.length) await settleOne();
    // Bytes received but not written (a failed write) are dropped from the hash: restart that part.
    if (part.received !== seg.done) writeError ??= new Error('a write did not complete');
  }
  if (writeError) throw new SinkWriteError(task.relPath, writeError);
}

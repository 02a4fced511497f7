/**
 * @internal Verified download of one file: try each source in order (each up to `attemptsPerSource`
 * times), resume an interrupted transfer with `Range`, hash while streaming, verify size and
 * checksums, and only then publish through the sink.
 * @module
 */
import type { Did } from '../core/did.js';
import { AbortError, ConnectionError, DlaasError, ErrorCode, ForbiddenError, NotFoundError, TimeoutError, UnauthenticatedError } from '../core/errors.js';
import { StreamChecksum, sameAdler32, type Checksums } from './checksum.js';
import type { DownloadSink, SinkFile, StagedLocation } from './sinks.js';
import { displayUrl, pfnToHttpUrl, type StorageClient } from './storage.js';
import type { FileManifest } from './types.js';

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
}

/** Context shared by all downloads of one staging run. */
export interface DownloadContext {
  storage: StorageClient;
  sink: DownloadSink;
  signal: AbortSignal | undefined;
  attemptsPerSource: number;
  /** Give up on a response body that delivers nothing for this long (ms); the next try resumes. */
  stallTimeout: number;
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

/** The partial data cannot be continued from: start the file again. */
class RestartTransfer extends DlaasError {
  constructor(message: string) {
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

async function hashInto(sum: StreamChecksum, stream: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    sum.update(value);
  }
}

/** Compare checksums with the catalogue; returns the checks that passed, throws on the first mismatch. */
function verify(task: DownloadTask, got: Checksums, source: string): FileManifest['verified'] {
  const verified: FileManifest['verified'] = [];
  if (task.bytes !== null) {
    if (got.bytes !== task.bytes) throw new ChecksumMismatchError('size', task.bytes, got.bytes, source);
    verified.push('size');
  }
  if (task.adler32) {
    if (!sameAdler32(got.adler32, task.adler32)) throw new ChecksumMismatchError('adler32', task.adler32, got.adler32, source);
    verified.push('adler32');
  }
  if (task.md5) {
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

/** An already published copy that matches the catalogue (size and adler32 at least), if there is one. */
async function verifyExisting(task: DownloadTask, sink: DownloadSink): Promise<FileManifest | undefined> {
  if (task.bytes === null || !task.adler32) return undefined;
  const existing = await sink.existing(task.relPath);
  if (!existing || existing.bytes !== task.bytes) return undefined;
  const sum = await StreamChecksum.create({ md5: !!task.md5 });
  try {
    await hashInto(sum, existing.read());
  } catch {
    sum.dispose();
    return undefined;
  }
  try {
    const sums = sum.digest();
    return manifest(task, { status: 'OK', location: existing.location, verified: verify(task, sums, task.relPath), skipped: true, attempts: 0 }, sums);
  } catch {
    return undefined;
  }
}

/** The partial copy of one file and the checksum of exactly the bytes it holds, kept in step. */
class Slot {
  #sum: StreamChecksum;
  /** The source the last bytes came from. */
  source: string | undefined;
  /** Some bytes came from elsewhere than {@link source} (an earlier run, or another replica). */
  mixed = false;

  private constructor(
    readonly file: SinkFile,
    sum: StreamChecksum,
    private readonly task: DownloadTask,
  ) {
    this.#sum = sum;
  }

  /** Open the sink's partial slot; bytes an earlier run left are re-hashed, so the whole file is verified. */
  static async open(task: DownloadTask, sink: DownloadSink): Promise<Slot> {
    const file = await sink.open(task.relPath);
    const slot = new Slot(file, await StreamChecksum.create({ md5: !!task.md5 }), task);
    try {
      if (file.resumableBytes > 0) {
        // Only bytes of a file of known size can be continued; anything else starts again.
        if (task.bytes !== null && file.resumableBytes <= task.bytes) {
          await hashInto(slot.#sum, file.readPartial());
          slot.mixed = true;
        } else await file.reset();
      }
    } catch (e) {
      await file.close({ keepPartial: true }).catch(() => {});
      slot.#sum.dispose();
      throw e;
    }
    return slot;
  }

  get bytes(): number {
    return this.#sum.bytes;
  }

  /** Append a chunk. The sink's write (file I/O runs off the main thread in Node) overlaps the hashing. */
  async append(chunk: Uint8Array): Promise<void> {
    const written = this.file.write(chunk);
    this.#sum.update(chunk);
    try {
      await written;
    } catch (e) {
      throw new SinkWriteError(this.task.relPath, e);
    }
  }

  /** Drop every byte: the next transfer starts at 0. */
  async restart(): Promise<void> {
    await this.file.reset();
    this.#sum.dispose();
    this.#sum = await StreamChecksum.create({ md5: !!this.task.md5 });
    this.mixed = false;
    this.source = undefined;
  }

  /** Finish the checksum (the slot must be restarted before more bytes are added). */
  digest(): Checksums {
    return this.#sum.digest();
  }

  /** Stop writing; `keepPartial` keeps the bytes for a later resume. */
  async close(keepPartial: boolean): Promise<void> {
    this.#sum.dispose();
    await this.file.close({ keepPartial });
  }
}

/** A source that refused or does not have the file: trying it again is pointless. */
function permanent(e: unknown): boolean {
  return e instanceof ForbiddenError || e instanceof UnauthenticatedError || e instanceof NotFoundError;
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
  const skipped = await verifyExisting(task, ctx.sink);
  if (skipped) return skipped;
  const slot = await Slot.open(task, ctx.sink);
  let attempts = 0;
  let lastError: DlaasError | undefined;
  try {
    sources: for (const source of task.sources) {
      for (let tries = 0; tries < ctx.attemptsPerSource; ) {
        throwIfAborted(ctx.signal);
        tries++;
        attempts++;
        let verified: FileManifest['verified'];
        let sums: Checksums;
        try {
          await transfer(task, source, slot, ctx);
          sums = slot.digest();
          verified = verify(task, sums, source);
        } catch (e) {
          if (e instanceof AbortError || ctx.signal?.aborted) throw e;
          lastError = asDlaasError(e);
          if (e instanceof SinkWriteError) break sources;
          if (e instanceof ChecksumMismatchError) {
            // Bytes partly from elsewhere: give this source one clean try before blaming it.
            const blameless = slot.mixed;
            await slot.restart();
            if (!blameless) break; // a corrupt replica: on to the next one
            tries--;
            continue;
          }
          if (e instanceof RestartTransfer) await slot.restart();
          else if (permanent(e)) break;
          // Otherwise (connection, timeout, 5xx) the bytes are kept and the next try resumes with Range.
          continue;
        }
        let location: StagedLocation;
        try {
          location = await slot.file.commit();
        } catch (e) {
          lastError = new SinkWriteError(task.relPath, e);
          break sources;
        }
        return manifest(task, { status: 'OK', sourcePfn: source, location, verified, attempts }, sums);
      }
    }
    await slot.close(slot.bytes > 0 && !(lastError instanceof SinkWriteError));
    return manifest(task, { status: 'FAILED', verified: [], attempts, error: lastError as DlaasError });
  } catch (e) {
    await slot.close(true).catch(() => {});
    throw e;
  }
}

/** Read one chunk, or fail with a {@link TimeoutError} when the body stalls for `ms`. */
async function readWithin(reader: ReadableStreamDefaultReader<Uint8Array>, ms: number, url: string): Promise<ReadableStreamReadResult<Uint8Array>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError({ service: 'storage', method: 'GET', url, timeoutMs: ms })), ms);
  });
  try {
    return await Promise.race([reader.read(), stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/** Stream one attempt into the slot, resuming at `slot.bytes`. Throws on any transfer failure. */
async function transfer(task: DownloadTask, source: string, slot: Slot, ctx: DownloadContext): Promise<void> {
  if (slot.bytes > 0 && slot.source !== source) slot.mixed = true;
  slot.source = source;
  const offset = slot.bytes;
  if (task.bytes !== null && offset === task.bytes && offset > 0) return; // every byte is here: verify only
  let res: Response;
  try {
    res = await ctx.storage.get(source, offset, ctx.signal);
  } catch (e) {
    // 416: the partial data is longer than the object now is.
    if (offset > 0 && (e as { status?: number }).status === 416) throw new RestartTransfer(`${displayUrl(source)} cannot continue at byte ${offset}`);
    throw e;
  }
  if (offset > 0 && res.status !== 206) {
    // The server ignored the Range and sends the whole file: start over with this very response.
    await slot.restart();
    slot.source = source;
  } else if (offset > 0) {
    const range = /^bytes (\d+)-/.exec(res.headers.get('Content-Range') ?? '');
    if (!range || Number(range[1]) !== offset) {
      await res.body?.cancel().catch(() => {});
      throw new RestartTransfer(`${displayUrl(source)} answered Range: bytes=${offset}- with ${res.headers.get('Content-Range') ?? 'no Content-Range'}`);
    }
  }
  if (!res.body) return;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await readWithin(reader, ctx.stallTimeout, source);
      if (done) break;
      await slot.append(value);
      ctx.onBytes(task, slot.bytes, value.byteLength);
      if (task.bytes !== null && slot.bytes > task.bytes) throw new ChecksumMismatchError('size', task.bytes, `more than ${task.bytes}`, source);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    throwIfAborted(ctx.signal);
    if (e instanceof DlaasError) throw e;
    throw new ConnectionError({ service: 'storage', method: 'GET', url: pfnToHttpUrl(source), cause: e }, `storage GET ${displayUrl(source)}: transfer broke off after ${slot.bytes} bytes`);
  }
}

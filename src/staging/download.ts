/**
 * @internal Verified download of one file: try each source in order (each up to `attemptsPerSource`
 * times), resume an interrupted transfer with `Range`, hash while streaming, verify size and
 * checksums, and only then publish through the sink.
 * @module
 */
import type { Did } from '../core/did.js';
import { AbortError, DlaasError, ErrorCode, ForbiddenError, UnauthenticatedError } from '../core/errors.js';
import { StreamChecksum, sameAdler32 } from './checksum.js';
import type { DownloadSink, SinkFile } from './sinks.js';
import type { StorageClient } from './storage.js';
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
  /** Bytes arrived (may be called very often; the caller throttles). */
  onBytes: (task: DownloadTask, transferred: number, delta: number) => void;
}

/** A verification failure of downloaded bytes. */
export class ChecksumMismatchError extends DlaasError {
  constructor(what: string, expected: string | number, got: string | number, source: string) {
    super(`${what} mismatch from ${source}: expected ${expected}, got ${got}`, {}, ErrorCode.checksumMismatch);
  }
}

/** The partial data cannot be continued from: start the file again. */
class RestartTransfer extends DlaasError {
  constructor(message: string) {
    super(message, {}, ErrorCode.stream);
  }
}

function errorInfo(e: unknown): { code: string; message: string } {
  return e instanceof DlaasError ? { code: e.code, message: e.message } : { code: ErrorCode.unknown, message: e instanceof Error ? e.message : String(e) };
}

async function hashInto(sum: StreamChecksum, stream: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    sum.update(value);
  }
}

/** Check an already published copy; true when it matches the catalogue. */
async function verifyExisting(task: DownloadTask, sink: DownloadSink): Promise<FileManifest | undefined> {
  if (task.bytes === null || !task.adler32) return undefined;
  const existing = await sink.existing(task.relPath);
  if (!existing || existing.bytes !== task.bytes) return undefined;
  const sum = await StreamChecksum.create({ md5: !!task.md5 });
  await hashInto(sum, existing.read());
  const got = sum.digest();
  if (!sameAdler32(got.adler32, task.adler32) || (task.md5 && got.md5 !== task.md5.toLowerCase())) return undefined;
  const verified: FileManifest['verified'] = task.md5 ? ['size', 'adler32', 'md5'] : ['size', 'adler32'];
  return { did: task.did, status: 'OK', location: existing.location, ...pathOf(existing.location), bytes: task.bytes, adler32: task.adler32, md5: task.md5, verified, skipped: true, attempts: 0 };
}

function pathOf(location: FileManifest['location']): { localPath?: string } {
  return location?.kind === 'path' ? { localPath: location.path } : {};
}

/**
 * Download one file. Never throws for a failed file (the manifest says why), except on abort, where
 * partial data is kept for a later resume and an {@link AbortError} is thrown.
 */
export async function downloadFile(task: DownloadTask, ctx: DownloadContext): Promise<FileManifest> {
  const skipped = await verifyExisting(task, ctx.sink);
  if (skipped) return skipped;
  const file = await ctx.sink.open(task.relPath);
  let sum = await StreamChecksum.create({ md5: !!task.md5 });
  let attempts = 0;
  let lastError: { code: string; message: string } | undefined;
  try {
    // Resume from bytes an earlier run left behind: hash them first, so the whole file is verified.
    if (file.resumableBytes > 0) {
      if (task.bytes !== null && file.resumableBytes <= task.bytes) await hashInto(sum, file.readPartial());
      else await file.reset();
    }
    for (const source of task.sources) {
      for (let i = 0; i < ctx.attemptsPerSource; i++) {
        if (ctx.signal?.aborted) throw new AbortError('staging was aborted', { cause: ctx.signal.reason });
        attempts++;
        try {
          await transfer(task, source, file, sum, ctx);
          const got = sum.digest();
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
          const location = await file.commit();
          const base = { did: task.did, status: 'OK' as const, sourcePfn: source, location, ...pathOf(location), bytes: task.bytes ?? got.bytes, adler32: task.adler32 ?? got.adler32, md5: task.md5, verified, attempts };
          return task.url ? { ...base, url: task.url } : base;
        } catch (e) {
          if (e instanceof AbortError || ctx.signal?.aborted) throw e;
          lastError = errorInfo(e);
          const corrupt = e instanceof ChecksumMismatchError;
          const denied = e instanceof ForbiddenError || e instanceof UnauthenticatedError;
          if (corrupt || e instanceof RestartTransfer || sum.bytes === 0) {
            // Corrupt bytes are never kept; a transfer that got nothing restarts cleanly.
            await file.reset();
            sum.dispose();
            sum = await StreamChecksum.create({ md5: !!task.md5 });
          }
          // A corrupt or forbidden source is not retried: move on to the next replica.
          if (corrupt || denied) break;
        }
      }
    }
    await file.close({ keepPartial: sum.bytes > 0 });
    sum.dispose();
    const base = { did: task.did, status: 'FAILED' as const, bytes: task.bytes, adler32: task.adler32, md5: task.md5, verified: [], attempts };
    const error = lastError ?? { code: ErrorCode.notFound, message: 'no readable replica (no https/davs PFN)' };
    return task.url ? { ...base, url: task.url, error } : { ...base, error };
  } catch (e) {
    await file.close({ keepPartial: true }).catch(() => {});
    sum.dispose();
    throw e;
  }
}

/** Stream one attempt into the sink, resuming at `sum.bytes`. Throws on any transfer failure. */
async function transfer(task: DownloadTask, source: string, file: SinkFile, sum: StreamChecksum, ctx: DownloadContext): Promise<void> {
  const offset = sum.bytes;
  if (task.bytes !== null && offset === task.bytes && offset > 0) return; // everything already here
  const res = await ctx.storage.get(source, offset, ctx.signal);
  if (offset > 0) {
    const range = /^bytes (\d+)-/.exec(res.headers.get('Content-Range') ?? '');
    if (res.status !== 206 || !range || Number(range[1]) !== offset) {
      // The server ignored the Range: start over from byte 0 (the caller resets file and checksum).
      await res.body?.cancel().catch(() => {});
      throw new RestartTransfer(`${source} did not honour Range: bytes=${offset}-`);
    }
  }
  if (!res.body) return;
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await file.write(value);
      sum.update(value);
      ctx.onBytes(task, sum.bytes, value.byteLength);
      if (task.bytes !== null && sum.bytes > task.bytes) throw new ChecksumMismatchError('size', task.bytes, `more than ${task.bytes}`, source);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    if (ctx.signal?.aborted) throw new AbortError('staging was aborted', { cause: ctx.signal.reason });
    throw e instanceof DlaasError ? e : new DlaasError(`transfer from ${source} broke off after ${sum.bytes} bytes`, { cause: e }, ErrorCode.connection);
  }
}

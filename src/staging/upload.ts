/**
 * @internal Stage-out: put result files into the Data Lake in Rucio's order of operations, so
 * that nothing is ever registered as AVAILABLE before its bytes are verified on storage.
 * @module
 */
import { formatDid, toDid, type Did } from '../core/did.js';
import { ConnectionError, DlaasError, DuplicateError, ErrorCode, InvalidArgumentError, NotFoundError, ServerError } from '../core/errors.js';
import type { RucioClient } from '../rucio/client.js';
import { protocolsFor } from '../rucio/rses.js';
import type { RseSettings } from '../rucio/types.js';
import { checksumOf, sameAdler32, type Checksums } from './checksum.js';
import type { StorageClient } from './storage.js';
import { isHttpPfn } from './storage.js';

/** The steps of one file's upload, in order. */
export type UploadStep = 'checksum' | 'check' | 'register' | 'pfn' | 'transfer' | 'verify' | 'rename' | 'set-available' | 'attach';

/** A local file to upload. */
export interface UploadFile {
  /** DID name (default: `name`). */
  name: string;
  /** The bytes: a `Blob` (in Node, `fs.openAsBlob(path)` streams from disk) or a buffer. */
  data: Blob | Uint8Array;
  /** Extra metadata for the replica registration. */
  meta?: Record<string, unknown>;
}

/** Outcome of one file. */
export interface UploadManifest {
  did: Did;
  status: 'OK' | 'SKIPPED' | 'FAILED';
  pfn?: string;
  bytes: number;
  adler32?: string;
  md5?: string;
  /** The step that failed. */
  step?: UploadStep;
  error?: { code: string; message: string };
}

/** A failed upload step. */
export class UploadError extends DlaasError {
  /** Which step failed. */
  readonly step: UploadStep;
  /** The file. */
  readonly did: string;
  constructor(step: UploadStep, did: Did, message: string, cause?: unknown, code: string = ErrorCode.uploadFailed) {
    super(`upload of ${formatDid(did)} failed at "${step}": ${message}`, { cause }, code as never);
    this.step = step;
    this.did = formatDid(did);
  }
}

/** Options for one upload run. */
export interface UploadRunOptions {
  scope: string;
  rse: string;
  /** PFN scheme for writing (default: the best `https`/`davs` protocol). */
  scheme?: string;
  signal?: AbortSignal | undefined;
  onStep?: (did: Did, step: UploadStep) => void;
}

/** @internal Per-run state: RSE settings and the write protocol, looked up once. */
export interface UploadRun {
  rucio: RucioClient;
  storage: StorageClient;
  settings: RseSettings;
  scheme: string;
}

/** Look up the RSE once and check it can be written over HTTP. */
export async function prepareUpload(rucio: RucioClient, storage: StorageClient, o: UploadRunOptions): Promise<UploadRun> {
  const settings = await rucio.rses.get(o.rse, { signal: o.signal });
  if (settings.availability_write === false) throw new InvalidArgumentError('rse', `RSE ${o.rse} is not available for writing`);
  const protocols = protocolsFor(settings, 'write', 'wan', o.scheme ? [o.scheme] : undefined).filter((p) => isHttpPfn(`${p.scheme}://x`));
  const [protocol] = protocols;
  if (!protocol) throw new InvalidArgumentError('scheme', `RSE ${o.rse} has no ${o.scheme ?? 'https/davs'} protocol for writing`);
  return { rucio, storage, settings, scheme: protocol.scheme };
}

function info(e: unknown): { code: string; message: string } {
  return e instanceof DlaasError ? { code: e.code, message: e.message } : { code: ErrorCode.unknown, message: String(e) };
}

/** The state of a file's replica on the RSE, from the catalogue (`undefined` = none). */
async function replicaState(rucio: RucioClient, did: Did, rse: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  for await (const r of rucio.replicas.list([did], { rseExpression: rse, allStates: true, signal })) {
    if (r.name === did.name && r.scope === did.scope) return r.states?.[rse];
  }
  return undefined;
}

/** Upload one file. Never throws for the file's own failure (see the manifest's `step`/`error`). */
export async function uploadOne(run: UploadRun, file: UploadFile, o: UploadRunOptions): Promise<UploadManifest> {
  const { rucio, storage } = run;
  const did = toDid({ scope: o.scope, name: file.name });
  const signal = o.signal;
  const size = file.data instanceof Blob ? file.data.size : file.data.byteLength;
  let step: UploadStep = 'checksum';
  let sums: Checksums | undefined;
  let tmp: string | undefined;
  const at = (s: UploadStep) => {
    step = s;
    o.onStep?.(did, s);
  };
  try {
    at('checksum');
    sums = await checksumOf(file.data, { md5: true });
    at('check');
    let state: string | undefined;
    try {
      const existing = await rucio.dids.get(did, { signal });
      if (existing.bytes !== sums.bytes || !sameAdler32(existing.adler32, sums.adler32)) {
        throw new UploadError('check', did, `a different file with this name exists (${existing.bytes} bytes, adler32 ${existing.adler32})`, undefined, ErrorCode.fileConflict);
      }
      state = await replicaState(rucio, did, o.rse, signal);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
    if (state === 'AVAILABLE') return { did, status: 'SKIPPED', bytes: sums.bytes, adler32: sums.adler32, ...(sums.md5 ? { md5: sums.md5 } : {}) };
    if (state === undefined) {
      at('register');
      await registerCopying(rucio, did, sums, o.rse, file.meta, signal);
    }
    at('pfn');
    const pfn = (await rucio.rses.pfns(o.rse, [did], { operation: 'write', scheme: run.scheme, settings: run.settings, signal }))[formatDid(did)];
    if (!pfn) throw new UploadError('pfn', did, 'the RSE returned no PFN');
    tmp = `${pfn}.rucio.upload`;
    at('transfer');
    await storage.delete(tmp, { ignoreMissing: true, signal });
    await storage.put(tmp, file.data, signal);
    at('verify');
    const stat = await storage.stat(tmp, signal);
    if (!stat) throw new UploadError('verify', did, 'the uploaded object is not on the storage');
    if (stat.bytes !== undefined && stat.bytes !== size) throw new UploadError('verify', did, `storage has ${stat.bytes} bytes, expected ${size}`, undefined, ErrorCode.checksumMismatch);
    if (stat.adler32 && !sameAdler32(stat.adler32, sums.adler32)) throw new UploadError('verify', did, `storage adler32 ${stat.adler32}, expected ${sums.adler32}`, undefined, ErrorCode.checksumMismatch);
    at('rename');
    await storage.move(tmp, pfn, signal);
    tmp = undefined;
    at('set-available');
    await rucio.replicas.updateState(o.rse, [{ ...did, state: 'AVAILABLE' }], { signal });
    return { did, status: 'OK', pfn, bytes: sums.bytes, adler32: sums.adler32, ...(sums.md5 ? { md5: sums.md5 } : {}) };
  } catch (e) {
    // Never leave a temporary object behind; the replica stays COPYING (not AVAILABLE) for a re-run.
    if (tmp) await storage.delete(tmp, { ignoreMissing: true }).catch(() => {});
    if (signal?.aborted) throw e;
    const error = e instanceof UploadError ? info(e) : info(new UploadError(step, did, e instanceof Error ? e.message : String(e), e));
    return { did, status: 'FAILED', step: e instanceof UploadError ? e.step : step, bytes: sums?.bytes ?? size, ...(sums ? { adler32: sums.adler32 } : {}), error };
  }
}

/**
 * Register the replica as COPYING. `POST /replicas` is not idempotent and is never resent blindly:
 * after an ambiguous failure (no answer, 5xx) the catalogue is asked whether the registration exists.
 */
async function registerCopying(rucio: RucioClient, did: Did, sums: Checksums, rse: string, meta: Record<string, unknown> | undefined, signal: AbortSignal | undefined): Promise<void> {
  const guid = crypto.randomUUID().replace(/-/g, '');
  const entry = { ...did, bytes: sums.bytes, adler32: sums.adler32, ...(sums.md5 ? { md5: sums.md5 } : {}), state: 'COPYING' as const, meta: { guid, ...meta } };
  try {
    await rucio.replicas.add(rse, [entry], { signal });
  } catch (e) {
    if (e instanceof DuplicateError) return;
    if (e instanceof ConnectionError || (e instanceof ServerError && !e.exceptionClass)) {
      const state = await replicaState(rucio, did, rse, signal);
      if (state !== undefined) return;
      await rucio.replicas.add(rse, [entry], { signal });
      return;
    }
    throw e;
  }
}

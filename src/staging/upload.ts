/**
 * @internal Stage-out: put result files into the Data Lake in Rucio's order of operations, so
 * that nothing is ever registered as AVAILABLE before its bytes are verified on storage.
 * @module
 */
import { formatDid, toDid, type Did } from '../core/did.js';
import { AbortError, ConnectionError, DlaasError, DuplicateError, ErrorCode, InvalidArgumentError, NotFoundError, ServerError, type ErrorCodeValue } from '../core/errors.js';
import type { RucioClient } from '../rucio/client.js';
import { protocolsFor } from '../rucio/rses.js';
import type { RseSettings } from '../rucio/types.js';
import { sameAdler32, type Checksums } from './checksum.js';
import { mainThreadHashing, type Hashing } from './hashing.js';
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
  /** `SKIPPED`: the same file was already AVAILABLE on the RSE. */
  status: 'OK' | 'SKIPPED' | 'FAILED';
  pfn?: string;
  bytes: number;
  adler32?: string;
  md5?: string;
  /** The step that failed. */
  step?: UploadStep;
  /** Why it failed: `error.step` says where, `error.cause` what the service answered (e.g. a `ForbiddenError`). */
  error?: UploadError;
}

/**
 * A failed upload step. `code` is the cause's code when the cause is a dlaas error (e.g.
 * `DLAAS_FORBIDDEN` for a storage token without `storage.create`), `DLAAS_FILE_CONFLICT` when a
 * different file already has the name, `DLAAS_CHECKSUM_MISMATCH` when the storage holds other bytes.
 *
 * @example
 * ```ts
 * const { files } = await lake.staging.upload([{ name: 'out.fits', data }], { scope: 'user.jdoe', rse: 'SITE_A' });
 * const e = files[0]!.error;
 * if (e?.step === 'transfer' && e.cause instanceof ForbiddenError) console.log('the storage token cannot write');
 * ```
 */
export class UploadError extends DlaasError {
  /** Which step failed. */
  readonly step: UploadStep;
  /** The file, `scope:name`. */
  readonly did: string;
  constructor(step: UploadStep, did: Did, message: string, cause?: unknown, code?: ErrorCodeValue) {
    super(`upload of ${formatDid(did)} failed at "${step}": ${message}`, { cause }, code ?? (cause instanceof DlaasError ? cause.code : ErrorCode.uploadFailed));
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
  /** Attach each uploaded file to this dataset. */
  dataset?: Did | undefined;
  /**
   * How the bytes on storage are verified before the replica becomes AVAILABLE:
   * `'digest-or-read-back'` (default) trusts the storage's `Digest: adler32` (XRootD, dCache) and
   * reads the object back to hash it where the storage sends none; `'digest'` never reads back: an
   * object without a digest fails at `verify` with `DLAAS_UNVERIFIED` and the replica stays COPYING.
   */
  verify?: 'digest-or-read-back' | 'digest' | undefined;
  signal?: AbortSignal | undefined;
  onStep?: (did: Did, step: UploadStep) => void;
}

/** @internal Per-run state: RSE settings and the write protocol, looked up once. */
export interface UploadRun {
  rucio: RucioClient;
  storage: StorageClient;
  hashing: Hashing;
  settings: RseSettings;
  scheme: string;
}

/** Look up the RSE once and check it can be written over HTTP. */
export async function prepareUpload(rucio: RucioClient, storage: StorageClient, o: UploadRunOptions, hashing: Hashing = mainThreadHashing): Promise<UploadRun> {
  const settings = await rucio.rses.get(o.rse, { signal: o.signal });
  if (settings.availability_write === false) throw new InvalidArgumentError('rse', `RSE ${o.rse} is not available for writing`);
  const protocols = protocolsFor(settings, 'write', 'wan', o.scheme ? [o.scheme] : undefined).filter((p) => isHttpPfn(`${p.scheme}://x`));
  const [protocol] = protocols;
  if (!protocol) throw new InvalidArgumentError('scheme', `RSE ${o.rse} has no ${o.scheme ?? 'https/davs'} protocol for writing`);
  return { rucio, storage, hashing, settings, scheme: protocol.scheme };
}

/** The state of a file's replica on the RSE, from the catalogue (`undefined` = none). */
async function replicaState(rucio: RucioClient, did: Did, rse: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  for await (const r of rucio.replicas.list([did], { rse_expression: rse, all_states: true, signal })) {
    if (r.name === did.name && r.scope === did.scope) return r.states?.[rse];
  }
  return undefined;
}

/**
 * The catalogue's view of the file: the replica state on the RSE (`undefined`: no replica, or no
 * DID). A DID with other content is a conflict.
 */
async function catalogueState(rucio: RucioClient, did: Did, sums: Checksums, rse: string, signal: AbortSignal | undefined): Promise<string | undefined> {
  let existing;
  try {
    existing = await rucio.dids.get(did, { signal });
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
  if (existing.bytes !== sums.bytes || !sameAdler32(existing.adler32, sums.adler32)) {
    throw new UploadError('check', did, `a different file with this name exists (${existing.bytes} bytes, adler32 ${existing.adler32}; this one: ${sums.bytes} bytes, adler32 ${sums.adler32})`, undefined, ErrorCode.fileConflict);
  }
  return replicaState(rucio, did, rse, signal);
}

type StorageStat = Awaited<ReturnType<StorageClient['stat']>>;

/** Check the storage's view of an object: it exists, has the size, and the adler32 where the storage reports one. */
function checkStored(stat: StorageStat, sums: Checksums, step: UploadStep, did: Did, what: string): void {
  if (!stat) throw new UploadError(step, did, `${what} is not on the storage`);
  if (stat.bytes !== undefined && stat.bytes !== sums.bytes) throw new UploadError(step, did, `the storage has ${stat.bytes} bytes at ${what}, expected ${sums.bytes}`, undefined, ErrorCode.checksumMismatch);
  if (stat.adler32 && !sameAdler32(stat.adler32, sums.adler32)) throw new UploadError(step, did, `the storage reports adler32 ${stat.adler32} at ${what}, expected ${sums.adler32}`, undefined, ErrorCode.checksumMismatch);
}

/**
 * Prove the object at `pfn` holds exactly this file: the storage's size and adler32, or, where the
 * storage sends no digest, the adler32 of the bytes read back (unless `mode` is `'digest'`).
 */
async function verifyStored(run: UploadRun, pfn: string, sums: Checksums, did: Did, mode: 'digest-or-read-back' | 'digest', signal: AbortSignal | undefined): Promise<void> {
  const stat = await run.storage.stat(pfn, signal);
  checkStored(stat, sums, 'verify', did, 'the temporary object');
  if (stat?.adler32) return;
  if (mode === 'digest') throw new UploadError('verify', did, 'the storage sends no adler32 digest for the temporary object, and reading it back is off (verify: "digest"); the replica stays COPYING', undefined, ErrorCode.unverified);
  const job = await run.hashing.start();
  try {
    const { body } = await run.storage.read(pfn, undefined, signal);
    for (let chunk = await body.read(); chunk; chunk = await body.read()) {
      const w = job.update(chunk);
      if (w) await w;
    }
    const back = await job.digest();
    if (back.bytes !== sums.bytes || !sameAdler32(back.adler32, sums.adler32)) {
      throw new UploadError('verify', did, `read back from storage (which sends no digest): ${back.bytes} bytes, adler32 ${back.adler32}; expected ${sums.bytes} bytes, adler32 ${sums.adler32}`, undefined, ErrorCode.checksumMismatch);
    }
  } catch (e) {
    job.dispose();
    throw e;
  }
}

/** True when the object at `pfn` is provably this file (size and the storage's adler32). */
async function alreadyStored(storage: StorageClient, pfn: string, sums: Checksums, signal: AbortSignal | undefined): Promise<boolean> {
  const stat = await storage.stat(pfn, signal);
  return !!stat && stat.bytes === sums.bytes && !!stat.adler32 && sameAdler32(stat.adler32, sums.adler32);
}

/**
 * Upload one file. Never throws for the file's own failure (see the manifest's `step`/`error`);
 * throws {@link AbortError} when aborted. A re-run finishes what an earlier run left: a COPYING
 * replica whose bytes are already verified at the final PFN is only set AVAILABLE.
 */
export async function uploadOne(run: UploadRun, file: UploadFile, o: UploadRunOptions): Promise<UploadManifest> {
  const { rucio, storage } = run;
  const did = toDid({ scope: o.scope, name: file.name });
  const signal = o.signal;
  const size = file.data instanceof Blob ? file.data.size : file.data.byteLength;
  let step: UploadStep = 'checksum';
  let sums: Checksums | undefined;
  let pfn: string | undefined;
  let tmp: string | undefined;
  const at = (s: UploadStep) => {
    step = s;
    o.onStep?.(did, s);
  };
  const result = (status: 'OK' | 'SKIPPED', s: Checksums): UploadManifest => ({ did, status, ...(pfn ? { pfn } : {}), bytes: s.bytes, adler32: s.adler32, ...(s.md5 ? { md5: s.md5 } : {}) });
  try {
    at('checksum');
    sums = await hashData(run.hashing, file.data, signal);
    at('check');
    const state = await catalogueState(rucio, did, sums, o.rse, signal);
    if (state !== 'AVAILABLE') {
      if (state === undefined) {
        at('register');
        await registerCopying(rucio, did, sums, o.rse, file.meta, signal);
      }
      at('pfn');
      pfn = (await rucio.rses.pfns(o.rse, [did], { operation: 'write', scheme: run.scheme, settings: run.settings, signal }))[formatDid(did)];
      if (!pfn) throw new UploadError('pfn', did, 'the RSE returned no PFN');
      // A re-run after a failure past the rename: the verified bytes are already in place.
      if (state === undefined || !(await alreadyStored(storage, pfn, sums, signal))) {
        // A private temporary name: two runs uploading the same file never write one object.
        tmp = `${pfn}.${crypto.randomUUID().slice(0, 8)}.rucio.upload`;
        at('transfer');
        await storage.delete(tmp, { ignoreMissing: true, signal });
        await storage.put(tmp, file.data, signal);
        at('verify');
        await verifyStored(run, tmp, sums, did, o.verify ?? 'digest-or-read-back', signal);
        at('rename');
        await storage.move(tmp, pfn, signal);
        tmp = undefined;
        // The final name must hold the bytes before the catalogue says so (servers differ in MOVE details).
        checkStored(await storage.stat(pfn, signal), sums, 'rename', did, 'the final PFN');
      }
      at('set-available');
      await rucio.replicas.updateState(o.rse, [{ ...did, state: 'AVAILABLE' }], { signal });
    }
    if (o.dataset) {
      at('attach');
      await rucio.dids.attach(o.dataset, [did], { signal }).catch((e: unknown) => {
        if (!(e instanceof DuplicateError)) throw e;
      });
    }
    return result(state === 'AVAILABLE' ? 'SKIPPED' : 'OK', sums);
  } catch (e) {
    // Never leave a temporary object behind; the replica stays COPYING (not AVAILABLE) for a re-run.
    if (tmp) await storage.delete(tmp, { ignoreMissing: true }).catch(() => {});
    if (signal?.aborted) throw e instanceof AbortError ? e : new AbortError('upload was aborted', { cause: signal.reason });
    const error = e instanceof UploadError ? e : new UploadError(step, did, e instanceof Error ? e.message : String(e), e);
    return { did, status: 'FAILED', step: error.step, ...(pfn ? { pfn } : {}), bytes: sums?.bytes ?? size, ...(sums ? { adler32: sums.adler32 } : {}), error };
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

/** adler32 and md5 of a file's bytes, read in chunks (a Blob is never read whole), stopping on abort. */
async function hashData(hashing: Hashing, data: Blob | Uint8Array, signal: AbortSignal | undefined): Promise<Checksums> {
  const job = await hashing.start({ md5: true });
  try {
    if (data instanceof Uint8Array) {
      const w = job.update(data);
      if (w) await w;
    } else {
      const reader = data.stream().getReader();
      try {
        for (;;) {
          if (signal?.aborted) throw new AbortError('upload was aborted', { cause: signal.reason });
          const { done, value } = await reader.read();
          if (done) break;
          const w = job.update(value);
          if (w) await w;
        }
      } finally {
        await reader.cancel().catch(() => {});
      }
    }
    return await job.digest();
  } catch (e) {
    job.dispose();
    throw e;
  }
}

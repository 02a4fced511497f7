/**
 * Staging results and progress events.
 * @module
 */
import type { Did } from '../core/did.js';
import type { DlaasError } from '../core/errors.js';
import type { ChecksumMismatchError } from './download.js';
import type { StagedLocation } from './sinks.js';

/** Per-file status, as the Rucio JupyterLab extension names them (plus the download outcomes). */
export type FileStatus = 'OK' | 'REPLICATING' | 'STUCK' | 'NOT_AVAILABLE' | 'FAILED';

/**
 * Collection status, with the Rucio JupyterLab extension's precedence (`computeCollectionState`): no
 * files → EMPTY; any REPLICATING → REPLICATING; else any STUCK → STUCK; else none OK → NOT_AVAILABLE;
 * else some not OK → PARTIALLY_AVAILABLE; else AVAILABLE. One deliberate difference: the extension
 * only counts NOT_AVAILABLE files towards PARTIALLY_AVAILABLE, so a FAILED file next to OK ones would
 * leave the collection AVAILABLE there; here every file that is not OK makes it PARTIALLY_AVAILABLE.
 */
export type CollectionStatus = 'AVAILABLE' | 'PARTIALLY_AVAILABLE' | 'REPLICATING' | 'STUCK' | 'NOT_AVAILABLE' | 'EMPTY';

/** What happened to one file. */
export interface FileManifest {
  /** The file, or `undefined` for a plain URL source. */
  did: Did | undefined;
  /** For URL sources: the URL. */
  url?: string;
  status: FileStatus;
  /** The PFN the bytes came from (download) or the replica on the destination RSE (replica mode). */
  sourcePfn?: string;
  /** Local path (replica mode, or the Node file sink). */
  localPath?: string;
  /** Where a download was published. */
  location?: StagedLocation;
  /** Size from the catalogue (or as received for URL sources). */
  bytes: number | null;
  adler32?: string | null;
  md5?: string | null;
  /** Which checks passed on the bytes: size, adler32, md5. */
  verified: ('size' | 'adler32' | 'md5')[];
  /** True when an already present, verified copy was reused. */
  skipped?: boolean;
  /** Transfer attempts made (0 in replica mode or when skipped). */
  attempts: number;
  /** Why it failed (`status: 'FAILED' | 'STUCK' | 'NOT_AVAILABLE'`): e.g. a `ChecksumMismatchError`, a `ForbiddenError`. */
  error?: DlaasError;
  /**
   * Replicas whose bytes did not match the catalogue (download mode); the file may still be OK,
   * from another replica. Tell Rucio with `staging.declareCorrupt(result)`.
   */
  corruptReplicas?: CorruptReplica[];
}

/** A replica whose bytes failed verification during a download. */
export interface CorruptReplica {
  /** The PFN that was read. */
  pfn: string;
  /** Its RSE, from the replica listing. */
  rse: string | undefined;
  /** Which check failed. */
  check: 'size' | 'adler32' | 'md5';
  error: ChecksumMismatchError;
}

/** The outcome of `staging.stage()`. */
export interface StageResult {
  mode: 'replica' | 'download';
  status: CollectionStatus;
  files: FileManifest[];
  /** Rules used (created or reused) in replica mode. */
  rules: { id: string; did: Did; created: boolean; state: string }[];
  /** Totals. */
  totals: { files: number; ok: number; failed: number; bytes: number; verifiedBytes: number; skipped: number };
}

/**
 * A progress event.
 * - `plan`: what will be staged (download mode: files and bytes to fetch).
 * - `rule`: a rule was polled (replica mode): locks OK / replicating / stuck, and the bytes of the
 *   files whose lock is OK out of the rule's bytes.
 * - `file`: one file is finished (any outcome); `done` of `total` files are.
 * - `bytes`: a download progressed (throttled to about 10 per second): the file's bytes, all bytes
 *   held so far (resumed and skipped files included), and the rate since the start in bytes/s.
 */
export type StageEvent =
  | { type: 'plan'; files: number; bytes: number }
  | { type: 'rule'; ruleId: string; state: string; ok: number; replicating: number; stuck: number; total: number; bytes: number; bytesOk: number }
  | { type: 'file'; manifest: FileManifest; done: number; total: number }
  | { type: 'bytes'; did: Did | undefined; url?: string; transferred: number; total: number | null; overallBytes: number; overallTotal: number; rate: number };

/**
 * Compute a collection's status from its files (see {@link CollectionStatus}).
 *
 * @example
 * ```ts
 * collectionStatus([{ status: 'OK' }, { status: 'NOT_AVAILABLE' }]); // 'PARTIALLY_AVAILABLE'
 * ```
 */
export function collectionStatus(files: readonly Pick<FileManifest, 'status'>[]): CollectionStatus {
  if (files.length === 0) return 'EMPTY';
  if (files.some((f) => f.status === 'REPLICATING')) return 'REPLICATING';
  if (files.some((f) => f.status === 'STUCK')) return 'STUCK';
  const ok = files.filter((f) => f.status === 'OK').length;
  if (ok === 0) return 'NOT_AVAILABLE';
  return ok < files.length ? 'PARTIALLY_AVAILABLE' : 'AVAILABLE';
}

/**
 * Every corrupt replica a staging run found, with its file: what `staging.declareCorrupt` declares.
 * When every replica of a file mismatches, the catalogue's checksum may be what is wrong.
 *
 * @example
 * ```ts
 * const r = await lake.staging.stage(['lofar:L123456'], { mode: 'download' });
 * for (const c of corruptReplicas(r)) console.log(`${formatDid(c.did)} on ${c.rse}: ${c.check} mismatch`);
 * ```
 */
export function corruptReplicas(result: Pick<StageResult, 'files'>): (CorruptReplica & { did: Did })[] {
  return result.files.flatMap((f) => (f.did ? (f.corruptReplicas ?? []).map((c) => ({ ...c, did: f.did as Did })) : []));
}

/**
 * @module
 */
import { formatDid, parseDid, toDid, type Did } from '../core/did.js';
import { AbortError, ConfigError, DlaasError, DuplicateError, ErrorCode, InvalidArgumentError } from '../core/errors.js';
import type { TokenSource } from '../core/token.js';
import type { RucioClient } from '../rucio/client.js';
import { RuleStuckError } from '../rucio/errors.js';
import type { Replica, Rule } from '../rucio/types.js';
import { downloadFile, type DownloadTask } from './download.js';
import { pfnToLocalPath, downloadRelativePath } from './paths.js';
import { mapPool } from './pool.js';
import { memorySink, type DownloadSink } from './sinks.js';
import { StorageClient, isHttpPfn } from './storage.js';
import { collectionStatus, type FileManifest, type StageEvent, type StageResult } from './types.js';
import { prepareUpload, uploadOne, type UploadFile, type UploadManifest, type UploadStep } from './upload.js';

/** Something to stage: a DID (object or `scope:name`), or a plain URL (e.g. a VO record's access URL). */
export type StageSource = Did | string | { url: string; name?: string; bytes?: number };

/** Something that yields stage sources: e.g. the ESAP basket (`esap.basket`). */
export interface StageSourceProvider {
  /** The sources to stage (Rucio items as DIDs, others as URLs). */
  stageSources(options?: { signal?: AbortSignal }): Promise<StageSource[]>;
}

/** Options of the {@link Staging} module (usually filled by `createDataLake`). */
export interface StagingOptions {
  rucio: RucioClient;
  /** Token for storage (WLCG bearer). Default: none (public storage) — `createDataLake` passes the Rucio token. */
  storageToken?: TokenSource | undefined;
  /** `fetch` for storage requests. */
  fetch?: typeof fetch | undefined;
  /** The compute site's RSE (`RUCIO_DESTINATION_RSE`). */
  destinationRse?: string | undefined;
  /** Where that RSE is mounted (`RUCIO_RSE_MOUNT_PATH`), for replica mode. */
  rseMountPath?: string | undefined;
  /** Leading PFN path segments to drop (`RUCIO_PATH_BEGINS_AT`). */
  pathBeginsAt?: number | undefined;
  /** Default mode (`RUCIO_MODE`): `replica` when a mount path is configured, else `download`. */
  mode?: 'replica' | 'download' | undefined;
  /** Default download destination (`dlaas/node` passes a file sink; otherwise in memory). */
  sink?: (() => DownloadSink) | undefined;
  /** Checks a local path (replica mode `verifyLocal`), provided by `dlaas/node`. */
  statFile?: ((path: string) => Promise<{ size: number } | undefined>) | undefined;
}

/** Options of {@link Staging.stage}. */
export interface StageOptions {
  /** `replica` (rule to a mounted RSE, then local paths) or `download` (verified copies into a sink). */
  mode?: 'replica' | 'download';
  /** Destination RSE (default: the configured one). */
  rse?: string;
  /** Rule lifetime in seconds (replica mode; default none). */
  lifetime?: number;
  /** Rule activity. */
  activity?: string;
  /** Wait for rules to finish (default true). */
  wait?: boolean;
  /** Rule poll interval in ms (default 2000, growing). */
  pollInterval?: number;
  /** Replica mode: check each local path exists with the catalogue's size. */
  verifyLocal?: boolean;
  /** Download mode: where files go (default: the module's sink). */
  sink?: DownloadSink;
  /** Download mode: RSEs to prefer as sources, best first (the destination RSE is preferred anyway). */
  preferRses?: readonly string[];
  /** Parallel downloads (default 4). */
  concurrency?: number;
  /** Tries per replica before moving on (default 2, as Rucio's download client). */
  attemptsPerSource?: number;
  /** Local layout: `scope/name` (default) or just `name`. */
  layout?: 'scope' | 'flat';
  signal?: AbortSignal;
  onProgress?: (event: StageEvent) => void;
}

/** Options of {@link Staging.upload}. */
export interface UploadOptions {
  scope: string;
  rse: string;
  /** Attach every file to this dataset (`scope:name` or a DID), created if missing. */
  dataset?: Did | string;
  /** Add a replication rule on the RSE for the dataset (or each file without a dataset). */
  rule?: boolean;
  /** Rule lifetime in seconds. */
  lifetime?: number;
  /** Write protocol scheme (default: best https/davs). */
  scheme?: string;
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (event: { type: 'step'; did: Did; step: UploadStep } | { type: 'file'; manifest: UploadManifest }) => void;
}

/** The outcome of {@link Staging.upload}. */
export interface UploadResult {
  files: UploadManifest[];
  dataset?: Did;
  ruleIds: string[];
  ok: boolean;
}

const READ_SCHEMES = ['https', 'davs', 'http', 'dav'];

/**
 * Staging: bring Data Lake data to the compute site, and results back.
 *
 * @example
 * ```ts
 * // Replica mode (a FUSE-mounted RSE in the notebook): rule → wait → local paths
 * const r = await lake.staging.stage(['lofar:L123456'], { mode: 'replica', onProgress: console.log });
 * for (const f of r.files) console.log(f.localPath);
 * // Download mode: verified copies
 * const d = await lake.staging.stage([parseDid('lofar:L123456')], { mode: 'download' });
 * // Results back into the Data Lake
 * await lake.staging.upload([{ name: 'image.fits', data: blob }], { scope: 'user.jdoe', rse: 'SITE_A', dataset: 'user.jdoe:results' });
 * ```
 */
export class Staging {
  readonly #o: StagingOptions;
  readonly #storage: StorageClient;

  constructor(options: StagingOptions) {
    this.#o = options;
    this.#storage = new StorageClient({ token: options.storageToken, fetch: options.fetch });
  }

  /** Stage sources (DIDs, URLs, or a provider such as the ESAP basket) into the compute site. */
  async stage(sources: StageSource | readonly StageSource[] | StageSourceProvider, options: StageOptions = {}): Promise<StageResult> {
    const list = await this.#resolveSources(sources, options.signal);
    const mode = options.mode ?? this.#o.mode ?? (this.#o.rseMountPath ? 'replica' : 'download');
    const dids = dedupe(list.filter((s): s is Did => !isUrlSource(s)));
    const urls = list.filter(isUrlSource);
    if (mode === 'replica') {
      if (urls.length) throw new InvalidArgumentError('sources', `replica mode stages Rucio DIDs only; ${urls.length} URL source(s) need download mode`);
      return this.#replicaMode(dids, options);
    }
    return this.#downloadMode(dids, urls, options);
  }

  /**
   * Upload result files into the Data Lake: checksum → register the replica as COPYING → PUT
   * `<pfn>.rucio.upload` → verify on storage → MOVE → set AVAILABLE → attach → rule. A failure at any
   * step leaves no temporary object and no AVAILABLE replica; re-running finishes what was left.
   */
  async upload(files: readonly UploadFile[], options: UploadOptions): Promise<UploadResult> {
    const { rucio } = this.#o;
    const base = { scope: options.scope, rse: options.rse, ...(options.scheme ? { scheme: options.scheme } : {}), signal: options.signal, onStep: (did: Did, step: UploadStep) => options.onProgress?.({ type: 'step', did, step }) };
    const names = new Set<string>();
    for (const f of files) {
      toDid({ scope: options.scope, name: f.name });
      if (names.has(f.name)) throw new InvalidArgumentError('files', `file name ${JSON.stringify(f.name)} appears twice`);
      names.add(f.name);
    }
    const run = await prepareUpload(rucio, this.#storage, base);
    const dataset = options.dataset === undefined ? undefined : typeof options.dataset === 'string' ? parseDid(options.dataset) : toDid(options.dataset);
    if (dataset) await rucio.dids.addDataset(dataset, { signal: options.signal }).catch(ignore(DuplicateError));
    const manifests = await mapPool(files, options.concurrency ?? 2, async (f) => {
      const m = await uploadOne(run, f, base);
      if (dataset && m.status !== 'FAILED') {
        try {
          await rucio.dids.attach(dataset, [m.did], { signal: options.signal });
        } catch (e) {
          if (!(e instanceof DuplicateError)) {
            const err = e instanceof DlaasError ? e : new DlaasError(String(e));
            Object.assign(m, { status: 'FAILED', step: 'attach', error: { code: err.code, message: err.message } });
          }
        }
      }
      options.onProgress?.({ type: 'file', manifest: m });
      return m;
    });
    const ruleIds: string[] = [];
    if (options.rule) {
      const targets = dataset ? [dataset] : manifests.filter((m) => m.status !== 'FAILED').map((m) => m.did);
      if (targets.length) ruleIds.push(...(await this.#ensureRules(targets, options.rse, { lifetime: options.lifetime, signal: options.signal })).map((r) => r.id));
    }
    return { files: manifests, ...(dataset ? { dataset } : {}), ruleIds, ok: manifests.every((m) => m.status !== 'FAILED') };
  }

  async #resolveSources(sources: StageSource | readonly StageSource[] | StageSourceProvider, signal?: AbortSignal): Promise<(Did | { url: string; name?: string; bytes?: number })[]> {
    const raw: StageSource[] = isProvider(sources) ? await sources.stageSources({ ...(signal ? { signal } : {}) }) : Array.isArray(sources) ? [...(sources as StageSource[])] : [sources as StageSource];
    return raw.map((s) => (typeof s === 'string' ? parseDid(s) : isUrlSource(s) ? checkUrl(s) : toDid(s)));
  }

  async #replicaMode(dids: Did[], o: StageOptions): Promise<StageResult> {
    const { rucio } = this.#o;
    const rse = o.rse ?? this.#o.destinationRse;
    if (!rse) throw new ConfigError('RUCIO_DESTINATION_RSE', 'replica mode needs a destination RSE (option "rse", or RUCIO_DESTINATION_RSE)');
    const mount = this.#o.rseMountPath;
    if (!mount) throw new ConfigError('RUCIO_RSE_MOUNT_PATH', 'replica mode needs the RSE mount path (RUCIO_RSE_MOUNT_PATH)');
    const rules = await this.#ensureRules(dids, rse, o);
    const waited = new Map<string, Rule | RuleStuckError>();
    if (o.wait !== false) {
      await Promise.all(
        rules.map(async (r) => {
          try {
            const done = await rucio.rules.waitFor(r.id, {
              signal: o.signal,
              ...(o.pollInterval ? { pollInterval: o.pollInterval } : {}),
              onProgress: (p) => o.onProgress?.({ type: 'rule', ruleId: p.ruleId, state: p.state, ok: p.ok, replicating: p.replicating, stuck: p.stuck, total: p.total }),
            });
            waited.set(r.id, done);
            r.state = done.state;
          } catch (e) {
            if (!(e instanceof RuleStuckError)) throw e;
            waited.set(r.id, e);
            r.state = 'STUCK';
          }
        }),
      );
    }
    const files = await this.#expand(dids, o.signal);
    const stuck = new Set<string>();
    for (const w of waited.values()) if (w instanceof RuleStuckError) for (const l of w.stuckLocks) stuck.add(`${l.scope}:${l.name}`);
    const manifests: FileManifest[] = [];
    const seen = new Set<string>();
    for await (const rep of rucio.replicas.list(files, { rseExpression: rse, allStates: true, signal: o.signal })) {
      const key = formatDid(rep);
      seen.add(key);
      const did = { scope: rep.scope, name: rep.name };
      const pfn = rep.rses[rse]?.[0];
      const state = rep.states?.[rse];
      const base = { did, bytes: rep.bytes, adler32: rep.adler32 ?? null, md5: rep.md5 ?? null, verified: [] as FileManifest['verified'], attempts: 0 };
      if (state === 'AVAILABLE' && pfn) {
        const localPath = pfnToLocalPath(pfn, mount, this.#o.pathBeginsAt ?? 0);
        const m: FileManifest = { ...base, status: 'OK', sourcePfn: pfn, localPath };
        if (o.verifyLocal) await this.#verifyLocal(m);
        manifests.push(m);
      } else {
        manifests.push({ ...base, status: stuck.has(key) ? 'STUCK' : 'REPLICATING', ...(pfn ? { sourcePfn: pfn } : {}) });
      }
      o.onProgress?.({ type: 'file', manifest: manifests[manifests.length - 1] as FileManifest });
    }
    for (const f of files) {
      const key = formatDid(f);
      if (!seen.has(key)) manifests.push({ did: f, status: stuck.has(key) ? 'STUCK' : 'NOT_AVAILABLE', bytes: null, verified: [], attempts: 0, error: { code: ErrorCode.notFound, message: `no replica of ${key} on ${rse}` } });
    }
    return summarise('replica', manifests, rules);
  }

  async #verifyLocal(m: FileManifest): Promise<void> {
    const stat = this.#o.statFile;
    if (!stat) throw new ConfigError('statFile', 'verifyLocal needs filesystem access: use createDataLake from dlaas/node');
    const st = await stat(m.localPath as string);
    if (!st) Object.assign(m, { status: 'NOT_AVAILABLE', error: { code: ErrorCode.notFound, message: `${m.localPath} does not exist (is the RSE mounted?)` } });
    else if (m.bytes !== null && st.size !== m.bytes) Object.assign(m, { status: 'FAILED', error: { code: ErrorCode.checksumMismatch, message: `${m.localPath} has ${st.size} bytes, the catalogue says ${m.bytes}` } });
    else m.verified.push('size');
  }

  /** Reuse a rule that already covers each DID on the RSE (the account's own first), else create one. */
  async #ensureRules(dids: Did[], rse: string, o: { lifetime?: number | undefined; activity?: string | undefined; signal?: AbortSignal | undefined }): Promise<StageResult['rules']> {
    const { rucio } = this.#o;
    const out: StageResult['rules'] = [];
    const missing: Did[] = [];
    for (const did of dids) {
      const existing = await this.#findRule(did, rse, o.signal);
      if (existing) out.push({ id: existing.id, did, created: false, state: existing.state });
      else missing.push(did);
    }
    if (missing.length) {
      let ids: string[];
      try {
        ids = await rucio.rules.create({ dids: missing, copies: 1, rse_expression: rse, grouping: 'DATASET', lifetime: o.lifetime ?? null, ...(o.activity ? { activity: o.activity } : {}) }, { signal: o.signal });
      } catch (e) {
        if (!(e instanceof DuplicateError) || missing.length !== 1) throw e;
        // Someone created it meanwhile: use theirs.
        const found = await this.#findRule(missing[0] as Did, rse, o.signal);
        if (!found) throw e;
        ids = [found.id];
      }
      missing.forEach((did, i) => out.push({ id: ids[i] as string, did, created: true, state: 'REPLICATING' }));
    }
    return out;
  }

  async #findRule(did: Did, rse: string, signal?: AbortSignal): Promise<Rule | undefined> {
    const account = this.#o.rucio.account;
    let any: Rule | undefined;
    for await (const r of this.#o.rucio.dids.rules(did, { signal })) {
      if (r.rse_expression !== rse) continue;
      if (r.expires_at && Date.parse(r.expires_at) < Date.now()) continue;
      if (!account || r.account === account) return r;
      any ??= r;
    }
    return any;
  }

  /** Files of the DIDs: one streamed `…/files` call per DID (a file lists itself). */
  async #expand(dids: Did[], signal?: AbortSignal): Promise<Did[]> {
    const out = new Map<string, Did>();
    for (const did of dids) {
      for await (const f of this.#o.rucio.dids.files(did, { signal })) out.set(`${f.scope}:${f.name}`, { scope: f.scope, name: f.name });
    }
    return [...out.values()];
  }

  async #downloadMode(dids: Did[], urls: { url: string; name?: string; bytes?: number }[], o: StageOptions): Promise<StageResult> {
    const sink = o.sink ?? this.#o.sink?.() ?? memorySink();
    const files = await this.#expand(dids, o.signal);
    const prefer = [...(o.rse ?? this.#o.destinationRse ? [o.rse ?? (this.#o.destinationRse as string)] : []), ...(o.preferRses ?? [])];
    const tasks: DownloadTask[] = [];
    const found = new Set<string>();
    for await (const rep of this.#o.rucio.replicas.list(files, { schemes: READ_SCHEMES, signal: o.signal })) {
      found.add(formatDid(rep));
      const did = { scope: rep.scope, name: rep.name };
      tasks.push({ did, bytes: rep.bytes, adler32: rep.adler32 ?? null, md5: rep.md5 ?? null, sources: orderSources(rep, prefer), relPath: downloadRelativePath(did, o.layout) });
    }
    for (const u of urls) tasks.push({ did: undefined, url: u.url, bytes: u.bytes ?? null, adler32: null, md5: null, sources: [u.url], relPath: urlRelativePath(u) });
    const missing: FileManifest[] = files
      .filter((f) => !found.has(formatDid(f)))
      .map((f) => ({ did: f, status: 'NOT_AVAILABLE', bytes: null, verified: [], attempts: 0, error: { code: ErrorCode.notFound, message: `no replica of ${formatDid(f)}` } }));
    const total = tasks.reduce((n, t) => n + (t.bytes ?? 0), 0);
    o.onProgress?.({ type: 'plan', files: tasks.length + missing.length, bytes: total });
    let overall = 0;
    const started = Date.now();
    let lastEmit = 0;
    const manifests = await mapPool(tasks, o.concurrency ?? 4, async (task) => {
      if (o.signal?.aborted) throw new AbortError('staging was aborted', { cause: o.signal.reason });
      const m = await downloadFile(task, {
        storage: this.#storage,
        sink,
        signal: o.signal,
        attemptsPerSource: o.attemptsPerSource ?? 2,
        onBytes: (t, transferred, delta) => {
          overall += delta;
          const now = Date.now();
          if (o.onProgress && (now - lastEmit >= 100 || transferred === t.bytes)) {
            lastEmit = now;
            o.onProgress({ type: 'bytes', did: t.did, ...(t.url ? { url: t.url } : {}), transferred, total: t.bytes, overallBytes: overall, overallTotal: total, rate: overall / Math.max(0.001, (now - started) / 1000) });
          }
        },
      });
      o.onProgress?.({ type: 'file', manifest: m });
      return m;
    });
    return summarise('download', [...manifests, ...missing], []);
  }
}

function summarise(mode: 'replica' | 'download', files: FileManifest[], rules: StageResult['rules']): StageResult {
  const ok = files.filter((f) => f.status === 'OK');
  return {
    mode,
    status: collectionStatus(files),
    files,
    rules,
    totals: {
      files: files.length,
      ok: ok.length,
      failed: files.length - ok.length,
      bytes: ok.reduce((n, f) => n + (f.bytes ?? 0), 0),
      verifiedBytes: ok.filter((f) => f.verified.includes('adler32') || f.verified.includes('md5')).reduce((n, f) => n + (f.bytes ?? 0), 0),
      skipped: files.filter((f) => f.skipped).length,
    },
  };
}

/** Sources of a replica for download: readable over HTTP, preferred RSEs first, then the server's priority. */
export function orderSources(rep: Replica, preferRses: readonly string[]): string[] {
  const rank = (rse: string) => {
    const i = preferRses.indexOf(rse);
    return i < 0 ? preferRses.length : i;
  };
  return Object.entries(rep.pfns)
    .filter(([pfn, info]) => isHttpPfn(pfn) && (rep.states?.[info.rse] ?? 'AVAILABLE') === 'AVAILABLE')
    .sort(([, a], [, b]) => rank(a.rse) - rank(b.rse) || a.priority - b.priority)
    .map(([pfn]) => pfn);
}

function isUrlSource(s: unknown): s is { url: string; name?: string; bytes?: number } {
  return typeof s === 'object' && s !== null && typeof (s as { url?: unknown }).url === 'string';
}

function isProvider(s: unknown): s is StageSourceProvider {
  return typeof s === 'object' && s !== null && typeof (s as StageSourceProvider).stageSources === 'function';
}

function checkUrl(s: { url: string; name?: string; bytes?: number }): { url: string; name?: string; bytes?: number } {
  let u: URL;
  try {
    u = new URL(s.url);
  } catch {
    throw new InvalidArgumentError('url', `not a URL: ${JSON.stringify(s.url.slice(0, 80))}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new InvalidArgumentError('url', `only http(s) URLs can be downloaded, got ${u.protocol}`);
  return s;
}

function urlRelativePath(s: { url: string; name?: string }): string {
  const name = s.name ?? decodeURIComponent(new URL(s.url).pathname.split('/').filter(Boolean).pop() ?? 'download');
  const safe = name.replace(/[/\\]/g, '_').replace(/^\.+/, '_');
  return `urls/${safe || 'download'}`;
}

function dedupe(dids: Did[]): Did[] {
  const m = new Map<string, Did>();
  for (const d of dids) m.set(formatDid(d), d);
  return [...m.values()];
}

function ignore(cls: abstract new (...a: never[]) => Error) {
  return (e: unknown) => {
    if (!(e instanceof cls)) throw e;
  };
}

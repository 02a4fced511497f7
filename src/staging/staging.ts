/**
 * @module
 */
import { formatDid, parseDid, toDid, type Did } from '../core/did.js';
import { AbortError, ConfigError, DlaasError, DuplicateError, ErrorCode, InvalidArgumentError } from '../core/errors.js';
import type { TokenSource } from '../core/token.js';
import type { RetryPolicy } from '../core/transport.js';
import type { RucioClient } from '../rucio/client.js';
import { RuleNotProgressingError, RuleStuckError } from '../rucio/errors.js';
import type { NotDeclared } from '../rucio/replicas.js';
import type { Replica, Rule } from '../rucio/types.js';
import { downloadFile, type DownloadTask, type VerifyCheck } from './download.js';
import { defaultHashing } from './hash-workers.js';
import type { Hashing } from './hashing.js';
import type { StorageHttp } from './http.js';
import { pfnToLocalPath, downloadRelativePath } from './paths.js';
import { mapPool } from './pool.js';
import { memorySink, type DownloadSink } from './sinks.js';
import { StorageClient, isHttpPfn } from './storage.js';
import { collectionStatus, corruptReplicas, type CorruptReplica, type FileManifest, type FileStatus, type StageEvent, type StageResult } from './types.js';
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
  /**
   * Token for storage (WLCG bearer). Default: none (public storage); `createDataLake` passes the one
   * `lake.auth.storageSource` names. Sent only over TLS and to loopback (see `tokenOverPlainHttp`).
   */
  storageToken?: TokenSource | undefined;
  /**
   * Hosts that may get the storage token over plain `http`/`dav` (default none: a PFN on plain http
   * to any host but loopback is read without the token, and a 401/403 from it says why).
   */
  tokenOverPlainHttp?: readonly string[] | undefined;
  /** `fetch` for storage requests. */
  fetch?: typeof fetch | undefined;
  /**
   * The HTTP client for file bytes (GET and PUT bodies). Default: `fetch` (every runtime);
   * `dlaas/node` passes its bulk client (`nodeStorageHttp()`) unless a `fetch` is given.
   */
  storageHttp?: StorageHttp | undefined;
  /**
   * Where checksums are computed. Default: Web Workers in a page (`webWorkerHashing`, falling back to
   * the calling thread where the page's CSP refuses them), the calling thread elsewhere; `dlaas/node`
   * passes worker threads (`workerHashing`).
   */
  hashing?: Hashing | undefined;
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
  /** Per-attempt timeout of storage requests (PUT, HEAD, MOVE, DELETE, and GET until headers), in ms (default 60 000). */
  storageTimeout?: number | false | undefined;
  /** Retry policy of idempotent storage requests. */
  storageRetry?: RetryPolicy | undefined;
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
  /**
   * Parallel `Range` streams for one large file (default 4). Each stream hashes its segment; the
   * segments' adler32 values are combined, so the whole file is still verified. md5 cannot be
   * combined: a file verified by md5 comes in one stream.
   */
  streams?: number;
  /** Smallest segment of a file split into parallel streams, in bytes (default 16 MiB). */
  segmentSize?: number;
  /**
   * Checksums to verify. Default: what Rucio verifies — adler32 when the catalogue has it, md5 only
   * when adler32 is absent. `['adler32', 'md5']` checks both (md5 then forces one stream per file).
   * The size is always checked when the catalogue has it.
   */
  verify?: readonly VerifyCheck[];
  /** Tries per replica before moving on (default 2, as Rucio's download client). */
  attemptsPerSource?: number;
  /** Give up on a transfer whose body delivers nothing for this long, in ms (default 60 000); the next try resumes. */
  stallTimeout?: number;
  /** Local layout: `scope/name` (default) or just `name`. */
  layout?: 'scope' | 'flat';
  signal?: AbortSignal;
  /** Called with progress events: the plan, rule lock counts, bytes (throttled) and each finished file. */
  onProgress?: (event: StageEvent) => void;
}

/** A progress event of {@link Staging.upload}: a file entered a step, or a file is finished (`done` of `total`). */
export type UploadEvent = { type: 'step'; did: Did; step: UploadStep } | { type: 'file'; manifest: UploadManifest; done: number; total: number };

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
  /** Parallel uploads (default 4, as downloads). Each file streams from its `Blob`: nothing is read whole into memory. */
  concurrency?: number;
  /**
   * How stored bytes are proven before a replica becomes AVAILABLE (default `'digest-or-read-back'`:
   * the storage's `Digest: adler32`, or the object read back and hashed where the storage sends
   * none; `'digest'`: no read-back, such a file fails at `verify` with `DLAAS_UNVERIFIED` and its
   * replica stays COPYING).
   */
  verify?: 'digest-or-read-back' | 'digest';
  signal?: AbortSignal;
  /** Called at each step of each file and when a file is done. */
  onProgress?: (event: UploadEvent) => void;
}

/** The outcome of {@link Staging.upload}. */
/** Options of {@link Staging.declareCorrupt}. */
export interface DeclareCorruptOptions {
  /**
   * `bad` (default): the replicas turn BAD at once and are no longer offered by `replicas.list` (the
   * generic permission policy lets only `root` do this: others get a `ForbiddenError`).
   * `suspicious`: anyone may; they stay listed, and Rucio's daemons act on repeated reports. This
   * goes by PFN, and Rucio's default PFN→DID translation takes the path's first segment as the
   * scope: a scope the path splits (`user.jdoe` → `user/jdoe/…`) comes back in `notDeclared`.
   */
  as?: 'bad' | 'suspicious';
  /** Reason kept with the declaration (default: `"<check> mismatch found by dlaas staging"`, one declaration per check). */
  reason?: string;
  signal?: AbortSignal;
}

/** The outcome of {@link Staging.declareCorrupt}. */
export interface DeclareCorruptResult {
  /** The replicas sent to Rucio. */
  declared: (CorruptReplica & { did: Did })[];
  /** What Rucio did not declare, per RSE, in its words (empty when it declared everything). */
  notDeclared: NotDeclared;
}

export interface UploadResult {
  files: UploadManifest[];
  dataset?: Did;
  ruleIds: string[];
  ok: boolean;
}

const READ_SCHEMES = ['https', 'davs', 'http', 'dav'];

/** A file of a staged DID, with its catalogue size. */
interface FileOf {
  did: Did;
  bytes: number | null;
}

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
  readonly #anonymous: StorageClient;

  constructor(options: StagingOptions) {
    this.#o = options;
    const common = { fetch: options.fetch, http: options.storageHttp, timeout: options.storageTimeout, retry: options.storageRetry };
    this.#storage = new StorageClient({ ...common, token: options.storageToken, tokenOverPlainHttp: options.tokenOverPlainHttp });
    this.#anonymous = new StorageClient(common);
  }

  /**
   * Stage sources (DIDs, URLs, or a provider such as the ESAP basket) into the compute site.
   * @throws {@link InvalidArgumentError} for bad options or sources, {@link ConfigError} when replica
   *   mode lacks its settings, {@link AbortError} when `signal` fires (nothing half-published).
   */
  async stage(sources: StageSource | readonly StageSource[] | StageSourceProvider, options: StageOptions = {}): Promise<StageResult> {
    checkStageOptions(options);
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
   * Upload result files into the Data Lake: checksum → check → register the replica as COPYING → PFN →
   * PUT a private `<pfn>.<random>.rucio.upload` → verify on storage → MOVE (and check the final name) → set AVAILABLE →
   * attach → rule. A failure at any step leaves no temporary object and no AVAILABLE replica, and is
   * reported per file as an {@link UploadError} naming the step; re-running finishes what was left.
   * @throws {@link InvalidArgumentError} for bad files or options, {@link AbortError} when aborted.
   */
  async upload(files: readonly UploadFile[], options: UploadOptions): Promise<UploadResult> {
    const { rucio } = this.#o;
    const o = checkUploadOptions(files, options);
    const dataset = options.dataset === undefined ? undefined : typeof options.dataset === 'string' ? parseDid(options.dataset) : toDid(options.dataset);
    const base = {
      scope: options.scope,
      rse: options.rse,
      ...(options.scheme ? { scheme: options.scheme } : {}),
      dataset,
      ...(options.verify ? { verify: options.verify } : {}),
      signal: options.signal,
      onStep: (did: Did, step: UploadStep) => options.onProgress?.({ type: 'step', did, step }),
    };
    const run = await prepareUpload(rucio, this.#storage, base, this.#o.hashing ?? defaultHashing());
    if (dataset) await rucio.dids.addDataset(dataset, { signal: options.signal }).catch(ignore(DuplicateError));
    let done = 0;
    const manifests = await mapPool(files, o.concurrency, async (f) => {
      const m = await uploadOne(run, f, base);
      options.onProgress?.({ type: 'file', manifest: m, done: ++done, total: files.length });
      return m;
    });
    const ruleIds: string[] = [];
    if (options.rule) {
      const targets = dataset ? [dataset] : manifests.filter((m) => m.status !== 'FAILED').map((m) => m.did);
      if (targets.length) ruleIds.push(...(await this.#ensureRules(targets, options.rse, { lifetime: options.lifetime, signal: options.signal })).map((r) => r.id));
    }
    return { files: manifests, ...(dataset ? { dataset } : {}), ruleIds, ok: manifests.every((m) => m.status !== 'FAILED') };
  }

  /**
   * Tell Rucio about the corrupt replicas a download found (`FileManifest.corruptReplicas`): declare
   * them bad (default; `POST /replicas/bad` by DID and RSE) or suspicious (by PFN). Nothing is sent
   * when there are none.
   *
   * @example
   * ```ts
   * const r = await lake.staging.stage(['lofar:L123456'], { mode: 'download' });
   * if (corruptReplicas(r).length) await lake.staging.declareCorrupt(r, { reason: 'adler32 mismatch on download' });
   * ```
   * @throws ForbiddenError when the account may not declare bad replicas (try `as: 'suspicious'`).
   */
  async declareCorrupt(result: Pick<StageResult, 'files'>, options: DeclareCorruptOptions = {}): Promise<DeclareCorruptResult> {
    const { rucio } = this.#o;
    oneOf('as', options.as, ['bad', 'suspicious']);
    const declared = corruptReplicas(result).filter((c) => options.as === 'suspicious' || c.rse !== undefined);
    const notDeclared: NotDeclared = {};
    const byReason = new Map<string, typeof declared>();
    for (const c of declared) {
      const reason = options.reason ?? `${c.check} mismatch found by dlaas staging`;
      byReason.set(reason, [...(byReason.get(reason) ?? []), c]);
    }
    for (const [reason, list] of byReason) {
      const call = { reason, signal: options.signal };
      const answer =
        options.as === 'suspicious'
          ? await rucio.replicas.declareSuspicious([...new Set(list.map((c) => c.pfn))], call)
          : await rucio.replicas.declareBad(list.map((c) => ({ ...c.did, rse: c.rse as string })), call);
      for (const [k, v] of Object.entries(answer)) notDeclared[k] = [...(notDeclared[k] ?? []), ...v];
    }
    return { declared, notDeclared };
  }

  async #resolveSources(sources: StageSource | readonly StageSource[] | StageSourceProvider, signal?: AbortSignal): Promise<(Did | { url: string; name?: string; bytes?: number })[]> {
    const raw: StageSource[] = isProvider(sources) ? await sources.stageSources({ ...(signal ? { signal } : {}) }) : Array.isArray(sources) ? [...(sources as StageSource[])] : [sources as StageSource];
    return raw.map((s, i) => (typeof s === 'string' ? parseDid(s) : isUrlSource(s) ? checkUrl(s, i) : toDid(s)));
  }

  async #replicaMode(dids: Did[], o: StageOptions): Promise<StageResult> {
    const { rucio } = this.#o;
    const rse = o.rse ?? this.#o.destinationRse;
    if (!rse) throw new ConfigError('RUCIO_DESTINATION_RSE', 'replica mode needs a destination RSE (option "rse", or RUCIO_DESTINATION_RSE)');
    const mount = this.#o.rseMountPath;
    if (!mount) throw new ConfigError('RUCIO_RSE_MOUNT_PATH', 'replica mode needs the RSE mount path (RUCIO_RSE_MOUNT_PATH)');
    if (o.verifyLocal && !this.#o.statFile) throw new ConfigError('statFile', 'verifyLocal needs filesystem access: use createDataLake from dlaas/node');
    const expanded = await this.#expand(dids, o.signal);
    const rules = await this.#ensureRules(dids, rse, o);
    const problems = o.wait === false ? new Map<string, DlaasError>() : await this.#waitRules(rules, expanded, o);
    // A file that is not (yet) on the RSE gets its rule's state, as in the extension: OK means the
    // judge has not evaluated the file yet (→ REPLICATING), anything but REPLICATING → STUCK.
    const ruleOf = new Map<string, StageResult['rules'][number]>();
    for (const r of rules) for (const f of expanded.get(formatDid(r.did)) ?? []) ruleOf.set(formatDid(f.did), r);
    const files = uniqueFiles(expanded);
    const replicas = new Map<string, Replica>();
    for await (const rep of rucio.replicas.list(files.map((f) => f.did), { rse_expression: rse, all_states: true, signal: o.signal })) replicas.set(formatDid(rep), rep);
    const manifests: FileManifest[] = [];
    for (const f of files) {
      const key = formatDid(f.did);
      const rep = replicas.get(key);
      const pfn = rep?.rses[rse]?.[0];
      const base = { did: f.did, bytes: rep?.bytes ?? f.bytes, adler32: rep?.adler32 ?? null, md5: rep?.md5 ?? null, verified: [] as FileManifest['verified'], attempts: 0 };
      let m: FileManifest;
      if (rep?.states?.[rse] === 'AVAILABLE' && pfn) {
        m = { ...base, status: 'OK', sourcePfn: pfn, localPath: pfnToLocalPath(pfn, mount, this.#o.pathBeginsAt ?? 0) };
        if (o.verifyLocal) await this.#verifyLocal(m);
      } else {
        const rule = ruleOf.get(key);
        const problem = problems.get(key) ?? (rule ? problems.get(rule.id) : undefined);
        const status: FileStatus = problem || (rule?.state !== 'OK' && rule?.state !== 'REPLICATING') ? 'STUCK' : 'REPLICATING';
        m = { ...base, status, ...(pfn ? { sourcePfn: pfn } : {}), ...(problem ? { error: problem } : {}) };
      }
      manifests.push(m);
      o.onProgress?.({ type: 'file', manifest: m, done: manifests.length, total: files.length });
    }
    return summarise('replica', manifests, rules);
  }

  /**
   * Wait for the rules, reporting lock counts and bytes (the sizes of the files whose lock is OK,
   * listed only when the count changed). Returns the problems: per stuck file (`scope:name`) and per
   * rule id that will not progress by itself.
   */
  async #waitRules(rules: StageResult['rules'], expanded: Map<string, FileOf[]>, o: StageOptions): Promise<Map<string, DlaasError>> {
    const { rucio } = this.#o;
    const problems = new Map<string, DlaasError>();
    await Promise.all(
      rules.map(async (r) => {
        const files = expanded.get(formatDid(r.did)) ?? [];
        const sizes = new Map(files.map((f) => [formatDid(f.did), f.bytes ?? 0]));
        const bytes = files.reduce((n, f) => n + (f.bytes ?? 0), 0);
        let lastOk = -1;
        let bytesOk = 0;
        try {
          const done = await rucio.rules.waitFor(r.id, {
            signal: o.signal,
            ...(o.pollInterval ? { pollInterval: o.pollInterval } : {}),
            onProgress: async (p) => {
              if (p.ok !== lastOk) {
                lastOk = p.ok;
                bytesOk = p.ok === 0 ? 0 : p.ok === p.total ? bytes : await sumOkLocks(rucio, r.id, sizes, o.signal);
              }
              o.onProgress?.({ type: 'rule', ruleId: p.ruleId, state: p.state, ok: p.ok, replicating: p.replicating, stuck: p.stuck, total: p.total, bytes, bytesOk });
            },
          });
          r.state = done.state;
        } catch (e) {
          if (e instanceof RuleStuckError) {
            r.state = 'STUCK';
            for (const l of e.stuckLocks) problems.set(`${l.scope}:${l.name}`, e);
          } else if (e instanceof RuleNotProgressingError) {
            r.state = e.state;
            problems.set(r.id, e);
          } else throw e;
        }
      }),
    );
    return problems;
  }

  async #verifyLocal(m: FileManifest): Promise<void> {
    const st = await (this.#o.statFile as NonNullable<StagingOptions['statFile']>)(m.localPath as string);
    if (!st) Object.assign(m, { status: 'NOT_AVAILABLE', error: new DlaasError(`${m.localPath} does not exist (is the RSE mounted?)`, {}, ErrorCode.notFound) });
    else if (m.bytes !== null && st.size !== m.bytes) Object.assign(m, { status: 'FAILED', error: new DlaasError(`${m.localPath} has ${st.size} bytes, the catalogue says ${m.bytes}`, {}, ErrorCode.checksumMismatch) });
    else m.verified.push('size');
  }

  /** Reuse the account's rule that already covers each DID on the RSE, else create one. */
  async #ensureRules(dids: Did[], rse: string, o: { lifetime?: number | undefined; activity?: string | undefined; signal?: AbortSignal | undefined }): Promise<StageResult['rules']> {
    const out: StageResult['rules'] = [];
    const missing: Did[] = [];
    for (const did of dids) {
      const existing = await this.#findRule(did, rse, o.signal);
      if (existing) out.push({ id: existing.id, did, created: false, state: existing.state });
      else missing.push(did);
    }
    if (missing.length) out.push(...(await this.#createRules(missing, rse, o)));
    return out;
  }

  /**
   * Create the missing rules in one request, safe after an ambiguous failure: `rules.ensure` looks a
   * rule up before sending again, so a lost answer (or a rule made meanwhile) never makes a second one.
   */
  async #createRules(dids: Did[], rse: string, o: { lifetime?: number | undefined; activity?: string | undefined; signal?: AbortSignal | undefined }): Promise<StageResult['rules']> {
    const { rucio } = this.#o;
    const ensured = await rucio.rules.ensure({ dids, copies: 1, rse_expression: rse, grouping: 'DATASET', lifetime: o.lifetime ?? null, ...(o.activity ? { activity: o.activity } : {}) }, { signal: o.signal });
    return Promise.all(
      ensured.map(async (r) => ({ id: r.id, did: r.did, created: r.outcome === 'created', state: r.outcome === 'created' ? 'REPLICATING' : (await rucio.rules.get(r.id, { signal: o.signal })).state })),
    );
  }

  /** The first unexpired rule of the account (any account's when none is configured) on exactly this RSE expression. */
  async #findRule(did: Did, rse: string, signal?: AbortSignal): Promise<Rule | undefined> {
    const account = this.#o.rucio.account;
    for await (const r of this.#o.rucio.dids.rules(did, { signal })) {
      if (r.rse_expression !== rse || (account && r.account !== account)) continue;
      if (r.expires_at && Date.parse(r.expires_at) < Date.now()) continue;
      return r;
    }
    return undefined;
  }

  /** Files of each DID (keyed `scope:name`): one streamed `…/files` call per DID (a file lists itself). */
  async #expand(dids: Did[], signal?: AbortSignal): Promise<Map<string, FileOf[]>> {
    const out = new Map<string, FileOf[]>();
    for (const did of dids) {
      const files: FileOf[] = [];
      for await (const f of this.#o.rucio.dids.files(did, { signal })) files.push({ did: { scope: f.scope, name: f.name }, bytes: f.bytes });
      out.set(formatDid(did), files);
    }
    return out;
  }

  async #downloadMode(dids: Did[], urls: { url: string; name?: string; bytes?: number }[], o: StageOptions): Promise<StageResult> {
    const sink = o.sink ?? this.#o.sink?.() ?? memorySink();
    const files = uniqueFiles(await this.#expand(dids, o.signal)).map((f) => f.did);
    const destination = o.rse ?? this.#o.destinationRse;
    const prefer = [...(destination ? [destination] : []), ...(o.preferRses ?? [])];
    const tasks: DownloadTask[] = [];
    const found = new Set<string>();
    // A name that cannot be a local path fails that file only; the others are staged.
    const refused: FileManifest[] = [];
    for await (const rep of this.#o.rucio.replicas.list(files, { schemes: READ_SCHEMES, signal: o.signal })) {
      found.add(formatDid(rep));
      const did = { scope: rep.scope, name: rep.name };
      let relPath: string;
      try {
        relPath = downloadRelativePath(did, o.layout);
      } catch (error) {
        refused.push({ did, status: 'FAILED', bytes: rep.bytes, verified: [], attempts: 0, error: error as DlaasError });
        continue;
      }
      const sourceRses = Object.fromEntries(rep.replicas.map(({ pfn, rse }) => [pfn, rse]));
      tasks.push({ did, bytes: rep.bytes, adler32: rep.adler32 ?? null, md5: rep.md5 ?? null, sources: orderSources(rep, prefer), relPath, sourceRses });
    }
    for (const u of urls) tasks.push({ did: undefined, url: u.url, bytes: u.bytes ?? null, adler32: null, md5: null, sources: [u.url], relPath: urlRelativePath(u) });
    uniquePaths(tasks);
    const missing: FileManifest[] = [
      ...refused,
      ...files
        .filter((f) => !found.has(formatDid(f)))
        .map((f): FileManifest => ({ did: f, status: 'NOT_AVAILABLE', bytes: null, verified: [], attempts: 0, error: new DlaasError(`no replica of ${formatDid(f)}`, {}, ErrorCode.notFound) })),
    ];
    const progress = new DownloadProgress(tasks, missing.length, o.onProgress);
    for (const m of missing) progress.file(undefined, m);
    const context = {
      storage: this.#storage,
      sink,
      signal: o.signal,
      attemptsPerSource: o.attemptsPerSource ?? 2,
      stallTimeout: o.stallTimeout ?? 60_000,
      streams: o.streams ?? 4,
      segmentSize: o.segmentSize ?? 16 << 20,
      verify: o.verify,
      hashing: this.#o.hashing ?? defaultHashing(),
      onBytes: progress.bytes,
    };
    let manifests: FileManifest[];
    try {
      manifests = await mapPool(tasks, o.concurrency ?? 4, async (task) => {
        if (o.signal?.aborted) throw new AbortError('staging was aborted', { cause: o.signal.reason });
        // Plain URLs (e.g. VO archives) are third parties: they never get the Data Lake token.
        const m = await downloadFile(task, task.url ? { ...context, storage: this.#anonymous } : context);
        progress.file(task, m);
        return m;
      });
    } finally {
      progress.end();
    }
    return summarise('download', [...manifests, ...missing], []);
  }
}

/** Progress of a download run: `plan` up front, `bytes` (throttled), `file` with counts. */
class DownloadProgress {
  readonly #emit: ((e: StageEvent) => void) | undefined;
  readonly #held = new Map<DownloadTask, number>();
  readonly #total: number;
  readonly #files: number;
  readonly #started = Date.now();
  #overall = 0;
  #moved = 0;
  #done = 0;
  #lastEmit = 0;
  #latest: { task: DownloadTask; bytes: number } | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(tasks: readonly DownloadTask[], missing: number, emit: ((e: StageEvent) => void) | undefined) {
    this.#emit = emit;
    this.#total = tasks.reduce((n, t) => n + (t.bytes ?? 0), 0);
    this.#files = tasks.length + missing;
    emit?.({ type: 'plan', files: this.#files, bytes: this.#total });
  }

  #hold(task: DownloadTask, bytes: number): void {
    this.#overall += bytes - (this.#held.get(task) ?? 0);
    this.#held.set(task, bytes);
  }

  /**
   * A file now holds `bytes`, `chunk` of them just arrived. Events are throttled to one per 100 ms;
   * the latest state is always emitted within 100 ms (a stalled transfer still shows where it is).
   */
  readonly bytes = (task: DownloadTask, bytes: number, chunk: number): void => {
    this.#hold(task, bytes);
    this.#moved += chunk;
    if (!this.#emit) return;
    this.#latest = { task, bytes };
    const wait = 100 - (Date.now() - this.#lastEmit);
    if (wait > 0 && bytes !== task.bytes) {
      if (!this.#timer) {
        this.#timer = setTimeout(() => this.#flush(), wait);
        (this.#timer as { unref?: () => void }).unref?.();
      }
      return;
    }
    this.#flush();
  };

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const latest = this.#latest;
    if (!latest || !this.#emit) return;
    this.#latest = undefined;
    const now = Date.now();
    this.#lastEmit = now;
    const { task, bytes } = latest;
    const rate = this.#moved / Math.max(0.001, (now - this.#started) / 1000);
    this.#emit({ type: 'bytes', did: task.did, ...(task.url ? { url: task.url } : {}), transferred: bytes, total: task.bytes, overallBytes: this.#overall, overallTotal: this.#total, rate });
  }

  /** The run is over: no more events. */
  end(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#latest = undefined;
  }

  /** A file is finished: verified (or skipped) bytes count as held, a failed file's do not. */
  file(task: DownloadTask | undefined, m: FileManifest): void {
    if (this.#latest?.task === task) this.#flush();
    if (task) this.#hold(task, m.status === 'OK' ? (m.bytes ?? 0) : 0);
    this.#emit?.({ type: 'file', manifest: m, done: ++this.#done, total: this.#files });
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

/** Sum the sizes of the files whose lock of the rule is OK. */
async function sumOkLocks(rucio: RucioClient, ruleId: string, sizes: ReadonlyMap<string, number>, signal: AbortSignal | undefined): Promise<number> {
  let n = 0;
  for await (const l of rucio.rules.locks(ruleId, { signal })) if (l.state === 'OK') n += sizes.get(`${l.scope}:${l.name}`) ?? 0;
  return n;
}

/**
 * Sources of a replica for download: AVAILABLE and readable over HTTP (`https`, `davs`, `http`, `dav`),
 * preferred RSEs first, then the server's priority.
 *
 * @example
 * ```ts
 * for await (const rep of rucio.replicas.list([did], { schemes: ['davs', 'https'] })) console.log(orderSources(rep, ['SITE_B']));
 * ```
 */
export function orderSources(rep: Pick<Replica, 'replicas' | 'states'>, preferRses: readonly string[]): string[] {
  const rank = (rse: string) => {
    const i = preferRses.indexOf(rse);
    return i < 0 ? preferRses.length : i;
  };
  return rep.replicas
    .filter(({ pfn, rse }) => isHttpPfn(pfn) && (rep.states?.[rse] ?? 'AVAILABLE') === 'AVAILABLE')
    .sort((a, b) => rank(a.rse) - rank(b.rse) || a.priority - b.priority)
    .map(({ pfn }) => pfn);
}

function isUrlSource(s: unknown): s is { url: string; name?: string; bytes?: number } {
  return typeof s === 'object' && s !== null && typeof (s as { url?: unknown }).url === 'string';
}

function isProvider(s: unknown): s is StageSourceProvider {
  return typeof s === 'object' && s !== null && typeof (s as StageSourceProvider).stageSources === 'function';
}

function checkUrl(s: { url: string; name?: string; bytes?: number }, i: number): { url: string; name?: string; bytes?: number } {
  let u: URL;
  try {
    u = new URL(s.url);
  } catch {
    throw new InvalidArgumentError(`sources[${i}].url`, `not a URL: ${JSON.stringify(s.url.slice(0, 80))}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new InvalidArgumentError(`sources[${i}].url`, `only http(s) URLs can be downloaded, got ${u.protocol}`);
  if (s.bytes !== undefined && !(Number.isInteger(s.bytes) && s.bytes >= 0)) throw new InvalidArgumentError(`sources[${i}].bytes`, `bytes must be a non-negative integer, got ${String(s.bytes)}`);
  return s;
}

function urlRelativePath(s: { url: string; name?: string }): string {
  const name = s.name ?? decodeURIComponent(new URL(s.url).pathname.split('/').filter(Boolean).pop() ?? 'download');
  const safe = name.replace(/[/\\]/g, '_').replace(/^\.+/, '_');
  return `urls/${safe || 'download'}`;
}

/**
 * Give every download its own local path: two DIDs on one path (the `flat` layout across scopes) are
 * refused; a URL whose file name is taken gets `-2`, `-3`, … before its extension.
 */
function uniquePaths(tasks: DownloadTask[]): void {
  const taken = new Set<string>();
  for (const t of tasks) {
    if (taken.has(t.relPath)) {
      if (t.did) throw new InvalidArgumentError('layout', `two files would be downloaded to ${t.relPath} (use layout "scope")`);
      const dot = t.relPath.lastIndexOf('.');
      const [stem, ext] = dot > t.relPath.lastIndexOf('/') + 1 ? [t.relPath.slice(0, dot), t.relPath.slice(dot)] : [t.relPath, ''];
      let n = 2;
      while (taken.has(`${stem}-${n}${ext}`)) n++;
      t.relPath = `${stem}-${n}${ext}`;
    }
    taken.add(t.relPath);
  }
}

function uniqueFiles(expanded: Map<string, FileOf[]>): FileOf[] {
  const m = new Map<string, FileOf>();
  for (const files of expanded.values()) for (const f of files) m.set(formatDid(f.did), f);
  return [...m.values()];
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

/** Undefined or a positive integer; anything else is an {@link InvalidArgumentError} naming `name`. */
function positiveInteger(name: string, value: unknown): void {
  if (value !== undefined && !(typeof value === 'number' && Number.isInteger(value) && value > 0)) {
    throw new InvalidArgumentError(name, `${name} must be a positive integer, got ${JSON.stringify(value) ?? String(value)}`);
  }
}

function oneOf(name: string, value: unknown, allowed: readonly string[]): void {
  if (value !== undefined && !allowed.includes(value as string)) throw new InvalidArgumentError(name, `${name} must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${JSON.stringify(value)}`);
}

function rseName(name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || value.trim() === '')) throw new InvalidArgumentError(name, `${name} must be a non-empty RSE name`);
}

function checkStageOptions(o: StageOptions): void {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('options', 'stage options must be an object');
  oneOf('mode', o.mode, ['replica', 'download']);
  oneOf('layout', o.layout, ['scope', 'flat']);
  rseName('rse', o.rse);
  for (const k of ['lifetime', 'pollInterval', 'concurrency', 'attemptsPerSource', 'stallTimeout', 'streams', 'segmentSize'] as const) positiveInteger(k, o[k]);
  if (o.verify !== undefined && !(Array.isArray(o.verify) && o.verify.every((v) => v === 'adler32' || v === 'md5'))) throw new InvalidArgumentError('verify', "verify must be an array of 'adler32' and/or 'md5'");
  if (o.preferRses !== undefined && !(Array.isArray(o.preferRses) && o.preferRses.every((r) => typeof r === 'string'))) throw new InvalidArgumentError('preferRses', 'preferRses must be an array of RSE names');
}

function checkUploadOptions(files: readonly UploadFile[], o: UploadOptions): { concurrency: number } {
  if (!Array.isArray(files)) throw new InvalidArgumentError('files', 'files must be an array of { name, data }');
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('options', 'upload options need at least { scope, rse }');
  rseName('rse', o.rse ?? '');
  positiveInteger('concurrency', o.concurrency);
  positiveInteger('lifetime', o.lifetime);
  oneOf('verify', o.verify, ['digest-or-read-back', 'digest']);
  const names = new Set<string>();
  files.forEach((f, i) => {
    if (typeof f?.name !== 'string') throw new InvalidArgumentError(`files[${i}].name`, `files[${i}].name must be a string`);
    toDid({ scope: o.scope, name: f.name });
    if (!(f.data instanceof Blob || f.data instanceof Uint8Array)) throw new InvalidArgumentError(`files[${i}].data`, `files[${i}].data must be a Blob or a Uint8Array`);
    if (names.has(f.name)) throw new InvalidArgumentError(`files[${i}].name`, `file name ${JSON.stringify(f.name)} appears twice`);
    names.add(f.name);
  });
  return { concurrency: o.concurrency ?? 4 };
}

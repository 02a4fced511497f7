/**
 * @module
 */
import { didPath, formatDid, toDid, type Did } from '../core/did.js';
import { ApiError, InvalidArgumentError, NotFoundError, ServerError } from '../core/errors.js';
import { batchesOf, Listing, listingOfBatches } from '../core/listing.js';
import type { CallOptions, StreamCallOptions } from '../core/transport.js';
import { chunks, type RucioApi } from './api.js';
import { MissingDidsError } from './errors.js';
import { replicaLines } from './listed-replicas.js';
import {
  BAD_REPLICA_STATE_CODE,
  BadReplicaSchema,
  BadReplicaSummarySchema,
  DatasetReplicaSchema,
  DidInfoSchema,
  NotDeclaredSchema,
  REPLICA_STATE_CODE,
  StringArraySchema,
  SuspiciousReplicaArraySchema,
  type BadReplica,
  type BadReplicaState,
  type BadReplicaSummary,
  type DatasetReplica,
  type Replica,
  type ReplicaState,
  type SuspiciousReplica,
} from './types.js';

/**
 * Files per write request when no `batchSize` is given (`add`, `updateState`, `delete`, the bad
 * and suspicious declarations). Well under the 997 files at which an SQLite-backed Rucio fails a
 * registration (its expression-depth limit, reported as a generic 500 `DatabaseException`).
 *
 * @example
 * ```ts
 * await rucio.replicas.add('SITE_A', files, { batchSize: REPLICA_BATCH_SIZE / 2 });
 * ```
 */
export const REPLICA_BATCH_SIZE = 500;

/**
 * Options of {@link Replicas.list}. What goes to the server has the server's names (`rse_expression`,
 * `all_states`, … as in `POST /replicas/list`); the SDK's own options are camelCase (`batchSize`,
 * `missing`, `signal`, timeouts).
 */
export interface ListReplicasOptions extends StreamCallOptions {
  /** One PFN per listed scheme (e.g. `['davs', 'https']`); default: the server picks one per RSE. */
  schemes?: readonly string[];
  /** Only replicas on the RSEs this RSE expression matches. */
  rse_expression?: string;
  /** Include replicas in every state (default: AVAILABLE only). */
  all_states?: boolean;
  /** Protocol domain: `wan`, `lan` or `all` (default: server decides from the client's site). */
  domain?: 'wan' | 'lan' | 'all';
  /** WAN ordering: `geoip` (server default), `custom_table` or `random`. */
  sort?: 'geoip' | 'custom_table' | 'random';
  /** Include RSEs that are not readable. */
  ignore_availability?: boolean;
  /** Where the client is (site name drives LAN choice). `ip` is always replaced by the server. */
  client_location?: ClientLocation;
  /** Add `parents: ["scope:name"]` to each file. */
  resolve_parents?: boolean;
  /** Include archive constituents (server default true). */
  resolve_archives?: boolean;
  /** Lifetime of signed URLs in seconds. */
  signature_lifetime?: number;
  /** Only replicas updated after this date. */
  updated_after?: Date;
  /** @deprecated Use `rse_expression` (the server's name); this spelling goes away in 0.3.0. */
  rseExpression?: string;
  /** @deprecated Use `all_states` (the server's name); this spelling goes away in 0.3.0. */
  allStates?: boolean;
  /** @deprecated Use `ignore_availability` (the server's name); this spelling goes away in 0.3.0. */
  ignoreAvailability?: boolean;
  /** @deprecated Use `client_location` (the server's name); this spelling goes away in 0.3.0. */
  clientLocation?: ClientLocation;
  /** @deprecated Use `resolve_parents` (the server's name); this spelling goes away in 0.3.0. */
  resolveParents?: boolean;
  /** @deprecated Use `resolve_archives` (the server's name); this spelling goes away in 0.3.0. */
  resolveArchives?: boolean;
  /** @deprecated Use `signature_lifetime` (the server's name); this spelling goes away in 0.3.0. */
  signatureLifetime?: number;
  /** @deprecated Use `updated_after` (the server's name); this spelling goes away in 0.3.0. */
  updatedAfter?: Date;
  /** DIDs per request (default 500). Large DID lists are split into several requests transparently. */
  batchSize?: number;
  /**
   * What to do about DIDs that do not exist. Rucio lists nothing for them (200, empty body), just as
   * for a collection without replicas. `'ignore'` (default) does the same. `'error'`: once the
   * listing is done, each given DID that no line named is looked up (`GET /dids/{scope}/{name}`:
   * collections, whose lines name their files, are looked up too), and a {@link MissingDidsError}
   * names those that do not exist.
   */
  missing?: 'ignore' | 'error';
}

/** Where the client is, for {@link ListReplicasOptions.client_location}. */
export interface ClientLocation {
  site?: string;
  fqdn?: string;
  latitude?: number;
  longitude?: number;
}

/** Options of {@link Replicas.add}. */
export interface AddReplicasOptions extends CallOptions {
  /** Register on an RSE that is not available for writing (admins). */
  ignore_availability?: boolean;
  /** @deprecated Use `ignore_availability` (the server's name); this spelling goes away in 0.3.0. */
  ignoreAvailability?: boolean;
  /**
   * Files per request (default {@link REPLICA_BATCH_SIZE}, at most 1000). A batch the server fails
   * with 500 `DatabaseException` (how an SQLite-backed Rucio reports a batch too large for it) or
   * 413 is split in two and each half sent, down to single files.
   */
  batchSize?: number;
}

/** Options of {@link Replicas.updateState} and {@link Replicas.delete}. */
export interface ReplicaBatchOptions extends CallOptions {
  /** Files per request (default {@link REPLICA_BATCH_SIZE}, at most 1000). */
  batchSize?: number;
}

/** Options of {@link Replicas.delete}. */
export interface DeleteReplicasOptions extends ReplicaBatchOptions {
  /** Delete on an RSE that is not available for deletion (admins). */
  ignore_availability?: boolean;
  /** @deprecated Use `ignore_availability` (the server's name); this spelling goes away in 0.3.0. */
  ignoreAvailability?: boolean;
}

/** A file replica on an RSE, to declare bad with {@link Replicas.declareBad}. */
export interface ReplicaOnRse extends Did {
  rse: string;
}

/**
 * What a declaration did not declare: messages per RSE name, as the server words them, e.g.
 * `"(scope, 'name') Unknown replica"`, `"scope:name Already declared"`, `"<pfn> Unknown replica"`;
 * PFNs of no known RSE come under `unknown`. Empty when everything was declared.
 */
export type NotDeclared = Record<string, string[]>;

/** Options of {@link Replicas.declareBad}. */
export interface DeclareBadOptions extends CallOptions {
  /** Why the replicas are bad (kept with the declaration, counted per reason in {@link Replicas.badSummary}). */
  reason: string;
  /** Declare again replicas already declared BAD (default false: those come back as `Already declared`). */
  force?: boolean;
  /** Replicas per request (default {@link REPLICA_BATCH_SIZE}). */
  batchSize?: number;
}

/** Options of {@link Replicas.declareSuspicious} and {@link Replicas.declareBadDids}. */
export interface DeclareOptions extends CallOptions {
  /** Why (kept with the declaration). */
  reason: string;
  /** Replicas per request (default {@link REPLICA_BATCH_SIZE}). */
  batchSize?: number;
}

/** Options of {@link Replicas.addBadPfns}. */
export interface AddBadPfnsOptions extends CallOptions {
  reason: string;
  /** `BAD` (default), `SUSPICIOUS`, or `TEMPORARY_UNAVAILABLE` (which needs `expires_at`, at most 30 days ahead). */
  state?: 'BAD' | 'SUSPICIOUS' | 'TEMPORARY_UNAVAILABLE';
  /** When a `TEMPORARY_UNAVAILABLE` declaration ends. */
  expires_at?: Date;
  /** @deprecated Use `expires_at` (the server's name); this spelling goes away in 0.3.0. */
  expiresAt?: Date;
}

/** Filters of {@link Replicas.listBad}. */
export interface BadReplicaFilters {
  /** Only this state (sent as Rucio's letter: the server answers 500 to the name). Default: every state. */
  state?: BadReplicaState;
  /** Only declarations on this RSE (a name, not an expression). */
  rse?: string;
  /** Declared at or after. */
  younger_than?: Date;
  /** Declared at or before. */
  older_than?: Date;
  /** At most this many. */
  limit?: number;
  /** @deprecated Use `younger_than` (the server's name); this spelling goes away in 0.3.0. */
  youngerThan?: Date;
  /** @deprecated Use `older_than` (the server's name); this spelling goes away in 0.3.0. */
  olderThan?: Date;
}

/** Filters of {@link Replicas.badSummary}. */
export interface BadSummaryFilters {
  /** Only RSEs this RSE expression matches. */
  rse_expression?: string;
  /** Declared after this day (UTC). */
  from_date?: Date;
  /** Declared before this day (UTC). */
  to_date?: Date;
  /** @deprecated Use `rse_expression` (the server's name); this spelling goes away in 0.3.0. */
  rseExpression?: string;
  /** @deprecated Use `from_date` (the server's name); this spelling goes away in 0.3.0. */
  fromDate?: Date;
  /** @deprecated Use `to_date` (the server's name); this spelling goes away in 0.3.0. */
  toDate?: Date;
}

/** Filters of {@link Replicas.listSuspicious}. */
export interface SuspiciousFilters {
  /** Only RSEs this RSE expression matches. */
  rse_expression?: string;
  /** Declared since (server default: 10 days ago). */
  younger_than?: Date;
  /** Only replicas declared suspicious more than this many times (server default 0). */
  nattempts?: number;
  /** @deprecated Use `rse_expression` (the server's name); this spelling goes away in 0.3.0. */
  rseExpression?: string;
  /** @deprecated Use `younger_than` (the server's name); this spelling goes away in 0.3.0. */
  youngerThan?: Date;
}

/** A file replica to register with {@link Replicas.add}. */
export interface NewReplica extends Did {
  bytes: number;
  adler32: string;
  md5?: string;
  /** Initial state (the server defaults to AVAILABLE: register as `COPYING` before the data is there). */
  state?: ReplicaState;
  /** Required on non-deterministic RSEs. */
  pfn?: string;
  meta?: Record<string, unknown>;
}

/** A state change for {@link Replicas.updateState}. */
export interface ReplicaStateUpdate extends Did {
  state: ReplicaState;
}

const ADLER32 = /^[0-9a-fA-F]{8}$/;
const MD5 = /^[0-9a-fA-F]{32}$/;

/** A batch size option: a positive integer up to 1000 (the server's limit per request), else the default. */
function batchSize(value: number | undefined): number {
  const size = value ?? REPLICA_BATCH_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > 1000) throw new InvalidArgumentError('batchSize', 'batchSize must be an integer from 1 to 1000');
  return size;
}

/**
 * An option the server receives: its wire spelling (`rse_expression`), or the deprecated camelCase
 * alias of earlier versions (`rseExpression`). Both given with different values is an error.
 */
function wire<O extends object, K extends keyof O & string>(options: O, name: K, alias: keyof O & string): O[K] | undefined {
  const value = options[name];
  const old = options[alias] as O[K] | undefined;
  if (value !== undefined && old !== undefined && !same(value, old)) throw new InvalidArgumentError(name, `"${name}" and its deprecated alias "${alias}" disagree: pass "${name}" only`);
  return value ?? old;
}

function same(a: unknown, b: unknown): boolean {
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

/** A failure after which the server registered nothing of the batch, and that a smaller batch may not hit. */
function tooLarge(e: unknown): boolean {
  return (e instanceof ServerError && e.exceptionClass === 'DatabaseException') || (e instanceof ApiError && e.status === 413);
}

/** `YYYY-MM-DDTHH:MM:SS.ffffff` in UTC (Python's `%Y-%m-%dT%H:%M:%S.%f`). */
function isoMicro(d: Date): string {
  return `${d.toISOString().slice(0, 23)}000`;
}

function stateCode(state: string, field: string): string {
  const code = (REPLICA_STATE_CODE as Record<string, string>)[state];
  if (!code) throw new InvalidArgumentError(field, `unknown replica state ${JSON.stringify(state)} (use one of ${Object.keys(REPLICA_STATE_CODE).join(', ')})`);
  return code;
}

/**
 * File replicas (`/replicas`).
 *
 * @example
 * ```ts
 * for await (const r of rucio.replicas.list([parseDid('lofar:L123456')], { schemes: ['davs', 'https'] })) {
 *   console.log(r.name, r.replicas[0]?.pfn); // the best PFN (replicas are sorted by priority)
 * }
 * ```
 */
export class Replicas {
  /** @internal */
  constructor(private readonly api: RucioApi) {}

  /**
   * List the replicas of files (collections are expanded by the server) with `POST /replicas/list`,
   * streamed. Large DID sets are split into batches of `batchSize`, requested one after another.
   *
   * Each file comes with `replicas`, its PFNs best first (`{ pfn, rse, priority, … }`), read from the
   * server's `pfns` map as the line is parsed, and lines are parsed as the loop asks for them: memory
   * stays flat however many files are listed. `r.pfns` still gives that map (made when first read),
   * and `JSON.stringify(r)` the line as the server sent it.
   *
   * By default only AVAILABLE replicas are listed: a file given by name whose replicas are all in
   * other states (e.g. declared BAD) still gets a line, with empty `replicas`, `rses` and `states`. A DID
   * that does not exist gets nothing, and no error (the server answers 200 with an empty body);
   * `missing: 'error'` checks for those.
   * @throws {@link MissingDidsError} with `missing: 'error'`, after the last replica, for DIDs that do not exist.
   */
  list(dids: readonly Did[], options: ListReplicasOptions = {}): Listing<Replica> {
    const clean = dids.map((d) => toDid(d));
    const size = options.batchSize ?? 500;
    if (!Number.isInteger(size) || size < 1) throw new InvalidArgumentError('batchSize', 'batchSize must be a positive integer');
    if (options.missing !== undefined && options.missing !== 'ignore' && options.missing !== 'error') throw new InvalidArgumentError('missing', "missing must be 'ignore' or 'error'");
    const check = options.missing === 'error';
    const rseExpression = wire(options, 'rse_expression', 'rseExpression');
    const ignoreAvailability = wire(options, 'ignore_availability', 'ignoreAvailability');
    const clientLocation = wire(options, 'client_location', 'clientLocation');
    const resolveArchives = wire(options, 'resolve_archives', 'resolveArchives');
    const signatureLifetime = wire(options, 'signature_lifetime', 'signatureLifetime');
    const updatedAfter = wire(options, 'updated_after', 'updatedAfter');
    const base = {
      ...(options.schemes ? { schemes: options.schemes } : {}),
      ...(rseExpression !== undefined ? { rse_expression: rseExpression } : {}),
      ...(wire(options, 'all_states', 'allStates') ? { all_states: true } : {}),
      ...(options.domain ? { domain: options.domain } : {}),
      ...(options.sort ? { sort: options.sort } : {}),
      ...(ignoreAvailability !== undefined ? { ignore_availability: ignoreAvailability } : {}),
      ...(clientLocation ? { client_location: clientLocation } : {}),
      ...(wire(options, 'resolve_parents', 'resolveParents') ? { resolve_parents: true } : {}),
      ...(resolveArchives !== undefined ? { resolve_archives: resolveArchives } : {}),
      ...(signatureLifetime !== undefined ? { signature_lifetime: signatureLifetime } : {}),
      ...(updatedAfter ? { updated_after: updatedAfter.toISOString().slice(0, 19) } : {}),
    };
    const api = this.api;
    return listingOfBatches(async function* () {
      const unnamed: Did[] = [];
      for (const batch of chunks(clean, size)) {
        const named = new Set<string>();
        for await (const items of batchesOf(api.listPost('replicas/list', replicaLines, { dids: batch.map((d) => ({ scope: d.scope, name: d.name })), ...base }, options))) {
          yield check ? noting(items, named) : items;
        }
        if (check) unnamed.push(...batch.filter((d) => !named.has(formatDid(d))));
      }
      const gone: Did[] = [];
      for (const did of new Map(unnamed.map((d) => [formatDid(d), d])).values()) {
        try {
          await api.get(`dids/${didPath(did)}`, DidInfoSchema, undefined, options);
        } catch (e) {
          if (!(e instanceof NotFoundError)) throw e;
          gone.push(did);
        }
      }
      if (gone.length) throw new MissingDidsError(gone);
    });
  }

  /**
   * Register file replicas on an RSE (`POST /replicas`, `batchSize` files per request, default
   * {@link REPLICA_BATCH_SIZE}). Missing file DIDs are created. Pass `state: 'COPYING'` until the bytes
   * are verified: the server's default is AVAILABLE.
   *
   * A batch the server fails with 500 `DatabaseException` or 413 is split in two and each half sent
   * (down to single files). That is safe: the server registers a batch in one transaction (a failed
   * batch leaves nothing) and skips replicas that already exist, so a file sent twice is registered
   * once. Any other error is thrown as it is.
   *
   * @example
   * ```ts
   * await rucio.replicas.add('SITE_A', files, { batchSize: 200 }); // a server with a lower limit
   * ```
   */
  async add(rse: string, files: readonly NewReplica[], options: AddReplicasOptions = {}): Promise<void> {
    const size = batchSize(options.batchSize);
    const body = files.map((f, i) => {
      const d = toDid(f);
      if (!Number.isInteger(f.bytes) || f.bytes < 0) throw new InvalidArgumentError(`files[${i}].bytes`, `files[${i}].bytes must be a non-negative integer`);
      if (!ADLER32.test(f.adler32)) throw new InvalidArgumentError(`files[${i}].adler32`, `files[${i}].adler32 must be 8 hex digits`);
      if (f.md5 !== undefined && !MD5.test(f.md5)) throw new InvalidArgumentError(`files[${i}].md5`, `files[${i}].md5 must be 32 hex digits`);
      return {
        scope: d.scope,
        name: d.name,
        bytes: f.bytes,
        adler32: f.adler32.toLowerCase(),
        ...(f.md5 ? { md5: f.md5.toLowerCase() } : {}),
        ...(f.state ? { state: stateCode(f.state, `files[${i}].state`) } : {}),
        ...(f.pfn ? { pfn: f.pfn } : {}),
        ...(f.meta ? { meta: f.meta } : {}),
      };
    });
    const ignoreAvailability = wire(options, 'ignore_availability', 'ignoreAvailability');
    const extra = ignoreAvailability !== undefined ? { ignore_availability: ignoreAvailability } : {};
    const send = async (batch: typeof body): Promise<void> => {
      try {
        await this.api.write('POST', 'replicas', { rse, files: batch, ...extra }, options);
      } catch (e) {
        if (batch.length < 2 || !tooLarge(e)) throw e;
        const half = Math.ceil(batch.length / 2);
        await send(batch.slice(0, half));
        await send(batch.slice(half));
      }
    };
    for (const batch of chunks(body, size)) await send(batch);
  }

  /** Change replica states (`PUT /replicas`, `batchSize` files per request); takes state names, sends Rucio's letter codes. */
  async updateState(rse: string, files: readonly ReplicaStateUpdate[], options: ReplicaBatchOptions = {}): Promise<void> {
    const size = batchSize(options.batchSize);
    const body = files.map((f, i) => ({ ...toDid(f), state: stateCode(f.state, `files[${i}].state`) }));
    for (const batch of chunks(body, size)) await this.api.write('PUT', 'replicas', { rse, files: batch }, options);
  }

  /** Delete replica registrations (`DELETE /replicas`, `batchSize` files per request). */
  async delete(rse: string, files: readonly Did[], options: DeleteReplicasOptions = {}): Promise<void> {
    const size = batchSize(options.batchSize);
    const body = files.map((f) => ({ scope: toDid(f).scope, name: f.name }));
    const ignoreAvailability = wire(options, 'ignore_availability', 'ignoreAvailability');
    for (const batch of chunks(body, size)) {
      await this.api.write('DELETE', 'replicas', { rse, files: batch, ...(ignoreAvailability !== undefined ? { ignore_availability: ignoreAvailability } : {}) }, options);
    }
  }

  /**
   * Declare replicas bad (`POST /replicas/bad`): files on RSEs, or their PFNs. The replica state turns
   * BAD at once, so the default listing stops offering it (Rucio's daemons may later recover or
   * delete it). The generic permission policy lets only `root` declare bad replicas; anyone may
   * declare them suspicious ({@link Replicas.declareSuspicious}).
   *
   * Prefer `{ scope, name, rse }`: by PFN, the server takes the scope from the path's first segment,
   * which finds nothing for scopes the path splits (`user.jdoe` → `user/jdoe/…`); one PFN of no known
   * RSE fails the whole call (`NotFoundError`, `ReplicaNotFound`).
   *
   * @example
   * ```ts
   * const notDeclared = await rucio.replicas.declareBad([{ scope: 'lofar', name: 'L123_SB000.MS', rse: 'SARA-DCACHE' }], { reason: 'adler32 mismatch on download' });
   * if (Object.keys(notDeclared).length) console.warn(notDeclared); // e.g. { 'SARA-DCACHE': ["lofar:L123_SB000.MS Already declared"] }
   * ```
   * @returns what was not declared, per RSE (empty when all were).
   * @throws ForbiddenError (`AccessDenied`: not allowed on an RSE), NotFoundError (`RSENotFound`, `ReplicaNotFound`).
   */
  async declareBad(replicas: readonly ReplicaOnRse[] | readonly string[], options: DeclareBadOptions): Promise<NotDeclared> {
    const reason = checkReason(options);
    const list: (string | { scope: string; name: string; rse: string })[] = (replicas as readonly (ReplicaOnRse | string)[]).map((r, i) => {
      if (typeof r === 'string') return pfn(r, `replicas[${i}]`);
      const d = toDid(r);
      if (typeof r.rse !== 'string' || r.rse.trim() === '') throw new InvalidArgumentError(`replicas[${i}].rse`, `replicas[${i}].rse must be an RSE name`);
      return { scope: d.scope, name: d.name, rse: r.rse };
    });
    if (list.some((r) => typeof r === 'string') && list.some((r) => typeof r !== 'string')) throw new InvalidArgumentError('replicas', 'give either PFNs or { scope, name, rse } replicas, not both');
    const out: NotDeclared = {};
    for (const batch of chunks(list, batchSize(options.batchSize))) {
      merge(out, await this.api.writeJson('POST', 'replicas/bad', { reason, replicas: batch, force: options.force ?? false }, NotDeclaredSchema, options));
    }
    return out;
  }

  /**
   * Declare replicas suspicious by PFN (`POST /replicas/suspicious`): anyone may. The replicas stay
   * AVAILABLE and listed; Rucio's replica-recoverer daemon acts on replicas declared suspicious
   * often enough. See {@link Replicas.listSuspicious}.
   *
   * @example
   * ```ts
   * await rucio.replicas.declareSuspicious([pfn], { reason: 'read error' });
   * ```
   * @returns what was not declared, per RSE (`unknown` for PFNs of no known RSE).
   */
  async declareSuspicious(pfns: readonly string[], options: DeclareOptions): Promise<NotDeclared> {
    const reason = checkReason(options);
    const list = pfns.map((p, i) => pfn(p, `pfns[${i}]`));
    const out: NotDeclared = {};
    for (const batch of chunks(list, batchSize(options.batchSize))) merge(out, await this.api.writeJson('POST', 'replicas/suspicious', { reason, pfns: batch }, NotDeclaredSchema, options));
    return out;
  }

  /**
   * Declare the replicas of files on one RSE bad (`POST /replicas/bad/dids`; root only under the
   * generic policy). Like {@link Replicas.declareBad}, their state turns BAD.
   *
   * @example
   * ```ts
   * const notDeclared = await rucio.replicas.declareBadDids('SITE_A', [parseDid('test:f1')], { reason: 'lost disk' });
   * ```
   * @returns the files not declared, as `"scope:name Unknown replica"` or `"scope:name Already declared"`.
   * @throws ServerError (`RSENotFound`: the server answers 500 for an unknown RSE here).
   */
  async declareBadDids(rse: string, dids: readonly Did[], options: DeclareOptions): Promise<string[]> {
    const reason = checkReason(options);
    const list = dids.map((d) => ({ scope: toDid(d).scope, name: d.name }));
    const out: string[] = [];
    for (const batch of chunks(list, batchSize(options.batchSize))) out.push(...(await this.api.writeJson('POST', 'replicas/bad/dids', { reason, rse, dids: batch }, StringArraySchema, options)));
    return out;
  }

  /**
   * Queue PFNs as bad, suspicious or temporarily unavailable (`POST /replicas/bad/pfns`, root only
   * under the generic policy). Nothing changes at once: a Rucio daemon processes the queue, so the
   * replicas stay listed (and out of {@link Replicas.listBad}) until it has run.
   *
   * @example
   * ```ts
   * await rucio.replicas.addBadPfns([pfn], { reason: 'disk down', state: 'TEMPORARY_UNAVAILABLE', expires_at: new Date(Date.now() + 86_400_000) });
   * ```
   */
  async addBadPfns(pfns: readonly string[], options: AddBadPfnsOptions): Promise<void> {
    const reason = checkReason(options);
    const state = options.state ?? 'BAD';
    if (!['BAD', 'SUSPICIOUS', 'TEMPORARY_UNAVAILABLE'].includes(state)) throw new InvalidArgumentError('state', "state must be 'BAD', 'SUSPICIOUS' or 'TEMPORARY_UNAVAILABLE'");
    const expiresAt = wire(options, 'expires_at', 'expiresAt');
    if (state === 'TEMPORARY_UNAVAILABLE' && !expiresAt) throw new InvalidArgumentError('expires_at', 'TEMPORARY_UNAVAILABLE needs expires_at');
    if (state === 'BAD' && expiresAt) throw new InvalidArgumentError('expires_at', 'a BAD PFN takes no expires_at');
    const list = pfns.map((p, i) => pfn(p, `pfns[${i}]`));
    for (const batch of chunks(list, REPLICA_BATCH_SIZE)) {
      await this.api.write('POST', 'replicas/bad/pfns', { reason, pfns: batch, state, expires_at: expiresAt ? isoMicro(expiresAt) : null }, options);
    }
  }

  /**
   * Declarations of bad and suspicious replicas (`GET /replicas/bad/states`, streamed), every state
   * unless `state` says which. PFNs queued with {@link Replicas.addBadPfns} are not among them.
   *
   * @example
   * ```ts
   * for await (const b of rucio.replicas.listBad({ state: 'BAD', rse: 'SITE_A' })) console.log(b.scope, b.name, b.created_at);
   * ```
   */
  listBad(filters: BadReplicaFilters = {}, options?: StreamCallOptions): Listing<BadReplica> {
    const state = filters.state === undefined ? undefined : BAD_REPLICA_STATE_CODE[filters.state];
    if (filters.state !== undefined && !state) throw new InvalidArgumentError('state', `unknown bad replica state ${JSON.stringify(filters.state)} (use one of ${Object.keys(BAD_REPLICA_STATE_CODE).join(', ')})`);
    const youngerThan = wire(filters, 'younger_than', 'youngerThan');
    const olderThan = wire(filters, 'older_than', 'olderThan');
    return this.api.list('replicas/bad/states', BadReplicaSchema, { state, rse: filters.rse, younger_than: youngerThan && isoMicro(youngerThan), older_than: olderThan && isoMicro(olderThan), limit: filters.limit }, options);
  }

  /**
   * Bad-replica declarations counted per RSE, day and reason (`GET /replicas/bad/summary`, streamed).
   *
   * @example
   * ```ts
   * for await (const s of rucio.replicas.badSummary({ rse_expression: 'SITE_A' })) console.log(s.rse, s.reason, s.BAD ?? 0);
   * ```
   */
  badSummary(filters: BadSummaryFilters = {}, options?: StreamCallOptions): Listing<BadReplicaSummary> {
    const query = {
      rse_expression: wire(filters, 'rse_expression', 'rseExpression'),
      from_date: wire(filters, 'from_date', 'fromDate')?.toISOString().slice(0, 10),
      to_date: wire(filters, 'to_date', 'toDate')?.toISOString().slice(0, 10),
    };
    return this.api.list('replicas/bad/summary', BadReplicaSummarySchema, query, options);
  }

  /**
   * Replicas declared suspicious (and never bad) in the last 10 days, or since `younger_than`, with how
   * many times (`GET /replicas/suspicious`, one JSON array).
   *
   * @example
   * ```ts
   * const often = await rucio.replicas.listSuspicious({ rse_expression: 'SITE_A', nattempts: 2 }).toArray();
   * ```
   */
  listSuspicious(filters: SuspiciousFilters = {}, options?: CallOptions): Listing<SuspiciousReplica> {
    const query = { rse_expression: wire(filters, 'rse_expression', 'rseExpression'), younger_than: wire(filters, 'younger_than', 'youngerThan')?.toISOString().slice(0, 19), nattempts: filters.nattempts };
    return Listing.fromPromise(() => this.api.get('replicas/suspicious', SuspiciousReplicaArraySchema, query, options));
  }

  /** Replicas of a dataset per RSE, with completeness (`GET …/datasets`). */
  datasetReplicas(did: Did, options: StreamCallOptions & { deep?: boolean } = {}): Listing<DatasetReplica> {
    return this.api.list(`replicas/${didPath(toDid(did))}/datasets`, DatasetReplicaSchema, { deep: options.deep ? 'True' : undefined }, options);
  }
}

/** The items of a (lazy) batch, their DIDs noted as they pass. */
function* noting(items: Iterable<Replica>, named: Set<string>): Generator<Replica, void, undefined> {
  for (const r of items) {
    named.add(formatDid(r));
    yield r;
  }
}

function checkReason(options: { reason?: unknown } | undefined): string {
  if (typeof options?.reason !== 'string' || options.reason.trim() === '') throw new InvalidArgumentError('reason', 'a declaration needs a reason');
  return options.reason;
}

function pfn(value: unknown, field: string): string {
  if (typeof value !== 'string' || !/^[a-z][a-z0-9+.-]*:\/\/[^/]/i.test(value)) throw new InvalidArgumentError(field, `${field} must be a PFN (scheme://host/path)`);
  return value;
}

function merge(into: NotDeclared, from: NotDeclared): void {
  for (const [k, v] of Object.entries(from)) into[k] = [...(into[k] ?? []), ...v];
}

/**
 * The emulator's database: accounts, identities, tokens, scopes, RSEs, DIDs and their contents,
 * file replicas, rules and locks, and the bytes of every replica (for the storage emulator).
 *
 * Synthetic datasets ({@link SyntheticSet}) are stored as one DID record; their files exist only
 * as functions of an index and are materialised on demand, one at a time.
 * @module
 */
import { RucioError } from './wire.js';
import { syntheticChecksums, syntheticContent, syntheticIndex, syntheticName, syntheticSize, type SyntheticSet } from './synthetic.js';

/** DID types as Rucio names them on the wire. */
export type DidType = 'FILE' | 'DATASET' | 'CONTAINER';
/** Replica states (names on the wire; letters on write). */
export type ReplicaState = 'AVAILABLE' | 'UNAVAILABLE' | 'COPYING' | 'BEING_DELETED' | 'BAD' | 'TEMPORARY_UNAVAILABLE';
/** Replica state letters accepted by `POST/PUT /replicas`. */
export const REPLICA_STATE_CODES: Readonly<Record<string, ReplicaState>> = { A: 'AVAILABLE', U: 'UNAVAILABLE', C: 'COPYING', B: 'BEING_DELETED', D: 'BAD', T: 'TEMPORARY_UNAVAILABLE' };
/** Rule states. */
export type RuleState = 'REPLICATING' | 'OK' | 'STUCK' | 'SUSPENDED' | 'WAITING_APPROVAL' | 'INJECT';
/** Rule state letters used by `GET /rules/?state=`. */
export const RULE_STATE_CODES: Readonly<Record<string, RuleState>> = { R: 'REPLICATING', O: 'OK', S: 'STUCK', U: 'SUSPENDED', W: 'WAITING_APPROVAL', I: 'INJECT' };
/** Lock states. */
export type LockState = 'OK' | 'REPLICATING' | 'STUCK';

export interface AccountRecord {
  account: string;
  type: string;
  email: string | null;
  status: string;
  admin: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface IdentityRecord {
  password: string;
  accounts: string[];
}

export interface TokenRecord {
  token: string;
  account: string;
  identity: string;
  expiresAt: Date;
  /** For accepted JWTs: `aud` and `scope`, space-joined. */
  audience?: string;
  scope?: string;
}

/** Read/write/delete priorities of a protocol in one domain (`null` = disabled, 0 = highest). */
export type DomainPriorities = Record<string, number | null>;

export interface ProtocolRecord {
  scheme: string;
  hostname: string;
  port: number;
  prefix: string;
  impl: string;
  domains: { lan: DomainPriorities; wan: DomainPriorities };
  extended_attributes: unknown;
}

export interface RseRecord {
  id: string;
  name: string;
  rseType: 'DISK' | 'TAPE';
  deterministic: boolean;
  volatile: boolean;
  stagingArea: boolean;
  availabilityRead: boolean;
  availabilityWrite: boolean;
  availabilityDelete: boolean;
  lfn2pfnAlgorithm: string;
  verifyChecksum: boolean;
  /** city, country_name, ISP, ... (null unless given). */
  location: Record<string, string | number | null>;
  qosClass: string | null;
  attributes: Map<string, string | boolean | number>;
  protocols: ProtocolRecord[];
  createdAt: Date;
  updatedAt: Date;
}

export interface DidRecord {
  scope: string;
  name: string;
  type: DidType;
  account: string;
  bytes: number | null;
  length: number | null;
  md5: string | null;
  adler32: string | null;
  guid: string | null;
  events: number | null;
  isOpen: boolean | null;
  monotonic: boolean;
  expiredAt: Date | null;
  closedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** Other `dids` table columns set through metadata (project, datatype, run_number, ...). */
  columns: Record<string, unknown>;
  /** JSON-plugin metadata (any other key). */
  meta: Record<string, unknown>;
  synthetic?: SyntheticSet;
}

/** A row of the `contents` table. */
export interface ContentRow {
  scope: string;
  name: string;
  type: DidType;
  bytes: number | null;
  adler32: string | null;
  md5: string | null;
  guid: string | null;
  events: number | null;
}

export interface ReplicaRecord {
  rseId: string;
  state: ReplicaState;
  /** Stored path (non-deterministic RSEs); `null` means computed from the RSE's lfn2pfn algorithm. */
  path: string | null;
  bytes: number | null;
  md5: string | null;
  adler32: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface RuleRecord {
  id: string;
  account: string;
  scope: string;
  name: string;
  didType: DidType;
  state: RuleState;
  error: string | null;
  rseExpression: string;
  copies: number;
  expiresAt: Date | null;
  weight: string | null;
  locked: boolean;
  sourceReplicaExpression: string | null;
  activity: string;
  grouping: 'DATASET' | 'ALL' | 'NONE';
  notification: string;
  stuckAt: Date | null;
  purgeReplicas: boolean;
  ignoreAvailability: boolean;
  priority: number;
  comments: string | null;
  meta: string | null;
  splitContainer: boolean;
  createdAt: Date;
  updatedAt: Date;
  okCnt: number;
  replicatingCnt: number;
  stuckCnt: number;
  history: { updatedAt: Date; state: RuleState; ok: number; replicating: number; stuck: number }[];
}

export interface LockRecord {
  scope: string;
  name: string;
  rseId: string;
  ruleId: string;
  state: LockState;
}

/** States of the `bad_replicas` table (`BadFilesStatus`): names in answers, letters in filters. */
export type BadFileState = 'BAD' | 'DELETED' | 'LOST' | 'RECOVERED' | 'SUSPICIOUS' | 'TEMPORARY_UNAVAILABLE';
/** `BadFilesStatus` letters (what `GET /replicas/bad/states?state=` takes). */
export const BAD_FILE_STATE_CODES: Readonly<Record<string, BadFileState>> = { B: 'BAD', D: 'DELETED', L: 'LOST', R: 'RECOVERED', S: 'SUSPICIOUS', T: 'TEMPORARY_UNAVAILABLE' };
/** States of the `bad_pfns` table (`BadPFNStatus`), by the names `POST /replicas/bad/pfns` takes. */
export type BadPfnState = 'BAD' | 'SUSPICIOUS' | 'TEMPORARY_UNAVAILABLE' | 'AVAILABLE';

/** A row of `bad_replicas`: one declaration of a replica as BAD or SUSPICIOUS. */
export interface BadReplicaRecord {
  scope: string;
  name: string;
  rseId: string;
  reason: string | null;
  state: BadFileState;
  account: string;
  bytes: number | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A row of `bad_pfns` (`POST /replicas/bad/pfns`), for a daemon to process later. */
export interface BadPfnRecord {
  path: string;
  state: BadPfnState;
  reason: string | null;
  account: string;
  expiresAt: Date | null;
  createdAt: Date;
}

/** A DID row with the defaults of a fresh insert (collections open, files without `is_open`). */
export function didRecord(scope: string, name: string, type: DidType, account: string, at: Date, fields: Partial<DidRecord> = {}): DidRecord {
  return { scope, name, type, account, bytes: null, length: null, md5: null, adler32: null, guid: null, events: null, isOpen: type === 'FILE' ? null : true, monotonic: false, expiredAt: null, closedAt: null, createdAt: at, updatedAt: at, columns: {}, meta: {}, ...fields };
}

/** `scope:name`, the key of a DID everywhere in the store. */
export function didKey(scope: string, name: string): string {
  return `${scope}:${name}`;
}

/** Key of a replica: RSE id and DID. */
export function replicaKey(rseId: string, scope: string, name: string): string {
  return `${rseId}|${scope}:${name}`;
}

/** Python sort key for `(scope, name)` tuples. */
export function sortKey(scope: string, name: string): string {
  return `${scope}\u0000${name}`;
}

/** Compare two strings by code unit (Python/SQLite binary order for BMP text). */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Merge iterables each sorted by `key`, dropping repeated keys. */
export function* mergeSorted<T>(sources: Iterable<T>[], key: (t: T) => string): Generator<T> {
  const its = sources.map((s) => s[Symbol.iterator]());
  const heads = its.map((it) => it.next());
  let last: string | undefined;
  for (;;) {
    let best = -1;
    let bestKey = '';
    heads.forEach((h, i) => {
      if (h.done) return;
      const k = key(h.value);
      if (best < 0 || k < bestKey) {
        best = i;
        bestKey = k;
      }
    });
    if (best < 0) return;
    const head = heads[best] as IteratorYieldResult<T>;
    heads[best] = (its[best] as Iterator<T>).next();
    if (bestKey === last) continue;
    last = bestKey;
    yield head.value;
  }
}

/** The in-memory Rucio database. */
export class Store {
  readonly accounts = new Map<string, AccountRecord>();
  /** userpass identities by username. */
  readonly identities = new Map<string, IdentityRecord>();
  readonly tokens = new Map<string, TokenRecord>();
  /** scope → owner account. */
  readonly scopes = new Map<string, string>();
  /** RSEs by name. */
  readonly rses = new Map<string, RseRecord>();
  /** Stored DIDs (every DID but the files of synthetic datasets). */
  readonly dids = new Map<string, DidRecord>();
  /** Synthetic sets by scope. */
  readonly synthetic = new Map<string, SyntheticSet[]>();
  /** parent key → child key → row. */
  readonly contents = new Map<string, Map<string, ContentRow>>();
  /** child key → parent keys. */
  readonly parents = new Map<string, Set<string>>();
  /** file key → RSE id → replica (explicit rows; synthetic replicas are implied). */
  readonly replicas = new Map<string, Map<string, ReplicaRecord>>();
  /** replica key → bytes. */
  readonly blobs = new Map<string, Uint8Array>();
  readonly rules = new Map<string, RuleRecord>();
  /** rule id → `fileKey@rseId` → lock. */
  readonly locks = new Map<string, Map<string, LockRecord>>();
  /** Long-term rule history (`rules_history`): a row when a rule is created and when it is removed. */
  readonly ruleHistory: { rule: RuleRecord; at: Date; state: RuleState; ok: number; replicating: number; stuck: number }[] = [];
  /** dataset key → RSE id → creation date (collection replicas made by rules). */
  readonly collectionReplicas = new Map<string, Map<string, Date>>();
  /** `bad_replicas`, in insertion order. */
  readonly badReplicas: BadReplicaRecord[] = [];
  /** `bad_pfns` by PFN. */
  readonly badPfns = new Map<string, BadPfnRecord>();

  /**
   * @param now The server's clock.
   * @param database What the server runs on: SQLite has no JSON metadata plugin and a limit of 1000
   *   on the depth of a query's expression tree.
   */
  constructor(
    readonly now: () => Date,
    readonly database: 'sqlite' | 'postgresql' = 'sqlite',
  ) {}

  /** Is there a JSON metadata plugin (keys that are not DID columns)? Not on SQLite (`json_implemented`). */
  get jsonMetadata(): boolean {
    return this.database !== 'sqlite';
  }

  rseById(id: string): RseRecord | undefined {
    for (const rse of this.rses.values()) if (rse.id === id) return rse;
    return undefined;
  }

  /** The RSE, or 404 `RSENotFound` as the server words it. */
  requireRse(name: string): RseRecord {
    const rse = this.rses.get(name);
    if (!rse) throw new RucioError(404, 'RSENotFound', `RSE '${name}' cannot be found in vo 'def'`);
    return rse;
  }

  /** Is the account root or does it carry the `admin` attribute? */
  isAdmin(account: string): boolean {
    return account === 'root' || this.accounts.get(account)?.admin === true;
  }

  /** A DID (stored or synthetic file), or `undefined`. */
  getDid(scope: string, name: string): DidRecord | undefined {
    const stored = this.dids.get(didKey(scope, name));
    if (stored) return stored;
    for (const set of this.synthetic.get(scope) ?? []) {
      const index = syntheticIndex(set, name);
      if (index !== undefined) return this.syntheticFile(set, index);
    }
    return undefined;
  }

  /** The DID, or 404 `DataIdentifierNotFound`. */
  requireDid(scope: string, name: string): DidRecord {
    const did = this.getDid(scope, name);
    if (!did) throw new RucioError(404, 'DataIdentifierNotFound', `Data identifier '${scope}:${name}' not found`);
    return did;
  }

  /** The DID record of synthetic file `index`. */
  syntheticFile(set: SyntheticSet, index: number): DidRecord {
    const { bytes, md5, adler32 } = syntheticChecksums(set, index);
    return didRecord(set.scope, syntheticName(set, index), 'FILE', set.account, set.createdAt, { bytes, md5, adler32 });
  }

  /** Rows of the files of a synthetic set, in index (and name) order. */
  *syntheticRows(set: SyntheticSet): Generator<ContentRow> {
    for (let i = 0; i < set.count; i++) {
      const f = this.syntheticFile(set, i);
      yield { scope: f.scope, name: f.name, type: 'FILE', bytes: f.bytes, adler32: f.adler32, md5: f.md5, guid: null, events: null };
    }
  }

  /** Direct children of a collection, in attachment order (synthetic files first, by index). */
  *children(parent: DidRecord): Generator<ContentRow> {
    if (parent.synthetic) yield* this.syntheticRows(parent.synthetic);
    yield* this.contents.get(didKey(parent.scope, parent.name))?.values() ?? [];
  }

  /** Keys of the direct parents of a DID. */
  parentKeys(scope: string, name: string): string[] {
    const keys = [...(this.parents.get(didKey(scope, name)) ?? [])];
    const set = this.syntheticSetOf(scope, name);
    if (set) keys.unshift(didKey(set.scope, set.dataset));
    return keys;
  }

  /** Every ancestor key of a DID (parents, grandparents, ...), without repeats. */
  ancestorKeys(scope: string, name: string): string[] {
    const out: string[] = [];
    const visit = (s: string, n: string) => {
      for (const key of this.parentKeys(s, n)) {
        if (out.includes(key)) continue;
        out.push(key);
        const parent = this.dids.get(key);
        if (parent) visit(parent.scope, parent.name);
      }
    };
    visit(scope, name);
    return out;
  }

  syntheticSetOf(scope: string, name: string): SyntheticSet | undefined {
    return this.synthetic.get(scope)?.find((set) => syntheticIndex(set, name) !== undefined);
  }

  /** Datasets below a collection (itself if it is a dataset), recursively. */
  datasetsOf(did: DidRecord): DidRecord[] {
    if (did.type === 'DATASET') return [did];
    if (did.type !== 'CONTAINER') return [];
    const out: DidRecord[] = [];
    const seen = new Set<string>();
    const visit = (c: DidRecord) => {
      for (const row of this.children(c)) {
        const child = this.dids.get(didKey(row.scope, row.name));
        if (!child || seen.has(didKey(child.scope, child.name))) continue;
        seen.add(didKey(child.scope, child.name));
        if (child.type === 'DATASET') out.push(child);
        else if (child.type === 'CONTAINER') visit(child);
      }
    };
    visit(did);
    return out.sort((a, b) => compare(sortKey(a.scope, a.name), sortKey(b.scope, b.name)));
  }

  /** Files of a dataset sorted by (scope, name): synthetic ones stream in index order. */
  sortedFilesOfDataset(dataset: DidRecord): Iterable<ContentRow> {
    const stored = [...(this.contents.get(didKey(dataset.scope, dataset.name))?.values() ?? [])]
      .filter((r) => r.type === 'FILE')
      .sort((a, b) => compare(sortKey(a.scope, a.name), sortKey(b.scope, b.name)));
    if (!dataset.synthetic) return stored;
    return mergeSorted([this.syntheticRows(dataset.synthetic), stored], (r) => sortKey(r.scope, r.name));
  }

  /** All files under a collection, sorted by (scope, name), without repeats. */
  sortedFiles(did: DidRecord): Iterable<ContentRow> {
    return mergeSorted(
      this.datasetsOf(did).map((ds) => this.sortedFilesOfDataset(ds)),
      (r) => sortKey(r.scope, r.name),
    );
  }

  /** Replicas of a file: explicit rows, plus the implied AVAILABLE replicas of synthetic files. */
  replicasOf(scope: string, name: string): ReplicaRecord[] {
    const explicit = this.replicas.get(didKey(scope, name));
    const out = [...(explicit?.values() ?? [])];
    const set = this.syntheticSetOf(scope, name);
    if (set) {
      const size = syntheticSize(syntheticIndex(set, name) as number);
      for (const rseId of set.rseIds) {
        if (explicit?.has(rseId)) continue;
        out.push({ rseId, state: 'AVAILABLE', path: null, bytes: size, md5: null, adler32: null, createdAt: set.createdAt, updatedAt: set.createdAt });
      }
    }
    return out;
  }

  replica(scope: string, name: string, rseId: string): ReplicaRecord | undefined {
    return this.replicasOf(scope, name).find((r) => r.rseId === rseId);
  }

  /** Insert or replace an explicit replica row. */
  putReplica(scope: string, name: string, replica: ReplicaRecord): void {
    const key = didKey(scope, name);
    let byRse = this.replicas.get(key);
    if (!byRse) this.replicas.set(key, (byRse = new Map()));
    byRse.set(replica.rseId, replica);
  }

  /** Remove a replica and its bytes. */
  deleteReplica(scope: string, name: string, rseId: string): void {
    this.replicas.get(didKey(scope, name))?.delete(rseId);
    this.blobs.delete(replicaKey(rseId, scope, name));
  }

  /** The bytes of a replica, if the emulator holds them (synthetic files are generated). */
  bytesOf(scope: string, name: string, rseId: string): Uint8Array | undefined {
    const stored = this.blobs.get(replicaKey(rseId, scope, name));
    if (stored) return stored;
    const set = this.syntheticSetOf(scope, name);
    const replica = this.replica(scope, name, rseId);
    if (set && replica?.state === 'AVAILABLE') return syntheticContent(set, syntheticIndex(set, name) as number);
    return undefined;
  }

  /** Add a child row to a collection and index the parent link. */
  attach(parent: DidRecord, row: ContentRow): void {
    const pkey = didKey(parent.scope, parent.name);
    let rows = this.contents.get(pkey);
    if (!rows) this.contents.set(pkey, (rows = new Map()));
    const ckey = didKey(row.scope, row.name);
    rows.set(ckey, row);
    let parents = this.parents.get(ckey);
    if (!parents) this.parents.set(ckey, (parents = new Set()));
    parents.add(pkey);
  }

  detach(parent: DidRecord, scope: string, name: string): void {
    const pkey = didKey(parent.scope, parent.name);
    const ckey = didKey(scope, name);
    this.contents.get(pkey)?.delete(ckey);
    this.parents.get(ckey)?.delete(pkey);
  }

  /** DIDs of a scope sorted by name: stored ones, then the files of synthetic datasets. */
  *didsInScope(scope: string): Generator<DidRecord> {
    const stored = [...this.dids.values()].filter((d) => d.scope === scope).sort((a, b) => compare(a.name, b.name));
    yield* stored;
    for (const set of this.synthetic.get(scope) ?? []) for (let i = 0; i < set.count; i++) yield this.syntheticFile(set, i);
  }

  /** Locks of every rule on one replica. */
  locksOnReplica(scope: string, name: string, rseId: string): LockRecord[] {
    const out: LockRecord[] = [];
    const key = `${didKey(scope, name)}@${rseId}`;
    for (const locks of this.locks.values()) {
      const lock = locks.get(key);
      if (lock) out.push(lock);
    }
    return out;
  }
}

/**
 * The judge and the transfer machinery: replication rules, their replica locks, the transfers a
 * rule queues, and what the Rucio daemons would do with them (conveyor, judge-evaluator,
 * judge-cleaner), run on demand or after a delay.
 *
 * A rule whose RSE already holds AVAILABLE replicas of every file is OK at once; otherwise the
 * missing replicas are created COPYING on the destination, their locks are REPLICATING and a
 * transfer is queued. Completing a transfer copies the bytes from a source replica, marks the
 * destination AVAILABLE and the locks OK (`successful_transfer`); failing it marks the locks STUCK.
 * @module
 */
import { resolveRseExpression } from './expressions.js';
import { INTERNAL_SERVER_ERROR, PlainServerError, pyJson, RucioError } from './wire.js';
import { didKey, replicaKey, type ContentRow, type DidRecord, type LockRecord, type ReplicaRecord, type RseRecord, type RuleRecord, type RuleState, type Store } from './state.js';

/** The body of `POST /rules/`, after defaults. */
export interface RuleRequest {
  dids: { scope: string; name: string }[];
  account: string | null;
  copies: number;
  rseExpression: string;
  weight: string | null;
  lifetime: number | null;
  grouping: 'DATASET' | 'ALL' | 'NONE';
  locked: boolean;
  sourceReplicaExpression: string | null;
  activity: string | null;
  notify: string | null;
  purgeReplicas: boolean;
  ignoreAvailability: boolean;
  comment: string | null;
  askApproval: boolean;
  priority: number;
  splitContainer: boolean;
  meta: unknown;
}

interface Transfer {
  scope: string;
  name: string;
  rseId: string;
}

const NOTIFICATION: Readonly<Record<string, string>> = { Y: 'YES', C: 'CLOSE', P: 'PROGRESS' };

/** What `uuid4().hex` looks like. */
export function newId(): string {
  return globalThis.crypto.randomUUID().replace(/-/g, '');
}

export class Judge {
  private readonly pending = new Map<string, Transfer>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    private readonly store: Store,
    private readonly transferDelayMs: number | undefined,
  ) {}

  /** Transfers queued and not yet completed or failed. */
  get pendingTransfers(): number {
    return this.pending.size;
  }

  private rule(id: string): RuleRecord {
    const rule = this.store.rules.get(id);
    if (!rule) throw new RucioError(404, 'RuleNotFound', `No rule with the id ${id} found`);
    return rule;
  }

  /** `GET /rules/{id}`: the rule, or 404 `RuleNotFound` (500 when the id is not a UUID, as the GUID column refuses it). */
  getRule(id: string): RuleRecord {
    this.sweep();
    if (!/^(urn:uuid:)?\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i.test(id)) throw new RucioError(500, 'RucioException', `Badly formatted rule id (${id})`);
    return this.rule(id.replace(/^urn:uuid:|[{}-]/gi, '').toLowerCase());
  }

  /** `add_replication_rule`: checks in the server's order, then one rule per DID (all or nothing). */
  addRules(issuer: string, req: RuleRequest): string[] {
    const { store } = this;
    const account = req.account ?? issuer;
    if (!((account === issuer && !req.locked) || store.isAdmin(issuer))) throw new RucioError(500, 'AccessDenied', `Account ${issuer} can not add replication rule. `);
    if (req.copies <= 0) throw new RucioError(500, 'InvalidValueForKey', 'The number of copies for a replication rule should be greater than 0.');
    const rses = this.targetRses(req.rseExpression, req.ignoreAvailability);
    if (req.lifetime === null && rses.some((r) => r.stagingArea)) throw new RucioError(409, 'StagingAreaRuleRequiresLifetime', 'Rules for a staging area must include a lifetime');
    const locked = req.locked || (req.lifetime === null && rses.some((r) => r.rseType === 'TAPE'));
    if (req.copies > rses.length) throw new RucioError(409, 'InsufficientTargetRSEs', `Target RSE set not sufficient for number of copies. (${req.copies} copies requested, RSE set size ${rses.length})`);
    if (req.sourceReplicaExpression) {
      try {
        resolveRseExpression(req.sourceReplicaExpression, store.rses.values());
      } catch {
        // InvalidSourceReplicaExpression carries no message: the server's own error handler fails on it.
        throw new PlainServerError(INTERNAL_SERVER_ERROR);
      }
    }
    const dids = req.dids.map(({ scope, name }) => {
      const did = store.getDid(scope, name);
      if (!did) throw new RucioError(404, 'DataIdentifierNotFound', `Data identifier ${scope}:${name} is not valid.`);
      return did;
    });
    const seen = new Set<string>();
    for (const did of dids) {
      const id = `${didKey(did.scope, did.name)}|${account}|${req.rseExpression}|${req.copies}`;
      const clash = [...store.rules.values()].some((r) => r.scope === did.scope && r.name === did.name && r.account === account && r.rseExpression === req.rseExpression && r.copies === req.copies);
      if (clash || seen.has(id)) throw new RucioError(409, 'DuplicateRule', '(sqlite3.IntegrityError) UNIQUE constraint failed: rules.scope, rules.name, rules.account, rules.rse_expression, rules.copies');
      seen.add(id);
    }
    const now = store.now();
    return dids.map((did) => {
      const rule: RuleRecord = {
        id: newId(),
        account,
        scope: did.scope,
        name: did.name,
        didType: did.type,
        state: 'REPLICATING',
        error: null,
        rseExpression: req.rseExpression,
        copies: req.copies,
        expiresAt: req.lifetime === null ? null : new Date(now.getTime() + req.lifetime * 1000),
        weight: req.weight,
        locked,
        sourceReplicaExpression: req.sourceReplicaExpression,
        activity: req.activity ?? 'User Subscriptions',
        grouping: req.grouping,
        notification: NOTIFICATION[req.notify ?? ''] ?? 'NO',
        stuckAt: null,
        purgeReplicas: req.purgeReplicas,
        ignoreAvailability: req.ignoreAvailability,
        priority: req.priority,
        comments: req.comment,
        meta: req.meta === null || req.meta === undefined ? null : pyJson(req.meta),
        splitContainer: req.splitContainer,
        createdAt: now,
        updatedAt: now,
        okCnt: 0,
        replicatingCnt: 0,
        stuckCnt: 0,
        history: [],
      };
      store.rules.set(rule.id, rule);
      store.locks.set(rule.id, new Map());
      if (req.askApproval) this.setState(rule, 'WAITING_APPROVAL');
      else this.apply(rule, did, rses);
      this.archive(rule);
      return rule.id;
    });
  }

  private targetRses(expression: string, ignoreAvailability: boolean): RseRecord[] {
    try {
      return resolveRseExpression(expression, this.store.rses.values(), !ignoreAvailability);
    } catch (error) {
      // The rules view maps InvalidRSEExpression (and InvalidObject) to 409.
      if (error instanceof RucioError && error.status === 400) throw new RucioError(409, error.exceptionClass, error.message);
      throw error;
    }
  }

  /** The RSE selector, made deterministic: RSEs already holding the most bytes first, then by name. */
  private select(rses: readonly RseRecord[], copies: number, coverage: Map<string, number>): RseRecord[] {
    return [...rses].sort((a, b) => (coverage.get(b.id) ?? 0) - (coverage.get(a.id) ?? 0)).slice(0, copies);
  }

  private coverage(files: Iterable<ContentRow>, rses: readonly RseRecord[]): Map<string, number> {
    const ids = new Set(rses.map((r) => r.id));
    const out = new Map<string, number>();
    for (const f of files) {
      for (const rep of this.store.replicasOf(f.scope, f.name)) {
        if (rep.state === 'AVAILABLE' && ids.has(rep.rseId)) out.set(rep.rseId, (out.get(rep.rseId) ?? 0) + (f.bytes ?? 0));
      }
    }
    return out;
  }

  /** `apply_rule`: choose RSEs per grouping and lock every file there. */
  private apply(rule: RuleRecord, did: DidRecord, rses: readonly RseRecord[]): void {
    const { store } = this;
    const queued: string[] = [];
    if (did.type === 'FILE') {
      const row = rowOf(did);
      for (const rse of this.select(rses, rule.copies, this.coverage([row], rses))) this.lock(rule, row, rse.id, queued);
    } else {
      const datasets = store.datasetsOf(did);
      const all = rule.grouping === 'ALL' ? this.select(rses, rule.copies, this.coverage(datasets.flatMap((d) => [...store.sortedFilesOfDataset(d)]), rses)) : undefined;
      for (const ds of datasets) {
        const chosen = all ?? (rule.grouping === 'DATASET' ? this.select(rses, rule.copies, this.coverage(store.sortedFilesOfDataset(ds), rses)) : undefined);
        for (const row of store.sortedFilesOfDataset(ds)) {
          for (const rse of chosen ?? this.select(rses, rule.copies, this.coverage([row], rses))) this.lock(rule, row, rse.id, queued);
        }
        for (const rse of chosen ?? []) this.collectionReplica(ds, rse.id);
      }
    }
    this.recount(rule, 'MissingSourceReplica');
    this.schedule(queued);
  }

  private collectionReplica(ds: DidRecord, rseId: string): void {
    const key = didKey(ds.scope, ds.name);
    let byRse = this.store.collectionReplicas.get(key);
    if (!byRse) this.store.collectionReplicas.set(key, (byRse = new Map()));
    if (!byRse.has(rseId)) byRse.set(rseId, this.store.now());
  }

  /**
   * `__create_lock_and_replica`: an AVAILABLE (or TEMPORARY_UNAVAILABLE) replica gives an OK lock; a
   * missing or UNAVAILABLE one becomes COPYING with a queued transfer (or a STUCK lock when the
   * rule's source expression holds no copy); a replica already COPYING (e.g. an upload in progress)
   * gets a REPLICATING lock and waits for its owner to mark it AVAILABLE.
   */
  private lock(rule: RuleRecord, file: ContentRow, rseId: string, queued: string[]): void {
    const { store } = this;
    const locks = store.locks.get(rule.id) as Map<string, LockRecord>;
    const key = `${didKey(file.scope, file.name)}@${rseId}`;
    if (locks.has(key)) return;
    const replica = store.replica(file.scope, file.name, rseId);
    const set = (state: LockRecord['state']) => locks.set(key, { scope: file.scope, name: file.name, rseId, ruleId: rule.id, state });
    if (replica?.state === 'AVAILABLE' || replica?.state === 'TEMPORARY_UNAVAILABLE') return void set('OK');
    if (replica && replica.state !== 'UNAVAILABLE') return void set('REPLICATING');
    if (!this.hasSource(rule, file, rseId)) return void set('STUCK');
    set('REPLICATING');
    const now = store.now();
    store.putReplica(file.scope, file.name, replica ? { ...replica, state: 'COPYING', updatedAt: now } : { rseId, state: 'COPYING', path: null, bytes: file.bytes, md5: file.md5, adler32: file.adler32, createdAt: now, updatedAt: now });
    const tkey = replicaKey(rseId, file.scope, file.name);
    if (!this.pending.has(tkey)) {
      this.pending.set(tkey, { scope: file.scope, name: file.name, rseId });
      queued.push(tkey);
    }
  }

  /** With a `source_replica_expression`, is there an AVAILABLE copy on one of those RSEs? */
  private hasSource(rule: RuleRecord, file: ContentRow, rseId: string): boolean {
    return !rule.sourceReplicaExpression || this.sources(rule, file.scope, file.name, rseId).length > 0;
  }

  /** AVAILABLE replicas a transfer to `rseId` may read from (restricted by the rule's source expression). */
  private sources(rule: RuleRecord | undefined, scope: string, name: string, rseId: string): ReplicaRecord[] {
    const allowed = rule?.sourceReplicaExpression ? new Set(resolveRseExpression(rule.sourceReplicaExpression, this.store.rses.values()).map((r) => r.id)) : undefined;
    return this.store.replicasOf(scope, name).filter((r) => r.rseId !== rseId && r.state === 'AVAILABLE' && (!allowed || allowed.has(r.rseId)));
  }

  /** Recount a rule's locks and derive its state, recording history when it changes. */
  private recount(rule: RuleRecord, error?: string): void {
    let ok = 0;
    let replicating = 0;
    let stuck = 0;
    for (const l of this.store.locks.get(rule.id)?.values() ?? []) {
      if (l.state === 'OK') ok++;
      else if (l.state === 'REPLICATING') replicating++;
      else stuck++;
    }
    const changed = ok !== rule.okCnt || replicating !== rule.replicatingCnt || stuck !== rule.stuckCnt || rule.history.length === 0;
    rule.okCnt = ok;
    rule.replicatingCnt = replicating;
    rule.stuckCnt = stuck;
    if (rule.state === 'SUSPENDED' || rule.state === 'WAITING_APPROVAL') return;
    const state: RuleState = stuck ? 'STUCK' : replicating ? 'REPLICATING' : 'OK';
    if (state === 'STUCK') {
      rule.error = error ?? rule.error;
      rule.stuckAt ??= this.store.now();
    } else if (state === 'OK') {
      rule.error = null;
    }
    if (state !== rule.state || changed) this.setState(rule, state);
  }

  private setState(rule: RuleRecord, state: RuleState): void {
    rule.state = state;
    rule.updatedAt = this.store.now();
    rule.history.push({ updatedAt: rule.updatedAt, state, ok: rule.okCnt, replicating: rule.replicatingCnt, stuck: rule.stuckCnt });
  }

  private rulesWithLock(scope: string, name: string, rseId: string): RuleRecord[] {
    return this.store.locksOnReplica(scope, name, rseId).map((l) => this.rule(l.ruleId));
  }

  private setLocks(t: Transfer, state: 'OK' | 'STUCK', error?: string): void {
    for (const lock of this.store.locksOnReplica(t.scope, t.name, t.rseId)) lock.state = state;
    for (const rule of this.rulesWithLock(t.scope, t.name, t.rseId)) this.recount(rule, error);
  }

  /** `successful_transfer`: a replica became AVAILABLE (transfer done, or `PUT /replicas` state A). */
  replicaAvailable(scope: string, name: string, rseId: string): void {
    this.pending.delete(replicaKey(rseId, scope, name));
    this.setLocks({ scope, name, rseId }, 'OK');
  }

  /** `failed_transfer`: a replica was set UNAVAILABLE (`PUT /replicas` state U); its locks get STUCK. */
  replicaUnavailable(scope: string, name: string, rseId: string): void {
    this.pending.delete(replicaKey(rseId, scope, name));
    this.setLocks({ scope, name, rseId }, 'STUCK');
  }

  private finish(t: Transfer): boolean {
    const { store } = this;
    const rule = this.rulesWithLock(t.scope, t.name, t.rseId)[0];
    const source = this.sources(rule, t.scope, t.name, t.rseId)[0];
    this.pending.delete(replicaKey(t.rseId, t.scope, t.name));
    if (!source) {
      this.setLocks(t, 'STUCK', 'RequestErrMsg.NO_SOURCES:NO_SOURCES');
      return false;
    }
    const data = store.bytesOf(t.scope, t.name, source.rseId);
    if (data) store.blobs.set(replicaKey(t.rseId, t.scope, t.name), data);
    const dest = store.replica(t.scope, t.name, t.rseId);
    const now = store.now();
    if (dest) store.putReplica(t.scope, t.name, { ...dest, state: 'AVAILABLE', updatedAt: now });
    this.setLocks(t, 'OK');
    return true;
  }

  private transfersOf(ruleId: string | undefined): Transfer[] {
    const all = [...this.pending.values()];
    if (ruleId === undefined) return all;
    const locks = this.store.locks.get(ruleId);
    return all.filter((t) => locks?.has(`${didKey(t.scope, t.name)}@${t.rseId}`));
  }

  /** Complete queued transfers (all, or those of one rule, at most `limit`, oldest first); returns how many succeeded. */
  completeTransfers(ruleId?: string, limit = Infinity): number {
    return this.transfersOf(ruleId).slice(0, Math.max(0, limit)).filter((t) => this.finish(t)).length;
  }

  /** Fail queued transfers: their locks become STUCK and the rules STUCK with `error`. */
  failTransfers(error: string, ruleId?: string): number {
    const transfers = this.transfersOf(ruleId);
    for (const t of transfers) {
      this.pending.delete(replicaKey(t.rseId, t.scope, t.name));
      this.setLocks(t, 'STUCK', error);
    }
    return transfers.length;
  }

  private schedule(keys: string[]): void {
    if (this.transferDelayMs === undefined || !keys.length) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      for (const key of keys) {
        const t = this.pending.get(key);
        if (t) this.finish(t);
      }
    }, this.transferDelayMs);
    this.timers.add(timer);
  }

  /** Stop pending timers (the emulator is closing). */
  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Lock files newly attached to a dataset for the rules on it and on its ancestors (judge-evaluator). */
  evaluateAttach(dataset: DidRecord, files: ContentRow[]): void {
    const keys = new Set([didKey(dataset.scope, dataset.name), ...this.store.ancestorKeys(dataset.scope, dataset.name)]);
    for (const rule of this.store.rules.values()) {
      if (!keys.has(didKey(rule.scope, rule.name)) || rule.state === 'WAITING_APPROVAL') continue;
      // Keep the RSEs the rule already uses; a rule that had nothing to lock chooses now.
      let targets = [...new Set([...(this.store.locks.get(rule.id)?.values() ?? [])].map((l) => l.rseId))].map((id) => this.store.rseById(id)).filter((r): r is RseRecord => !!r);
      if (!targets.length) {
        try {
          const candidates = this.targetRses(rule.rseExpression, rule.ignoreAvailability);
          targets = this.select(candidates, rule.copies, this.coverage(files, candidates));
        } catch {
          continue;
        }
      }
      const queued: string[] = [];
      for (const f of files) for (const rse of targets) this.lock(rule, f, rse.id, queued);
      this.recount(rule);
      this.schedule(queued);
    }
  }

  /** Remove the locks of detached files (judge-evaluator). */
  evaluateDetach(dataset: DidRecord, scope: string, name: string): void {
    const keys = new Set([didKey(dataset.scope, dataset.name), ...this.store.ancestorKeys(dataset.scope, dataset.name)]);
    for (const rule of this.store.rules.values()) {
      if (!keys.has(didKey(rule.scope, rule.name))) continue;
      const locks = this.store.locks.get(rule.id);
      for (const [key, lock] of locks ?? []) if (lock.scope === scope && lock.name === name) this.dropLock(locks as Map<string, LockRecord>, key, lock, rule.purgeReplicas);
      this.recount(rule);
    }
  }

  /** Delete a lock; a replica no rule needs any more is dropped if it was never completed (or if purged). */
  private dropLock(locks: Map<string, LockRecord>, key: string, lock: LockRecord, purge: boolean): void {
    locks.delete(key);
    if (this.store.locksOnReplica(lock.scope, lock.name, lock.rseId).length) return;
    const replica = this.store.replica(lock.scope, lock.name, lock.rseId);
    if (replica?.state === 'COPYING' || purge) {
      this.pending.delete(replicaKey(lock.rseId, lock.scope, lock.name));
      this.store.deleteReplica(lock.scope, lock.name, lock.rseId);
    }
  }

  /** `DELETE /rules/{id}`: a soft delete, the rule expires within the hour. */
  deleteRule(issuer: string, id: string, purgeReplicas: boolean | null): void {
    if (!this.store.isAdmin(issuer)) throw new RucioError(401, 'AccessDenied', `Account ${issuer} can not remove this replication rule. `);
    const rule = this.getRule(id);
    if (rule.locked) throw new RucioError(401, 'UnsupportedOperation', 'The replication rule is locked and has to be unlocked before it can be deleted.');
    if (purgeReplicas !== null) rule.purgeReplicas = purgeReplicas;
    const inAnHour = new Date(this.store.now().getTime() + 3600_000);
    rule.expiresAt = rule.expiresAt && rule.expiresAt < inAnHour ? rule.expiresAt : inAnHour;
  }

  /** Record the rule in the long-term history (`insert_rule_history(longterm=True)`). */
  private archive(rule: RuleRecord): void {
    this.store.ruleHistory.push({ rule, at: this.store.now(), state: rule.state, ok: rule.okCnt, replicating: rule.replicatingCnt, stuck: rule.stuckCnt });
  }

  /** Hard-delete a rule and its locks (the judge-cleaner's job once a rule has expired). */
  removeRule(rule: RuleRecord): void {
    this.archive(rule);
    const locks = this.store.locks.get(rule.id) ?? new Map<string, LockRecord>();
    for (const [key, lock] of [...locks]) this.dropLock(locks, key, lock, rule.purgeReplicas);
    this.store.locks.delete(rule.id);
    this.store.rules.delete(rule.id);
  }

  /** The judge-cleaner: remove every rule whose `expires_at` has passed. */
  sweep(): void {
    const now = this.store.now().getTime();
    for (const rule of [...this.store.rules.values()]) if (rule.expiresAt && rule.expiresAt.getTime() <= now) this.removeRule(rule);
  }

  /** `PUT /rules/{id}` `{options}` (`update_rule`). */
  updateRule(issuer: string, id: string, options: Record<string, unknown>): void {
    const { store } = this;
    if ('approve' in options) {
      if (!store.isAdmin(issuer)) throw new RucioError(401, 'AccessDenied', `Account ${issuer} can not approve/deny this replication rule. `);
      const rule = this.getRule(id);
      if (rule.state !== 'WAITING_APPROVAL') throw new RucioError(409, 'UnsupportedOperation', 'The rule is not waiting for approval.');
      if (!options.approve) return this.removeRule(rule);
      rule.state = 'REPLICATING';
      return this.apply(rule, store.requireDid(rule.scope, rule.name), this.targetRses(rule.rseExpression, true));
    }
    if (!store.isAdmin(issuer)) throw new RucioError(401, 'AccessDenied', `Account ${issuer} can not update this replication rule. `);
    const valid = ['comment', 'locked', 'lifetime', 'account', 'state', 'activity', 'source_replica_expression', 'cancel_requests', 'priority', 'child_rule_id', 'eol_at', 'meta', 'purge_replicas', 'boost_rule'];
    for (const key of Object.keys(options)) if (!valid.includes(key)) throw new RucioError(409, 'InputValidationError', `${key} is not a valid option to set.`);
    const rule = this.getRule(id);
    const o = options as Record<string, never>;
    if ('account' in o && !store.accounts.has(o.account)) throw new RucioError(404, 'AccountNotFound', `Account with ID '${String(o.account)}' cannot be found`);
    if ('lifetime' in o) rule.expiresAt = o.lifetime === null ? null : new Date(store.now().getTime() + Number(o.lifetime) * 1000);
    if ('comment' in o) rule.comments = o.comment;
    if ('locked' in o) rule.locked = Boolean(o.locked);
    if ('account' in o) rule.account = o.account;
    if ('activity' in o) rule.activity = o.activity;
    if ('source_replica_expression' in o) rule.sourceReplicaExpression = o.source_replica_expression;
    if ('priority' in o) rule.priority = Number(o.priority);
    if ('purge_replicas' in o) rule.purgeReplicas = Boolean(o.purge_replicas);
    if ('meta' in o) rule.meta = pyJson(o.meta);
    if ('state' in o) {
      const state = String(o.state).toUpperCase();
      if (state === 'SUSPENDED') this.setState(rule, 'SUSPENDED');
      else if (state === 'STUCK') {
        rule.stuckAt = store.now();
        this.setState(rule, 'STUCK');
      }
    }
    rule.updatedAt = store.now();
  }
}

function rowOf(did: DidRecord): ContentRow {
  return { scope: did.scope, name: did.name, type: did.type, bytes: did.bytes, adler32: did.adler32, md5: did.md5, guid: did.guid, events: did.events };
}

/**
 * @module
 */
import { sleep } from '../core/abort.js';
import { didPath, toDid, type Did } from '../core/did.js';
import { formatRfc1123 } from '../core/dates.js';
import { ConnectionError, DuplicateError, InvalidArgumentError, ResponseValidationError, ServerError } from '../core/errors.js';
import type { Listing } from '../core/listing.js';
import type { CallOptions, StreamCallOptions } from '../core/transport.js';
import type { RucioApi } from './api.js';
import { RuleNotProgressingError, RuleStuckError } from './errors.js';
import {
  DID_TYPE_CODE,
  DidRuleHistoryEntrySchema,
  GROUPING_CODE,
  LockSchema,
  RULE_STATE_CODE,
  RuleSchema,
  StringArraySchema,
  type DidRuleHistoryEntry,
  type Lock,
  type Rule,
  type RuleGrouping,
  type RuleState,
} from './types.js';

/**
 * The body of `POST /rules/`, with Rucio's field names. Omitted fields take the Python client's
 * defaults (`grouping: 'DATASET'`, `locked: false`, `notify: 'N'`, `priority: 3`, …); `account`
 * defaults to the client's account.
 */
export interface RuleCreate {
  dids: readonly Did[];
  copies: number;
  rse_expression: string;
  account?: string | null;
  weight?: string | null;
  /** Seconds until the rule expires; `null` = never. */
  lifetime?: number | null;
  grouping?: RuleGrouping;
  locked?: boolean;
  source_replica_expression?: string | null;
  activity?: string | null;
  notify?: 'Y' | 'N' | 'C' | 'P' | null;
  purge_replicas?: boolean;
  ignore_availability?: boolean;
  comment?: string | null;
  ask_approval?: boolean;
  asynchronous?: boolean;
  delay_injection?: number | null;
  priority?: number;
  split_container?: boolean;
  /** Free metadata; objects are JSON-encoded (the server's schema wants a string). */
  meta?: string | Record<string, unknown> | null;
}

/** Filters of {@link Rules.list} (state/type/grouping given as names; sent as Rucio's letters). */
export interface RuleFilters {
  account?: string;
  scope?: string;
  name?: string;
  rse_expression?: string;
  state?: RuleState;
  did_type?: 'FILE' | 'DATASET' | 'CONTAINER';
  grouping?: RuleGrouping;
  activity?: string;
  created_before?: Date;
  created_after?: Date;
  updated_before?: Date;
  updated_after?: Date;
  [column: string]: string | number | boolean | Date | undefined;
}

/** Options of `PUT /rules/{id}` (`{options: {...}}`). */
export interface RuleUpdate {
  comment?: string;
  locked?: boolean;
  lifetime?: number | null;
  account?: string;
  state?: 'SUSPENDED' | 'STUCK';
  activity?: string;
  source_replica_expression?: string | null;
  cancel_requests?: boolean;
  priority?: number;
  child_rule_id?: string | null;
  meta?: string | Record<string, unknown>;
  purge_replicas?: boolean;
  boost_rule?: boolean;
}

/** Progress of a rule, as reported by {@link Rules.waitFor}. */
export interface RuleProgress {
  ruleId: string;
  state: string;
  /** Locks (files × copies) done. */
  ok: number;
  replicating: number;
  stuck: number;
  total: number;
  /** `ok / total` in [0, 1] (1 for an empty rule). */
  fraction: number;
  /** The rule as last read. */
  rule: Rule;
}

/** Options of {@link Rules.waitFor}. */
export interface WaitForRuleOptions extends CallOptions {
  /** Called after each poll (a returned promise is awaited before the next step). */
  onProgress?: (progress: RuleProgress) => unknown;
  /** First poll interval in ms (default 2000); grows ×1.5 up to `maxPollInterval`. */
  pollInterval?: number;
  /** Largest poll interval in ms (default 30 000). */
  maxPollInterval?: number;
}

/** One rule of {@link Rules.ensure}. */
export interface EnsuredRule {
  /** The rule id. */
  id: string;
  did: Did;
  /**
   * `created`: this call's request created it and said so. `found`: a rule with Rucio's unique key
   * (DID, account, RSE expression, copies) was found in the catalogue: made earlier by someone else,
   * or by an attempt of this call whose answer was lost.
   */
  outcome: 'created' | 'found';
}

/** Options of {@link Rules.ensure}. */
export interface EnsureRuleOptions extends CallOptions {
  /**
   * How many times `POST /rules/` may be sent in all (default 3). It is sent again only after the
   * catalogue was read and showed no such rule.
   */
  attempts?: number;
}

/**
 * A failure after which a rule may or may not have been created: no answer (connection lost, timeout),
 * a 5xx (a gateway may have given up on a server that went on), or a broken 2xx answer.
 */
function ambiguous(e: unknown): boolean {
  return e instanceof ConnectionError || e instanceof ServerError || e instanceof ResponseValidationError;
}

const RULE_ID = /^[0-9a-fA-F]{32}$/;

function ruleId(id: string): string {
  if (typeof id !== 'string' || !RULE_ID.test(id)) throw new InvalidArgumentError('ruleId', `Invalid rule id ${JSON.stringify(String(id)).slice(0, 60)}: expected 32 hex digits`);
  return id.toLowerCase();
}

function letter(map: Record<string, string>, field: string, value: string): string {
  const code = map[value];
  if (!code) throw new InvalidArgumentError(field, `unknown ${field} ${JSON.stringify(value)} (use one of ${Object.keys(map).join(', ')})`);
  return code;
}

/** Progress numbers of a rule. */
export function ruleProgress(rule: Rule): RuleProgress {
  const ok = rule.locks_ok_cnt;
  const replicating = rule.locks_replicating_cnt;
  const stuck = rule.locks_stuck_cnt;
  const total = ok + replicating + stuck;
  return { ruleId: rule.id, state: rule.state, ok, replicating, stuck, total, fraction: total === 0 ? 1 : ok / total, rule };
}


/**
 * Replication rules (`/rules`): ask the Data Lake to place copies of data on RSEs, and watch them.
 *
 * @example
 * ```ts
 * const [id] = await rucio.rules.create({ dids: [parseDid('lofar:L123456')], copies: 1, rse_expression: 'SURF-DCACHE', lifetime: 86400 });
 * await rucio.rules.waitFor(id!, { onProgress: (p) => console.log(`${p.ok}/${p.total}`) });
 * ```
 */
export class Rules {
  /** @internal */
  constructor(private readonly api: RucioApi) {}

  /**
   * Create rules (one per DID); returns their ids. Not retried automatically (a POST).
   * @throws DuplicateError (`DuplicateRule`), ConflictError (`InvalidRSEExpression`, …), NotFoundError (missing DID).
   */
  create(rule: RuleCreate, options?: CallOptions): Promise<string[]> {
    if (!Array.isArray(rule.dids) || rule.dids.length === 0) throw new InvalidArgumentError('dids', 'a rule needs at least one DID');
    if (!Number.isInteger(rule.copies) || rule.copies < 1) throw new InvalidArgumentError('copies', 'copies must be a positive integer');
    if (typeof rule.rse_expression !== 'string' || rule.rse_expression.trim() === '') throw new InvalidArgumentError('rse_expression', 'rse_expression must be a non-empty string');
    const body = {
      dids: rule.dids.map((d) => ({ scope: toDid(d).scope, name: d.name })),
      copies: rule.copies,
      rse_expression: rule.rse_expression,
      weight: rule.weight ?? null,
      lifetime: rule.lifetime ?? null,
      grouping: rule.grouping ?? 'DATASET',
      account: rule.account !== undefined ? rule.account : (this.api.account ?? null),
      locked: rule.locked ?? false,
      source_replica_expression: rule.source_replica_expression ?? null,
      activity: rule.activity ?? null,
      notify: rule.notify ?? 'N',
      purge_replicas: rule.purge_replicas ?? false,
      ignore_availability: rule.ignore_availability ?? false,
      comment: rule.comment ?? null,
      ask_approval: rule.ask_approval ?? false,
      asynchronous: rule.asynchronous ?? false,
      delay_injection: rule.delay_injection ?? null,
      priority: rule.priority ?? 3,
      split_container: rule.split_container ?? false,
      meta: rule.meta === undefined || rule.meta === null || typeof rule.meta === 'string' ? (rule.meta ?? null) : JSON.stringify(rule.meta),
    };
    return this.api.writeJson('POST', 'rules/', body, StringArraySchema, options);
  }

  /**
   * Create rules idempotently: like {@link Rules.create}, but safe after an ambiguous failure. The POST
   * is sent; when it fails without a clear answer (connection lost, timeout, 5xx, a broken answer) or
   * with `DuplicateRule`, the catalogue is asked (`GET /dids/{scope}/{name}/rules`) for a rule with
   * Rucio's unique key — same DID, account, RSE expression and copies — and only the DIDs that have
   * none are sent again, at most `attempts` POSTs in all. So a lost answer never makes a second rule.
   *
   * @example
   * ```ts
   * const [r] = await rucio.rules.ensure({ dids: [parseDid('user.jdoe:results')], copies: 1, rse_expression: 'SITE_B' });
   * console.log(r!.id, r!.outcome); // 'created', or 'found' when it existed (or an earlier answer was lost)
   * ```
   * @returns one entry per DID, in the order given.
   * @throws the last error when the rule could not be created or found; errors that are not ambiguous
   *   (`NotFoundError`, `ConflictError` for a bad RSE expression, …) at once.
   */
  async ensure(rule: RuleCreate, options: EnsureRuleOptions = {}): Promise<EnsuredRule[]> {
    if (!Array.isArray(rule.dids) || rule.dids.length === 0) throw new InvalidArgumentError('dids', 'a rule needs at least one DID');
    const attempts = options.attempts ?? 3;
    if (!Number.isInteger(attempts) || attempts < 1) throw new InvalidArgumentError('attempts', 'attempts must be a positive integer');
    const dids = rule.dids.map((d) => toDid(d));
    const account = rule.account !== undefined ? rule.account : (this.api.account ?? null);
    const key = (d: Did) => `${d.scope}:${d.name}`;
    const done = new Map<string, EnsuredRule>();
    let pending = [...new Map(dids.map((d) => [key(d), d])).values()];
    let check = false;
    let lastError: unknown;
    for (let sent = 0; ; ) {
      if (check) {
        const still: Did[] = [];
        for (const did of pending) {
          const found = await this.#lookup(did, rule, account, attempts, options);
          if (found) done.set(key(did), { id: found.id, did, outcome: 'found' });
          else still.push(did);
        }
        pending = still;
      }
      if (pending.length === 0) break;
      if (sent >= attempts) throw lastError;
      sent++;
      try {
        const ids = await this.create({ ...rule, dids: pending }, options);
        if (ids.length !== pending.length) throw new ResponseValidationError('POST /rules/', '', `has ${ids.length} rule ids for ${pending.length} DIDs`, ids);
        pending.forEach((did, i) => done.set(key(did), { id: ids[i] as string, did, outcome: 'created' }));
        break;
      } catch (e) {
        if (!(e instanceof DuplicateError) && !ambiguous(e)) throw e;
        lastError = e;
        check = true;
      }
    }
    return dids.map((d) => done.get(key(d)) as EnsuredRule);
  }

  /** The rule of `did` with the unique key of `rule`, if any (the read is retried on ambiguous failures). */
  async #lookup(did: Did, rule: RuleCreate, account: string | null, attempts: number, options: CallOptions): Promise<Rule | undefined> {
    for (let i = 1; ; i++) {
      try {
        for await (const r of this.api.list(`dids/${didPath(did)}/rules`, RuleSchema, undefined, options)) {
          if (r.scope === did.scope && r.name === did.name && r.rse_expression === rule.rse_expression && r.copies === rule.copies && (account === null || r.account === account)) return r;
        }
        return undefined;
      } catch (e) {
        if (!ambiguous(e) || i >= attempts) throw e;
      }
    }
  }

  /** One rule (`GET /rules/{id}`). @throws NotFoundError (`RuleNotFound`). */
  get(id: string, options?: CallOptions): Promise<Rule> {
    return this.api.get(`rules/${ruleId(id)}`, RuleSchema, undefined, options);
  }

  /** List rules by column filters (`GET /rules/`); dates are sent in RFC 1123, enums as letters. */
  list(filters: RuleFilters = {}, options?: StreamCallOptions): Listing<Rule> {
    const query: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(filters)) {
      if (v === undefined) continue;
      if (k === 'state') query[k] = letter(RULE_STATE_CODE, 'state', String(v));
      else if (k === 'did_type') query[k] = letter(DID_TYPE_CODE, 'did_type', String(v));
      else if (k === 'grouping') query[k] = letter(GROUPING_CODE, 'grouping', String(v));
      else if (v instanceof Date) query[k] = formatRfc1123(v);
      else query[k] = v;
    }
    return this.api.list('rules/', RuleSchema, query, options);
  }

  /** Locks of a rule: one per file and RSE (`GET /rules/{id}/locks`). */
  locks(id: string, options?: StreamCallOptions): Listing<Lock> {
    return this.api.list(`rules/${ruleId(id)}/locks`, LockSchema, undefined, options);
  }

  /**
   * Every rule a DID has had (`GET /rules/{scope}/{name}/history`): a row when a rule was created
   * and when it was removed, with its state and lock counts then. There is no history of one rule by
   * its id: Rucio routes `GET /rules/{id}/history` to this DID form, which answers 400 `ValueError`
   * (the id is not a `scope/name`). For one rule, filter its DID's history by `rule_id`.
   *
   * @example
   * ```ts
   * const rule = await rucio.rules.get(id);
   * const rows = (await rucio.rules.didHistory({ scope: rule.scope, name: rule.name }).toArray()).filter((h) => h.rule_id === id);
   * ```
   */
  didHistory(did: Did, options?: StreamCallOptions): Listing<DidRuleHistoryEntry> {
    return this.api.list(`rules/${didPath(toDid(did))}/history`, DidRuleHistoryEntrySchema, undefined, options);
  }

  /** Update a rule (`PUT /rules/{id}` with `{options}`). */
  update(id: string, update: RuleUpdate, options?: CallOptions): Promise<void> {
    const opts = { ...update, ...(update.meta !== undefined && typeof update.meta !== 'string' ? { meta: JSON.stringify(update.meta) } : {}) };
    return this.api.write('PUT', `rules/${ruleId(id)}`, { options: opts }, options);
  }

  /**
   * Delete a rule (`DELETE /rules/{id}` with the JSON body the server requires). Rucio deletes
   * softly: the rule stays readable, with `expires_at` set, until its cleaner daemon runs.
   */
  delete(id: string, options: CallOptions & { purgeReplicas?: boolean } = {}): Promise<void> {
    return this.api.write('DELETE', `rules/${ruleId(id)}`, { purge_replicas: options.purgeReplicas ?? false }, options);
  }

  /**
   * Poll a rule until it is `OK`, with backoff, reporting lock counts as progress.
   * @throws {@link RuleStuckError} (with the stuck locks) when it goes `STUCK`;
   *   {@link RuleNotProgressingError} for `SUSPENDED` / `WAITING_APPROVAL`; `AbortError` on abort.
   */
  async waitFor(id: string, options: WaitForRuleOptions = {}): Promise<Rule> {
    const rid = ruleId(id);
    let interval = options.pollInterval ?? 2000;
    const max = options.maxPollInterval ?? 30_000;
    for (;;) {
      const rule = await this.get(rid, options);
      await options.onProgress?.(ruleProgress(rule));
      if (rule.state === 'OK') return rule;
      if (rule.state === 'STUCK') throw new RuleStuckError(rule, await this.locks(rid, options).toArray());
      if (rule.state === 'SUSPENDED' || rule.state === 'WAITING_APPROVAL') throw new RuleNotProgressingError(rule);
      await sleep(interval, options.signal, 'waiting for the rule was aborted');
      interval = Math.min(max, Math.ceil(interval * 1.5));
    }
  }
}


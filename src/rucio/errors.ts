/**
 * Errors specific to Rucio workflows.
 * @module
 */
import { formatDid, type Did } from '../core/did.js';
import { DlaasError, ErrorCode } from '../core/errors.js';
import type { Lock, Rule } from './types.js';

/** A stuck lock: which file on which RSE could not be replicated. */
export interface StuckLock {
  scope: string;
  name: string;
  rse: string;
  state: string;
}

/** A rule went `STUCK` while being waited for. `stuckLocks` lists the files that failed. */
export class RuleStuckError extends DlaasError {
  /** The rule id. */
  readonly ruleId: string;
  /** The rule's `error` text from the server, if any. */
  readonly ruleError: string | null;
  /** Stuck locks (scope, name, RSE, state). */
  readonly stuckLocks: StuckLock[];
  constructor(rule: Rule, locks: Lock[]) {
    const stuck = locks.filter((l) => l.state === 'STUCK').map((l) => ({ scope: l.scope, name: l.name, rse: l.rse, state: l.state }));
    const shown = stuck.slice(0, 5).map((l) => `${l.scope}:${l.name}@${l.rse}`).join(', ');
    super(
      `Rule ${rule.id} is STUCK (${rule.locks_stuck_cnt} stuck, ${rule.locks_ok_cnt} ok, ${rule.locks_replicating_cnt} replicating)${rule.error ? `: ${rule.error}` : ''}${shown ? `; stuck: ${shown}${stuck.length > 5 ? ', …' : ''}` : ''}`,
      {},
      ErrorCode.ruleStuck,
    );
    this.ruleId = rule.id;
    this.ruleError = rule.error ?? null;
    this.stuckLocks = stuck;
  }
}

/** A rule cannot progress by itself (`SUSPENDED`, `WAITING_APPROVAL`), so waiting for it would never end. */
export class RuleNotProgressingError extends DlaasError {
  /** The rule id. */
  readonly ruleId: string;
  /** The state it is in. */
  readonly state: string;
  constructor(rule: Rule) {
    super(`Rule ${rule.id} is ${rule.state}: it will not complete without intervention${rule.error ? ` (${rule.error})` : ''}`, {}, ErrorCode.ruleNotProgressing);
    this.ruleId = rule.id;
    this.state = rule.state;
  }
}

/**
 * DIDs given to `replicas.list` with `missing: 'error'` do not exist. Rucio itself lists nothing for
 * them (200, empty body); the SDK found out by asking for each DID the listing did not name.
 *
 * @example
 * ```ts
 * try {
 *   await rucio.replicas.list([parseDid('test:typo')], { missing: 'error' }).toArray();
 * } catch (e) {
 *   if (e instanceof MissingDidsError) console.log(e.dids); // [{ scope: 'test', name: 'typo' }]
 * }
 * ```
 */
export class MissingDidsError extends DlaasError {
  /** The DIDs that do not exist. */
  readonly dids: Did[];
  constructor(dids: readonly Did[]) {
    const shown = dids.slice(0, 5).map(formatDid).join(', ');
    super(`${dids.length} DID(s) do not exist: ${shown}${dids.length > 5 ? ', …' : ''}`, {}, ErrorCode.notFound);
    this.dids = [...dids];
  }
}

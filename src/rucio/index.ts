/**
 * The Rucio REST client.
 * @module
 */
export { RucioClient, type RucioClientOptions } from './client.js';
export { Dids, type DidSearchOptions, type AddCollectionOptions, type CollectionRule, type NewDid, type AttachedDid, type Attachment } from './dids.js';
export {
  Replicas,
  REPLICA_BATCH_SIZE,
  type AddBadPfnsOptions,
  type AddReplicasOptions,
  type BadReplicaFilters,
  type BadSummaryFilters,
  type ClientLocation,
  type DeclareBadOptions,
  type DeleteReplicasOptions,
  type DeclareOptions,
  type ListReplicasOptions,
  type NewReplica,
  type NotDeclared,
  type ReplicaBatchOptions,
  type ReplicaOnRse,
  type ReplicaStateUpdate,
  type SuspiciousFilters,
} from './replicas.js';
export { Rules, ruleProgress, type EnsuredRule, type EnsureRuleOptions, type RuleCreate, type RuleFilters, type RuleUpdate, type RuleProgress, type WaitForRuleOptions } from './rules.js';
export { Rses, protocolsFor, type PfnOptions } from './rses.js';
export { Accounts, Scopes, RucioAuth, AccountChoiceRequiredError, type RucioToken, type UserpassCredentials, type TokenValidation } from './accounts.js';
export { RuleStuckError, RuleNotProgressingError, MissingDidsError, type StuckLock } from './errors.js';
export { encodeDidFilters, type DidFilter, type FilterOps, type FilterValue } from './filters.js';
export { parsePythonLiteral, toPythonLiteral, type PyValue, type PyParsed } from './python-literal.js';
export { lfn2pathHash, lfn2pathIdentity, buildPfn, type PfnProtocol } from './lfn2pfn.js';
export * from './types.js';

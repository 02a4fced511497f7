/**
 * Rucio wire types and their response schemas. Field names are Rucio's (snake_case), exactly as on
 * the wire; every object schema keeps unknown fields (servers add columns).
 *
 * @module
 */
import * as z from 'zod/mini';
import type { Schema } from '../core/validate.js';

/** A string enum that also accepts values a newer server may add. */
function known<T extends string>(): z.ZodMiniType<T | (string & {}), unknown> {
  return z.string() as unknown as z.ZodMiniType<T | (string & {}), unknown>;
}
const str = z.string();
const num = z.number();
const nstr = z.nullable(z.string());
const nnum = z.nullable(z.number());
const nbool = z.nullable(z.boolean());
const opt = <T>(s: z.ZodMiniType<T, unknown>) => z.optional(s);

/** DID types as Rucio names them on the wire. */
export type DidType = 'FILE' | 'DATASET' | 'CONTAINER' | 'ARCHIVE' | 'DELETED_FILE' | 'DELETED_DATASET' | 'DELETED_CONTAINER';
/** Replica states (names; writes use letters, the SDK converts). */
export type ReplicaState = 'AVAILABLE' | 'UNAVAILABLE' | 'COPYING' | 'BEING_DELETED' | 'BAD' | 'TEMPORARY_UNAVAILABLE';
/** Rule states. */
export type RuleState = 'REPLICATING' | 'OK' | 'STUCK' | 'SUSPENDED' | 'WAITING_APPROVAL' | 'INJECT';
/** Lock states. */
export type LockState = 'OK' | 'REPLICATING' | 'STUCK';
/** Rule grouping. */
export type RuleGrouping = 'ALL' | 'DATASET' | 'NONE';

/** Wire letter codes for names, used in writes and list filters. */
export const REPLICA_STATE_CODE: Record<ReplicaState, string> = { AVAILABLE: 'A', UNAVAILABLE: 'U', COPYING: 'C', BEING_DELETED: 'B', BAD: 'D', TEMPORARY_UNAVAILABLE: 'T' };
/** States of a declared bad replica (Rucio's `BadFilesStatus`). */
export type BadReplicaState = 'BAD' | 'DELETED' | 'LOST' | 'RECOVERED' | 'SUSPICIOUS' | 'TEMPORARY_UNAVAILABLE';
/** Bad-replica state letter codes (what `GET /replicas/bad/states?state=` takes: the name answers 500). */
export const BAD_REPLICA_STATE_CODE: Record<BadReplicaState, string> = { BAD: 'B', DELETED: 'D', LOST: 'L', RECOVERED: 'R', SUSPICIOUS: 'S', TEMPORARY_UNAVAILABLE: 'T' };
/** Rule state letter codes. */
export const RULE_STATE_CODE: Record<RuleState, string> = { REPLICATING: 'R', OK: 'O', STUCK: 'S', SUSPENDED: 'U', WAITING_APPROVAL: 'W', INJECT: 'I' };
/** DID type letter codes. */
export const DID_TYPE_CODE: Record<'FILE' | 'DATASET' | 'CONTAINER', string> = { FILE: 'F', DATASET: 'D', CONTAINER: 'C' };
/** Grouping letter codes. */
export const GROUPING_CODE: Record<RuleGrouping, string> = { ALL: 'A', DATASET: 'D', NONE: 'N' };

/** `GET /ping`. */
export const PingSchema = z.looseObject({ version: str });
/** Server version. */
export type Ping = z.infer<typeof PingSchema>;

/** `GET /dids/{scope}/{name}`: a file or a collection. */
export const DidInfoSchema = z.looseObject({
  scope: str,
  name: str,
  type: known<DidType>(),
  account: opt(nstr),
  bytes: opt(nnum),
  length: opt(nnum),
  md5: opt(nstr),
  adler32: opt(nstr),
  open: opt(nbool),
  monotonic: opt(nbool),
  expired_at: opt(nstr),
});
/** DID details. Files carry `bytes`/`adler32`/`md5`; collections `open`, `monotonic`, `length`. */
export type DidInfo = z.infer<typeof DidInfoSchema>;

/** `GET /dids/{scope}/{name}/dids`: attached DIDs. */
export const ContentEntrySchema = z.looseObject({ scope: str, name: str, type: known<DidType>(), bytes: opt(nnum), adler32: opt(nstr), md5: opt(nstr) });
/** A DID attached to a collection. */
export type ContentEntry = z.infer<typeof ContentEntrySchema>;

/** `GET /dids/{scope}/{name}/files`. */
export const FileEntrySchema = z.looseObject({ scope: str, name: str, bytes: nnum, adler32: opt(nstr), md5: opt(nstr), guid: opt(nstr), events: opt(nnum) });
/** A file inside a collection (recursively). */
export type FileEntry = z.infer<typeof FileEntrySchema>;

/** `GET /dids/{scope}/{name}/parents`. */
export const ParentEntrySchema = z.looseObject({ scope: str, name: str, type: known<DidType>() });
/** A collection a DID is attached to. */
export type ParentEntry = z.infer<typeof ParentEntrySchema>;

/** `GET /dids/{scope}/dids/search?long=true`. */
export const DidSearchLongSchema = z.looseObject({ scope: str, name: str, did_type: known<DidType>(), bytes: nnum, length: nnum });
/** A search hit with sizes. */
export type DidSearchLong = z.infer<typeof DidSearchLongSchema>;
/** A search hit without `long`: the name. */
export const DidNameSchema = z.string();

/** `GET /dids/{scope}/{name}/meta`: every column (DID_COLUMN plugin) or the plugin's keys. */
export const DidMetaSchema = z.record(z.string(), z.unknown());
/** DID metadata. */
export type DidMeta = Record<string, unknown>;

const pfnInfoFields = {
  rse_id: str,
  rse: str,
  type: str,
  volatile: z.boolean(),
  domain: str,
  priority: num,
  client_extract: z.boolean(),
};
/** One PFN's details in a replica listing. */
export const PfnInfoSchema = z.looseObject(pfnInfoFields);
/** Where one PFN lives and how it ranks. */
export type PfnInfo = z.infer<typeof PfnInfoSchema>;

/** A listed file's fields before and after its `pfns` (zod returns a loose object's fields in shape order). */
const fileFields = { scope: str, name: str, bytes: nnum, md5: opt(nstr), adler32: opt(nstr) };
const locationFields = {
  rses: z.record(z.string(), z.array(z.string())),
  states: opt(z.record(z.string(), known<ReplicaState>())),
  parents: opt(z.array(z.string())),
};
/** `POST /replicas/list` (NDJSON): a line as the server sends it. `replicas.list` yields {@link Replica}s. */
export const ReplicaSchema = z.looseObject({ ...fileFields, pfns: z.record(z.string(), PfnInfoSchema), ...locationFields });

/** One PFN of a listed file (an entry of {@link Replica}`.replicas`): its URL, where it lives and how it ranks. */
export const ReplicaPfnSchema = z.looseObject({ pfn: str, ...pfnInfoFields });
/** One PFN of a listed file: the URL (`pfn`), its RSE, and its `priority` (1 = best). */
export type ReplicaPfn = z.infer<typeof ReplicaPfnSchema>;

/** @internal A file of `POST /replicas/list` as `replicas.list` yields it: `pfns` read into `replicas`. */
export const ListedReplicaSchema = z.looseObject({ ...fileFields, replicas: z.array(ReplicaPfnSchema), ...locationFields });

/**
 * A file with its replicas, as `replicas.list` yields it: `replicas` (each PFN with its RSE and
 * details, best first: `priority` 1), `rses` (RSE → PFNs) and `states` (RSE → state). A file
 * without replicas has empty `replicas` and maps, and no `states`.
 *
 * `pfns` is the server's own map (PFN → details), made from `replicas` on first access (it is not
 * an own property: `{ ...r }` leaves it out), and `JSON.stringify(r)` writes the line as the
 * server sent it, with `pfns` and without `replicas`.
 *
 * @example
 * ```ts
 * for await (const r of rucio.replicas.list(dids)) console.log(r.name, r.replicas[0]?.pfn); // the best PFN
 * const wire = JSON.parse(JSON.stringify(r)); // { scope, name, …, pfns: { [pfn]: { rse, priority, … } }, rses, states }
 * ```
 */
export type Replica = z.infer<typeof ListedReplicaSchema> & {
  /** The server's map of the PFNs (PFN → details), in `replicas`' order; made on first access. */
  readonly pfns: Record<string, PfnInfo>;
};

/** `GET /replicas/{scope}/{name}/datasets`. */
export const DatasetReplicaSchema = z.looseObject({
  scope: str,
  name: str,
  rse: str,
  rse_id: opt(str),
  bytes: nnum,
  length: nnum,
  available_bytes: nnum,
  available_length: nnum,
  state: known<ReplicaState>(),
  created_at: opt(nstr),
  updated_at: opt(nstr),
  accessed_at: opt(nstr),
});
/** A dataset's replica on one RSE. */
export type DatasetReplica = z.infer<typeof DatasetReplicaSchema>;

/**
 * A declaration of a bad (or suspicious, recovered, …) replica, from `GET /replicas/bad/states`.
 * Dates are RFC 1123 strings (use `parseRucioDate`).
 */
export interface BadReplica {
  scope: string;
  name: string;
  rse: string | null;
  rse_id: string;
  state: BadReplicaState | (string & {});
  created_at?: string | null | undefined;
  updated_at?: string | null | undefined;
  [field: string]: unknown;
}
/** `GET /replicas/bad/states` (NDJSON). */
export const BadReplicaSchema: Schema<BadReplica> = z.looseObject({ scope: str, name: str, rse: nstr, rse_id: str, state: known<BadReplicaState>(), created_at: opt(nstr), updated_at: opt(nstr) });

/**
 * One incident of `GET /replicas/bad/summary`: declarations counted per state (only the states that
 * occur) for one RSE, day and reason. `created_at` is the day (RFC 1123, midnight), `null` on an
 * SQLite-backed server.
 */
export interface BadReplicaSummary extends Partial<Record<BadReplicaState, number>> {
  rse: string | null;
  rse_id: string;
  created_at?: string | null | undefined;
  reason?: string | null | undefined;
}
/** `GET /replicas/bad/summary` (NDJSON). */
export const BadReplicaSummarySchema: Schema<BadReplicaSummary> = z.looseObject({ rse: nstr, rse_id: str, created_at: opt(nstr), reason: opt(nstr) });

/** A replica declared suspicious `cnt` times in the window, from `GET /replicas/suspicious` (`created_at` is the replica's). */
export interface SuspiciousReplica {
  scope: string;
  name: string;
  rse: string | null;
  rse_id: string;
  cnt: number;
  created_at?: string | null | undefined;
  [field: string]: unknown;
}
/** `GET /replicas/suspicious` (one JSON array). */
export const SuspiciousReplicaArraySchema: Schema<SuspiciousReplica[]> = z.array(z.looseObject({ scope: str, name: str, rse: nstr, rse_id: str, cnt: num, created_at: opt(nstr) }));

/** What a bad/suspicious declaration did not declare: messages per RSE name (`unknown` for PFNs of no known RSE). */
export const NotDeclaredSchema: Schema<Record<string, string[]>> = z.record(z.string(), z.array(z.string()));

/** A replication rule (`GET /rules/{id}`, listings). Dates are RFC 1123 strings (use `parseRucioDate`). */
export const RuleSchema = z.looseObject({
  id: str,
  account: str,
  scope: str,
  name: str,
  did_type: known<DidType>(),
  state: known<RuleState>(),
  error: opt(nstr),
  rse_expression: str,
  copies: num,
  expires_at: opt(nstr),
  weight: opt(nstr),
  locked: z.boolean(),
  locks_ok_cnt: num,
  locks_replicating_cnt: num,
  locks_stuck_cnt: num,
  source_replica_expression: opt(nstr),
  activity: opt(nstr),
  grouping: known<RuleGrouping>(),
  notification: opt(nstr),
  stuck_at: opt(nstr),
  purge_replicas: opt(z.boolean()),
  ignore_availability: opt(z.boolean()),
  ignore_account_limit: opt(z.boolean()),
  priority: opt(nnum),
  comments: opt(nstr),
  child_rule_id: opt(nstr),
  eol_at: opt(nstr),
  split_container: opt(nbool),
  meta: opt(z.unknown()),
  deleted_at: opt(nstr),
  created_at: opt(nstr),
  updated_at: opt(nstr),
  subscription_id: opt(nstr),
  bytes: opt(nnum),
});
/** A replication rule. */
export type Rule = z.infer<typeof RuleSchema>;

/** `GET /rules/{id}/locks`. */
export const LockSchema = z.looseObject({ scope: str, name: str, rse_id: str, rse: str, state: known<LockState>(), rule_id: str });
/** A replica lock of a rule on one file. */
export type Lock = z.infer<typeof LockSchema>;

/** `GET /rules/{scope}/{name}/history`. */
export const DidRuleHistoryEntrySchema = z.looseObject({
  rule_id: str,
  state: known<RuleState>(),
  rse_expression: opt(nstr),
  account: opt(nstr),
  created_at: opt(nstr),
  updated_at: opt(nstr),
  locks_ok_cnt: opt(nnum),
  locks_replicating_cnt: opt(nnum),
  locks_stuck_cnt: opt(nnum),
});
/** A rule that a DID has had. */
export type DidRuleHistoryEntry = z.infer<typeof DidRuleHistoryEntrySchema>;

/** The fields every RSE document has. */
const rseFields = {
  id: str,
  rse: str,
  rse_type: str,
  deterministic: z.boolean(),
  volatile: z.boolean(),
  staging_area: opt(z.boolean()),
  availability_read: opt(nbool),
  availability_write: opt(nbool),
  availability_delete: opt(nbool),
};

/** `GET /rses/` (full entries). */
export const RseSchema = z.looseObject({ ...rseFields, vo: opt(str) });
/** An RSE as listed by `GET /rses/`. */
export type Rse = z.infer<typeof RseSchema>;

/** `GET /rses/?expression=`: names only. */
export const RseNameSchema = z.looseObject({ rse: str });
/** An RSE name from an expression. */
export type RseName = z.infer<typeof RseNameSchema>;

const PriorityMap = z.record(z.string(), z.nullable(z.number()));
/** A protocol of an RSE. Priorities: `null` disabled, then ascending (0/1 best). */
export const ProtocolSchema = z.looseObject({
  scheme: str,
  hostname: str,
  port: z.nullable(num),
  prefix: z.nullable(str),
  impl: opt(nstr),
  domains: z.record(z.string(), PriorityMap),
  extended_attributes: opt(z.unknown()),
});
/** An RSE protocol. */
export type Protocol = z.infer<typeof ProtocolSchema>;

/** `GET /rses/{rse}`: settings with protocols (what clients use as `rse_info`). */
export const RseSettingsSchema = z.looseObject({
  ...rseFields,
  domain: opt(z.array(z.string())),
  lfn2pfn_algorithm: opt(nstr),
  sign_url: opt(nstr),
  verify_checksum: opt(nbool),
  credentials: opt(z.unknown()),
  qos_class: opt(nstr),
  protocols: z.array(ProtocolSchema),
});
/** RSE settings including protocols. */
export type RseSettings = z.infer<typeof RseSettingsSchema>;

/** `GET /accounts/{account}`. Dates are ISO `YYYY-MM-DDTHH:MM:SS` here. */
export const AccountSchema = z.looseObject({
  account: str,
  account_type: str,
  status: str,
  email: opt(nstr),
  suspended_at: opt(nstr),
  deleted_at: opt(nstr),
  created_at: opt(nstr),
  updated_at: opt(nstr),
});
/** An account. */
export type Account = z.infer<typeof AccountSchema>;

/** A JSON array of strings (`/scopes/`, `/accounts/{a}/scopes/`, rule ids). */
export const StringArraySchema = z.array(z.string());
/** `GET /rses/{rse}/attr/`, `lfns2pfns`: a JSON object. */
export const ObjectSchema = z.record(z.string(), z.unknown());
/** `GET /rses/{rse}/lfns2pfns`. */
export const PfnMapSchema = z.record(z.string(), z.string());

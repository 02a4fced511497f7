/**
 * The dictionaries the Rucio server writes, with the field sets and key order of the recorded
 * transcripts (Python dicts keep insertion order, so the order is part of the wire format).
 * @module
 */
import { formatRucioIso } from '../../core/dates.js';
import { compare, type AccountRecord, type ContentRow, type DidRecord, type LockRecord, type ProtocolRecord, type RseRecord, type RuleRecord, type Store } from './state.js';

/** `availability` integer: read 4, write 2, delete 1. */
export function availabilityOf(rse: RseRecord): number {
  return (rse.availabilityRead ? 4 : 0) + (rse.availabilityWrite ? 2 : 0) + (rse.availabilityDelete ? 1 : 0);
}

/** An RSE as `GET /rses/` lists it (call 22). */
export function rseListDict(rse: RseRecord): Record<string, unknown> {
  const l = (k: string) => rse.location[k] ?? null;
  return {
    deterministic: rse.deterministic,
    time_zone: l('time_zone'),
    availability_delete: rse.availabilityDelete,
    volatile: rse.volatile,
    ISP: l('ISP'),
    qos_class: rse.qosClass,
    staging_area: rse.stagingArea,
    ASN: l('ASN'),
    deleted: false,
    id: rse.id,
    city: l('city'),
    longitude: l('longitude'),
    deleted_at: null,
    region_code: l('region_code'),
    latitude: l('latitude'),
    created_at: rse.createdAt,
    rse: rse.name,
    country_name: l('country_name'),
    availability: availabilityOf(rse),
    updated_at: rse.updatedAt,
    vo: 'def',
    continent: l('continent'),
    availability_read: rse.availabilityRead,
    rse_type: rse.rseType,
    availability_write: rse.availabilityWrite,
  };
}

/** A protocol entry in canonical key order. */
export function protocolDict(p: ProtocolRecord): Record<string, unknown> {
  return { hostname: p.hostname, scheme: p.scheme, port: p.port, prefix: p.prefix, impl: p.impl, domains: p.domains, extended_attributes: p.extended_attributes };
}

/** Protocols sorted as the server returns them: by (hostname, scheme, port). */
export function sortedProtocols(rse: RseRecord): ProtocolRecord[] {
  return [...rse.protocols].sort((a, b) => compare(a.hostname, b.hostname) || compare(a.scheme, b.scheme) || a.port - b.port);
}

/** RSE settings incl. protocols, as `GET /rses/{rse}` (call 24). */
export function rseSettingsDict(rse: RseRecord): Record<string, unknown> {
  return {
    availability_delete: rse.availabilityDelete,
    availability_read: rse.availabilityRead,
    availability_write: rse.availabilityWrite,
    credentials: null,
    deterministic: rse.deterministic,
    domain: ['lan', 'wan'],
    id: rse.id,
    lfn2pfn_algorithm: rse.lfn2pfnAlgorithm,
    protocols: sortedProtocols(rse).map(protocolDict),
    qos_class: rse.qosClass,
    rse: rse.name,
    rse_type: rse.rseType,
    sign_url: rse.attributes.get('sign_url') ?? null,
    staging_area: rse.stagingArea,
    verify_checksum: rse.verifyChecksum,
    volatile: rse.volatile,
    availability: availabilityOf(rse),
  };
}

/** An account (call 15); dates are ISO here, not RFC 1123. */
export function accountDict(a: AccountRecord): Record<string, unknown> {
  return {
    status: a.status,
    suspended_at: null,
    created_at: formatRucioIso(a.createdAt),
    account_type: a.type,
    account: a.account,
    email: a.email,
    deleted_at: null,
    updated_at: formatRucioIso(a.updatedAt),
  };
}

/** `GET /dids/{scope}/{name}` (calls 38, 39, 74). `dynamic` overrides the stored bytes/length. */
export function didDict(d: DidRecord, dynamic?: { bytes: number; length: number }): Record<string, unknown> {
  const bytes = dynamic ? dynamic.bytes : d.bytes;
  if (d.type === 'FILE') return { scope: d.scope, name: d.name, type: d.type, account: d.account, bytes, length: 1, md5: d.md5, adler32: d.adler32 };
  return { scope: d.scope, name: d.name, type: d.type, account: d.account, open: d.isOpen, monotonic: d.monotonic, expired_at: d.expiredAt, length: dynamic ? dynamic.length : d.length, bytes };
}

/** Defaults of the `dids` columns that only metadata can set. */
export const EXTRA_COLUMNS: Readonly<Record<string, unknown>> = {
  hidden: false,
  datatype: null,
  panda_id: null,
  constituent: null,
  obsolete: false,
  run_number: null,
  lumiblocknr: null,
  access_cnt: null,
  complete: null,
  stream_name: null,
  provenance: null,
  is_new: true,
  purge_replicas: true,
  phys_group: null,
  transient: false,
  availability: 'AVAILABLE',
  deleted_at: null,
  prod_step: null,
  accessed_at: null,
  suppressed: false,
  version: null,
  campaign: null,
  eol_at: null,
  project: null,
  task_id: null,
  is_archive: null,
};

/** The DID_COLUMN metadata plugin: every column of the `dids` row, in the recorded order (call 48). */
export function metaDict(d: DidRecord): Record<string, unknown> {
  const c = (k: string) => (k in d.columns ? d.columns[k] : EXTRA_COLUMNS[k]);
  return {
    hidden: c('hidden'),
    md5: d.md5,
    datatype: c('datatype'),
    panda_id: c('panda_id'),
    constituent: c('constituent'),
    obsolete: c('obsolete'),
    adler32: d.adler32,
    run_number: c('run_number'),
    lumiblocknr: c('lumiblocknr'),
    access_cnt: c('access_cnt'),
    name: d.name,
    complete: c('complete'),
    expired_at: d.expiredAt,
    stream_name: c('stream_name'),
    provenance: c('provenance'),
    created_at: d.createdAt,
    scope: d.scope,
    is_new: c('is_new'),
    purge_replicas: c('purge_replicas'),
    phys_group: c('phys_group'),
    transient: c('transient'),
    updated_at: d.updatedAt,
    account: d.account,
    availability: c('availability'),
    deleted_at: c('deleted_at'),
    prod_step: c('prod_step'),
    accessed_at: c('accessed_at'),
    did_type: d.type,
    suppressed: c('suppressed'),
    events: d.events,
    version: c('version'),
    closed_at: d.closedAt,
    is_open: d.isOpen,
    bytes: d.bytes,
    guid: d.guid,
    campaign: c('campaign'),
    eol_at: c('eol_at'),
    monotonic: d.monotonic,
    length: d.length,
    project: c('project'),
    task_id: c('task_id'),
    is_archive: c('is_archive'),
  };
}

/** A rule (call 57); list endpoints add the DID's `bytes` (call 62). */
export function ruleDict(r: RuleRecord, bytes?: number | null): Record<string, unknown> {
  const out: Record<string, unknown> = {
    subscription_id: null,
    rse_expression: r.rseExpression,
    source_replica_expression: r.sourceReplicaExpression,
    priority: r.priority,
    created_at: r.createdAt,
    id: r.id,
    copies: r.copies,
    activity: r.activity,
    updated_at: r.updatedAt,
    account: r.account,
    expires_at: r.expiresAt,
    grouping: r.grouping,
    comments: r.comments,
    scope: r.scope,
    weight: r.weight,
    notification: r.notification,
    child_rule_id: null,
    name: r.name,
    locked: r.locked,
    stuck_at: r.stuckAt,
    eol_at: null,
    did_type: r.didType,
    locks_ok_cnt: r.okCnt,
    purge_replicas: r.purgeReplicas,
    split_container: r.splitContainer,
    state: r.state,
    locks_replicating_cnt: r.replicatingCnt,
    ignore_availability: r.ignoreAvailability,
    meta: r.meta,
    error: r.error,
    locks_stuck_cnt: r.stuckCnt,
    ignore_account_limit: false,
    deleted_at: null,
  };
  if (bytes !== undefined) out.bytes = bytes;
  return out;
}

/** A replica lock (call 63). */
export function lockDict(store: Store, l: LockRecord): Record<string, unknown> {
  return { scope: l.scope, name: l.name, rse_id: l.rseId, rse: store.rseById(l.rseId)?.name ?? null, state: l.state, rule_id: l.ruleId };
}

/** A content row (call 41). */
export function contentDict(c: ContentRow): Record<string, unknown> {
  return { scope: c.scope, name: c.name, type: c.type, bytes: c.bytes, adler32: c.adler32, md5: c.md5 };
}

/** A file of `GET .../files` (call 42); `guid` is uppercased. */
export function fileDict(c: ContentRow, long: boolean, lumiblocknr: unknown = null): Record<string, unknown> {
  const out: Record<string, unknown> = { scope: c.scope, name: c.name, bytes: c.bytes, adler32: c.adler32, guid: c.guid && c.guid.toUpperCase(), events: c.events };
  if (long) out.lumiblocknr = lumiblocknr;
  return out;
}

/**
 * Replication rules (`/rules`): create (with the generic schema's checks), read, update, soft
 * delete, list with column filters, locks, and the rule history of a DID.
 * @module
 */
import { parseRucioDate } from '../../../core/dates.js';
import { toPythonLiteral, type PyValue } from '../../../rucio/python-literal.js';
import { asDidRef, didParam, jsonParameters, paramBool, paramGet, route, type Ctx, type Route } from '../router.js';
import { RULE_STATE_CODES } from '../state.js';
import { lockDict, ruleDict } from '../views.js';
import { fixedResponse, HTML, jsonResponse, NDJSON, PlainServerError, pyJson, RucioError, streamResponse } from '../wire.js';
import type { RuleRequest } from '../judge.js';

const ACTIVITIES = ['Data Brokering', 'Data Consolidation', 'Data Rebalancing', 'Debug', 'Express', 'Functional Test', 'Group Subscriptions', 'Production Input', 'Production Output', 'Analysis Input', 'Analysis Output', 'Staging', 'T0 Export', 'T0 Tape', 'Upload/Download (Job)', 'Upload/Download (User)', 'User Subscriptions', 'Data Challenge'];

type Check = [key: string, test: (v: unknown) => boolean, message: (v: unknown) => string];

const repr = (v: unknown) => toPythonLiteral(v as PyValue);
const typeMsg = (types: string) => (v: unknown) => `${repr(v)} is not of type ${types}`;
const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v);
const strOrNull = (v: unknown) => v === null || typeof v === 'string';
const oneOf = (values: unknown[]) => (v: unknown) => values.includes(v);
const oneOfMsg = (values: unknown[]) => (v: unknown) => `${repr(v)} is not one of ${repr(values)}`;

/** The `RULE` schema of `rucio.common.schema.generic`, in property order. */
const RULE_SCHEMA: Check[] = [
  ['dids', Array.isArray, typeMsg("'array'")],
  ['account', (v) => typeof v === 'string' && /^[a-z0-9-_]+$/.test(v) && v.length <= 25, (v) => (typeof v === 'string' ? `'${v}' does not match '^[a-z0-9-_]+$'` : typeMsg("'string'")(v))],
  ['copies', isInt, typeMsg("'integer'")],
  ['rse_expression', (v) => typeof v === 'string', typeMsg("'string'")],
  ['grouping', oneOf(['DATASET', 'NONE', 'ALL', null]), oneOfMsg(['DATASET', 'NONE', 'ALL', null])],
  ['weight', strOrNull, typeMsg("'string', 'null'")],
  ['lifetime', (v) => v === null || typeof v === 'number', typeMsg("'number', 'null'")],
  ['locked', (v) => v === null || typeof v === 'boolean', typeMsg("'boolean', 'null'")],
  ['subscription_id', strOrNull, typeMsg("'string', 'null'")],
  ['source_replica_expression', strOrNull, typeMsg("'string', 'null'")],
  ['activity', oneOf(ACTIVITIES), oneOfMsg(ACTIVITIES)],
  ['notify', oneOf(['Y', 'C', 'N', 'P', null]), oneOfMsg(['Y', 'C', 'N', 'P', null])],
  ['comment', (v) => v === null || (typeof v === 'string' && v.length <= 250), (v) => (typeof v === 'string' ? `${repr(v)} is too long` : typeMsg("'string', 'null'")(v))],
  ['delay_injection', (v) => v === null || isInt(v), typeMsg("'integer', 'null'")],
  ['priority', isInt, typeMsg("'integer'")],
  ['meta', (v) => v === null || (typeof v === 'string' && v.length <= 3999), (v) => (typeof v === 'string' ? `${repr(v)} is too long` : typeMsg("'string', 'null'")(v))],
];
const KNOWN = new Set([...RULE_SCHEMA.map(([k]) => k), 'purge_replicas', 'ignore_availability', 'ask_approval', 'asynchronous', 'split_container']);

/** Defaults of `POST /rules/` applied to a parsed body. */
export function ruleRequest(p: Record<string, unknown>): RuleRequest {
  const opt = <T>(k: string, d: T) => (k in p && p[k] !== undefined ? (p[k] as T) : d);
  return {
    dids: (p.dids as unknown[]).map(asDidRef),
    account: opt<string | null>('account', null),
    copies: p.copies as number,
    rseExpression: p.rse_expression as string,
    weight: opt('weight', null),
    lifetime: opt('lifetime', null),
    grouping: opt('grouping', 'DATASET') ?? 'DATASET',
    locked: paramBool(p, 'locked', false),
    sourceReplicaExpression: opt('source_replica_expression', null),
    activity: opt('activity', null),
    notify: opt('notify', null),
    purgeReplicas: paramBool(p, 'purge_replicas', false),
    ignoreAvailability: paramBool(p, 'ignore_availability', false),
    comment: opt('comment', null),
    askApproval: paramBool(p, 'ask_approval', false),
    priority: opt('priority', 3),
    splitContainer: paramBool(p, 'split_container', false),
    meta: opt('meta', null),
  };
}

function invalidRule(message: string): RucioError {
  return new RucioError(409, 'InvalidObject', `Problem validating rule: ${message}`);
}

async function postRules(ctx: Ctx): Promise<Response> {
  const p = await jsonParameters(ctx);
  for (const k of ['dids', 'account', 'copies', 'rse_expression']) paramGet(p, k);
  const withDefaults: Record<string, unknown> = { grouping: 'DATASET', weight: null, lifetime: null, subscription_id: null, source_replica_expression: null, activity: 'User Subscriptions', notify: null, comment: null, delay_injection: null, priority: 3, meta: null, ...p };
  // The view converts the booleans (param_get_bool, 400 on bad values) before the schema sees them.
  for (const k of ['locked', 'purge_replicas', 'ignore_availability', 'ask_approval', 'asynchronous', 'split_container']) withDefaults[k] = paramBool(p, k, false);
  if (withDefaults.account === null) withDefaults.account = ctx.issuer;
  if (withDefaults.activity === null) withDefaults.activity = 'User Subscriptions';
  const unknown = Object.keys(p).filter((k) => !KNOWN.has(k));
  if (unknown.length) throw invalidRule(`Additional properties are not allowed (${unknown.map((k) => `'${k}'`).join(', ')} ${unknown.length > 1 ? 'were' : 'was'} unexpected)`);
  for (const [key, test, message] of RULE_SCHEMA) if (!test(withDefaults[key])) throw invalidRule(message(withDefaults[key]));
  const ids = ctx.env.judge.addRules(ctx.issuer, ruleRequest(p));
  return fixedResponse(201, pyJson(ids), HTML);
}

const DID_TYPES: Readonly<Record<string, string>> = { F: 'FILE', D: 'DATASET', C: 'CONTAINER' };
const GROUPINGS: Readonly<Record<string, string>> = { A: 'ALL', D: 'DATASET', N: 'NONE' };

/** One `list_rules` filter as a predicate on the rule dict. */
function ruleFilter(key: string, value: string): (rule: Record<string, unknown>) => boolean {
  const date = (field: string, before: boolean) => {
    const d = parseRucioDate(value);
    if (!d) throw new PlainServerError(`time data '${value}' does not match format '%a, %d %b %Y %H:%M:%S UTC'`);
    return (r: Record<string, unknown>) => (before ? (r[field] as Date) <= d : (r[field] as Date) >= d);
  };
  const letter = (table: Readonly<Record<string, string>>, enumName: string) => {
    const name = table[value];
    if (!name) throw new PlainServerError(`'${value}' is not a valid ${enumName}`);
    return (r: Record<string, unknown>) => r[key] === name;
  };
  if ((key === 'account' || key === 'scope') && value.includes('*')) {
    const re = new RegExp(`^${value.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    return (r) => re.test(String(r[key]));
  }
  if (key === 'created_before' || key === 'created_after') return date('created_at', key === 'created_before');
  if (key === 'updated_before' || key === 'updated_after') return date('updated_at', key === 'updated_before');
  if (key === 'state') return letter(RULE_STATE_CODES, 'RuleState');
  if (key === 'did_type') return letter(DID_TYPES, 'DIDType');
  if (key === 'grouping') return letter(GROUPINGS, 'RuleGrouping');
  return (r) => {
    if (!(key in r)) throw new PlainServerError(`type object 'ReplicationRule' has no attribute '${key}'`);
    const v = r[key];
    if (typeof v === 'boolean') return /^(1|true)$/i.test(value) === v;
    return v !== null && String(v) === value;
  };
}

function listRules(ctx: Ctx): Promise<Response> {
  const { store, judge } = ctx.env;
  judge.sweep();
  const tests = [...new Map(ctx.url.searchParams).entries()].map(([k, v]) => ruleFilter(k, v));
  const rules = [...store.rules.values()].map((r) => ruleDict(r, store.getDid(r.scope, r.name)?.bytes ?? null)).filter((d) => tests.every((t) => t(d)));
  return streamResponse(rules.map((d) => `${pyJson(d)}\n`), NDJSON);
}

async function getRule(ctx: Ctx): Promise<Response> {
  const p = await jsonParameters(ctx, true);
  if (p.estimate_ttc) throw new RucioError(501, 'NotImplemented', 'estimate_ttc is not implemented!');
  return jsonResponse(pyJson(ruleDict(ctx.env.judge.getRule(ctx.params.id ?? ''))));
}

async function putRule(ctx: Ctx): Promise<Response> {
  const p = await jsonParameters(ctx);
  const options = paramGet(p, 'options');
  ctx.env.judge.updateRule(ctx.issuer, ctx.params.id ?? '', (options ?? {}) as Record<string, unknown>);
  return fixedResponse(200, '', HTML);
}

async function deleteRule(ctx: Ctx): Promise<Response> {
  const p = await jsonParameters(ctx);
  const purge = p.purge_replicas;
  ctx.env.judge.deleteRule(ctx.issuer, ctx.params.id ?? '', purge === undefined || purge === null ? null : Boolean(purge));
  return fixedResponse(200, '', HTML);
}

function locks(ctx: Ctx): Promise<Response> {
  const { store } = ctx.env;
  const list = [...(store.locks.get(ctx.params.id ?? '')?.values() ?? [])];
  return streamResponse(list.map((l) => `${pyJson(lockDict(store, l))}\n`), NDJSON);
}

/**
 * `GET /rules/{scope}/{name}/history`: every rule the DID has had, from the long-term history. The
 * server registers `/<rule_id>/history` too, but its `<path:scope_name>` route wins, so
 * `GET /rules/{rule_id}/history` lands here and fails to parse the id as a DID (400 `ValueError`).
 */
function didHistory(ctx: Ctx): Promise<Response> {
  const { scope, name } = didParam(ctx);
  const rows = ctx.env.store.ruleHistory.filter((h) => h.rule.scope === scope && h.rule.name === name).sort((a, b) => a.rule.createdAt.getTime() - b.rule.createdAt.getTime() || a.at.getTime() - b.at.getTime());
  return streamResponse(
    rows.map((h) => `${pyJson({ rule_id: h.rule.id, created_at: h.rule.createdAt, updated_at: h.at, rse_expression: h.rule.rseExpression, state: h.state, account: h.rule.account, locks_ok_cnt: h.ok, locks_stuck_cnt: h.stuck, locks_replicating_cnt: h.replicating })}\n`),
    NDJSON,
  );
}

/** Routes of `/rules`. */
export const ruleRoutes: Route[] = [
  route(['GET', 'POST'], /^\/rules\/$/, (ctx) => (ctx.request.method === 'GET' ? listRules(ctx) : postRules(ctx)), { accept: { GET: [NDJSON] } }),
  route('GET', /^\/rules\/(?<id>[^/]+)\/locks$/, locks, { accept: { GET: [NDJSON] } }),
  route('GET', /^\/rules\/(?<sn>.+)\/history$/, didHistory, { accept: { GET: [NDJSON] } }),
  route(['GET', 'PUT', 'DELETE'], /^\/rules\/(?<id>[^/]+)$/, (ctx) => ({ GET: getRule, PUT: putRule, DELETE: deleteRule })[ctx.request.method as 'GET'](ctx), { accept: { GET: ['application/json'] } }),
];

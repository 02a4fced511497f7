/**
 * Bad and suspicious replicas (`/replicas/bad`, `/replicas/suspicious`, `/replicas/bad/dids`,
 * `/replicas/bad/pfns`, `/replicas/bad/states`, `/replicas/bad/summary`), as the recorded server
 * answers them: a replica declared BAD gets replica state BAD at once (the default listing then
 * shows the file without it), a SUSPICIOUS one stays AVAILABLE, and `bad/pfns` only queues PFNs
 * for a daemon. The declarations answer what was *not* declared, with the server's wording.
 * @module
 */
import { toPythonLiteral } from '../../../rucio/python-literal.js';
import { resolveRseExpression } from '../expressions.js';
import { pathOfPfn, replicaPath } from '../pfn.js';
import { jsonParameters, paramBool, route, type Ctx, type Route } from '../router.js';
import { BAD_FILE_STATE_CODES, compare, type BadFileState, type BadPfnState, type RseRecord, type Store } from '../state.js';
import { created, flaskJson, jsonResponse, NDJSON, PlainServerError, pyJson, RucioError, streamResponse } from '../wire.js';

const JSON_ONLY = ['application/json'];
/** `BadFilesStatus` names → letters (the sort order of the summary's `GROUP BY`). */
const BAD_FILE_LETTER: Readonly<Record<BadFileState, string>> = Object.fromEntries(Object.entries(BAD_FILE_STATE_CODES).map(([letter, state]) => [state, letter])) as Record<BadFileState, string>;

/** A replica to declare: a DID on an RSE, or (non-deterministic RSEs) a stored path. */
interface Target {
  scope: string | null;
  name: string | null;
  path: string | null;
}

/** Python's `bool()` of a JSON value (what `a or b` tests). */
function truthy(v: unknown): boolean {
  return !(v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0));
}

function text(v: unknown): string | null {
  return v === undefined || v === null ? null : String(v);
}

/** `InternalScope` and `str` in a Python tuple's repr: `(test, 'name')`. */
function didTuple(scope: string | null, name: string | null): string {
  return `(${scope ?? 'None'}, ${name === null ? 'None' : toPythonLiteral(name)})`;
}

/**
 * `get_pfn_to_rse`: the RSE of each PFN by its protocols' `scheme://host[:port]prefix`. Once one PFN
 * matched an RSE, the others are only tried against that RSE (and dropped if they do not match it).
 */
function pfnsToRses(store: Store, pfns: string[]): { byRse: Map<string, string[]>; unknown: string[] } {
  const scheme = pfns[0]?.split(':')[0];
  const patterns = new Map<string, string[]>();
  for (const pfn of pfns) {
    if (pfn.split(':')[0] !== scheme) throw new RucioError(500, 'InvalidType', 'The PFNs specified must have the same protocol');
  }
  const hosts = new Set(pfns.map((p) => (p.split('/')[2] ?? '').split(':')[0]));
  for (const rse of store.rses.values()) {
    if (rse.stagingArea) continue;
    for (const p of rse.protocols) {
      if (p.scheme !== scheme || !hosts.has(p.hostname)) continue;
      const list = patterns.get(rse.id) ?? [];
      list.push(`${p.scheme}://${p.hostname}:${p.port}${p.prefix}`);
      if (!list.includes(`${p.scheme}://${p.hostname}${p.prefix}`)) list.push(`${p.scheme}://${p.hostname}${p.prefix}`);
      patterns.set(rse.id, list);
    }
  }
  const byRse = new Map<string, string[]>();
  const unknown: string[] = [];
  let hint: string | undefined;
  for (const pfn of pfns) {
    if (hint) {
      for (const pattern of patterns.get(hint) ?? []) if (pfn.includes(pattern)) byRse.get(hint)?.push(pfn);
      continue;
    }
    let matches = 0;
    for (const [rseId, list] of patterns) {
      for (const pattern of list) {
        if (!pfn.includes(pattern)) continue;
        if (++matches > 1) throw new RucioError(500, 'RucioException', `ERROR, multiple matches : ${pfn} at ${store.rseById(rseId)?.name ?? rseId}`);
        hint = rseId;
        byRse.set(rseId, [...(byRse.get(rseId) ?? []), pfn]);
      }
    }
    if (matches === 0) unknown.push(pfn);
  }
  return { byRse, unknown };
}

/** `parse_pfns` + the default `pfn2lfn`: scope is the path's first segment, name its last (deterministic RSEs). */
function targetOfPfn(rse: RseRecord, pfn: string): Target {
  const path = pathOfPfn(rse, pfn);
  const cut = path.lastIndexOf('/');
  const dir = path.slice(0, cut + 1);
  const name = path.slice(cut + 1);
  if (!rse.deterministic) return { scope: null, name: null, path: `${dir}${name}` };
  return { scope: dir.replace(/^\/+/, '').split('/')[0] ?? '', name, path: null };
}

/** The state of the replica's `bad_replicas` rows that `__exist_replicas` reports: is it declared BAD already? */
function alreadyBad(store: Store, scope: string, name: string, rseId: string): boolean {
  return store.badReplicas.some((b) => b.rseId === rseId && b.scope === scope && b.name === name && b.state === 'BAD');
}

/** Find a replica on an RSE by DID or (non-deterministic) by its stored path, with or without the leading `/`. */
async function findReplica(store: Store, rse: RseRecord, t: Target): Promise<{ scope: string; name: string; bytes: number | null } | undefined> {
  if (t.path === null) {
    const r = t.scope !== null && t.name !== null ? store.replica(t.scope, t.name, rse.id) : undefined;
    return r && t.scope !== null && t.name !== null ? { scope: t.scope, name: t.name, bytes: r.bytes } : undefined;
  }
  const wanted = [t.path, t.path.startsWith('/') ? t.path.slice(1) : `/${t.path}`];
  for (const [key, byRse] of store.replicas) {
    const r = byRse.get(rse.id);
    if (!r) continue;
    const [scope, ...rest] = key.split(':');
    const name = rest.join(':');
    const path = await replicaPath(rse, scope as string, name, r.path);
    if (path !== undefined && wanted.includes(path)) return { scope: scope as string, name, bytes: r.bytes };
  }
  return undefined;
}

/**
 * `__declare_bad_file_replicas` on one RSE: new `bad_replicas` rows (BAD once, SUSPICIOUS every
 * time), replica state BAD for BAD (again with `force`); returns the messages of those not declared.
 */
async function declareOnRse(ctx: Ctx, rse: RseRecord, targets: Target[], pfnOfPath: Map<string, string>, state: 'BAD' | 'SUSPICIOUS', reason: string | null, force: boolean): Promise<string[]> {
  const { store } = ctx.env;
  const now = store.now();
  const found: { t: Target; scope: string; name: string; bytes: number | null }[] = [];
  const missing: Target[] = [];
  for (const t of targets) {
    const hit = await findReplica(store, rse, t);
    if (hit) found.push({ t, ...hit });
    else missing.push(t);
  }
  const messages: string[] = [];
  const toBad: { scope: string; name: string }[] = [];
  for (const f of found) {
    const already = alreadyBad(store, f.scope, f.name, rse.id);
    let declared = false;
    if (state === 'BAD' && (force || !already)) {
      toBad.push(f);
      declared = true;
    }
    if (state === 'SUSPICIOUS' || !already) {
      store.badReplicas.push({ scope: f.scope, name: f.name, rseId: rse.id, reason, state, account: ctx.issuer, bytes: f.bytes, createdAt: now, updatedAt: now });
      declared = true;
    }
    if (!declared) messages.push(`${(f.t.path !== null ? pfnOfPath.get(f.t.path) : undefined) ?? `${f.scope}:${f.name}`} Already declared`);
  }
  for (const t of missing) {
    if (t.path !== null) {
      const line = `${pfnOfPath.get(t.path) ?? t.path} Unknown replica`;
      if (!messages.includes(line)) messages.push(line);
    } else messages.push(`${didTuple(t.scope, t.name)} Unknown replica`);
  }
  for (const { scope, name } of toBad) {
    const replica = store.replica(scope, name, rse.id);
    if (replica) store.putReplica(scope, name, { ...replica, state: 'BAD', updatedAt: now });
  }
  return messages;
}

/** Targets of PFNs on one RSE, and the PFN of each non-deterministic path (for the messages). */
function pfnTargets(rse: RseRecord, pfns: string[]): { targets: Target[]; pfnOfPath: Map<string, string> } {
  const pfnOfPath = new Map<string, string>();
  const targets = pfns.map((pfn) => {
    const t = targetOfPfn(rse, pfn);
    if (t.path !== null) pfnOfPath.set(t.path, pfn);
    return t;
  });
  return { targets, pfnOfPath };
}

/** `POST /replicas/bad` (`declare_bad_file_replicas`): `{scope, name, rse|rse_id}` dicts or PFNs; answers those not declared, per RSE. */
async function declareBad(ctx: Ctx): Promise<Response> {
  const { store } = ctx.env;
  const p = await jsonParameters(ctx);
  const given = truthy(p.replicas) ? p.replicas : (p.pfns ?? []);
  const reason = text(p.reason);
  const force = paramBool(p, 'force', false);
  if (!Array.isArray(given) || given.length === 0) return jsonResponse(flaskJson({}), 201);
  const asPfns = typeof given[0] === 'string';
  if (given.some((r) => (typeof r === 'string') !== asPfns)) throw new RucioError(500, 'InvalidType', 'The replicas must be specified either as a list of PFNs (strings) or list of dicts');
  const byRse = new Map<string, { targets: Target[]; pfnOfPath: Map<string, string> }>();
  const names = new Map<string, string>();
  if (asPfns) {
    const { byRse: pfns, unknown } = pfnsToRses(store, given as string[]);
    if (unknown.length) throw new RucioError(404, 'ReplicaNotFound', 'Not all replicas found');
    for (const [rseId, list] of pfns) byRse.set(rseId, pfnTargets(store.rseById(rseId) as RseRecord, list));
  } else {
    for (const r of given as Record<string, unknown>[]) {
      if (typeof r !== 'object' || r === null || !('name' in r) || !('scope' in r) || !('rse' in r || 'rse_id' in r)) throw new RucioError(500, 'InvalidType', 'The replica dictionary must include scope and either rse (name) or rse_id');
      let rseId = text(r.rse_id);
      if (!rseId) {
        const rse = store.requireRse(String(r.rse));
        names.set(rse.id, rse.name);
        rseId = rse.id;
      }
      const entry = byRse.get(rseId) ?? { targets: [], pfnOfPath: new Map<string, string>() };
      entry.targets.push({ scope: String(r.scope), name: String(r.name), path: null });
      byRse.set(rseId, entry);
    }
  }
  // Generic policy: only root may declare bad replicas. The RSE is named as the gateway knows it (an id for PFNs).
  for (const rseId of byRse.keys()) {
    if (ctx.issuer !== 'root') throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not declare bad replicas in RSE ${names.get(rseId) ?? rseId}. `);
  }
  const out: Record<string, string[]> = {};
  for (const [rseId, { targets, pfnOfPath }] of byRse) {
    const rse = store.rseById(rseId);
    // An unknown rse_id: the replicas are not found there, and the RSE is named by its id.
    const messages = rse ? await declareOnRse(ctx, rse, targets, pfnOfPath, 'BAD', reason, force) : targets.map((t) => `${didTuple(t.scope, t.name)} Unknown replica`);
    if (messages.length) {
      const key = rse?.name ?? rseId;
      out[key] = [...(out[key] ?? []), ...messages];
    }
  }
  return jsonResponse(flaskJson(out), 201);
}

/** `POST /replicas/suspicious`: anyone may; PFNs of no known RSE come back under `unknown`. */
async function declareSuspicious(ctx: Ctx): Promise<Response> {
  const { store } = ctx.env;
  const p = await jsonParameters(ctx);
  const pfns = p.pfns ?? [];
  const reason = text(p.reason);
  if (!Array.isArray(pfns) || pfns.length === 0) return jsonResponse(flaskJson({}), 201);
  if (pfns.some((r) => typeof r !== typeof pfns[0])) throw new RucioError(500, 'InvalidType', 'Replicas must be specified either as a list of string or a list of dicts');
  if (typeof pfns[0] !== 'string') throw new PlainServerError("'rse_id'");
  const { byRse, unknown } = pfnsToRses(store, pfns as string[]);
  const out: Record<string, string[]> = unknown.length ? { unknown } : {};
  for (const [rseId, list] of byRse) {
    const rse = store.rseById(rseId) as RseRecord;
    const { targets, pfnOfPath } = pfnTargets(rse, list);
    const messages = await declareOnRse(ctx, rse, targets, pfnOfPath, 'SUSPICIOUS', reason, false);
    if (messages.length) out[rse.name] = messages;
  }
  return jsonResponse(flaskJson(out), 201);
}

/** `POST /replicas/bad/dids` (`add_bad_dids`): DIDs on one RSE; answers the list of those not declared (`json.dumps`). */
async function declareBadDids(ctx: Ctx): Promise<Response> {
  const { store } = ctx.env;
  const p = await jsonParameters(ctx);
  if (typeof p.expires_at === 'string' && p.expires_at) parseDate(p.expires_at, '%Y-%m-%dT%H:%M:%S.%f');
  const dids = (Array.isArray(p.dids) ? p.dids : []) as Record<string, unknown>[];
  const reason = text(p.reason);
  if (ctx.issuer !== 'root') throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not declare bad PFN or DIDs. `);
  const rseName = text(p.rse);
  const rse = rseName === null ? undefined : store.rses.get(rseName);
  // RSENotFound is not among the exceptions this view maps: the generic handler answers 500.
  if (!rse) throw new RucioError(500, 'RSENotFound', `RSE '${rseName ?? 'None'}' cannot be found in vo 'def'`);
  const now = store.now();
  const notDeclared: string[] = [];
  const refs = dids.map((d) => ({ scope: String(d.scope), name: String(d.name) }));
  // `__exist_replicas` reports the replicas it found first, then the unknown ones.
  const found = refs.filter((d) => store.replica(d.scope, d.name, rse.id));
  for (const { scope, name } of found) {
    const replica = store.replica(scope, name, rse.id);
    if (replica && !alreadyBad(store, scope, name, rse.id)) {
      store.badReplicas.push({ scope, name, rseId: rse.id, reason, state: 'BAD', account: ctx.issuer, bytes: replica.bytes, createdAt: now, updatedAt: now });
      store.putReplica(scope, name, { ...replica, state: 'BAD', updatedAt: now });
    } else notDeclared.push(`${scope}:${name} Already declared`);
  }
  for (const { scope, name } of refs.filter((d) => !found.includes(d))) notDeclared.push(`${scope}:${name} Unknown replica`);
  return jsonResponse(pyJson(notDeclared), 201);
}

/** `POST /replicas/bad/pfns` (`add_bad_pfns`): PFNs queued with a state name; nothing changes on the replicas. */
async function declareBadPfns(ctx: Ctx): Promise<Response> {
  const { store } = ctx.env;
  const p = await jsonParameters(ctx);
  const expiresAt = typeof p.expires_at === 'string' && p.expires_at ? parseDate(p.expires_at, '%Y-%m-%dT%H:%M:%S.%f') : null;
  const pfns = (Array.isArray(p.pfns) ? p.pfns : []) as unknown[];
  const reason = text(p.reason);
  if (ctx.issuer !== 'root') throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not declare bad PFNs. `);
  const now = store.now();
  if (expiresAt && expiresAt >= now && expiresAt.getTime() > now.getTime() + 30 * 86_400_000) {
    throw new RucioError(500, 'InputValidationError', `The given duration of ${Math.floor((expiresAt.getTime() - now.getTime()) / 86_400_000)} days exceeds the maximum duration of 30 days.`);
  }
  const state = p.state;
  // `BadPFNStatus[state]`: a name; anything else is a KeyError, which nothing maps (500, its repr).
  if (typeof state !== 'string' || !['BAD', 'SUSPICIOUS', 'TEMPORARY_UNAVAILABLE', 'AVAILABLE'].includes(state)) throw new PlainServerError(typeof state === 'string' ? toPythonLiteral(state) : 'None');
  if (state === 'TEMPORARY_UNAVAILABLE' && !expiresAt) throw new RucioError(500, 'InputValidationError', 'When adding a TEMPORARY UNAVAILABLE pfn the expires_at value should be set.');
  if (state === 'BAD' && expiresAt) throw new RucioError(500, 'InputValidationError', "When adding a BAD pfn the expires_at value shouldn't be set.");
  for (const pfn of pfns) store.badPfns.set(String(pfn), { path: String(pfn), state: state as BadPfnState, reason, account: ctx.issuer, expiresAt, createdAt: now });
  return created();
}

/** Python `datetime.strptime` for the formats these views use (a mismatch is a ValueError: 500, its text). */
function parseDate(value: string, format: '%Y-%m-%dT%H:%M:%S.%f' | '%Y-%m-%dT%H:%M:%S' | '%Y-%m-%d'): Date {
  const patterns = { '%Y-%m-%dT%H:%M:%S.%f': /^(\d{4})-(\d{1,2})-(\d{1,2})T(\d{1,2}):(\d{1,2}):(\d{1,2})\.(\d{1,6})$/, '%Y-%m-%dT%H:%M:%S': /^(\d{4})-(\d{1,2})-(\d{1,2})T(\d{1,2}):(\d{1,2}):(\d{1,2})$/, '%Y-%m-%d': /^(\d{4})-(\d{1,2})-(\d{1,2})$/ };
  const m = patterns[format].exec(value);
  if (!m) throw new PlainServerError(`time data ${toPythonLiteral(value)} does not match format '${format}'`);
  const [y, mo, d, h = '0', mi = '0', s = '0', frac = '0'] = m.slice(1);
  return new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Math.floor(Number(frac.padEnd(6, '0')) / 1000)));
}

/** The first value of a query parameter, as `parse_qs` gives it (blank values dropped). */
function queryParam(ctx: Ctx, name: string): string | undefined {
  const v = ctx.url.searchParams.get(name);
  return v === null || v === '' ? undefined : v;
}

/** RSEs of an expression (`parse_expression`, whose errors are not mapped by these views: 500). */
function rseIdsOf(store: Store, expression: string): Set<string> {
  try {
    return new Set(resolveRseExpression(expression, store.rses.values()).map((r) => r.id));
  } catch (error) {
    if (error instanceof RucioError) throw new RucioError(500, error.exceptionClass, error.message);
    throw error;
  }
}

/** `GET /replicas/bad/states` (`list_bad_replicas_status`): every row (any state) unless `state` (a letter) or `rse` filter it. */
function badStates(ctx: Ctx): Promise<Response> {
  const { store } = ctx.env;
  const letter = queryParam(ctx, 'state');
  let state: BadFileState | undefined;
  if (letter !== undefined) {
    state = BAD_FILE_STATE_CODES[letter];
    if (!state) throw new PlainServerError(`${toPythonLiteral(letter)} is not a valid BadFilesStatus`);
  }
  const rseName = queryParam(ctx, 'rse');
  // RSENotFound is not mapped by this view: the generic handler answers 500.
  const rseId = rseName === undefined ? undefined : store.rses.get(rseName)?.id;
  if (rseName !== undefined && !rseId) throw new RucioError(500, 'RSENotFound', `RSE '${rseName}' cannot be found in vo 'def'`);
  const younger = queryParam(ctx, 'younger_than');
  const older = queryParam(ctx, 'older_than');
  const from = younger === undefined ? undefined : parseDate(younger, '%Y-%m-%dT%H:%M:%S.%f');
  const to = older === undefined ? undefined : parseDate(older, '%Y-%m-%dT%H:%M:%S.%f');
  const limit = queryParam(ctx, 'limit');
  let rows = store.badReplicas.filter((b) => (!state || b.state === state) && (!rseId || b.rseId === rseId) && (!from || b.createdAt >= from) && (!to || b.createdAt <= to));
  if (limit !== undefined && Number(limit)) rows = rows.slice(0, Number(limit));
  return streamResponse(
    rows.map((b) => `${pyJson({ scope: b.scope, name: b.name, rse: store.rseById(b.rseId)?.name ?? null, rse_id: b.rseId, state: b.state, created_at: b.createdAt, updated_at: b.updatedAt })}\n`),
    NDJSON,
  );
}

/**
 * `GET /replicas/bad/summary` (`get_bad_replicas_summary`): counts per state for each RSE, day and
 * reason. On SQLite the day is `strftime(created_at, '%Y-%m-%d')` (arguments swapped upstream): null.
 */
function badSummary(ctx: Ctx): Promise<Response> {
  const { store } = ctx.env;
  const expression = queryParam(ctx, 'rse_expression');
  const ids = expression === undefined ? undefined : rseIdsOf(store, expression);
  const fromText = queryParam(ctx, 'from_date');
  const toText = queryParam(ctx, 'to_date');
  const from = fromText === undefined ? undefined : parseDate(fromText, '%Y-%m-%d');
  const to = toText === undefined ? undefined : parseDate(toText, '%Y-%m-%d');
  const day = (d: Date): Date | null => (store.database === 'sqlite' ? null : new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())));
  const groups = new Map<string, { day: Date | null; rseId: string; reason: string | null; state: BadFileState; count: number }>();
  for (const b of store.badReplicas) {
    if ((ids && !ids.has(b.rseId)) || (from && !(b.createdAt > from)) || (to && !(b.createdAt < to))) continue;
    const key = JSON.stringify([day(b.createdAt)?.getTime() ?? null, b.rseId, b.reason, b.state]);
    const g = groups.get(key) ?? { day: day(b.createdAt), rseId: b.rseId, reason: b.reason, state: b.state, count: 0 };
    g.count++;
    groups.set(key, g);
  }
  // SQLite hands the groups over sorted by the GROUP BY columns (NULLs first).
  const nullFirst = (a: string | null, b: string | null) => (a === b ? 0 : a === null ? -1 : b === null ? 1 : compare(a, b));
  const sorted = [...groups.values()].sort((a, b) => (a.day?.getTime() ?? -Infinity) - (b.day?.getTime() ?? -Infinity) || compare(a.rseId, b.rseId) || nullFirst(a.reason, b.reason) || compare(BAD_FILE_LETTER[a.state], BAD_FILE_LETTER[b.state]));
  const incidents = new Map<string, { counts: Record<string, number>; rseId: string; day: Date | null; reason: string | null }>();
  for (const g of sorted) {
    const key = JSON.stringify([g.rseId, g.day?.getTime() ?? null, g.reason]);
    const incident = incidents.get(key) ?? { counts: {}, rseId: g.rseId, day: g.day, reason: g.reason };
    incident.counts[g.state] = g.count;
    incidents.set(key, incident);
  }
  return streamResponse(
    [...incidents.values()].map((i) => `${pyJson({ ...i.counts, rse_id: i.rseId, rse: store.rseById(i.rseId)?.name ?? null, created_at: i.day, reason: i.reason })}\n`),
    NDJSON,
  );
}

/**
 * `GET /replicas/suspicious` (`get_suspicious_files`, one JSON array): replicas declared more than
 * `nattempts` times (default 0) in the last 10 days (or since `younger_than`) and never BAD,
 * RECOVERED or DELETED in that window; `created_at` is the replica's.
 */
function listSuspicious(ctx: Ctx): Response {
  const { store } = ctx.env;
  const expression = queryParam(ctx, 'rse_expression');
  const ids = expression === undefined ? undefined : rseIdsOf(store, expression);
  const younger = queryParam(ctx, 'younger_than');
  const since = younger === undefined ? new Date(store.now().getTime() - 10 * 86_400_000) : parseDate(younger, '%Y-%m-%dT%H:%M:%S');
  const n = queryParam(ctx, 'nattempts');
  let nattempts = 0;
  if (n !== undefined) {
    if (!/^\s*[+-]?\d+\s*$/.test(n)) throw new PlainServerError(`invalid literal for int() with base 10: ${toPythonLiteral(n)}`);
    nattempts = Number(n);
  }
  const groups = new Map<string, { scope: string; name: string; rseId: string; cnt: number; createdAt: Date }>();
  const excluded = new Set(store.badReplicas.filter((b) => b.createdAt >= since && ['BAD', 'RECOVERED', 'DELETED'].includes(b.state)).map((b) => `${b.rseId}|${b.scope}:${b.name}`));
  for (const b of store.badReplicas) {
    const key = `${b.rseId}|${b.scope}:${b.name}`;
    if (b.createdAt < since || excluded.has(key) || (ids && !ids.has(b.rseId))) continue;
    const replica = store.replica(b.scope, b.name, b.rseId);
    if (!replica) continue;
    const g = groups.get(key) ?? { scope: b.scope, name: b.name, rseId: b.rseId, cnt: 0, createdAt: replica.createdAt };
    g.cnt++;
    groups.set(key, g);
  }
  const rows = [...groups.values()].filter((g) => g.cnt > nattempts).sort((a, b) => compare(a.rseId, b.rseId) || compare(a.scope, b.scope) || compare(a.name, b.name));
  return jsonResponse(pyJson(rows.map((g) => ({ scope: g.scope, name: g.name, rse: store.rseById(g.rseId)?.name ?? null, rse_id: g.rseId, cnt: g.cnt, created_at: g.createdAt }))));
}

/** Routes of the bad and suspicious replicas (before the `/replicas/{scope}/{name}` catch-all). */
export const badReplicaRoutes: Route[] = [
  route('POST', /^\/replicas\/bad\/?$/, declareBad, { accept: { POST: JSON_ONLY } }),
  route(['GET', 'POST'], /^\/replicas\/suspicious\/?$/, (ctx) => (ctx.request.method === 'GET' ? listSuspicious(ctx) : declareSuspicious(ctx)), { accept: { GET: JSON_ONLY, POST: JSON_ONLY } }),
  route('POST', /^\/replicas\/bad\/dids\/?$/, declareBadDids),
  route('POST', /^\/replicas\/bad\/pfns\/?$/, declareBadPfns),
  route('GET', /^\/replicas\/bad\/states\/?$/, badStates, { accept: { GET: [NDJSON] } }),
  route('GET', /^\/replicas\/bad\/summary\/?$/, badSummary, { accept: { GET: [NDJSON] } }),
];

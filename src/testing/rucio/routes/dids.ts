/**
 * Data identifiers (`/dids`): search, collections, attach/detach, files, parents, metadata and the
 * rules of a DID.
 * @module
 */
import { nameProblem, scopeProblem } from '../../../core/did.js';
import { compileQuery, matchesQuery, readFilters } from '../filters.js';
import { asDidRef, didParam, jsonDictOrList, jsonList, jsonParameters, paramBool, paramGet, route, type Ctx, type Route, type RouteEnv } from '../router.js';
import { didKey, didRecord, type ContentRow, type DidRecord, type DidType, type RseRecord } from '../state.js';
import { contentDict, didDict, fileDict, metaDict, ruleDict } from '../views.js';
import { checkMetaKeys, isColumnKey, setMeta } from '../meta.js';
import { created, emptyOk, jsonResponse, NDJSON, PlainServerError, pyJson, RucioError, streamResponse } from '../wire.js';
import { addReplicas } from './replicas.js';
import { ruleRequest } from './rules.js';

const JSON_ONLY = { GET: ['application/json'] };
const STREAM = { GET: [NDJSON] };
const DUPLICATE_CONTENT = "('(sqlite3.IntegrityError) UNIQUE constraint failed: contents.scope, contents.name, contents.child_scope, contents.child_name',)";

function canWriteScope(env: RouteEnv, issuer: string, scope: string): boolean {
  return env.store.isAdmin(issuer) || env.store.scopes.get(scope) === issuer || scope === 'mock';
}

/** Body of `POST /dids/{scope}/{name}` (and of each item of `POST /dids`). */
export interface CollectionSpec {
  scope: string;
  name: string;
  type: string;
  account?: string | null;
  statuses?: Record<string, unknown>;
  meta?: Record<string, unknown>;
  rules?: Record<string, unknown>[];
  lifetime?: number | null;
  dids?: { scope: string; name: string }[];
  rse?: string | null;
}

/** `add_did`: validation, permission (with `issuer`), creation, metadata, content and rules. */
export async function createCollection(ctx: Ctx, spec: CollectionSpec, checkPermission = true): Promise<DidRecord> {
  const { env, issuer } = ctx;
  const { store } = env;
  const type = spec.type.toUpperCase();
  const problem = scopeProblem(spec.scope) ?? nameProblem(spec.name);
  if (problem || !['DATASET', 'CONTAINER', 'FILE', 'F'].includes(type)) {
    throw new RucioError(400, 'InvalidObject', `Problem validating did: ${problem ?? `'${type}' is not one of ['DATASET', 'CONTAINER', 'FILE', 'F']`}`);
  }
  if (checkPermission) {
    const foreignRule = !store.isAdmin(issuer) && (spec.rules ?? []).some((r) => r.account !== issuer);
    if (foreignRule || !canWriteScope(env, issuer, spec.scope)) throw new RucioError(401, 'AccessDenied', `Account ${issuer} can not add data identifier to scope ${spec.scope}. `);
  }
  const rse = spec.rse ? store.requireRse(spec.rse) : undefined;
  if (type === 'FILE' || type === 'F') throw new RucioError(409, 'UnsupportedOperation', 'Only collection (dataset/container) can be registered.');
  if (!store.scopes.has(spec.scope)) throw new RucioError(404, 'ScopeNotFound', 'Scope not found!');
  if (store.getDid(spec.scope, spec.name)) throw new RucioError(409, 'DataIdentifierAlreadyExists', 'Data Identifier already exists!');
  const now = store.now();
  const did = didRecord(spec.scope, spec.name, type as DidType, spec.account ?? issuer, now, { monotonic: spec.statuses?.monotonic === true, expiredAt: spec.lifetime ? new Date(now.getTime() + spec.lifetime * 1000) : null });
  store.dids.set(didKey(did.scope, did.name), did);
  try {
    if (spec.meta && Object.keys(spec.meta).length) setMeta(store, did, spec.meta);
    if (spec.dids?.length) await attach(ctx, did, spec.dids, false, rse);
    for (const r of spec.rules ?? []) env.judge.addRules(issuer, ruleRequest({ ...r, dids: [{ scope: did.scope, name: did.name }] }));
  } catch (error) {
    // One transaction on the server: nothing of the new DID survives a failure.
    for (const row of [...store.children(did)]) store.detach(did, row.scope, row.name);
    store.dids.delete(didKey(did.scope, did.name));
    throw error;
  }
  return did;
}

function rowOf(d: DidRecord): ContentRow {
  return { scope: d.scope, name: d.name, type: d.type, bytes: d.bytes, adler32: d.adler32, md5: d.md5, guid: d.guid, events: d.events };
}

type ChildSpec = { scope: string; name: string } & Record<string, unknown>;

/** `attach_dids_to_dids` for one parent: files into datasets, collections into containers; rules follow. */
export async function attach(ctx: Ctx, parent: DidRecord, dids: ChildSpec[], ignoreDuplicate: boolean, rse?: RseRecord): Promise<void> {
  const { store, judge } = ctx.env;
  const id = `${parent.scope}:${parent.name}`;
  if (parent.type === 'FILE') throw new RucioError(409, 'UnsupportedOperation', `Data identifier '${id}' is a file`);
  if (!parent.isOpen) throw new RucioError(409, 'UnsupportedOperation', `Data identifier '${id}' is closed`);
  const existing = store.contents.get(didKey(parent.scope, parent.name));
  const added: ContentRow[] = [];
  const seen = new Set<string>();
  if (parent.type === 'DATASET' && rse) await addReplicas(ctx, rse, dids, true, false);
  for (const child of dids) {
    const key = didKey(child.scope, child.name);
    if (seen.has(key)) continue;
    seen.add(key);
    const did = store.getDid(child.scope, child.name);
    if (!did) throw new RucioError(404, 'DataIdentifierNotFound', `Data identifier '${key}' not found`);
    if (parent.type === 'DATASET') {
      if (did.type !== 'FILE') throw new RucioError(409, 'UnsupportedOperation', `Data identifier ${key} of type ${did.type} cannot be added to a dataset `);
      for (const k of ['bytes', 'adler32', 'md5'] as const) {
        if (k in child && String(child[k]) !== String(did[k])) throw new RucioError(412, 'FileConsistencyMismatch', `${k} mismatch for '${key}': ${String(child[k])}!=${String(did[k])}`);
      }
    } else {
      if (key === id) throw new RucioError(409, 'UnsupportedOperation', 'Self-append is not valid!');
      if (did.type === 'FILE') throw new RucioError(409, 'UnsupportedOperation', `Adding a file (${key}) to a container (${id}) is forbidden`);
      const kind = [...(existing?.values() ?? []), ...added][0]?.type;
      if (kind && kind !== did.type) throw new RucioError(409, 'UnsupportedOperation', `Mixed collection is not allowed: '${key}' is a ${did.type}(expected type: ${kind})`);
      if (store.ancestorKeys(parent.scope, parent.name).includes(key)) throw new RucioError(409, 'UnsupportedOperation', `Circular attachment detected. ${key} is already a parent of ${id}`);
    }
    if (existing?.has(key)) {
      if (ignoreDuplicate) continue;
      throw new RucioError(409, parent.type === 'DATASET' ? 'FileAlreadyExists' : 'DuplicateContent', DUPLICATE_CONTENT);
    }
    added.push(rowOf(did));
  }
  for (const row of added) store.attach(parent, row);
  const files = parent.type === 'DATASET' ? added : added.flatMap((row) => [...store.sortedFiles(store.requireDid(row.scope, row.name))]);
  if (files.length) judge.evaluateAttach(parent, files);
}

/** `set_status(open=False)`: close a collection, fixing its length, bytes and events. */
export function closeCollection(env: RouteEnv, did: DidRecord): void {
  const files = [...env.store.sortedFiles(did)];
  did.isOpen = false;
  did.closedAt = env.store.now();
  did.length = did.type === 'DATASET' ? files.length : [...env.store.children(did)].length;
  did.bytes = files.reduce((s, f) => s + (f.bytes ?? 0), 0);
  const events = files.map((f) => f.events).filter((e): e is number => typeof e === 'number');
  did.events = events.length ? events.reduce((a, b) => a + b, 0) : null;
}

function getDid(ctx: Ctx): Response {
  const { scope, name } = didParam(ctx);
  const did = ctx.env.store.requireDid(scope, name);
  const q = ctx.url.searchParams;
  const depth = q.has('dynamic_depth') ? q.get('dynamic_depth')?.toUpperCase() : q.has('dynamic') ? 'FILE' : undefined;
  let dynamic: { bytes: number; length: number } | undefined;
  if ((depth === 'FILE' || depth === 'DATASET') && did.type !== 'FILE') {
    const files = [...ctx.env.store.sortedFiles(did)];
    dynamic = { bytes: files.reduce((s, f) => s + (f.bytes ?? 0), 0), length: files.length };
  }
  return jsonResponse(pyJson(didDict(did, dynamic)));
}

async function postDid(ctx: Ctx): Promise<Response> {
  const { scope, name } = didParam(ctx);
  const p = await jsonParameters(ctx);
  const type = paramGet(p, 'type');
  const spec: CollectionSpec = { scope, name, type: String(type) };
  for (const k of ['statuses', 'meta', 'rules', 'lifetime', 'dids', 'rse'] as const) if (p[k] !== undefined) (spec as unknown as Record<string, unknown>)[k] = p[k];
  if (spec.dids) spec.dids = (spec.dids as unknown[]).map(asDidRef);
  await createCollection(ctx, spec);
  return created();
}

async function postBulk(ctx: Ctx): Promise<Response> {
  const items = await jsonList(ctx);
  if (!ctx.env.store.isAdmin(ctx.issuer)) throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not bulk add data identifier. `);
  for (const item of items) {
    const spec = item as CollectionSpec;
    asDidRef(spec);
    await createCollection(ctx, spec, false);
  }
  return created();
}

async function putStatus(ctx: Ctx): Promise<Response> {
  const { scope, name } = didParam(ctx);
  const { env } = ctx;
  const p = await jsonParameters(ctx);
  if (!canWriteScope(env, ctx.issuer, scope)) throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not set status on data identifier ${scope}:${name}. `);
  for (const k of Object.keys(p)) if (k !== 'open') throw new RucioError(409, 'UnsupportedStatus', `The status ${k} is not a valid data identifier status.`);
  const did = env.store.requireDid(scope, name);
  if (!('open' in p)) return emptyOk();
  const open = Boolean(p.open);
  if (did.type === 'FILE' || did.isOpen === open) throw new RucioError(409, 'UnsupportedOperation', `The status of the data identifier '${scope}:${name}' cannot be changed`);
  if (open) did.isOpen = true;
  else closeCollection(env, did);
  return emptyOk();
}

function listContent(ctx: Ctx): Promise<Response> {
  const { scope, name } = didParam(ctx);
  const did = ctx.env.store.requireDid(scope, name);
  return streamResponse(mapLines(ctx.env.store.children(did), (row) => pyJson(contentDict(row))), NDJSON);
}

function* mapLines<T>(items: Iterable<T>, line: (t: T) => string): Generator<string> {
  for (const item of items) yield `${line(item)}\n`;
}

async function postAttach(ctx: Ctx): Promise<Response> {
  const { scope, name } = didParam(ctx);
  const { store } = ctx.env;
  const p = await jsonParameters(ctx);
  if (!Array.isArray(p.dids)) throw new RucioError(500, 'InvalidObject', `Problem validating attachment: 'dids' is a required property`);
  const dids = p.dids.map(asDidRef).map((ref, i) => ({ ...(p.dids as Record<string, unknown>[])[i], ...ref }));
  const rse = typeof p.rse === 'string' ? store.requireRse(p.rse) : undefined;
  if (!canWriteScope(ctx.env, ctx.issuer, scope)) throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not add data identifiers to ${scope}:${name}. `);
  const parent = store.requireDid(scope, name);
  try {
    await attach(ctx, parent, dids, false, rse);
  } catch (error) {
    // This view does not map FileConsistencyMismatch (only /dids/attachments does).
    if (error instanceof RucioError && error.status === 412) throw new RucioError(500, error.exceptionClass, error.message);
    throw error;
  }
  return created();
}

async function postAttachments(ctx: Ctx): Promise<Response> {
  const { store } = ctx.env;
  const body = await jsonDictOrList(ctx);
  const attachments = (Array.isArray(body) ? body : paramGet(body as Record<string, unknown>, 'attachments')) as Record<string, unknown>[];
  const ignoreDuplicate = Array.isArray(body) ? false : paramBool(body as Record<string, unknown>, 'ignore_duplicate', false);
  if (!store.isAdmin(ctx.issuer) && attachments.some((a) => store.scopes.get(String(a.scope)) !== ctx.issuer)) throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not add data identifiers. `);
  for (const a of attachments) {
    const { scope, name } = asDidRef(a);
    const parent = store.getDid(scope, name);
    if (!parent) throw new RucioError(404, 'DataIdentifierNotFound', `Data identifier '${scope}:${name}' not found`);
    const rse = typeof a.rse === 'string' ? store.requireRse(a.rse) : undefined;
    const dids = ((a.dids ?? []) as unknown[]).map((d) => ({ ...(d as Record<string, unknown>), ...asDidRef(d) }));
    await attach(ctx, parent, dids, ignoreDuplicate, rse);
  }
  return created();
}

async function deleteAttach(ctx: Ctx): Promise<Response> {
  const { scope, name } = didParam(ctx);
  const { store, judge } = ctx.env;
  const p = await jsonParameters(ctx);
  const dids = (paramGet(p, 'dids') as unknown[]).map(asDidRef);
  if (!canWriteScope(ctx.env, ctx.issuer, scope)) throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not detach data identifiers from ${scope}:${name}. `);
  const parent = store.requireDid(scope, name);
  const rows = store.contents.get(didKey(scope, name));
  if (!rows?.size) throw new RucioError(404, 'DataIdentifierNotFound', `Data identifier '${scope}:${name}' has no child data identifiers.`);
  for (const d of dids) {
    if (d.scope === scope && d.name === name) throw new RucioError(409, 'UnsupportedOperation', 'Self-detach is not valid.');
    if (!rows.has(didKey(d.scope, d.name))) throw new RucioError(404, 'DataIdentifierNotFound', `Data identifier '${d.scope}:${d.name}' not found under '${scope}:${name}'`);
  }
  for (const d of dids) {
    store.detach(parent, d.scope, d.name);
    judge.evaluateDetach(parent, d.scope, d.name);
  }
  return emptyOk();
}

function listFiles(ctx: Ctx): Promise<Response> {
  const { scope, name } = didParam(ctx);
  const { store } = ctx.env;
  const did = store.requireDid(scope, name);
  const long = ctx.url.searchParams.has('long');
  const rows = did.type === 'FILE' ? [rowOf(did)] : store.sortedFiles(did);
  return streamResponse(mapLines(rows, (r) => pyJson(fileDict(r, long, long ? (store.getDid(r.scope, r.name)?.columns.lumiblocknr ?? null) : null))), NDJSON);
}

function listParents(ctx: Ctx): Promise<Response> {
  const { scope, name } = didParam(ctx);
  const { store } = ctx.env;
  const parents = store.parentKeys(scope, name).map((k) => store.dids.get(k)).filter((d): d is DidRecord => !!d);
  return streamResponse(mapLines(parents, (d) => pyJson({ scope: d.scope, name: d.name, type: d.type })), NDJSON);
}

function getMeta(ctx: Ctx): Response {
  const { scope, name } = didParam(ctx);
  const plugin = (ctx.url.searchParams.get('plugin') ?? 'DID_COLUMN').toUpperCase();
  const { store } = ctx.env;
  const did = store.getDid(scope, name);
  // Without the JSON plugin (SQLite), its get_metadata raises a bare NotImplementedError: 500, empty body.
  if (plugin === 'JSON' && !store.jsonMetadata) throw new PlainServerError('');
  if (plugin === 'JSON') return jsonResponse(pyJson(did?.meta ?? {}));
  if (plugin !== 'DID_COLUMN' && plugin !== 'ALL') throw new RucioError(400, 'UnsupportedMetadataPlugin', `Metadata plugin "${ctx.url.searchParams.get('plugin')}" is not enabled on the server.`);
  if (!did) throw new RucioError(404, 'DataIdentifierNotFound', `Data identifier '${scope}:${name}' not found`);
  if (plugin === 'ALL' && !store.jsonMetadata) throw new PlainServerError('');
  return jsonResponse(pyJson(plugin === 'ALL' ? { ...metaDict(did), ...did.meta } : metaDict(did)));
}

async function postMeta(ctx: Ctx): Promise<Response> {
  const { scope, name } = didParam(ctx);
  const p = await jsonParameters(ctx);
  const key = ctx.params.key;
  const meta = key !== undefined ? { [key]: paramGet(p, 'value') } : (paramGet(p, 'meta') as Record<string, unknown>);
  const recursive = paramBool(p, 'recursive', false);
  if (!canWriteScope(ctx.env, ctx.issuer, scope)) throw new RucioError(500, 'AccessDenied', `Account ${ctx.issuer} can not add metadata to data identifier ${scope}:${name}. `);
  checkMetaKeys(ctx.env.store, scope, name, meta, key);
  const did = ctx.env.store.requireDid(scope, name);
  setMeta(ctx.env.store, did, meta, key);
  if (recursive) for (const row of ctx.env.store.children(did)) setMeta(ctx.env.store, ctx.env.store.requireDid(row.scope, row.name), meta);
  return created();
}

function deleteMeta(ctx: Ctx): Response {
  const { scope, name } = didParam(ctx);
  const key = ctx.url.searchParams.get('key');
  if (key === null) throw new RucioError(404, 'KeyNotFound', 'No key provided to remove');
  if (isColumnKey(key)) throw new RucioError(409, 'NotImplementedError', 'Feature not in current database');
  const did = ctx.env.store.getDid(scope, name);
  if (!did || !Object.keys(did.meta).length) throw new RucioError(404, 'DataIdentifierNotFound', `Key not found for data identifier '${scope}:${name}'`);
  if (!(key in did.meta)) throw new RucioError(404, 'KeyNotFound', key);
  delete did.meta[key];
  return emptyOk();
}

function didRules(ctx: Ctx, associated: boolean): Promise<Response> {
  const { scope, name } = didParam(ctx);
  const { store, judge } = ctx.env;
  const did = store.requireDid(scope, name);
  judge.sweep();
  const rules = [...store.rules.values()].filter((r) => (associated ? store.locks.get(r.id) && [...(store.locks.get(r.id)?.values() ?? [])].some((l) => l.scope === scope && l.name === name) : r.scope === scope && r.name === name));
  return streamResponse(mapLines(rules, (r) => pyJson(associated ? ruleDict(r) : ruleDict(r, did.bytes))), NDJSON);
}

async function* search(ctx: Ctx): AsyncGenerator<string> {
  const q = ctx.url.searchParams;
  const filters = readFilters(q);
  const type = q.get('type') ?? 'collection';
  const limitText = q.get('limit');
  const limit = limitText !== null && /^-?\d+$/.test(limitText.trim()) ? Number(limitText) : null;
  const long = paramBool(q, 'long', false);
  const query = compileQuery(filters, type);
  let count = 0;
  for (const did of ctx.env.store.didsInScope(ctx.params.scope ?? '')) {
    if (limit && count >= limit) return;
    if (did.columns.suppressed === true || !matchesQuery(did, query)) continue;
    count++;
    if (!long) yield `${pyJson(did.name)}\n`;
    else if (query.json) yield `${pyJson({ scope: did.scope, name: did.name, did_type: null, bytes: null, length: null })}\n`;
    else yield `${pyJson({ scope: did.scope, name: did.name, did_type: did.type, bytes: did.bytes, length: did.length })}\n`;
  }
}

function scopeList(ctx: Ctx): Promise<Response> {
  const { store } = ctx.env;
  const scope = ctx.params.scope ?? '';
  const name = ctx.url.searchParams.get('name');
  const recursive = paramBool(ctx.url.searchParams, 'recursive', false);
  type Entry = { scope: string; name: string; type: DidType; parent: { scope: string; name: string } | null; level: number; bytes?: number | null };
  const out: Entry[] = [];
  const drill = (d: DidRecord, level: number) => {
    const rows = [...store.children(d)].sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const row of rows) {
      out.push({ scope: row.scope, name: row.name, type: row.type, parent: { scope: d.scope, name: d.name }, level: level + 1 });
      const child = store.dids.get(didKey(row.scope, row.name));
      if (recursive && child && row.type !== 'FILE') drill(child, level + 1);
    }
  };
  if (name !== null) drill(store.requireDid(scope, name), 0);
  else {
    for (const d of store.didsInScope(scope)) {
      if (store.parentKeys(d.scope, d.name).some((k) => k.startsWith(`${scope}:`))) continue;
      out.push({ scope, name: d.name, type: d.type, parent: null, level: 0, bytes: d.type === 'FILE' ? d.bytes : null });
      if (recursive) drill(d, 0);
    }
  }
  return streamResponse(mapLines(out, (e) => pyJson(e)), NDJSON);
}

/** Routes of `/dids`, in werkzeug's matching order (static routes before `<path:scope_name>`). */
export const didRoutes: Route[] = [
  route('POST', /^\/dids$/, postBulk),
  route('POST', /^\/dids\/attachments$/, postAttachments),
  route('GET', /^\/dids\/(?<scope>[^/]+)\/dids\/search$/, (ctx) => streamResponse(search(ctx), NDJSON), { accept: STREAM }),
  route('GET', /^\/dids\/(?<scope>[^/]+)\/$/, scopeList, { accept: STREAM }),
  route(['GET', 'POST', 'DELETE'], /^\/dids\/(?<sn>.+)\/dids$/, (ctx) => ({ GET: listContent, POST: postAttach, DELETE: deleteAttach })[ctx.request.method as 'GET'](ctx), { accept: STREAM }),
  route('POST', /^\/dids\/(?<sn>.+)\/meta\/(?<key>[^/]+)$/, postMeta),
  route(['GET', 'POST', 'DELETE'], /^\/dids\/(?<sn>.+)\/meta$/, (ctx) => ({ GET: getMeta, POST: postMeta, DELETE: deleteMeta })[ctx.request.method as 'GET'](ctx), { accept: JSON_ONLY }),
  route('GET', /^\/dids\/(?<sn>.+)\/files$/, listFiles, { accept: STREAM }),
  route('GET', /^\/dids\/(?<sn>.+)\/parents$/, listParents, { accept: STREAM }),
  route('GET', /^\/dids\/(?<sn>.+)\/rules$/, (ctx) => didRules(ctx, false), { accept: STREAM }),
  route('GET', /^\/dids\/(?<sn>.+)\/associated_rules$/, (ctx) => didRules(ctx, true), { accept: STREAM }),
  route(['GET', 'PUT'], /^\/dids\/(?<sn>.+)\/status$/, (ctx) => (ctx.request.method === 'GET' ? getDid(ctx) : putStatus(ctx)), { accept: JSON_ONLY }),
  route(['GET', 'POST'], /^\/dids\/(?<sn>.+)$/, (ctx) => (ctx.request.method === 'GET' ? getDid(ctx) : postDid(ctx)), { accept: JSON_ONLY }),
];

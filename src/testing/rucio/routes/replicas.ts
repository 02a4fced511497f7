/**
 * File replicas (`/replicas`): listing (NDJSON or metalink), registration with letter states,
 * state updates that drive rules (`PUT` state A is a successful transfer), deletion, and dataset
 * replicas.
 * @module
 */
import { nameProblem, scopeProblem } from '../../../core/did.js';
import { listReplicas, metalink, SUPPORTED_PROTOCOLS, type ListedFile, type ListOptions } from '../listing.js';
import { pathOfPfn, pfnOf, replicaPath, candidateProtocols } from '../pfn.js';
import { asDidRef, didParam, jsonParameters, paramBool, paramGet, route, type Ctx, type Route } from '../router.js';
import { didKey, didRecord, REPLICA_STATE_CODES, type DidRecord, type RseRecord } from '../state.js';
import { setMeta } from '../meta.js';
import { bestMatch, created, emptyOk, METALINK, NDJSON, PlainServerError, pyJson, RucioError, streamResponse } from '../wire.js';

/** Most files one `POST /replicas` can register on an SQLite-backed server (recorded: 996 pass, 997 fail). */
const SQLITE_MAX_FILES = 996;

const FILE_KEYS = new Set(['scope', 'name', 'type', 'meta', 'rules', 'bytes', 'adler32', 'md5', 'state', 'pfn', 'account', 'path']);

type FileSpec = Record<string, unknown> & { scope: string; name: string };

/** The `dids` schema the gateway checks `files` against (failures are uncaught there: 500). */
function validateFiles(files: unknown): FileSpec[] {
  const bad = (msg: string) => new RucioError(500, 'InvalidObject', `Problem validating dids: ${msg}`);
  if (!Array.isArray(files)) throw bad(`${pyJson(files)} is not of type 'array'`);
  if (!files.length) throw bad('[] should be non-empty');
  if (files.length > 1000) throw bad('the list is too long');
  for (const f of files) {
    if (typeof f !== 'object' || f === null || Array.isArray(f)) throw bad(`${pyJson(f)} is not of type 'object'`);
    const extra = Object.keys(f).filter((k) => !FILE_KEYS.has(k));
    if (extra.length) throw bad(`Additional properties are not allowed (${extra.map((k) => `'${k}'`).join(', ')} ${extra.length > 1 ? 'were' : 'was'} unexpected)`);
    const problem = scopeProblem(f.scope) ?? nameProblem(f.name);
    if (problem) throw bad(`${pyJson(f)}: ${problem}`);
    if ('adler32' in f && f.adler32 !== null && !/^[a-fA-F\d]{8}$/.test(String(f.adler32))) throw bad(`'${String(f.adler32)}' does not match '^[a-fA-F\\\\d]{8}$'`);
    if ('md5' in f && f.md5 !== null && !/^[a-fA-F\d]{32}$/.test(String(f.md5))) throw bad(`'${String(f.md5)}' does not match '^[a-fA-F\\\\d]{32}$'`);
  }
  return files as FileSpec[];
}

function stateOf(code: unknown): (typeof REPLICA_STATE_CODES)[string] {
  const state = REPLICA_STATE_CODES[String(code)];
  if (!state) throw new PlainServerError(`'${String(code)}' is not a valid ReplicaState`);
  return state;
}

/** Register file replicas on an RSE (`add_replicas`); missing file DIDs are created. */
export async function addReplicas(ctx: Ctx, rse: RseRecord, files: FileSpec[], ignoreAvailability: boolean, checkPermission = true): Promise<void> {
  const { store } = ctx.env;
  const admin = store.isAdmin(ctx.issuer) || !checkPermission;
  if (!/(SCRATCHDISK|USERDISK|MOCK|LOCALGROUPDISK)$/.test(rse.name) && !admin) throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not add file replicas on ${rse.name}. `);
  const missing = files.filter((f) => !store.getDid(f.scope, f.name));
  if (missing.length && !admin) {
    const list = `[${missing.map((f) => `{'scope': '${f.scope}', 'name': '${f.name}'}`).join(', ')}]`;
    throw new RucioError(401, 'AccessDenied', `Operation involves the following new files which will require the creation of new DIDs:\n${list}\nHowever, account ${ctx.issuer} can not add file DIDs on ${rse.name}`);
  }
  if (rse.volatile) throw new RucioError(500, 'UnsupportedOperation', `Cannot add replicas on volatile RSE ${rse.name} `);
  if (!rse.availabilityWrite && !(ignoreAvailability && admin)) throw new RucioError(503, 'ResourceTemporaryUnavailable', `${rse.name} is temporary unavailable for writing`);
  if (!rse.deterministic && files.some((f) => !('pfn' in f))) throw new RucioError(500, 'UnsupportedOperation', `PFN needed for this (non deterministic) RSE ${rse.name} `);
  // The DID lookup ORs one term per file: from 997 files SQLite's expression tree is deeper than
  // 1000 ("Expression tree is too large"), which the server reports as a generic DatabaseException.
  if (store.database === 'sqlite' && files.length > SQLITE_MAX_FILES) throw new RucioError(500, 'DatabaseException', 'An unknown Database Exception has occurred.');
  for (const f of missing) {
    if (!store.scopes.has(f.scope)) throw new RucioError(404, 'ScopeNotFound', 'Scope not found!');
    if (!('bytes' in f)) throw new PlainServerError("'bytes'");
  }
  const paths = new Map<string, string | null>();
  for (const f of files) {
    if (typeof f.pfn !== 'string') continue;
    if (!rse.deterministic) {
      paths.set(didKey(f.scope, f.name), pathOfPfn(rse, f.pfn));
      continue;
    }
    const path = await replicaPath(rse, f.scope, f.name, null);
    const expected = ['wan', 'lan'].flatMap((d) => candidateProtocols(rse, 'write', d as 'wan' | 'lan', f.pfn?.toString().split(':')[0]).map((p) => pfnOf(p, path ?? '')));
    if (!expected.includes(f.pfn)) {
      throw new RucioError(400, 'InvalidPath', `One of the PFNs provided {'${f.pfn}'} for [{'scope': '${f.scope}', 'name': '${f.name}'}] does not match the Rucio expected PFNs: {${expected.map((e) => `'${e}'`).join(', ')}}`);
    }
  }
  const states = files.map((f) => stateOf(f.state ?? 'A'));
  const now = store.now();
  files.forEach((f, i) => {
    let did: DidRecord | undefined = store.getDid(f.scope, f.name);
    if (!did) {
      did = newFileDid(ctx, f);
      store.dids.set(didKey(f.scope, f.name), did);
      if (f.meta && typeof f.meta === 'object') setMeta(store, did, f.meta as Record<string, unknown>);
    }
    if (store.replica(f.scope, f.name, rse.id)) return;
    store.putReplica(f.scope, f.name, { rseId: rse.id, state: states[i] as (typeof states)[number], path: paths.get(didKey(f.scope, f.name)) ?? null, bytes: (f.bytes as number) ?? did.bytes, md5: (f.md5 as string) ?? did.md5, adler32: (f.adler32 as string) ?? did.adler32, createdAt: now, updatedAt: now });
  });
}

function newFileDid(ctx: Ctx, f: FileSpec): DidRecord {
  const text = (v: unknown) => (typeof v === 'string' ? v : null);
  return didRecord(f.scope, f.name, 'FILE', text(f.account) ?? ctx.issuer, ctx.env.store.now(), { bytes: f.bytes as number, md5: text(f.md5), adler32: text(f.adler32) });
}

async function postReplicas(ctx: Ctx): Promise<Response> {
  const p = await jsonParameters(ctx);
  const rse = paramGet(p, 'rse');
  const files = paramGet(p, 'files');
  const ignore = paramBool(p, 'ignore_availability', false);
  const valid = validateFiles(files);
  await addReplicas(ctx, ctx.env.store.requireRse(String(rse)), valid, ignore);
  return created();
}

async function putReplicas(ctx: Ctx): Promise<Response> {
  const { store, judge } = ctx.env;
  const p = await jsonParameters(ctx);
  const rseName = String(paramGet(p, 'rse'));
  const files = validateFiles(paramGet(p, 'files'));
  const rse = store.rses.get(rseName);
  if (!rse) throw new RucioError(500, 'RSENotFound', `RSE '${rseName}' cannot be found in vo 'def'`);
  if (!store.isAdmin(ctx.issuer)) throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not update file replicas state on ${rseName}. `);
  for (const f of files) {
    const replica = store.replica(f.scope, f.name, rse.id);
    if (!replica) throw new RucioError(500, 'ReplicaNotFound', `No row found for scope: ${f.scope} name: ${f.name} rse: ${rseName}`);
    const state = stateOf(f.state);
    store.putReplica(f.scope, f.name, { ...replica, state, updatedAt: store.now(), ...(typeof f.path === 'string' && f.path ? { path: f.path } : {}) });
    if (state === 'AVAILABLE') {
      judge.replicaAvailable(f.scope, f.name, rse.id);
      // A replica that is AVAILABLE again is no longer bad: its BAD declarations become RECOVERED.
      for (const b of store.badReplicas) if (b.state === 'BAD' && b.rseId === rse.id && b.scope === f.scope && b.name === f.name) Object.assign(b, { state: 'RECOVERED', updatedAt: store.now() });
    }
    else if (state === 'UNAVAILABLE') judge.replicaUnavailable(f.scope, f.name, rse.id);
  }
  return emptyOk();
}

async function deleteReplicas(ctx: Ctx): Promise<Response> {
  const { store } = ctx.env;
  const p = await jsonParameters(ctx);
  const rseName = String(paramGet(p, 'rse'));
  paramGet(p, 'files');
  store.requireRse(rseName);
  // The generic permission policy answers False to everyone for delete_replicas.
  throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not delete file replicas on ${rseName}. `);
}

function listOptions(p: Record<string, unknown>, q: URLSearchParams, metalinkWanted: boolean): ListOptions {
  const dids = p.dids ?? [];
  if (!Array.isArray(dids)) throw new RucioError(400, 'InvalidObject', `Problem validating r_dids: ${pyJson(dids)} is not of type 'array'`);
  const location = (p.client_location ?? {}) as Record<string, unknown>;
  let updatedAfter: Date | null = null;
  if (p.updated_after !== undefined && p.updated_after !== null) {
    const v = p.updated_after;
    const m = typeof v === 'string' ? /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(v) : null;
    if (typeof v === 'number') updatedAfter = new Date(v * 1000);
    else if (m) updatedAfter = new Date(`${v}Z`);
    else throw new PlainServerError(`time data '${String(v)}' does not match format '%Y-%m-%dT%H:%M:%S'`);
  }
  const schemes = (p.schemes as string[] | null | undefined) ?? null;
  return {
    dids: dids.map(asDidRef),
    schemes: metalinkWanted && schemes === null ? SUPPORTED_PROTOCOLS : schemes,
    rseExpression: (p.rse_expression as string | null | undefined) ?? null,
    allStates: paramBool(p, 'all_states', false),
    unavailable: paramBool(p, 'unavailable', false),
    ignoreAvailability: paramBool(p, 'ignore_availability', 'unavailable' in p),
    resolveParents: paramBool(p, 'resolve_parents', false),
    domain: (p.domain as string | null | undefined) ?? null,
    clientSite: typeof location.site === 'string' ? location.site : null,
    sort: q.get('sort') ?? q.get('select') ?? (p.sort as string | null | undefined) ?? null,
    updatedAfter,
  };
}

/** Keep `n` random items (reservoir sampling), as `nrandom` does. */
async function* pickRandom<T>(source: AsyncIterable<T>, n: number | null): AsyncGenerator<T> {
  if (!n) return yield* source;
  const picked: T[] = [];
  let seen = 0;
  for await (const item of source) {
    seen++;
    if (picked.length < n) picked.push(item);
    else {
      const i = Math.floor(Math.random() * seen);
      if (i < n) picked[i] = item;
    }
  }
  yield* picked;
}

async function* lines(files: AsyncIterable<ListedFile>): AsyncGenerator<string> {
  for await (const f of files) yield `${pyJson(f)}\n`;
}

async function postList(ctx: Ctx): Promise<Response> {
  const type = bestMatch(ctx.request.headers.get('Accept'), [NDJSON, METALINK], NDJSON);
  const p = await jsonParameters(ctx);
  const o = listOptions(p, ctx.url.searchParams, type === METALINK);
  const nrandom = p.nrandom ? Number(p.nrandom) : null;
  const files = pickRandom(listReplicas(ctx.env.store, o), nrandom);
  return streamResponse(type === METALINK ? metalink(files, 'generic', true) : lines(files), type);
}

/** `GET /replicas/{scope}/{name}`: the older listing (PFNs ordered by RSE, metalink without domains). */
async function getReplicas(ctx: Ctx): Promise<Response> {
  const type = bestMatch(ctx.request.headers.get('Accept'), [NDJSON, METALINK], NDJSON);
  const q = ctx.url.searchParams;
  const schemes = q.get('schemes');
  const limit = q.get('limit') ? Number(q.get('limit')) : undefined;
  const o = listOptions({ dids: [didParam(ctx)], schemes: schemes ? schemes.split(',') : null, ignore_availability: true }, q, type === METALINK);
  async function* reorder(): AsyncGenerator<ListedFile> {
    for await (const f of listReplicas(ctx.env.store, o)) {
      const order = Object.values(f.rses).flat();
      f.pfns = Object.fromEntries(order.slice(0, limit).map((pfn, i) => [pfn, { ...(f.pfns[pfn] as ListedFile['pfns'][string]), priority: i + 1 }]));
      yield f;
    }
  }
  try {
    return await streamResponse(type === METALINK ? metalink(reorder(), 'atlas', false) : lines(reorder()), type);
  } catch (error) {
    if (error instanceof RucioError && error.exceptionClass === 'SortingAlgorithmNotSupported') throw new RucioError(404, error.exceptionClass, error.message);
    throw error;
  }
}

/** `GET /replicas/{scope}/{name}/datasets`: collection replicas made by rules (or, `deep`, from the files). */
function datasetReplicas(ctx: Ctx): Promise<Response> {
  const { store } = ctx.env;
  const { scope, name } = didParam(ctx);
  const deep = paramBool(ctx.url.searchParams, 'deep', false);
  const did = store.getDid(scope, name);
  const rows: Record<string, unknown>[] = [];
  if (did && did.type === 'DATASET') {
    const files = [...store.sortedFilesOfDataset(did)];
    const total = files.reduce((s, f) => s + (f.bytes ?? 0), 0);
    const recorded = store.collectionReplicas.get(didKey(scope, name)) ?? new Map<string, Date>();
    const rseIds = deep ? new Set(files.flatMap((f) => store.replicasOf(f.scope, f.name).filter((r) => r.state === 'AVAILABLE').map((r) => r.rseId))) : new Set(recorded.keys());
    for (const rseId of rseIds) {
      const rse = store.rseById(rseId);
      if (!rse) continue;
      const available = files.filter((f) => store.replica(f.scope, f.name, rseId)?.state === 'AVAILABLE');
      const availableBytes = available.reduce((s, f) => s + (f.bytes ?? 0), 0);
      const when = recorded.get(rseId) ?? did.createdAt;
      rows.push({ scope, name, rse: rse.name, rse_id: rseId, bytes: total, length: files.length, available_bytes: availableBytes, available_length: available.length, state: available.length === files.length ? 'AVAILABLE' : 'UNAVAILABLE', created_at: when, updated_at: store.now(), accessed_at: null });
    }
  }
  return streamResponse(rows.map((r) => `${pyJson(r)}\n`), NDJSON);
}

const LISTING = { GET: [NDJSON, METALINK], POST: [NDJSON, METALINK] };

/** Routes of `/replicas`. */
export const replicaRoutes: Route[] = [
  route('POST', /^\/replicas\/list\/?$/, postList, { accept: LISTING }),
  route(['POST', 'PUT', 'DELETE'], /^\/replicas\/?$/, (ctx) => (ctx.request.method === 'POST' ? postReplicas(ctx) : ctx.request.method === 'PUT' ? putReplicas(ctx) : deleteReplicas(ctx))),
  route('GET', /^\/replicas\/(?<sn>.+)\/datasets$/, datasetReplicas, { accept: { GET: [NDJSON] } }),
  route('GET', /^\/replicas\/(?<sn>.+?)\/?$/, getReplicas, { accept: LISTING }),
];

/**
 * RSEs (`/rses`): listing and expressions, settings with protocols, attributes, protocols and
 * server-side LFN → PFN translation.
 * @module
 */
import { resolveRseExpression } from '../expressions.js';
import { jsonParameters, paramGet, route, type Ctx, type Route, type RouteEnv } from '../router.js';
import { newId } from '../judge.js';
import { defaultImpl, pfnOf, replicaPath, selectProtocol } from '../pfn.js';
import type { ProtocolRecord, RseRecord } from '../state.js';
import type { ProtocolOptions, ProtocolPriorities, RseOptions } from '../types.js';
import { protocolDict, rseListDict, rseSettingsDict } from '../views.js';
import { created, flaskJson, jsonResponse, NDJSON, PlainServerError, pyJson, RucioError, streamResponse } from '../wire.js';

const RSE_NAME = /^([A-Z0-9]+([_-][A-Z0-9]+)*)$/;

function priorities(given: ProtocolPriorities | undefined, keys: string[]): Record<string, number | null> {
  return Object.fromEntries(keys.map((k) => [k, given && k in given ? (given[k as keyof ProtocolPriorities] ?? null) : 1]));
}

/** A protocol record in the server's canonical shape. */
export function protocolRecord(p: ProtocolOptions): ProtocolRecord {
  return {
    scheme: p.scheme,
    hostname: p.hostname,
    port: p.port,
    prefix: p.prefix,
    impl: p.impl ?? defaultImpl(p.scheme),
    domains: {
      lan: priorities(p.domains?.lan, ['read', 'write', 'delete']),
      wan: priorities(p.domains?.wan, ['read', 'write', 'delete', 'third_party_copy_read', 'third_party_copy_write']),
    },
    extended_attributes: p.extended_attributes ?? null,
  };
}

/** Add a protocol (`add_protocol`); 409 `Duplicate` for the same scheme, hostname and port. */
export function addProtocol(rse: RseRecord, p: ProtocolOptions): void {
  if (rse.protocols.some((q) => q.scheme === p.scheme && q.hostname === p.hostname && q.port === p.port)) {
    throw new RucioError(409, 'Duplicate', `Protocol '${p.scheme}' on port ${p.port} already registered for  '${rse.name}' with hostname '${p.hostname}'.`);
  }
  rse.protocols.push(protocolRecord(p));
}

/** Create an RSE (`add_rse`); with an `issuer`, only root/admins may (REST), none when seeding. */
export function createRse(env: RouteEnv, issuer: string | undefined, name: string, o: RseOptions = {}): RseRecord {
  const { store } = env;
  if (!RSE_NAME.test(name)) throw new RucioError(400, 'InvalidObject', `Problem validating rse: '${name}' does not match '^([A-Z0-9]+([_-][A-Z0-9]+)*)$'`);
  if (issuer !== undefined && !store.isAdmin(issuer)) throw new RucioError(401, 'AccessDenied', `Account ${issuer} can not add RSE. `);
  if (store.rses.has(name)) throw new RucioError(409, 'Duplicate', `RSE '${name}' already exists!`);
  const a = typeof o.availability === 'number' ? { read: (o.availability & 4) > 0, write: (o.availability & 2) > 0, delete: (o.availability & 1) > 0 } : (o.availability ?? {});
  const now = store.now();
  const attributes = new Map<string, string | number | boolean>([[name, true], ...Object.entries(o.attributes ?? {})]);
  const algorithm = o.lfn2pfnAlgorithm ?? attributes.get('lfn2pfn_algorithm') ?? 'hash';
  if (algorithm !== 'hash' && algorithm !== 'identity') throw new RucioError(400, 'InvalidObject', `lfn2pfn algorithm ${String(algorithm)} is not supported by the emulator`);
  const rse: RseRecord = {
    id: o.id ?? newId(),
    name,
    rseType: o.rseType ?? 'DISK',
    deterministic: o.deterministic ?? true,
    volatile: o.volatile ?? false,
    stagingArea: o.stagingArea ?? false,
    availabilityRead: a.read ?? true,
    availabilityWrite: a.write ?? true,
    availabilityDelete: a.delete ?? true,
    lfn2pfnAlgorithm: algorithm,
    verifyChecksum: attributes.get('verify_checksum') !== false,
    location: { ...o.location },
    qosClass: o.qosClass ?? null,
    attributes,
    protocols: [],
    createdAt: now,
    updatedAt: now,
  };
  for (const p of o.protocols ?? []) addProtocol(rse, p);
  store.rses.set(name, rse);
  return rse;
}

function listRses(ctx: Ctx): Promise<Response> {
  const { store } = ctx.env;
  const expression = ctx.url.searchParams.get('expression');
  if (expression) {
    const rses = resolveRseExpression(expression, store.rses.values());
    return streamResponse(rses.map((r) => `${pyJson({ rse: r.name })}\n`), NDJSON);
  }
  const all = [...store.rses.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  return streamResponse(all.map((r) => `${pyJson(rseListDict(r))}\n`), NDJSON);
}

async function postRse(ctx: Ctx): Promise<Response> {
  const body = await jsonParameters(ctx, true);
  if ('availability' in body && ('availability_read' in body || 'availability_write' in body || 'availability_delete' in body)) {
    throw new RucioError(422, 'InputValidationError', "'availability' can not be specified with 'availability_read', 'availability_write' or 'availability_delete'");
  }
  const pick = (k: string) => (k in body ? body[k] : undefined);
  const bool = (k: string) => (pick(k) === undefined || pick(k) === null ? undefined : Boolean(pick(k)));
  const location = Object.fromEntries(['city', 'region_code', 'country_name', 'continent', 'time_zone', 'ISP', 'ASN', 'latitude', 'longitude'].filter((k) => k in body).map((k) => [k, body[k] as string | number | null]));
  const availability = typeof body.availability === 'number' ? body.availability : { read: bool('availability_read') ?? true, write: bool('availability_write') ?? true, delete: bool('availability_delete') ?? true };
  createRse(ctx.env, ctx.issuer, ctx.params.rse ?? '', {
    deterministic: bool('deterministic') ?? true,
    volatile: bool('volatile') ?? false,
    stagingArea: bool('staging_area') ?? false,
    rseType: body.rse_type === 'TAPE' ? 'TAPE' : 'DISK',
    availability,
    location,
  });
  return created();
}

function requireAdmin(ctx: Ctx, action: string): void {
  if (!ctx.env.store.isAdmin(ctx.issuer)) throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not ${action}. `);
}

async function postProtocol(ctx: Ctx): Promise<Response> {
  const rse = ctx.env.store.requireRse(ctx.params.rse ?? '');
  const body = await jsonParameters(ctx);
  requireAdmin(ctx, `add protocols to RSE ${rse.name}`);
  addProtocol(rse, { ...(body as unknown as ProtocolOptions), scheme: ctx.params.scheme ?? '' });
  return created();
}

async function postAttribute(ctx: Ctx): Promise<Response> {
  const body = await jsonParameters(ctx);
  const value = paramGet(body, 'value');
  requireAdmin(ctx, 'add RSE attributes');
  const rse = ctx.env.store.requireRse(ctx.params.rse ?? '');
  rse.attributes.set(ctx.params.key ?? '', value as string | number | boolean);
  return created();
}

/** `GET /rses/{rse}/lfns2pfns`: `{"scope:name": pfn}` for the chosen protocol (default: best for write over wan). */
async function lfns2pfns(ctx: Ctx): Promise<Response> {
  const q = ctx.url.searchParams;
  const lfns = q.getAll('lfn').map((l) => l.split(':'));
  if (lfns.some((parts) => parts.length < 2)) throw new PlainServerError('sequence item 0: expected str instance, list found');
  const rse = ctx.env.store.requireRse(ctx.params.rse ?? '');
  const domain = q.get('domain') === 'lan' ? 'lan' : 'wan';
  const protocol = selectProtocol(rse, q.get('operation') ?? 'write', domain, q.get('scheme'));
  if (!protocol) throw new RucioError(404, 'RSEProtocolNotSupported', `No protocol for provided settings found : ${pyJson(rseSettingsDict(rse))}.`);
  const out: Record<string, string> = {};
  for (const [scope = '', ...rest] of lfns) {
    const name = rest.join(':');
    const stored = rse.deterministic ? null : (ctx.env.store.replica(scope, name, rse.id)?.path ?? null);
    const path = await replicaPath(rse, scope, name, stored);
    if (path !== undefined) out[`${scope}:${name}`] = pfnOf(protocol, path);
  }
  if (!Object.keys(out).length) throw new RucioError(404, 'ReplicaNotFound', 'No replicas found');
  return jsonResponse(flaskJson(out));
}

const JSON_ONLY = { GET: ['application/json'] };

/** Routes of `/rses`. */
export const rseRoutes: Route[] = [
  route('GET', /^\/rses\/$/, listRses, { accept: { GET: [NDJSON] } }),
  route('GET', /^\/rses\/(?<rse>[^/]+)\/attr\/$/, (ctx) => jsonResponse(flaskJson(Object.fromEntries(ctx.env.store.requireRse(ctx.params.rse ?? '').attributes))), { accept: JSON_ONLY }),
  route('POST', /^\/rses\/(?<rse>[^/]+)\/attr\/(?<key>[^/]+)$/, postAttribute),
  route(
    'GET',
    /^\/rses\/(?<rse>[^/]+)\/protocols$/,
    (ctx) => {
      const rse = ctx.env.store.requireRse(ctx.params.rse ?? '');
      if (!rse.protocols.length) throw new RucioError(404, 'RSEProtocolNotSupported', 'No protocols found for this RSE');
      return jsonResponse(flaskJson(rse.protocols.map(protocolDict)));
    },
    { accept: JSON_ONLY },
  ),
  route(['GET', 'POST'], /^\/rses\/(?<rse>[^/]+)\/protocols\/(?<scheme>[^/]+)$/, (ctx) => (ctx.request.method === 'GET' ? jsonResponse(flaskJson(rseSettingsDict(ctx.env.store.requireRse(ctx.params.rse ?? '')))) : postProtocol(ctx)), { accept: JSON_ONLY }),
  route('GET', /^\/rses\/(?<rse>[^/]+)\/lfns2pfns$/, lfns2pfns, { accept: JSON_ONLY }),
  route(['GET', 'POST'], /^\/rses\/(?<rse>[^/]+)$/, (ctx) => (ctx.request.method === 'GET' ? jsonResponse(pyJson(rseSettingsDict(ctx.env.store.requireRse(ctx.params.rse ?? '')))) : postRse(ctx)), { accept: JSON_ONLY }),
];

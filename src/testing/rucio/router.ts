/**
 * Request plumbing shared by the route modules: the route table type, the per-request context,
 * and the server's body and parameter helpers (`json_parameters`, `param_get`, `param_get_bool`,
 * `parse_scope_name`) with their exact error answers.
 * @module
 */
import type { Judge } from './judge.js';
import type { Store } from './state.js';
import { RucioError } from './wire.js';

/** Emulator settings the routes need. */
export interface RouteEnv {
  readonly store: Store;
  readonly judge: Judge;
  readonly tokenLifetimeSeconds: number;
  readonly version: string;
  /** `Access-Control-Allow-Origin` for a request: the origin if allowed, `None` without one, else nothing. */
  allowOrigin(request: Request): string | undefined;
  /** Create a token for an account (also used by `/auth/userpass`). */
  issueToken(account: string, identity?: string, appId?: string): string;
  /** The account of a valid token (a Rucio token, or an accepted OIDC JWT, then kept with the tokens). */
  authenticateToken(token: string): Promise<string | undefined>;
}

/** What a route handler receives. */
export interface Ctx {
  readonly request: Request;
  readonly url: URL;
  /** Named groups of the route pattern, matched on the decoded path. */
  readonly params: Record<string, string>;
  /** The authenticated account (empty on unauthenticated routes). */
  readonly issuer: string;
  readonly env: RouteEnv;
}

/** One route: methods, a pattern on the decoded path, and the checks the real view applies. */
export interface Route {
  readonly methods: readonly string[];
  readonly pattern: RegExp;
  /** Types for `check_accept_header_wrapper_flask`, per method. */
  readonly accept?: Readonly<Record<string, readonly string[]>>;
  /** Blueprint needs a token (default true). */
  readonly auth?: boolean;
  /** The view writes its own CORS headers (`/auth/*`): skip the blueprint's `after_request`. */
  readonly ownHeaders?: boolean;
  handle(ctx: Ctx): Response | Promise<Response>;
}

type Json = unknown;

function isDict(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `json_parse(types)`: 400 `ValueError` for bad JSON, 400 `TypeError` for the wrong top-level type. */
async function jsonParse(ctx: Ctx, kind: 'dictionary' | 'list' | 'dictionary or list', optional: boolean): Promise<Json> {
  const text = await ctx.request.text();
  if (optional && !text) return kind === 'list' ? [] : {};
  let body: Json;
  try {
    body = JSON.parse(text);
  } catch {
    throw new RucioError(400, 'ValueError', `cannot decode json parameter ${kind}`);
  }
  const ok = kind === 'dictionary' ? isDict(body) : kind === 'list' ? Array.isArray(body) : isDict(body) || Array.isArray(body);
  if (!ok) throw new RucioError(400, 'TypeError', `body must be a json ${kind}`);
  return body;
}

/** `json_parameters()`: the body as a JSON object. */
export async function jsonParameters(ctx: Ctx, optional = false): Promise<Record<string, Json>> {
  return (await jsonParse(ctx, 'dictionary', optional)) as Record<string, Json>;
}

/** `json_list()`: the body as a JSON array. */
export async function jsonList(ctx: Ctx): Promise<Json[]> {
  return (await jsonParse(ctx, 'list', false)) as Json[];
}

/** `json_parse((dict, list))`. */
export function jsonDictOrList(ctx: Ctx): Promise<Json> {
  return jsonParse(ctx, 'dictionary or list', false);
}

/** `param_get(parameters, name)`: a required key (400 `KeyError` when missing). */
export function paramGet(params: Record<string, Json>, name: string): Json {
  if (!(name in params)) throw new RucioError(400, 'KeyError', `'${name}' not defined`);
  return params[name];
}

/** `param_get_bool`: JSON booleans or `true/false/1/0` strings (400 `TypeError` otherwise). */
export function paramBool(params: Record<string, Json> | URLSearchParams, name: string, fallback: boolean): boolean {
  const value = params instanceof URLSearchParams ? params.get(name) ?? fallback : name in params ? params[name] : fallback;
  if (value === null || value === undefined) throw new RucioError(400, 'KeyError', `'${name}' not defined`);
  if (typeof value === 'boolean') return value;
  const text = String(value).toLowerCase();
  if (text === 'true' || text === '1') return true;
  if (text === 'false' || text === '0') return false;
  throw new RucioError(400, 'TypeError', `'${name}' must be a boolean type.`);
}

/** `parse_scope_name`: first segment is the scope, everything after it the name. */
export function parseScopeName(scopeName: string): { scope: string; name: string } {
  const m = /^\/([^/]+)\/(.*)$/s.exec(`/${scopeName}`);
  if (!m) throw new RucioError(400, 'ValueError', `Could not parse '/${scopeName}' (scope_name='${scopeName}') with pattern '/([^/]+)/(.*)' into scope and name.`);
  return { scope: m[1] as string, name: m[2] as string };
}

/** The DID named by the `sn` route parameter. */
export function didParam(ctx: Ctx): { scope: string; name: string } {
  return parseScopeName(ctx.params.sn ?? '');
}

/** Expect a `{scope, name}` object (what the server would crash on otherwise). */
export function asDidRef(value: Json): { scope: string; name: string } {
  if (!isDict(value) || typeof value.scope !== 'string' || typeof value.name !== 'string') throw new RucioError(400, 'InvalidObject', `Problem validating dids: ${JSON.stringify(value)} is not a valid DID`);
  return { scope: value.scope, name: value.name };
}

/** Shorthand for a route definition. */
export function route(methods: string | readonly string[], pattern: RegExp, handle: Route['handle'], options: Omit<Route, 'methods' | 'pattern' | 'handle'> = {}): Route {
  return { methods: typeof methods === 'string' ? [methods] : methods, pattern, handle, ...options };
}

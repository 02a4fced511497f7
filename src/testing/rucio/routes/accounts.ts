/**
 * Accounts, scopes and userpass identities (`/accounts`, `/scopes`, `/identities`).
 * @module
 */
import { scopeProblem } from '../../../core/did.js';
import { jsonParameters, paramGet, route, type Ctx, type Route } from '../router.js';
import type { RouteEnv } from '../router.js';
import { accountDict, ruleDict } from '../views.js';
import { created, flaskJson, jsonResponse, NDJSON, pyJson, redirect303, RucioError, streamResponse } from '../wire.js';
import { compare } from '../state.js';

const ACCOUNT_TYPES = ['USER', 'GROUP', 'SERVICE'];

/** Create an account as `add_account` does; with an `issuer`, only root may (REST), none when seeding. */
export function addAccount(env: RouteEnv, issuer: string | undefined, name: string, type: string, email: string | null, admin = false): void {
  const { store } = env;
  if (!/^[a-z0-9-_]+$/.test(name) || name.length > 25) throw new RucioError(400, 'InvalidObject', `Problem validating account: '${name}' does not match '^[a-z0-9-_]+$'`);
  if (!ACCOUNT_TYPES.includes(type.toUpperCase())) throw new RucioError(400, 'InvalidAccountType', `${type} is an invalid account type. Choose from ['USER', 'GROUP', 'SERVICE']`);
  if (issuer !== undefined && issuer !== 'root') throw new RucioError(401, 'AccessDenied', `Account ${issuer} can not add account. `);
  if (store.accounts.has(name)) throw new RucioError(409, 'Duplicate', `Account ID '${name}' already exists!`);
  const now = store.now();
  store.accounts.set(name, { account: name, type: type.toUpperCase(), email, status: 'ACTIVE', admin, createdAt: now, updatedAt: now });
}

/** Create a scope as `add_scope` does; with an `issuer`, only root or the owner may (REST). */
export function addScope(env: RouteEnv, issuer: string | undefined, account: string, scope: string): void {
  const { store } = env;
  if (scopeProblem(scope)) throw new RucioError(400, 'InvalidObject', `Problem validating scope: '${scope}' does not match '^[a-zA-Z_\\\\-.0-9]+$'`);
  if (issuer !== undefined && issuer !== 'root' && issuer !== account) throw new RucioError(401, 'AccessDenied', `Account ${issuer} can not add scope. `);
  if (!store.accounts.has(account)) throw new RucioError(404, 'AccountNotFound', `Account ID '${account}' does not exist`);
  if (store.scopes.has(scope)) throw new RucioError(409, 'Duplicate', `Scope '${scope}' already exists!`);
  store.scopes.set(scope, account);
}

function scopesOf(ctx: Ctx, message: string): Response {
  const { account = '' } = ctx.params;
  const { store } = ctx.env;
  if (!store.accounts.has(account)) throw new RucioError(404, 'AccountNotFound', `Account ID '${account}' does not exist`);
  const scopes = [...store.scopes].filter(([, owner]) => owner === account).map(([s]) => s).sort(compare);
  if (!scopes.length) throw new RucioError(404, 'ScopeNotFound', message);
  return jsonResponse(flaskJson(scopes));
}

function accountGet(ctx: Ctx): Response {
  const { account = '' } = ctx.params;
  if (account === 'whoami') return redirect303(ctx.issuer);
  const record = ctx.env.store.accounts.get(account);
  if (!record) throw new RucioError(404, 'AccountNotFound', `Account with ID '${account}' cannot be found`);
  return jsonResponse(pyJson(accountDict(record)));
}

async function accountPost(ctx: Ctx): Promise<Response> {
  const params = await jsonParameters(ctx);
  const type = paramGet(params, 'type');
  const email = paramGet(params, 'email');
  addAccount(ctx.env, ctx.issuer, ctx.params.account ?? '', String(type), email === null ? null : String(email));
  return created();
}

function postScope(ctx: Ctx, strict: boolean): Response {
  try {
    addScope(ctx.env, ctx.issuer, ctx.params.account ?? '', ctx.params.scope ?? '');
  } catch (error) {
    // The /scopes view only catches Duplicate and AccountNotFound; the rest ends up as 500.
    if (strict || !(error instanceof RucioError) || error.status === 409 || error.status === 404) throw error;
    throw new RucioError(500, error.exceptionClass, error.message);
  }
  return created();
}

function putUserpass(ctx: Ctx): Response {
  const { store } = ctx.env;
  const account = ctx.params.account ?? '';
  const h = ctx.request.headers;
  const username = h.get('X-Rucio-Username');
  const password = h.get('X-Rucio-Password');
  const email = h.get('X-Rucio-Email');
  if (!username || !password || !email) throw new RucioError(400, 'ValueError', 'Username, Email and Password must be set.');
  if (ctx.issuer !== 'root' && ctx.issuer !== account) throw new RucioError(500, 'AccessDenied', `Account ${ctx.issuer} can not add account identity. `);
  if (!store.accounts.has(account)) throw new RucioError(500, 'AccountNotFound', `Account with ID '${account}' cannot be found`);
  const identity = store.identities.get(username) ?? { password, accounts: [] };
  identity.password = password;
  if (!identity.accounts.includes(account)) identity.accounts.push(account);
  store.identities.set(username, identity);
  return created();
}

function accountRules(ctx: Ctx): Promise<Response> {
  const { store, judge } = ctx.env;
  judge.sweep();
  const rules = [...store.rules.values()].filter((r) => r.account === ctx.params.account);
  return streamResponse(
    rules.map((r) => `${pyJson(ruleDict(r, store.getDid(r.scope, r.name)?.bytes ?? null))}\n`),
    NDJSON,
  );
}

function setLimit(ctx: Ctx): Response {
  // Quotas are not enforced by the emulator; the call is validated and accepted.
  const { store } = ctx.env;
  if (!store.isAdmin(ctx.issuer)) throw new RucioError(401, 'AccessDenied', `Account ${ctx.issuer} can not set account limits.`);
  store.requireRse(ctx.params.rse ?? '');
  if (!store.accounts.has(ctx.params.account ?? '')) throw new RucioError(404, 'AccountNotFound', `Account with ID '${ctx.params.account}' cannot be found`);
  return ctx.request.method === 'POST' ? created() : new Response(null, { status: 200 });
}

const JSON_ONLY = { GET: ['application/json'] };

/** Routes of `/accounts`, `/scopes` and `/identities`. */
export const accountRoutes: Route[] = [
  route(['GET', 'POST'], /^\/accounts\/(?<account>[^/]+)$/, (ctx) => (ctx.request.method === 'GET' ? accountGet(ctx) : accountPost(ctx)), { accept: JSON_ONLY }),
  route('GET', /^\/accounts\/(?<account>[^/]+)\/scopes\/$/, (ctx) => scopesOf(ctx, `no scopes found for account ID '${ctx.params.account}'`), { accept: JSON_ONLY }),
  route('POST', /^\/accounts\/(?<account>[^/]+)\/scopes\/(?<scope>[^/]+)$/, (ctx) => postScope(ctx, true)),
  route('GET', /^\/accounts\/(?<account>[^/]+)\/rules$/, accountRules, { accept: { GET: [NDJSON] } }),
  route(['POST', 'DELETE'], /^\/accounts\/(?<account>[^/]+)\/limits\/local\/(?<rse>[^/]+)$/, setLimit),
  route('GET', /^\/scopes\/$/, (ctx) => jsonResponse(flaskJson([...ctx.env.store.scopes.keys()].sort(compare))), { accept: JSON_ONLY }),
  route('GET', /^\/scopes\/(?<account>[^/]+)\/scopes$/, (ctx) => scopesOf(ctx, `no scopes found for account '${ctx.params.account}'`), { accept: JSON_ONLY }),
  route('POST', /^\/scopes\/(?<account>[^/]+)\/(?<scope>[^/]+)$/, (ctx) => postScope(ctx, false)),
  route('PUT', /^\/identities\/(?<account>[^/]+)\/userpass$/, putUserpass),
];

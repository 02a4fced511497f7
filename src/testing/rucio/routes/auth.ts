/**
 * `/ping` and the `/auth` blueprint (userpass login and token validation). The auth views write
 * their own CORS headers, expose the token headers, and answer `application/octet-stream`.
 * @module
 */
import { pyString } from '../../../rucio/python-literal.js';
import { formatRfc1123 } from '../../../core/dates.js';
import { route, type Ctx, type Route } from '../router.js';
import { errorResponse, fixedResponse, flaskJson, jsonResponse, OCTET, pyDatetimeRepr, pyJson, RucioError } from '../wire.js';

const EXPOSE_LOGIN = 'X-Rucio-Auth-Token, X-Rucio-Auth-Token-Expires, X-Rucio-Auth-Account, X-Rucio-Auth-Accounts';

/** `get_headers()` of the auth views plus the headers their GET adds. */
function authHeaders(ctx: Ctx, expose: string): Headers {
  const h = new Headers();
  const origin = ctx.env.allowOrigin(ctx.request);
  if (origin !== undefined) h.set('Access-Control-Allow-Origin', origin);
  h.set('Access-Control-Allow-Headers', ctx.request.headers.get('Access-Control-Request-Headers') ?? 'None');
  h.set('Access-Control-Allow-Methods', '*');
  h.set('Access-Control-Allow-Credentials', 'true');
  h.set('Access-Control-Expose-Headers', expose);
  h.set('Content-Type', OCTET);
  h.set('Cache-Control', 'no-cache, no-store, max-age=0, must-revalidate');
  h.append('Cache-Control', 'post-check=0, pre-check=0');
  h.set('Pragma', 'no-cache');
  return h;
}

function userpass(ctx: Ctx): Response {
  const { store } = ctx.env;
  const headers = authHeaders(ctx, EXPOSE_LOGIN);
  const fail = (cls: string, msg: string) => errorResponse(new RucioError(401, cls, msg), headers);
  const h = ctx.request.headers;
  const username = h.get('X-Rucio-Username');
  const password = h.get('X-Rucio-Password');
  if (!username || !password) return fail('CannotAuthenticate', 'Cannot authenticate without passing all required arguments');
  const identity = store.identities.get(username);
  let account = h.get('X-Rucio-Account');
  if (!account) {
    if (!identity || identity.password !== password) return fail('IdentityNotFound', 'Cannot authenticate. Username/Password pair does not exist.');
    if (identity.accounts.length > 1) {
      headers.set('X-Rucio-Auth-Accounts', identity.accounts.join(','));
      return fixedResponse(206, pyJson(identity.accounts), OCTET, headers);
    }
    account = identity.accounts[0] ?? '';
  }
  if (!identity || !identity.accounts.includes(account) || identity.password !== password || !store.accounts.has(account)) {
    return fail('CannotAuthenticate', `Cannot authenticate to account ${account} with given credentials`);
  }
  const token = ctx.env.issueToken(account, username, h.get('X-Rucio-AppID') ?? 'unknown');
  headers.set('X-Rucio-Auth-Account', account);
  headers.set('X-Rucio-Auth-Token', token);
  headers.set('X-Rucio-Auth-Token-Expires', formatRfc1123(store.tokens.get(token)?.expiresAt as Date));
  return fixedResponse(200, '', null, headers);
}

async function validate(ctx: Ctx): Promise<Response> {
  const token = ctx.request.headers.get('X-Rucio-Auth-Token');
  if (!token) throw new RucioError(400, 'ValueError', 'Token must be set.');
  // validate_auth_token takes OIDC JWTs as well as Rucio's own tokens.
  await ctx.env.authenticateToken(token.trim());
  const record = ctx.env.store.tokens.get(token.trim());
  // validate_auth_token raises outside the view's handlers: the generic handler answers 500.
  if (!record) throw new RucioError(500, 'CannotAuthenticate', 'NoneType: None\n');
  if (record.expiresAt <= ctx.env.store.now()) throw new RucioError(500, 'CannotAuthenticate', `Token found but expired since ${formatRfc1123(record.expiresAt)}.`);
  const text = (v: string | undefined) => (v === undefined ? 'None' : pyString(v));
  const repr = `{'account': ${pyString(record.account)}, 'identity': ${pyString(record.identity)}, 'lifetime': ${pyDatetimeRepr(record.expiresAt)}, 'audience': ${text(record.audience)}, 'authz_scope': ${text(record.scope)}, 'vo': 'def'}`;
  return fixedResponse(200, repr, null, authHeaders(ctx, 'X-Rucio-Auth-Token'));
}

/** Routes of `/ping` and `/auth`. */
export const authRoutes: Route[] = [
  route('GET', /^\/ping\/?$/, (ctx) => jsonResponse(flaskJson({ version: ctx.env.version })), { auth: false, accept: { GET: ['application/json'] } }),
  route('GET', /^\/auth\/userpass$/, userpass, { auth: false, ownHeaders: true, accept: { GET: [OCTET] } }),
  route('GET', /^\/auth\/validate$/, validate, { auth: false, ownHeaders: true, accept: { GET: [OCTET] } }),
];

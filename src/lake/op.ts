/**
 * A real OpenID Provider (npm `oidc-provider`) on 127.0.0.1 for tests, demos and the runtime matrix.
 * Free of vitest imports so that any script can reuse it; the embedded local Data Lake (`dlaas lake`,
 * `npm run demo`) runs it as its identity provider.
 *
 * Clients:
 * - `dlaas-cli`: public; device authorization grant + refresh (RFC 8628).
 * - `dlaas-app`: public native app; authorization code + PKCE, loopback redirect on any port, + refresh.
 * - `dlaas-web`: public browser app; authorization code + PKCE to `https://app.dlaas.test/callback` + refresh.
 * - `dlaas-service`: confidential (`client_secret_basic`/`_post`); client credentials and RFC 8693
 *   token exchange (registered as a custom grant).
 * - `esap-gui`: public; token exchange only (the ESAP frontend example trades the user's token for one for Rucio).
 *
 * Access tokens are JWTs for the resource `RUCIO_RESOURCE` with audience `rucio` and the granted
 * `openid profile …` scope, as ESCAPE IAM issues them for Rucio; accounts get `wlcg.groups`.
 *
 * @example
 * ```ts
 * const op = await startTestOP();
 * // ... oauth flows against op.issuer ...
 * await op.close();
 * ```
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose';
// `oidc-provider` is loaded when an OP starts (a development dependency: `dlaas lake` asks for it when missing).
import type Provider from 'oidc-provider';
import type { KoaContextLike } from 'oidc-provider';

/** The resource indicator that yields audience-`rucio` JWT access tokens. */
export const RUCIO_RESOURCE = 'https://rucio.dlaas.test/';
/** RFC 8693 grant type. */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8628 grant type. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** Scopes the Rucio resource server knows. */
export const RUCIO_SCOPES = 'openid profile email offline_access wlcg.groups';
/** The WLCG token profile's audience for any storage element, and the storage scopes the OP grants with it. */
export const WLCG_ANY_AUDIENCE = 'https://wlcg.cern.ch/jwt/v1/any';
export const STORAGE_SCOPES = 'storage.read:/ storage.create:/ storage.modify:/';

/** Client registrations of the test OP. */
export const TEST_CLIENTS = {
  device: { clientId: 'dlaas-cli' },
  app: { clientId: 'dlaas-app', redirectUri: 'http://127.0.0.1/callback' },
  web: { clientId: 'dlaas-web', redirectUri: 'https://app.dlaas.test/callback' },
  service: { clientId: 'dlaas-service', clientSecret: 'svc-secret-0123456789abcdef' },
  /** A web frontend (the ESAP GUI example) that exchanges the user's token for one for Rucio; public, CORS via `corsOrigins`. */
  exchange: { clientId: 'esap-gui' },
} as const;

/** Options of {@link startTestOP}. */
export interface TestOPOptions {
  /** Access token lifetime in seconds (default 600). */
  accessTokenTTL?: number;
  /** Answer this many device-code polls with `slow_down` before the grant proceeds (default 0). */
  slowDownPolls?: number;
  /** Sub-path of the issuer, e.g. `/realms/escape/` (default: the origin, no trailing slash). */
  issuerPath?: string;
  /**
   * More redirect URIs of the browser client `dlaas-web` (e.g. a test page's `http://127.0.0.1:<port>/callback`).
   * The OP answers CORS requests from the origins of the client's redirect URIs, as IAM does for registered apps.
   */
  webRedirectUris?: readonly string[];
  /** More origins the OP answers CORS requests from (e.g. an extension's `chrome-extension://<id>`). */
  corsOrigins?: readonly string[];
  /** Port on 127.0.0.1 (default: a free one). */
  port?: number;
}

/** A running test OP. */
export interface TestOP {
  /** The issuer identifier (exact, as in tokens and discovery). */
  issuer: string;
  /** The `oidc-provider` instance. */
  provider: Provider;
  /** Public JWKS of the OP (what `jwks_uri` serves). */
  jwks: { keys: JWK[] };
  /** Approve a pending device authorization headlessly (as `accountId`, with the requested scope). */
  approveDevice(userCode: string, accountId: string): Promise<void>;
  /** Answer the next `polls` device-code polls with `slow_down`. */
  slowDown(polls: number): void;
  /** Deny a pending device authorization (`access_denied`). */
  denyDevice(userCode: string): Promise<void>;
  /**
   * Play the user's browser: follow an authorization URL through the real login and consent pages
   * (cookies kept, forms parsed and submitted) until the OP redirects to the client; returns that
   * redirect URL (with `code`/`state` or `error`). Nothing is mocked.
   */
  browse(authorizationUrl: string | URL, accountId: string): Promise<URL>;
  /** Stop the server. */
  close(): Promise<void>;
}

/** The `oidc-provider` module, or an error saying how to get it. */
async function loadOidcProvider(): Promise<typeof import('oidc-provider')> {
  try {
    return await import('oidc-provider');
  } catch (error) {
    throw new Error(`the local OpenID Provider needs the npm package oidc-provider (npm install --save-dev oidc-provider): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/**
 * Approve a device login the way its user does in a browser, from another process than the OP's:
 * open `verificationUriComplete`, confirm the code, sign in as `accountId` (the development login
 * page takes any password) and consent. Resolves with the page it ends on (the OP's success page).
 */
export function approveDeviceInBrowser(verificationUriComplete: string | URL, accountId: string): Promise<URL> {
  const url = new URL(verificationUriComplete);
  return browse(url, accountId, url.origin, true);
}

/** Pick a free port on 127.0.0.1 (the issuer URL must contain it before the provider exists). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** Listen on 127.0.0.1:`port`. */
export function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** Close a server, dropping keep-alive connections. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Start the OP on a free loopback port. */
export async function startTestOP(options: TestOPOptions = {}): Promise<TestOP> {
  const ttl = options.accessTokenTTL ?? 600;
  const { default: Provider, errors } = await loadOidcProvider();
  const port = options.port || (await freePort());
  const issuer = `http://127.0.0.1:${port}${options.issuerPath ? options.issuerPath.replace(/\/?$/, '/') : ''}`;
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `test-${port}`;
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const publicJwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] };
  const ownKeys = createLocalJWKSet(publicJwks);
  const wlcg = (accountId: string | undefined) => (accountId ? { 'wlcg.ver': '1.0', 'wlcg.groups': ['/escape', `/escape/${accountId}`] } : undefined);
  const rucioServer = { scope: RUCIO_SCOPES, audience: 'rucio', accessTokenFormat: 'jwt', accessTokenTTL: ttl };
  const storageServer = { scope: STORAGE_SCOPES, audience: WLCG_ANY_AUDIENCE, accessTokenFormat: 'jwt', accessTokenTTL: ttl };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: TEST_CLIENTS.device.clientId,
        token_endpoint_auth_method: 'none',
        grant_types: [DEVICE_CODE_GRANT, 'refresh_token'],
        response_types: [],
        redirect_uris: [],
      },
      {
        client_id: TEST_CLIENTS.app.clientId,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [TEST_CLIENTS.app.redirectUri],
      },
      {
        client_id: TEST_CLIENTS.web.clientId,
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [TEST_CLIENTS.web.redirectUri, ...(options.webRedirectUris ?? [])],
      },
      {
        client_id: TEST_CLIENTS.exchange.clientId,
        token_endpoint_auth_method: 'none',
        grant_types: [TOKEN_EXCHANGE_GRANT],
        response_types: [],
        redirect_uris: [],
      },
      {
        client_id: TEST_CLIENTS.service.clientId,
        client_secret: TEST_CLIENTS.service.clientSecret,
        grant_types: ['client_credentials', TOKEN_EXCHANGE_GRANT],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: { keys: [privateJwk] },
    cookies: { keys: ['dlaas-test-cookie-key'] },
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'] },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'wlcg.groups'],
    findAccount: (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: async () => ({ sub: id, name: `Test ${id}`, preferred_username: id, email: `${id}@escape.test`, email_verified: true }),
    }),
    features: {
      devInteractions: { enabled: true },
      deviceFlow: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RUCIO_RESOURCE,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, indicator: string) => {
          if (indicator === RUCIO_RESOURCE) return rucioServer;
          throw new errors.InvalidTarget();
        },
      },
    },
    extraTokenClaims: async (_ctx: unknown, token: { accountId?: string }) => wlcg(token.accountId),
    // oidc-provider's default: CORS for public clients from their redirect URIs' origins; plus `corsOrigins`.
    clientBasedCORS: (ctx: { oidc?: { route?: string } }, origin: string, client: { clientAuthMethod?: string; redirectUris?: string[] }) =>
      (options.corsOrigins ?? []).includes(origin) ||
      ((ctx.oidc?.route === 'userinfo' || client.clientAuthMethod === 'none') && (client.redirectUris ?? []).some((uri) => URL.parse(uri)?.origin === origin)),
    pkce: { required: () => true },
    ttl: {
      AccessToken: ttl,
      ClientCredentials: ttl,
      AuthorizationCode: 60,
      DeviceCode: 600,
      Grant: 3600,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: 86_400,
      Session: 86_400,
    },
  });

  // RFC 8693 token exchange, as ESCAPE IAM does it for the VRE hub: audience `rucio` from a user's token.
  provider.registerGrantType(
    TOKEN_EXCHANGE_GRANT,
    async (ctx: KoaContextLike) => {
      const p = ctx.oidc.params;
      if (p.subject_token_type !== ACCESS_TOKEN_TYPE) throw new errors.InvalidRequest('unsupported subject_token_type');
      let sub: string;
      try {
        const { payload } = await jwtVerify(String(p.subject_token), ownKeys, { issuer });
        if (typeof payload.sub !== 'string' || payload.client_id === payload.sub) throw new Error('no user subject');
        sub = payload.sub;
      } catch {
        throw new errors.InvalidGrant('subject_token is invalid');
      }
      const audiences = ([] as (string | undefined)[]).concat(p.audience);
      // Audience `rucio` (the hub's exchange) or the WLCG storage audience (a storage token), not both.
      const forStorage = audiences.length === 1 && audiences[0] === WLCG_ANY_AUDIENCE;
      if (!forStorage && audiences.some((a) => a !== undefined && a !== 'rucio')) throw new errors.InvalidTarget('unknown audience');
      const requested = typeof p.scope === 'string' ? p.scope.split(' ') : ['openid', 'profile'];
      const scope = requested.filter((s) => (forStorage ? STORAGE_SCOPES : RUCIO_SCOPES).split(' ').includes(s)).join(' ');
      const token = new provider.AccessToken({
        accountId: sub,
        client: ctx.oidc.client,
        gty: 'token_exchange',
        scope,
        resourceServer: forStorage ? new provider.ResourceServer(WLCG_ANY_AUDIENCE, storageServer) : new provider.ResourceServer(RUCIO_RESOURCE, rucioServer),
      });
      const value = await token.save();
      ctx.body = { access_token: value, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: token.expiration, scope };
    },
    ['subject_token', 'subject_token_type', 'audience', 'resource', 'scope', 'requested_token_type', 'actor_token', 'actor_token_type'],
    ['audience', 'resource'],
  );

  let slowDowns = options.slowDownPolls ?? 0;
  provider.use(async (ctx, next) => {
    if (slowDowns > 0 && ctx.method === 'POST' && ctx.path.endsWith('/token')) {
      const body = await peekForm(ctx);
      if (body.get('grant_type') === DEVICE_CODE_GRANT) {
        slowDowns--;
        ctx.status = 400;
        ctx.type = 'json';
        ctx.body = { error: 'slow_down', error_description: 'poll less often' };
        return;
      }
    }
    await next();
  });

  const server = createServer(provider.callback());
  await listen(server, port);

  async function findDevice(userCode: string) {
    const dc = await provider.DeviceCode.findByUserCode(userCode.replace(/\W/g, '').toUpperCase());
    if (!dc) throw new Error(`test OP: no pending device code for ${userCode}`);
    return dc;
  }

  return {
    issuer,
    provider,
    jwks: publicJwks,
    async approveDevice(userCode, accountId) {
      const dc = await findDevice(userCode);
      const grant = new provider.Grant({ clientId: TEST_CLIENTS.device.clientId, accountId });
      const scope = String(dc.params?.scope ?? 'openid');
      grant.addOIDCScope(scope);
      grant.addResourceScope(RUCIO_RESOURCE, scope);
      dc.scope = scope;
      dc.accountId = accountId;
      dc.resource ??= RUCIO_RESOURCE;
      dc.grantId = await grant.save();
      dc.authTime = Math.floor(Date.now() / 1000);
      await dc.save();
    },
    async denyDevice(userCode) {
      const dc = await findDevice(userCode);
      dc.error = 'access_denied';
      dc.errorDescription = 'End-User aborted interaction';
      await dc.save();
    },
    slowDown: (polls) => void (slowDowns = polls),
    browse: (url, accountId) => browse(new URL(url), accountId, issuer),
    close: () => closeServer(server),
  };
}

// Koa has not parsed the body yet when our middleware runs: read it and leave it on `req.body`,
// which oidc-provider's body parser uses once the stream is consumed.
async function peekForm(ctx: KoaContextLike): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  Object.assign(ctx.req, { body: raw });
  return new URLSearchParams(raw);
}

/** A minimal cookie-keeping user agent that submits the OP's own HTML forms. */
async function browse(start: URL, accountId: string, issuer: string, endOnPage = false): Promise<URL> {
  const jar = new Map<string, string>();
  const origin = new URL(issuer).origin;
  let url = start;
  let method = 'GET';
  let body: URLSearchParams | undefined;
  for (let step = 0; step < 20; step++) {
    if (url.origin !== origin) return url; // the OP redirected back to the client
    const res = await fetch(url, {
      method,
      redirect: 'manual',
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(body ? { body: body.toString() } : {}),
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = (pair ?? '').indexOf('=');
      if (eq > 0) jar.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.body?.cancel();
      url = new URL(location, url);
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`test OP browser: ${res.status} at ${url.pathname}: ${html.slice(0, 300)}`);
    const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
    if (!form) {
      if (endOnPage) return url;
      throw new Error(`test OP browser: no form at ${url.pathname}`);
    }
    const fields = new URLSearchParams();
    for (const input of form[2]!.matchAll(/<input([^>]*)>/gi)) {
      const name = /name="([^"]*)"/.exec(input[1]!)?.[1];
      const value = /value="([^"]*)"/.exec(input[1]!)?.[1] ?? '';
      if (name) fields.set(name, value.replace(/&amp;/g, '&'));
    }
    if (fields.get('prompt') === 'login') {
      fields.set('login', accountId);
      fields.set('password', 'any');
    }
    url = new URL(form[1]!.replace(/&amp;/g, '&'), url);
    method = 'POST';
    body = fields;
  }
  throw new Error('test OP browser: too many steps');
}

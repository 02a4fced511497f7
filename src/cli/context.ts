/**
 * Configuration, identity and the SDK for one CLI invocation.
 *
 * Settings use the names the Rucio CLI and the Rucio JupyterLab extension use where they overlap:
 * `RUCIO_BASE_URL` / `--host`, `RUCIO_AUTH_URL` / `--auth-host`, `RUCIO_ACCOUNT` / `--account`,
 * `RUCIO_VO` / `--vo`, `RUCIO_DESTINATION_RSE`, `RUCIO_MODE`, `RUCIO_RSE_MOUNT_PATH`,
 * `RUCIO_PATH_BEGINS_AT`, `RUCIO_ACCESS_TOKEN` (`RUCIO_OIDC_ENV_NAME`, `RUCIO_OIDC_FILE_NAME`), and
 * `ESAP_URL`, `OIDC_ISSUER` / `--oidc-issuer`, `OIDC_CLIENT_ID`, `OIDC_SCOPE` / `--oidc-scope`,
 * `OIDC_AUDIENCE` / `--oidc-audience`. Command-line options win over the environment.
 * @module
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { OidcClient, OidcSession, TokenStore } from 'dlaas';
import type { ConfiguredDataLake, NodeDataLakeOptions } from 'dlaas/node';
import type { ConfiguredRucioLake, RucioOverrides } from '../node/datalake-core.js';
import type { Io } from './output.js';
import { ConfigError, NoTokenError, TokenExpiredError, isJwt, tokenExpiry } from './sdk-core.js';

/** Global options, as parsed. */
export interface GlobalOptions {
  host?: string | undefined;
  'auth-host'?: string | undefined;
  account?: string | undefined;
  vo?: string | undefined;
  'esap-url'?: string | undefined;
  'oidc-issuer'?: string | undefined;
  'oidc-client-id'?: string | undefined;
  'oidc-scope'?: string | undefined;
  'oidc-audience'?: string | undefined;
  'token-store'?: string | undefined;
  'http-timeout'?: string | undefined;
}

/** The default public client id of the CLI at the OpenID Provider. */
export const DEFAULT_CLIENT_ID = 'dlaas-cli';
/** Scopes a login asks for (Rucio wants `openid profile`; `offline_access` keeps the CLI logged in). */
export const DEFAULT_SCOPE = 'openid profile offline_access wlcg.groups';
const LOGIN_KEY = 'dlaas:cli:login';

/** The environment with the command-line options applied on top. */
export function effectiveEnv(io: Io, o: GlobalOptions): Record<string, string | undefined> {
  const env = { ...io.env };
  const set = (name: string, value: string | undefined) => {
    if (value !== undefined) env[name] = value;
  };
  set('RUCIO_BASE_URL', o.host);
  set('RUCIO_AUTH_URL', o['auth-host']);
  set('RUCIO_ACCOUNT', o.account);
  set('RUCIO_VO', o.vo);
  set('ESAP_URL', o['esap-url']);
  set('OIDC_ISSUER', o['oidc-issuer']);
  set('OIDC_CLIENT_ID', o['oidc-client-id']);
  set('OIDC_SCOPE', o['oidc-scope']);
  set('OIDC_AUDIENCE', o['oidc-audience']);
  set('DLAAS_TOKEN_STORE', o['token-store']);
  set('DLAAS_HTTP_TIMEOUT', o['http-timeout']);
  return env;
}

/** Where `dlaas login` keeps tokens: `$DLAAS_TOKEN_STORE`, else `$XDG_CONFIG_HOME/dlaas/tokens.json` (mode 0600). */
export function tokenStorePath(io: Io, env: Record<string, string | undefined>): string {
  const explicit = env.DLAAS_TOKEN_STORE;
  if (explicit) return isAbsolute(explicit) ? explicit : resolve(io.cwd, explicit);
  const config = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(config, 'dlaas', 'tokens.json');
}

/** The identity of the last `dlaas login`. */
export interface LoginRecord {
  issuer: string;
  clientId: string;
}

/** The OIDC client for logins: issuer and client from options/env, else from the last login. */
export async function oidcClient(io: Io, env: Record<string, string | undefined>, store: TokenStore, required: boolean): Promise<OidcClient | undefined> {
  let issuer = env.OIDC_ISSUER;
  let clientId = env.OIDC_CLIENT_ID;
  if (!issuer) {
    const saved = await store.get(LOGIN_KEY);
    if (saved) {
      const rec = JSON.parse(saved) as LoginRecord;
      issuer = rec.issuer;
      clientId ??= rec.clientId;
    }
  }
  if (!issuer) {
    if (required) throw new ConfigError('OIDC_ISSUER', 'No OpenID Provider configured: set OIDC_ISSUER (e.g. https://iam-escape.cloud.cnaf.infn.it/) or pass --oidc-issuer');
    return undefined;
  }
  const { OidcClient } = await import('./sdk-oidc.js');
  return new OidcClient({ issuer, clientId: clientId || DEFAULT_CLIENT_ID, store, allowInsecureLoopback: true });
}

/** Remember which issuer and client the stored session belongs to. */
export async function saveLogin(store: TokenStore, client: OidcClient): Promise<void> {
  await store.set(LOGIN_KEY, JSON.stringify({ issuer: client.issuer, clientId: client.clientId } satisfies LoginRecord));
}

/** Forget the login record. */
export async function forgetLogin(store: TokenStore): Promise<void> {
  await store.delete(LOGIN_KEY);
}

/** The token store of this invocation. */
export async function openStore(io: Io, env: Record<string, string | undefined>): Promise<{ store: TokenStore; path: string }> {
  const path = tokenStorePath(io, env);
  const { fileStore } = await import('./sdk-oidc.js');
  return { store: fileStore(path), path };
}

/** `--http-timeout SECONDS` / `DLAAS_HTTP_TIMEOUT`: how long one Rucio request may wait for an answer (default 30 s). */
export function httpTimeoutMs(env: Record<string, string | undefined>): number | undefined {
  const raw = env.DLAAS_HTTP_TIMEOUT?.trim();
  if (!raw) return undefined;
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0) throw new ConfigError('DLAAS_HTTP_TIMEOUT', `--http-timeout / DLAAS_HTTP_TIMEOUT must be a number of seconds > 0 (got ${JSON.stringify(raw)})`);
  return Math.round(s * 1000);
}

/** The environment's token, when it is a JWT whose `exp` passed (30 s of clock skew allowed). */
function expiredEnvToken(env: Record<string, string | undefined>): { name: string; at: Date } | undefined {
  for (const name of [env.RUCIO_OIDC_ENV_NAME || 'RUCIO_ACCESS_TOKEN', 'BEARER_TOKEN']) {
    const token = env[name]?.trim();
    if (!token) continue;
    if (!isJwt(token)) return undefined;
    const at = tokenExpiry(token);
    return at && at.getTime() + 30_000 <= Date.now() ? { name, at } : undefined;
  }
  return undefined;
}

const hasExplicitToken = (env: Record<string, string | undefined>) => Boolean(env[env.RUCIO_OIDC_ENV_NAME || 'RUCIO_ACCESS_TOKEN']?.trim() || env.BEARER_TOKEN?.trim() || env.BEARER_TOKEN_FILE?.trim());

/** How {@link openLake} was asked to print. */
type OpenMode = { json?: boolean; verbose?: boolean };
/** What {@link openLake} and {@link openRucio} give. */
interface Opened<L> {
  lake: L;
  env: Record<string, string | undefined>;
  session: OidcSession | undefined;
}

/**
 * The SDK with this invocation's identity: a token in the environment wins; else the session of
 * `dlaas login`; else the other places a hub puts tokens (token file, JupyterHub, WLCG discovery).
 * The whole SDK (staging, ESAP, files) is loaded here, when a command needs it: see {@link openRucio}.
 */
export function openLake(io: Io, o: GlobalOptions, mode: OpenMode = {}): Promise<Opened<ConfiguredDataLake>> {
  return open(io, o, mode, async () => (await import('./sdk-full.js')).createDataLake);
}

/**
 * {@link openLake} for commands that use only Rucio (`whoami`, `ls`, `rule …`): the same
 * configuration, identity and checks, with `lake.rucio`, `lake.auth` and `lake.config` only, so they
 * start without loading the rest of the SDK.
 */
export function openRucio(io: Io, o: GlobalOptions, mode: OpenMode = {}): Promise<Opened<ConfiguredRucioLake>> {
  return open(io, o, mode, async () => (await import('./sdk-rucio.js')).createRucioLake);
}

/**
 * What the CLI lays over the configuration's Rucio options: its HTTP timeout, and `fetch` on
 * node:http (see nodeFetch: a short process would wait for Node's fetch to recompile its HTTP
 * parser before it can exit).
 */
export async function rucioOverrides(env: Record<string, string | undefined>): Promise<RucioOverrides> {
  const { nodeFetch } = await import('../node/node-fetch.js');
  const timeout = httpTimeoutMs(env);
  return { fetch: nodeFetch(), ...(timeout !== undefined ? { timeout } : {}) };
}

async function open<L extends ConfiguredRucioLake>(io: Io, o: GlobalOptions, mode: OpenMode, load: () => Promise<(options: NodeDataLakeOptions, overrides?: RucioOverrides) => Promise<L>>): Promise<Opened<L>> {
  const env = effectiveEnv(io, o);
  let session: OidcSession | undefined;
  const expired = expiredEnvToken(env);
  if (!hasExplicitToken(env) || expired) {
    const { store } = await openStore(io, env);
    const client = await oidcClient(io, env, store, false);
    session = client ? await client.restoreSession() : undefined;
  }
  if (expired) {
    // A token the environment still holds but that expired (a hub's, from an earlier session): say so, and when.
    if (!session) throw new TokenExpiredError(expired.at, `env:${expired.name}`);
    if (!mode.json) io.stderr.write(`dlaas: ${expired.name} expired at ${expired.at.toISOString().slice(0, 19).replace('T', ' ')} UTC; using the \`dlaas login\` session (${session.issuer}) instead\n`);
  }
  const auth = session ? { auth: { token: session, source: `dlaas login (${session.issuer})` } } : {};
  const [createDataLake, overrides] = await Promise.all([load(), rucioOverrides(env)]);
  const lake = await createDataLake({ env, ...auth, config: { requireToken: false } }, overrides);
  const { timeout } = overrides;
  if (!lake.auth.token) {
    const tried = [`env:${env.RUCIO_OIDC_ENV_NAME || 'RUCIO_ACCESS_TOKEN'}`, 'env:BEARER_TOKEN', `dlaas login (${tokenStorePath(io, env)})`, 'token files, JupyterHub, WLCG discovery'];
    throw new NoTokenError(tried, 'Run `dlaas login` (with OIDC_ISSUER set), or set RUCIO_ACCESS_TOKEN.');
  }
  if (mode.verbose) {
    const c = lake.config;
    io.stderr.write(`dlaas: Rucio ${c.rucio.baseUrl}${c.rucio.authUrl ? ` (auth ${c.rucio.authUrl})` : ''}, account ${c.rucio.account ?? '(the token’s)'}, token from ${lake.auth.source ?? c.sources.token ?? '?'}${typeof timeout === 'number' ? `, HTTP timeout ${timeout / 1000} s` : ''}\n`);
  }
  return { lake, env, session };
}

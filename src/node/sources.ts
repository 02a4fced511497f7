/**
 * Token sources of notebooks and CLIs: environment variables, token files (re-read when the hub
 * rewrites them), JupyterHub's `auth_state`, WLCG bearer-token discovery, and `autoDetect()`
 * chaining them in the order a DLaaS notebook expects.
 * @module
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';
import { TokenSourceError } from '../auth/errors.js';
import { RUCIO_TOKEN } from '../auth/claims.js';
import { jupyterHubCandidate } from '../auth/jupyterhub.js';
import { SourceTokenProvider, envCandidate, type SourceOptions, type TokenCandidate } from '../auth/sources.js';
import { FileCheckError, effectiveUid, readTrusted } from './trusted-file.js';

/**
 * An environment (`process.env` by default).
 *
 * @example
 * ```ts
 * const token = fromEnv('RUCIO_ACCESS_TOKEN', { env: { RUCIO_ACCESS_TOKEN: jwt } satisfies Env });
 * ```
 */
export type Env = Readonly<Record<string, string | undefined>>;

/**
 * Variables `fromEnv()` reads by default, in order (as DLaaS: the hub's `RUCIO_ACCESS_TOKEN`, then WLCG's `BEARER_TOKEN`).
 *
 * @example
 * ```ts
 * const token = fromEnv([...DEFAULT_TOKEN_VARIABLES, 'MY_TOKEN']);
 * ```
 */
export const DEFAULT_TOKEN_VARIABLES: readonly string[] = Object.freeze(['RUCIO_ACCESS_TOKEN', 'BEARER_TOKEN']);
/**
 * Where the ESCAPE hub's `postStart` hook writes the Rucio token.
 *
 * @example
 * ```ts
 * const token = fromFile(DEFAULT_TOKEN_FILE);
 * ```
 */
export const DEFAULT_TOKEN_FILE = '/tmp/rucio_oauth.token';

const MAX_TOKEN_FILE = 64 * 1024;

/**
 * Options of the Node token sources.
 *
 * @example
 * ```ts
 * const token = fromFile('/tmp/rucio_oauth.token', { env: process.env, skew: 30 });
 * ```
 */
export interface NodeSourceOptions extends SourceOptions {
  /** The environment (default `process.env`). */
  env?: Env | undefined;
}

/**
 * Options of {@link fileCandidate}.
 *
 * @example
 * ```ts
 * const candidate = fileCandidate('/run/secrets/token', { required: true } satisfies FileCandidateOptions);
 * ```
 */
export interface FileCandidateOptions {
  /** A missing file is a {@link TokenSourceError} `missing` (default: the candidate is skipped). */
  required?: boolean | undefined;
  /** The user the file must belong to (default: the effective user; root-owned files are accepted too). */
  uid?: number | undefined;
  /**
   * Accept a file that group and others may read (never one they may write). Default `false`: like
   * XRootD's token discovery, a token file must be private (mode 0600 or 0400).
   */
  readableByOthers?: boolean | undefined;
}

/**
 * A token file as a candidate. Missing: skipped, or {@link TokenSourceError} `missing` when
 * `required`; unreadable (permissions, a directory, too large): `unreadable`. Its fingerprint
 * (inode, mtime, size) lets the provider notice when the file is rewritten.
 *
 * A file another user could have planted or can read is refused with `insecure`, naming the file,
 * the reason and the fix (the token is never read): owned by another user than `uid` (or root); a
 * symbolic link in a directory others may write to (such as `/tmp`); readable or writable by group
 * or others (`chmod 600`), unless `readableByOthers` (then only writable is refused). Not checked
 * where the runtime has no user ids (Windows).
 *
 * @example
 * ```ts
 * const provider = new SourceTokenProvider(() => [fileCandidate('/run/secrets/token', { required: true })]);
 * ```
 */
export function fileCandidate(path: string, options: FileCandidateOptions = {}): TokenCandidate {
  const source = `file:${path}`;
  const fingerprint = (s: { ino: number; mtimeMs: number; ctimeMs: number; size: number }) => `${s.ino}:${s.mtimeMs}:${s.ctimeMs}:${s.size}`;
  const trust = { uid: options.uid, deny: options.readableByOthers ? 0o022 : 0o077, maxBytes: MAX_TOKEN_FILE };
  return {
    source,
    async read() {
      let read;
      try {
        read = await readTrusted(path, trust);
      } catch (error) {
        if (!(error instanceof FileCheckError)) throw error;
        throw new TokenSourceError(source, error.problem === 'too-large' ? 'malformed' : error.problem, error.message, { cause: error.cause });
      }
      if (!read) {
        if (!options.required) return undefined;
        throw new TokenSourceError(source, 'missing', 'does not exist');
      }
      return { text: read.text, version: fingerprint(read.stats) };
    },
    async probe() {
      try {
        return fingerprint(await stat(path));
      } catch {
        return undefined;
      }
    },
  };
}

function envOf(options: { env?: Env | undefined }): Env {
  return options.env ?? process.env;
}

/**
 * A token from environment variables (the first non-empty of `names`; default `RUCIO_ACCESS_TOKEN`,
 * `BEARER_TOKEN`), whitespace stripped, re-read on every refresh. `source` names the variable used.
 *
 * @example
 * ```ts
 * import { fromEnv } from 'dlaas/node';
 * const rucio = new RucioClient({ baseUrl, token: fromEnv() });
 * ```
 */
export function fromEnv(names: string | readonly string[] = DEFAULT_TOKEN_VARIABLES, options: NodeSourceOptions = {}): SourceTokenProvider {
  const env = envOf(options);
  const list = typeof names === 'string' ? [names] : [...names];
  const candidates = list.map((n) => envCandidate(env, n));
  return new SourceTokenProvider(() => candidates, { ...options, hint: `Set ${list.join(' or ')}.` });
}

/**
 * A token from a file (default: `RUCIO_OIDC_FILE_NAME`, else `/tmp/rucio_oauth.token`), re-read
 * whenever the file changes — hubs rewrite it when they refresh the token. Missing, unreadable or
 * malformed files throw {@link TokenSourceError}; the content is never quoted.
 *
 * The file must belong to the user (or root), and neither group nor others may write to it: else
 * it is refused (`insecure`, see {@link fileCandidate}). Others may read it: the DLaaS hubs write
 * this file with the default umask (mode 0644) inside the user's own single-user container.
 *
 * @example
 * ```ts
 * import { fromFile } from 'dlaas/node';
 * const token = fromFile('/tmp/rucio_oauth.token');
 * ```
 */
export function fromFile(path?: string, options: NodeSourceOptions = {}): SourceTokenProvider {
  const file = path ?? envOf(options).RUCIO_OIDC_FILE_NAME ?? DEFAULT_TOKEN_FILE;
  const candidate = fileCandidate(file, { required: true, readableByOthers: true });
  return new SourceTokenProvider(() => [candidate], { ...options, hint: `Write the token to ${file}.` });
}

/**
 * Options of {@link wlcgDiscovery}.
 *
 * @example
 * ```ts
 * const token = wlcgDiscovery({ uid: 1000 });
 * ```
 */
export interface WlcgDiscoveryOptions extends NodeSourceOptions {
  /** Effective user id for `bt_u<uid>`, and the user token files must belong to (default `process.geteuid()`). */
  uid?: number | undefined;
}

/**
 * @internal The WLCG bearer-token discovery order as candidates: `BEARER_TOKEN`; the file named by
 * `BEARER_TOKEN_FILE` (when set, the search ends there); `$XDG_RUNTIME_DIR/bt_u<uid>`; `/tmp/bt_u<uid>`.
 * Every file must be private to `uid` (see {@link wlcgDiscovery}).
 */
export function wlcgCandidates(env: Env, uid: number | undefined): TokenCandidate[] {
  const out = [envCandidate(env, 'BEARER_TOKEN')];
  if (env.BEARER_TOKEN_FILE) return [...out, fileCandidate(env.BEARER_TOKEN_FILE, { required: true, uid })];
  if (uid === undefined) return out;
  if (env.XDG_RUNTIME_DIR) out.push(fileCandidate(join(env.XDG_RUNTIME_DIR, `bt_u${uid}`), { uid }));
  out.push(fileCandidate(`/tmp/bt_u${uid}`, { uid }));
  return out;
}

/**
 * WLCG bearer-token discovery (WLCG-AuthZ-WG/bearer-token-discovery): `BEARER_TOKEN`, then the
 * file in `BEARER_TOKEN_FILE`, then `$XDG_RUNTIME_DIR/bt_u$UID`, then `/tmp/bt_u$UID`; whitespace
 * stripped. Re-discovered on refresh; the file in use is re-read when it changes.
 *
 * Token files must be private, as XRootD's client requires for every location of the spec: a file
 * owned by another user than `uid` (or root) — anyone can create `/tmp/bt_u$UID` first — or that
 * group or others may read or write, or a symbolic link in a directory others may write to, is
 * refused with a {@link TokenSourceError} `insecure` that names the file, why, and the fix (remove
 * it, or `chmod 600`); its token is never used. This holds for the file `BEARER_TOKEN_FILE` names
 * too: the variable picks the path, not who may have written the file (point it at a file of
 * yours, mode 0600 or 0400; a symbolic link is followed there unless its directory is writable by others).
 *
 * @example
 * ```ts
 * const token = wlcgDiscovery();
 * await token.getToken();
 * console.log(token.source); // e.g. 'file:/run/user/1000/bt_u1000'
 * ```
 */
export function wlcgDiscovery(options: WlcgDiscoveryOptions = {}): SourceTokenProvider {
  const candidates = wlcgCandidates(envOf(options), options.uid ?? effectiveUid());
  return new SourceTokenProvider(() => candidates, { ...options, hint: 'Set BEARER_TOKEN or BEARER_TOKEN_FILE, or write the token to $XDG_RUNTIME_DIR/bt_u$UID or /tmp/bt_u$UID.' });
}

/**
 * Options of {@link fromJupyterHub}.
 *
 * @example
 * ```ts
 * const token = fromJupyterHub({ exchangedToken: 'rucio' });
 * ```
 */
export interface FromJupyterHubOptions extends NodeSourceOptions {
  /** Which `exchanged_tokens` entry to use (default `rucio`). */
  exchangedToken?: string | undefined;
  /** Custom fetch. */
  fetch?: typeof fetch | undefined;
}

function hubSettings(env: Env): { apiUrl: string; apiToken: string } | undefined {
  const apiUrl = env.JUPYTERHUB_API_URL;
  const apiToken = env.JUPYTERHUB_API_TOKEN;
  return apiUrl && apiToken ? { apiUrl, apiToken } : undefined;
}

/**
 * The user's token from JupyterHub (`JUPYTERHUB_API_URL`, `JUPYTERHUB_API_TOKEN` →
 * `auth_state.exchanged_tokens.rucio`, else `auth_state.access_token`). Throws `ConfigError`
 * naming the variable when not inside a hub.
 *
 * @example
 * ```ts
 * const token = fromJupyterHub();
 * ```
 */
export function fromJupyterHub(options: FromJupyterHubOptions = {}): SourceTokenProvider {
  const env = envOf(options);
  const hub = hubSettings(env);
  if (!hub) {
    const missing = env.JUPYTERHUB_API_URL ? 'JUPYTERHUB_API_TOKEN' : 'JUPYTERHUB_API_URL';
    throw new ConfigError(missing, `JupyterHub: ${missing} is not set (fromJupyterHub() only works inside a JupyterHub single-user server)`);
  }
  const candidate = jupyterHubCandidate({ ...hub, fetch: options.fetch, exchangedToken: options.exchangedToken });
  return new SourceTokenProvider(() => [candidate], options);
}

/**
 * Options of {@link autoDetect}.
 *
 * @example
 * ```ts
 * const token = await autoDetect({ oidcAuth: 'file', fileName: '/home/jovyan/.rucio.token', lazy: true });
 * ```
 */
export interface AutoDetectOptions extends WlcgDiscoveryOptions {
  /** Custom fetch (JupyterHub API). */
  fetch?: typeof fetch | undefined;
  /** Ask the JupyterHub API when inside a hub (default true). */
  jupyterHub?: boolean | undefined;
  /** `RUCIO_OIDC_AUTH`: `file` puts the token file before the variable (default from the environment). */
  oidcAuth?: 'env' | 'file' | undefined;
  /** `RUCIO_OIDC_ENV_NAME` (default from the environment, else `RUCIO_ACCESS_TOKEN`). */
  envName?: string | undefined;
  /** `RUCIO_OIDC_FILE_NAME` (default from the environment). */
  fileName?: string | undefined;
  /** The hub's token file, tried after `fileName` (default `/tmp/rucio_oauth.token`; `false`: none). */
  defaultFile?: string | false | undefined;
  /** Do not read a token now (default: the first token is read, so `source` is known and errors surface early). */
  lazy?: boolean | undefined;
}

/**
 * Find the token the way a DLaaS notebook does, and say where it came from (`provider.source`):
 *
 * 1. the variable `RUCIO_OIDC_ENV_NAME` names (default `RUCIO_ACCESS_TOKEN`, set by the hub at spawn);
 * 2. the file `RUCIO_OIDC_FILE_NAME`, then `/tmp/rucio_oauth.token` (rewritten by the hub on refresh;
 *    first when `RUCIO_OIDC_AUTH=file`);
 * 3. JupyterHub's `auth_state` (`exchanged_tokens.rucio`, else `access_token`);
 * 4. WLCG bearer-token discovery (`BEARER_TOKEN`, `BEARER_TOKEN_FILE`, `$XDG_RUNTIME_DIR/bt_u$UID`, `/tmp/bt_u$UID`).
 *
 * Expired tokens are passed over (a spawn-time variable goes stale while the file is refreshed);
 * the whole chain is walked again at each refresh. Tokens are checked against {@link RUCIO_TOKEN}
 * (warnings only) unless `expect` says otherwise. Files another user may have planted or may
 * change are passed over too, and their `insecure` error is thrown when no later source has a
 * token (the hub files as in {@link fromFile}, the WLCG ones as in {@link wlcgDiscovery}).
 *
 * @example
 * ```ts
 * import { autoDetect } from 'dlaas/node';
 * const token = await autoDetect();
 * console.log(`using the token from ${token.source}`);
 * ```
 */
export async function autoDetect(options: AutoDetectOptions = {}): Promise<SourceTokenProvider> {
  const env = envOf(options);
  const envName = options.envName ?? env.RUCIO_OIDC_ENV_NAME ?? 'RUCIO_ACCESS_TOKEN';
  const fileNames = [...new Set([options.fileName ?? env.RUCIO_OIDC_FILE_NAME, options.defaultFile ?? DEFAULT_TOKEN_FILE].filter((f): f is string => !!f))];
  const vars = [envCandidate(env, envName)];
  const files = fileNames.map((f) => fileCandidate(f, { uid: options.uid, readableByOthers: true }));
  const hub = options.jupyterHub !== false ? hubSettings(env) : undefined;
  const candidates: TokenCandidate[] = [
    ...((options.oidcAuth ?? env.RUCIO_OIDC_AUTH) === 'file' ? [...files, ...vars] : [...vars, ...files]),
    ...(hub ? [jupyterHubCandidate({ ...hub, fetch: options.fetch })] : []),
    ...wlcgCandidates(env, options.uid ?? effectiveUid()).filter((c) => c.source !== `env:${envName}`),
  ];
  const provider = new SourceTokenProvider(() => candidates, {
    ...options,
    expect: options.expect ?? RUCIO_TOKEN,
    hint: `Set ${envName} (or BEARER_TOKEN / BEARER_TOKEN_FILE), or write the token to ${fileNames.join(' or ')}.`,
  });
  if (!options.lazy) await provider.getToken();
  return provider;
}

/**
 * Zero-config in a notebook hub: the settings DLaaS users already have — the environment
 * variables of the Rucio JupyterLab extension and the hub, and the extension's `RucioConfig`
 * instances in `jupyter_server_config.json` — with the source of every value.
 * @module
 */
import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../core/errors.js';
import type { SourceTokenProvider } from '../auth/sources.js';
import type { TokenWarning } from '../auth/errors.js';
import { autoDetect, type Env } from './sources.js';
import { FileCheckError, readTrusted } from './trusted-file.js';

/**
 * How the extension makes data available.
 *
 * @example
 * ```ts
 * if (config.mode === 'replica') console.log(`files appear under ${config.rseMountPath}`);
 * ```
 */
export type DataLakeMode = 'replica' | 'download';

/**
 * The Data Lake settings found, ready for `createDataLake()`.
 *
 * @example
 * ```ts
 * const { rucio, token, sources } = await loadDataLakeConfig();
 * const client = new RucioClient({ ...rucio, token });
 * ```
 */
export interface DataLakeConfig {
  /** Rucio connection. */
  rucio: { baseUrl: string; authUrl?: string; account?: string; vo?: string };
  /** ESAP API base URL (`ESAP_URL`). */
  esapUrl?: string;
  /** RSE the hub mounts (replica mode). */
  destinationRse?: string;
  /** Where that RSE is mounted. */
  rseMountPath?: string;
  /** Leading PFN path segments to drop before joining onto the mount path. */
  pathBeginsAt?: number;
  /** `replica` or `download`. */
  mode?: DataLakeMode;
  /** The `RucioConfig` instance used, when a config file was read. */
  instance?: string;
  /** The token provider found by `autoDetect()` (undefined only with `requireToken: false`). */
  token?: SourceTokenProvider;
  /**
   * Where each value came from: `env:RUCIO_BASE_URL`,
   * `file:/home/jovyan/.jupyter/jupyter_server_config.json#RucioConfig.instances[escape].rucio_base_url`,
   * `url:https://…#destination_rse` (remote instance config), and for `token` the token source.
   */
  sources: Record<string, string>;
}

/**
 * Options of {@link loadDataLakeConfig}.
 *
 * @example
 * ```ts
 * const config = await loadDataLakeConfig(process.env, { configFile: '/etc/jupyter/jupyter_server_config.json', instance: 'escape' });
 * ```
 */
export interface LoadDataLakeConfigOptions {
  /** A Jupyter config file with `RucioConfig`; `false` to read none. Default: the first of `$JUPYTER_CONFIG_DIR` (or `~/.jupyter`), `/usr/local/etc/jupyter`, `/etc/jupyter` holding `jupyter_server_config.json` or `jupyter_notebook_config.json` with a `RucioConfig`. */
  configFile?: string | false | undefined;
  /** Instance name (default `RUCIO_DEFAULT_INSTANCE`, then the file's `default_instance`, then the first). */
  instance?: string | undefined;
  /** Fail when no token is found (default true). */
  requireToken?: boolean | undefined;
  /** Fetch for the JupyterHub API and remote instance configs (`$url`). */
  fetch?: typeof fetch | undefined;
  /** User id for WLCG discovery. */
  uid?: number | undefined;
  /** The hub's token file (default `/tmp/rucio_oauth.token`; `false`: none). */
  defaultTokenFile?: string | false | undefined;
  /** Token warnings (audience/scope for Rucio). */
  onWarning?: ((warning: TokenWarning) => void) | undefined;
}

type Instance = Record<string, unknown>;

/** A value and where it came from. */
interface Found<T> {
  value: T;
  source: string;
}

/** Extension instance keys and the environment variables that set them. */
const SETTINGS = {
  'rucio.baseUrl': { env: 'RUCIO_BASE_URL', key: 'rucio_base_url' },
  'rucio.authUrl': { env: 'RUCIO_AUTH_URL', key: 'rucio_auth_url' },
  'rucio.account': { env: 'RUCIO_ACCOUNT', key: undefined },
  'rucio.vo': { env: 'RUCIO_VO', key: 'vo' },
  esapUrl: { env: 'ESAP_URL', key: undefined },
  destinationRse: { env: 'RUCIO_DESTINATION_RSE', key: 'destination_rse' },
  rseMountPath: { env: 'RUCIO_RSE_MOUNT_PATH', key: 'rse_mount_path' },
  pathBeginsAt: { env: 'RUCIO_PATH_BEGINS_AT', key: 'path_begins_at' },
  mode: { env: 'RUCIO_MODE', key: 'mode' },
  oidcAuth: { env: 'RUCIO_OIDC_AUTH', key: 'oidc_auth' },
  oidcEnvName: { env: 'RUCIO_OIDC_ENV_NAME', key: 'oidc_env_name' },
  oidcFileName: { env: 'RUCIO_OIDC_FILE_NAME', key: 'oidc_file_name' },
} as const;
type Setting = keyof typeof SETTINGS;

/**
 * Read the Data Lake configuration of a hub or shell: environment first (`RUCIO_BASE_URL`,
 * `RUCIO_AUTH_URL`, `RUCIO_ACCOUNT`, `RUCIO_VO`, `RUCIO_DESTINATION_RSE`, `RUCIO_RSE_MOUNT_PATH`,
 * `RUCIO_PATH_BEGINS_AT`, `RUCIO_MODE`, `ESAP_URL`), then the Rucio JupyterLab extension's
 * `RucioConfig` instance (local values over its remote `$url` config), and the token via
 * `autoDetect()` (honouring `RUCIO_OIDC_AUTH`, `RUCIO_OIDC_ENV_NAME`, `RUCIO_OIDC_FILE_NAME`, also
 * from the instance). A missing or invalid value throws `ConfigError` whose `setting` is the
 * variable to set.
 *
 * @example
 * ```ts
 * import { loadDataLakeConfig } from 'dlaas/node';
 * const config = await loadDataLakeConfig();
 * console.log(config.rucio.baseUrl, config.sources['rucio.baseUrl'], config.sources.token);
 * ```
 */
export async function loadDataLakeConfig(env: Env = process.env, options: LoadDataLakeConfigOptions = {}): Promise<DataLakeConfig> {
  const file = await findConfigFile(env, options.configFile);
  const instance = file ? await selectInstance(file.path, file.doc, env, options) : undefined;

  const lookup = (setting: Setting): Found<unknown> | undefined => {
    const { env: name, key } = SETTINGS[setting];
    const v = env[name];
    if (v !== undefined && v.trim() !== '') return { value: v.trim(), source: `env:${name}` };
    if (key && instance) {
      if (instance.local[key] !== undefined && instance.local[key] !== null) return { value: instance.local[key], source: `${instance.localSource}.${key}` };
      if (instance.remote?.[key] !== undefined && instance.remote[key] !== null) return { value: instance.remote[key], source: `${instance.remoteSource}#${key}` };
    }
    return undefined;
  };
  const sources: Record<string, string> = {};
  const str = (setting: Setting): string | undefined => {
    const f = lookup(setting);
    if (!f) return undefined;
    if (typeof f.value !== 'string' && typeof f.value !== 'number') throw invalid(setting, f, 'must be a string');
    sources[setting] = f.source;
    return String(f.value);
  };

  const baseUrl = str('rucio.baseUrl');
  if (!baseUrl) throw new ConfigError('RUCIO_BASE_URL', 'Rucio base URL not configured: set RUCIO_BASE_URL (or rucio_base_url in the RucioConfig of jupyter_server_config.json)');
  checkUrl('rucio.baseUrl', baseUrl);
  const authUrl = str('rucio.authUrl');
  if (authUrl) checkUrl('rucio.authUrl', authUrl);
  const esapUrl = str('esapUrl');
  if (esapUrl) checkUrl('esapUrl', esapUrl);
  const account = str('rucio.account');
  const vo = str('rucio.vo');
  const destinationRse = str('destinationRse');
  const rseMountPath = str('rseMountPath');

  const modeText = str('mode');
  if (modeText !== undefined && modeText !== 'replica' && modeText !== 'download') throw new ConfigError('RUCIO_MODE', `RUCIO_MODE must be "replica" or "download" (got ${JSON.stringify(modeText.slice(0, 40))}, from ${sources.mode})`);
  const mode = modeText as DataLakeMode | undefined;

  const beginsText = str('pathBeginsAt');
  let pathBeginsAt: number | undefined;
  if (beginsText !== undefined) {
    pathBeginsAt = Number(beginsText);
    if (!Number.isInteger(pathBeginsAt) || pathBeginsAt < 0) throw new ConfigError('RUCIO_PATH_BEGINS_AT', `RUCIO_PATH_BEGINS_AT must be a non-negative integer (got ${JSON.stringify(beginsText.slice(0, 40))}, from ${sources.pathBeginsAt})`);
  }
  if (mode === 'replica') {
    if (!destinationRse) throw new ConfigError('RUCIO_DESTINATION_RSE', 'Replica mode needs the RSE the hub mounts: set RUCIO_DESTINATION_RSE');
    if (!rseMountPath) throw new ConfigError('RUCIO_RSE_MOUNT_PATH', 'Replica mode needs where that RSE is mounted: set RUCIO_RSE_MOUNT_PATH');
  }

  const oidcAuth = str('oidcAuth');
  const oidcEnvName = str('oidcEnvName');
  const oidcFileName = str('oidcFileName');
  let token: SourceTokenProvider | undefined;
  try {
    token = await autoDetect({
      env,
      fetch: options.fetch,
      uid: options.uid,
      onWarning: options.onWarning,
      oidcAuth: oidcAuth === 'file' || oidcAuth === 'env' ? oidcAuth : undefined,
      envName: oidcEnvName,
      fileName: oidcFileName,
      defaultFile: options.defaultTokenFile,
    });
    if (token.source) sources.token = token.source;
  } catch (error) {
    if (options.requireToken !== false) {
      throw new ConfigError(oidcEnvName ?? 'RUCIO_ACCESS_TOKEN', `No usable access token: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
  for (const k of ['oidcAuth', 'oidcEnvName', 'oidcFileName']) delete sources[k];

  return {
    rucio: { baseUrl, ...(authUrl ? { authUrl } : {}), ...(account ? { account } : {}), ...(vo ? { vo } : {}) },
    ...(esapUrl ? { esapUrl } : {}),
    ...(destinationRse ? { destinationRse } : {}),
    ...(rseMountPath ? { rseMountPath } : {}),
    ...(pathBeginsAt !== undefined ? { pathBeginsAt } : {}),
    ...(mode ? { mode } : {}),
    ...(instance ? { instance: instance.name } : {}),
    ...(token ? { token } : {}),
    sources,
  };
}

function invalid(setting: Setting, found: Found<unknown>, problem: string): ConfigError {
  return new ConfigError(SETTINGS[setting].env, `${SETTINGS[setting].env} ${problem} (from ${found.source})`);
}

function checkUrl(setting: Setting, value: string): void {
  let u: URL | undefined;
  try {
    u = new URL(value);
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:')) throw new ConfigError(SETTINGS[setting].env, `${SETTINGS[setting].env} must be an http(s) URL`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  let text: string | undefined;
  try {
    // It decides where the token is sent (rucio_base_url) and read from (oidc_file_name): one that
    // anybody may rewrite is refused. Its owner is not checked: images run the notebook under
    // another uid than the one that wrote /etc/jupyter (docker-stacks' NB_UID).
    text = (await readTrusted(path, { uid: null, deny: 0o002, maxBytes: 16 << 20 }))?.text;
  } catch (cause) {
    if (cause instanceof FileCheckError && cause.problem === 'insecure') throw new ConfigError('configFile', `The Jupyter config file ${path} ${cause.message}`);
    throw new ConfigError('configFile', `Cannot read the Jupyter config file ${path}`, { cause });
  }
  if (text === undefined) throw new ConfigError('configFile', `Cannot read the Jupyter config file ${path} (it does not exist)`);
  try {
    const doc: unknown = JSON.parse(text);
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not an object');
    return doc as Record<string, unknown>;
  } catch (cause) {
    throw new ConfigError('configFile', `The Jupyter config file ${path} is not a JSON object`, { cause });
  }
}

async function findConfigFile(env: Env, configFile: string | false | undefined): Promise<{ path: string; doc: Record<string, unknown> } | undefined> {
  if (configFile === false) return undefined;
  if (configFile !== undefined) return { path: configFile, doc: await readJson(configFile) };
  const dirs = [env.JUPYTER_CONFIG_DIR ?? join(env.HOME ?? homedir(), '.jupyter'), '/usr/local/etc/jupyter', '/etc/jupyter'];
  const paths = dirs.flatMap((dir) => ['jupyter_server_config.json', 'jupyter_notebook_config.json'].map((name) => join(dir, name)));
  // Asked all at once (each is a round trip to the thread pool), then read in order of precedence.
  const present = await Promise.all(paths.map(exists));
  for (const [i, path] of paths.entries()) {
    if (!present[i]) continue;
    const doc = await readJson(path);
    if (doc.RucioConfig && typeof doc.RucioConfig === 'object') return { path, doc };
  }
  return undefined;
}

async function selectInstance(
  path: string,
  doc: Record<string, unknown>,
  env: Env,
  options: LoadDataLakeConfigOptions,
): Promise<{ name: string; local: Instance; localSource: string; remote: Instance | undefined; remoteSource: string } | undefined> {
  const rc = doc.RucioConfig as { instances?: unknown; default_instance?: unknown } | undefined;
  if (!rc || !Array.isArray(rc.instances) || rc.instances.length === 0) return undefined;
  const instances = rc.instances.filter((i): i is Instance => !!i && typeof i === 'object');
  const wanted = options.instance ?? env.RUCIO_DEFAULT_INSTANCE ?? (typeof rc.default_instance === 'string' ? rc.default_instance : undefined);
  const local = wanted === undefined ? instances[0] : instances.find((i) => i.name === wanted);
  if (!local) {
    const names = instances.map((i) => String(i.name)).join(', ');
    throw new ConfigError(options.instance ? 'instance' : 'RUCIO_DEFAULT_INSTANCE', `No RucioConfig instance named ${JSON.stringify(wanted)} in ${path} (instances: ${names || 'none'})`);
  }
  const name = typeof local.name === 'string' ? local.name : 'default';
  let remote: Instance | undefined;
  let remoteSource = '';
  if (typeof local.$url === 'string') {
    remoteSource = `url:${local.$url}`;
    remote = await fetchRemote(local.$url, options.fetch);
  }
  return { name, local, localSource: `file:${path}#RucioConfig.instances[${name}]`, remote, remoteSource };
}

async function fetchRemote(url: string, f: typeof fetch | undefined): Promise<Instance> {
  try {
    const res = await (f ?? fetch)(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(15_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const doc: unknown = await res.json();
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not a JSON object');
    return doc as Instance;
  } catch (cause) {
    throw new ConfigError('RucioConfig.$url', `Cannot load the remote Rucio instance config ${url}`, { cause });
  }
}

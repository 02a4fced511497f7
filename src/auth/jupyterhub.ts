/**
 * Tokens from JupyterHub's `auth_state` (the ESCAPE/VRE hub keeps the IAM token there, and the
 * audience-`rucio` token it exchanged at spawn under `exchanged_tokens.rucio`).
 * @module
 */
import { InvalidArgumentError, registerSecret } from '../core/errors.js';
import { Transport } from '../core/transport.js';
import { TokenSourceError } from './errors.js';
import { SourceTokenProvider, type SourceOptions, type TokenCandidate } from './sources.js';

/**
 * Options of {@link jupyterHubToken}.
 *
 * @example
 * ```ts
 * const options: JupyterHubTokenOptions = { apiUrl: 'http://hub:8081/hub/api', apiToken, exchangedToken: 'rucio' };
 * ```
 */
export interface JupyterHubTokenOptions extends SourceOptions {
  /** `JUPYTERHUB_API_URL`, e.g. `http://hub:8081/hub/api`. */
  apiUrl: string | URL;
  /** `JUPYTERHUB_API_TOKEN` (never logged). */
  apiToken: string;
  /** Which `auth_state.exchanged_tokens` entry to take (default `rucio`); falls back to `auth_state.access_token`. */
  exchangedToken?: string | undefined;
  /** Custom fetch. */
  fetch?: typeof fetch | undefined;
}

/**
 * @internal The JupyterHub API as a token candidate: `GET {apiUrl}/user` with
 * `Authorization: token …`, then `auth_state.exchanged_tokens[key]` or `auth_state.access_token`.
 */
export function jupyterHubCandidate(options: JupyterHubTokenOptions): TokenCandidate {
  if (!options?.apiUrl) throw new InvalidArgumentError('apiUrl', 'the JupyterHub API URL is required (JUPYTERHUB_API_URL)');
  if (!options.apiToken) throw new InvalidArgumentError('apiToken', 'the JupyterHub API token is required (JUPYTERHUB_API_TOKEN)');
  registerSecret(options.apiToken);
  const key = options.exchangedToken ?? 'rucio';
  const transport = new Transport({
    service: 'jupyterhub',
    baseUrl: options.apiUrl,
    auth: { token: options.apiToken, header: 'Authorization', scheme: 'token' },
    fetch: options.fetch,
    timeout: 15_000,
    retry: { limit: 1 },
  });
  return {
    source: 'jupyterhub',
    read: async (signal) => {
      const user = await transport.json<{ auth_state?: unknown }>({ method: 'GET', path: 'user', accept: 'application/json', signal });
      const state = user && typeof user === 'object' ? user.auth_state : undefined;
      if (!state || typeof state !== 'object') {
        throw new TokenSourceError('jupyterhub', 'unavailable', 'the hub returned no auth_state (the hub must enable auth_state and the API token needs the read:users:auth_state scope)');
      }
      const s = state as { exchanged_tokens?: Record<string, unknown>; access_token?: unknown };
      const exchanged = s.exchanged_tokens?.[key];
      const text = typeof exchanged === 'string' ? exchanged : typeof s.access_token === 'string' ? s.access_token : undefined;
      if (text === undefined) throw new TokenSourceError('jupyterhub', 'unavailable', `auth_state has neither exchanged_tokens.${key} nor access_token`);
      registerSecret(text);
      return { text, version: '' };
    },
  };
}

/**
 * The user's token from JupyterHub's `auth_state` (`exchanged_tokens.rucio`, else `access_token`),
 * re-read from the hub when it nears expiry or after a 401 (the hub refreshes `auth_state`). In a
 * notebook, `fromJupyterHub()` from `dlaas/node` reads the API URL and token from the environment.
 *
 * @example
 * ```ts
 * const token = jupyterHubToken({ apiUrl: 'http://hub:8081/hub/api', apiToken: hubApiToken });
 * ```
 */
export function jupyterHubToken(options: JupyterHubTokenOptions): SourceTokenProvider {
  const candidate = jupyterHubCandidate(options);
  return new SourceTokenProvider(() => [candidate], options);
}

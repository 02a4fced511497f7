/**
 * @module
 */
import { InvalidArgumentError, registerSecret } from '../core/errors.js';
import { RucioClient } from '../rucio/client.js';
import { RefreshingTokenProvider, refreshOptionsOf, type RefreshOptions } from './refreshing.js';

/**
 * Options of {@link rucioUserpass}.
 *
 * @example
 * ```ts
 * const options: RucioUserpassOptions = { client: rucio, username: 'jdoe', password, account: 'jdoe' };
 * ```
 */
export interface RucioUserpassOptions extends RefreshOptions {
  /** Rucio username (`X-Rucio-Username`). */
  username: string;
  /** Password (`X-Rucio-Password`, never logged). */
  password: string;
  /** Account to log into (default: the client's, else the identity's default). */
  account?: string | undefined;
  /** A client to log in with; otherwise give `baseUrl` (and `authUrl`, `fetch`, `vo`). */
  client?: RucioClient | undefined;
  /** Rucio data host, when no `client` is given. */
  baseUrl?: string | URL | undefined;
  /** Rucio auth host, when it differs. */
  authUrl?: string | URL | undefined;
  /** VO on multi-VO servers. */
  vo?: string | undefined;
  /** `X-Rucio-AppID`. */
  appId?: string | undefined;
  /** Custom fetch (when no `client` is given). */
  fetch?: typeof fetch | undefined;
}

/** Rucio's userpass tokens live one hour; assumed when the expiry header is missing. */
const RUCIO_TOKEN_LIFETIME_MS = 3600 * 1000;

/**
 * Rucio-issued tokens from username and password (`GET /auth/userpass`), renewed `skew` seconds
 * before the expiry Rucio announces in `X-Rucio-Auth-Token-Expires`, and again after a 401.
 *
 * @example
 * ```ts
 * const token = rucioUserpass({ baseUrl: 'https://rucio.example.org', account: 'jdoe', username: 'jdoe', password });
 * const rucio = new RucioClient({ baseUrl: 'https://rucio.example.org', account: 'jdoe', token });
 * ```
 */
export function rucioUserpass(options: RucioUserpassOptions): RefreshingTokenProvider {
  if (!options?.username || !options.password) throw new InvalidArgumentError(options?.username ? 'password' : 'username', 'rucioUserpass needs a username and a password');
  registerSecret(options.password);
  const client =
    options.client ??
    new RucioClient({
      baseUrl: options.baseUrl ?? '',
      authUrl: options.authUrl,
      account: options.account,
      vo: options.vo,
      fetch: options.fetch,
    });
  const now = options.now ?? Date.now;
  return new RefreshingTokenProvider({
    ...refreshOptionsOf(options),
    load: async ({ signal }) => {
      const t = await client.auth.userpass({
        username: options.username,
        password: options.password,
        ...(options.account ? { account: options.account } : {}),
        ...(options.vo ? { vo: options.vo } : {}),
        ...(options.appId ? { appId: options.appId } : {}),
        signal,
      });
      return { token: t.token, expiresAt: t.expiresAt ?? new Date(now() + RUCIO_TOKEN_LIFETIME_MS) };
    },
  });
}

/**
 * @internal The Rucio client and the identity of a {@link DataLake} (`lake.rucio`, `lake.auth`), apart
 * from the rest of `createDataLake` (ESAP, staging, files, the OIDC client): a program that needs
 * only Rucio (the CLI's catalogue and rule commands) loads only this. `createDataLake` builds its
 * `rucio` and `auth` with these same functions.
 * @module
 */
import type { OidcClient } from './auth/oidc/client.js';
import { ConfigError, InvalidArgumentError } from './core/errors.js';
import { toTokenProvider, type TokenProvider } from './core/token.js';
import type { DataLake, DataLakeAuth, DataLakeOptions } from './datalake.js';
import { RucioClient } from './rucio/client.js';

/** @internal The token every part shares (`auth.token`), as a provider. */
export function sharedToken(options: DataLakeOptions): TokenProvider | undefined {
  return options.auth?.token === undefined ? undefined : toTokenProvider(options.auth.token);
}

/** @internal `lake.rucio`: the client given, or one made of its options (`token` defaulting to the shared one). */
export function lakeRucio(options: DataLakeOptions, shared: TokenProvider | undefined): RucioClient {
  if (options.rucio instanceof RucioClient) return options.rucio;
  const fetchImpl = options.fetch;
  return new RucioClient({ ...options.rucio, token: options.rucio.token ?? shared, ...(fetchImpl && !options.rucio.fetch ? { fetch: fetchImpl } : {}) });
}

/** @internal `lake.auth`: the shared token, where it came from, which token storage gets, and the OIDC client. */
export function lakeAuth(options: DataLakeOptions, shared: TokenProvider | undefined, oidc: OidcClient | undefined): DataLakeAuth {
  const storage = storageTokenOf(options, shared, oidc);
  return {
    token: shared,
    source: options.auth?.source,
    storageToken: storage.token,
    storageSource: storage.source,
    get oidc(): OidcClient {
      if (!oidc) throw new ConfigError('OIDC_ISSUER', 'no OIDC client configured (pass auth.oidc, or set OIDC_ISSUER and OIDC_CLIENT_ID)');
      return oidc;
    },
  };
}

/** @internal The Rucio part of a {@link DataLake}: `rucio` and `auth`, as `createDataLake` makes them. */
export type RucioLake = Pick<DataLake, 'rucio' | 'auth'>;

/**
 * @internal `createDataLake` without ESAP, staging, files and the OIDC client: `rucio` and `auth`
 * only (`auth.oidc` throws; an `auth.oidc` option is refused, and so is `auth.storageTokenExchange`,
 * which needs one).
 */
export function createRucioLake(options: DataLakeOptions): RucioLake {
  if (!options || !options.rucio) throw new ConfigError('RUCIO_BASE_URL', 'createDataLake: Rucio is not configured (pass "rucio", or set RUCIO_BASE_URL and use dlaas/node)');
  if (options.auth?.oidc) throw new InvalidArgumentError('auth.oidc', 'createRucioLake makes no OIDC client: use createDataLake');
  const shared = sharedToken(options);
  const rucio = lakeRucio(options, shared);
  return { rucio, auth: lakeAuth(options, shared, undefined) };
}

/** WLCG token-profile defaults for a storage token obtained by exchange. */
const STORAGE_EXCHANGE = { audience: 'https://wlcg.cern.ch/jwt/v1/any', scope: 'storage.read:/ storage.create:/ storage.modify:/' };

/**
 * Which token storage gets, and the name of that choice: an explicit storage token, one exchanged
 * (RFC 8693) at the OIDC issuer, or, as a reported fallback, the Rucio token.
 */
function storageTokenOf(options: DataLakeOptions, shared: TokenProvider | undefined, oidc: OidcClient | undefined): { token: TokenProvider | undefined; source: string } {
  const explicit = options.staging?.storageToken ?? options.auth?.storageToken;
  if (explicit === false) return { token: undefined, source: 'none' };
  if (explicit !== undefined) return { token: toTokenProvider(explicit), source: options.auth?.storageSource ?? 'auth.storageToken' };
  const exchange = options.auth?.storageTokenExchange;
  if (exchange) {
    if (!oidc || !shared) throw new ConfigError('OIDC_ISSUER', 'auth.storageTokenExchange needs auth.oidc (the issuer to exchange at) and auth.token (the token to exchange)');
    const params = { ...STORAGE_EXCHANGE, ...(exchange === true ? {} : exchange) };
    return { token: exchangedToken(oidc, shared, params), source: `token exchange at ${oidc.issuer}` };
  }
  return shared ? { token: shared, source: 'fallback: the Rucio token' } : { token: undefined, source: 'none' };
}

/** A token provider that exchanges `subject` on first use (and again when the session renews). */
function exchangedToken(oidc: OidcClient, subject: TokenProvider, params: { audience: string; scope: string }): TokenProvider {
  let session: Promise<TokenProvider> | undefined;
  return {
    canRefresh: true,
    async getToken(o) {
      session ??= oidc.exchangeToken(subject, { ...params, ...(o?.signal ? { signal: o.signal } : {}) }).catch((e: unknown) => {
        session = undefined;
        throw e;
      });
      return (await session).getToken(o);
    },
  };
}

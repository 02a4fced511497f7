/**
 * OpenID Provider discovery (`/.well-known/openid-configuration`) with oauth4webapi: the document
 * must name exactly the issuer asked for, and the endpoints it lists are the ones used.
 * @module
 */
import * as oauth from 'oauth4webapi';
import { IssuerMismatchError } from '../errors.js';
import { toAuthError } from './errors.js';
import { assertSecureUrl, oauthHttpOptions, type AuthHttpOptions } from '../http.js';

/**
 * Authorization server metadata as discovered (oauth4webapi's `AuthorizationServer`).
 *
 * @example
 * ```ts
 * const meta: IssuerMetadata = await iam.metadata();
 * console.log(meta.token_endpoint);
 * ```
 */
export type IssuerMetadata = oauth.AuthorizationServer;

/**
 * Options of {@link discoverIssuer}.
 *
 * @example
 * ```ts
 * const meta = await discoverIssuer('https://iam.example.org/', { signal: AbortSignal.timeout(5_000) });
 * ```
 */
export interface DiscoveryOptions extends AuthHttpOptions {
  /** `oidc` (`/.well-known/openid-configuration`, default) or `oauth2` (RFC 8414). */
  algorithm?: 'oidc' | 'oauth2' | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Fetch and validate an issuer's metadata. Throws {@link IssuerMismatchError} when the document
 * names another issuer, {@link InsecureIssuerError} for plain-http issuers outside loopback.
 *
 * @example
 * ```ts
 * const meta = await discoverIssuer('https://iam-escape.cloud.cnaf.infn.it/');
 * console.log(meta.token_endpoint, meta.device_authorization_endpoint);
 * ```
 */
export async function discoverIssuer(issuer: string | URL, options: DiscoveryOptions = {}): Promise<IssuerMetadata> {
  const url = assertSecureUrl(issuer, options.allowInsecureLoopback, 'issuer');
  const ctx = { operation: 'discovery', url: url.href, signal: options.signal };
  let response: Response;
  try {
    response = await oauth.discoveryRequest(url, { ...oauthHttpOptions<'GET', undefined>(options, options.signal), algorithm: options.algorithm ?? 'oidc' });
  } catch (error) {
    throw toAuthError(error, ctx);
  }
  try {
    return await oauth.processDiscoveryResponse(url, response);
  } catch (error) {
    if (error instanceof oauth.OperationProcessingError && error.code === oauth.JSON_ATTRIBUTE_COMPARISON) {
      const body = (error.cause as { body?: { issuer?: unknown } } | undefined)?.body;
      throw new IssuerMismatchError(url.href, typeof body?.issuer === 'string' ? body.issuer : undefined);
    }
    throw toAuthError(error, ctx);
  }
}

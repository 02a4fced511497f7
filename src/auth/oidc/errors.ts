/**
 * @internal How oauth4webapi, jose and fetch failures during an OAuth call become dlaas errors (see
 * the `auth` module's errors). Apart from `../errors.ts` so that what only reads tokens (token
 * sources, stores, claims) does not load oauth4webapi.
 * @module
 */
import * as oauth from 'oauth4webapi';
import { AbortError, ConnectionError, DlaasError, InvalidArgumentError, TimeoutError, UnauthenticatedError, redactUrl } from '../../core/errors.js';
import { OAuthError, OAuthProtocolError } from '../errors.js';

/** @internal Where an OAuth call went, for error messages. */
export interface OAuthCallContext {
  /** Human description, e.g. `device code poll`. */
  operation: string;
  /** Endpoint URL, if known. */
  url?: string | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * @internal Map anything oauth4webapi, jose or fetch throws during an OAuth call to a dlaas error.
 */
export function toAuthError(error: unknown, ctx: OAuthCallContext): DlaasError {
  if (error instanceof DlaasError) return error;
  const where = `OIDC ${ctx.operation}`;
  if (ctx.signal?.aborted || (error instanceof Error && error.name === 'AbortError')) {
    return new AbortError(`${where}: aborted`, { cause: ctx.signal?.reason ?? error });
  }
  if (error instanceof Error && error.name === 'TimeoutError') {
    return new TimeoutError({ service: 'oidc', method: 'POST', url: ctx.url ?? 'about:blank', cause: error });
  }
  if (error instanceof oauth.ResponseBodyError) {
    return new OAuthError(error.error, error.error_description, error.status, where);
  }
  if (error instanceof oauth.AuthorizationResponseError) {
    return new OAuthError(error.error, error.error_description, undefined, where);
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    const challenge = error.cause[0];
    return new UnauthenticatedError({
      status: error.status,
      service: 'oidc',
      method: 'POST',
      url: error.response.url || ctx.url || 'about:blank',
      exceptionClass: challenge?.parameters.error ?? challenge?.scheme ?? 'invalid_client',
      exceptionMessage: challenge?.parameters.error_description,
    });
  }
  if (error instanceof oauth.OperationProcessingError || error instanceof oauth.UnsupportedOperationError) {
    return new OAuthProtocolError(error.code ?? 'OAUTH_PROCESSING_ERROR', `${where}: ${error.message}`, { cause: error });
  }
  if (error instanceof TypeError && (error as { code?: string }).code?.startsWith('ERR_INVALID_ARG')) {
    return new InvalidArgumentError('oidc', `${where}: ${error.message}`);
  }
  if (error instanceof TypeError) {
    return new ConnectionError({ service: 'oidc', method: 'POST', url: ctx.url ?? 'about:blank', cause: error }, `${where}: connection to ${redactUrl(ctx.url) ?? 'the authorization server'} failed`);
  }
  return new DlaasError(`${where} failed`, { cause: error });
}

/**
 * @module
 */
import { InvalidArgumentError, registerSecret } from '../core/errors.js';
import { SourceTokenProvider, type SourceOptions } from './sources.js';

/**
 * A fixed token (from a login you did elsewhere). It cannot refresh: once its `exp` has passed,
 * `getToken()` throws {@link TokenExpiredError} instead of sending a request that would get a 401.
 * A malformed value throws {@link TokenSourceError}. `expiresAt` is read from the JWT after the first call.
 *
 * @example
 * ```ts
 * const rucio = new RucioClient({ baseUrl, token: staticToken(jwt, { expect: RUCIO_TOKEN }) });
 * ```
 */
export function staticToken(token: string, options: SourceOptions = {}): SourceTokenProvider {
  if (typeof token !== 'string') throw new InvalidArgumentError('token', 'staticToken needs a string');
  registerSecret(token.trim());
  const candidate = { source: 'static', read: async () => ({ text: token, version: '' }) };
  return new SourceTokenProvider(() => [candidate], { ...options, canRefresh: false });
}

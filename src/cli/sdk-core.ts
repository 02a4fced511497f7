/**
 * The parts of the SDK every command may use (errors, DIDs, dates, reading a token's claims), taken
 * from their own modules and not from the `dlaas` entry: the CLI's bundle is split by module, and
 * the entry reaches the whole SDK, which would then load with every command. What only some commands
 * need comes from ./sdk-oidc.ts and ./sdk-full.ts, imported when they run.
 * @module
 */
export { AbortError, ApiError, ConfigError, DlaasError, ErrorCode, scrub } from '../core/errors.js';
export { VERSION } from '../core/version.js';
export { formatDid, parseDid } from '../core/did.js';
export { parseRucioDate } from '../core/dates.js';
export { decodeToken, isJwt, tokenExpiry } from '../auth/claims.js';
export { NoTokenError, TokenExpiredError } from '../auth/errors.js';
export { RuleStuckError } from '../rucio/errors.js';
export { corruptReplicas } from '../staging/types.js';

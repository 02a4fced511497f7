/**
 * Exit codes of the `dlaas` CLI and how errors map to them.
 * @module
 */
import { ApiError, DlaasError, ErrorCode, scrub } from './sdk-core.js';
import type { StopSignal } from './output.js';

/**
 * Exit codes: scripts can tell a bad command line from a missing login from a failing service.
 *
 * | code | meaning |
 * |---|---|
 * | 0 | success |
 * | 1 | the operation failed (a rule went STUCK, files failed to stage or upload, an item is not in the basket, a DID or rule does not exist, the rule exists already) |
 * | 2 | usage error: unknown command or option, missing or invalid argument (e.g. a malformed DID) |
 * | 3 | configuration error: a setting is missing or invalid (RUCIO_BASE_URL, ESAP_URL, OIDC_ISSUER, …) |
 * | 4 | authentication or authorisation error: not logged in, token expired or refused, login denied |
 * | 5 | remote failure: a service answered with an error (not found, server error) or could not be reached |
 * | 130 | interrupted by Ctrl-C (SIGINT): the command stopped cleanly and said what is left (128 + 2, as shells report it) |
 * | 143 | terminated by SIGTERM, likewise (128 + 15) |
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 3, auth: 4, remote: 5, interrupted: 130, terminated: 143 } as const;

/** The exit code for a stop signal: 130 for SIGINT, 143 for SIGTERM. */
export function exitCodeOfSignal(signal: StopSignal): number {
  return signal === 'SIGINT' ? EXIT.interrupted : EXIT.terminated;
}

/**
 * A long command stopped by Ctrl-C or SIGTERM (exit 130 / 143). `message` says what is left and how
 * to go on (e.g. `1 file(s) partially downloaded are kept in ./data — run the same command again to
 * resume`); `lines` add detail for people; `details` go into the `--json` error.
 */
export class Interrupted extends Error {
  constructor(
    readonly signal: StopSignal,
    message: string,
    readonly lines: readonly string[] = [],
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'Interrupted';
  }
}

/** A failure with its own exit code and error code (e.g. `login --timeout` passing: exit 4, `TIMEOUT`). */
export class CliFailure extends Error {
  constructor(
    message: string,
    readonly exit: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'CliFailure';
  }
}

/** A bad command line (exit 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The operation ran but did not succeed (exit 1). */
export class OperationFailed extends Error {
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'OperationFailed';
  }
}

const AUTH_CODES = new Set<string>([
  ErrorCode.unauthenticated,
  ErrorCode.forbidden,
  ErrorCode.oauth,
  ErrorCode.oauthProtocol,
  ErrorCode.stateMismatch,
  ErrorCode.issuerMismatch,
  ErrorCode.tokenInvalid,
  ErrorCode.tokenExpired,
  ErrorCode.tokenSource,
  ErrorCode.noToken,
  ErrorCode.tokenStore,
  ErrorCode.esapNoProfile,
  ErrorCode.esapSessionExpired,
]);
const USAGE_CODES = new Set<string>([ErrorCode.invalidArgument, ErrorCode.invalidDid]);
const CONFIG_CODES = new Set<string>([ErrorCode.config, ErrorCode.insecureIssuer]);
const FAILED_CODES = new Set<string>([ErrorCode.ruleStuck, ErrorCode.ruleNotProgressing, ErrorCode.checksumMismatch, ErrorCode.uploadFailed, ErrorCode.fileConflict, ErrorCode.esapBasketConflict, ErrorCode.esapUnwritableItems, ErrorCode.aborted]);

/** A DID or rule that does not exist (or a rule that exists already): the operation failed; Rucio answered fine. */
function isMissingThing(error: DlaasError): boolean {
  if (error instanceof ApiError) return /^(DataIdentifierNotFound|RuleNotFound|DuplicateRule)$/.test(error.exceptionClass ?? '');
  return error.name === 'MissingDidsError';
}

/** The exit code for an error. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof Interrupted) return exitCodeOfSignal(error.signal);
  if (error instanceof CliFailure) return error.exit;
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof OperationFailed) return EXIT.failed;
  if (error instanceof DlaasError) {
    if (USAGE_CODES.has(error.code)) return EXIT.usage;
    if (CONFIG_CODES.has(error.code)) return EXIT.config;
    if (AUTH_CODES.has(error.code)) return EXIT.auth;
    if (FAILED_CODES.has(error.code)) return EXIT.failed;
    if (isMissingThing(error)) return EXIT.failed;
    return EXIT.remote;
  }
  if (error instanceof Error && typeof (error as unknown as { code?: unknown }).code === 'string' && (error as unknown as { code: string }).code.startsWith('ERR_PARSE_ARGS')) return EXIT.usage;
  return EXIT.failed;
}

/** A secret-free description of an error: its code (if any) and message. */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof DlaasError) return { code: error.code, message: error.message };
  if (error instanceof UsageError) return { code: 'USAGE', message: error.message };
  if (error instanceof OperationFailed) return { code: 'FAILED', message: error.message };
  if (error instanceof Interrupted) return { code: error.signal === 'SIGINT' ? 'INTERRUPTED' : 'TERMINATED', message: error.message };
  if (error instanceof CliFailure) return { code: error.code, message: error.message };
  const code = error instanceof Error && typeof (error as unknown as { code?: unknown }).code === 'string' ? (error as unknown as { code: string }).code : 'ERROR';
  return { code: code.startsWith('ERR_PARSE_ARGS') ? 'USAGE' : code, message: scrub(error instanceof Error ? error.message : String(error)) };
}

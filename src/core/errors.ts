/**
 * The dlaas error hierarchy. Every error thrown by the SDK is a {@link DlaasError} with a stable
 * {@link DlaasError.code | code} string; branch on `code` (or `instanceof`), never on messages.
 *
 * Secrets never reach an error: no token, password, `Authorization`/`X-Rucio-Auth-Token`/`X-Rucio-Password`
 * value appears in a message, a `cause`, an enumerable property or the `JSON.stringify` form. URLs are
 * reduced to origin + path with secret-bearing query parameters replaced by `[redacted]`.
 *
 * @module
 */

/** Stable error codes. The string values are part of the public API and never change. */
export const ErrorCode = {
  unknown: 'DLAAS_ERROR',
  invalidArgument: 'DLAAS_INVALID_ARGUMENT',
  invalidDid: 'DLAAS_INVALID_DID',
  config: 'DLAAS_CONFIG',
  api: 'DLAAS_API_ERROR',
  badRequest: 'DLAAS_BAD_REQUEST',
  unauthenticated: 'DLAAS_UNAUTHENTICATED',
  forbidden: 'DLAAS_FORBIDDEN',
  notFound: 'DLAAS_NOT_FOUND',
  conflict: 'DLAAS_CONFLICT',
  duplicate: 'DLAAS_DUPLICATE',
  unsupportedContentType: 'DLAAS_UNSUPPORTED_CONTENT_TYPE',
  rateLimited: 'DLAAS_RATE_LIMITED',
  server: 'DLAAS_SERVER_ERROR',
  connection: 'DLAAS_CONNECTION',
  timeout: 'DLAAS_TIMEOUT',
  aborted: 'DLAAS_ABORTED',
  responseValidation: 'DLAAS_RESPONSE_VALIDATION',
  stream: 'DLAAS_STREAM',
  responseTooLarge: 'DLAAS_RESPONSE_TOO_LARGE',
  checksumMismatch: 'DLAAS_CHECKSUM_MISMATCH',
  uploadFailed: 'DLAAS_UPLOAD_FAILED',
  unverified: 'DLAAS_UNVERIFIED',
  fileConflict: 'DLAAS_FILE_CONFLICT',
  esapNoProfile: 'DLAAS_ESAP_NO_PROFILE',
  esapSessionExpired: 'DLAAS_ESAP_SESSION_EXPIRED',
  esapBasketConflict: 'DLAAS_ESAP_BASKET_CONFLICT',
  esapUnwritableItems: 'DLAAS_ESAP_UNWRITABLE_ITEMS',
  esapWriteFailed: 'DLAAS_ESAP_WRITE_FAILED',
  esapProfileNotAddressable: 'DLAAS_ESAP_PROFILE_NOT_ADDRESSABLE',
  oauth: 'DLAAS_OAUTH_ERROR',
  oauthProtocol: 'DLAAS_OAUTH_PROTOCOL',
  stateMismatch: 'DLAAS_OAUTH_STATE_MISMATCH',
  issuerMismatch: 'DLAAS_OAUTH_ISSUER_MISMATCH',
  insecureIssuer: 'DLAAS_OAUTH_INSECURE_ISSUER',
  tokenInvalid: 'DLAAS_AUTH_TOKEN_INVALID',
  tokenExpired: 'DLAAS_AUTH_TOKEN_EXPIRED',
  tokenSource: 'DLAAS_AUTH_TOKEN_SOURCE',
  noToken: 'DLAAS_AUTH_NO_TOKEN',
  tokenStore: 'DLAAS_AUTH_TOKEN_STORE',
  tokenWarning: 'DLAAS_AUTH_TOKEN_WARNING',
  ruleStuck: 'DLAAS_RULE_STUCK',
  ruleNotProgressing: 'DLAAS_RULE_NOT_PROGRESSING',
} as const;

/** One of the {@link ErrorCode} values. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The service a request went to. */
export type ServiceName = 'rucio' | 'rucio-auth' | 'esap' | 'oidc' | 'storage' | (string & {});

const SECRET_PARAM = /token|password|passwd|secret|signature|sig$|^code$|credential|auth/i;

/**
 * Reduce a URL to something safe to show: no user-info, no fragment, and the value of every
 * query parameter whose name suggests a secret replaced by `[redacted]`.
 */
export function redactUrl(url: string | URL | undefined): string | undefined {
  if (url === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(String(url));
  } catch {
    return '[unparseable url]';
  }
  u.username = '';
  u.password = '';
  u.hash = '';
  const entries = [...u.searchParams.entries()];
  if (entries.some(([k]) => SECRET_PARAM.test(k))) {
    u.search = new URLSearchParams(entries.map(([k, v]) => [k, SECRET_PARAM.test(k) ? '[redacted]' : v])).toString();
  }
  return u.toString();
}

// Process-wide registry of secret values seen by the transport (tokens, passwords). Every error
// message and excerpt is passed through it, so a server that echoes a token back cannot leak it.
// Weakly bounded: old values fall out after 256 entries.
const knownSecrets: string[] = [];

/** @internal Register a secret so that it is scrubbed from every error text. */
export function registerSecret(secret: string | undefined): void {
  if (!secret || secret.length < 6 || knownSecrets.includes(secret)) return;
  knownSecrets.push(secret);
  if (knownSecrets.length > 256) knownSecrets.shift();
}

const JWT_LIKE = /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const HEADER_VALUE = /((?:authorization|x-rucio-auth-token|x-rucio-password|cookie)\s*[:=]\s*)("?)[^\s"',}]+(?:\s+[^\s"',}]+)?/gi;

/** @internal Remove every known secret, JWT-shaped string and credential header value from a text. */
export function scrub(text: string): string {
  let out = text;
  for (const s of knownSecrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
  return out.replace(JWT_LIKE, '[redacted-jwt]').replace(HEADER_VALUE, '$1$2[redacted]');
}

/** Options common to every dlaas error. */
export interface DlaasErrorOptions {
  /** The underlying error. Only errors that carry no secrets are kept (their message is scrubbed). */
  cause?: unknown;
}

function safeCause(cause: unknown, depth = 0): unknown {
  if (cause === undefined) return undefined;
  if (cause instanceof DlaasError) return cause;
  if (cause instanceof Error) {
    // The chain is kept (scrubbed) with string codes such as ECONNREFUSED: they say what failed.
    const inner = depth < 6 ? safeCause(cause.cause, depth + 1) : undefined;
    const e = new Error(scrub(cause.message), inner === undefined ? undefined : { cause: inner });
    e.name = cause.name;
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(code)) (e as Error & { code: string }).code = code;
    return e;
  }
  if (typeof cause === 'string') return scrub(cause);
  return undefined;
}

/**
 * The root of every error the SDK throws.
 *
 * @example
 * ```ts
 * try {
 *   await rucio.dids.get(parseDid('user.jdoe:missing'));
 * } catch (e) {
 *   if (e instanceof DlaasError && e.code === ErrorCode.notFound) console.log('no such DID');
 * }
 * ```
 */
export class DlaasError extends Error {
  /** Stable machine-readable code; see {@link ErrorCode}. */
  readonly code: ErrorCodeValue;

  constructor(message: string, options: DlaasErrorOptions = {}, code: ErrorCodeValue = ErrorCode.unknown) {
    const cause = safeCause(options.cause);
    super(scrub(message), cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.code = code;
  }

  /** A plain, secret-free representation (used by `JSON.stringify`). */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    for (const [k, v] of Object.entries(this)) if (!(k in out)) out[k] = v;
    return out;
  }
}

/** A caller passed a value the SDK cannot use. `argument` names which one. */
export class InvalidArgumentError extends DlaasError {
  /** The name of the offending argument or field. */
  readonly argument: string;
  constructor(argument: string, message: string, options: DlaasErrorOptions = {}, code: ErrorCodeValue = ErrorCode.invalidArgument) {
    super(message, options, code);
    this.argument = argument;
  }
}

/** A string or object is not a valid Rucio DID (scope/name rules of the Rucio schema). */
export class InvalidDidError extends InvalidArgumentError {
  /** A short, printable excerpt of the rejected input. */
  readonly input: string;
  constructor(input: unknown, reason: string) {
    const excerpt = excerptOf(input);
    super('did', `Invalid DID ${excerpt}: ${reason}`, {}, ErrorCode.invalidDid);
    this.input = excerpt;
  }
}

/** Configuration is missing or wrong (e.g. no base URL); the message names the option or variable to set. */
export class ConfigError extends DlaasError {
  /** The option or environment variable concerned. */
  readonly setting: string;
  constructor(setting: string, message: string, options: DlaasErrorOptions = {}) {
    super(message, options, ErrorCode.config);
    this.setting = setting;
  }
}

/** Details of a failed HTTP exchange, as given to {@link ApiError}. */
export interface ApiErrorInit extends DlaasErrorOptions {
  status: number;
  service: ServiceName;
  method: string;
  url: string | URL;
  /** Rucio's `ExceptionClass` (from the JSON body, else the header). */
  exceptionClass?: string | undefined;
  /** Rucio's `ExceptionMessage` (full text from the body; the header is truncated). */
  exceptionMessage?: string | undefined;
  /** Short excerpt of a non-JSON error body. */
  bodyExcerpt?: string | undefined;
  /** Seconds from a `Retry-After` header, when given. */
  retryAfter?: number | undefined;
  /** What to do next, appended to the message (e.g. why no token was sent). */
  hint?: string | undefined;
}

/** The server answered with a non-success status. Subclasses give the meaning. */
export class ApiError extends DlaasError {
  /** HTTP status code. */
  readonly status: number;
  /** Which service answered. */
  readonly service: ServiceName;
  /** HTTP method of the request. */
  readonly method: string;
  /** Request URL, without credentials or secret query values. */
  readonly url: string;
  /** Rucio `ExceptionClass`, e.g. `DataIdentifierNotFound`. */
  readonly exceptionClass: string | undefined;
  /** Rucio `ExceptionMessage`, untruncated when the body had it. */
  readonly exceptionMessage: string | undefined;
  /** A short excerpt of a body that was not a Rucio error document. */
  readonly bodyExcerpt: string | undefined;
  /** `Retry-After` in seconds, when the server sent one. */
  readonly retryAfter: number | undefined;

  constructor(init: ApiErrorInit, code: ErrorCodeValue = ErrorCode.api) {
    const url = redactUrl(init.url) ?? '';
    const detail = init.exceptionClass
      ? `${init.exceptionClass}: ${init.exceptionMessage ?? ''}`.trim()
      : init.bodyExcerpt
        ? init.bodyExcerpt
        : `HTTP ${init.status}`;
    super(`${init.service} ${init.method} ${pathOf(url)} failed with ${init.status}: ${detail}${init.hint ? ` (${init.hint})` : ''}`, init, code);
    this.status = init.status;
    this.service = init.service;
    this.method = init.method;
    this.url = url;
    this.exceptionClass = init.exceptionClass;
    this.exceptionMessage = init.exceptionMessage === undefined ? undefined : scrub(init.exceptionMessage);
    this.bodyExcerpt = init.bodyExcerpt === undefined ? undefined : scrub(init.bodyExcerpt);
    this.retryAfter = init.retryAfter;
  }
}

/** 400: the server rejected the request as malformed (Rucio `ValueError`, `TypeError`, `KeyError`, `InvalidObject`, ...). */
export class BadRequestError extends ApiError {
  constructor(init: ApiErrorInit) {
    super(init, ErrorCode.badRequest);
  }
}
/** 401 / `CannotAuthenticate`: no valid credentials. Also raised when no token was sent (Rucio answers 400 `Token must be set.`). */
export class UnauthenticatedError extends ApiError {
  constructor(init: ApiErrorInit) {
    super(init, ErrorCode.unauthenticated);
  }
}
/** 403 / Rucio `AccessDenied` (which Rucio sends as 401 or 500): authenticated but not allowed. */
export class ForbiddenError extends ApiError {
  constructor(init: ApiErrorInit) {
    super(init, ErrorCode.forbidden);
  }
}
/** 404 / any Rucio `*NotFound` class (a missing DID is 400 on `POST /replicas/list`: still this class). */
export class NotFoundError extends ApiError {
  constructor(init: ApiErrorInit) {
    super(init, ErrorCode.notFound);
  }
}
/** 409 and other state conflicts (`InvalidRSEExpression`, `UnsupportedOperation`, ...). */
export class ConflictError extends ApiError {
  constructor(init: ApiErrorInit, code: ErrorCodeValue = ErrorCode.conflict) {
    super(init, code);
  }
}
/** The thing to create already exists (`Duplicate`, `DuplicateRule`, `DataIdentifierAlreadyExists`, `FileAlreadyExists`, ...). */
export class DuplicateError extends ConflictError {
  constructor(init: ApiErrorInit) {
    super(init, ErrorCode.duplicate);
  }
}
/** 406 `UnsupportedRequestedContentType`: the `Accept` header did not match what the endpoint serves. */
export class UnsupportedContentTypeError extends ApiError {
  constructor(init: ApiErrorInit) {
    super(init, ErrorCode.unsupportedContentType);
  }
}
/** 429: rate limited after the retry budget was spent. `retryAfter` tells how long the server asked to wait. */
export class RateLimitError extends ApiError {
  constructor(init: ApiErrorInit) {
    super(init, ErrorCode.rateLimited);
  }
}
/** 5xx without a more specific meaning. */
export class ServerError extends ApiError {
  constructor(init: ApiErrorInit) {
    super(init, ErrorCode.server);
  }
}

/** Request context for transport-level errors. */
export interface RequestContext extends DlaasErrorOptions {
  service: ServiceName;
  method: string;
  url: string | URL;
}

/** No HTTP response was received (connection refused, reset, DNS, TLS, CORS). */
export class ConnectionError extends DlaasError {
  /** Which service the request went to. */
  readonly service: ServiceName;
  /** HTTP method. */
  readonly method: string;
  /** Request URL, redacted. */
  readonly url: string;
  constructor(ctx: RequestContext, message?: string, code: ErrorCodeValue = ErrorCode.connection) {
    const url = redactUrl(ctx.url) ?? '';
    super(message ?? `${ctx.service} ${ctx.method} ${pathOf(url)}: ${connectionFailure(url, ctx.cause)}`, ctx, code);
    this.service = ctx.service;
    this.method = ctx.method;
    this.url = url;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'the server';
  }
}

/** The codes and messages along an error's cause chain (undici puts the socket error in `cause`). */
function causeChain(error: unknown): { codes: string[]; text: string } {
  const codes: string[] = [];
  const texts: string[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number) => {
    if (e === null || typeof e !== 'object' || seen.has(e) || depth > 8) return;
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string') texts.push(message);
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors)) for (const x of errors) visit(x, depth + 1);
    visit((e as { cause?: unknown }).cause, depth + 1);
  };
  visit(error, 0);
  return { codes, text: texts.join(' | ') };
}

/**
 * Why no response came, naming the host: `connection to h:p refused`, `cannot resolve host name h
 * (DNS)`, `TLS handshake with h:p failed — it does not speak TLS (plain HTTP? use http://)`, … from
 * the cause chain of the runtime's error (Node/undici: `cause.code`).
 */
export function connectionFailure(url: string, cause: unknown): string {
  const host = hostOf(url);
  const { codes, text } = causeChain(cause);
  const has = (...c: string[]) => codes.some((x) => c.includes(x));
  if (has('ECONNREFUSED')) return `connection to ${host} refused (nothing listens there)`;
  if (/\bbad port\b/.test(text)) return `port ${hostPort(url)} of ${host} is one fetch refuses to use ("bad port"); use another port`;
  if (has('ENOTFOUND', 'EAI_NONAME', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA')) return `cannot resolve host name ${hostOfName(url)} (DNS${codes.includes('EAI_AGAIN') ? ': temporary failure' : ': no such host'})`;
  if (/wrong version number|packet length too long|ERR_SSL_WRONG_VERSION|http request/i.test(text) || has('ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG'))
    return `TLS handshake with ${host} failed: it does not speak TLS there (a plain-HTTP port? then use http://)`;
  if (has('CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'ERR_TLS_CERT_ALTNAME_INVALID'))
    return `TLS certificate of ${host} not accepted (${codes.find((c) => /CERT|SIGNED|VERIFY/.test(c))})`;
  if (has('EPROTO') || /ssl|tls/i.test(text)) return `TLS handshake with ${host} failed`;
  if (has('ECONNRESET', 'UND_ERR_SOCKET')) return `connection to ${host} reset before it answered`;
  if (has('ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT')) return `connection to ${host} timed out`;
  if (has('EHOSTUNREACH', 'ENETUNREACH')) return `${host} is unreachable (${codes.find((c) => c.endsWith('UNREACH'))})`;
  const code = codes.find((c) => /^E[A-Z]+$/.test(c));
  return `connection to ${host} failed${code ? ` (${code})` : ''}`;
}

function hostPort(url: string): string {
  try {
    return new URL(url).port || 'default';
  } catch {
    return '?';
  }
}

function hostOfName(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return 'the server';
  }
}

/** A per-attempt or total timeout elapsed. `timeoutMs` is the limit that was hit. */
export class TimeoutError extends ConnectionError {
  /** The limit that elapsed, in milliseconds. */
  readonly timeoutMs: number | undefined;
  constructor(ctx: RequestContext & { timeoutMs?: number | undefined }) {
    const url = redactUrl(ctx.url) ?? '';
    super(ctx, `${ctx.service} ${ctx.method} ${pathOf(url)}: ${hostOf(url)} did not answer${ctx.timeoutMs ? ` within ${ctx.timeoutMs} ms` : ' in time'} (timed out)`, ErrorCode.timeout);
    this.timeoutMs = ctx.timeoutMs;
  }
}

/**
 * The server answered with a redirect the runtime does not disclose (browsers: an opaque response to
 * `redirect: 'manual'`), and the SDK could not find out without the credentials where it goes, so it
 * did not follow it: the token (or password, or cookie) would have gone wherever it points. Configure
 * the URL the redirect leads to. `host` is the host that redirected.
 */
export class HiddenRedirectError extends ConnectionError {
  /** The host that answered with the redirect. */
  readonly host: string;
  constructor(ctx: RequestContext & { reason?: string | undefined }) {
    const u = new URL(String(ctx.url));
    super(
      ctx,
      `${ctx.service} ${ctx.method} ${u.pathname}: ${u.host} answered with a redirect the browser does not disclose; it was not followed with the credentials, which would go wherever it points` +
        `${ctx.reason ? ` (${ctx.reason})` : ''}. Configure the URL it redirects to`,
    );
    this.host = u.host;
  }
}

/** The caller's `AbortSignal` fired. */
export class AbortError extends DlaasError {
  constructor(message = 'The operation was aborted', options: DlaasErrorOptions = {}) {
    super(message, options, ErrorCode.aborted);
  }
}

/** A response did not have the shape the SDK expects. Names the endpoint, the path of the bad field and an excerpt. */
export class ResponseValidationError extends DlaasError {
  /** `METHOD /path` of the endpoint. */
  readonly endpoint: string;
  /** Path to the offending field, e.g. `line 4: pfns` or `[3].bytes`. */
  readonly path: string;
  /** Short excerpt of the offending value. */
  readonly excerpt: string;
  constructor(endpoint: string, path: string, problem: string, value: unknown, options: DlaasErrorOptions = {}) {
    const excerpt = excerptOf(value);
    super(`Unexpected response from ${endpoint}: ${path || '(root)'} ${problem} (got ${excerpt})`, options, ErrorCode.responseValidation);
    this.endpoint = endpoint;
    this.path = path;
    this.excerpt = excerpt;
  }
}

/** A streamed (NDJSON) body was broken: invalid JSON on a line, or the stream ended inside a value. */
export class StreamError extends DlaasError {
  /** 1-based line number where the problem was found. */
  readonly line: number;
  /** The endpoint, when known. */
  readonly endpoint: string | undefined;
  constructor(line: number, message: string, options: DlaasErrorOptions & { endpoint?: string | undefined } = {}) {
    super(`${options.endpoint ? `${options.endpoint}: ` : ''}NDJSON line ${line}: ${message}`, options, ErrorCode.stream);
    this.line = line;
    this.endpoint = options.endpoint;
  }
}

/** The size limit a {@link ResponseTooLargeError} hit: a key of the clients' `limits` option. */
export type ResponseLimit = 'maxLineBytes' | 'maxBodyBytes';

/**
 * A response went over a size limit: one NDJSON line over `limits.maxLineBytes`, or a JSON/text body
 * over `limits.maxBodyBytes`, counted in decoded bytes (after `Content-Encoding`). Reading stopped at
 * the limit and the response was cancelled; raise the limit in the client options if the data is legitimate.
 */
export class ResponseTooLargeError extends DlaasError {
  /** The limit that was hit, e.g. `maxBodyBytes`. */
  readonly limit: ResponseLimit;
  /** The limit's value in bytes. */
  readonly maxBytes: number;
  /** Host of the server that sent the response (`unknown host` when the parser was given no URL). */
  readonly host: string;
  /** `METHOD /path` of the endpoint, when known. */
  readonly endpoint: string | undefined;
  /** 1-based NDJSON line number, for `maxLineBytes`. */
  readonly line: number | undefined;
  constructor(init: { limit: ResponseLimit; maxBytes: number; url?: string | undefined; endpoint?: string | undefined; line?: number | undefined }) {
    const host = URL.canParse(init.url ?? '') ? new URL(init.url as string).host : 'unknown host';
    const what = init.line === undefined ? 'the response body' : `NDJSON line ${init.line}`;
    const size = init.maxBytes % 1048576 === 0 ? `${init.maxBytes / 1048576} MiB` : `${init.maxBytes} bytes`;
    super(
      `${init.endpoint ? `${init.endpoint} ` : ''}from ${host}: ${what} is larger than limits.${init.limit} (${size}, decoded); ` +
        `reading stopped. If the server legitimately sends more, raise \`limits: { ${init.limit} }\` in the client options`,
      {},
      ErrorCode.responseTooLarge,
    );
    this.limit = init.limit;
    this.maxBytes = init.maxBytes;
    this.host = host;
    this.endpoint = init.endpoint;
    this.line = init.line;
  }
}

/** @internal A short printable excerpt of any value (≤ 80 chars), secrets scrubbed. */
export function excerptOf(value: unknown, max = 80): string {
  let s: string;
  if (typeof value === 'string') s = JSON.stringify(value);
  else if (value === undefined) s = 'undefined';
  else if (typeof value === 'bigint') s = `${value}n`;
  else {
    try {
      s = JSON.stringify(value) ?? String(value);
    } catch {
      s = Object.prototype.toString.call(value);
    }
  }
  s = scrub(s);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function pathOf(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return url;
  }
}

// Rucio exception classes by meaning. Rucio picks the HTTP status per view, so the class decides.
const NOT_FOUND = /NotFound$|^(RSEProtocolNotSupported|RSEProtocolDomainNotSupported|RSEOperationNotSupported)$/;
const DUPLICATE = /^(Duplicate|DuplicateContent|DuplicateRule|DataIdentifierAlreadyExists|FileAlreadyExists|RSEAlreadyExists|ScopeAlreadyExists|AccountAlreadyExists)$/;
const UNAUTH = /^(CannotAuthenticate|IdentityError|IdentityNotFound|CannotAuthorize)$/;

/**
 * Build the right {@link ApiError} subclass for a failed response. Rucio's `ExceptionClass` decides
 * first (the same class has different statuses on different routes), the status second.
 */
export function apiErrorFrom(init: ApiErrorInit): ApiError {
  const cls = init.exceptionClass;
  if (cls) {
    if (cls === 'AccessDenied') return new ForbiddenError(init);
    if (UNAUTH.test(cls)) return new UnauthenticatedError(init);
    if (DUPLICATE.test(cls)) return new DuplicateError(init);
    if (NOT_FOUND.test(cls)) return new NotFoundError(init);
    if (cls === 'UnsupportedRequestedContentType') return new UnsupportedContentTypeError(init);
    if (cls === 'ValueError' && init.exceptionMessage === 'Token must be set.') return new UnauthenticatedError(init);
  }
  const s = init.status;
  if (s === 400) return new BadRequestError(init);
  if (s === 401) return new UnauthenticatedError(init);
  if (s === 403) return new ForbiddenError(init);
  if (s === 404) return new NotFoundError(init);
  if (s === 406) return new UnsupportedContentTypeError(init);
  if (s === 409 || s === 412 || s === 423) return new ConflictError(init);
  if (s === 429) return new RateLimitError(init);
  if (s >= 500) return new ServerError(init);
  return new ApiError(init);
}

/** Parsed Rucio error document. */
export interface RucioErrorBody {
  exceptionClass?: string | undefined;
  exceptionMessage?: string | undefined;
  bodyExcerpt?: string | undefined;
}

/**
 * Read Rucio's error details: the JSON body `{"ExceptionClass", "ExceptionMessage"}` first (labelled
 * `application/octet-stream`, full message), the `ExceptionClass`/`ExceptionMessage` headers as fallback
 * (truncated to 125 chars, hidden from browsers by CORS). Anything else becomes a short body excerpt.
 */
export function parseRucioErrorBody(body: string, headers?: Headers): RucioErrorBody {
  const trimmed = body.trim();
  if (trimmed.startsWith('{')) {
    try {
      const doc: unknown = JSON.parse(trimmed);
      if (doc && typeof doc === 'object') {
        const d = doc as Record<string, unknown>;
        const cls = typeof d.ExceptionClass === 'string' ? d.ExceptionClass : undefined;
        const msg = typeof d.ExceptionMessage === 'string' ? d.ExceptionMessage : undefined;
        if (cls !== undefined || msg !== undefined) {
          return { exceptionClass: cls ?? headers?.get('ExceptionClass') ?? undefined, exceptionMessage: msg ?? headers?.get('ExceptionMessage') ?? undefined };
        }
        // ESAP / DRF style: {"detail": "..."} or field errors.
        if (typeof d.detail === 'string') return { bodyExcerpt: d.detail.slice(0, 200) };
      }
    } catch {
      /* fall through to headers / excerpt */
    }
  }
  const hCls = headers?.get('ExceptionClass') ?? undefined;
  const hMsg = headers?.get('ExceptionMessage') ?? undefined;
  if (hCls) return { exceptionClass: hCls, exceptionMessage: hMsg };
  if (trimmed === '') return {};
  const oneLine = trimmed.replace(/\s+/g, ' ');
  return { bodyExcerpt: oneLine.length > 200 ? `${oneLine.slice(0, 199)}…` : oneLine };
}

/**
 * Tokens that live somewhere else (a variable, a file, the JupyterHub API): a
 * {@link SourceTokenProvider} walks an ordered list of {@link TokenCandidate}s, takes the first
 * valid token, reports which source it used, and re-reads when the source changes or the token
 * is about to expire. The Node entry (`dlaas/node`) adds files and `process.env` on top.
 * @module
 */
import { registerSecret } from '../core/errors.js';
import { isJwt, tokenExpiry } from './claims.js';
import { NoTokenError, TokenExpiredError, TokenSourceError } from './errors.js';
import { RefreshingTokenProvider, refreshOptionsOf, type IssuedToken, type LoadContext, type RefreshOptions } from './refreshing.js';

/**
 * Content read from a token source.
 *
 * @example
 * ```ts
 * const content: CandidateContent = { text: await file.text(), version: String(file.lastModified) };
 * ```
 */
export interface CandidateContent {
  /** The raw text (token, possibly with whitespace, or a JSON object with `access_token`). */
  text: string;
  /** A fingerprint of the content's version (e.g. a file's inode, mtime and size). */
  version: string;
}

/**
 * One place a token may be. `read` resolves `undefined` when the source is absent (the next
 * candidate is tried) and throws {@link TokenSourceError} when it is present but unusable.
 *
 * @example
 * ```ts
 * const fromGlobal: TokenCandidate = {
 *   source: 'global:TOKEN',
 *   read: async () => { const t = (globalThis as { TOKEN?: string }).TOKEN; return t ? { text: t, version: t } : undefined; },
 * };
 * ```
 */
export interface TokenCandidate {
  /** Where, e.g. `env:RUCIO_ACCESS_TOKEN`, `file:/tmp/rucio_oauth.token`, `jupyterhub`. Never the token. */
  readonly source: string;
  /** Read the content. */
  read(signal: AbortSignal): Promise<CandidateContent | undefined>;
  /** Cheaply return the current version (without reading), for change detection. */
  probe?(): Promise<string | undefined>;
}

/**
 * Options of a {@link SourceTokenProvider}.
 *
 * @example
 * ```ts
 * const token = staticToken(jwt, { clockTolerance: 60, expect: RUCIO_TOKEN });
 * ```
 */
export interface SourceOptions extends RefreshOptions {
  /** Accept a token whose `exp` passed less than this many seconds ago (clock skew; default 30). */
  clockTolerance?: number | undefined;
}

/**
 * Construction options of a {@link SourceTokenProvider}.
 *
 * @example
 * ```ts
 * const provider = new SourceTokenProvider(() => candidates, { hint: 'Set MY_TOKEN.', skew: 30 });
 * ```
 */
export interface SourceProviderInit extends SourceOptions {
  /** Appended to the {@link NoTokenError} message: what the user should set. */
  hint?: string | undefined;
  /** Whether re-reading can yield another token (default true; false for fixed values). */
  canRefresh?: boolean | undefined;
}

// RFC 6750 b64token.
const TOKEN_TEXT = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Turn the content of a token file or variable into a token: surrounding whitespace is stripped
 * (WLCG bearer-token discovery), a JSON object's `access_token` is taken; anything else that is not
 * a single RFC 6750 token is rejected with {@link TokenSourceError} — without quoting the content.
 *
 * @example
 * ```ts
 * parseTokenText('  eyJhbGciOi...  \n', 'file:/tmp/bt_u1000'); // 'eyJhbGciOi...'
 * ```
 */
export function parseTokenText(text: string, source: string): string {
  const trimmed = text.trim();
  if (trimmed === '') throw new TokenSourceError(source, 'empty', 'is empty');
  let token = trimmed;
  if (trimmed.startsWith('{')) {
    let doc: unknown;
    try {
      doc = JSON.parse(trimmed);
    } catch {
      throw new TokenSourceError(source, 'malformed', 'looks like JSON but does not parse');
    }
    const at = doc && typeof doc === 'object' ? (doc as Record<string, unknown>).access_token : undefined;
    if (typeof at !== 'string') throw new TokenSourceError(source, 'malformed', 'is a JSON document without a string "access_token"');
    token = at.trim();
  }
  registerSecret(token);
  if (!TOKEN_TEXT.test(token)) throw new TokenSourceError(source, 'malformed', `does not hold a single bearer token (${token.length} characters, ${/\s/.test(token) ? 'with inner whitespace' : 'with characters a token cannot contain'})`);
  if (token.split('.').length === 3 && !isJwt(token)) throw new TokenSourceError(source, 'malformed', 'holds a JWT-shaped value that does not decode');
  return token;
}

/**
 * A candidate reading a variable from an environment-like record (`process.env`, `Deno.env.toObject()`).
 *
 * @example
 * ```ts
 * const c = envCandidate({ RUCIO_ACCESS_TOKEN: 'eyJ...' }, 'RUCIO_ACCESS_TOKEN');
 * ```
 */
export function envCandidate(env: Readonly<Record<string, string | undefined>>, name: string): TokenCandidate {
  return {
    source: `env:${name}`,
    read: async () => {
      const v = env[name];
      return v === undefined || v.trim() === '' ? undefined : { text: v, version: v };
    },
    probe: async () => env[name],
  };
}

/**
 * A token provider over an ordered list of sources. The first source with a valid (non-expired)
 * token wins; `source` says which one. Present-but-broken sources (malformed file, expired token)
 * are skipped, and their error is thrown if no later source has a token; with no token anywhere a
 * {@link NoTokenError} names what to set. The chosen source is re-read when it changes (files are
 * watched by fingerprint on each call), near expiry, and after a 401 — then the whole list is walked again.
 *
 * @example
 * ```ts
 * const provider = new SourceTokenProvider(() => [envCandidate(env, 'RUCIO_ACCESS_TOKEN'), envCandidate(env, 'BEARER_TOKEN')], { hint: 'Set RUCIO_ACCESS_TOKEN.' });
 * await provider.getToken();
 * console.log(provider.source); // 'env:RUCIO_ACCESS_TOKEN'
 * ```
 */
export class SourceTokenProvider extends RefreshingTokenProvider {
  readonly #candidates: () => readonly TokenCandidate[];
  readonly #hint: string;
  readonly #toleranceMs: number;
  readonly #clock: () => number;
  #chosen: { candidate: TokenCandidate; version: string } | undefined;
  #tried: string[] = [];

  constructor(candidates: () => readonly TokenCandidate[], options: SourceProviderInit = {}) {
    super({ ...refreshOptionsOf(options), canRefresh: options.canRefresh });
    this.#candidates = candidates;
    this.#hint = options.hint ?? '';
    this.#toleranceMs = (options.clockTolerance ?? 30) * 1000;
    this.#clock = options.now ?? Date.now;
  }

  /** The source of the current token, e.g. `env:RUCIO_ACCESS_TOKEN` (undefined before the first load). */
  get source(): string | undefined {
    return this.#chosen?.candidate.source;
  }

  /** What the last load tried, in order, with the outcome of each. */
  get tried(): readonly string[] {
    return this.#tried;
  }

  protected override async load(context: LoadContext): Promise<IssuedToken> {
    const tried: string[] = [];
    let firstError: Error | undefined;
    try {
      for (const candidate of this.#candidates()) {
        let content: CandidateContent | undefined;
        try {
          content = await candidate.read(context.signal);
          if (content === undefined) {
            tried.push(`${candidate.source} (not set)`);
            continue;
          }
          const token = parseTokenText(content.text, candidate.source);
          const expiresAt = tokenExpiry(token);
          if (expiresAt && expiresAt.getTime() + this.#toleranceMs <= this.#clock()) throw new TokenExpiredError(expiresAt, candidate.source);
          tried.push(`${candidate.source} (used)`);
          this.#chosen = { candidate, version: content.version };
          return { token, expiresAt };
        } catch (error) {
          if (context.signal.aborted) throw error;
          const problem = error instanceof TokenExpiredError ? 'expired' : error instanceof TokenSourceError ? error.problem : 'failed';
          tried.push(`${candidate.source} (${problem})`);
          firstError ??= error as Error;
        }
      }
    } finally {
      this.#tried = tried;
    }
    throw firstError ?? new NoTokenError(tried, this.#hint);
  }

  protected override async sourceChanged(): Promise<boolean> {
    const chosen = this.#chosen;
    if (!chosen?.candidate.probe) return false;
    return (await chosen.candidate.probe()) !== chosen.version;
  }
}

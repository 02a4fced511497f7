/**
 * Errors specific to the ESAP basket. Each one has a stable `DLAAS_ESAP_*` code.
 *
 * @module
 */
import { DlaasError, ErrorCode, type DlaasErrorOptions } from '../core/errors.js';
import type { Basket } from './basket.js';
import type { BasketItem, BasketItemProblem } from './items.js';

/**
 * How an {@link EsapClient} authenticates: which one decides what an empty profile list means.
 *
 * @example
 * ```ts
 * if (esap.authMode === 'anonymous') console.warn('ESAP will show no basket without credentials');
 * ```
 */
export type EsapAuthMode = 'bearer' | 'basic' | 'session' | 'anonymous';

/**
 * Why ESAP showed no profile.
 *
 * @example
 * ```ts
 * const hint: Record<NoProfileReason, string> = { anonymous: 'pass a token', 'no-profile-for-identity': 'log in to ESAP once', 'no-session-or-no-profile': 'log in to ESAP', 'profile-not-visible': 'read the basket again' };
 * ```
 */
export type NoProfileReason =
  /** No credentials were configured: ESAP answers anonymous callers with an empty list. */
  | 'anonymous'
  /** Valid credentials, but no profile has the identity's email (bearer: the token's userinfo email). */
  | 'no-profile-for-identity'
  /** Cookie session: no session cookie, a session without OIDC tokens, or no profile (the server does not say which). */
  | 'no-session-or-no-profile'
  /** The detail/PATCH URL answered 404: the profile is gone or the identity changed since it was read. */
  | 'profile-not-visible';

const NO_PROFILE_TEXT: Record<NoProfileReason, string> = {
  anonymous:
    'Not logged in to ESAP: no credentials were configured (pass `token`, `basic`, or `credentials: "include"` in a browser on the ESAP origin). ESAP answers anonymous callers with an empty profile list',
  'no-profile-for-identity':
    'No ESAP profile for this identity: the credentials are valid (ESAP would answer 401 otherwise), but no profile has this identity\'s email. With a bearer token ESAP matches the email of the token\'s userinfo to the profile\'s user_email; profiles are created by logging in to the ESAP web GUI once with the same IAM account',
  'no-session-or-no-profile':
    'Not logged in to ESAP, or no ESAP profile: with a cookie session ESAP answers the same empty list for a missing session cookie, a session without OIDC tokens, and a logged-in user without a profile. Log in through the ESAP GUI (esap-api/oidc/authenticate/) on this origin',
  'profile-not-visible':
    'The ESAP profile is not visible to these credentials any more (404 on its URL): it was deleted, or the credentials now belong to another identity',
};

/**
 * ESAP answered with no profile for the caller: 200 with an empty `results` list, or 404 on the
 * profile's own URL. ESAP never answers 401/403 here (only invalid credentials give 401), so
 * `reason` says, as precisely as the server allows, which case it is.
 *
 * @example
 * ```ts
 * try {
 *   await esap.basket.get();
 * } catch (e) {
 *   if (e instanceof EsapNoProfileError && e.reason === 'no-profile-for-identity') console.log('log in to the ESAP GUI once');
 * }
 * ```
 */
export class EsapNoProfileError extends DlaasError {
  /** Which case it is. */
  readonly reason: NoProfileReason;
  /** How the client authenticated. */
  readonly authMode: EsapAuthMode;
  /** The profile name, when a known profile vanished. */
  readonly userName: string | undefined;
  constructor(reason: NoProfileReason, authMode: EsapAuthMode, userName?: string) {
    super(`${NO_PROFILE_TEXT[reason]}${userName ? ` (profile ${JSON.stringify(userName)})` : ''} [auth: ${authMode}]`, {}, ErrorCode.esapNoProfile);
    this.reason = reason;
    this.authMode = authMode;
    this.userName = userName;
  }
}

/**
 * The browser session's ID token expired: ESAP's session middleware asks for a silent re-login
 * (403 with `refresh_url` for XHR requests, a 302 to the identity provider otherwise). Send the
 * user to `refreshUrl` (or the ESAP login) and retry.
 *
 * @example
 * ```ts
 * try { await esap.basket.get(); } catch (e) {
 *   if (e instanceof EsapSessionExpiredError) location.assign(e.refreshUrl ?? '/esap-api/oidc/authenticate/');
 * }
 * ```
 */
export class EsapSessionExpiredError extends DlaasError {
  /** The identity provider's authorization URL ESAP gave for the silent refresh, if any. */
  readonly refreshUrl: string | undefined;
  constructor(refreshUrl: string | undefined) {
    super('The ESAP session expired (its ID token is past id_token_expiration): log in to ESAP again', {}, ErrorCode.esapSessionExpired);
    this.refreshUrl = refreshUrl;
  }
}

/**
 * What the read-back after a basket write showed wrong about the edit (see {@link EsapBasketConflictError.mismatch}).
 *
 * @example
 * ```ts
 * const { missing, restored, duplicated } = error.mismatch ?? { missing: [], restored: [], duplicated: [] };
 * console.log(`${missing.length} lost, ${restored.length} back, ${duplicated.length} duplicated`);
 * ```
 */
export interface BasketEditMismatch {
  /** Entries the edit added that the basket does not hold: another client's write replaced the list. */
  readonly missing: readonly (BasketItem | BasketItemProblem)[];
  /** Entries the edit removed that are back: another client's write, based on an older read, restored them. */
  readonly restored: readonly (BasketItem | BasketItemProblem)[];
  /** Entries the edit wrote that the basket holds more often than the edit wrote them: two writes interleaved. */
  readonly duplicated: readonly (BasketItem | BasketItemProblem)[];
}

/**
 * Another writer's change stands in the way of a basket edit. Either found before writing, when the
 * edit was asked not to merge (`onConflict: 'fail'`): nothing was written (`writes` 0), `expected` is
 * the basket the edit was based on, `actual` the one on the server. Or found by the read-back after
 * writing: ESAP has no version or ETag, and another client wrote the whole basket at the same time,
 * so the edit was overwritten or interleaved (`mismatch` says how) and could not be confirmed within
 * `maxWrites` writes (or `onConflict: 'fail'` forbade re-applying it). Then `expected` is the server's
 * answer to the SDK's last write and `actual` the basket the last read-back showed: the edit is not
 * (fully) in effect there.
 *
 * @example
 * ```ts
 * try {
 *   await esap.basket.remove(item, { basedOn: shown, onConflict: 'fail' });
 * } catch (e) {
 *   if (e instanceof EsapBasketConflictError) render(e.actual); // show the fresh basket and ask again
 * }
 * ```
 */
export class EsapBasketConflictError extends DlaasError {
  /** Nothing written: the basket the edit was computed from. Written: the server's answer to the SDK's last write. */
  readonly expected: Basket;
  /** Nothing written: the basket on the server right before the write. Written: the last read-back. */
  readonly actual: Basket;
  /** Writes the SDK sent for this edit (0: nothing was written). */
  readonly writes: number;
  /** How the last read-back differed from the edit (undefined when nothing was written). */
  readonly mismatch: BasketEditMismatch | undefined;
  constructor(expected: Basket, actual: Basket, why: string, after: { writes: number; mismatch?: BasketEditMismatch } = { writes: 0 }) {
    super(
      after.writes === 0
        ? `The ESAP basket changed since it was read (${why}); nothing was written`
        : `The ESAP basket edit could not be confirmed after ${after.writes} write${after.writes === 1 ? '' : 's'} (${why}). ESAP has no version or ETag, so whole-basket writes of several clients cannot be ordered; the basket now holds ${actual.size} entries`,
      {},
      ErrorCode.esapBasketConflict,
    );
    this.expected = expected;
    this.actual = actual;
    this.writes = after.writes;
    this.mismatch = after.mismatch;
  }

  /** True when the SDK wrote the basket before the conflict was found. */
  get written(): boolean {
    return this.writes > 0;
  }
}

/**
 * The basket holds entries ESAP cannot store again (an `item_data` that is not a JSON object, or
 * missing): writing the basket would have to drop them. Nothing was written. Remove them
 * explicitly (`basket.remove(basket.problems)`), or pass `unwritable: 'drop'`.
 *
 * @example
 * ```ts
 * try { await esap.basket.add(item); } catch (e) {
 *   if (e instanceof EsapUnwritableItemsError) console.table(e.problems.map((p) => [p.index, p.problem]));
 * }
 * ```
 */
export class EsapUnwritableItemsError extends DlaasError {
  /** The entries that cannot be written back. */
  readonly problems: readonly BasketItemProblem[];
  constructor(problems: readonly BasketItemProblem[]) {
    const shown = problems
      .slice(0, 3)
      .map((p) => `#${p.index} ${p.field ? `${p.field}: ` : ''}${p.problem}`)
      .join('; ');
    super(
      `The ESAP basket holds ${problems.length} entr${problems.length === 1 ? 'y' : 'ies'} that cannot be written back (${shown}${problems.length > 3 ? '; …' : ''}); remove them explicitly or pass unwritable: 'drop'`,
      {},
      ErrorCode.esapUnwritableItems,
    );
    this.problems = problems;
  }
}

/**
 * Writing the basket failed and a re-read showed that the server does not hold the intended basket.
 * ESAP deletes every item before recreating the list, so a failed write can leave it partly written:
 * `before` is the basket right before the write (restore it with `basket.replace(before.items)`),
 * `after` what the server holds now (if it could be read), `cause` the original failure.
 *
 * @example
 * ```ts
 * try { await esap.basket.add(item); } catch (e) {
 *   if (e instanceof EsapBasketWriteError) await esap.basket.replace([...e.before.items, item]);
 * }
 * ```
 */
export class EsapBasketWriteError extends DlaasError {
  /** The basket read right before the write. */
  readonly before: Basket;
  /** The basket found after the failure, when it could be read. */
  readonly after: Basket | undefined;
  constructor(before: Basket, after: Basket | undefined, options: DlaasErrorOptions) {
    const cause = options.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(`Writing the ESAP basket failed and the server does not hold the intended basket${after ? ` (it now has ${after.size} entries, ${before.size} before)` : ''}${cause}`, options, ErrorCode.esapWriteFailed);
    this.before = before;
    this.after = after;
  }
}

/**
 * The profile's `user_name` cannot be addressed on ESAP's profile URL: the server's router only
 * matches names without `.` and `/` (`[^/.]+`; a `.x` suffix is even read as a format), so ESAP
 * itself cannot save this basket (the GUI fails the same way). Nothing was written.
 *
 * @example
 * ```ts
 * try { await esap.basket.clear(); } catch (e) {
 *   if (e instanceof EsapProfileNotAddressableError) console.log(`ESAP cannot save baskets of ${e.userName}`);
 * }
 * ```
 */
export class EsapProfileNotAddressableError extends DlaasError {
  /** The profile name. */
  readonly userName: string;
  constructor(userName: string) {
    super(`ESAP cannot address the profile ${JSON.stringify(userName)} on user-profiles/{user_name}/ (its router matches [^/.]+ only), so its basket cannot be written`, {}, ErrorCode.esapProfileNotAddressable);
    this.userName = userName;
  }
}

/**
 * The ESAP shopping basket: read it, edit it safely, and turn it into Data Lake work.
 *
 * ESAP's only write is a PATCH of the *whole* list, which deletes and recreates every item, with no
 * version to check. So every edit is computed as a change (what to add, what to remove) against the
 * basket it was based on, the basket is re-read right before the write, and a concurrent change
 * (another tab, the GUI) is merged: the other writer's items are kept. Two PATCHes at the same moment
 * both answer 200 while one replaces the other's list (or both interleave into duplicates), so after
 * writing, the basket is read back (after a short, jittered settle) and an overwritten edit is applied
 * again (see {@link EsapBasket} for what that does and does not guarantee). Items are written from
 * their stored text, so unknown items and big integers round-trip unchanged.
 *
 * @module
 */
import { sleep } from '../core/abort.js';
import { formatDid, type Did } from '../core/did.js';
import { ConnectionError, ServerError } from '../core/errors.js';
import { Listing } from '../core/listing.js';
import type { CallOptions } from '../core/transport.js';
import type { EsapApi, ProfileWire } from './api.js';
import { EsapBasketConflictError, EsapBasketWriteError, EsapProfileNotAddressableError, EsapUnwritableItemsError, type BasketEditMismatch } from './errors.js';
import {
  KNOWN_ARCHIVES,
  decodeEntry,
  inputEntry,
  type BasketItem,
  type BasketItemInput,
  type BasketItemProblem,
  type Entry,
  type KnownArchive,
  type UnknownBasketItem,
} from './items.js';

/**
 * The IAM tokens ESAP stores in the profile (written there by the last browser-session request).
 *
 * @example
 * ```ts
 * const { tokens } = await esap.basket.get({ includeTokens: true });
 * if (tokens?.accessToken) rucio = new RucioClient({ baseUrl, token: tokens.accessToken });
 * ```
 */
export interface EsapProfileTokens {
  /** `oidc_access_token`. */
  readonly accessToken: string | null;
  /** `oidc_id_token`. */
  readonly idToken: string | null;
  /** `id_token_expiration` (ISO 8601, UTC). */
  readonly idTokenExpiration: string | null;
}

/**
 * Basket items grouped by archive: one (possibly empty) list per known archive, plus `unknown`.
 *
 * @example
 * ```ts
 * const { rucio, zooniverse, unknown } = basket.byArchive();
 * console.log(`${rucio.length} Rucio items, ${zooniverse.length} Zooniverse exports, ${unknown.length} others`);
 * ```
 */
export type BasketByArchive = { readonly [K in KnownArchive]: readonly Extract<BasketItem, { kind: K }>[] } & { readonly unknown: readonly UnknownBasketItem[] };

/**
 * A downloadable data product of the basket (an item whose record carries an `access_url`-like URL), for `staging`.
 *
 * @example
 * ```ts
 * for (const { url, filename } of basket.sources()) await download(url, filename);
 * ```
 */
export interface BasketSource {
  /** The http(s) URL of the data. */
  readonly url: string;
  /** A file name for it: the last segment of the URL path (`download` when it has none). */
  readonly filename: string;
  /** The item's archive. */
  readonly archive: string;
  /** The item it comes from. */
  readonly item: BasketItem;
}

const ENTRIES = new WeakMap<Basket, readonly Entry[]>();

function entriesOf(basket: Basket): readonly Entry[] {
  return ENTRIES.get(basket) ?? [];
}

function filenameOf(url: string): string {
  const last = new URL(url).pathname.split('/').filter(Boolean).pop();
  if (!last) return 'download';
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/**
 * One read of the user's basket. Secret-free: the profile's IAM tokens are only in `tokens` when they
 * were asked for (`includeTokens`).
 *
 * @example
 * ```ts
 * const basket = await esap.basket.get();
 * console.log(`${basket.userName}: ${basket.items.length} items, ${basket.problems.length} problems`);
 * for await (const r of rucio.replicas.list(basket.dids())) console.log(r.name);
 * ```
 */
export class Basket {
  /** The profile's `user_name` (its primary key). */
  readonly userName: string;
  /** `full_name`. */
  readonly fullName: string | null;
  /** `user_email`. */
  readonly email: string | null;
  /** The valid items, in basket order. */
  readonly items: readonly BasketItem[];
  /** The entries that failed validation, in basket order (kept in the basket, never dropped silently). */
  readonly problems: readonly BasketItemProblem[];
  readonly #tokens: EsapProfileTokens | undefined;

  /** @internal Decode a profile as ESAP returns it. */
  constructor(profile: ProfileWire, includeTokens = false) {
    const entries = profile.shopping_cart.map((e, i) => decodeEntry(e, i));
    ENTRIES.set(this, entries);
    this.userName = profile.user_name;
    this.fullName = profile.full_name ?? null;
    this.email = profile.user_email ?? null;
    this.items = Object.freeze(entries.map((e) => e.value).filter((v): v is BasketItem => v.kind !== 'problem'));
    this.problems = Object.freeze(entries.map((e) => e.value).filter((v): v is BasketItemProblem => v.kind === 'problem'));
    this.#tokens = includeTokens ? Object.freeze({ accessToken: profile.oidc_access_token ?? null, idToken: profile.oidc_id_token ?? null, idTokenExpiration: profile.id_token_expiration ?? null }) : undefined;
    Object.freeze(this);
  }

  /**
   * The profile's IAM tokens, only when asked for with `includeTokens: true`. An accessor, so that
   * `JSON.stringify`, spreading and `console.log` of a basket never show them.
   */
  get tokens(): EsapProfileTokens | undefined {
    return this.#tokens;
  }

  /** Number of stored entries (items and problems). */
  get size(): number {
    return entriesOf(this).length;
  }

  /** True when an item deep-equal to `item` is in the basket. */
  has(item: BasketItemInput | BasketItemProblem): boolean {
    const key = inputEntry(item, 'item', false).key;
    return entriesOf(this).some((e) => e.key === key);
  }

  /** The DIDs of the Rucio items, de-duplicated, in basket order. */
  dids(): Did[] {
    const seen = new Map<string, Did>();
    for (const item of this.items) if (item.kind === 'rucio' && !seen.has(formatDid(item.did))) seen.set(formatDid(item.did), item.did);
    return [...seen.values()];
  }

  /** The items grouped by archive. */
  byArchive(): BasketByArchive {
    const groups: Record<string, BasketItem[]> = Object.fromEntries([...KNOWN_ARCHIVES, 'unknown'].map((k) => [k, []]));
    for (const item of this.items) groups[item.kind]?.push(item);
    return groups as unknown as BasketByArchive;
  }

  /** Items with a download URL (VO/archive records carrying `access_url`, `url`, …), de-duplicated by URL. */
  sources(): BasketSource[] {
    const seen = new Map<string, BasketSource>();
    for (const item of this.items) {
      const url = 'accessUrl' in item ? item.accessUrl : undefined;
      if (url !== undefined && !seen.has(url)) seen.set(url, Object.freeze({ url, filename: filenameOf(url), archive: item.archive, item }));
    }
    return [...seen.values()];
  }
}

/**
 * Options of {@link EsapBasket.get}.
 *
 * @example
 * ```ts
 * const basket = await esap.basket.get({ signal: AbortSignal.timeout(5_000) });
 * ```
 */
export interface BasketReadOptions extends CallOptions {
  /** Include the profile's IAM tokens (`oidc_access_token`, `oidc_id_token`) in {@link Basket.tokens}. */
  includeTokens?: boolean;
}

/**
 * How an edit confirms its write (per call in {@link BasketEditOptions}, or as defaults for a client
 * in `EsapClientOptions.basketEdits`).
 *
 * @example
 * ```ts
 * const esap = new EsapClient({ baseUrl, token, basketEdits: { settleMs: 500, maxWrites: 5 } });
 * await esap.basket.add(item, { settleMs: 0 }); // read back at once (tests against an in-memory server)
 * ```
 */
export interface BasketConfirmOptions {
  /**
   * How long to wait after a write before reading the basket back: a random time between `settleMs`
   * and 2 × `settleMs` ms (default 250). A write another client sent at about the same moment has
   * landed by then, and two clients repairing the same collision do not collide again in lockstep.
   * 0 reads back at once.
   */
  settleMs?: number;
  /** Writes at most per edit: the first one and its re-applications (default 3; at least 1). */
  maxWrites?: number;
  /**
   * Read the basket back after writing, and apply the edit again when another write overwrote it
   * (default true). With false, `written: true` only means that ESAP answered the PATCH with 200.
   */
  verify?: boolean;
}

/**
 * Options of the editing methods.
 *
 * @example
 * ```ts
 * await esap.basket.remove(item, { basedOn: shown, onConflict: 'fail' });
 * ```
 */
export interface BasketEditOptions extends BasketReadOptions, BasketConfirmOptions {
  /**
   * The basket the edit is based on (what the user saw). A change on the server since then is
   * detected. Default: a fresh read.
   */
  basedOn?: Basket;
  /**
   * A concurrent change: `merge` the edit onto the fresh basket (default; an edit the read-back shows
   * overwritten is applied again), or `fail` with {@link EsapBasketConflictError} (before writing,
   * or, when found by the read-back, instead of writing again).
   */
  onConflict?: 'merge' | 'fail';
  /** Entries ESAP cannot store again: `fail` with {@link EsapUnwritableItemsError} (default), or `drop` them. */
  unwritable?: 'fail' | 'drop';
}

/**
 * What an edit did.
 *
 * @example
 * ```ts
 * const { basket, merged, reapplied } = await esap.basket.add(item, { basedOn: shown });
 * if (merged) console.log('the basket changed elsewhere meanwhile; now', basket.size, 'entries');
 * if (reapplied > 0) console.log('another client overwrote the basket at the same moment; the item was added again');
 * ```
 */
export interface BasketEditResult {
  /**
   * The basket after the edit: the read-back that confirmed it (with `verify: false`, the server's
   * answer to the write; when nothing needed writing, the fresh read that showed so).
   */
  readonly basket: Basket;
  /** True when the SDK wrote the basket; false when the edit changed nothing (e.g. the items were there), so nothing was sent. */
  readonly written: boolean;
  /**
   * True when another writer's change was found and the edit was applied onto it: between the read it
   * was based on and the write, or by the read-back after the write (then `reapplied` may be > 0).
   */
  readonly merged: boolean;
  /** Entries added. */
  readonly added: number;
  /** Entries removed. */
  readonly removed: number;
  /**
   * True when the last read showed the edit in effect: every added entry exactly once, every removed
   * entry absent, nothing the edit wrote duplicated. That read is the read-back taken `settleMs` or
   * more after the last write (or, when nothing needed writing, the fresh read). False with
   * `verify: false`, or when the read-back itself failed (ESAP answered the write with 200; whether
   * it held could not be seen).
   */
  readonly verified: boolean;
  /** Writes beyond the first: how often the read-back showed the edit overwritten or duplicated by a concurrent write and it was written again. */
  readonly reapplied: number;
}

type Edit = (current: readonly Entry[], base: readonly Entry[]) => Entry[];

const keysOf = (entries: readonly Entry[]) => new Set(entries.map((e) => e.key));
const listOf = <T>(items: T | readonly T[]): readonly T[] => (Array.isArray(items) ? (items as readonly T[]) : [items as T]);
const sameSequence = (a: readonly Entry[], b: readonly Entry[], by: 'key' | 'wire') => a.length === b.length && a.every((e, i) => e[by] === b[i]?.[by]);

/** `base` plus the entries of `extra` not in it (de-duplicated by deep equality). */
function union(base: readonly Entry[], extra: readonly Entry[]): Entry[] {
  const keys = keysOf(base);
  const out = [...base];
  for (const e of extra) {
    if (keys.has(e.key)) continue;
    keys.add(e.key);
    out.push(e);
  }
  return out;
}

/** Entries of `a` whose identity is not in `b`. */
function minus(a: readonly Entry[], b: readonly Entry[]): Entry[] {
  const keys = keysOf(b);
  return a.filter((e) => !keys.has(e.key));
}

function describeChange(before: readonly Entry[], after: readonly Entry[]): string {
  return `${minus(after, before).length} entries added and ${minus(before, after).length} removed by another writer`;
}

const countsOf = (entries: readonly Entry[]): Map<string, number> => {
  const counts = new Map<string, number>();
  for (const e of entries) counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
  return counts;
};

/** The first `limits.get(key)` copies of each entry that has a limit; entries without one all stay. */
function capCopies(entries: readonly Entry[], limits: ReadonlyMap<string, number>): Entry[] {
  const seen = new Map<string, number>();
  return entries.filter((e) => {
    const n = (seen.get(e.key) ?? 0) + 1;
    seen.set(e.key, n);
    return n <= (limits.get(e.key) ?? Number.POSITIVE_INFINITY);
  });
}

/** What an edit means to do, fixed at its first write: the entries it adds and the ones it removes, by identity. */
interface Intent {
  readonly adds: ReadonlyMap<string, Entry>;
  readonly removes: ReadonlyMap<string, Entry>;
}

/** The first entry of each identity, in order. */
function firstByKey(entries: readonly Entry[]): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (const e of entries) if (!out.has(e.key)) out.set(e.key, e);
  return out;
}

/**
 * What a read-back shows wrong about the edit: an added entry missing, a removed one back, or an
 * entry the edit wrote present more often than it wrote it (an interleaved write). `undefined`: the
 * edit is in effect.
 */
function mismatchOf(after: readonly Entry[], intent: Intent, written: readonly Entry[]): BasketEditMismatch | undefined {
  const have = countsOf(after);
  const wrote = countsOf(written);
  const value = (e: Entry) => e.value;
  const missing = [...intent.adds.values()].filter((e) => !have.has(e.key)).map(value);
  const restored = [...intent.removes.values()].filter((e) => have.has(e.key)).map(value);
  const duplicated = [...firstByKey(written).values()].filter((e) => (have.get(e.key) ?? 0) > (wrote.get(e.key) ?? 0)).map(value);
  return missing.length + restored.length + duplicated.length === 0 ? undefined : { missing, restored, duplicated };
}

function describeMismatch(m: BasketEditMismatch): string {
  const n = (list: readonly unknown[], one: string, many: string) => `${list.length} ${list.length === 1 ? one : many}`;
  return `the read-back shows ${n(m.missing, 'added entry', 'added entries')} missing, ${n(m.restored, 'removed entry', 'removed entries')} back and ${n(m.duplicated, 'entry', 'entries')} duplicated: another client wrote the whole basket at the same time`;
}

/** The settle before a read-back: `ms` to 2 × `ms` (random), none for 0; an abort rejects with {@link AbortError}. */
function settle(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (!(ms > 0) && !signal?.aborted) return Promise.resolve();
  return sleep(ms > 0 ? ms * (1 + Math.random()) : 0, signal);
}

const DEFAULT_SETTLE_MS = 250;
const DEFAULT_MAX_WRITES = 3;

/**
 * The user's ESAP shopping basket (`esap.basket`).
 *
 * **Concurrent edits.** ESAP stores the basket with one PATCH of the whole list and keeps no version
 * or ETag, so the server cannot refuse a write based on an old read: two clients that read and then
 * PATCH at the same moment both get 200, and the server keeps one client's list (the other's item is
 * lost) or, when the two writes interleave, both lists with the common items twice. The editing
 * methods therefore (1) re-read right before writing and apply the edit as a change onto what they
 * found, keeping other writers' entries; (2) after writing, wait `settleMs` to 2 × `settleMs`
 * (random) and read the basket back; (3) if that read shows the edit overwritten (an added entry
 * missing, a removed one back) or duplicated, read again after another settle and write the edit
 * again onto that basket, dropping the extra copies of entries the edit wrote (never below the number
 * it wrote, and never touching entries it did not write), up to `maxWrites` writes in all; (4) if
 * the edit still is not in effect, fail with {@link EsapBasketConflictError} (`writes` > 0,
 * `mismatch` says what the last read showed).
 *
 * What this guarantees: when an edit resolves with `written: true` and `verified: true`, a read
 * taken at least `settleMs` after its last write showed every added entry exactly once, every
 * removed entry absent, and no entry the edit wrote duplicated; entries of other writers found on
 * the server were kept. A concurrent writer's loss is never silent for the writer whose edit was
 * lost, as long as the other write lands before its read-back. What it cannot guarantee: a write
 * that lands *after* that read-back and was computed from a basket read *before* this edit's write
 * (the ESAP GUI, another program, another tab; also another dlaas client whose read-to-write gap
 * spans this edit's whole write and settle) replaces the list again, and neither client can see it:
 * ESAP has no version or ETag. The settle makes this unlikely for writes sent at about the same
 * moment (the recorded server answered two such PATCHes within about 100 ms), not impossible.
 * A read that lands inside another client's PATCH (between its delete and its creates) sees a
 * partly written basket; the second read before re-applying makes acting on one unlikely.
 *
 * @example
 * ```ts
 * const esap = new EsapClient({ baseUrl: 'https://esap.example.org', token: process.env.ESAP_TOKEN });
 * const basket = await esap.basket.get();
 * await esap.basket.add(rucioItem('ESCAPE_CTA_TEST:prod5_dataset_0001', { did_type: 'DATASET' }));
 * await esap.basket.remove(basket.items[0]!, { basedOn: basket });
 * ```
 */
export class EsapBasket {
  /** @internal */
  constructor(
    private readonly api: EsapApi,
    private readonly defaults: BasketConfirmOptions = {},
  ) {}

  /**
   * Read the basket (`GET esap-api/accounts/user-profiles/` → `results[0]`).
   * @throws {@link EsapNoProfileError} when ESAP shows no profile for the caller, with the reason.
   * @throws {@link EsapSessionExpiredError} when a cookie session must log in again.
   */
  async get(options: BasketReadOptions = {}): Promise<Basket> {
    return new Basket(await this.api.readProfile(options), options.includeTokens);
  }

  /** The items, as a listing (one read). */
  items(options?: BasketReadOptions): Listing<BasketItem> {
    return Listing.fromPromise(async () => (await this.get(options)).items);
  }

  /** The DIDs of the Rucio items, de-duplicated: ready for `rucio.replicas.list` or a rule. */
  async dids(options?: CallOptions): Promise<Did[]> {
    return (await this.get(options)).dids();
  }

  /** The items grouped by archive. */
  async byArchive(options?: CallOptions): Promise<BasketByArchive> {
    return (await this.get(options)).byArchive();
  }

  /** The items with a download URL, as sources for `staging`. */
  async sources(options?: CallOptions): Promise<BasketSource[]> {
    return (await this.get(options)).sources();
  }

  /**
   * What staging should fetch for this basket, read once: the Rucio items as DIDs (de-duplicated)
   * and the items with access URLs as downloads. Makes the basket a source for `staging.stage()`.
   *
   * @example
   * ```ts
   * const result = await lake.staging.stage(lake.esap.basket, { mode: 'download' });
   * ```
   */
  async stageSources(options?: CallOptions): Promise<(Did | { url: string; name: string })[]> {
    const basket = await this.get(options);
    return [...basket.dids(), ...basket.sources().map((s) => ({ url: s.url, name: s.filename }))];
  }

  /**
   * Add items (bare `{archive, record}`, as the GUI stores them). Items already in the basket
   * (deep equality) are not added twice. The write is confirmed by a read-back and applied again if
   * a concurrent write overwrote it (see {@link EsapBasket} for what that guarantees).
   * @throws InvalidArgumentError for an item ESAP or the GUI could not use (naming `items[i].field`).
   * @throws {@link EsapBasketConflictError} when the edit could not be confirmed (`writes` > 0), or with `onConflict: 'fail'`.
   * @throws {@link EsapBasketWriteError} when the write failed and the basket is not as intended.
   */
  async add(items: BasketItemInput | readonly BasketItemInput[], options?: BasketEditOptions): Promise<BasketEditResult> {
    const extra = listOf(items).map((it, i) => inputEntry(it, `items[${i}]`, true));
    return this.#edit((current) => union(current, extra), options);
  }

  /** Remove every entry deep-equal to one of `items` (also problems, passed as read). */
  async remove(items: BasketItemInput | BasketItemProblem | readonly (BasketItemInput | BasketItemProblem)[], options?: BasketEditOptions): Promise<BasketEditResult> {
    const gone = listOf(items).map((it, i) => inputEntry(it, `items[${i}]`, false));
    return this.#edit((current) => minus(current, gone), options);
  }

  /** Remove every entry the edit was based on; entries another writer added meanwhile stay. */
  async clear(options?: BasketEditOptions): Promise<BasketEditResult> {
    return this.#edit((current, base) => minus(current, base), options);
  }

  /** Make the basket exactly `items` (in this order); entries another writer added meanwhile stay, after them. */
  async replace(items: readonly BasketItemInput[], options?: BasketEditOptions): Promise<BasketEditResult> {
    const wanted = union([], items.map((it, i) => inputEntry(it, `items[${i}]`, true)));
    return this.#edit((current, base) => union(wanted, minus(current, base)), options);
  }

  async #edit(edit: Edit, options: BasketEditOptions = {}): Promise<BasketEditResult> {
    const read = { ...options, includeTokens: false };
    const settleMs = options.settleMs ?? this.defaults.settleMs ?? DEFAULT_SETTLE_MS;
    const maxWrites = Math.max(1, Math.floor(options.maxWrites ?? this.defaults.maxWrites ?? DEFAULT_MAX_WRITES));
    const verify = options.verify ?? this.defaults.verify ?? true;
    const base = options.basedOn ?? (await this.get(read));
    let current = await this.get(read); // re-read right before writing
    let merged = !sameSequence(entriesOf(base), entriesOf(current), 'wire');
    let change: { added: number; removed: number } | undefined;
    let intent: Intent | undefined;
    let limits: Map<string, number> | undefined; // after a collision: at most as many copies as the last write had
    let writes = 0;
    let answer: Basket | undefined;
    const done = (basket: Basket, verified: boolean): BasketEditResult => ({ basket, written: writes > 0, merged, added: change?.added ?? 0, removed: change?.removed ?? 0, verified, reapplied: Math.max(0, writes - 1) });
    for (;;) {
      if (current.userName !== base.userName) throw new EsapBasketConflictError(answer ?? base, current, `the credentials now show profile ${current.userName}, not ${base.userName}`, { writes });
      if (writes === 0 && merged && options.onConflict === 'fail') throw new EsapBasketConflictError(base, current, describeChange(entriesOf(base), entriesOf(current)));
      let next = edit(entriesOf(current), entriesOf(base));
      if (limits) next = capCopies(next, limits);
      next = next.filter((e) => e.text !== undefined || options.unwritable !== 'drop');
      change ??= { added: minus(next, entriesOf(current)).length, removed: minus(entriesOf(current), next).length };
      intent ??= { adds: firstByKey(minus(next, entriesOf(current))), removes: firstByKey(minus(entriesOf(current), next)) };
      if (sameSequence(next, entriesOf(current), 'key')) return done(current, true); // already in effect
      const unwritable = next.filter((e) => e.text === undefined);
      if (unwritable.length > 0) throw new EsapUnwritableItemsError(unwritable.map((e) => e.value as BasketItemProblem));
      if (!/^[^/.]+$/.test(current.userName)) throw new EsapProfileNotAddressableError(current.userName);
      writes++;
      try {
        answer = new Basket(await this.api.writeCart(current.userName, next.map((e) => e.text as string), options), options.includeTokens);
      } catch (error) {
        if (!(error instanceof ServerError || error instanceof ConnectionError)) throw error;
        // The outcome is unknown (ESAP deletes before it recreates, and may still be writing): look, and report what is there.
        await settle(settleMs, options.signal);
        const after = await this.get({ ...options }).catch(() => undefined);
        if (after && sameSequence(entriesOf(after), next, 'key')) return done(after, true);
        throw new EsapBasketWriteError(current, after, { cause: error });
      }
      if (!verify) return done(answer, false);
      // Both of two simultaneous PATCHes answer 200: only a later read shows whose list the server kept.
      await settle(settleMs, options.signal);
      let after: Basket;
      try {
        after = await this.get({ ...options });
      } catch (error) {
        if (!(error instanceof ServerError || error instanceof ConnectionError)) throw error;
        return done(answer, false); // written (200), but whether it held cannot be seen now
      }
      const mismatch = mismatchOf(entriesOf(after), intent, next);
      if (!mismatch) return done(after, true);
      if (options.onConflict === 'fail' || writes >= maxWrites) throw new EsapBasketConflictError(answer, after, describeMismatch(mismatch), { writes, mismatch });
      // Overwritten or interleaved: look again once the other write has settled, and apply the edit onto that.
      await settle(settleMs, options.signal);
      current = await this.get(read);
      merged = true;
      limits = countsOf(next);
    }
  }
}

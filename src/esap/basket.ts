/**
 * The ESAP shopping basket: read it, edit it safely, and turn it into Data Lake work.
 *
 * ESAP's only write is a PATCH of the *whole* list, which deletes and recreates every item, with no
 * version to check. So every edit is computed as a change (what to add, what to remove) against the
 * basket it was based on, the basket is re-read right before the write, and a concurrent change
 * (another tab, the GUI) is merged: the other writer's items are kept. Items are written from their
 * stored text, so unknown items and big integers round-trip unchanged.
 *
 * @module
 */
import { formatDid, type Did } from '../core/did.js';
import { ConnectionError, ServerError } from '../core/errors.js';
import { Listing } from '../core/listing.js';
import type { CallOptions } from '../core/transport.js';
import type { EsapApi, ProfileWire } from './api.js';
import { EsapBasketConflictError, EsapBasketWriteError, EsapProfileNotAddressableError, EsapUnwritableItemsError } from './errors.js';
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
 * Options of the editing methods.
 *
 * @example
 * ```ts
 * await esap.basket.remove(item, { basedOn: shown, onConflict: 'fail' });
 * ```
 */
export interface BasketEditOptions extends BasketReadOptions {
  /**
   * The basket the edit is based on (what the user saw). A change on the server since then is
   * detected. Default: a fresh read.
   */
  basedOn?: Basket;
  /** A concurrent change: `merge` the edit onto the fresh basket (default), or `fail` with {@link EsapBasketConflictError}. */
  onConflict?: 'merge' | 'fail';
  /** Entries ESAP cannot store again: `fail` with {@link EsapUnwritableItemsError} (default), or `drop` them. */
  unwritable?: 'fail' | 'drop';
}

/**
 * What an edit did.
 *
 * @example
 * ```ts
 * const { basket, merged } = await esap.basket.add(item, { basedOn: shown });
 * if (merged) console.log('the basket changed elsewhere meanwhile; now', basket.size, 'entries');
 * ```
 */
export interface BasketEditResult {
  /** The basket after the edit (as the server answered the write). */
  readonly basket: Basket;
  /** False when the edit changed nothing, so nothing was sent. */
  readonly written: boolean;
  /** True when the basket had changed since the read and the edit was merged onto the fresh one. */
  readonly merged: boolean;
  /** Entries added. */
  readonly added: number;
  /** Entries removed. */
  readonly removed: number;
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

/**
 * The user's ESAP shopping basket (`esap.basket`).
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
  constructor(private readonly api: EsapApi) {}

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
   * (deep equality) are not added twice.
   * @throws InvalidArgumentError for an item ESAP or the GUI could not use (naming `items[i].field`).
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
    const base = options.basedOn ?? (await this.get(read));
    const current = await this.get(read); // re-read right before writing
    const merged = !sameSequence(entriesOf(base), entriesOf(current), 'wire');
    if (current.userName !== base.userName) throw new EsapBasketConflictError(base, current, `the credentials now show profile ${current.userName}, not ${base.userName}`);
    if (merged && options.onConflict === 'fail') throw new EsapBasketConflictError(base, current, describeChange(entriesOf(base), entriesOf(current)));
    const next = edit(entriesOf(current), entriesOf(base)).filter((e) => e.text !== undefined || options.unwritable !== 'drop');
    const change = { merged, added: minus(next, entriesOf(current)).length, removed: minus(entriesOf(current), next).length };
    if (sameSequence(next, entriesOf(current), 'key')) return { basket: current, written: false, ...change };
    const unwritable = next.filter((e) => e.text === undefined);
    if (unwritable.length > 0) throw new EsapUnwritableItemsError(unwritable.map((e) => e.value as BasketItemProblem));
    if (!/^[^/.]+$/.test(current.userName)) throw new EsapProfileNotAddressableError(current.userName);
    try {
      return { basket: new Basket(await this.api.writeCart(current.userName, next.map((e) => e.text as string), options), options.includeTokens), written: true, ...change };
    } catch (error) {
      if (!(error instanceof ServerError || error instanceof ConnectionError)) throw error;
      // The outcome is unknown (ESAP deletes before it recreates): look, and report what is there.
      const after = await this.get(read).catch(() => undefined);
      if (after && sameSequence(entriesOf(after), next, 'key')) return { basket: after, written: true, ...change };
      throw new EsapBasketWriteError(current, after, { cause: error });
    }
  }
}

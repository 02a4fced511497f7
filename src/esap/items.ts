/**
 * Basket items: the shapes the ESAP GUI stores, decoded from `item_data`, validated per archive, and
 * kept together with the exact stored text so that they round-trip unchanged.
 *
 * @module
 */
import * as z from 'zod/mini';
import { nameProblem, parseDid, scopeProblem, toDid, type Did } from '../core/did.js';
import { InvalidArgumentError, excerptOf } from '../core/errors.js';
import { canonicalKey, JsonSyntaxError, parseJson, stringifyJson, type JsonInput, type JsonObject, type JsonValue } from './json.js';

/**
 * The archives the ESAP GUI puts in the basket.
 *
 * @example
 * ```ts
 * const known = (a: string): a is KnownArchive => (KNOWN_ARCHIVES as readonly string[]).includes(a);
 * ```
 */
export type KnownArchive = 'rucio' | 'apertif' | 'astron_vo' | 'vo_reg' | 'samp' | 'multi_query' | 'zooniverse';

/**
 * Every {@link KnownArchive}, in the order {@link Basket.byArchive} lists them.
 *
 * @example
 * ```ts
 * for (const archive of KNOWN_ARCHIVES) console.log(archive, basket.byArchive()[archive].length);
 * ```
 */
export const KNOWN_ARCHIVES: readonly KnownArchive[] = Object.freeze(['rucio', 'apertif', 'astron_vo', 'vo_reg', 'samp', 'multi_query', 'zooniverse']);

/**
 * Fields every decoded basket item has.
 *
 * @example
 * ```ts
 * for (const item of basket.items) console.log(item.archive, item.raw.length, 'bytes stored');
 * ```
 */
export interface BasketItemBase {
  /** The item's `archive`, verbatim. */
  readonly archive: string;
  /** The whole item as the GUI stores it (`{archive, record, …}`), parsed losslessly (`bigint` beyond 2^53). */
  readonly data: JsonObject;
  /** The stored `item_data` text, exactly as ESAP returned it (Python `json.dumps` formatting). */
  readonly raw: string;
}

/**
 * A Rucio search hit: `record` is one row of the Rucio listing ESAP proxied.
 *
 * @example
 * ```ts
 * const files = basket.items.filter((i): i is RucioBasketItem => i.kind === 'rucio' && i.didType === 'FILE');
 * ```
 */
export interface RucioBasketItem extends BasketItemBase {
  readonly kind: 'rucio';
  readonly archive: 'rucio';
  /** The Rucio row (usually `{scope, name, did_type, bytes, length}`). */
  readonly record: JsonValue;
  /** The DID, found from the record's fields (`scope`/`name`, `did`, `did_scope`/`did_name`, `"scope:name"`). */
  readonly did: Did;
  /** `did_type` (or `type`) of the row, when given: `FILE`, `DATASET`, `CONTAINER`. */
  readonly didType?: string;
  /** `bytes` of the row, when given. */
  readonly bytes?: number | bigint | null;
}

/**
 * An item whose `record` is an object row: `apertif` (ALTA), `astron_vo`, `multi_query`.
 *
 * @example
 * ```ts
 * const urls = basket.items.flatMap((i) => (i.kind === 'astron_vo' && i.accessUrl ? [i.accessUrl] : []));
 * ```
 */
export interface RecordBasketItem<K extends 'apertif' | 'astron_vo' | 'multi_query' = 'apertif' | 'astron_vo' | 'multi_query'> extends BasketItemBase {
  readonly kind: K;
  readonly archive: K;
  /** The search hit. */
  readonly record: JsonObject;
  /** Download URL of the data product (`access_url`, `url`, …), when the record has one. */
  readonly accessUrl?: string;
}

/**
 * An IVOA (`vo_reg`) or SAMP (`samp`) item: `record` is a row array (column names are not stored).
 *
 * @example
 * ```ts
 * for (const item of basket.byArchive().vo_reg) console.log(item.record.join(' | '), item.urls);
 * ```
 */
export interface RowBasketItem<K extends 'vo_reg' | 'samp' = 'vo_reg' | 'samp'> extends BasketItemBase {
  readonly kind: K;
  readonly archive: K;
  /** The row, as the GUI split it (column names are not stored with it). */
  readonly record: readonly JsonValue[];
  /** Every http(s) URL in the row. Which one is the data (if any) depends on the unsaved column names. */
  readonly urls: readonly string[];
}

/**
 * A Zooniverse export request (`catalog` project or workflow, `category` classifications or subjects).
 *
 * @example
 * ```ts
 * for (const z of basket.byArchive().zooniverse) console.log(z.catalog, z.projectId, z.workflowId ?? '-', z.category);
 * ```
 */
export interface ZooniverseBasketItem extends BasketItemBase {
  readonly kind: 'zooniverse';
  readonly archive: 'zooniverse';
  readonly catalog: 'project' | 'workflow';
  /** `project_id`, as a string. */
  readonly projectId: string;
  /** `workflow_id`, as a string (workflow items). */
  readonly workflowId?: string;
  readonly category: 'classifications' | 'subjects';
}

/**
 * An item of an archive the SDK does not know: kept verbatim and written back unchanged.
 *
 * @example
 * ```ts
 * for (const item of basket.byArchive().unknown) console.log(`kept as is: ${item.archive}`, item.data);
 * ```
 */
export interface UnknownBasketItem extends BasketItemBase {
  readonly kind: 'unknown';
  /** Its `record`, if it has one. */
  readonly record?: JsonValue;
  /** Download URL, when the record is an object with an `access_url`-like field. */
  readonly accessUrl?: string;
}

/**
 * A decoded, validated basket item. Narrow on `kind` (`archive` is the verbatim wire value, which
 * for unknown archives can be any string).
 *
 * @example
 * ```ts
 * for (const item of basket.items) {
 *   if (item.kind === 'rucio') console.log(formatDid(item.did));
 *   else if (item.kind === 'unknown') console.log('kept as is:', item.archive);
 * }
 * ```
 */
export type BasketItem =
  | RucioBasketItem
  | RecordBasketItem<'apertif'>
  | RecordBasketItem<'astron_vo'>
  | RecordBasketItem<'multi_query'>
  | RowBasketItem<'vo_reg'>
  | RowBasketItem<'samp'>
  | ZooniverseBasketItem
  | UnknownBasketItem;

/**
 * A basket entry that failed validation: which entry (`index` in the stored list), which `field`
 * and what is wrong. It is never dropped silently: it stays in the basket on every write when it
 * can (`writable`), and otherwise blocks writes until it is removed or `unwritable: 'drop'` is passed.
 *
 * @example
 * ```ts
 * for (const p of basket.problems) console.warn(`basket entry #${p.index}: ${p.field} ${p.problem}`);
 * ```
 */
export interface BasketItemProblem {
  readonly kind: 'problem';
  /** Position in the stored `shopping_cart`. */
  readonly index: number;
  /** Path of the offending field (`item_data`, `archive`, `record.scope`, …). */
  readonly field: string;
  /** What is wrong. */
  readonly problem: string;
  /** The item's `archive`, when it has a string one. */
  readonly archive?: string;
  /** The `shopping_cart` entry as received (`{item_data, user_profile}`). */
  readonly entry: unknown;
  /** Its `item_data` as received (normally a JSON string). */
  readonly raw: unknown;
  /** `item_data` parsed, when it was JSON. */
  readonly data?: JsonValue;
  /** True when ESAP can store it again unchanged (it is a JSON object). */
  readonly writable: boolean;
}

/**
 * An item to put in the basket: the bare shape the ESAP GUI sends (`{archive, record}`), never
 * wrapped in `item_data`. Integers beyond 2^53 may be given as `bigint`.
 *
 * @example
 * ```ts
 * const item: WireItem = { archive: 'rucio', record: { scope: 'ESCAPE_CTA_TEST', name: 'run100.simtel.zst', did_type: 'FILE' } };
 * ```
 */
export interface WireItem {
  readonly archive: string;
  readonly [key: string]: JsonInput | undefined;
}

/**
 * What the editing methods accept: items read from the basket, or new {@link WireItem}s.
 *
 * @example
 * ```ts
 * const inputs: BasketItemInput[] = [basket.items[0]!, { archive: 'rucio', record: { scope: 'user.jdoe', name: 'f.fits' } }];
 * await esap.basket.replace(inputs);
 * ```
 */
export type BasketItemInput = BasketItem | WireItem;

/** @internal One stored entry: what it decodes to, its identity, and the text to write back. */
export interface Entry {
  readonly value: BasketItem | BasketItemProblem;
  /** Deep-equality identity (canonical JSON of the item). */
  readonly key: string;
  /** Wire identity: the stored `item_data` exactly (to detect concurrent changes). */
  readonly wire: string;
  /** The bare item as JSON text for a PATCH, or undefined when ESAP cannot store it. */
  readonly text: string | undefined;
}

// Items and problems the SDK made, so that an item passed back in is written from its stored text.
const entries = new WeakMap<object, Entry>();

/** @internal The entry of an item or problem the SDK decoded. */
export function entryOf(value: object): Entry | undefined {
  return entries.get(value);
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Case-insensitive lookup of the first present key among `names`. */
function pick(o: JsonObject, names: readonly string[]): [string, JsonValue] | undefined {
  const keys = Object.keys(o);
  for (const n of names) {
    const k = keys.find((key) => key.toLowerCase() === n);
    if (k !== undefined && o[k] !== undefined && o[k] !== null) return [k, o[k] as JsonValue];
  }
  return undefined;
}

type Found<T> = { ok: T } | { field: string; problem: string };

/** The DID of a Rucio row, tolerant of the key variants Rucio listings and the ESAP connector produce. */
function rucioDid(item: JsonObject): Found<Did> {
  const record = item.record;
  const where = record === undefined ? '' : 'record.';
  if (typeof record === 'string') return didFromText(record, 'record');
  const row = isObject(record) ? record : record === undefined ? item : undefined;
  if (!row) return { field: 'record', problem: `must be an object or a "scope:name" string, got ${excerptOf(record)}` };
  const scope = pick(row, ['scope', 'did_scope', 'rucio_scope']);
  const name = pick(row, ['name', 'did_name', 'lfn']);
  if (scope && name) {
    const sp = scopeProblem(scope[1]);
    if (sp) return { field: where + scope[0], problem: sp };
    const np = nameProblem(name[1]);
    if (np) return { field: where + name[0], problem: np };
    return { ok: toDid({ scope: scope[1], name: name[1] }) };
  }
  const did = pick(row, ['did', 'did_string']);
  if (did) {
    if (typeof did[1] === 'string') return didFromText(did[1], where + did[0]);
    const sub = rucioDid({ record: did[1] });
    return 'ok' in sub ? sub : { field: where + did[0] + sub.field.slice('record'.length), problem: sub.problem };
  }
  if (name && typeof name[1] === 'string' && name[1].includes(':')) return didFromText(name[1], where + name[0]);
  return { field: where + (scope ? 'name' : 'scope'), problem: `is missing: no scope/name, did, or "scope:name" field in ${excerptOf(row)}` };
}

function didFromText(text: string, field: string): Found<Did> {
  try {
    return { ok: parseDid(text) };
  } catch (e) {
    return { field, problem: e instanceof Error ? e.message : String(e) };
  }
}

const URL_KEYS = ['access_url', 'accessurl', 'access_uri', 'download_url', 'url', 'result'];

function httpUrl(v: unknown): string | undefined {
  if (typeof v !== 'string' || !/^https?:\/\//i.test(v)) return undefined;
  try {
    new URL(v);
    return v;
  } catch {
    return undefined;
  }
}

/** Download URL of an object record: the first `access_url`-like field holding an http(s) URL. */
function accessUrlOf(record: JsonValue | undefined): { accessUrl?: string } {
  if (!isObject(record)) return {};
  const keys = Object.keys(record);
  for (const n of URL_KEYS) {
    const k = keys.find((key) => key.toLowerCase() === n);
    const url = k === undefined ? undefined : httpUrl(record[k]);
    if (url) return { accessUrl: url };
  }
  return {};
}

/** The item schemas, built on first use (not when the module loads). */
function makeSchemas() {
  const idSchema = z.union([z.string(), z.number(), z.bigint()]);
  return {
    objectRecord: z.looseObject({ record: z.record(z.string(), z.unknown()) }),
    rowRecord: z.looseObject({ record: z.array(z.unknown()) }),
    zooniverse: z.looseObject({
      catalog: z.enum(['project', 'workflow']),
      project_id: idSchema,
      workflow_id: z.optional(idSchema),
      category: z.enum(['classifications', 'subjects']),
    }),
  };
}
let schemas: ReturnType<typeof makeSchemas> | undefined;
const schemasOf = (): ReturnType<typeof makeSchemas> => (schemas ??= makeSchemas());

function checkSchema(schema: z.ZodMiniType, item: JsonObject): Found<true> {
  const r = schema.safeParse(item);
  if (r.success) return { ok: true };
  const issue = r.error.issues[0] as { path: PropertyKey[]; code: string; expected?: string; values?: unknown[] };
  const field = issue.path.map(String).join('.');
  const got = issue.path.reduce<unknown>((v, p) => (isObject(v) || Array.isArray(v) ? (v as Record<PropertyKey, unknown>)[p] : undefined), item);
  const want = issue.code === 'invalid_value' ? `one of ${issue.values?.map((v) => JSON.stringify(v)).join(', ')}` : `${issue.expected === 'record' ? 'an object' : `a ${issue.expected ?? 'valid value'}`}`;
  return { field, problem: got === undefined ? `is missing (expected ${want})` : `must be ${want}, got ${excerptOf(got)}` };
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Decoded = DistributiveOmit<BasketItem, keyof BasketItemBase>;

/** Decode a parsed item into its typed member, or say what is wrong. */
function decodeItem(item: JsonObject): Found<Decoded> {
  const archive = item.archive;
  if (archive === undefined) {
    if ('item_data' in item) {
      return { field: 'archive', problem: 'is missing: the item is wrapped in {item_data} (written by a client that sent {item_data: …} or echoed read items back); the ESAP GUI cannot read it' };
    }
    return { field: 'archive', problem: `is missing in ${excerptOf(item)}` };
  }
  if (typeof archive !== 'string') return { field: 'archive', problem: `must be a string, got ${excerptOf(archive)}` };
  switch (archive) {
    case 'rucio': {
      const did = rucioDid(item);
      if (!('ok' in did)) return did;
      const row = isObject(item.record) ? item.record : item;
      const type = pick(row, ['did_type', 'type'])?.[1];
      const bytes = pick(row, ['bytes'])?.[1];
      return {
        ok: {
          kind: 'rucio',
          record: item.record ?? null,
          did: did.ok,
          ...(typeof type === 'string' ? { didType: type } : {}),
          ...(typeof bytes === 'number' || typeof bytes === 'bigint' ? { bytes } : row.bytes === null ? { bytes: null } : {}),
        },
      };
    }
    case 'apertif':
    case 'astron_vo':
    case 'multi_query': {
      const c = checkSchema(schemasOf().objectRecord, item);
      return 'ok' in c ? { ok: { kind: archive, record: item.record as JsonObject, ...accessUrlOf(item.record) } as Decoded } : c;
    }
    case 'vo_reg':
    case 'samp': {
      const c = checkSchema(schemasOf().rowRecord, item);
      if (!('ok' in c)) return c;
      const record = item.record as readonly JsonValue[];
      return { ok: { kind: archive, record, urls: record.map(httpUrl).filter((u): u is string => u !== undefined) } as Decoded };
    }
    case 'zooniverse': {
      const c = checkSchema(schemasOf().zooniverse, item);
      if (!('ok' in c)) return c;
      const { catalog, project_id, workflow_id, category } = item as { catalog: 'project' | 'workflow'; project_id: string | number | bigint; workflow_id?: string | number | bigint; category: 'classifications' | 'subjects' };
      if (catalog === 'workflow' && workflow_id === undefined) return { field: 'workflow_id', problem: 'is missing (a workflow item needs one)' };
      return { ok: { kind: 'zooniverse', catalog, projectId: String(project_id), ...(workflow_id !== undefined ? { workflowId: String(workflow_id) } : {}), category } };
    }
    default:
      return { ok: { kind: 'unknown', ...(item.record !== undefined ? { record: item.record } : {}), ...accessUrlOf(item.record) } };
  }
}

function problemEntry(index: number, entry: unknown, raw: unknown, field: string, problem: string, data: JsonValue | undefined, text: string | undefined, wire: string): Entry {
  const archive = isObject(data) && typeof data.archive === 'string' ? data.archive : undefined;
  const value: BasketItemProblem = Object.freeze({
    kind: 'problem',
    index,
    field,
    problem,
    ...(archive !== undefined ? { archive } : {}),
    entry,
    raw,
    ...(data !== undefined ? { data } : {}),
    writable: text !== undefined,
  });
  const e: Entry = { value, key: data !== undefined ? canonicalKey(data) : `raw:${wire}`, wire, text };
  entries.set(value, e);
  return e;
}

function itemEntry(data: JsonObject, raw: string, text: string, wire: string, decoded: Decoded): Entry {
  const value = Object.freeze({ ...decoded, archive: data.archive as string, data, raw }) as BasketItem;
  const e: Entry = { value, key: canonicalKey(data), wire, text };
  entries.set(value, e);
  return e;
}

/**
 * @internal Decode one `shopping_cart` entry (`{item_data, user_profile}`) as ESAP returns it.
 * Never throws: anything unexpected becomes a {@link BasketItemProblem}.
 */
export function decodeEntry(entry: unknown, index: number): Entry {
  const raw = isObject(entry) ? entry.item_data : undefined;
  const wire = typeof raw === 'string' ? raw : `json:${canonicalKey(raw)}`;
  if (!isObject(entry)) return problemEntry(index, entry, undefined, '', `must be an object {item_data, user_profile}, got ${excerptOf(entry)}`, undefined, undefined, `json:${canonicalKey(entry)}`);
  if (raw === undefined || raw === null) return problemEntry(index, entry, raw, 'item_data', raw === null ? 'is null' : 'is missing', undefined, undefined, wire);
  let data: JsonValue;
  let text: string;
  if (typeof raw === 'string') {
    try {
      data = parseJson(raw);
    } catch (e) {
      return problemEntry(index, entry, raw, 'item_data', `is not valid JSON (${e instanceof JsonSyntaxError ? e.message : String(e)}): ${excerptOf(raw)}`, undefined, undefined, wire);
    }
    text = raw;
  } else {
    // ESAP always stores a JSON string; an object here is still the item, written back as such.
    data = raw as JsonValue;
    if (!isObject(data)) return problemEntry(index, entry, raw, 'item_data', `must be a JSON string, got ${excerptOf(raw)}`, data, undefined, wire);
    try {
      text = stringifyJson(raw);
    } catch (e) {
      // A value JSON cannot carry (NaN, Infinity, …): kept as a problem that cannot be written back.
      return problemEntry(index, entry, raw, 'item_data', `cannot be written back as JSON: ${e instanceof Error ? e.message : String(e)}`, data, undefined, wire);
    }
  }
  if (!isObject(data)) return problemEntry(index, entry, raw, 'item_data', `must hold a JSON object (ESAP stores only objects), got ${excerptOf(data)}`, data, undefined, wire);
  const decoded = decodeItem(data);
  if (!('ok' in decoded)) return problemEntry(index, entry, raw, decoded.field, decoded.problem, data, text, wire);
  if (typeof raw !== 'string') return problemEntry(index, entry, raw, 'item_data', `must be a JSON string, got an object (it is written back as a string)`, data, text, wire);
  return itemEntry(data, raw, text, wire, decoded.ok);
}

/**
 * @internal The entry of an item given to an editing method: SDK items keep their stored text;
 * new items are checked (bare GUI shape, valid for their archive when `validate`).
 * @throws {@link InvalidArgumentError} naming `items[i].field`.
 */
export function inputEntry(input: unknown, argument: string, validate: boolean): Entry {
  if (typeof input === 'object' && input !== null) {
    const known = entries.get(input);
    if (known) return known;
  }
  if (!isObject(input)) throw new InvalidArgumentError(argument, `${argument} must be a basket item object, got ${excerptOf(input)}`);
  if ('kind' in input && 'raw' in input && 'data' in input) {
    throw new InvalidArgumentError(argument, `${argument} looks like a copy of a read basket item: pass the item itself, or its \`data\` to add a changed one`);
  }
  if (!('archive' in input) && 'item_data' in input) {
    throw new InvalidArgumentError(argument, `${argument} is wrapped in {item_data}: send the bare item {archive, record, …} as the ESAP GUI does (wrapping nests it one level deeper and breaks the GUI)`);
  }
  let text: string;
  try {
    text = stringifyJson(input);
  } catch (e) {
    throw new InvalidArgumentError(argument, `${argument}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const data = parseJson(text) as JsonObject;
  const decoded = decodeItem(data);
  if (!('ok' in decoded)) {
    if (validate) throw new InvalidArgumentError(`${argument}${decoded.field ? `.${decoded.field}` : ''}`, `${argument}${decoded.field ? `.${decoded.field}` : ''} ${decoded.problem}`);
    return problemEntry(-1, undefined, data, decoded.field, decoded.problem, data, text, text);
  }
  return itemEntry(data, text, text, text, decoded.ok);
}

/**
 * A Rucio basket item for a DID, shaped like the ones the ESAP GUI stores (`record` is a Rucio row).
 *
 * @example
 * ```ts
 * await esap.basket.add(rucioItem(parseDid('ESCAPE_CTA_TEST:prod5_dataset_0001'), { did_type: 'DATASET' }));
 * ```
 */
export function rucioItem(did: Did | string, record: { readonly [key: string]: JsonInput | undefined } = {}): WireItem {
  const d = toDid(did);
  return { archive: 'rucio', record: { scope: d.scope, name: d.name, ...record } };
}

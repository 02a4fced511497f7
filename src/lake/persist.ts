/**
 * The state of the local Data Lake as JSON (`dlaas lake --state DIR`): the Rucio emulator's database
 * (accounts, scopes, RSEs, DIDs, replicas and their bytes, rules, locks, …) and the users' ESAP
 * baskets. Storage follows from the catalogue (`sync`). Not kept: OIDC sessions (the OpenID Provider
 * gets new keys at each start: log in again) and ESAP browser sessions.
 * @module
 */
import type { DataLakeEmulator } from 'dlaas/testing';

/** Version of the file format. */
const FORMAT = 'dlaas-lake-state/1';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Values as JSON, with Maps, Sets, Dates and bytes tagged. */
export function encode(value: unknown, seen = new Set<object>()): Json {
  if (value === null || typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string') return value;
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') return null;
  if (value instanceof Date) return { $date: value.toISOString() };
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  const obj = value as object;
  if (seen.has(obj)) throw new Error('lake state: a cycle in the emulator state');
  seen.add(obj);
  try {
    if (value instanceof Map) return { $map: [...value].map(([k, v]) => [encode(k, seen), encode(v, seen)]) };
    if (value instanceof Set) return { $set: [...value].map((v) => encode(v, seen)) };
    if (Array.isArray(value)) return value.map((v) => encode(v, seen));
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(obj)) if (v !== undefined && typeof v !== 'function') out[k] = encode(v, seen);
    return out;
  } finally {
    seen.delete(obj);
  }
}

/** The inverse of {@link encode}. */
export function decode(json: unknown): unknown {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map(decode);
  const o = json as Record<string, unknown>;
  if (typeof o.$date === 'string') return new Date(o.$date);
  if (typeof o.$bytes === 'string') return new Uint8Array(Buffer.from(o.$bytes, 'base64'));
  if (Array.isArray(o.$map)) return new Map((o.$map as [unknown, unknown][]).map(([k, v]) => [decode(k), decode(v)]));
  if (Array.isArray(o.$set)) return new Set((o.$set as unknown[]).map(decode));
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, decode(v)]));
}

/** The Rucio emulator's database: Maps and arrays of records (plus its clock and flavour, not state). */
type RucioStore = Record<string, unknown>;
const storeOf = (lake: DataLakeEmulator): RucioStore => (lake.rucio as unknown as { store: RucioStore }).store;
const STATE_FIELDS = (store: RucioStore) => Object.keys(store).filter((k) => store[k] instanceof Map || Array.isArray(store[k]));

/** The state to save. */
export function snapshotState(lake: DataLakeEmulator, users: readonly string[]): unknown {
  const store = storeOf(lake);
  return {
    format: FORMAT,
    savedAt: new Date().toISOString(),
    rucio: Object.fromEntries(STATE_FIELDS(store).map((k) => [k, encode(store[k])])),
    esap: { baskets: Object.fromEntries(users.map((u) => [u, encode(lake.esap.itemData(u))])) },
  };
}

/**
 * Load a saved state into a fresh lake (same RSEs, users already added): the database replaces
 * the fresh one, except the RSEs' protocols (the lake's URL, whose port may differ from last time).
 */
export async function restoreState(lake: DataLakeEmulator, saved: unknown): Promise<void> {
  const state = saved as { format?: string; rucio?: Record<string, unknown>; esap?: { baskets?: Record<string, unknown> } };
  if (state?.format !== FORMAT || !state.rucio) throw new Error(`lake state: not a ${FORMAT} file`);
  const store = storeOf(lake);
  const freshRses = new Map(store.rses as Map<string, { protocols: unknown }>);
  for (const k of STATE_FIELDS(store)) {
    if (!(k in state.rucio)) continue;
    const value = decode(state.rucio[k]);
    const target = store[k];
    if (target instanceof Map && value instanceof Map) {
      target.clear();
      for (const [key, v] of value) target.set(key, v);
    } else if (Array.isArray(target) && Array.isArray(value)) {
      target.length = 0;
      target.push(...(value as unknown[]));
    }
  }
  for (const [name, rse] of store.rses as Map<string, { protocols: unknown }>) {
    const fresh = freshRses.get(name);
    if (fresh) rse.protocols = fresh.protocols;
  }
  for (const [user, items] of Object.entries(state.esap?.baskets ?? {})) lake.esap.setRawBasket(user, decode(items) as unknown[]);
  await lake.sync();
}

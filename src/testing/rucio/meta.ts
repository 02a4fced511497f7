/**
 * DID metadata as the DID_COLUMN and JSON plugins store it: keys naming a column of the `dids`
 * table update the row (with Rucio's special cases), every other key goes to the JSON metadata.
 * @module
 */
import { toPythonLiteral } from '../../rucio/python-literal.js';
import { didKey, type DidRecord, type Store } from './state.js';
import { EXTRA_COLUMNS } from './views.js';
import { RucioError } from './wire.js';

/** Keys the DID_COLUMN plugin stores in the `dids` row (anything else goes to the JSON plugin). */
export function isColumnKey(key: string): boolean {
  return ['lifetime', 'eol_at', 'guid', 'events', 'adler32', 'bytes', 'md5', 'length', 'expired_at', 'closed_at'].includes(key) || (key in EXTRA_COLUMNS && !['availability', 'complete', 'obsolete', 'suppressed'].includes(key));
}

/**
 * The checks made before the DID is looked up: restricted characters, then (no JSON plugin) keys that
 * no plugin manages — with `set_metadata`'s wording for one `key`, `set_metadata_bulk`'s otherwise.
 */
export function checkMetaKeys(store: Store, scope: string, name: string, meta: Record<string, unknown>, key?: string): void {
  for (const k of Object.keys(meta)) {
    if (k.includes('.')) throw new RucioError(400, 'InvalidMetadata', 'Restricted character "." found in metadata key. Reason: Used as a delimiter for key and operator (<key>.<operator>) in filtering engine.');
  }
  if (store.jsonMetadata) return;
  const unmanaged = Object.keys(meta).filter((k) => !isColumnKey(k));
  if (!unmanaged.length) return;
  if (key !== undefined) throw new RucioError(400, 'InvalidMetadata', `No plugin manages metadata key ${key} for DID ${scope}:${name}`);
  throw new RucioError(400, 'InvalidMetadata', `No plugin manages metadata keys ${toPythonLiteral(unmanaged)} on DID ${scope}:${name}`);
}

/**
 * `set_metadata` (one `key`) and `set_metadata_bulk`: DID columns (with their special cases) and JSON
 * metadata. Without the JSON plugin (SQLite) a key that is not a column is refused, and a bulk call
 * with one such key sets nothing.
 */
export function setMeta(store: Store, did: DidRecord, meta: Record<string, unknown>, key?: string): void {
  checkMetaKeys(store, did.scope, did.name, meta, key);
  const fileOnly = (key: string) => {
    if (did.type !== 'FILE') throw new RucioError(500, 'UnsupportedOperation', `${key} for ${did.scope}:${did.name} cannot be updated`);
  };
  for (const [key, value] of Object.entries(meta)) {
    if (!isColumnKey(key)) did.meta[key] = value;
    else if (key === 'lifetime') did.expiredAt = value === null ? null : new Date(store.now().getTime() + Number(value) * 1000);
    else if (key === 'guid' || key === 'events' || key === 'adler32' || key === 'bytes') {
      fileOnly(key);
      (did as unknown as Record<string, unknown>)[key] = value;
      for (const parent of store.parentKeys(did.scope, did.name)) {
        const row = store.contents.get(parent)?.get(didKey(did.scope, did.name));
        if (row) (row as unknown as Record<string, unknown>)[key] = value;
      }
      if (key === 'events') sumEvents(store, did);
    } else if (key === 'md5' || key === 'length') (did as unknown as Record<string, unknown>)[key] = value;
    else did.columns[key] = value;
  }
  did.updatedAt = store.now();
}


/**
 * After a file's `events` is set, each collection it is in gets the sum of its content's `events`
 * (SQL `SUM`: `null` when no row has a value). Registering files with events does not do this.
 */
function sumEvents(store: Store, file: DidRecord): void {
  for (const key of store.parentKeys(file.scope, file.name)) {
    const parent = store.dids.get(key);
    if (!parent) continue;
    const values = [...store.children(parent)].map((r) => r.events).filter((e): e is number => typeof e === 'number');
    parent.events = values.length ? values.reduce((a, b) => a + b, 0) : null;
    parent.updatedAt = store.now();
  }
}

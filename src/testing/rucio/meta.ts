/**
 * DID metadata as the DID_COLUMN and JSON plugins store it: keys naming a column of the `dids`
 * table update the row (with Rucio's special cases), every other key goes to the JSON metadata.
 * @module
 */
import { didKey, type DidRecord, type Store } from './state.js';
import { EXTRA_COLUMNS } from './views.js';
import { RucioError } from './wire.js';

/** Keys the DID_COLUMN plugin stores in the `dids` row (anything else goes to the JSON plugin). */
export function isColumnKey(key: string): boolean {
  return ['lifetime', 'eol_at', 'guid', 'events', 'adler32', 'bytes', 'md5', 'length', 'expired_at', 'closed_at'].includes(key) || (key in EXTRA_COLUMNS && !['availability', 'complete', 'obsolete', 'suppressed'].includes(key));
}

/** `set_metadata_bulk`: DID columns (with their special cases) and JSON metadata. */
export function setMeta(store: Store, did: DidRecord, meta: Record<string, unknown>): void {
  for (const key of Object.keys(meta)) {
    if (key.includes('.')) throw new RucioError(400, 'InvalidMetadata', 'Restricted character "." found in metadata key. Reason: Used as a delimiter for key and operator (<key>.<operator>) in filtering engine.');
  }
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
    } else if (key === 'md5' || key === 'length') (did as unknown as Record<string, unknown>)[key] = value;
    else did.columns[key] = value;
  }
  did.updatedAt = store.now();
}


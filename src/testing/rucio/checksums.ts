/**
 * File checksums as Rucio stores them: adler32 as 8 lowercase hex digits (zero-padded) and md5 as
 * 32 hex digits, computed with hash-wasm. The hashers are created once; after {@link checksumsReady}
 * resolves, {@link checksumsOf} works synchronously (needed to generate synthetic files on the fly).
 * @module
 */
import { createAdler32, createMD5, type IHasher } from 'hash-wasm';

/** Size and checksums of a byte string. */
export interface Checksums {
  bytes: number;
  adler32: string;
  md5: string;
}

let hashers: { adler32: IHasher; md5: IHasher } | undefined;
let loading: Promise<void> | undefined;

/** Load the WebAssembly hashers (idempotent). */
export function checksumsReady(): Promise<void> {
  loading ??= Promise.all([createAdler32(), createMD5()]).then(([adler32, md5]) => {
    hashers = { adler32, md5 };
  });
  return loading;
}

/** Checksums of `data`; {@link checksumsReady} must have resolved. */
export function checksumsOf(data: Uint8Array): Checksums {
  if (!hashers) throw new Error('checksumsOf() called before checksumsReady() resolved');
  const adler32 = hashers.adler32.init().update(data).digest('hex');
  const md5 = hashers.md5.init().update(data).digest('hex');
  return { bytes: data.byteLength, adler32: adler32.padStart(8, '0'), md5 };
}

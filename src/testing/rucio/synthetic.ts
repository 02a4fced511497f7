/**
 * Synthetic datasets: N files described by their index alone. Names, sizes, contents and checksums
 * are pure functions of the index, so a million-file dataset costs a few numbers of memory and its
 * listings can be streamed.
 * @module
 */
import { checksumsOf, type Checksums } from './checksums.js';

/** A dataset whose files are generated from their index. */
export interface SyntheticSet {
  readonly scope: string;
  /** Name of the dataset DID. */
  readonly dataset: string;
  readonly count: number;
  /** File name prefix; file `i` is `prefix + i` zero-padded to `width` digits. */
  readonly prefix: string;
  readonly width: number;
  /** Ids of the RSEs holding an AVAILABLE replica of every file. */
  readonly rseIds: readonly string[];
  readonly account: string;
  readonly createdAt: Date;
  /** Sum of all file sizes. */
  readonly totalBytes: number;
  /** Seed mixed into the contents, so two sets never share checksums. */
  readonly seed: number;
}

/** Name of file `index`. */
export function syntheticName(set: SyntheticSet, index: number): string {
  return set.prefix + String(index).padStart(set.width, '0');
}

/** Index of a file name in the set, or `undefined`. */
export function syntheticIndex(set: SyntheticSet, name: string): number | undefined {
  if (!name.startsWith(set.prefix)) return undefined;
  const digits = name.slice(set.prefix.length);
  if (digits.length !== set.width || !/^\d+$/.test(digits)) return undefined;
  const index = Number(digits);
  return index < set.count ? index : undefined;
}

/** Size in bytes of file `index`: 256 to 1279 bytes. */
export function syntheticSize(index: number): number {
  return 256 + (Math.imul(index + 1, 2654435761) >>> 0) % 1024;
}

/** Deterministic contents of file `index` (xorshift32 stream). */
export function syntheticContent(set: SyntheticSet, index: number): Uint8Array {
  const out = new Uint8Array(syntheticSize(index));
  let x = (Math.imul(index + 1, 0x9e3779b1) ^ set.seed) >>> 0 || 1;
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
    out[i + 1] = (x >>> 8) & 0xff;
    out[i + 2] = (x >>> 16) & 0xff;
    out[i + 3] = x >>> 24;
  }
  return out;
}

/** Size and checksums of file `index` (computed from its contents). */
export function syntheticChecksums(set: SyntheticSet, index: number): Checksums {
  return checksumsOf(syntheticContent(set, index));
}

/** A 32-bit seed from a string (FNV-1a). */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Total size of the first `count` synthetic files. */
export function syntheticTotal(count: number): number {
  let total = 0;
  for (let i = 0; i < count; i++) total += syntheticSize(i);
  return total;
}

/**
 * `hash-wasm` for the CLI bundle (tsup.config.ts aliases the package to this module there, and
 * only there): the same two functions, loading the package on their first call, so commands that
 * compute no checksum never load its 268 kB. Both were asynchronous already.
 * @module
 */
import type { IHasher } from 'hash-wasm';

type HashWasm = typeof import('hash-wasm');
let loaded: Promise<HashWasm> | undefined;
const load = (): Promise<HashWasm> => (loaded ??= import('hash-wasm'));

/** hash-wasm's `createAdler32`, loaded on first use. */
export async function createAdler32(): Promise<IHasher> {
  return (await load()).createAdler32();
}

/** hash-wasm's `createMD5`, loaded on first use. */
export async function createMD5(): Promise<IHasher> {
  return (await load()).createMD5();
}

export type { IHasher };

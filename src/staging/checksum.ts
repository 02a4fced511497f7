/**
 * Streaming checksums for transfers: adler32 (Rucio's preferred checksum, 8 lowercase hex digits,
 * zero-padded, as `'%08x' % zlib.adler32(data)`) and md5, with hash-wasm (WebAssembly, every runtime;
 * WebCrypto has no md5 and no streaming digests).
 *
 * Hasher instances are pooled and reused: creating one per file costs far more than hashing a small file.
 *
 * @module
 */
import { createAdler32, createMD5, type IHasher } from 'hash-wasm';

/** Checksums of some bytes. */
export interface Checksums {
  /** Byte count. */
  bytes: number;
  /** adler32, 8 lowercase hex digits. */
  adler32: string;
  /** md5, 32 lowercase hex digits (when computed). */
  md5?: string;
}

const pools = { adler32: [] as IHasher[], md5: [] as IHasher[] };
const MAX_POOLED = 16;

async function acquire(kind: 'adler32' | 'md5'): Promise<IHasher> {
  const h = pools[kind].pop() ?? (await (kind === 'adler32' ? createAdler32() : createMD5()));
  return h.init();
}

function release(kind: 'adler32' | 'md5', h: IHasher): void {
  if (pools[kind].length < MAX_POOLED) pools[kind].push(h);
}

/**
 * An incremental checksum of a byte stream: feed chunks with {@link StreamChecksum.update}, then
 * {@link StreamChecksum.digest} once (which returns the hashers to the pool).
 *
 * @example
 * ```ts
 * const sum = await StreamChecksum.create({ md5: true });
 * for await (const chunk of stream) sum.update(chunk);
 * const { bytes, adler32, md5 } = sum.digest();
 * ```
 */
export class StreamChecksum {
  #adler: IHasher | undefined;
  #md5: IHasher | undefined;
  #bytes = 0;

  private constructor(adler: IHasher, md5: IHasher | undefined) {
    this.#adler = adler;
    this.#md5 = md5;
  }

  /** A fresh checksum; `md5: true` also computes md5. */
  static async create(options: { md5?: boolean } = {}): Promise<StreamChecksum> {
    const [a, m] = await Promise.all([acquire('adler32'), options.md5 ? acquire('md5') : Promise.resolve(undefined)]);
    return new StreamChecksum(a, m);
  }

  /** Bytes hashed so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Hash the next chunk. */
  update(chunk: Uint8Array): void {
    if (!this.#adler) throw new Error('StreamChecksum used after digest()');
    this.#adler.update(chunk);
    this.#md5?.update(chunk);
    this.#bytes += chunk.byteLength;
  }

  /** Finish and return the checksums. The instance cannot be used afterwards. */
  digest(): Checksums {
    const adler = this.#adler;
    if (!adler) throw new Error('StreamChecksum digested twice');
    const out: Checksums = { bytes: this.#bytes, adler32: adler.digest('hex').padStart(8, '0') };
    release('adler32', adler);
    this.#adler = undefined;
    if (this.#md5) {
      out.md5 = this.#md5.digest('hex');
      release('md5', this.#md5);
      this.#md5 = undefined;
    }
    return out;
  }

  /** Give the hashers back without a result (on failure). */
  dispose(): void {
    if (this.#adler) release('adler32', this.#adler.init());
    if (this.#md5) release('md5', this.#md5.init());
    this.#adler = undefined;
    this.#md5 = undefined;
  }
}

/**
 * Checksums of a whole buffer, blob or stream.
 *
 * @example
 * ```ts
 * const { bytes, adler32, md5 } = await checksumOf(await fs.openAsBlob('image.fits'), { md5: true });
 * ```
 */
export async function checksumOf(data: Uint8Array | Blob | ReadableStream<Uint8Array>, options: { md5?: boolean } = {}): Promise<Checksums> {
  const sum = await StreamChecksum.create(options);
  try {
    if (data instanceof Uint8Array) sum.update(data);
    else {
      const stream = data instanceof Blob ? data.stream() : data;
      const reader = stream.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        sum.update(value);
      }
    }
    return sum.digest();
  } catch (e) {
    sum.dispose();
    throw e;
  }
}

/**
 * Compare adler32 values as Rucio does on upload: case-insensitive, leading zeros ignored
 * (the server's regex allows upper case; some catalogues strip zeros).
 *
 * @example
 * ```ts
 * sameAdler32('0aff020e', 'AFF020E'); // true
 * ```
 */
export function sameAdler32(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b) return false;
  const norm = (s: string) => s.toLowerCase().replace(/^0+/, '');
  return norm(a) === norm(b);
}

const ADLER_BASE = 65521;

/**
 * The adler32 of `A ‖ B` from adler32(A), adler32(B) and B's length — zlib's `adler32_combine`
 * arithmetic. Segments of a file hashed independently (parallel `Range` streams) still give the
 * whole file's adler32, so the file is verified end to end.
 *
 * @example
 * ```ts
 * const whole = combineAdler32(first.adler32, second.adler32, second.bytes);
 * ```
 */
export function combineAdler32(a: string, b: string, lengthOfB: number): string {
  const a1 = parseInt(a, 16);
  const a2 = parseInt(b, 16);
  const rem = lengthOfB % ADLER_BASE;
  let sum1 = a1 & 0xffff;
  let sum2 = (rem * sum1) % ADLER_BASE;
  sum1 += (a2 & 0xffff) + ADLER_BASE - 1;
  sum2 += ((a1 >>> 16) & 0xffff) + ((a2 >>> 16) & 0xffff) + ADLER_BASE - rem;
  if (sum1 >= ADLER_BASE) sum1 -= ADLER_BASE;
  if (sum1 >= ADLER_BASE) sum1 -= ADLER_BASE;
  if (sum2 >= ADLER_BASE * 2) sum2 -= ADLER_BASE * 2;
  if (sum2 >= ADLER_BASE) sum2 -= ADLER_BASE;
  return ((sum1 | (sum2 << 16)) >>> 0).toString(16).padStart(8, '0');
}

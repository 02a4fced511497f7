/**
 * Where checksums are computed. Staging hashes every byte it moves; a {@link Hashing} decides
 * whether that happens on the calling thread or in workers, so hashing overlaps the I/O where a
 * runtime can start workers, and stays on the main thread where it cannot (MV3 service workers).
 *
 * @module
 */
import { StreamChecksum, type Checksums } from './checksum.js';

/** What to compute besides the byte count and adler32 (always computed: it is cheap and combinable). */
export interface HashKinds {
  md5?: boolean | undefined;
}

/** One running checksum of a byte stream. */
export interface HashJob {
  /**
   * Feed the next chunk. The chunk is not kept past the call (implementations copy what they
   * queue). A returned promise means "wait before the next update": the queue is full.
   */
  update(chunk: Uint8Array): void | Promise<void>;
  /** Finish: the checksums of every byte fed. The job cannot be used afterwards. */
  digest(): Promise<Checksums>;
  /** Drop the job without a result. */
  dispose(): void;
}

/** A source of {@link HashJob}s. */
export interface Hashing {
  start(kinds?: HashKinds): Promise<HashJob>;
}

/**
 * Hashing on the calling thread (hash-wasm). Every runtime has it; it is the fallback wherever
 * workers are unavailable.
 *
 * @example
 * ```ts
 * const job = await mainThreadHashing.start({ md5: true });
 * job.update(bytes);
 * const { adler32, md5 } = await job.digest();
 * ```
 */
export const mainThreadHashing: Hashing = {
  async start(kinds = {}) {
    const sum = await StreamChecksum.create({ md5: !!kinds.md5 });
    return {
      update: (chunk) => sum.update(chunk),
      digest: async () => sum.digest(),
      dispose: () => sum.dispose(),
    };
  },
};

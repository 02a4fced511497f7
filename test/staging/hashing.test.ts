/**
 * Hashing off the main thread: worker results equal `checksumOf` (hash-wasm) for any chunking,
 * the queue is bounded, a dead worker fails only its jobs, and idle workers never keep a process
 * alive. No wall-clock assertions: the machine is small and often busy.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { build } from 'esbuild';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DlaasError, ErrorCode, InvalidArgumentError } from '../../src/core/errors.js';
import { createNodeWorkerHashing, workerHashing } from '../../src/node/hash-workers.js';
import { checksumOf } from '../../src/staging/checksum.js';
import { mainThreadHashing, type HashJob } from '../../src/staging/hashing.js';
import { createWorkerHashing, webWorkerHashing, type WorkerHashing } from '../../src/staging/hash-workers.js';

const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes (xorshift32). */
function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

/** Feed `data` cut at `cuts` (any order, any values), awaiting backpressure. */
async function feed(job: HashJob, data: Uint8Array, cuts: readonly number[]): Promise<void> {
  let prev = 0;
  for (const c of [...cuts.map((x) => x % (data.length + 1)), data.length].sort((a, b) => a - b)) {
    await job.update(data.subarray(prev, c));
    prev = c;
  }
}

/** A pool with its workers exposed. */
function poolWithWorkers(options: Parameters<typeof createNodeWorkerHashing>[0], pureJs = false): { hashing: WorkerHashing; workers: Worker[] } {
  const workers: Worker[] = [];
  const hashing = createNodeWorkerHashing(options, { pureJs, onWorker: (w) => workers.push(w) });
  return { hashing, workers };
}

const pools: WorkerHashing[] = [];
function pool(options: Parameters<typeof createNodeWorkerHashing>[0], pureJs = false): WorkerHashing {
  const hashing = createNodeWorkerHashing(options, { pureJs });
  pools.push(hashing);
  return hashing;
}

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

describe('workerHashing: results', () => {
  it('equal checksumOf for random data in random chunkings, md5 on and off (node:crypto and JavaScript md5)', async () => {
    // A small queue limit: batches are 64 KiB and backpressure happens often.
    const hashers = [pool({ workers: 2, maxQueuedBytes: 100_000 }), pool({ workers: 2, maxQueuedBytes: 100_000 }, true)];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300_000 }),
        fc.integer(),
        fc.array(fc.nat(300_000), { maxLength: 12 }),
        fc.boolean(),
        fc.nat(1),
        fc.constantFrom(0, 0x80, 0xf0), // high bytes: adler32's 16-bit lanes near their limits
        async (length, seed, cuts, md5, which, high) => {
          const data = bytes(length, seed).map((x) => x | high);
          const job = await hashers[which]!.start({ md5 });
          await feed(job, data, cuts);
          expect(await job.digest()).toEqual(await checksumOf(data, { md5 }));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hash empty input, 1-byte chunks and chunks at the md5 block and batch edges', async () => {
    for (const pureJs of [false, true]) {
      const hashing = pool({ workers: 1, maxQueuedBytes: 256 * 1024 }, pureJs);
      const empty = await hashing.start({ md5: true });
      expect(await empty.digest()).toEqual({ bytes: 0, adler32: '00000001', md5: 'd41d8cd98f00b204e9800998ecf8427e' });
      expect(await (await hashing.start()).digest()).toEqual({ bytes: 0, adler32: '00000001' });

      const small = bytes(5000, 7);
      const byByte = await hashing.start({ md5: true });
      for (let i = 0; i < small.length; i++) await byByte.update(small.subarray(i, i + 1));
      expect(await byByte.digest()).toEqual(await checksumOf(small, { md5: true }));

      // Lengths around 55/56/64 (md5 padding), the 64 KiB batch and adler32's reduction blocks; unaligned views.
      for (const length of [1, 55, 56, 63, 64, 65, 119, 120, 3199, 3200, 3201, 65_535, 65_536, 65_537, 200_003]) {
        const data = bytes(length + 3, length).subarray(3);
        const job = await hashing.start({ md5: true });
        await feed(job, data, [1, 2, 63, 64, 65_536]);
        expect(await job.digest()).toEqual(await checksumOf(data, { md5: true }));
      }
      // All bytes 255: the largest sums adler32 must reduce in time.
      const ff = new Uint8Array(2 * MiB + 5).fill(255);
      const job = await hashing.start({ md5: true });
      await feed(job, ff, [7, MiB]);
      expect(await job.digest()).toEqual(await checksumOf(ff, { md5: true }));
    }
  });

  it('keep many concurrent jobs apart, interleaved across a 2-worker pool', async () => {
    const { hashing, workers } = poolWithWorkers({ workers: 2, maxQueuedBytes: 200_000 });
    pools.push(hashing);
    const inputs = Array.from({ length: 24 }, (_, i) => ({ data: bytes(10_000 + i * 7_919, i + 1), md5: i % 3 !== 0 }));
    const jobs = await Promise.all(inputs.map((x) => hashing.start({ md5: x.md5 })));
    const offsets = inputs.map(() => 0);
    let round = 0;
    while (offsets.some((o, i) => o < inputs[i]!.data.length)) {
      for (let i = 0; i < jobs.length; i++) {
        const data = inputs[i]!.data;
        const step = 1 + ((round * 131 + i * 977) % 9_000);
        if (offsets[i]! < data.length) await jobs[i]!.update(data.subarray(offsets[i], offsets[i]! + step));
        offsets[i]! += step;
      }
      round++;
    }
    const results = await Promise.all(jobs.map((j) => j.digest()));
    for (let i = 0; i < inputs.length; i++) expect(results[i]).toEqual(await checksumOf(inputs[i]!.data, { md5: inputs[i]!.md5 }));
    expect(workers).toHaveLength(2);
  });

  it('mainThreadHashing gives the same results (the fallback)', async () => {
    const data = bytes(100_000, 3);
    const job = await mainThreadHashing.start({ md5: true });
    await feed(job, data, [10, 70_000]);
    expect(await job.digest()).toEqual(await checksumOf(data, { md5: true }));
  });
});

describe('workerHashing: queue and lifecycle', () => {
  it('returns a promise from update once more than maxQueuedBytes wait, and drains below it', async () => {
    const max = 256 * 1024;
    const hashing = pool({ workers: 1, maxQueuedBytes: max });
    const data = bytes(4 * MiB, 11);
    const job = await hashing.start({ md5: true });
    // Fed without yielding: the worker's acknowledgements cannot arrive, so the queue must fill.
    let pending: Promise<void> | undefined;
    let fed = 0;
    while (!pending) {
      const r = job.update(data.subarray(fed, fed + 64 * 1024));
      fed += 64 * 1024;
      if (r) pending = r;
      expect(fed).toBeLessThanOrEqual(max + 64 * 1024);
    }
    expect(pending).toBeInstanceOf(Promise);
    expect(job.queuedBytes).toBeGreaterThan(max);
    await pending;
    expect(job.queuedBytes).toBeLessThanOrEqual(max / 2);
    // Awaiting every promise keeps the queue within the limit plus one chunk.
    let highest = 0;
    for (; fed < data.length; fed += 48 * 1024) {
      await job.update(data.subarray(fed, fed + 48 * 1024));
      highest = Math.max(highest, job.queuedBytes);
    }
    expect(highest).toBeLessThanOrEqual(max + 48 * 1024);
    expect(await job.digest()).toEqual(await checksumOf(data, { md5: true }));
    expect(job.queuedBytes).toBe(0);
  });

  it('copies chunks: the caller may overwrite a chunk as soon as update returns', async () => {
    const hashing = pool({ workers: 1 });
    const data = bytes(300_000, 5);
    const scratch = new Uint8Array(10_000);
    const job = await hashing.start({ md5: true });
    for (let o = 0; o < data.length; o += scratch.length) {
      scratch.set(data.subarray(o, o + scratch.length));
      await job.update(scratch);
      scratch.fill(0xaa);
    }
    expect(await job.digest()).toEqual(await checksumOf(data, { md5: true }));
  });

  it('dispose mid-stream drops the job, releases a waiting producer, and the pool goes on', async () => {
    const hashing = pool({ workers: 1, maxQueuedBytes: 64 * 1024 });
    const data = bytes(MiB, 9);
    const job = await hashing.start({ md5: true });
    let pending: void | Promise<void>;
    let o = 0;
    do {
      pending = job.update(data.subarray(o, o + 32 * 1024));
      o += 32 * 1024;
    } while (!pending);
    job.dispose();
    await pending; // released, not left hanging
    expect(() => job.update(data)).toThrow(DlaasError);
    await expect(job.digest()).rejects.toBeInstanceOf(DlaasError);
    job.dispose(); // twice: harmless

    const next = await hashing.start({ md5: true });
    await feed(next, data, [1000]);
    expect(await next.digest()).toEqual(await checksumOf(data, { md5: true }));

    const done = await hashing.start();
    await done.update(data);
    await done.digest();
    done.dispose(); // after digest: harmless
    expect(() => done.update(data)).toThrow(DlaasError);
    await expect(done.digest()).rejects.toBeInstanceOf(DlaasError);
  });

  it('a worker that dies fails its jobs with a DlaasError; other workers’ jobs and later jobs work', async () => {
    const { hashing, workers } = poolWithWorkers({ workers: 2, maxQueuedBytes: 128 * 1024 });
    pools.push(hashing);
    const data = bytes(MiB, 21);
    const doomed = await hashing.start({ md5: true });
    const survivor = await hashing.start({ md5: true }); // the second worker (the first one is busy)
    expect(workers).toHaveLength(2);
    await doomed.update(data.subarray(0, 100_000));
    await survivor.update(data.subarray(0, 100_000));
    // A producer blocked on the dying worker is released, and its next update throws.
    let blocked: void | Promise<void>;
    let o = 100_000;
    do {
      blocked = doomed.update(data.subarray(o, o + 16 * 1024));
      o += 16 * 1024;
    } while (!blocked);

    await workers[0]!.terminate();
    await blocked;
    const thrown = (() => {
      try {
        doomed.update(data);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(thrown).toBeInstanceOf(DlaasError);
    expect((thrown as DlaasError).code).toBe(ErrorCode.stream);
    const failure = await doomed.digest().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(DlaasError);
    expect((failure as DlaasError).code).toBe(ErrorCode.stream);
    expect((failure as DlaasError).message).toMatch(/hashing worker stopped/);

    await survivor.update(data.subarray(100_000));
    expect(await survivor.digest()).toEqual(await checksumOf(data, { md5: true }));

    // The dead worker is replaced on demand.
    const jobs = await Promise.all([hashing.start({ md5: true }), hashing.start({ md5: true })]);
    for (const j of jobs) await feed(j, data, [4096]);
    for (const j of jobs) expect(await j.digest()).toEqual(await checksumOf(data, { md5: true }));
    expect(workers).toHaveLength(3);
  });

  it('close() fails running jobs and later jobs start new workers', async () => {
    const { hashing, workers } = poolWithWorkers({ workers: 1 });
    pools.push(hashing);
    const job = await hashing.start();
    await job.update(bytes(1000, 1));
    await hashing.close();
    await expect(job.digest()).rejects.toBeInstanceOf(DlaasError);
    const again = await hashing.start();
    await again.update(bytes(1000, 1));
    expect(await again.digest()).toEqual(await checksumOf(bytes(1000, 1)));
    expect(workers).toHaveLength(2);
  });

  it('runs jobs on the calling thread where no worker can start', async () => {
    let tries = 0;
    const hashing = createWorkerHashing(
      () => {
        tries++;
        throw new Error('ERR_ACCESS_DENIED');
      },
      { workers: 2 },
      2,
    );
    const data = bytes(50_000, 4);
    const job = await hashing.start({ md5: true });
    expect(job.inWorker).toBe(false);
    expect(job.queuedBytes).toBe(0);
    await job.update(data);
    expect(await job.digest()).toEqual(await checksumOf(data, { md5: true }));
    expect(tries).toBe(1);
    const worker = await pool({ workers: 1 }).start();
    expect(worker.inWorker).toBe(true);
    worker.dispose();
  });

  it('rejects bad options', () => {
    expect(() => workerHashing({ workers: 0 })).toThrow(InvalidArgumentError);
    expect(() => workerHashing({ workers: 1.5 })).toThrow(InvalidArgumentError);
    expect(() => workerHashing({ maxQueuedBytes: 0 })).toThrow(InvalidArgumentError);
  });

  it('falls back to the calling thread where there are no Web Workers (Node)', async () => {
    expect(typeof (globalThis as { Worker?: unknown }).Worker).toBe('undefined');
    const hashing = webWorkerHashing();
    const data = bytes(70_000, 2);
    const job = await hashing.start({ md5: true });
    await job.update(data);
    expect(await job.digest()).toEqual(await checksumOf(data, { md5: true }));
    expect(job.inWorker).toBe(false);
    await hashing.close();
  });
});

describe('webWorkerHashing in a runtime with Web Workers (Deno)', () => {
  it('hashes in blob: module workers like checksumOf (JavaScript md5 and adler32)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dlaas-webhash-'));
    try {
      const entry = join(dir, 'entry.ts');
      const src = (p: string) => JSON.stringify(join(import.meta.dirname, '../../src', p));
      writeFileSync(
        entry,
        `import { webWorkerHashing } from ${src('staging/hash-workers.ts')};
         import { checksumOf } from ${src('staging/checksum.ts')};
         const hashing = webWorkerHashing({ workers: 2, maxQueuedBytes: 200_000 });
         const bad = [];
         let inWorkers = true;
         for (const length of [0, 1, 63, 64, 65, 3201, 65_536, 1_000_003]) {
           const data = new Uint8Array(length).map((_, i) => (i * 31 + (i >> 9) + length) & 255);
           const jobs = await Promise.all([hashing.start({ md5: true }), hashing.start()]);
           for (let o = 0; o < length; o += 7001) for (const j of jobs) await j.update(data.subarray(o, o + 7001));
           const [a, b] = await Promise.all(jobs.map((j) => j.digest()));
           inWorkers &&= jobs.every((j) => j.inWorker);
           if (JSON.stringify(a) !== JSON.stringify(await checksumOf(data, { md5: true }))) bad.push(length);
           if (JSON.stringify(b) !== JSON.stringify(await checksumOf(data))) bad.push(-length);
         }
         await hashing.close();
         console.log(JSON.stringify({ bad, inWorkers }));`,
      );
      const bundle = join(dir, 'bundle.mjs');
      await build({ entryPoints: [entry], bundle: true, platform: 'neutral', mainFields: ['module', 'main'], format: 'esm', outfile: bundle, logLevel: 'warning' });
      const deno = join(import.meta.dirname, '../../node_modules/.bin/deno');
      const out = await new Promise<string>((resolve, reject) => {
        execFile(deno, ['run', '--no-config', '--no-lock', bundle], { cwd: dir, timeout: 60_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
          if (error) reject(new Error(`deno failed (${error.message}): ${stderr}`));
          else resolve(stdout);
        });
      });
      expect(JSON.parse(out)).toEqual({ bad: [], inWorkers: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('workers never keep a process alive', () => {
  let dir = '';
  let bundle = '';
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dlaas-hashing-'));
    bundle = join(dir, 'hash-workers.mjs');
    await build({ entryPoints: [join(import.meta.dirname, '../../src/node/hash-workers.ts')], bundle: true, platform: 'node', format: 'esm', outfile: bundle, logLevel: 'warning' });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Run a module script with this Node; resolves with its stdout once it exits by itself. */
  function runScript(body: string): Promise<string> {
    const file = join(dir, `child-${Math.random().toString(36).slice(2)}.mjs`);
    writeFileSync(file, `import { workerHashing } from ${JSON.stringify(pathToFileURL(bundle).href)};\n${body}\n`);
    return new Promise((resolve, reject) => {
      execFile(process.execPath, [file], { timeout: 25_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
        if (error) reject(new Error(`child did not exit cleanly (${error.message}): ${stderr}`));
        else resolve(stdout);
      });
    });
  }

  it('a job neither digested nor disposed does not stop the process from exiting', async () => {
    const out = await runScript(`
      const hashing = workerHashing({ workers: 2 });
      const job = await hashing.start({ md5: true });
      job.update(new Uint8Array(3 * 1024 * 1024));
      const blocked = await hashing.start();
      blocked.update(new Uint8Array(20 * 1024 * 1024)); // over the limit: a promise nobody awaits
      const other = await hashing.start();
      await other.update(new Uint8Array(1000));
      console.log('fed');
    `);
    expect(out.trim()).toBe('fed');
  });

  it('an awaited digest still completes at the top level (workers are referenced while awaited)', async () => {
    const out = await runScript(`
      const hashing = workerHashing();
      const job = await hashing.start({ md5: true });
      await job.update(new TextEncoder().encode('abc'));
      console.log(JSON.stringify(await job.digest()));
    `);
    expect(JSON.parse(out)).toEqual({ bytes: 3, adler32: '024d0127', md5: '900150983cd24fb0d6963f7d28e17f72' });
  });
});

/**
 * Hashing off the main thread for Node, Deno and Bun (`node:worker_threads`), so checksums of
 * staged files are computed while the main thread reads sockets and writes files.
 * @module
 */
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { createWorkerHashing, hashWorkerSource, type HashThread, type HashThreadEvents, type WorkerHashing, type WorkerHashingOptions } from '../staging/hash-workers.js';

export type { WorkerHashing, WorkerHashJob, WorkerHashingOptions } from '../staging/hash-workers.js';

/** @internal Test and benchmark hooks. */
export interface WorkerHashingInternals {
  /** md5 in JavaScript instead of `node:crypto` (what Web Workers run). */
  pureJs?: boolean;
  /** Sees each worker started. */
  onWorker?: (worker: Worker) => void;
}

/** The `node:worker_threads` preamble of the worker script (see `hashWorkerSource`): md5 through `node:crypto` unless `workerData.pureJs`. */
const NODE_PREAMBLE = `'use strict';
const threads = require('node:worker_threads');
const post = (m, transfer) => threads.parentPort.postMessage(m, transfer);
let nodeCrypto = null;
if (!(threads.workerData && threads.workerData.pureJs)) {
  try {
    const c = require('node:crypto');
    c.createHash('md5').update(new Uint8Array(1)).digest('hex');
    nodeCrypto = c;
  } catch {
    // No md5 there (FIPS mode): the JavaScript one.
  }
}
threads.parentPort.on('message', (m) => onMessage(m));
`;
let nodeSource: string | undefined;

function defaultWorkers(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.min(2, Math.max(1, cores - 1));
}

function spawnThread(events: HashThreadEvents, internals: WorkerHashingInternals): HashThread {
  // An eval worker: the script is self-contained, so nothing is resolved from the caller's
  // location (works from sources, dist/ ESM and CJS, bundles). No inherited execArgv: loaders
  // and test hooks of the parent are not needed to hash bytes.
  const worker = new Worker((nodeSource ??= hashWorkerSource(NODE_PREAMBLE)), {
    eval: true,
    execArgv: [],
    name: 'dlaas-hashing',
    workerData: { pureJs: !!internals.pureJs },
  });
  worker.on('message', events.message);
  worker.on('error', (e) => events.died(e));
  worker.on('messageerror', (e) => events.died(e));
  worker.on('exit', (code) => events.died(new Error(`the worker exited with code ${code}`)));
  worker.unref(); // after the listeners: adding a 'message' listener references the worker again
  internals.onWorker?.(worker);
  return {
    post: (message, transfer) => worker.postMessage(message, transfer),
    ref: () => worker.ref(),
    unref: () => worker.unref(),
    terminate: () => worker.terminate(),
  };
}

/** @internal {@link workerHashing} with test hooks. */
export function createNodeWorkerHashing(options: WorkerHashingOptions = {}, internals: WorkerHashingInternals = {}): WorkerHashing {
  return createWorkerHashing((events) => spawnThread(events, internals), options, defaultWorkers());
}

/**
 * Hashing in worker threads (Node, Deno, Bun). Each job runs in one worker of a small pool; its
 * chunks are copied into pooled buffers handed to the worker, so the caller may reuse a chunk
 * once `update` returns. `update` returns a promise when the job has more than `maxQueuedBytes`
 * waiting: await it before feeding more. Idle workers never keep the process alive; a worker that
 * dies fails its jobs (a `DlaasError`, code `DLAAS_STREAM`) and is replaced by the next `start`.
 * Where no worker can be started (e.g. Node's permission model without `--allow-worker`), jobs
 * run on the calling thread (`inWorker: false`).
 *
 * md5 uses `node:crypto` in the worker (the JavaScript fallback where it has none); adler32 is
 * plain JavaScript.
 *
 * @example
 * ```ts
 * import { workerHashing } from 'dlaas/node';
 * const hashing = workerHashing();
 * const job = await hashing.start({ md5: true });
 * for await (const chunk of stream) await job.update(chunk);
 * const { bytes, adler32, md5 } = await job.digest();
 * ```
 */
export function workerHashing(options: WorkerHashingOptions = {}): WorkerHashing {
  return createNodeWorkerHashing(options);
}

/**
 * Where downloaded bytes go. A sink never exposes a file under its final name before the stager
 * has verified size and checksums: data is written to a partial slot and published by `commit()`.
 *
 * The isomorphic sinks live here (memory Blob, OPFS, caller-supplied `WritableStream`); the Node
 * file sink (`name.part` + atomic rename) is in `dlaas/node`.
 *
 * @module
 */
import { DlaasError, ErrorCode, InvalidArgumentError } from '../core/errors.js';
import { raceAbort } from './http.js';

/** Where a staged file ended up. */
export type StagedLocation =
  | { kind: 'path'; path: string }
  | { kind: 'blob'; blob: Blob }
  | { kind: 'opfs'; path: string; handle: unknown }
  | { kind: 'stream' };

/** What a download is: its identity and the catalogue's size and checksums (partial state is reused only for the very same). */
export interface ExpectedFile {
  /** `scope:name`, or the URL of a URL source. */
  id: string;
  bytes: number | null;
  adler32: string | null;
  md5: string | null;
}

/** A byte range `[start, end)` of a file of which the first `done` bytes are written. */
export interface Segment {
  start: number;
  end: number;
  done: number;
}

/** The resumable state of a partial download: which bytes of which ranges are on the medium. */
export interface PartialState {
  segments: Segment[];
}

/**
 * One file being written, private to one writer: the sink holds the file's lock (another run on
 * the same destination waits) until `commit()` or `close()`.
 */
export interface SinkFile {
  /** State an earlier, interrupted run left for exactly this file (same id, size and checksums), if any. */
  readonly resume: PartialState | undefined;
  /** True when {@link write} takes any position (parallel segments); otherwise writes must append. */
  readonly positional: boolean;
  /** The bytes `[start, end)` already written (to re-hash them before resuming). */
  readRange(start: number, end: number): AsyncIterable<Uint8Array>;
  /** Write a chunk at `position`. */
  write(chunk: Uint8Array, position: number): Promise<void>;
  /** Optional: write consecutive chunks at `position` in one call (fewer system calls; the stager batches about 1 MiB). */
  writev?(chunks: readonly Uint8Array[], position: number): Promise<void>;
  /** Drop every byte written (the next attempt starts from byte 0). */
  reset(): Promise<void>;
  /** Record how far the download got, so a run that dies can be resumed (best effort). */
  checkpoint(state: PartialState): Promise<void>;
  /** Publish under the final name, atomically where the medium allows, and release the lock. */
  commit(): Promise<StagedLocation>;
  /**
   * Stop writing and release the lock. With `keep`, the partial bytes and that state stay for a
   * later resume (interrupted transfer); otherwise they are deleted. Never publishes.
   */
  close(options?: { keep?: PartialState | undefined }): Promise<void>;
}

/** Options of {@link DownloadSink.open}. */
export interface SinkOpenOptions {
  expected: ExpectedFile;
  /** Aborts the wait for another writer of the same file. */
  signal?: AbortSignal | undefined;
}

/** A destination for downloads. */
export interface DownloadSink {
  /**
   * The already published file at `relPath`, if there is one: where it is, its size, and `read()`
   * to stream its bytes (the stager verifies them before reusing the file).
   */
  existing(relPath: string): Promise<{ location: StagedLocation; read: () => ReadableStream<Uint8Array>; bytes: number } | undefined>;
  /**
   * Take the file's lock (waiting while another writer holds it) and open its private partial slot,
   * with the resumable state of an earlier run of the same file.
   * @throws {@link InvalidArgumentError} for a path the sink refuses (outside it, reserved name, symlink).
   */
  open(relPath: string, options: SinkOpenOptions): Promise<SinkFile>;
}

/**
 * Suffixes of the sink's own bookkeeping files (`.<name>.<random>.dlaas-part`, `.<name>.dlaas-state`,
 * `.<name>.dlaas-lock`). A file to download whose name ends with one of them is refused, so no
 * dataset file can take a temporary file's name.
 */
export const RESERVED_SUFFIXES = ['.dlaas-part', '.dlaas-state', '.dlaas-lock'] as const;

/** @internal The last segment of `relPath`, refused when it is one of the sink's reserved names. */
export function checkedName(relPath: string): string {
  const name = relPath.slice(relPath.lastIndexOf('/') + 1);
  if (!name || name === '.' || name === '..') throw new InvalidArgumentError('relPath', `${JSON.stringify(relPath)} has no file name`);
  if (RESERVED_SUFFIXES.some((s) => name.endsWith(s))) {
    throw new InvalidArgumentError('relPath', `${JSON.stringify(relPath)} ends with a name dlaas reserves for its temporary files (${RESERVED_SUFFIXES.join(', ')}); download it with another layout or rename it`);
  }
  return name;
}

/** @internal Bookkeeping names of a file: the private partial (random part), its state and its lock. */
export const bookkeeping = {
  part: (name: string) => `.${name}.${randomTag()}.dlaas-part`,
  state: (name: string) => `.${name}.dlaas-state`,
  lock: (name: string) => `.${name}.dlaas-lock`,
};

function randomTag(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** @internal What a sink stores next to a partial file (JSON). */
export interface StateRecord {
  v: 1;
  expected: ExpectedFile;
  part: string;
  segments: Segment[];
}

/**
 * @internal The partial state in `record` when it belongs to exactly `expected` (a file of known
 * size) and is consistent: ordered, non-overlapping segments inside the file, none done past its end.
 */
export function provenState(record: unknown, expected: ExpectedFile): PartialState | undefined {
  const r = record as Partial<StateRecord> | null;
  if (!r || r.v !== 1 || !r.expected || !Array.isArray(r.segments) || typeof r.part !== 'string') return undefined;
  const e = r.expected;
  if (expected.bytes === null || e.id !== expected.id || e.bytes !== expected.bytes || (e.adler32 ?? null) !== expected.adler32 || (e.md5 ?? null) !== expected.md5) return undefined;
  let at = 0;
  for (const s of r.segments) {
    if (!s || ![s.start, s.end, s.done].every(Number.isSafeInteger) || s.start !== at || s.end <= s.start || s.done < 0 || s.done > s.end - s.start) return undefined;
    at = s.end;
  }
  if (at !== expected.bytes) return undefined;
  return { segments: r.segments.map((s) => ({ start: s.start, end: s.end, done: s.done })) };
}

/**
 * @internal In-process exclusive locks by key (memory sink, OPFS without Web Locks): `acquire`
 * resolves with a release function once the key is free, or rejects when `signal` aborts.
 */
export class KeyedLocks {
  readonly #held = new Map<string, Promise<void>>();

  async acquire(key: string, signal?: AbortSignal): Promise<() => void> {
    for (;;) {
      const held = this.#held.get(key);
      if (!held) break;
      await raceAbort(held, signal);
    }
    let release!: () => void;
    this.#held.set(key, new Promise<void>((r) => (release = r)));
    return () => {
      this.#held.delete(key);
      release();
    };
  }
}

/** Bytes of `chunks` in `[start, end)`. */
async function* rangeOf(chunks: readonly Uint8Array[], start: number, end: number): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const c of chunks) {
    const a = Math.max(start, at);
    const b = Math.min(end, at + c.byteLength);
    if (a < b) yield c.subarray(a - at, b - at);
    at += c.byteLength;
    if (at >= end) return;
  }
}

function appendOnly(relPath: string, length: () => number, position: number): void {
  if (position !== length()) throw new InvalidArgumentError('position', `${relPath}: this sink only appends (write at ${position}, length ${length()})`);
}

/**
 * In-memory sink: each file becomes a `Blob` (browsers, extensions, tests). Partial data survives
 * between runs on the same sink, so interrupted downloads resume; two runs writing the same file
 * through one sink take turns.
 *
 * @example
 * ```ts
 * const sink = memorySink();
 * const result = await staging.stage([did], { mode: 'download', sink });
 * const blob = (result.files[0]!.location as { blob: Blob }).blob;
 * ```
 */
export function memorySink(): DownloadSink & { readonly files: ReadonlyMap<string, Blob> } {
  const published = new Map<string, Blob>();
  const partial = new Map<string, { chunks: Uint8Array[]; record: StateRecord }>();
  const locks = new KeyedLocks();
  return {
    files: published,
    async existing(relPath) {
      const blob = published.get(relPath);
      return blob ? { location: { kind: 'blob', blob }, read: () => blob.stream(), bytes: blob.size } : undefined;
    },
    async open(relPath, { expected, signal }) {
      checkedName(relPath);
      const release = await locks.acquire(relPath, signal);
      const kept = partial.get(relPath);
      const resume = kept ? provenState(kept.record, expected) : undefined;
      const chunks: Uint8Array[] = resume && kept ? kept.chunks : [];
      partial.delete(relPath);
      let length = chunks.reduce((n, c) => n + c.byteLength, 0);
      let open = true;
      const done = () => {
        if (open) release();
        open = false;
      };
      return {
        resume,
        positional: false,
        readRange: (start, end) => rangeOf(chunks.slice(), start, end),
        async write(chunk, position) {
          appendOnly(relPath, () => length, position);
          chunks.push(chunk.slice());
          length += chunk.byteLength;
        },
        async reset() {
          chunks.length = 0;
          length = 0;
        },
        async checkpoint() {},
        async commit() {
          const blob = new Blob(chunks as BlobPart[]);
          published.set(relPath, blob);
          done();
          return { kind: 'blob', blob };
        },
        async close(o) {
          if (o?.keep && open) partial.set(relPath, { chunks, record: { v: 1, expected, part: '', segments: o.keep.segments } });
          done();
        },
      };
    },
  };
}

/**
 * Sink writing into caller-supplied `WritableStream`s, one per file (`open(relPath)` is called for
 * each attempt). A stream cannot be un-written: when verification fails the stream is aborted with a
 * {@link DlaasError}, and a retry opens a new one. No resume.
 *
 * @example
 * ```ts
 * const sink = writableSink((relPath) => myWritableFor(relPath));
 * ```
 */
export function writableSink(open: (relPath: string) => WritableStream<Uint8Array> | Promise<WritableStream<Uint8Array>>): DownloadSink {
  return {
    async existing() {
      return undefined;
    },
    async open(relPath) {
      let writer = (await open(relPath)).getWriter();
      let length = 0;
      return {
        resume: undefined,
        positional: false,
        // eslint-disable-next-line require-yield
        async *readRange() {
          throw new InvalidArgumentError('sink', `${relPath}: a stream sink cannot be read back`);
        },
        async write(chunk, position) {
          appendOnly(relPath, () => length, position);
          length += chunk.byteLength;
          await writer.write(chunk);
        },
        async reset() {
          await writer.abort(new DlaasError(`download of ${relPath} restarted`, {}, ErrorCode.stream)).catch(() => {});
          writer = (await open(relPath)).getWriter();
          length = 0;
        },
        async checkpoint() {},
        async commit() {
          await writer.close();
          return { kind: 'stream' };
        },
        async close() {
          await writer.abort(new DlaasError(`download of ${relPath} was not verified`, {}, ErrorCode.stream)).catch(() => {});
        },
      };
    },
  };
}

/** The subset of the File System Access API the OPFS sink uses. */
interface OpfsDir {
  getDirectoryHandle(name: string, o?: { create?: boolean }): Promise<OpfsDir>;
  getFileHandle(name: string, o?: { create?: boolean }): Promise<OpfsFile>;
  removeEntry(name: string): Promise<void>;
}
interface OpfsWritable extends WritableStream<Uint8Array> {
  write(data: { type: 'write'; position: number; data: Uint8Array } | Uint8Array): Promise<void>;
  truncate(n: number): Promise<void>;
  close(): Promise<void>;
}
interface OpfsFile {
  getFile(): Promise<Blob>;
  createWritable(o?: { keepExistingData?: boolean }): Promise<OpfsWritable>;
  move?(name: string): Promise<void>;
}
/** The Web Locks API, where the runtime has it. */
interface WebLocks {
  request(name: string, options: { mode: 'exclusive'; signal?: AbortSignal }, callback: () => Promise<void>): Promise<void>;
}

const opfsFallbackLocks = new KeyedLocks();

/** Hold the Web Lock `name` (or an in-process lock where Web Locks are missing) until `release()`. */
async function webLock(name: string, signal: AbortSignal | undefined): Promise<() => void> {
  const locks = (globalThis as { navigator?: { locks?: WebLocks } }).navigator?.locks;
  if (!locks) return opfsFallbackLocks.acquire(name, signal);
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await new Promise<void>((acquired, refused) => {
    locks.request(name, { mode: 'exclusive', ...(signal ? { signal } : {}) }, () => (acquired(), held)).catch(refused);
  });
  return release;
}

/**
 * Origin Private File System sink (browsers and workers). Each file is written to a private
 * `.<name>.<random>.dlaas-part` under a Web Lock (so two tabs or workers never write one file
 * together), with its state in `.<name>.dlaas-state` for a resume, then renamed (or copied where
 * `move()` is missing) once verified.
 *
 * @example
 * ```ts
 * const sink = opfsSink(await navigator.storage.getDirectory());
 * ```
 */
export function opfsSink(root: unknown, options: { lockPrefix?: string } = {}): DownloadSink {
  const dirRoot = root as OpfsDir;
  const locate = async (relPath: string, create: boolean) => {
    const parts = relPath.split('/');
    const name = parts.pop() as string;
    let dir = dirRoot;
    for (const p of parts) {
      if (p === '..' || p === '.') throw new InvalidArgumentError('relPath', `${JSON.stringify(relPath)} would leave the sink's directory`);
      dir = await dir.getDirectoryHandle(p, { create });
    }
    return { dir, name };
  };
  const readJson = async (dir: OpfsDir, name: string): Promise<unknown> => {
    try {
      return JSON.parse(await (await (await dir.getFileHandle(name)).getFile()).text()) as unknown;
    } catch {
      return undefined;
    }
  };
  const writeJson = async (dir: OpfsDir, name: string, value: unknown) => {
    const w = await (await dir.getFileHandle(name, { create: true })).createWritable();
    await w.write(new TextEncoder().encode(JSON.stringify(value)));
    await w.close();
  };
  return {
    async existing(relPath) {
      try {
        const { dir, name } = await locate(relPath, false);
        const handle = await dir.getFileHandle(name);
        const file = await handle.getFile();
        return { location: { kind: 'opfs', path: relPath, handle }, read: () => file.stream(), bytes: file.size };
      } catch {
        return undefined;
      }
    },
    async open(relPath, { expected, signal }) {
      const name = checkedName(relPath);
      const release = await webLock(`${options.lockPrefix ?? 'dlaas-opfs:'}${relPath}`, signal);
      try {
        const { dir } = await locate(relPath, true);
        const stateName = bookkeeping.state(name);
        const record = (await readJson(dir, stateName)) as StateRecord | undefined;
        let resume = record ? provenState(record, expected) : undefined;
        let partName = resume && record ? record.part : bookkeeping.part(name);
        let part: OpfsFile;
        try {
          part = await dir.getFileHandle(partName, { create: !resume });
          if (resume && (await part.getFile()).size < Math.max(...resume.segments.map((s) => s.start + s.done))) throw new Error('short');
        } catch {
          resume = undefined;
          partName = bookkeeping.part(name);
          part = await dir.getFileHandle(partName, { create: true });
        }
        if (!resume) {
          if (record?.part && record.part !== partName) await dir.removeEntry(record.part).catch(() => {});
          await dir.removeEntry(stateName).catch(() => {});
        }
        const writable = await part.createWritable({ keepExistingData: true });
        let open = true;
        const finish = async (keep: PartialState | undefined) => {
          if (!open) return;
          open = false;
          try {
            await writable.close().catch(() => {});
            if (keep) await writeJson(dir, stateName, { v: 1, expected, part: partName, segments: keep.segments } satisfies StateRecord);
            else {
              await dir.removeEntry(partName).catch(() => {});
              await dir.removeEntry(stateName).catch(() => {});
            }
          } finally {
            release();
          }
        };
        return {
          resume,
          positional: true,
          async *readRange(start, end) {
            const reader = (await part.getFile()).slice(start, end).stream().getReader();
            for (;;) {
              const { done, value } = await reader.read();
              if (done) return;
              yield value;
            }
          },
          write: (chunk, position) => writable.write({ type: 'write', position, data: chunk }),
          async reset() {
            await writable.truncate(0);
          },
          async checkpoint(state) {
            await writeJson(dir, stateName, { v: 1, expected, part: partName, segments: state.segments } satisfies StateRecord);
          },
          async commit() {
            open = false;
            try {
              await writable.close();
              if (part.move) await part.move(name);
              else {
                const target = await dir.getFileHandle(name, { create: true });
                const out = await target.createWritable();
                await (await part.getFile()).stream().pipeTo(out);
                await dir.removeEntry(partName);
              }
              await dir.removeEntry(stateName).catch(() => {});
              const handle = await dir.getFileHandle(name);
              return { kind: 'opfs', path: relPath, handle };
            } finally {
              release();
            }
          },
          close: (o) => finish(o?.keep),
        };
      } catch (e) {
        release();
        throw e;
      }
    },
  };
}

/**
 * Where downloaded bytes go. A sink never exposes a file under its final name before the stager
 * has verified size and checksums: data is written to a partial slot and published by `commit()`.
 *
 * The isomorphic sinks live here (memory Blob, OPFS, caller-supplied `WritableStream`); the Node
 * file sink (`name.part` + atomic rename) is in `dlaas/node`.
 *
 * @module
 */
import { DlaasError, ErrorCode } from '../core/errors.js';

/** Where a staged file ended up. */
export type StagedLocation =
  | { kind: 'path'; path: string }
  | { kind: 'blob'; blob: Blob }
  | { kind: 'opfs'; path: string; handle: unknown }
  | { kind: 'stream' };

/** One file being written. */
export interface SinkFile {
  /** Bytes kept from an earlier interrupted attempt, from which the download can resume. */
  readonly resumableBytes: number;
  /** The kept partial bytes, to be re-hashed before resuming (only when `resumableBytes > 0`). */
  readPartial(): ReadableStream<Uint8Array>;
  /** Append a chunk. */
  write(chunk: Uint8Array): Promise<void>;
  /** Drop everything written so far (the next attempt starts from byte 0). */
  reset(): Promise<void>;
  /** Publish under the final name, atomically where the medium allows. */
  commit(): Promise<StagedLocation>;
  /**
   * Stop writing. `keepPartial: true` keeps the bytes for a later resume (interrupted transfer);
   * otherwise the partial data is deleted. Never publishes.
   */
  close(options?: { keepPartial?: boolean }): Promise<void>;
}

/** A destination for downloads. */
export interface DownloadSink {
  /**
   * The already published file at `relPath`, if there is one: where it is, its size, and `read()`
   * to stream its bytes (the stager verifies them before reusing the file).
   */
  existing(relPath: string): Promise<{ location: StagedLocation; read: () => ReadableStream<Uint8Array>; bytes: number } | undefined>;
  /** Open the partial slot of `relPath` (keeping resumable bytes from an earlier attempt). */
  open(relPath: string): Promise<SinkFile>;
}

function streamOf(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      const next = chunks[i++];
      if (next) c.enqueue(next);
      else c.close();
    },
  });
}

/**
 * In-memory sink: each file becomes a `Blob` (browsers, extensions, tests). Partial data survives
 * between attempts of the same sink, so interrupted downloads resume.
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
  const partial = new Map<string, Uint8Array[]>();
  return {
    files: published,
    async existing(relPath) {
      const blob = published.get(relPath);
      return blob ? { location: { kind: 'blob', blob }, read: () => blob.stream(), bytes: blob.size } : undefined;
    },
    async open(relPath) {
      const chunks = partial.get(relPath) ?? [];
      partial.set(relPath, chunks);
      const resumable = chunks.reduce((n, c) => n + c.byteLength, 0);
      return {
        resumableBytes: resumable,
        readPartial: () => streamOf(chunks.slice()),
        async write(chunk) {
          chunks.push(chunk.slice());
        },
        async reset() {
          chunks.length = 0;
        },
        async commit() {
          const blob = new Blob(chunks as BlobPart[]);
          published.set(relPath, blob);
          partial.delete(relPath);
          return { kind: 'blob', blob };
        },
        async close(o) {
          if (!o?.keepPartial) partial.delete(relPath);
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
      return {
        resumableBytes: 0,
        readPartial: () => streamOf([]),
        write: (chunk) => writer.write(chunk),
        async reset() {
          await writer.abort(new DlaasError(`download of ${relPath} restarted`, {}, ErrorCode.stream)).catch(() => {});
          writer = (await open(relPath)).getWriter();
        },
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
interface OpfsFile {
  getFile(): Promise<Blob>;
  createWritable(o?: { keepExistingData?: boolean }): Promise<WritableStream<Uint8Array> & { seek(n: number): Promise<void>; truncate(n: number): Promise<void> }>;
  move?(name: string): Promise<void>;
}

/**
 * Origin Private File System sink (browsers and workers): writes `name.part`, then renames it
 * (or copies where `move()` is missing). Resumes from an existing `.part`.
 *
 * @example
 * ```ts
 * const sink = opfsSink(await navigator.storage.getDirectory());
 * ```
 */
export function opfsSink(root: unknown): DownloadSink {
  const dirRoot = root as OpfsDir;
  const locate = async (relPath: string, create: boolean) => {
    const parts = relPath.split('/');
    const name = parts.pop() as string;
    let dir = dirRoot;
    for (const p of parts) dir = await dir.getDirectoryHandle(p, { create });
    return { dir, name };
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
    async open(relPath) {
      const { dir, name } = await locate(relPath, true);
      const partName = `${name}.part`;
      const part = await dir.getFileHandle(partName, { create: true });
      const existing = await part.getFile();
      let writable = await part.createWritable({ keepExistingData: true });
      await writable.seek(existing.size);
      const w = () => writable.getWriter();
      let writer = w();
      return {
        resumableBytes: existing.size,
        readPartial: () => existing.stream(),
        write: (chunk) => writer.write(chunk),
        async reset() {
          writer.releaseLock();
          await writable.truncate(0);
          await writable.seek(0);
          writer = w();
        },
        async commit() {
          await writer.close();
          if (part.move) await part.move(name);
          else {
            const target = await dir.getFileHandle(name, { create: true });
            const out = await target.createWritable();
            await (await part.getFile()).stream().pipeTo(out);
            await dir.removeEntry(partName);
          }
          const handle = await dir.getFileHandle(name);
          return { kind: 'opfs', path: relPath, handle };
        },
        async close(o) {
          await writer.close().catch(() => {});
          if (!o?.keepPartial) await dir.removeEntry(partName).catch(() => {});
          writable = undefined as never;
        },
      };
    },
  };
}

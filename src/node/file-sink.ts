/**
 * Filesystem download sink for Node, Deno and Bun.
 * @module
 */
import { constants, createReadStream } from 'node:fs';
import { lstat, mkdir, stat, open, realpath, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { DlaasError, ErrorCode, InvalidArgumentError } from '../core/errors.js';
import { bookkeeping, checkedName, provenState, type DownloadSink, type ExpectedFile, type PartialState, type SinkFile, type StateRecord } from '../staging/sinks.js';
import { acquireLock } from './lock-file.js';
import { effectiveUid } from './trusted-file.js';

/** Options of {@link fileSink}. */
export interface FileSinkOptions {
  /**
   * Flush each file to stable storage (`fsync` of the file, then of its directory after the rename)
   * before it counts as staged. Default `true`: a verified file survives a crash or power loss.
   * `false` leaves that to the OS (faster on slow disks; a crash may then lose recent files).
   */
  fsync?: boolean;
  /**
   * A lock whose holder shows no sign of life (its process is gone on this host, or, on another
   * host sharing the directory, it has not refreshed the lock) for this long is taken over, in ms
   * (default 120 000).
   */
  staleLockAfter?: number;
  /** How often a waiting run looks at a busy lock again, in ms (default 250). */
  lockPollInterval?: number;
}

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_RDWR, O_WRONLY } = constants;

function inside(root: string, relPath: string): string {
  const full = resolve(root, relPath);
  if (full !== root && !full.startsWith(root.endsWith(sep) ? root : root + sep)) {
    throw new InvalidArgumentError('relPath', `${JSON.stringify(relPath)} would be written outside ${root}`);
  }
  return full;
}

/** A path the sink refuses to write through or over (a symlink, a device, a directory). */
function refuse(path: string, what: string): never {
  throw new InvalidArgumentError('destination', `${path} is ${what}: dlaas does not write through or over it; remove it, or choose another destination`);
}

/** The regular file at `path` (not following a symlink), `undefined` when absent; anything else is refused. */
async function regularFile(path: string): Promise<{ size: number } | undefined> {
  let st;
  try {
    st = await lstat(path);
  } catch {
    return undefined;
  }
  if (st.isSymbolicLink()) refuse(path, 'a symbolic link');
  if (!st.isFile()) refuse(path, 'not a regular file');
  return { size: st.size };
}

const webStream = (path: string) => Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;

/**
 * Downloads into a directory, safely when several runs share it. For a file `name`:
 * - bytes go to a private `.name.<random>.dlaas-part`, created exclusively (`O_EXCL | O_NOFOLLOW`,
 *   mode 0600), written at their offsets (parallel segments);
 * - `.name.dlaas-lock` makes one run the file's only writer: a second run waits until the first
 *   is done (and then finds the verified file and skips it). A lock left by a dead process is
 *   taken over;
 * - `.name.dlaas-state` records the source, expected size and checksums and how far each segment
 *   got: only a partial whose state names exactly the same file is resumed;
 * - only a verified file is renamed to `name` (after `fsync`, by default), atomically. A symbolic
 *   link or non-regular file at the final path, or a directory that resolves outside the sink,
 *   is refused with an {@link InvalidArgumentError}; its target is never touched.
 *
 * Names ending in `.dlaas-part`, `.dlaas-state` or `.dlaas-lock` are reserved and refused.
 *
 * @example
 * ```ts
 * import { fileSink } from 'dlaas/node';
 * const result = await lake.staging.stage(['lofar:L123456'], { mode: 'download', sink: fileSink('./data') });
 * ```
 */
export function fileSink(directory: string, options: FileSinkOptions = {}): DownloadSink {
  const root = resolve(directory);
  const durable = options.fsync ?? true;
  const staleAfter = options.staleLockAfter ?? 120_000;
  const poll = options.lockPollInterval ?? 250;

  /** Directories this sink created and checked (a dataset's files share a few directories). */
  const checked = new Set<string>();
  /** The directory of `relPath`, created, and proven to be inside the sink after symlinks are resolved. */
  const directoryOf = async (path: string): Promise<string> => {
    const dir = dirname(path);
    if (checked.has(dir)) {
      // Still the directory that was checked (not replaced by a symlink since).
      const st = await lstat(dir).catch(() => undefined);
      if (st?.isDirectory()) return dir;
      checked.delete(dir);
    }
    await mkdir(dir, { recursive: true });
    const [realRoot, realDir] = await Promise.all([realpath(root), realpath(dir)]);
    if (realDir !== realRoot && !realDir.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep)) refuse(dir, `a directory that resolves outside ${root} (${realDir})`);
    checked.add(dir);
    return dir;
  };

  return {
    async existing(relPath) {
      const path = inside(root, relPath);
      const st = await regularFile(path);
      return st === undefined ? undefined : { location: { kind: 'path', path }, read: () => webStream(path), bytes: st.size };
    },

    async open(relPath, { expected, signal }): Promise<SinkFile> {
      const name = checkedName(relPath);
      const path = inside(root, relPath);
      const dir = await directoryOf(path);
      await regularFile(path);
      const unlock = await acquireLock(join(dir, bookkeeping.lock(name)), { staleAfter, poll, signal, refuse });
      try {
        return await openLocked(dir, name, path, expected, unlock, durable);
      } catch (e) {
        await unlock();
        throw e;
      }
    },
  };
}

async function readState(statePath: string): Promise<StateRecord | undefined> {
  let h: FileHandle | undefined;
  try {
    h = await open(statePath, constants.O_RDONLY | O_NOFOLLOW);
    const st = await h.stat();
    if (!st.isFile() || (effectiveUid() !== undefined && st.uid !== effectiveUid()) || st.size > 1 << 20) return undefined;
    return JSON.parse(await h.readFile('utf8')) as StateRecord;
  } catch {
    return undefined;
  } finally {
    await h?.close().catch(() => {});
  }
}

/** Open the partial slot of a file whose lock is held. */
async function openLocked(dir: string, name: string, path: string, expected: ExpectedFile, unlock: () => Promise<void>, durable: boolean): Promise<SinkFile> {
  const statePath = join(dir, bookkeeping.state(name));
  const record = await readState(statePath);
  let resume = record ? provenState(record, expected) : undefined;
  let handle: FileHandle | undefined;
  let part = '';
  // Resume only a partial the state names, that is ours, a regular file, and holds the bytes it claims.
  if (resume && record && basename(record.part) === record.part && record.part.endsWith('.dlaas-part') && record.part.startsWith(`.${name}.`)) {
    part = join(dir, record.part);
    try {
      handle = await open(part, O_RDWR | O_NOFOLLOW);
      const st = await handle.stat();
      const needed = Math.max(...resume.segments.map((s) => s.start + s.done));
      if (!st.isFile() || (effectiveUid() !== undefined && st.uid !== effectiveUid()) || st.size < needed) throw new Error('not resumable');
    } catch {
      await handle?.close().catch(() => {});
      handle = undefined;
    }
  }
  if (!handle) {
    resume = undefined;
    if (record?.part && basename(record.part) === record.part && record.part.endsWith('.dlaas-part')) await unlink(join(dir, record.part)).catch(() => {});
    await unlink(statePath).catch(() => {});
    part = join(dir, bookkeeping.part(name));
    handle = await open(part, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  }
  const h = handle;
  let open_ = true;
  /** A state file exists (an earlier run's, or one this run wrote) and must go with the partial. */
  let stateOnDisk = resume !== undefined;
  const check = () => {
    if (!open_) throw new DlaasError(`${path}: the partial file is already closed`, {}, ErrorCode.stream);
  };
  const saveState = async (state: PartialState) => {
    const tmp = `${statePath}.${crypto.randomUUID()}`;
    const w = await open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      await w.writeFile(JSON.stringify({ v: 1, expected, part: basename(part), segments: state.segments } satisfies StateRecord));
    } finally {
      await w.close();
    }
    await rename(tmp, statePath);
    stateOnDisk = true;
  };
  const release = async (keep: PartialState | undefined) => {
    if (!open_) return;
    open_ = false;
    try {
      await h.close().catch(() => {});
      if (keep) await saveState(keep);
      else {
        await unlink(part).catch(() => {});
        if (stateOnDisk) await unlink(statePath).catch(() => {});
      }
    } finally {
      await unlock();
    }
  };
  return {
    resume,
    positional: true,
    async *readRange(start, end) {
      check();
      const buf = new Uint8Array(Math.min(4 << 20, Math.max(1, end - start)));
      for (let at = start; at < end; ) {
        const { bytesRead } = await h.read(buf, 0, Math.min(buf.byteLength, end - at), at);
        if (bytesRead === 0) throw new DlaasError(`${path}: the partial file is shorter than its state says`, {}, ErrorCode.stream);
        yield buf.subarray(0, bytesRead);
        at += bytesRead;
      }
    },
    async write(chunk, position) {
      check();
      let off = 0;
      while (off < chunk.byteLength) {
        const { bytesWritten } = await h.write(chunk, off, chunk.byteLength - off, position + off);
        off += bytesWritten;
      }
    },
    async writev(chunks, position) {
      check();
      let list = chunks;
      let at = position;
      while (list.length) {
        const { bytesWritten } = await h.writev(list as Uint8Array[], at);
        at += bytesWritten;
        // A short write (rare on regular files): continue with what is left.
        let skip = bytesWritten;
        const rest: Uint8Array[] = [];
        for (const c of list) {
          if (skip >= c.byteLength) skip -= c.byteLength;
          else {
            rest.push(skip ? c.subarray(skip) : c);
            skip = 0;
          }
        }
        list = rest;
      }
    },
    async reset() {
      check();
      await h.truncate(0);
    },
    async checkpoint(state) {
      if (open_) await saveState(state);
    },
    async commit() {
      check();
      open_ = false;
      try {
        if (durable) await h.sync();
        await h.close();
        await regularFile(path);
        await rename(part, path);
        if (stateOnDisk) await unlink(statePath).catch(() => {});
        if (durable) {
          const d = await open(dir, constants.O_RDONLY);
          await d.sync().catch(() => {});
          await d.close();
        }
        return { kind: 'path', path };
      } finally {
        await unlock();
      }
    },
    close: (o) => release(o?.keep),
  };
}

/** Size of a local file, or `undefined` when it does not exist (replica mode's `verifyLocal`). */
export async function statFile(path: string): Promise<{ size: number } | undefined> {
  try {
    // A FUSE mount may present files through symbolic links: follow them here.
    const s = await stat(path);
    return s.isFile() ? { size: s.size } : undefined;
  } catch {
    return undefined;
  }
}

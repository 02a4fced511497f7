/**
 * Filesystem download sink for Node, Deno and Bun.
 * @module
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { InvalidArgumentError } from '../core/errors.js';
import type { DownloadSink, SinkFile } from '../staging/sinks.js';

function inside(root: string, relPath: string): string {
  const full = resolve(root, relPath);
  if (full !== root && !full.startsWith(root.endsWith(sep) ? root : root + sep)) {
    throw new InvalidArgumentError('relPath', `${JSON.stringify(relPath)} would be written outside ${root}`);
  }
  return full;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

const webStream = (path: string) => Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;

/**
 * Downloads into a directory. Bytes go to `<name>.part` (kept across runs, so an interrupted
 * transfer resumes); only a verified file is renamed to its final name, atomically. A partial or
 * corrupt download never appears at the final path.
 *
 * @example
 * ```ts
 * import { fileSink } from 'dlaas/node';
 * const result = await lake.staging.stage(['lofar:L123456'], { mode: 'download', sink: fileSink('./data') });
 * ```
 */
export function fileSink(directory: string): DownloadSink {
  const root = resolve(directory);
  return {
    async existing(relPath) {
      const path = inside(root, relPath);
      const bytes = await sizeOf(path);
      return bytes === undefined ? undefined : { location: { kind: 'path', path }, read: () => webStream(path), bytes };
    },
    async open(relPath): Promise<SinkFile> {
      const path = inside(root, relPath);
      const part = `${path}.part`;
      await mkdir(dirname(path), { recursive: true });
      const resumable = (await sizeOf(part)) ?? 0;
      let handle: FileHandle | undefined = await open(part, 'a', 0o644);
      const h = () => {
        if (!handle) throw new InvalidArgumentError('sink', `${relPath}: file already closed`);
        return handle;
      };
      return {
        resumableBytes: resumable,
        readPartial: () => webStream(part),
        async write(chunk) {
          await h().write(chunk);
        },
        async reset() {
          await truncate(part, 0);
        },
        async commit() {
          await h().sync();
          await h().close();
          handle = undefined;
          await rename(part, path);
          return { kind: 'path', path };
        },
        async close(o) {
          await handle?.close().catch(() => {});
          handle = undefined;
          if (!o?.keepPartial) await unlink(part).catch(() => {});
        },
      };
    },
  };
}

/** Size of a local file, or `undefined` when it does not exist (replica mode's `verifyLocal`). */
export async function statFile(path: string): Promise<{ size: number } | undefined> {
  const size = await sizeOf(path);
  return size === undefined ? undefined : { size };
}

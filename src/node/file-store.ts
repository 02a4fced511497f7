/**
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TokenStoreError } from '../auth/errors.js';
import { guardedStore, type TokenStore } from '../auth/store.js';
import { acquireLock } from './lock-file.js';
import { FileCheckError, readTrusted } from './trusted-file.js';

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } = constants;
/** A lock whose holder on another host stopped its heartbeat this long ago is taken over (same host: as soon as its process is gone). */
const STALE_LOCK_MS = 30_000;
const LOCK_POLL_MS = 25;

/**
 * A token store in a JSON file readable by its owner only, safe to share between processes:
 *
 * - written atomically (a temporary file created with `O_EXCL | O_NOFOLLOW`, mode 0600, flushed,
 *   then renamed over the store) in a directory created with mode 0700;
 * - each change (read, modify, write) is made under `<path>.lock`, so processes writing different
 *   keys do not lose each other's updates;
 * - `lock(key)` is a cross-process lock (`<path>.<hash of key>.lock`, taken over when its holder
 *   died): an OIDC session holds it while it refreshes, so processes sharing one stored session do
 *   not spend the same rotating refresh token twice;
 * - a store file that is a symbolic link, is owned by another user, or is readable or writable by
 *   group or others is refused with a {@link TokenStoreError} saying what to do (`chmod 600`): it
 *   holds refresh tokens.
 *
 * Use it for CLIs that should stay logged in.
 *
 * @example
 * ```ts
 * import { fileStore } from 'dlaas/node';
 * const iam = new OidcClient({ issuer, clientId: 'dlaas-cli', store: fileStore(`${os.homedir()}/.config/dlaas/tokens.json`) });
 * const session = (await iam.restoreSession()) ?? (await iam.deviceLogin({ onPrompt }));
 * ```
 */
export function fileStore(path: string): TokenStore {
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  };
  const refuse = (at: string, what: string): never => {
    throw new TokenStoreError('lock', `Token store lock ${at} is ${what}: remove it`);
  };
  const locked = async (lockPath: string, signal?: AbortSignal): Promise<() => Promise<void>> => {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    return acquireLock(lockPath, { staleAfter: STALE_LOCK_MS, poll: LOCK_POLL_MS, signal, refuse });
  };
  const readAll = async (op: 'get' | 'set' | 'delete'): Promise<Record<string, string>> => {
    let text: string;
    try {
      const read = await readTrusted(path, { noFollow: true, maxBytes: 16 << 20 });
      if (!read) return {};
      text = read.text;
    } catch (error) {
      if (error instanceof FileCheckError) throw new TokenStoreError(op, `Token store ${path} ${error.message}`, { cause: error.cause });
      throw error;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new TokenStoreError(op, `${path} is not a dlaas token store (not JSON)`);
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new TokenStoreError(op, `${path} is not a dlaas token store`);
    return doc as Record<string, string>;
  };
  const writeAll = async (data: Record<string, string>): Promise<void> => {
    if (Object.keys(data).length === 0) {
      await unlink(path).catch((error: { code?: string }) => {
        if (error.code !== 'ENOENT') throw error;
      });
      return;
    }
    const tmp = `${path}.${randomUUID()}.tmp`;
    try {
      const h = await open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      try {
        await h.chmod(0o600); // whatever the umask
        await h.writeFile(JSON.stringify(data));
        await h.sync();
      } finally {
        await h.close();
      }
      await rename(tmp, path);
    } catch (error) {
      await unlink(tmp).catch(() => {});
      throw error;
    }
  };
  const change = (op: 'set' | 'delete', edit: (data: Record<string, string>) => boolean) =>
    serial(async () => {
      const release = await locked(`${path}.lock`);
      try {
        const data = await readAll(op);
        if (edit(data)) await writeAll(data);
      } finally {
        await release();
      }
    });
  return guardedStore(`file store ${path}`, {
    get: (key) => serial(async () => (await readAll('get'))[key]),
    set: (key, value) =>
      change('set', (data) => {
        data[key] = value;
        return true;
      }),
    delete: (key) => change('delete', (data) => key in data && delete data[key]),
    lock: (key, options) => locked(`${path}.${createHash('sha256').update(key).digest('hex').slice(0, 16)}.lock`, options?.signal),
  });
}

/**
 * @module
 */
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TokenStoreError } from '../auth/errors.js';
import { guardedStore, type TokenStore } from '../auth/store.js';

/**
 * A token store in a JSON file readable by its owner only: written atomically (temporary file +
 * rename) with mode 0600, in a directory created with mode 0700. Writes within the process are
 * serialised. Use it for CLIs that should stay logged in (it holds refresh tokens).
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
  const readAll = async (): Promise<Record<string, string>> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as { code?: string }).code === 'ENOENT') return {};
      throw error;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new TokenStoreError('get', `${path} is not a dlaas token store (not JSON)`);
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new TokenStoreError('get', `${path} is not a dlaas token store`);
    return doc as Record<string, string>;
  };
  const writeAll = async (data: Record<string, string>): Promise<void> => {
    if (Object.keys(data).length === 0) {
      await unlink(path).catch((error: { code?: string }) => {
        if (error.code !== 'ENOENT') throw error;
      });
      return;
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${randomUUID()}.tmp`;
    try {
      await writeFile(tmp, JSON.stringify(data), { mode: 0o600, flag: 'wx' });
      await chmod(tmp, 0o600);
      await rename(tmp, path);
    } catch (error) {
      await unlink(tmp).catch(() => {});
      throw error;
    }
  };
  return guardedStore(`file store ${path}`, {
    get: (key) => serial(async () => (await readAll())[key]),
    set: (key, value) =>
      serial(async () => {
        const data = await readAll();
        data[key] = value;
        await writeAll(data);
      }),
    delete: (key) =>
      serial(async () => {
        const data = await readAll();
        if (!(key in data)) return;
        delete data[key];
        await writeAll(data);
      }),
  });
}

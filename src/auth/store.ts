/**
 * Where OIDC sessions (and pending logins) are kept: an injected async key-value store. Memory by
 * default, so nothing — in particular no refresh token — is written anywhere the caller did not
 * choose. Adapters: `localStorage`/`sessionStorage`, `chrome.storage` (extensions), and a 0600 file
 * store in `dlaas/node`.
 * @module
 */
import { AbortError } from '../core/errors.js';
import { TokenStoreError } from './errors.js';

/**
 * An async string key-value store.
 *
 * @example
 * ```ts
 * const store: TokenStore = {
 *   get: async (k) => myDb.read(k),
 *   set: async (k, v) => myDb.write(k, v),
 *   delete: async (k) => myDb.remove(k),
 * };
 * ```
 */
export interface TokenStore {
  /** The value stored under `key`, or `undefined`. */
  get(key: string): Promise<string | undefined>;
  /** Store `value` under `key`, replacing any previous value. */
  set(key: string, value: string): Promise<void>;
  /** Remove `key` (no error when it is absent). */
  delete(key: string): Promise<void>;
  /**
   * Optional: hold an exclusive lock on `key`, across every process sharing the store, until the
   * returned function is called. An OIDC session holds it while it refreshes, re-reads the stored
   * session under it, and so never spends a refresh token another process already rotated. Stores
   * private to one process need not implement it (`fileStore` in `dlaas/node` does).
   */
  lock?(key: string, options?: { signal?: AbortSignal | undefined }): Promise<() => Promise<void>>;
}

/**
 * An in-memory store (the default): gone with the process or page.
 *
 * @example
 * ```ts
 * const client = new OidcClient({ issuer, clientId, store: memoryStore() });
 * ```
 */
export function memoryStore(): TokenStore {
  const map = new Map<string, string>();
  return {
    get: async (k) => map.get(k),
    set: async (k, v) => void map.set(k, v),
    delete: async (k) => void map.delete(k),
  };
}

/**
 * The part of the Web Storage API the adapter uses.
 *
 * @example
 * ```ts
 * const store = webStorageStore(sessionStorage satisfies WebStorageLike);
 * ```
 */
export interface WebStorageLike {
  /** `Storage.getItem`: the value, or `null`. */
  getItem(key: string): string | null;
  /** `Storage.setItem` (may throw when the quota is exceeded). */
  setItem(key: string, value: string): void;
  /** `Storage.removeItem`. */
  removeItem(key: string): void;
}

/**
 * @internal Wrap each operation of a store so that failures become {@link TokenStoreError}s without
 * values (a `TokenStoreError` or `AbortError` thrown by the operation passes through unchanged).
 */
export function guardedStore(name: string, ops: TokenStore): TokenStore {
  const wrap =
    <A extends unknown[], R>(op: 'get' | 'set' | 'delete' | 'lock', fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      try {
        return await fn(...a);
      } catch (cause) {
        if (cause instanceof TokenStoreError || cause instanceof AbortError) throw cause;
        throw new TokenStoreError(op, `${name}: ${op} failed`, { cause });
      }
    };
  const store: TokenStore = { get: wrap('get', ops.get), set: wrap('set', ops.set), delete: wrap('delete', ops.delete) };
  if (ops.lock) store.lock = wrap('lock', ops.lock);
  return store;
}

function globalMember<T>(name: string, what: string): T {
  const v = (globalThis as Record<string, unknown>)[name];
  if (v === undefined || v === null) throw new TokenStoreError('get', `${what} is not available in this runtime; pass the storage object explicitly`);
  return v as T;
}

/**
 * A store over Web Storage. Pass the storage object, or `'local'` / `'session'` to use the
 * runtime's `localStorage` / `sessionStorage`. `sessionStorage` is the right place for a browser
 * redirect login (it survives the round trip, not the tab).
 *
 * @example
 * ```ts
 * const client = new OidcClient({ issuer, clientId: 'esap-gui', store: webStorageStore('session') });
 * ```
 */
export function webStorageStore(storage: WebStorageLike | 'local' | 'session'): TokenStore {
  const name = storage === 'local' ? 'localStorage' : storage === 'session' ? 'sessionStorage' : 'web storage';
  const s = typeof storage === 'string' ? globalMember<WebStorageLike>(name, name) : storage;
  return guardedStore(name, {
    get: async (k) => s.getItem(k) ?? undefined,
    set: async (k, v) => s.setItem(k, v),
    delete: async (k) => s.removeItem(k),
  });
}

/**
 * The part of a `chrome.storage` area the adapter uses (MV3 promise API).
 *
 * @example
 * ```ts
 * const store = chromeStorageStore(chrome.storage.local satisfies ChromeStorageAreaLike);
 * ```
 */
export interface ChromeStorageAreaLike {
  /** `StorageArea.get(key)`: an object holding the key when it is set. */
  get(keys: string): Promise<Record<string, unknown>>;
  /** `StorageArea.set(items)`. */
  set(items: Record<string, unknown>): Promise<void>;
  /** `StorageArea.remove(key)`. */
  remove(keys: string): Promise<void>;
}

/**
 * A store over `chrome.storage` for browser extensions (works in MV3 service workers). Pass an
 * area, or `'session'` (default: in memory, cleared when the browser closes) / `'local'`.
 *
 * @example
 * ```ts
 * const client = new OidcClient({ issuer, clientId: 'dlaas-ext', store: chromeStorageStore('local') });
 * ```
 */
export function chromeStorageStore(area: ChromeStorageAreaLike | 'local' | 'session' = 'session'): TokenStore {
  const label = typeof area === 'string' ? `chrome.storage.${area}` : 'chrome.storage';
  const resolve = (): ChromeStorageAreaLike => {
    if (typeof area !== 'string') return area;
    const storage = (globalMember<{ storage?: Record<string, ChromeStorageAreaLike | undefined> }>('chrome', 'chrome.storage')).storage?.[area];
    if (!storage) throw new TokenStoreError('get', `${label} is not available (add the "storage" permission)`);
    return storage;
  };
  return guardedStore(label, {
    get: async (k) => {
      const v = (await resolve().get(k))[k];
      return typeof v === 'string' ? v : undefined;
    },
    set: async (k, v) => resolve().set({ [k]: v }),
    delete: async (k) => resolve().remove(k),
  });
}

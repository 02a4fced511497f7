/**
 * Deterministic LFN → PFN translation, computed client-side as Rucio's `rsemanager` does.
 *
 * @module
 */
import type { Did } from '../core/did.js';
import { md5Hex } from './md5.js';

/** A protocol entry of an RSE (as in `GET /rses/{rse}` → `protocols[]`). */
export interface PfnProtocol {
  scheme: string;
  hostname: string;
  port: number | null;
  prefix: string | null;
}

function scopeDir(scope: string): string {
  return scope.startsWith('user') || scope.startsWith('group') ? scope.replace(/\./g, '/') : scope;
}

/**
 * Rucio's default `hash` algorithm: `md5("scope:name")` of the original scope; `user.*` and
 * `group.*` scopes have their dots turned into slashes; path = `scope/h[0:2]/h[2:4]/name`.
 *
 * @example
 * ```ts
 * await lfn2pathHash({ scope: 'test', name: 'file1' }); // 'test/80/25/file1'
 * ```
 */
export async function lfn2pathHash(d: Did): Promise<string> {
  const h = md5Hex(`${d.scope}:${d.name}`);
  return `${scopeDir(d.scope)}/${h.slice(0, 2)}/${h.slice(2, 4)}/${d.name}`;
}

/** Rucio's `identity` algorithm: `scope/name` (with the same user/group rule). */
export function lfn2pathIdentity(d: Did): string {
  return `${scopeDir(d.scope)}/${d.name}`;
}

/**
 * Join protocol and path into a PFN: `scheme://host:port` + prefix (made to start and end with `/`)
 * + path. The `file` scheme has no port, as in Rucio's posix protocol.
 */
export function buildPfn(protocol: PfnProtocol, path: string): string {
  let prefix = protocol.prefix ?? '';
  if (!prefix.startsWith('/')) prefix = `/${prefix}`;
  if (!prefix.endsWith('/')) prefix = `${prefix}/`;
  const authority = protocol.scheme === 'file' || protocol.port === null || protocol.port === 0 ? protocol.hostname : `${protocol.hostname}:${protocol.port}`;
  return `${protocol.scheme}://${authority}${prefix}${path.replace(/^\/+/, '')}`;
}

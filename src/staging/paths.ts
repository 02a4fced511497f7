/**
 * Local paths for staged files.
 *
 * @module
 */
import type { Did } from '../core/did.js';
import { InvalidArgumentError } from '../core/errors.js';

/**
 * Map a PFN on a POSIX/FUSE-mounted RSE to a local path, exactly as the Rucio JupyterLab extension
 * does (`translate_pfn_to_path`): take the URL path, strip leading and trailing `/`, drop the first
 * `pathBeginsAt` segments (percent-encoding is kept, as Python's `urlparse` keeps it; Python `split('/', n)[-1]`: when there are fewer segments, the last one
 * is kept), and join it under `rseMountPath`.
 *
 * A result that would leave the mount (`..` segments, or an absolute remainder that Python's
 * `os.path.join` would let replace the mount) is refused with a typed error instead.
 *
 * @example
 * ```ts
 * pfnToLocalPath('root://xrd1:1094//rucio/test/49/ad/f1.txt', '/eos/rucio', 1); // '/eos/rucio/test/49/ad/f1.txt'
 * ```
 * @throws {@link InvalidArgumentError} for an unparseable PFN, a bad `pathBeginsAt`, or an escaping path.
 */
export function pfnToLocalPath(pfn: string, rseMountPath: string, pathBeginsAt = 0): string {
  if (!Number.isInteger(pathBeginsAt) || pathBeginsAt < 0) throw new InvalidArgumentError('pathBeginsAt', `pathBeginsAt must be a non-negative integer, got ${String(pathBeginsAt)}`);
  if (typeof rseMountPath !== 'string' || rseMountPath === '') throw new InvalidArgumentError('rseMountPath', 'rseMountPath must be a non-empty path');
  let urlPath: string;
  try {
    urlPath = new URL(pfn).pathname;
  } catch {
    throw new InvalidArgumentError('pfn', `not a URL: ${JSON.stringify(String(pfn).slice(0, 80))}`);
  }
  const stripped = urlPath.replace(/^\/+|\/+$/g, '');
  // Python: s.split('/', n) makes at most n splits; [-1] is the remainder after the n-th '/'.
  const parts = stripped.split('/');
  const rest = parts.length > pathBeginsAt ? parts.slice(pathBeginsAt).join('/') : (parts[parts.length - 1] ?? '');
  if (rest.startsWith('/') || rest.split('/').some((seg) => seg === '..')) {
    throw new InvalidArgumentError('pfn', `PFN ${JSON.stringify(pfn)} maps outside the mount ${rseMountPath}`);
  }
  return joinPath(rseMountPath, rest);
}

/** Join path parts with single `/` separators (POSIX). */
export function joinPath(base: string, rest: string): string {
  if (rest === '') return base;
  return `${base.replace(/\/+$/, '')}/${rest.replace(/^\/+/, '')}`;
}

/**
 * The relative path a downloaded DID gets under the destination directory: `<scope>/<name>`, as
 * Rucio's download client does. Names may contain `/` (sub-directories); `.`/`..` segments and empty
 * segments are refused so nothing is written outside the destination.
 */
export function downloadRelativePath(did: Did, layout: 'scope' | 'flat' = 'scope'): string {
  const segments = did.name.split('/').filter((s) => s !== '');
  if (segments.length === 0 || segments.some((s) => s === '.' || s === '..')) throw new InvalidArgumentError('did', `DID name ${JSON.stringify(did.name)} cannot be used as a local path`);
  return layout === 'flat' ? segments.join('/') : `${did.scope}/${segments.join('/')}`;
}

/**
 * Local paths for staged files.
 *
 * @module
 */
import type { Did } from '../core/did.js';
import { InvalidArgumentError } from '../core/errors.js';

/** Schemes whose last path segment Python's `urlparse` splits `;params` from (`urllib.parse.uses_params`). */
const USES_PARAMS = new Set(['', 'ftp', 'hdl', 'prospero', 'http', 'imap', 'https', 'shttp', 'rtsp', 'rtsps', 'rtspu', 'sip', 'sips', 'mms', 'sftp', 'tel']);

/**
 * The path of a URL exactly as Python's `urllib.parse.urlparse(url).path`: not percent-decoded, dot
 * segments kept, `;params` of the last segment cut off only for the schemes that have them. (The
 * WHATWG `URL` differs: it percent-encodes spaces and non-ASCII characters and resolves `..`.)
 * Returns `undefined` when the PFN has no `scheme:` part.
 *
 * @example
 * ```ts
 * pythonUrlPath('root://xrd1:1094//rucio/a b/f;1'); // '//rucio/a b/f;1'
 * pythonUrlPath('https://h/a%20b/f;v=1?q=2');      // '/a%20b/f'
 * ```
 */
export function pythonUrlPath(url: string): string | undefined {
  // urlsplit: strip leading C0 controls and spaces, drop tabs and newlines everywhere.
  let start = 0;
  while (start < url.length && url.charCodeAt(start) <= 0x20) start++;
  const clean = url.slice(start).replace(/[\t\r\n]/g, '');
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(clean);
  if (!m) return undefined;
  const scheme = (m[1] as string).toLowerCase();
  let rest = m[2] as string;
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/);
    rest = end < 0 ? '' : rest.slice(2 + end);
  }
  rest = rest.replace(/[#?].*$/s, '');
  if (USES_PARAMS.has(scheme)) {
    const semi = rest.indexOf(';', Math.max(0, rest.lastIndexOf('/')));
    if (semi >= 0) rest = rest.slice(0, semi);
  }
  return rest;
}

/**
 * Map a PFN on a POSIX/FUSE-mounted RSE to a local path, exactly as the Rucio JupyterLab extension
 * does (`translate_pfn_to_path`): `os.path.join(rse_mount_path, urlparse(pfn).path.strip('/').split('/',
 * path_begins_at)[-1])`. The URL path is taken as Python takes it (`pythonUrlPath`: no
 * percent-decoding); Python's `split('/', n)[-1]` is the remainder after the n-th `/`, or the last
 * segment when there are fewer.
 *
 * A result that would leave the mount (`..` segments, or an absolute remainder that Python's
 * `os.path.join` would let replace the mount) is refused with a typed error instead.
 *
 * @example
 * ```ts
 * pfnToLocalPath('root://xrd1:1094//rucio/test/49/ad/f1.txt', '/eos/rucio', 1); // '/eos/rucio/test/49/ad/f1.txt'
 * ```
 * @throws {@link InvalidArgumentError} for a PFN without a scheme, a bad `pathBeginsAt`, or an escaping path.
 */
export function pfnToLocalPath(pfn: string, rseMountPath: string, pathBeginsAt = 0): string {
  if (!Number.isInteger(pathBeginsAt) || pathBeginsAt < 0) throw new InvalidArgumentError('pathBeginsAt', `pathBeginsAt must be a non-negative integer, got ${String(pathBeginsAt)}`);
  if (typeof rseMountPath !== 'string' || rseMountPath === '') throw new InvalidArgumentError('rseMountPath', 'rseMountPath must be a non-empty path');
  const urlPath = typeof pfn === 'string' ? pythonUrlPath(pfn) : undefined;
  if (urlPath === undefined) throw new InvalidArgumentError('pfn', `not a URL: ${JSON.stringify(String(pfn).slice(0, 80))}`);
  const stripped = urlPath.replace(/^\/+|\/+$/g, '');
  // Python: s.split('/', n) makes at most n splits; [-1] is the remainder after the n-th '/'.
  const parts = stripped.split('/');
  const rest = parts.length > pathBeginsAt ? parts.slice(pathBeginsAt).join('/') : (parts[parts.length - 1] ?? '');
  if (rest.startsWith('/') || rest.split('/').some((seg) => seg === '..')) {
    throw new InvalidArgumentError('pfn', `PFN ${JSON.stringify(pfn)} maps outside the mount ${rseMountPath}`);
  }
  return joinPath(rseMountPath, rest);
}

/**
 * Join two POSIX paths as Python's `os.path.join(base, rest)` does: `rest` as is when it is absolute,
 * else `base` + `/` (unless `base` is empty or already ends with `/`) + `rest`.
 *
 * @example
 * ```ts
 * joinPath('/eos/rucio', 'test/f1.txt'); // '/eos/rucio/test/f1.txt'
 * joinPath('/mnt/site_b/', 'x');          // '/mnt/site_b/x'
 * ```
 */
export function joinPath(base: string, rest: string): string {
  if (rest.startsWith('/')) return rest;
  return base === '' || base.endsWith('/') ? `${base}${rest}` : `${base}/${rest}`;
}

/**
 * The relative path a downloaded DID gets under the destination directory: `<scope>/<name>`, as
 * Rucio's download client does. Names may contain `/` (sub-directories); `.`/`..` segments and empty
 * segments are refused so nothing is written outside the destination.
 *
 * @example
 * ```ts
 * downloadRelativePath({ scope: 'lofar', name: 'L1/SB000.MS' }); // 'lofar/L1/SB000.MS'
 * downloadRelativePath({ scope: 'lofar', name: 'L1/SB000.MS' }, 'flat'); // 'L1/SB000.MS'
 * ```
 */
export function downloadRelativePath(did: Did, layout: 'scope' | 'flat' = 'scope'): string {
  const segments = did.name.split('/').filter((s) => s !== '');
  if (segments.length === 0 || segments.some((s) => s === '.' || s === '..')) throw new InvalidArgumentError('did', `DID name ${JSON.stringify(did.name)} cannot be used as a local path`);
  // Rucio's scope pattern allows "." and "..": as a directory they would leave the destination.
  if (layout !== 'flat' && (did.scope === '.' || did.scope === '..')) throw new InvalidArgumentError('did', `DID scope ${JSON.stringify(did.scope)} cannot be used as a local directory`);
  return layout === 'flat' ? segments.join('/') : `${did.scope}/${segments.join('/')}`;
}

/**
 * @internal Reading files that hold or steer credentials (token files, the token store, the Jupyter
 * config) only when they can be trusted: a regular file owned by the user (or root), with no more
 * permission bits for group and others than the caller tolerates. The checks are made on the opened
 * file (`fstat`), so the file cannot be swapped between check and read. POSIX only: on Windows
 * ownership and mode are not checked; where the runtime may not ask for the user id (Deno without
 * `--allow-sys`), the mode is checked and the owner is not.
 * @module
 */
import { constants, type Stats } from 'node:fs';
import { lstat, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** @internal What a file must satisfy. */
export interface FileTrust {
  /** The user the file must belong to (default: the effective user); root-owned files are accepted too (only root could have put them there). `null`: any owner. */
  uid?: number | null | undefined;
  /** Refuse a symbolic link at the path (default: only in a directory others may write to, such as `/tmp`). */
  noFollow?: boolean | undefined;
  /** Permission bits group and others must not have (default `0o077`: nothing at all, like XRootD's ztn client). */
  deny?: number | undefined;
  /** Refuse larger files (default 1 MiB). */
  maxBytes?: number | undefined;
}

/** @internal Why a file was not read. `detail` never quotes the content; it says what to do. */
export class FileCheckError extends Error {
  /** `insecure`: owner or permissions; `unreadable`: not a regular file, or the read failed; `too-large`. */
  readonly problem: 'insecure' | 'unreadable' | 'too-large';
  constructor(problem: 'insecure' | 'unreadable' | 'too-large', detail: string, options?: { cause?: unknown }) {
    super(detail, options);
    this.name = 'FileCheckError';
    this.problem = problem;
  }
}

const { O_RDONLY, O_NOFOLLOW = 0, O_NONBLOCK = 0 } = constants;

/** @internal The effective user id, or `undefined` where the runtime has none (Windows) or may not tell (Deno without `--allow-sys`). */
export function effectiveUid(): number | undefined {
  try {
    return process.geteuid?.() ?? process.getuid?.();
  } catch {
    return undefined;
  }
}

const posix = () => process.platform !== 'win32';

function chmodHint(deny: number): string {
  if (deny === 0o077) return '600';
  const who = `${deny & 0o070 ? 'g' : ''}${deny & 0o007 ? 'o' : ''}`;
  const what = `${deny & 0o044 ? 'r' : ''}${deny & 0o022 ? 'w' : ''}${deny & 0o011 ? 'x' : ''}`;
  return `${who}-${what}`;
}

/**
 * @internal Throw {@link FileCheckError} `insecure` when `stats` (of `path`) is owned by another
 * user than `trust.uid` (or root), or grants group/others a bit of `trust.deny`.
 */
export function checkTrust(path: string, stats: Stats, trust: FileTrust = {}): void {
  if (!posix()) return; // no POSIX owners or modes (Windows)
  // An unknown user id (a sandbox that may not ask) leaves the owner unchecked; the mode still is.
  const me = trust.uid === null ? null : (trust.uid ?? effectiveUid() ?? null);
  if (me !== null && stats.uid !== me && stats.uid !== 0) {
    throw new FileCheckError('insecure', `is owned by uid ${stats.uid}, not by you (uid ${me}): another user may have planted it, so dlaas refuses to use it. Check it and remove it (rm ${path}), then write your own`);
  }
  const deny = trust.deny ?? 0o077;
  const loose = stats.mode & deny;
  if (loose) {
    const how = [loose & 0o444 ? 'readable' : '', loose & 0o222 ? 'writable' : '', loose & 0o111 ? 'executable' : ''].filter(Boolean).join(' and ');
    const whom = loose & 0o070 ? (loose & 0o007 ? 'group and others' : 'its group') : 'others';
    throw new FileCheckError('insecure', `is ${how} by ${whom} (mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')}), so dlaas refuses to use it: run chmod ${chmodHint(deny)} ${path}`);
  }
}

/**
 * @internal Read a file that must be trusted (see {@link FileTrust}); `undefined` when it does not
 * exist. A directory or a FIFO is `unreadable` (and never opened in a way that could block); a
 * symbolic link where it is not followed is `insecure`.
 */
export async function readTrusted(path: string, trust: FileTrust = {}): Promise<{ text: string; stats: Stats } | undefined> {
  const errno = (error: unknown) => (error as { code?: string }).code;
  // Where others may create files, a symbolic link may be theirs, pointing at any file of the user's.
  const noFollow = trust.noFollow ?? (posix() && ((await stat(dirname(path)).catch(() => undefined))?.mode ?? 0) & 0o002) !== 0;
  let before: Stats;
  try {
    before = await (noFollow ? lstat(path) : stat(path));
  } catch (error) {
    if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return undefined;
    throw new FileCheckError('unreadable', `cannot be read (${errno(error) ?? 'error'})`, { cause: error });
  }
  if (before.isSymbolicLink()) throw new FileCheckError('insecure', `is a symbolic link in a directory others may write to, which dlaas does not follow: check it and remove it (rm ${path}), then write the file itself`);
  if (!before.isFile()) throw new FileCheckError('unreadable', 'is not a regular file');
  checkTrust(path, before, trust);
  let handle;
  try {
    handle = await open(path, O_RDONLY | O_NONBLOCK | (noFollow ? O_NOFOLLOW : 0));
  } catch (error) {
    if (errno(error) === 'ENOENT') return undefined;
    throw new FileCheckError('unreadable', `cannot be read (${errno(error) ?? 'error'})`, { cause: error });
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new FileCheckError('unreadable', 'is not a regular file');
    checkTrust(path, stats, trust);
    const max = trust.maxBytes ?? 1 << 20;
    if (stats.size > max) throw new FileCheckError('too-large', `is too large (${stats.size} bytes)`);
    let text: string;
    try {
      text = await handle.readFile('utf8');
    } catch (error) {
      throw new FileCheckError('unreadable', `cannot be read (${errno(error) ?? 'error'})`, { cause: error });
    }
    return { text, stats };
  } finally {
    await handle.close().catch(() => {});
  }
}

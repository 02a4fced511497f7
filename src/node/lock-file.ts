/**
 * @internal Exclusive lock files shared by every process (and host, on a shared file system) using
 * a directory: the file sink's per-file `.dlaas-lock` and the file token store's locks.
 * @module
 */
import { constants } from 'node:fs';
import { lstat, open, readFile, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { sleep } from '../core/abort.js';
import { raceAbort } from '../staging/http.js';

const { O_CREAT, O_EXCL, O_NOFOLLOW, O_WRONLY } = constants;

/** @internal How to take a lock. */
export interface LockFileOptions {
  /** A lock whose holder shows no sign of life for this long (ms) is taken over. */
  staleAfter: number;
  /** How often a waiting caller looks at a busy lock again (ms). */
  poll: number;
  /** Stops waiting (rejects with the signal's `AbortError`). */
  signal: AbortSignal | undefined;
  /** Throws the caller's error for a path that holds something else than a lock file (a symlink, a directory). */
  refuse: (path: string, what: string) => never;
}

/** Whether the process `pid` lives (on this host); `undefined` when the runtime cannot tell (e.g. Deno without `--allow-run`). */
function alive(pid: number): boolean | undefined {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ESRCH' ? false : code === 'EPERM' ? true : undefined;
  }
}

/** This host's name, or a random stand-in where the runtime does not tell it (e.g. Deno without `--allow-sys`). */
let thisHost: string | undefined;
function hostName(): string {
  if (thisHost === undefined) {
    try {
      thisHost = hostname();
    } catch {
      thisHost = `unknown-${crypto.randomUUID()}`;
    }
  }
  return thisHost;
}

interface LockRecord {
  pid: number;
  host: string;
  token: string;
}


/**
 * @internal An exclusive lock file (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600) naming its holder;
 * resolves to the function that releases it. A lock whose holder is gone (dead pid on this host, or
 * no heartbeat for `staleAfter` from another host) is taken over: it is first renamed to a private
 * name, so two callers breaking it at once cannot both win.
 */
export async function acquireLock(path: string, o: LockFileOptions): Promise<() => Promise<void>> {
  const me: LockRecord = { pid: process.pid, host: hostName(), token: crypto.randomUUID() };
  for (;;) {
    if (o.signal?.aborted) await raceAbort(Promise.resolve(), o.signal);
    try {
      const h = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      await h.writeFile(JSON.stringify(me));
      await h.close();
      // The heartbeat tells runs on other hosts (shared file systems) that the holder lives.
      const beat = setInterval(() => void open(path, O_WRONLY | O_NOFOLLOW).then((x) => x.utimes(new Date(), new Date()).finally(() => x.close())).catch(() => {}), Math.max(1000, o.staleAfter / 4));
      (beat as { unref?: () => void }).unref?.();
      return async () => {
        clearInterval(beat);
        // Only remove the lock if it is still ours.
        const now = await readFile(path, 'utf8').catch(() => '');
        if (now === JSON.stringify(me)) await unlink(path).catch(() => {});
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const st = await lstat(path).catch(() => undefined);
    if (st && (st.isSymbolicLink() || !st.isFile())) o.refuse(path, 'not a lock file dlaas made');
    let holder: LockRecord | undefined;
    try {
      if (st) holder = JSON.parse(await readFile(path, 'utf8')) as LockRecord;
    } catch {
      // Just released, or being written: look again.
    }
    // A holder on this host is judged by its pid; elsewhere (or when the pid cannot be checked) by its heartbeat.
    const lives = holder && holder.host === me.host ? alive(holder.pid) : undefined;
    const stale = lives !== undefined ? !lives : st !== undefined && Date.now() - st.mtimeMs > o.staleAfter;
    if (stale && st) {
      const aside = `${path}.${crypto.randomUUID()}`;
      try {
        await rename(path, aside);
        const taken = await readFile(aside, 'utf8').catch(() => '');
        // We moved someone else's fresh lock: put it back (it cannot have been replaced meanwhile without O_EXCL failing for them).
        if (holder && taken !== JSON.stringify(holder)) await rename(aside, path).catch(() => {});
        else await unlink(aside).catch(() => {});
      } catch {
        // Somebody else took it over first.
      }
      continue;
    }
    await sleep(o.poll, o.signal);
  }
}

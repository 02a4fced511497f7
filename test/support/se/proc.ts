/**
 * Small process helpers for the test setup: run a command and collect its output, look up
 * executables on PATH, check whether a pid is alive, pick free loopback ports.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/** PATH with the sbin directories, where debootstrap, chroot and update-ca-certificates live. */
export const SYSTEM_PATH = [...new Set([...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'])].join(delimiter);

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Throw on a non-zero exit (default true). */
  check?: boolean;
  timeoutMs?: number;
  input?: string;
}

const keep = (s: string, n = 4000) => (s.length > n ? `…${s.slice(-n)}` : s);

/** Run `cmd args…` with stdin closed (or `input`), collecting stdout/stderr. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { check = true, timeoutMs = 15 * 60_000 } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, PATH: SYSTEM_PATH, LC_ALL: 'C', ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout = keep(stdout + d, 200_000)));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = keep(stderr + d, 200_000)));
    if (options.input !== undefined) child.stdin?.end(options.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? 128, stdout, stderr };
      if (check && code !== 0) {
        reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${keep(stderr || stdout)}`));
      } else resolve(result);
    });
  });
}

/** Absolute path of an executable found on {@link SYSTEM_PATH}, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of SYSTEM_PATH.split(delimiter)) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Whether a process with this pid exists and has not exited (any owner). A zombie counts as exited:
 * daemons orphaned to a PID 1 that does not reap (as in some VMs and containers) stay zombies.
 */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX] /s.test(stat);
  } catch {
    return false;
  }
}

/** The command line of a live process, NUL-separated arguments joined by spaces ('' if gone). */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/**
 * A TCP port that is free on every address (xrootd listens on the wildcard, v4 and v6), found by
 * binding port 0 on `::` and releasing it. Ports already handed out by this process are skipped.
 */
const handedOut = new Set<number>();
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen({ port: 0, host: '::', ipv6Only: false }, () => {
        const addr = srv.address();
        const p = typeof addr === 'object' && addr ? addr.port : 0;
        srv.close(() => resolve(p));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

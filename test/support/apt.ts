/**
 * Debian package installs from test setups. Vitest runs test files in parallel processes, and several
 * setups may need apt at the same time on a fresh machine: one machine-wide lock serialises them
 * (apt itself fails at once when another apt holds its lock).
 */
import { execFileSync } from 'node:child_process';

/** The lock every test setup takes around apt. */
export const APT_LOCK = '/var/lock/dlaas-test-apt.lock';

/** The arguments that run `command...` under {@link APT_LOCK} (waiting up to 15 minutes). */
export function underAptLock(command: string, args: readonly string[]): [string, string[]] {
  return ['flock', ['-w', '900', APT_LOCK, command, ...args]];
}

/** `apt-get update` + `apt-get install --no-install-recommends packages` as root, under the lock. Throws with apt's stderr on failure. */
export function aptInstallSync(packages: readonly string[]): void {
  const script = 'apt-get -o DPkg::Lock::Timeout=600 update && apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@"';
  const [cmd, args] = underAptLock('sh', ['-c', script, 'sh', ...packages]);
  try {
    execFileSync(cmd, args, { env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 1_200_000, encoding: 'utf8' });
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`apt-get install ${packages.join(' ')} failed: ${e.stderr?.slice(-2000) || e.message}`);
  }
}

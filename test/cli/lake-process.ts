/**
 * `dlaas lake` as a child process for the tests (the CLI's and the browser examples'): start it with
 * `--json`, read the environment it prints, log in against it as a user does.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { approveDeviceInBrowser } from '../auth/op.ts';
import { root, start, type Finished } from '../examples/helpers.ts';

const bin = join(root, 'dist', 'cli.js');
const running = new Set<LakeProcess>();

export interface LakeInfo {
  env: Record<string, string>;
  issuer: string;
  voUrl: string;
  restored: boolean;
  datasets: string[];
  login: { account: string; esapLogin: string };
}

export interface LakeProcess {
  child: ReturnType<typeof spawn>;
  info: LakeInfo;
  output(): { stdout: string; stderr: string };
  done: Promise<Finished>;
}

/** Start `dlaas lake --json …` and wait for its first line (the environment). */
export async function startLakeProcess(args: string[], cwd: string): Promise<LakeProcess> {
  const child = spawn(process.execPath, [bin, 'lake', '--json', ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => void (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
  const done = new Promise<Finished>((res) => child.on('close', (code) => res({ code, stdout, stderr })));
  const info = await new Promise<LakeInfo>((res, rej) => {
    const check = () => {
      const nl = stdout.indexOf('\n');
      if (nl >= 0) res(JSON.parse(stdout.slice(0, nl)) as LakeInfo);
    };
    child.stdout.on('data', check);
    void done.then((r) => rej(new Error(`dlaas lake exited ${r.code} before it was ready:\n${r.stdout}\n${r.stderr}`)));
  });
  const p: LakeProcess = { child, info, output: () => ({ stdout, stderr }), done };
  running.add(p);
  void done.then(() => running.delete(p));
  return p;
}

/** `dlaas login` against the lake, approved as the user would in a browser. */
export async function login(env: Record<string, string>, cwd: string): Promise<Finished> {
  const l = start([bin, 'login'], { env, cwd });
  const [, complete] = await l.waitFor(/\(or open (\S+)\)/);
  await approveDeviceInBrowser(complete!, 'jdoe');
  return l.done;
}

/** Kill every lake still running (a failed test's). */
export function stopAllLakes(): void {
  for (const l of running) l.child.kill('SIGKILL');
}

/**
 * `dlaas lake` (dist/cli.js, as npm installs it): the local Data Lake as a process of its own.
 * - it starts and prints the environment (NDJSON with --json; `export X=…` lines without);
 * - the CLI round trip against that environment only: login (the device code approved through the
 *   OP's own web pages, as a user does in a browser) → basket → stage → upload → rule;
 * - Ctrl-C (SIGINT): exit 0, the state saved, every port closed, the compute mount removed;
 * - restarted from the saved state, the uploaded dataset is there, bytes included.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../auth/op.ts';
import { requireBuild, root, runNode } from '../examples/helpers.ts';
import { login, startLakeProcess, stopAllLakes } from './lake-process.ts';

const bin = join(root, 'dist', 'cli.js');
let work: string;

beforeAll(() => {
  requireBuild();
  work = mkdtempSync(join(tmpdir(), 'dlaas-lake-'));
});

afterAll(async () => {
  stopAllLakes();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Is something listening at `url`? */
async function listening(url: string): Promise<boolean> {
  try {
    await (await fetch(url)).body?.cancel();
    return true;
  } catch {
    return false;
  }
}

describe('dlaas lake', () => {
  it('rejects bad options (exit 2)', async () => {
    const r = await runNode([bin, 'lake', '--port', 'eighty'], { env: { HOME: work }, cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--port must be a port number/);
    const c = await runNode([bin, 'lake', '--cors-origin', 'http://x/page'], { env: { HOME: work }, cwd: work });
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/--cors-origin must be an origin/);
  });

  it('runs the CLI round trip against its printed environment, stops on Ctrl-C, and restarts from its saved state', async () => {
    const state = join(work, 'state');
    const lake = await startLakeProcess(['--state', state], work);
    const { env: lakeEnv } = lake.info;
    expect(Object.keys(lakeEnv)).toEqual(expect.arrayContaining(['RUCIO_BASE_URL', 'ESAP_URL', 'OIDC_ISSUER', 'OIDC_CLIENT_ID', 'RUCIO_DESTINATION_RSE', 'RUCIO_RSE_MOUNT_PATH']));
    expect(lake.info.restored).toBe(false);
    for (const u of [lakeEnv.RUCIO_BASE_URL!, lakeEnv.OIDC_ISSUER!, lake.info.voUrl]) expect(u).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const home = mkdtempSync(join(work, 'home-'));
    const env = { ...lakeEnv, HOME: home };
    const dlaas = (args: string[], cwd = home) => runNode([bin, ...args], { env, cwd });

    const l = await login(env, home);
    expect(l.code).toBe(0);
    expect(l.stdout).toMatch(/Logged in at http:\/\/127\.0\.0\.1:\d+ as jdoe \(Rucio account jdoe\)/);

    const basket = await dlaas(['basket', 'ls', '--json']);
    expect(basket.code).toBe(0);
    expect(basket.stdout).toContain('lofar:L802012_3C196');

    const staged = await dlaas(['stage', 'lofar:L802012_3C196', '--poll-interval', '50']);
    expect(staged.code).toBe(0);
    expect(staged.stdout).toContain('4/4 files AVAILABLE');
    const paths = [...staged.stdout.matchAll(/(\/\S+\/lofar\/[0-9a-f]{2}\/[0-9a-f]{2}\/L802012_SB00\d_uv\.vis)/g)].map((m) => m[1]!);
    expect(paths).toHaveLength(4);
    for (const p of paths) expect(p.startsWith(lakeEnv.RUCIO_RSE_MOUNT_PATH!) && existsSync(p)).toBe(true);

    writeFileSync(join(home, 'result.txt'), 'a result of the local lake\n');
    const up = await dlaas(['upload', 'result.txt', '--scope', 'user.jdoe', '--rse', 'CERN-EOS', '--dataset', 'lake-results', '--json']);
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({ ok: true, dataset: 'user.jdoe:lake-results' });

    const rule = await dlaas(['rule', 'add', 'user.jdoe:lake-results', '--rse', 'DESY-DCACHE', '--wait', '--poll-interval', '50']);
    expect(rule.code).toBe(0);
    expect(rule.stdout).toMatch(/OK/);

    // Ctrl-C: everything stops, the state is saved, the process exits 0.
    lake.child.kill('SIGINT');
    const end = await lake.done;
    expect(end.code).toBe(0);
    const last = JSON.parse(end.stdout.trim().split('\n').at(-1)!) as { stopped: boolean; saved: string };
    expect(last).toEqual({ stopped: true, saved: join(state, 'lake.json') });
    expect(JSON.parse(readFileSync(last.saved, 'utf8'))).toMatchObject({ format: 'dlaas-lake-state/1' });
    for (const u of [lakeEnv.RUCIO_BASE_URL!, lakeEnv.OIDC_ISSUER!, lake.info.voUrl]) expect(await listening(u)).toBe(false);
    expect(existsSync(lakeEnv.RUCIO_RSE_MOUNT_PATH!)).toBe(false);

    // Restarted from the folder: the uploaded dataset, its rule's replica and its bytes are back.
    const again = await startLakeProcess(['--state', state], work);
    expect(again.info.restored).toBe(true);
    const env2 = { ...again.info.env, HOME: home };
    expect((await login(env2, home)).code).toBe(0); // the OP starts afresh: log in again
    const ls = await runNode([bin, 'ls', 'user.jdoe:*'], { env: env2, cwd: home });
    expect(ls.code).toBe(0);
    expect(ls.stdout.split('\n')).toContain('user.jdoe:lake-results');
    const dest = join(home, 'download');
    const got = await runNode([bin, 'stage', 'user.jdoe:lake-results', '--mode', 'download', '--dest', dest, '--json'], { env: env2, cwd: home });
    expect(got.code).toBe(0);
    const manifest = JSON.parse(got.stdout) as { files: { path: string }[] };
    expect(manifest.files).toHaveLength(1);
    expect(readFileSync(manifest.files[0]!.path, 'utf8')).toBe('a result of the local lake\n');
    const replicas = await runNode([bin, 'replicas', 'user.jdoe:result.txt'], { env: env2, cwd: home });
    expect(replicas.stdout).toMatch(/DESY-DCACHE/);
    again.child.kill('SIGINT');
    expect((await again.done).code).toBe(0);
    expect(await listening(again.info.env.RUCIO_BASE_URL!)).toBe(false);
  }, 180_000);

  it('prints the environment as export lines on the ports asked for, and says how to log in', async () => {
    const [port, oidcPort, voPort] = [await freePort(), await freePort(), await freePort()];
    const child = spawn(process.execPath, [bin, 'lake', '--port', String(port), '--oidc-port', String(oidcPort), '--vo-port', String(voPort)], { cwd: work, env: { PATH: process.env.PATH ?? '', HOME: work }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => void (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => void (err += d.toString()));
    const done = new Promise<number | null>((res) => child.on('close', res));
    await new Promise<void>((res, rej) => {
      child.stdout.on('data', () => out.includes('Ready. Ctrl-C to stop.') && res());
      void done.then((code) => rej(new Error(`dlaas lake exited ${code} before it was ready:\n${out}\n${err}`)));
    });
    expect(out).toMatch(new RegExp(`^export RUCIO_BASE_URL=http://127\\.0\\.0\\.1:${port}$`, 'm'));
    expect(out).toMatch(new RegExp(`^export OIDC_ISSUER=http://127\\.0\\.0\\.1:${oidcPort}$`, 'm'));
    expect(out).toMatch(new RegExp(`^export ESAP_URL=http://127\\.0\\.0\\.1:${port}$`, 'm'));
    expect(out).toContain(`VO archive http://127.0.0.1:${voPort}`);
    expect(out).toMatch(/sign in as jdoe/);
    // Sourced by a shell, the lines give the environment the JSON form gives.
    const exports = out.split('\n').filter((l) => l.startsWith('export '));
    expect(exports.length).toBeGreaterThanOrEqual(8);
    const sh = spawnSync('sh', ['-c', `${exports.join('\n')}\nenv`], { env: {}, encoding: 'utf8' });
    const seen = Object.fromEntries(sh.stdout.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const url = /^export RUCIO_BASE_URL=(\S+)$/m.exec(out)![1]!;
    expect(seen).toMatchObject({ RUCIO_BASE_URL: url, ESAP_URL: url, RUCIO_ACCOUNT: 'jdoe', RUCIO_DESTINATION_RSE: 'CERN-EOS' });
    child.kill('SIGINT');
    expect(await done).toBe(0);
    for (const p of [port, oidcPort, voPort]) expect(await listening(`http://127.0.0.1:${p}`)).toBe(false);
  });
});

/**
 * `dlaas cat` and `dlaas head` (dist/cli.js, as npm installs it) against the embedded local Data
 * Lake: the bytes on stdout are the file's, a range is only that range, a whole `cat` is verified,
 * bad ranges are usage errors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalLake, type LocalLake } from '../../scripts/lib/local-lake.ts';
import { requireBuild, root } from '../examples/helpers.ts';

const bin = join(root, 'dist', 'cli.js');
let lake: LocalLake;
let work: string;
const content = new Uint8Array(3 * 1024 * 1024 + 5).map((_, i) => (i * 31 + (i >> 8)) & 0xff);

beforeAll(async () => {
  requireBuild();
  lake = await startLocalLake({ conveyorMs: 100 });
  work = mkdtempSync(join(tmpdir(), 'dlaas-cli-files-'));
  await lake.emulator.seedDataset({ scope: 'user.jdoe', name: 'cat-files', rse: 'SARA-DCACHE', files: [{ name: 'data.bin', content }] });
});
afterAll(async () => {
  await lake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Run the bin, keeping stdout as bytes. */
function dlaas(args: string[]): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const env = { PATH: process.env.PATH ?? '', ...lake.env({ RUCIO_ACCESS_TOKEN: lake.token }), HOME: work };
  const child = spawn(process.execPath, [bin, ...args], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((r) => child.on('close', (code) => r({ code, stdout: Buffer.concat(out), stderr: err })));
}

describe('dlaas cat / head', () => {
  it('cat writes the whole file, verified; --range A-B only those bytes; head -c N the first N', async () => {
    const whole = await dlaas(['cat', 'user.jdoe:data.bin']);
    expect(whole.code).toBe(0);
    expect(whole.stdout.equals(Buffer.from(content))).toBe(true);
    expect(whole.stderr).toContain(`${content.byteLength} of ${content.byteLength} bytes (verified: size, adler32)`);
    const part = await dlaas(['cat', 'user.jdoe:data.bin', '--range', '1000000-1000099']);
    expect(part.code).toBe(0);
    expect(part.stdout.equals(Buffer.from(content.subarray(1_000_000, 1_000_100)))).toBe(true);
    expect(part.stderr).toContain('100 of');
    expect(part.stderr).toContain('not verified');
    const tail = await dlaas(['cat', 'user.jdoe:data.bin', '--range=-10']);
    expect(tail.stdout.equals(Buffer.from(content.subarray(content.byteLength - 10)))).toBe(true);
    const head = await dlaas(['head', 'user.jdoe:data.bin', '-c', '300']);
    expect(head.code).toBe(0);
    expect(head.stdout.equals(Buffer.from(content.subarray(0, 300)))).toBe(true);
    const bad = await dlaas(['cat', 'user.jdoe:data.bin', '--range', 'x-y']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--range must be A-B');
    const missing = await dlaas(['head', 'user.jdoe:nope.bin']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no available replica of user.jdoe:nope.bin');
  });
});

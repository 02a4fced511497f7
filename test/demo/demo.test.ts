/**
 * `npm run demo` (= build, then `node scripts/demo.ts`): the script is run as npm runs it, after the
 * build, with no Data Lake settings in the environment (the embedded lake), against a lake named by
 * the environment (the "real endpoints" path), and against a dead endpoint (must fail).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalLake } from '../../scripts/lib/local-lake.ts';
import { checkFits, checkPng, requireBuild, root, runNode } from '../examples/helpers.ts';

let work: string;
beforeAll(() => {
  requireBuild();
  work = mkdtempSync(join(tmpdir(), 'dlaas-demo-test-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const demo = join(root, 'scripts', 'demo.ts');

describe('npm run demo', () => {
  it('runs the LOFAR use case end to end against the embedded local Data Lake', async () => {
    const out = join(work, 'embedded');
    const r = await runNode([demo, '--out', out], { env: { HOME: work }, cwd: work });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const o = r.stdout;
    // The lake, on loopback only.
    expect(o).toMatch(/Rucio +http:\/\/127\.0\.0\.1:\d+/);
    expect(o).toMatch(/OpenID Provider +http:\/\/127\.0\.0\.1:\d+/);
    // The device flow, as a user sees it, then approved by the embedded OP.
    expect(o).toMatch(/To sign in, open http:\/\/127\.0\.0\.1:\d+\/device and enter the code +[A-Z]{4}-[A-Z]{4}/);
    expect(o).toMatch(/demo: the embedded OpenID Provider approves [A-Z]{4}-[A-Z]{4} as jdoe/);
    expect(o).toMatch(/✓ jdoe <jdoe@escape\.test> .* token from OIDC device login/);
    // The basket, the rule progressing to OK on the compute RSE, the verified reads.
    expect(o).toMatch(/1 +rucio +lofar:L802012_3C196/);
    const progress = [...o.matchAll(/rule [0-9a-f]{8} [█░]{24} (\d)\/4 files \| (\w+)/g)].map((m) => [Number(m[1]), m[2]]);
    expect(progress[0]).toEqual([0, 'REPLICATING']);
    expect(progress.at(-1)).toEqual([4, 'OK']);
    expect(progress.map(([n]) => n)).toEqual([...progress.map(([n]) => n)].sort());
    expect(o.match(/L802012_SB00\d_uv\.vis .* [0-9a-f]{8} ✓ .* ✓/g)).toHaveLength(4);
    // The image, the upload with its rule, the summary with times.
    expect(o).toMatch(/peak 8\d\.\d Jy\/beam at RA 123\.40\d°, Dec 48\.2\d\d° \(3C196\)/);
    expect(o).toMatch(/rule [0-9a-f]{32} on user\.jdoe:L802012_images → CERN-EOS: OK/);
    for (const step of ['log in', 'basket', 'resolve', 'stage', 'read \\+ verify', 'image', 'upload']) expect(o).toMatch(new RegExp(`\\n  ${step} +.+ +\\d+(\\.\\d)? m?s\\n`));
    expect(o).toContain('✓ Demo complete');
    checkFits(new Uint8Array(readFileSync(join(out, 'L802012_3C196_dirty.fits'))));
    checkPng(new Uint8Array(readFileSync(join(out, 'L802012_3C196_dirty.png'))));
  });

  it('runs the same code against the Data Lake the environment names', async () => {
    const lake = await startLocalLake({ conveyorMs: 100 });
    try {
      const r = await runNode([demo, '--out', join(work, 'env')], { env: { ...lake.env({ RUCIO_ACCESS_TOKEN: lake.token }), HOME: work }, cwd: work });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Against the Data Lake of your environment: Rucio ${lake.url}`);
      expect(r.stdout).not.toContain('Embedded local Data Lake');
      expect(r.stdout).toContain('token from env:RUCIO_ACCESS_TOKEN');
      expect(r.stdout).toContain('✓ Demo complete');
      // It worked on that lake: the image is in jdoe's results dataset there.
      expect([...lake.emulator.rucio.fileReplicas()].some((x) => x.did.name === 'L802012_3C196_dirty.fits' && x.rse === 'CERN-EOS' && x.state === 'AVAILABLE')).toBe(true);
    } finally {
      await lake.close();
    }
  });

  it('exits 1 when a step fails (an unreachable Rucio)', async () => {
    const r = await runNode([demo, '--out', join(work, 'dead')], { env: { HOME: work, RUCIO_BASE_URL: 'http://127.0.0.1:9/', RUCIO_ACCESS_TOKEN: 'not-a-real-token', ESAP_URL: 'http://127.0.0.1:9/' }, cwd: work });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/✗ Demo failed: DLAAS_CONNECTION/);
    expect(r.stdout + r.stderr).not.toContain('not-a-real-token');
  });

  it('rejects unknown options', async () => {
    const r = await runNode([demo, '--bogus'], { env: { HOME: work }, cwd: work });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown option '--bogus'/);
    expect(r.stderr).toContain('usage: npm run demo');
  });
});

/**
 * Every example of examples/ run as a user runs it (`node examples/<name>.ts`, importing the built
 * package) against the embedded local Data Lake, with the environment a notebook hub would give;
 * each test checks what the example did in the lake and on disk.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalLake, type LocalLake } from '../../scripts/lib/local-lake.ts';
import { checkFits, checkPng, requireBuild, root, runNode, start } from './helpers.ts';

let lake: LocalLake;
let work: string;

beforeAll(async () => {
  requireBuild();
  lake = await startLocalLake({ conveyorMs: 100 });
  work = mkdtempSync(join(tmpdir(), 'dlaas-examples-'));
});

afterAll(async () => {
  await lake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const example = (name: string) => join(root, 'examples', name);
/** The hub's environment: a token for audience rucio, replica mode on the mounted compute RSE. */
const hubEnv = (extra: Record<string, string> = {}) => ({ ...lake.env({ RUCIO_ACCESS_TOKEN: lake.token }), HOME: work, ...extra });
const dir = (name: string) => mkdtempSync(join(work, `${name}-`));

describe('lofar-image-roundtrip.ts', () => {
  it('logs in with the device flow, stages the basket to the compute RSE, images it, uploads the image with a rule', async () => {
    const cwd = dir('lofar');
    // A laptop-style environment: no token, an OIDC issuer to log in at.
    const run = start([example('lofar-image-roundtrip.ts')], { env: { ...lake.env(), HOME: work }, cwd });
    const [, code] = await run.waitFor(/enter the code\s+([A-Z]{4}-[A-Z]{4})/);
    await lake.approve(code!);
    const r = await run.done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✓ jdoe <jdoe@escape\.test> .* token from OIDC device login/);
    expect(r.stdout).toMatch(/rule [0-9a-f]{8} .* 4\/4 files \| OK/);
    expect(r.stdout).toContain('4/4 files AVAILABLE');
    expect(r.stdout).toMatch(/L802012_SB003_uv\.vis .* [0-9a-f]{8} ✓ .* ✓/);

    // The image: a valid FITS file whose peak is 3C196 at the phase centre, and a valid PNG.
    const fits = new Uint8Array(readFileSync(join(cwd, 'lofar-results', 'L802012_3C196_dirty.fits')));
    const { header, data } = checkFits(fits);
    expect(header).toMatchObject({ BITPIX: '-32', NAXIS: '2', NAXIS1: '128', NAXIS2: '128', OBJECT: '3C196', CTYPE1: 'RA---SIN', BUNIT: 'JY/BEAM' });
    const peak = data!.indexOf(Math.max(...data!));
    expect([peak % 128, Math.floor(peak / 128)]).toEqual([64, 64]);
    expect(data![peak]).toBeGreaterThan(70);
    expect(data![peak]).toBeLessThan(90);
    const png = new Uint8Array(readFileSync(join(cwd, 'lofar-results', 'L802012_3C196_dirty.png')));
    expect(checkPng(png)).toMatchObject({ width: 128, height: 128 });

    // In the lake: the staging rule on the compute RSE, the results dataset with its rule, the same bytes.
    const rucio = lake.emulator.rucio;
    await lake.emulator.sync(); // uploaded bytes: storage → catalogue
    const replicas = [...rucio.fileReplicas()];
    expect(replicas.filter((x) => x.did.scope === 'lofar' && x.rse === 'CERN-EOS' && x.state === 'AVAILABLE')).toHaveLength(4);
    expect(rucio.bytes('user.jdoe:L802012_3C196_dirty.fits', 'CERN-EOS')).toEqual(fits);
    expect(rucio.bytes('user.jdoe:L802012_3C196_dirty.png', 'CERN-EOS')).toEqual(png);
    const ruleId = /rule ([0-9a-f]{32}) on user\.jdoe:L802012_images → CERN-EOS: OK/.exec(r.stdout)?.[1];
    expect(ruleId).toBeDefined();
    expect(r.stdout).toMatch(/upload +2 files → user\.jdoe:L802012_images, rule [0-9a-f]{32} OK/);
  });

  it('exits 1 with the reason when the basket holds no Rucio item', async () => {
    const cwd = dir('lofar-empty');
    const saved = lake.emulator.esap.basket(lake.account);
    lake.emulator.esap.setBasket(lake.account, [{ archive: 'zooniverse', catalog: 'project', project_id: 1, category: 'subjects' }]);
    try {
      const r = await runNode([example('lofar-image-roundtrip.ts')], { env: hubEnv(), cwd });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('The ESAP basket holds no Rucio items');
      expect(r.stderr).not.toContain(lake.token);
    } finally {
      lake.emulator.esap.setBasket(lake.account, saved);
    }
  });

  it('exits 1 when the token is refused, without printing it', async () => {
    const bad = `${lake.token.slice(0, -8)}AAAAAAAA`;
    const r = await runNode([example('lofar-image-roundtrip.ts')], { env: hubEnv({ RUCIO_ACCESS_TOKEN: bad }), cwd: dir('lofar-bad') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/DLAAS_UNAUTHENTICATED/);
    expect(r.stdout + r.stderr).not.toContain(bad);
  });
});

describe('cms-download-process-upload.ts', () => {
  it('downloads verified files, finds the Z peak, uploads histogram and summary with a rule', async () => {
    const cwd = dir('cms');
    const r = await runNode([example('cms-download-process-upload.ts')], { env: hubEnv(), cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.match(/size\+adler32/g)).toHaveLength(3);
    const summary = JSON.parse(readFileSync(join(cwd, 'cms-results', 'dimuon_summary.json'), 'utf8')) as { pairs: number; z_peak_gev: number };
    expect(summary.pairs).toBe(4500);
    expect(summary.z_peak_gev).toBeGreaterThan(90);
    expect(summary.z_peak_gev).toBeLessThan(92.5);
    const histogram = readFileSync(join(cwd, 'cms-results', 'dimuon_mass_histogram.csv'), 'utf8').trim().split('\n');
    expect(histogram).toHaveLength(61);
    const dataset = 'user.jdoe:Run2012B_DoubleMuParked_dimuon_zpeak';
    expect(r.stdout).toMatch(new RegExp(`rule [0-9a-f]{32} keeps ${dataset} on CERN-EOS`));
    await lake.emulator.sync();
    expect(new TextDecoder().decode(lake.emulator.rucio.bytes('user.jdoe:Run2012B_DoubleMuParked_dimuon_summary.json', 'CERN-EOS'))).toContain('"z_peak_gev"');
  });
});

describe('atlas-open-data-replicate.ts', () => {
  it('creates a rule to the site, follows it to OK, lists the replicas there; a second run reuses the rule', async () => {
    const first = await runNode([example('atlas-open-data-replicate.ts'), 'ATLAS_OD_EDU:data16_13TeV_2lep', 'DESY-DCACHE'], { env: hubEnv(), cwd: dir('atlas') });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const id = /Created rule ([0-9a-f]{32}): 1 copy on DESY-DCACHE/.exec(first.stdout)?.[1];
    expect(id).toBeDefined();
    expect(first.stdout).toMatch(/4\/4 files \| OK/);
    expect(first.stdout.match(/AVAILABLE +http:\/\/127\.0\.0\.1:\d+\/storage\/desy-dcache\//g)).toHaveLength(4);
    expect([...lake.emulator.rucio.fileReplicas()].filter((x) => x.did.scope === 'ATLAS_OD_EDU' && x.rse === 'DESY-DCACHE' && x.state === 'AVAILABLE')).toHaveLength(4);
    const again = await runNode([example('atlas-open-data-replicate.ts'), 'ATLAS_OD_EDU:data16_13TeV_2lep', 'DESY-DCACHE'], { env: hubEnv(), cwd: dir('atlas2') });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`Reusing rule ${id}`);
  });

  it('exits 1 for an RSE expression that matches nothing', async () => {
    const r = await runNode([example('atlas-open-data-replicate.ts'), 'ATLAS_OD_EDU:data16_13TeV_2lep', 'NO-SUCH-RSE'], { env: hubEnv(), cwd: dir('atlas-bad') });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NO-SUCH-RSE/);
  });
});

describe('cta-km3net-combine.ts', () => {
  it('stages both experiments in one call (two rules), combines them per source', async () => {
    const cwd = dir('cta');
    const r = await runNode([example('cta-km3net-combine.ts')], { env: hubEnv(), cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rule [0-9a-f]{32} \(cta:dac21_gps_dl3\): OK/);
    expect(r.stdout).toMatch(/rule [0-9a-f]{32} \(km3net:dac21_arca_tracks\): OK/);
    const rows = readFileSync(join(cwd, 'cta-km3net-results', 'combined_sources.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    expect(rows.map((x) => JSON.parse(x[0]!))).toEqual(['RX J1713.7-3946', 'Vela Junior', 'HESS J1908+063', 'Galactic Centre']);
    for (const row of rows) {
      expect(Number(row[3])).toBeGreaterThan(5); // every source is a clear CTA detection
      expect(Number(row[4])).toBeGreaterThan(0); // and has KM3NeT tracks on source
    }
  });
});

describe('vo-basket-items.ts', () => {
  it('stages the VO access URLs of the basket alongside its Rucio items, and reads the FITS cutouts', async () => {
    const cwd = dir('vo');
    const before = lake.voRequests.length;
    const r = await runNode([example('vo-basket-items.ts')], { env: hubEnv(), cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1 Rucio item\(s\) and 2 access URL\(s\)/);
    expect(r.stdout).toMatch(/3C196_cutout\.fits +url +OK .* FITS 32×32 3C196/);
    expect(r.stdout.match(/lofar:L802012_SB00\d_uv\.vis +rucio +OK .* size\+adler32/g)).toHaveLength(4);
    expect(r.stdout).toContain('6/6 files AVAILABLE');
    expect(lake.voRequests.slice(before).map((q) => q.path).sort()).toEqual(['/vo/lotss-dr2/3C196_cutout.fits', '/vo/lotss-dr2/3C196_rms.fits']);
    const cutout = checkFits(new Uint8Array(readFileSync(join(cwd, 'vo-results', 'data', 'urls', '3C196_cutout.fits'))));
    expect(cutout.header.OBJECT).toBe('3C196');
  });

  // A third-party archive must not receive the user's Data Lake token.
  it('does not send the Data Lake token to the VO archive', async () => {
    const before = lake.voRequests.length;
    const r = await runNode([example('vo-basket-items.ts')], { env: hubEnv(), cwd: dir('vo-token') });
    expect(r.code).toBe(0);
    const requests = lake.voRequests.slice(before);
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((q) => !q.authorization)).toBe(true);
  });
});

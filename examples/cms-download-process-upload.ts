/**
 * CMS (DAC21): download a dataset (verified against the catalogue), process it, upload the result.
 *
 * Downloads the dimuon events of a CMS dataset, computes the invariant mass of every opposite-sign
 * muon pair, histograms it and measures the Z peak, then uploads the histogram and a summary into a
 * results dataset with a replication rule.
 *
 *   npx node examples/cms-download-process-upload.ts [DID]     (default cms:Run2012B_DoubleMuParked_dimuon)
 *
 * Environment: the DLaaS variables (RUCIO_BASE_URL, a token or OIDC_ISSUER/OIDC_CLIENT_ID, …);
 * results go to DLAAS_RESULTS_SCOPE (default user.<account>) on DLAAS_RESULTS_RSE (default
 * RUCIO_DESTINATION_RSE). Files are downloaded into ./cms-results/data.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DlaasError, formatDid, parseDid, type StageEvent } from 'dlaas';
import { connect, type ConnectOptions } from './lib/connect.ts';
import { formatBytes, isMain, progressBar, table, type Bar, type Out } from './lib/console.ts';

/** Options of {@link cmsDownloadProcessUpload}. */
export interface CmsOptions extends ConnectOptions {
  did?: string;
  workDir?: string;
  tty?: boolean;
}

/** What the run produced. */
export interface CmsSummary {
  files: number;
  bytes: number;
  pairs: number;
  zPeakGeV: number;
  zWindowEvents: number;
  uploaded: string[];
  ruleIds: string[];
}

const LO = 60;
const HI = 120;

/** Invariant mass of two (massless) muons from pT, η, φ. */
export function invariantMass(pt1: number, eta1: number, phi1: number, pt2: number, eta2: number, phi2: number): number {
  return Math.sqrt(2 * pt1 * pt2 * (Math.cosh(eta1 - eta2) - Math.cos(phi1 - phi2)));
}

export async function cmsDownloadProcessUpload(options: CmsOptions = {}): Promise<CmsSummary> {
  const out: Out = options.out ?? ((l) => console.log(l));
  const env = options.env ?? process.env;
  const tty = options.tty ?? (options.out === undefined && process.stdout.isTTY === true);
  const workDir = options.workDir ?? join(process.cwd(), 'cms-results');
  const did = parseDid(options.did ?? 'cms:Run2012B_DoubleMuParked_dimuon');

  out('Connect');
  const { lake, me } = await connect({ ...options, env, out, downloadDir: join(workDir, 'data') });

  out(`\nDownload ${formatDid(did)} (every file verified: size and adler32, as Rucio checks)`);
  let bar: Bar | undefined;
  const onProgress = (e: StageEvent) => {
    if (e.type === 'plan') bar = progressBar('  {bar} {percentage}% of {size} | {files} files', e.bytes, { size: formatBytes(e.bytes), files: e.files }, { out, tty });
    else if (e.type === 'bytes') bar?.update(e.overallBytes);
  };
  const staged = await lake.staging.stage([did], { mode: 'download', onProgress }).finally(() => bar?.stop());
  if (staged.status !== 'AVAILABLE') throw new DlaasError(`download ended ${staged.status}: ${staged.files.filter((f) => f.status !== 'OK').map((f) => `${f.did?.name}: ${f.error?.message ?? f.status}`).join('; ')}`);
  out(table([['file', 'size', 'verified', 'from'], ...staged.files.map((f) => [f.did?.name ?? '?', formatBytes(f.bytes), f.verified.join('+'), f.sourcePfn ? new URL(f.sourcePfn).host : '-'])]).join('\n'));

  out('\nProcess: invariant mass of opposite-sign muon pairs');
  const bins = new Array<number>(HI - LO).fill(0);
  let pairs = 0;
  for (const f of staged.files) {
    const path = f.localPath ?? (f.location?.kind === 'path' ? f.location.path : undefined);
    if (!path) throw new DlaasError(`no local copy of ${f.did ? formatDid(f.did) : f.url}`);
    const [head, ...rows] = (await readFile(path, 'utf8')).trim().split('\n');
    const col = Object.fromEntries(head!.split(',').map((c, i) => [c, i]));
    for (const row of rows) {
      const v = row.split(',').map(Number);
      if (v[col.q1!]! * v[col.q2!]! >= 0) continue;
      const m = invariantMass(v[col.pt1!]!, v[col.eta1!]!, v[col.phi1!]!, v[col.pt2!]!, v[col.eta2!]!, v[col.phi2!]!);
      pairs++;
      if (m >= LO && m < HI) bins[Math.floor(m - LO)]!++;
    }
  }
  // The peak: the mean mass of the three bins around the fullest one.
  const top = bins.indexOf(Math.max(...bins));
  let w = 0;
  let s = 0;
  for (let i = Math.max(0, top - 1); i <= Math.min(bins.length - 1, top + 1); i++) {
    w += bins[i]!;
    s += bins[i]! * (LO + i + 0.5);
  }
  const peak = s / w;
  const zWindow = bins.slice(81 - LO, 101 - LO).reduce((a, b) => a + b, 0);
  out(`  ${pairs} pairs; Z peak at ${peak.toFixed(2)} GeV; ${zWindow} pairs in 81–101 GeV`);
  const scale = Math.max(...bins) / 40;
  for (let i = 20; i < 44; i += 2) out(`  ${String(LO + i).padStart(3)} GeV ${'#'.repeat(Math.round((bins[i]! + bins[i + 1]!) / 2 / scale))}`);

  await mkdir(workDir, { recursive: true });
  const histogram = `mass_low_gev,mass_high_gev,pairs\n${bins.map((n, i) => `${LO + i},${LO + i + 1},${n}`).join('\n')}\n`;
  const summary = JSON.stringify({ dataset: formatDid(did), files: staged.files.map((f) => ({ did: f.did && formatDid(f.did), adler32: f.adler32 })), pairs, z_peak_gev: Number(peak.toFixed(3)), pairs_81_101_gev: zWindow }, null, 2);
  await writeFile(join(workDir, 'dimuon_mass_histogram.csv'), histogram);
  await writeFile(join(workDir, 'dimuon_summary.json'), summary);

  const scope = env.DLAAS_RESULTS_SCOPE ?? `user.${me.account}`;
  const rse = env.DLAAS_RESULTS_RSE ?? lake.config.destinationRse;
  if (!rse) throw new DlaasError('Set DLAAS_RESULTS_RSE (or RUCIO_DESTINATION_RSE): the RSE the results go to');
  const dataset = `${scope}:${did.name}_zpeak`;
  out(`\nUpload the results into ${dataset} on ${rse}, with a rule`);
  const up = await lake.staging.upload(
    [
      { name: `${did.name}_mass_histogram.csv`, data: new TextEncoder().encode(histogram) },
      { name: `${did.name}_summary.json`, data: new TextEncoder().encode(summary) },
    ],
    { scope, rse, dataset, rule: true },
  );
  out(table([['DID', 'status', 'size', 'adler32'], ...up.files.map((m) => [formatDid(m.did), m.status, formatBytes(m.bytes), m.adler32 ?? '-'])]).join('\n'));
  if (!up.ok) throw new DlaasError(`upload failed: ${up.files.map((m) => m.error?.message).filter(Boolean).join('; ')}`);
  out(`  rule ${up.ruleIds.join(', ')} keeps ${dataset} on ${rse}`);
  return { files: staged.totals.files, bytes: staged.totals.bytes, pairs, zPeakGeV: peak, zWindowEvents: zWindow, uploaded: up.files.map((m) => formatDid(m.did)), ruleIds: up.ruleIds };
}

if (isMain(import.meta)) {
  cmsDownloadProcessUpload({ ...(process.argv[2] ? { did: process.argv[2] } : {}) }).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`✗ ${error instanceof DlaasError ? `${error.code}: ${error.message}` : String(error)}`);
      process.exit(1);
    },
  );
}

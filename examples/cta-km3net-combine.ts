/**
 * CTA + KM3NeT (DAC21): stage two experiments' datasets together and combine them.
 *
 * Stages a CTA gamma-ray event list dataset and a KM3NeT neutrino track dataset in one call (replica
 * mode on a hub with a mounted RSE, else verified downloads), then, for four Galactic sources, counts
 * events on source and in a background ring for each experiment, computes the Li & Ma significance of
 * each and their combination, and writes the table to ./cta-km3net-results/combined_sources.csv.
 *
 *   node examples/cta-km3net-combine.ts [CTA_DID] [KM3NET_DID]
 *     (default cta:dac21_gps_dl3 and km3net:dac21_arca_tracks)
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DlaasError, formatDid, parseDid, type FileManifest, type StageEvent } from 'dlaas';
import { connect, type ConnectOptions } from './lib/connect.ts';
import { formatBytes, isMain, progressBar, table, type Bar, type Out } from './lib/console.ts';
import { SOURCES } from './lib/galactic-sources.ts';

/** The sources of the combined analysis (J2000, degrees). */
export { SOURCES };

/** Options of {@link ctaKm3netCombine}. */
export interface CombineOptions extends ConnectOptions {
  cta?: string;
  km3net?: string;
  workDir?: string;
  tty?: boolean;
  pollInterval?: number;
}

/** One row of the combined table. */
export interface SourceResult {
  source: string;
  gammaOn: number;
  gammaExcess: number;
  gammaSigma: number;
  nuOn: number;
  nuExcess: number;
  nuSigma: number;
  combinedSigma: number;
}

/** Angular distance in degrees. */
function separation(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const r = Math.PI / 180;
  const c = Math.sin(dec1 * r) * Math.sin(dec2 * r) + Math.cos(dec1 * r) * Math.cos(dec2 * r) * Math.cos((ra1 - ra2) * r);
  return Math.acos(Math.min(1, Math.max(-1, c))) / r;
}

/** Li & Ma (1983) eq. 17: significance of `on` counts over `off` counts scaled by `alpha`. */
export function liMa(on: number, off: number, alpha: number): number {
  if (on === 0) return 0;
  const a = on * Math.log(((1 + alpha) / alpha) * (on / (on + off)));
  const b = off > 0 ? off * Math.log((1 + alpha) * (off / (on + off))) : 0;
  return Math.sign(on - alpha * off) * Math.sqrt(2 * Math.max(0, a + b));
}

/** Read `event_id,energy_tev,ra,dec` CSV files. */
async function events(files: FileManifest[]): Promise<{ ra: number; dec: number }[]> {
  const all: { ra: number; dec: number }[] = [];
  for (const f of files) {
    const path = f.localPath ?? (f.location?.kind === 'path' ? f.location.path : undefined);
    if (!path) throw new DlaasError(`no local copy of ${f.did ? formatDid(f.did) : f.url}`);
    const [head, ...rows] = (await readFile(path, 'utf8')).trim().split('\n');
    const cols = head!.split(',');
    const ira = cols.indexOf('ra');
    const idec = cols.indexOf('dec');
    for (const row of rows) {
      const v = row.split(',');
      all.push({ ra: Number(v[ira]), dec: Number(v[idec]) });
    }
  }
  return all;
}

/** On-region of radius `r`, background ring r1..r2 around each source. */
function onOff(list: { ra: number; dec: number }[], src: { ra: number; dec: number }, r: number, r1: number, r2: number) {
  let on = 0;
  let off = 0;
  for (const e of list) {
    const d = separation(e.ra, e.dec, src.ra, src.dec);
    if (d < r) on++;
    else if (d >= r1 && d < r2) off++;
  }
  const alpha = (r * r) / (r2 * r2 - r1 * r1);
  return { on, off, alpha, excess: on - alpha * off, sigma: liMa(on, off, alpha) };
}

export async function ctaKm3netCombine(options: CombineOptions = {}): Promise<SourceResult[]> {
  const out: Out = options.out ?? ((l) => console.log(l));
  const env = options.env ?? process.env;
  const tty = options.tty ?? (options.out === undefined && process.stdout.isTTY === true);
  const workDir = options.workDir ?? join(process.cwd(), 'cta-km3net-results');
  const cta = parseDid(options.cta ?? 'cta:dac21_gps_dl3');
  const km3net = parseDid(options.km3net ?? 'km3net:dac21_arca_tracks');

  out('Connect');
  const { lake } = await connect({ ...options, env, out, downloadDir: join(workDir, 'data') });

  const mode = lake.config.mode ?? (lake.config.rseMountPath ? 'replica' : 'download');
  out(`\nStage ${formatDid(cta)} and ${formatDid(km3net)} together (${mode === 'replica' ? `rules to ${lake.config.destinationRse}` : 'verified downloads'})`);
  const bars = new Map<string, Bar>();
  const onProgress = (e: StageEvent) => {
    if (e.type === 'rule') {
      let bar = bars.get(e.ruleId);
      if (!bar) bars.set(e.ruleId, (bar = progressBar(`  rule ${e.ruleId.slice(0, 8)} {bar} {value}/{total} files | {state}`, e.total, { state: e.state }, { out, tty })));
      bar.update(e.ok, { state: e.state });
    } else if (e.type === 'plan') bars.set('bytes', progressBar('  {bar} {percentage}% | {files} files', e.bytes, { files: e.files }, { out, tty }));
    else if (e.type === 'bytes') bars.get('bytes')?.update(e.overallBytes);
  };
  const staged = await lake.staging.stage([cta, km3net], { mode, verifyLocal: mode === 'replica', pollInterval: options.pollInterval ?? 2000, onProgress }).finally(() => {
    for (const b of bars.values()) b.stop();
  });
  if (staged.status !== 'AVAILABLE') throw new DlaasError(`staging ended ${staged.status}`);
  for (const r of staged.rules) out(`  rule ${r.id} (${formatDid(r.did)}): ${r.state}`);
  out(`  ${staged.totals.ok} files, ${formatBytes(staged.totals.bytes)}`);

  // Which staged file belongs to which experiment: the dataset contents say.
  const names = async (did: typeof cta) => new Set((await lake.rucio.dids.files(did).toArray()).map((f) => `${f.scope}:${f.name}`));
  const [ctaFiles, nuFiles] = await Promise.all([names(cta), names(km3net)]);
  const gammas = await events(staged.files.filter((f) => f.did && ctaFiles.has(formatDid(f.did))));
  const neutrinos = await events(staged.files.filter((f) => f.did && nuFiles.has(formatDid(f.did))));
  out(`\nCombine: ${gammas.length} CTA events, ${neutrinos.length} KM3NeT tracks, ${SOURCES.length} sources`);

  const results: SourceResult[] = SOURCES.map((src) => {
    const g = onOff(gammas, src, 0.3, 1.0, 2.0); // CTA angular resolution ~0.1°
    const n = onOff(neutrinos, src, 1.5, 1.8, 2.8); // KM3NeT/ARCA tracks ~0.5–1°
    return { source: src.name, gammaOn: g.on, gammaExcess: g.excess, gammaSigma: g.sigma, nuOn: n.on, nuExcess: n.excess, nuSigma: n.sigma, combinedSigma: (g.sigma + n.sigma) / Math.SQRT2 };
  });
  out(table([['source', 'CTA on', 'excess', 'σ', 'KM3NeT on', 'excess', 'σ', 'combined σ'], ...results.map((r) => [r.source, r.gammaOn, r.gammaExcess.toFixed(1), r.gammaSigma.toFixed(1), r.nuOn, r.nuExcess.toFixed(1), r.nuSigma.toFixed(1), r.combinedSigma.toFixed(1)])]).join('\n'));
  await mkdir(workDir, { recursive: true });
  const csv = ['source,cta_on,cta_excess,cta_sigma,km3net_on,km3net_excess,km3net_sigma,combined_sigma', ...results.map((r) => [JSON.stringify(r.source), r.gammaOn, r.gammaExcess.toFixed(2), r.gammaSigma.toFixed(2), r.nuOn, r.nuExcess.toFixed(2), r.nuSigma.toFixed(2), r.combinedSigma.toFixed(2)].join(','))].join('\n');
  await writeFile(join(workDir, 'combined_sources.csv'), `${csv}\n`);
  out(`  wrote ${join(workDir, 'combined_sources.csv')}`);
  return results;
}

if (isMain(import.meta)) {
  ctaKm3netCombine({ ...(process.argv[2] ? { cta: process.argv[2] } : {}), ...(process.argv[3] ? { km3net: process.argv[3] } : {}) }).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`✗ ${error instanceof DlaasError ? `${error.code}: ${error.message}` : String(error)}`);
      process.exit(1);
    },
  );
}

/**
 * VO records in the ESAP basket: items whose record carries an access URL (an ASTRON VO cutout, an
 * ALTA product, …) are staged alongside the Rucio items, in one call, and checked on arrival.
 *
 *   npx node examples/vo-basket-items.ts
 *
 * `lake.staging.stage(lake.esap.basket, { mode: 'download' })` takes the basket as a source: Rucio
 * items become DIDs (downloaded from the best replica, verified against the catalogue's size and
 * checksums), items with an `access_url`-like field become plain downloads (size checked when the
 * server sends it). Files land in ./vo-results/data (DIDs under <scope>/, URLs under urls/).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DlaasError, formatDid, type FileManifest, type StageEvent } from 'dlaas';
import { connect, type ConnectOptions } from './lib/connect.ts';
import { formatBytes, isMain, progressBar, table, type Bar, type Out } from './lib/console.ts';

/** Options of {@link voBasketItems}. */
export interface VoOptions extends ConnectOptions {
  workDir?: string;
  tty?: boolean;
}

/** A staged file and what it turned out to be. */
export interface VoStaged {
  source: string;
  kind: 'rucio' | 'url';
  status: string;
  bytes: number | null;
  verified: string[];
  path: string | undefined;
  /** For FITS files: `NAXIS1×NAXIS2 OBJECT`. */
  fits?: string;
}

/** The primary header of a FITS file as key → value (strings unquoted). */
export function fitsHeader(bytes: Uint8Array): Record<string, string> | undefined {
  const text = new TextDecoder('latin1').decode(bytes.subarray(0, Math.min(bytes.length, 2880 * 4)));
  if (!text.startsWith('SIMPLE  =')) return undefined;
  const out: Record<string, string> = {};
  for (let i = 0; i + 80 <= text.length; i += 80) {
    const card = text.slice(i, i + 80);
    const key = card.slice(0, 8).trim();
    if (key === 'END') return out;
    if (card[8] !== '=') continue;
    const raw = card.slice(10);
    const quoted = /^\s*'((?:[^']|'')*)'/.exec(raw);
    out[key] = quoted ? quoted[1]!.replace(/''/g, "'").trimEnd() : raw.split('/')[0]!.trim();
  }
  return undefined;
}

export async function voBasketItems(options: VoOptions = {}): Promise<VoStaged[]> {
  const out: Out = options.out ?? ((l) => console.log(l));
  const env = options.env ?? process.env;
  const tty = options.tty ?? (options.out === undefined && process.stdout.isTTY === true);
  const workDir = options.workDir ?? join(process.cwd(), 'vo-results');

  out('Connect');
  const { lake } = await connect({ ...options, env, out, downloadDir: join(workDir, 'data') });

  const basket = await lake.esap.basket.get();
  out(`\nThe ESAP basket of ${basket.userName}`);
  out(
    table([
      ['#', 'archive', 'staged as', 'item'],
      ...basket.items.map((it, i) => [i + 1, it.archive, it.kind === 'rucio' ? 'Rucio DID' : 'accessUrl' in it && it.accessUrl ? 'URL download' : 'not stageable', it.kind === 'rucio' ? formatDid(it.did) : 'accessUrl' in it && it.accessUrl ? it.accessUrl : JSON.stringify(it.data).slice(0, 60)]),
    ]).join('\n'),
  );
  const sources = basket.sources();
  if (sources.length === 0) out('  (no item with an access URL: add a VO record to the basket in ESAP)');

  out(`\nStage the basket: ${basket.dids().length} Rucio item(s) and ${sources.length} access URL(s), in one call`);
  let bar: Bar | undefined;
  const onProgress = (e: StageEvent) => {
    if (e.type === 'plan') bar = progressBar('  {bar} {percentage}% | {files} files', Math.max(1, e.bytes), { files: e.files }, { out, tty });
    else if (e.type === 'bytes') bar?.update(e.overallBytes);
  };
  const staged = await lake.staging.stage(lake.esap.basket, { mode: 'download', onProgress }).finally(() => bar?.stop());

  const pathOf = (f: FileManifest) => f.localPath ?? (f.location?.kind === 'path' ? f.location.path : undefined);
  const results: VoStaged[] = [];
  for (const f of staged.files) {
    const path = pathOf(f);
    const r: VoStaged = { source: f.did ? formatDid(f.did) : (f.url ?? '?'), kind: f.did ? 'rucio' : 'url', status: f.status, bytes: f.bytes, verified: f.verified, path };
    if (path && f.status === 'OK') {
      const h = fitsHeader(new Uint8Array(await readFile(path)));
      if (h) r.fits = `${h.NAXIS1}×${h.NAXIS2} ${h.OBJECT ?? ''}`.trim();
    }
    results.push(r);
  }
  out(table([['source', 'kind', 'status', 'size', 'checked', 'content'], ...results.map((r) => [r.source.length > 60 ? `…${r.source.slice(-59)}` : r.source, r.kind, r.status, formatBytes(r.bytes), r.verified.join('+') || (r.kind === 'url' ? 'received' : '-'), r.fits ? `FITS ${r.fits}` : '-'])]).join('\n'));
  out(`  ${staged.totals.ok}/${staged.totals.files} files ${staged.status} in ${join(workDir, 'data')}`);
  if (staged.status !== 'AVAILABLE') throw new DlaasError(`staging ended ${staged.status}: ${staged.files.filter((f) => f.status !== 'OK').map((f) => f.error?.message ?? f.status).join('; ')}`);
  return results;
}

if (isMain(import.meta)) {
  voBasketItems().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`✗ ${error instanceof DlaasError ? `${error.code}: ${error.message}` : String(error)}`);
      process.exit(1);
    },
  );
}

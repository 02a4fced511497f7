/**
 * LOFAR (DAC21): image 3C196 from the observation in your ESAP basket, and put the image back into
 * the Data Lake — the flow of `npm run demo`, against whatever Data Lake your environment names.
 *
 *   1. log in (OIDC device flow; or use the token your hub provides)
 *   2. read the ESAP basket and resolve its Rucio items
 *   3. stage them to the compute site's RSE (a replication rule, waited for) — or download them
 *   4. read the staged files and verify their checksums against the Rucio catalogue
 *   5. make a dirty image (a DFT of every visibility of every subband) → FITS + PNG
 *   6. upload the image into a results dataset, with a replication rule
 *
 * Run it:
 *   npx node examples/lofar-image-roundtrip.ts
 * with the DLaaS environment of a notebook hub (RUCIO_BASE_URL, RUCIO_ACCESS_TOKEN, ESAP_URL,
 * RUCIO_DESTINATION_RSE, RUCIO_MODE=replica, RUCIO_RSE_MOUNT_PATH, RUCIO_PATH_BEGINS_AT), or on a
 * laptop with OIDC_ISSUER and OIDC_CLIENT_ID instead of a token (you log in with a code), and
 * RUCIO_DESTINATION_RSE without a mount (the files are then downloaded, verified, into
 * ./lofar-results/staged). Results go to DLAAS_RESULTS_SCOPE (default user.<account>) on
 * DLAAS_RESULTS_RSE (default RUCIO_DESTINATION_RSE).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { DlaasError, checksumOf, formatDid, parseDid, sameAdler32, type DevicePrompt, type Did, type FileManifest, type StageEvent } from 'dlaas';
import { connect } from './lib/connect.ts';
import { formatBytes, formatDuration, isMain, progressBar, table, timed, type Bar, type Out } from './lib/console.ts';
import { decodeVisibilities, makeDirtyImage, toFits, toPng, type Visibilities } from './lib/lofar-imaging.ts';

/** Options of {@link lofarImageRoundtrip}. */
export interface RoundtripOptions {
  /** The environment to read (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Where to print (default `console.log`). */
  out?: Out;
  /** Draw progress bars in place (default: when stdout is a terminal). */
  tty?: boolean;
  /** Local directory for the image and downloads (default `./lofar-results`). */
  workDir?: string;
  /** Called after the login code is shown (the demo approves it there, as you would in the browser). */
  afterPrompt?: (prompt: DevicePrompt) => void | Promise<void>;
  /** First rule poll interval in ms (default 2000). */
  pollInterval?: number;
}

/** What the round trip did. */
export interface RoundtripSummary {
  account: string;
  /** The Rucio DIDs taken from the basket. */
  dids: string[];
  mode: 'replica' | 'download';
  files: number;
  bytes: number;
  /** Files whose size, adler32 and md5 matched the catalogue when read. */
  verified: number;
  stageRules: string[];
  resultRules: string[];
  /** The uploaded DIDs. */
  uploaded: string[];
  image: { fits: string; png: string; peakJy: number; snr: number; ra: number; dec: number };
  /** Milliseconds per step. */
  times: Record<string, number>;
}

/** A failed step of the round trip. */
export class RoundtripError extends DlaasError {}

/** Run the LOFAR round trip. Throws on any failure (a `DlaasError` names what failed). */
export async function lofarImageRoundtrip(options: RoundtripOptions = {}): Promise<RoundtripSummary> {
  const env = options.env ?? process.env;
  const out = options.out ?? ((line: string) => console.log(line));
  const tty = options.tty ?? (options.out === undefined && process.stdout.isTTY === true);
  const workDir = options.workDir ?? join(process.cwd(), 'lofar-results');
  const times = new Map<string, number>();
  const step = (n: number, title: string) => out(`\n[${n}/7] ${title}`);

  // 1. Identity: the hub's token if there is one, else an OIDC device login (examples/lib/connect.ts).
  step(1, 'Log in');
  const { lake, me, session } = await timed(times, 'log in', () => connect({ env, out, downloadDir: join(workDir, 'staged'), ...(options.afterPrompt ? { afterPrompt: options.afterPrompt } : {}) }));

  // 2. The ESAP basket.
  step(2, `Read the ESAP basket (${lake.config.esapUrl ?? 'ESAP_URL not set'})`);
  const basket = await timed(times, 'basket', () => lake.esap.basket.get());
  out(`  ${basket.userName}: ${basket.items.length} item(s)${basket.problems.length ? `, ${basket.problems.length} unreadable` : ''}`);
  out(
    table([
      ['#', 'archive', 'item'],
      ...basket.items.map((item, i) => [i + 1, item.archive, item.kind === 'rucio' ? formatDid(item.did) : 'accessUrl' in item && item.accessUrl ? item.accessUrl : JSON.stringify(item.data).slice(0, 60)]),
    ]).join('\n'),
  );
  const dids = basket.dids();
  if (dids.length === 0) throw new RoundtripError('The ESAP basket holds no Rucio items: add the LOFAR observation to it in ESAP (or `dlaas basket add lofar:L802012_3C196`)');

  // 3. What those Rucio items are.
  step(3, 'Resolve the Rucio items');
  const resolved = await timed(times, 'resolve', () =>
    Promise.all(
      dids.map(async (did) => {
        const info = await lake.rucio.dids.get(did);
        const files = await lake.rucio.dids.files(did).toArray();
        // Where the files are: RSE → how many of them it holds AVAILABLE.
        const perRse = new Map<string, number>();
        for await (const rep of lake.rucio.replicas.list(files)) for (const [r, state] of Object.entries(rep.states ?? {})) if (state === 'AVAILABLE') perRse.set(r, (perRse.get(r) ?? 0) + 1);
        const at = [...perRse].map(([r, n]) => (n === files.length ? r : `${r} (${n}/${files.length})`));
        return { did, type: info.type, files: files.length, bytes: files.reduce((n, f) => n + Number(f.bytes ?? 0), 0), at };
      }),
    ),
  );
  out(table([['DID', 'type', 'files', 'size', 'available at'], ...resolved.map((r) => [formatDid(r.did), r.type, r.files, formatBytes(r.bytes), r.at.join(', ') || '-'])]).join('\n'));

  // 4. Stage to the compute site.
  const mode = lake.config.mode ?? (lake.config.rseMountPath ? 'replica' : 'download');
  const rse = lake.config.destinationRse;
  if (!rse) throw new RoundtripError('Set RUCIO_DESTINATION_RSE to the RSE of your compute site');
  step(4, mode === 'replica' ? `Stage to the compute RSE ${rse} (replication rule, mounted at ${lake.config.rseMountPath})` : `Stage from the Data Lake (download, verified, preferring ${rse})`);
  const bars = new Map<string, Bar>();
  const onProgress = (e: StageEvent) => {
    if (e.type === 'rule') {
      let bar = bars.get(e.ruleId);
      if (!bar) bars.set(e.ruleId, (bar = progressBar(`  rule ${e.ruleId.slice(0, 8)} {bar} {value}/{total} files | {state}`, e.total, { state: e.state }, { out, tty })));
      bar.setTotal(e.total);
      bar.update(e.ok, { state: e.state });
    } else if (e.type === 'plan' && mode === 'download') {
      bars.set('download', progressBar('  download {bar} {percentage}% | {files} files', e.bytes, { files: e.files }, { out, tty }));
    } else if (e.type === 'bytes') bars.get('download')?.update(e.overallBytes);
  };
  const staged = await timed(times, 'stage', async () => {
    try {
      return await lake.staging.stage(dids, { mode, rse, verifyLocal: mode === 'replica', pollInterval: options.pollInterval ?? 2000, onProgress });
    } finally {
      for (const bar of bars.values()) bar.stop();
    }
  });
  for (const r of staged.rules) out(`  rule ${r.id} on ${formatDid(r.did)}: ${r.state}${r.created ? ' (created)' : ' (reused)'}`);
  out(`  ${staged.totals.ok}/${staged.totals.files} files ${staged.status} (${formatBytes(staged.totals.bytes)})`);
  if (staged.status !== 'AVAILABLE') {
    const bad = staged.files.filter((f) => f.status !== 'OK').map((f) => `${f.did ? formatDid(f.did) : f.url}: ${f.status}${f.error ? ` (${f.error.message})` : ''}`);
    throw new RoundtripError(`Staging ended ${staged.status}: ${bad.join('; ')}`);
  }

  // 5. Read the staged files, checking each against the catalogue.
  step(5, 'Read the staged files and verify them against the catalogue');
  const pathOf = (f: FileManifest) => f.localPath ?? (f.location?.kind === 'path' ? f.location.path : undefined);
  const base = mode === 'replica' ? (lake.config.rseMountPath as string) : join(workDir, 'staged');
  const subbands: Visibilities[] = [];
  const rows: (string | number)[][] = [['file', 'size', 'adler32', 'md5', 'path']];
  await timed(times, 'read + verify', async () => {
    for (const f of staged.files) {
      const path = pathOf(f);
      if (!path) throw new RoundtripError(`No local path for ${f.did ? formatDid(f.did) : f.url}`);
      const bytes = new Uint8Array(await readFile(path));
      const sums = await checksumOf(bytes, { md5: true });
      const name = f.did ? formatDid(f.did) : path;
      if (f.bytes !== null && sums.bytes !== f.bytes) throw new RoundtripError(`${name}: ${sums.bytes} bytes read, the catalogue says ${f.bytes}`);
      if (f.adler32 && !sameAdler32(sums.adler32, f.adler32)) throw new RoundtripError(`${name}: adler32 ${sums.adler32} read, the catalogue says ${f.adler32}`);
      if (f.md5 && sums.md5 !== f.md5) throw new RoundtripError(`${name}: md5 ${sums.md5} read, the catalogue says ${f.md5}`);
      subbands.push(decodeVisibilities(bytes));
      rows.push([f.did?.name ?? name, formatBytes(sums.bytes), `${sums.adler32} ✓`, f.md5 ? `${sums.md5!.slice(0, 8)}… ✓` : '-', relative(base, path)]);
    }
  });
  out(rows.length > 1 ? table(rows).join('\n') : '  (no files)');

  // 6. Science: a dirty image from every subband.
  const observation = subbands[0]!.header.observation;
  step(6, `Make the image (DFT of ${subbands.reduce((n, s) => n + s.header.count, 0)} visibilities from ${subbands.length} subbands)`);
  const image = await timed(times, 'image', async () => {
    const img = makeDirtyImage(subbands, { size: 128 });
    await mkdir(workDir, { recursive: true });
    const history = [`made by dlaas from ${dids.map(formatDid).join(', ')}`, ...staged.files.map((f) => `input ${f.did ? formatDid(f.did) : f.url} adler32=${f.adler32 ?? '?'}`)];
    const fits = toFits(img, history);
    const png = toPng(img);
    const base = `${observation}_${img.target}_dirty`;
    await writeFile(join(workDir, `${base}.fits`), fits);
    await writeFile(join(workDir, `${base}.png`), png);
    return { img, fits, png, base };
  });
  const { img } = image;
  out(`  ${img.size}×${img.size} pixels of ${(img.cell * 60).toFixed(1)}′ at ${(img.frequency / 1e6).toFixed(2)} MHz: peak ${img.peak.value.toFixed(1)} Jy/beam at RA ${img.peak.ra.toFixed(3)}°, Dec ${img.peak.dec.toFixed(3)}° (${img.target}), noise ${img.rms.toFixed(2)} Jy/beam, S/N ${(img.peak.value / img.rms).toFixed(0)}`);
  out(`  wrote ${join(workDir, `${image.base}.fits`)} (FITS, ${formatBytes(image.fits.length)}) and .png (${formatBytes(image.png.length)})`);

  // 7. Results back into the Data Lake.
  const scope = env.DLAAS_RESULTS_SCOPE ?? `user.${me.account}`;
  const resultRse = env.DLAAS_RESULTS_RSE ?? rse;
  const dataset: Did = parseDid(`${scope}:${observation}_images`);
  step(7, `Upload the image into ${formatDid(dataset)} on ${resultRse}, with a rule`);
  const uploaded = await timed(times, 'upload', () =>
    lake.staging.upload(
      [
        { name: `${image.base}.fits`, data: image.fits },
        { name: `${image.base}.png`, data: image.png },
      ],
      { scope, rse: resultRse, dataset, rule: true },
    ),
  );
  for (const m of uploaded.files) out(`  ${formatDid(m.did)}: ${m.status} (${formatBytes(m.bytes)}, adler32 ${m.adler32 ?? '?'})${m.error ? ` — ${m.error.message}` : ''}`);
  if (!uploaded.ok) throw new RoundtripError(`Upload failed: ${uploaded.files.filter((m) => m.status === 'FAILED').map((m) => m.error?.message ?? `${formatDid(m.did)} at ${m.step}`).join('; ')}`);
  const check = await timed(times, 'upload', async () => {
    const reps = await lake.rucio.replicas.list(uploaded.files.map((m) => m.did), { rse_expression: resultRse }).toArray();
    const rules = await Promise.all(uploaded.ruleIds.map((id) => lake.rucio.rules.get(id)));
    return { available: reps.filter((r) => r.states?.[resultRse] === 'AVAILABLE').length, rules };
  });
  for (const r of check.rules) out(`  rule ${r.id} on ${r.scope}:${r.name} → ${r.rse_expression}: ${r.state}`);
  if (check.available !== uploaded.files.length) throw new RoundtripError(`Only ${check.available}/${uploaded.files.length} uploaded files are AVAILABLE on ${resultRse}`);

  // Summary.
  const t = Object.fromEntries(times);
  out('\nSummary');
  out(
    table([
      ['step', 'result', 'time'],
      ['log in', `${me.account} (${session ? 'OIDC device flow' : (lake.auth.source ?? 'token')})`, formatDuration(t['log in'] ?? 0)],
      ['basket', `${basket.items.length} items, ${dids.length} Rucio: ${dids.map(formatDid).join(', ')}`, formatDuration(t.basket ?? 0)],
      ['resolve', `${resolved.reduce((n, r) => n + r.files, 0)} files, ${formatBytes(resolved.reduce((n, r) => n + r.bytes, 0))}`, formatDuration(t.resolve ?? 0)],
      ['stage', `${mode} → ${rse}: ${staged.status}${staged.rules.length ? `, rule ${staged.rules.map((r) => `${r.id} ${r.state}`).join(', ')}` : ''}`, formatDuration(t.stage ?? 0)],
      ['read + verify', `${subbands.length}/${staged.files.length} files, size + adler32 + md5 match the catalogue`, formatDuration(t['read + verify'] ?? 0)],
      ['image', `${image.base}.fits + .png, peak ${img.peak.value.toFixed(1)} Jy/beam, S/N ${(img.peak.value / img.rms).toFixed(0)}`, formatDuration(t.image ?? 0)],
      ['upload', `${uploaded.files.length} files → ${formatDid(dataset)}, rule ${check.rules.map((r) => `${r.id} ${r.state}`).join(', ')}`, formatDuration(t.upload ?? 0)],
    ]).join('\n'),
  );
  return {
    account: me.account,
    dids: dids.map(formatDid),
    mode,
    files: staged.totals.files,
    bytes: staged.totals.bytes,
    verified: subbands.length,
    stageRules: staged.rules.map((r) => r.id),
    resultRules: uploaded.ruleIds,
    uploaded: uploaded.files.map((m) => formatDid(m.did)),
    image: { fits: join(workDir, `${image.base}.fits`), png: join(workDir, `${image.base}.png`), peakJy: img.peak.value, snr: img.peak.value / img.rms, ra: img.peak.ra, dec: img.peak.dec },
    times: t,
  };
}

if (isMain(import.meta)) {
  lofarImageRoundtrip().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`\n✗ ${error instanceof DlaasError ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}

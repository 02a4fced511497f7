// Verified upload: `staging.upload()` of 1 GiB as one file and as 64 × 16 MiB (files on local disk,
// streamed with fs.openAsBlob) into the storage element used in tests (XRootD 5.8.1, its plain-HTTP
// port, a WLCG token with storage.create and storage.modify) through the Rucio emulator, against
// `curl -T FILE URL` of the same files with the same token and concurrency (no checksum, no
// catalogue). The SDK does the whole stage-out: checksums, replica registered COPYING, PUT of
// `<pfn>.rucio.upload`, the storage's adler32 checked, MOVE, final name checked, replica AVAILABLE.
// Every run writes to fresh names (new DIDs for the SDK, a new directory for curl).
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRucioEmulator } from 'dlaas/testing';
import { MiB, content, failuresNote, figure, loadStorageElement, notes, pairRatios, present, twice, usesNote, wall } from './fixtures/storage.mjs';
import { median } from './stats.mjs';

const here = new URL('.', import.meta.url).pathname;

export default async function upload({ quick = false } = {}) {
  if (process.getuid?.() !== 0) return [{ figure: 'verified upload', median: null, spread: 0, unit: '', note: 'skipped: the XRootD storage element needs root' }];
  const { startStorageElement } = await loadStorageElement();
  const se = await startStorageElement({ listing: false });
  const emu = createRucioEmulator();
  const work = mkdtempSync(join(tmpdir(), 'dlaas-bench-up-'));
  const started = performance.now();
  try {
    const rucioUrl = await emu.listen();
    const rootToken = emu.issueToken('root'); // root is an admin: it may set replicas AVAILABLE
    emu.addScope('bench', 'root');
    emu.addRse('XRD', { lfn2pfnAlgorithm: 'identity', protocols: [{ scheme: 'http', hostname: 'localhost', port: se.port, prefix: '/rucio/' }] });
    const storageToken = await se.mintToken({ scope: 'storage.read:/ storage.create:/ storage.modify:/', expiresIn: 3600 });
    const total = quick ? 256 * MiB : 1024 * MiB;
    const small = 16 * MiB;
    const sets = [
      { key: 'one', label: `1 file × ${total / MiB} MiB`, files: [{ name: 'big.bin', bytes: total }] },
      { key: 'many', label: `${total / small} files × ${small / MiB} MiB`, files: Array.from({ length: total / small }, (_, i) => ({ name: `part_${String(i).padStart(3, '0')}.bin`, bytes: small })) },
    ];
    for (const set of sets) {
      set.dir = join(work, set.key);
      mkdirSync(set.dir);
      for (const [i, f] of set.files.entries()) {
        f.path = join(set.dir, f.name);
        writeFileSync(f.path, content(f.bytes, 0x85ebca6b ^ (i + 1) ^ (set.key.length << 20)));
      }
    }
    const concurrency = 4; // both clients (the SDK's upload default is 2)
    const reps = quick ? 1 : 3;
    const figures = [];
    for (const set of sets) {
      const t = { sdk: [], curl: [], steps: [], rss: [] };
      let uses = {};
      const failures = [];
      const one = async (who, i, tag) => {
        if (who === 'sdk') {
          const prefix = `${tag}-`;
          const { out } = await wall(process.execPath, [`${here}fixtures/stage-upload.mjs`, rucioUrl, rootToken, storageToken, 'bench', 'XRD', String(concurrency), prefix, ...set.files.map((f) => f.path)]);
          const r = JSON.parse(out);
          if (r.files !== set.files.length || r.bytes !== total) throw new Error(`SDK uploaded ${r.files} files, ${r.bytes} bytes`);
          for (const f of set.files) if (statSync(se.hostPath(`/rucio/bench/${prefix}${f.name}`)).size !== f.bytes) throw new Error(`SDK upload of ${f.name}: wrong size on the storage`);
          t.sdk[i] = r.seconds;
          t.steps[i] = r.steps;
          t.rss[i] = r.peakRssMiB;
          uses = r.uses;
        } else {
          const dest = `curl/${tag}`;
          const args = ['-s', '--no-progress-meter', '-f', '-o', '/dev/null', '--parallel', '--parallel-immediate', '--parallel-max', String(concurrency), '-H', `Authorization: Bearer ${storageToken}`];
          for (const f of set.files) args.push('-T', f.path, `${se.httpUrl}rucio/${dest}/${f.name}`);
          const { seconds } = await wall('curl', args);
          for (const f of set.files) if (statSync(se.hostPath(`/rucio/${dest}/${f.name}`)).size !== f.bytes) throw new Error(`curl upload of ${f.name}: wrong size on the storage`);
          t.curl[i] = seconds;
        }
      };
      for (let i = 0; i < reps; i++) {
        for (const who of i % 2 ? ['sdk', 'curl'] : ['curl', 'sdk']) {
          // A failed try is run again once, under new names (its leftovers stay out of the way).
          await twice(async (attempt) => {
            try {
              await one(who, i, `${set.key}-${i}${attempt > 1 ? `-try${attempt}` : ''}`);
            } finally {
              se.clear(); // keep the storage's disk use to one run
            }
          }, failures);
        }
      }
      const mbs = (m) => Math.round(total / 1e6 / m);
      // Time per step (summed over files and divided by the concurrency in use), median over runs.
      const lanes = Math.min(concurrency, set.files.length);
      const steps = t.steps.filter(Boolean);
      const stepNote = Object.keys(steps[0] ?? {})
        .map((k) => `${k} ${(median(steps.map((s) => s[k] ?? 0)) / lanes).toFixed(2)} s`)
        .join(', ');
      const rss = present(t.rss);
      figures.push(
        figure(`verified upload (SDK), ${set.label}`, t.sdk, {
          unit: 'MB/s',
          as: mbs,
          note: (m) => notes(`wall ${m.toFixed(2)} s (upload() call; node start excluded)`, `per step (÷ ${lanes} lanes): ${stepNote}`, rss.length ? `peak RSS ${median(rss).toFixed(0)} MiB` : ''),
        }),
        figure(`curl -T, ${set.label}`, t.curl, { unit: 'MB/s', as: mbs, note: (m) => `wall ${m.toFixed(2)} s` }),
        figure(`upload wall SDK / curl -T, ${set.label}`, pairRatios(t.sdk, t.curl), { unit: '×', goal: '≤ 1.35', note: () => notes(usesNote(uses), failuresNote(failures)) }),
      );
    }
    figures.push({ figure: 'upload: storage element used', median: null, spread: 0, unit: '', note: `XRootD ${se.version} (XrdHttp, plain-HTTP port, WLCG token with storage.create/modify), concurrency ${concurrency}, source files in ${tmpdir()}; time taken ${((performance.now() - started) / 1000).toFixed(0)} s` });
    return figures;
  } finally {
    await emu.close();
    await se.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

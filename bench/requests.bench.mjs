// Request economy: how many requests staging N files of one dataset makes to Rucio (the emulator's
// request log), in download mode and in replica mode (rule polls counted apart). Deterministic.
import { createDataLake, memorySink } from 'dlaas';
import { createDataLakeEmulator } from 'dlaas/testing';

async function stageOnce(n, mode) {
  const emu = await createDataLakeEmulator({ rucio: { transferDelayMs: 0 } });
  try {
    const token = emu.addUser({ account: 'jdoe', email: 'jdoe@example.org', admin: true });
    await emu.seedDataset({ scope: 'user.jdoe', name: 'survey', rse: 'SITE_A', files: Array.from({ length: n }, (_, i) => ({ name: `f_${String(i).padStart(5, '0')}.fits`, content: `file ${i}` })) });
    const lake = createDataLake({
      rucio: { baseUrl: emu.url, account: 'jdoe' },
      auth: { token, storageToken: await emu.mintStorageToken() },
      staging: { destinationRse: 'SITE_B', rseMountPath: '/mnt/site_b', pathBeginsAt: 3 },
      fetch: emu.fetch,
    });
    emu.rucio.resetLog();
    const r = await lake.staging.stage(['user.jdoe:survey'], mode === 'download' ? { mode, sink: memorySink(), concurrency: 16 } : { mode, pollInterval: 20 });
    if (r.totals.ok !== n) throw new Error(`${mode}: ${r.totals.ok} of ${n} files staged`);
    const calls = emu.rucio.requests.map((q) => `${q.method} ${q.path}`);
    const polls = calls.filter((c) => /^GET \/rules\/[0-9a-f]{32}$/.test(c)).length;
    return { total: calls.length, polls, calls };
  } finally {
    await emu.close();
  }
}

export default async function requests({ quick = false } = {}) {
  const n = quick ? 2_000 : 10_000;
  const budget = Math.ceil(n / 500) + 3;
  const figures = [];
  const d = await stageOnce(n, 'download');
  figures.push({ figure: `Rucio requests to stage ${n.toLocaleString('en')} files (download mode)`, median: d.total, spread: 0, unit: 'requests', goal: `≤ ${budget}`, note: summarize(d.calls) });
  const r = await stageOnce(n, 'replica');
  figures.push({ figure: `Rucio requests to stage ${n.toLocaleString('en')} files (replica mode), without rule polls`, median: r.total - r.polls, spread: 0, unit: 'requests', goal: `≤ ${budget} + polls`, note: `${r.polls} rule polls; ${summarize(r.calls)}` });
  return figures;
}

function summarize(calls) {
  const counts = new Map();
  for (const c of calls) {
    const key = c.replace(/[0-9a-f]{32}/g, '{id}');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, v]) => `${v}× ${k}`).join(', ');
}

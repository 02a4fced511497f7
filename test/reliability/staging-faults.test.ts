/**
 * "Nothing lost": downloads and uploads through the fault proxy in front of the emulated Data Lake
 * (catalogue and storage elements in step).
 *
 * - A download with corrupt or missing bytes is detected by size/checksum and retried from another
 *   replica or resumed; the final path never holds a partial or corrupt file (Node file sink).
 * - An interrupted upload leaves no replica AVAILABLE and no `.rucio.upload` object; a re-run completes it.
 * - Replica registration and rule creation are never blindly repeated.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDataLake, parseDid, type DataLake, type Did, type FileManifest, type StageEvent } from '../../src/index.js';
import { fileSink } from '../../src/node.js';
import { serveFetch, type FetchServer } from '../../src/testing/http-server.js';
import type { Fault, Matcher } from '../support/fault-proxy.js';
import { TOKEN_MARK, expireOnServer, fakeTokenProvider, noise, startProxiedLake, type ProxiedLake } from '../support/reliability-lake.js';
import { useLedger } from '../support/reliability-ledger.js';

let lake: ProxiedLake;
let pool: FetchServer;
const poolRequests: Record<string, string>[] = [];
let dl: DataLake;
let tokens: ReturnType<typeof fakeTokenProvider>;
const dirs: string[] = [];
/** name → content of every seeded file. */
const content = new Map<string, Uint8Array>();
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

const ledger = useLedger(import.meta.url, (l) => {
  l.data.faults += lake.proxy.stats.faults;
  for (const e of lake.proxy.log) l.scanText(e.target, `request URL ${e.method}`);
  // What reached the storage pool on another origin: no credentials may have followed the redirect.
  for (const h of poolRequests) l.scanText(JSON.stringify(h), 'request headers at the other origin');
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dlaas-rel-'));
  dirs.push(d);
  return d;
}

/** Seed a dataset of `n` files of `size` bytes on both RSEs. */
async function seed(name: string, n: number, size: number): Promise<Did> {
  const files = Array.from({ length: n }, (_, i) => {
    const data = noise(size + i, name.length * 1000 + i);
    const file = `${name}_f${i}`;
    content.set(file, data);
    return { name: file, content: data };
  });
  await lake.emu.seedDataset({ scope: 'user.jdoe', name, rses: ['SITE_A', 'SITE_B'], files });
  return parseDid(`user.jdoe:${name}`);
}

/**
 * Stage into a fresh directory and account for every file: each is OK with verified checksums and
 * the right bytes at its final path, or FAILED with a reason and nothing at its final path.
 */
async function stageAndAccount(did: Did, names: string[], o: { dir?: string; stallTimeout?: number; events?: StageEvent[]; signal?: AbortSignal } = {}) {
  const dir = o.dir ?? tempDir();
  const events = o.events ?? [];
  const result = await dl.staging.stage([did], { mode: 'download', sink: fileSink(dir), preferRses: ['SITE_A', 'SITE_B'], attemptsPerSource: 2, ...(o.stallTimeout ? { stallTimeout: o.stallTimeout } : {}), ...(o.signal ? { signal: o.signal } : {}), onProgress: (e) => events.push(e) });
  for (const e of events) ledger.capture(e, 'progress event');
  ledger.capture(result, 'stage result');
  const byName = new Map(result.files.map((f) => [f.did?.name, f]));
  let lost = 0;
  for (const name of names) {
    const m = byName.get(name);
    const final = join(dir, 'user.jdoe', name);
    if (!m) {
      lost++;
      continue;
    }
    if (m.status === 'OK') {
      const ok = existsSync(final) && md5(readFileSync(final)) === md5(content.get(name) as Uint8Array) && m.verified.includes('adler32');
      if (ok) ledger.data.filesVerified++;
      else lost++;
    } else {
      // Reported failed with a reason, and nothing (partial or corrupt) at the final path.
      if (!m.error?.message || existsSync(final)) lost++;
    }
  }
  ledger.data.filesLost += lost;
  expect(lost, 'files lost').toBe(0);
  expect(result.files).toHaveLength(names.length);
  return { result, byName, dir };
}

beforeAll(async () => {
  lake = await startProxiedLake();
  lake.emu.addUser({ account: 'jdoe', admin: true });
  ledger.secret(TOKEN_MARK);
  tokens = fakeTokenProvider(lake.emu, 'jdoe');
  dl = createDataLake({ rucio: { baseUrl: lake.url, account: 'jdoe', retry: { baseDelay: 20, limit: 3 }, timeout: 30_000 }, auth: { token: tokens.provider } });
  // A storage "pool" on another origin (like a dCache door redirecting to a pool node).
  pool = await serveFetch(async (request) => {
    poolRequests.push(Object.fromEntries(request.headers));
    const name = new URL(request.url).pathname.split('/').pop() as string;
    const data = content.get(name);
    return data ? new Response(data.slice(), { headers: { 'content-length': String(data.byteLength) } }) : new Response('no', { status: 404 });
  });
});
afterEach(() => lake.proxy.clear());
afterAll(async () => {
  await pool?.close();
  await lake?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const storageGet = (name: string, rse?: 'site_a' | 'site_b') => ({ method: 'GET', test: (r: { path: string }) => r.path.endsWith(`/${name}`) && r.path.startsWith(rse ? `/storage/${rse}/` : '/storage/') });

describe('downloads: corrupt or missing bytes are detected, retried elsewhere or resumed; nothing partial at the final path', () => {
  it('reset mid-body: the next try resumes with Range from the bytes already here', async () => {
    ledger.scenario();
    const did = await seed('d_reset', 3, 40_000);
    lake.proxy.inject({ match: storageGet('d_reset_f1', 'site_a'), fault: { kind: 'reset-body', afterBytes: 15_000 } });
    const { byName } = await stageAndAccount(did, ['d_reset_f0', 'd_reset_f1', 'd_reset_f2']);
    expect(byName.get('d_reset_f1')).toMatchObject({ status: 'OK', attempts: 2 });
    expect(lake.proxy.log.some((e) => e.target.endsWith('/d_reset_f1') && /^bytes=\d+-$/.test(String(e.headers.range ?? '')))).toBe(true);
  });

  it('truncated body with a correct-looking status (closed before Content-Length): resumed', async () => {
    ledger.scenario();
    const did = await seed('d_trunc', 2, 30_000);
    lake.proxy.inject({ match: storageGet('d_trunc_f0'), fault: { kind: 'truncate', afterBytes: 10_000, framing: 'length' } });
    lake.proxy.inject({ match: storageGet('d_trunc_f1'), fault: { kind: 'truncate', afterBytes: 100, framing: 'chunked' } });
    const { result } = await stageAndAccount(did, ['d_trunc_f0', 'd_trunc_f1']);
    expect(result.totals.ok).toBe(2);
  });

  it('missing bytes behind a consistent but short Content-Length (a lying server): caught as short of the catalogue size, the rest fetched with Range, verified', async () => {
    ledger.scenario();
    const did = await seed('d_short', 1, 20_000);
    lake.proxy.inject({ match: storageGet('d_short_f0', 'site_a'), fault: { kind: 'truncate', afterBytes: 12_345, framing: 'short-length' }, times: Infinity });
    const { byName } = await stageAndAccount(did, ['d_short_f0']);
    // The short body is not taken for the file: the next try asks for the missing bytes, and the
    // whole file is verified by size and adler32 (a replica that keeps lying fails verification).
    expect(byName.get('d_short_f0')).toMatchObject({ status: 'OK', attempts: 2, verified: ['size', 'adler32'] });
  });

  it('corrupted bytes from one replica: checksum mismatch, the other replica is used; corrupt bytes are never kept', async () => {
    ledger.scenario();
    const did = await seed('d_corrupt', 2, 25_000);
    lake.proxy.inject({ match: storageGet('d_corrupt_f0', 'site_a'), fault: { kind: 'corrupt', offset: 7 }, times: Infinity });
    const { byName } = await stageAndAccount(did, ['d_corrupt_f0', 'd_corrupt_f1']);
    expect(byName.get('d_corrupt_f0')?.sourcePfn).toContain('/storage/site_b/');
    expect(byName.get('d_corrupt_f1')?.sourcePfn).toContain('/storage/site_a/');
  });

  it('corrupt on every replica: FAILED with a checksum reason, nothing at the final path, no partial kept', async () => {
    ledger.scenario();
    const did = await seed('d_allbad', 1, 10_000);
    lake.proxy.inject({ match: storageGet('d_allbad_f0'), fault: { kind: 'corrupt' }, times: Infinity });
    const { byName, dir } = await stageAndAccount(did, ['d_allbad_f0']);
    const m = byName.get('d_allbad_f0') as FileManifest;
    expect(m.status).toBe('FAILED');
    expect(m.error?.code).toBe('DLAAS_CHECKSUM_MISMATCH');
    expect(existsSync(join(dir, 'user.jdoe', 'd_allbad_f0'))).toBe(false);
    expect(existsSync(join(dir, 'user.jdoe', 'd_allbad_f0.part'))).toBe(false);
  });

  it('a stall mid-body longer than stallTimeout: abandoned and resumed, never a hang', async () => {
    ledger.scenario();
    const did = await seed('d_stall', 1, 30_000);
    // The stall never ends by itself (the proxy holds it until the client leaves), and storage bodies
    // have no other timeout: only the stall watchdog can abandon it, so the second attempt (a resume
    // with Range) is the proof, and a broken watchdog would time the test out. 1 s: a busy machine
    // does not mistake a healthy stream for a stalled one. And it is stallTimeout that fires, not the
    // 60 s default: past a generous 30 s the run is aborted (an AbortError, so the test fails).
    lake.proxy.inject({ match: storageGet('d_stall_f0', 'site_a'), fault: { kind: 'stall', phase: 'body', afterBytes: 8_000 } });
    const { byName } = await stageAndAccount(did, ['d_stall_f0'], { stallTimeout: 1_000, signal: AbortSignal.timeout(30_000) });
    expect(byName.get('d_stall_f0')).toMatchObject({ status: 'OK', attempts: 2 });
    const gets = lake.proxy.log.filter((e) => e.method === 'GET' && e.target.endsWith('/d_stall_f0'));
    expect(gets.map((e) => e.fault)).toEqual(['stall', undefined]);
    expect(String(gets[1]?.headers.range ?? '')).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('5xx bursts and resets before the headers on storage: retried by the transport', async () => {
    ledger.scenario();
    const did = await seed('d_5xx', 2, 5_000);
    lake.proxy.inject({ match: storageGet('d_5xx_f0'), fault: { kind: 'status', status: 503, headers: { 'Retry-After': '0' } }, times: 2 });
    lake.proxy.inject({ match: storageGet('d_5xx_f1'), fault: { kind: 'reset' }, times: 2 });
    const { result } = await stageAndAccount(did, ['d_5xx_f0', 'd_5xx_f1']);
    expect(result.totals.ok).toBe(2);
  });

  it('the storage token expires mid-run (401 on a GET): refreshed once, the download completes', async () => {
    ledger.scenario();
    const did = await seed('d_401', 2, 5_000);
    const loads = tokens.loads;
    expireOnServer(lake.emu, tokens.issued.at(-1) as string);
    const { result } = await stageAndAccount(did, ['d_401_f0', 'd_401_f1']);
    expect(result.totals.ok).toBe(2);
    expect(tokens.loads).toBe(loads + 1);
  });

  it('one replica missing (404) or refusing (403): the other one is used', async () => {
    ledger.scenario();
    const did = await seed('d_404', 2, 5_000);
    lake.proxy.inject({ match: storageGet('d_404_f0', 'site_a'), fault: { kind: 'status', status: 404 }, times: Infinity });
    lake.proxy.inject({ match: storageGet('d_404_f1', 'site_a'), fault: { kind: 'status', status: 403, body: 'Unable to open; permission denied' }, times: Infinity });
    const { byName } = await stageAndAccount(did, ['d_404_f0', 'd_404_f1']);
    expect(byName.get('d_404_f0')?.sourcePfn).toContain('/storage/site_b/');
    expect(byName.get('d_404_f1')?.sourcePfn).toContain('/storage/site_b/');
  });

  it('every source unreachable: FAILED with a reason, the partial kept aside (never at the final path); the next run resumes and completes', async () => {
    ledger.scenario();
    const did = await seed('d_down', 1, 50_000);
    const dir = tempDir();
    lake.proxy.inject({ match: storageGet('d_down_f0'), fault: { kind: 'reset-body', afterBytes: 20_000 } });
    lake.proxy.inject({ match: storageGet('d_down_f0'), fault: { kind: 'reset' }, times: Infinity });
    const first = await stageAndAccount(did, ['d_down_f0'], { dir });
    expect(first.byName.get('d_down_f0')?.status).toBe('FAILED');
    expect(existsSync(join(dir, 'user.jdoe', 'd_down_f0'))).toBe(false);
    lake.proxy.clear();
    const second = await stageAndAccount(did, ['d_down_f0'], { dir });
    expect(second.byName.get('d_down_f0')?.status).toBe('OK');
    // Resumed: the second run asked for the rest only.
    expect(lake.proxy.log.filter((e) => e.target.endsWith('/d_down_f0')).at(-1)?.headers.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('a redirect to a storage pool on another origin: followed without the bearer token', async () => {
    ledger.scenario();
    const did = await seed('d_redirect', 1, 8_000);
    poolRequests.length = 0;
    lake.proxy.inject({ match: storageGet('d_redirect_f0', 'site_a'), fault: { kind: 'redirect', status: 302, location: `${pool.url}/pool/d_redirect_f0` } });
    const { byName } = await stageAndAccount(did, ['d_redirect_f0']);
    expect(byName.get('d_redirect_f0')?.status).toBe('OK');
    expect(poolRequests).toHaveLength(1);
    expect(Object.keys(poolRequests[0] as object)).not.toContain('authorization');
  });

  it('random faults on every storage request (30%): every file verified or reported failed with a reason', async () => {
    ledger.scenario();
    const did = await seed('d_chaos', 40, 6_000);
    const faults: Fault[] = [
      { kind: 'status', status: 503 },
      { kind: 'status', status: 502 },
      { kind: 'reset' },
      { kind: 'reset-body', afterBytes: 2_000 },
      { kind: 'truncate', afterBytes: 3_000, framing: 'length' },
      { kind: 'truncate', afterBytes: 3_000, framing: 'short-length' },
      { kind: 'corrupt' },
      { kind: 'stall', phase: 'body', afterBytes: 1_000, ms: 5_000 },
    ];
    lake.proxy.chaos({ rate: 0.3, faults, match: { method: 'GET', path: '/storage/' }, seed: 42 });
    const names = Array.from({ length: 40 }, (_, i) => `d_chaos_f${i}`);
    // A stall (5 s) outlasts stallTimeout (1 s), which a busy machine does not reach on a healthy stream.
    const { result } = await stageAndAccount(did, names, { stallTimeout: 1_000 });
    ledger.note(`download chaos (30% faults on storage GETs): ${result.totals.ok}/40 verified on the first run`);
    expect(result.totals.ok).toBeGreaterThan(30);
  });
});

describe('uploads: an interrupted upload leaves nothing AVAILABLE and no .rucio.upload; a re-run completes it', () => {
  let n = 0;
  const upload = (name: string, data: Uint8Array) => dl.staging.upload([{ name, data }], { scope: 'user.jdoe', rse: 'SITE_B' });
  const replicaState = (name: string) => [...lake.emu.rucio.fileReplicas()].find((r) => r.did.scope === 'user.jdoe' && r.did.name === name && r.rse === 'SITE_B')?.state;
  const orphans = () => [...(lake.emu.storage.get('SITE_B')?.list() ?? [])].filter((p) => p.endsWith('.rucio.upload'));
  const stored = (name: string) => {
    const path = [...(lake.emu.storage.get('SITE_B')?.list() ?? [])].find((p) => p.endsWith(`/${name}`));
    return path ? lake.emu.storage.get('SITE_B')?.get(path) : undefined;
  };

  /** Upload with a fault; check the failure leaves nothing half-done; re-run; check it is complete. */
  async function interrupted(label: string, fault: (name: string) => { match: Matcher; fault: Fault; times?: number }, expectStep?: string) {
    ledger.scenario();
    const name = `up_${++n}_${label}`;
    const data = noise(20_000 + n, n);
    const f = fault(name);
    lake.proxy.inject({ match: f.match, fault: f.fault, times: f.times ?? 1 });
    const first = await upload(name, data);
    ledger.capture(first, 'upload result');
    const m = first.files[0];
    if (m?.status === 'FAILED') {
      expect(m.error?.message, 'a failed upload says why').toBeTruthy();
      if (expectStep) expect(m.step).toBe(expectStep);
      expect(replicaState(name)).not.toBe('AVAILABLE');
    }
    expect(orphans()).toEqual([]);
    lake.proxy.clear();
    const second = await upload(name, data);
    ledger.capture(second, 'upload result');
    expect(second.ok).toBe(true);
    expect(replicaState(name)).toBe('AVAILABLE');
    expect(orphans()).toEqual([]);
    const bytes = stored(name);
    const ok = !!bytes && md5(bytes) === md5(data);
    if (ok) ledger.data.filesVerified++;
    else ledger.data.filesLost++;
    expect(ok).toBe(true);
    return { first, second };
  }

  // The temporary object's name has a private random part: <name>.<8 hex>.rucio.upload.
  const onName = (name: string, method: string, suffix = '') => ({
    method,
    test: (r: { path: string }) => (suffix === '.rucio.upload' ? new RegExp(`/${name}\\.[0-9a-f]{8}\\.rucio\\.upload$`).test(r.path) : r.path.endsWith(`/${name}${suffix}`)),
  });

  it('PUT of the temporary object fails (resets through every retry)', async () => {
    const { first } = await interrupted('put', (name) => ({ match: onName(name, 'PUT', '.rucio.upload'), fault: { kind: 'reset' }, times: 4 }), 'transfer');
    expect(first.files[0]?.status).toBe('FAILED');
  });

  it('the bytes are corrupted on the way to storage: caught at verify, temporary object removed', async () => {
    const { first } = await interrupted('corrupt', (name) => ({ match: onName(name, 'PUT', '.rucio.upload'), fault: { kind: 'corrupt-request' } }), 'verify');
    expect(first.files[0]?.error?.code).toBe('DLAAS_CHECKSUM_MISMATCH');
  });

  it('the MOVE happens but its answer is lost', async () => {
    const { first } = await interrupted('move', (name) => ({ match: onName(name, 'MOVE', '.rucio.upload'), fault: { kind: 'reset', forward: true } }), 'rename');
    expect(first.files[0]?.status).toBe('FAILED');
  });

  it('setting the replica AVAILABLE fails (503 through every retry)', async () => {
    const { first } = await interrupted('available', () => ({ match: { method: 'PUT', path: '/replicas' }, fault: { kind: 'status', status: 503 }, times: 4 }), 'set-available');
    expect(first.files[0]?.status).toBe('FAILED');
  });

  it('the storage token expires mid-upload (401 on the PUT): refreshed, the upload completes at once', async () => {
    const { first } = await interrupted('token', (name) => ({ match: onName(name, 'PUT', '.rucio.upload'), fault: { kind: 'status', status: 401 } }));
    expect(first.ok).toBe(true);
  });

  it('replica registration answer lost (POST /replicas reset after the server acted): registered once, not re-sent blindly', async () => {
    const before = lake.proxy.count({ method: 'POST', path: /^\/replicas$/ });
    const { first } = await interrupted('register', () => ({ match: { method: 'POST', path: /^\/replicas$/ }, fault: { kind: 'reset', forward: true } }));
    expect(first.ok).toBe(true);
    // One registration POST in the first run (the catalogue was read instead of re-sending), none in the re-run (SKIPPED).
    expect(lake.proxy.count({ method: 'POST', path: /^\/replicas$/ }) - before).toBe(1);
  });

  it('replica registration delivered twice: the Duplicate answer is taken as registered', async () => {
    const { first } = await interrupted('dupreg', () => ({ match: { method: 'POST', path: /^\/replicas$/ }, fault: { kind: 'duplicate' } }));
    expect(first.ok).toBe(true);
  });

  it('random faults on every request of 20 uploads (15%): failures say why and leave nothing AVAILABLE; re-runs complete all', async () => {
    ledger.scenario();
    const files = Array.from({ length: 20 }, (_, i) => ({ name: `up_chaos_${i}`, data: noise(3_000 + i * 7, 900 + i) }));
    const faults: Fault[] = [{ kind: 'status', status: 503 }, { kind: 'status', status: 504, forward: true }, { kind: 'reset' }, { kind: 'reset', forward: true }, { kind: 'duplicate' }, { kind: 'corrupt-request' }, { kind: 'truncate', afterBytes: 3, framing: 'length' }];
    // Not the request that creates the dataset: its failure fails the whole run (a typed error, tested elsewhere).
    lake.proxy.chaos({ rate: 0.15, faults, seed: 7, match: { test: (r) => !r.path.startsWith('/rses/') } });
    let runs = 0;
    let pending = files;
    while (pending.length && runs < 6) {
      runs++;
      if (runs === 5) lake.proxy.chaos(undefined);
      const res = await dl.staging.upload(pending, { scope: 'user.jdoe', rse: 'SITE_B', concurrency: 4 });
      ledger.capture(res, 'upload result');
      for (const m of res.files) {
        if (m.status === 'FAILED') {
          expect(m.error?.message).toBeTruthy();
          expect(replicaState(m.did.name), `${m.did.name} failed at ${m.step} but is AVAILABLE`).not.toBe('AVAILABLE');
        }
      }
      pending = pending.filter((f) => res.files.find((m) => m.did.name === f.name)?.status === 'FAILED');
    }
    lake.proxy.chaos(undefined);
    ledger.note(`upload chaos (15% faults on every request): complete after ${runs} run(s)`);
    expect(pending).toEqual([]);
    expect(orphans()).toEqual([]);
    for (const f of files) {
      expect(replicaState(f.name)).toBe('AVAILABLE');
      const bytes = stored(f.name);
      if (bytes && md5(bytes) === md5(f.data)) ledger.data.filesVerified++;
      else ledger.data.filesLost++;
    }
  });
});

describe('replica mode: rule creation through faults never makes two rules', () => {
  it('the POST /rules/ answer is lost: staging recovers in the same run (rules.ensure), one rule; a re-run reuses it', async () => {
    ledger.scenario();
    const did = await seed('r_lost', 2, 1_000);
    const sdk = createDataLake({ rucio: { baseUrl: lake.url, account: 'jdoe', retry: { baseDelay: 20, limit: 3 } }, auth: { token: tokens.provider }, staging: { destinationRse: 'SITE_B', rseMountPath: '/mnt/site_b', pathBeginsAt: 3 } });
    lake.proxy.inject({ match: { method: 'POST', path: '/rules/' }, fault: { kind: 'reset', forward: true } });
    const first = await sdk.staging.stage([did], { mode: 'replica', wait: false }).then(
      (r) => r,
      (e: unknown) => e,
    );
    ledger.capture(first, 'replica-mode result');
    expect(first).not.toBeInstanceOf(Error);
    expect((first as { rules: unknown[] }).rules).toHaveLength(1);
    const second = await sdk.staging.stage([did], { mode: 'replica', wait: false });
    const store = (lake.emu.rucio as unknown as { store: { rules: Map<string, { scope: string; name: string }> } }).store;
    const rules = [...store.rules.values()].filter((r) => r.scope === did.scope && r.name === did.name);
    ledger.data.duplicateRules += Math.max(0, rules.length - 1);
    expect(rules).toHaveLength(1);
    expect(second.rules).toMatchObject([{ id: (first as { rules: { id: string }[] }).rules[0]?.id, created: false }]);
  });
});

/**
 * The `dlaas` bin (dist/cli.js, as npm installs it) run against the embedded local Data Lake: every
 * command, its `--json` output, the exit codes (0 ok, 1 failed, 2 usage, 3 config, 4 auth, 5 remote),
 * bad arguments, and that no output ever shows a token.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/core/version.js';
import { lfn2pathHash } from '../../src/rucio/lfn2pfn.js';
import { startLocalLake, type LocalLake } from '../../scripts/lib/local-lake.ts';
import { requireBuild, root, runNode, start, type Finished } from '../examples/helpers.ts';

const bin = join(root, 'dist', 'cli.js');
let lake: LocalLake;
let work: string;
const outputs: string[] = [];

beforeAll(async () => {
  requireBuild();
  lake = await startLocalLake({ conveyorMs: 100 });
  work = mkdtempSync(join(tmpdir(), 'dlaas-cli-'));
});

afterAll(async () => {
  // Nothing the CLI printed, in any test, contained the token it was given.
  for (const o of outputs) expect(o).not.toContain(lake.token);
  await lake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The environment of a hub user (token), or of a laptop user (`{ token: false }`: log in first). */
function envOf(o: { token?: boolean; home?: string; extra?: Record<string, string> } = {}): Record<string, string> {
  return { ...lake.env(o.token === false ? {} : { RUCIO_ACCESS_TOKEN: lake.token }), HOME: o.home ?? work, ...o.extra };
}

async function dlaas(args: string[], env: Record<string, string> = envOf(), cwd = work): Promise<Finished> {
  const r = await runNode([bin, ...args], { env, cwd });
  outputs.push(r.stdout + r.stderr);
  return r;
}

const json = <T = unknown>(r: Finished): T => JSON.parse(r.stdout) as T;

describe('help, version, bad arguments (exit 2)', () => {
  it('--help lists every command; --version prints the version; no command is a usage error', async () => {
    const help = await dlaas(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['login', 'logout', 'whoami', 'basket ls', 'basket add', 'basket rm', 'ls', 'replicas', 'replicas declare-bad', 'rule add', 'rule show', 'rule wait', 'rule rm', 'stage', 'upload']) expect(help.stdout).toContain(`  ${c} `);
    expect(help.stdout).toMatch(/Exit status: 0 ok, 1 operation failed, 2 usage error, 3 configuration error, 4 authentication error, 5 remote failure/);
    const v = await dlaas(['--version']);
    expect([v.code, v.stdout.trim()]).toEqual([0, VERSION]);
    const none = await dlaas([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: dlaas COMMAND');
    const sub = await dlaas(['stage', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toMatch(/Usage: dlaas stage DID\.\.\. \| --basket/);
    expect(sub.stdout).toMatch(/--dest DIR +download into this directory/);
  });

  const bad: [string[], RegExp][] = [
    [['frobnicate'], /unknown command: frobnicate/],
    [['basket', 'frob'], /unknown subcommand: dlaas basket frob/],
    [['whoami', '--bogus'], /Unknown option '--bogus'/],
    [['whoami', 'extra'], /unexpected argument "extra"/],
    [['ls'], /missing argument/],
    [['ls', 'lofar:*', '--filter', 'no operator'], /--filter "no operator": expected KEY=VALUE/],
    [['ls', 'lofar:*', '--filter', 'run_number>abc'], /> needs a number/],
    [['ls', 'lofar:*', '--type', 'blob'], /--type must be one of/],
    [['replicas', 'not-a-did'], /"not-a-did" is not a DID/],
    [['replicas', 'declare-bad', 'lofar:L802012_3C196'], /--reason TEXT is required/],
    [['replicas', 'declare-bad', 'lofar:L802012_3C196', '--reason', 'x'], /--rse RSE is required with DIDs/],
    [['replicas', 'declare-bad', 'https://h/p', '--rse', 'CERN-EOS', '--reason', 'x'], /--rse goes with DIDs/],
    [['rule', 'add', 'lofar:L802012_3C196'], /--rse EXPRESSION is required/],
    [['rule', 'add', 'lofar:L802012_3C196', '--rse', 'CERN-EOS', '--copies', 'two'], /--copies must be an integer/],
    [['rule', 'show', 'not-a-rule-id'], /Invalid rule id/],
    [['stage'], /give DIDs to stage, or --basket/],
    [['stage', 'lofar:L802012_3C196', '--mode', 'fast'], /--mode must be replica or download/],
    [['upload', 'no-such-file.fits', '--scope', 'user.jdoe', '--rse', 'CERN-EOS'], /no-such-file\.fits: no such file/],
    [['upload', 'x.fits', '--rse', 'CERN-EOS'], /--scope SCOPE is required/],
    [['basket', 'rm', '--index', '0'], /--index must be a positive integer/],
    [['basket', 'add', '--item', '{not json'], /--item is not JSON/],
  ];
  it.each(bad)('dlaas %j → exit 2 with a usage message', async (args, message) => {
    const r = await dlaas(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^dlaas: usage error: /);
    expect(r.stderr).toMatch(/Usage: dlaas|Run `dlaas --help`/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('--json reports a usage error as JSON on stderr', async () => {
    const r = await dlaas(['--json', 'replicas', 'not-a-did']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: 'USAGE', exit: 2 } });
  });
});

describe('configuration (exit 3), authentication (exit 4), remote failures (exit 5)', () => {
  it('no Rucio configured → 3, naming RUCIO_BASE_URL; login without an issuer → 3', async () => {
    const r = await dlaas(['whoami'], { HOME: work, RUCIO_ACCESS_TOKEN: lake.token });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/RUCIO_BASE_URL/);
    const login = await dlaas(['login'], { HOME: work });
    expect(login.code).toBe(3);
    expect(login.stderr).toMatch(/OIDC_ISSUER/);
  });

  it('no token and no login → 4 with what to do; a refused token → 4 without showing it', async () => {
    const home = mkdtempSync(join(work, 'nologin-'));
    const r = await dlaas(['whoami'], envOf({ token: false, home }));
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/No access token found .*dlaas login/);
    const bad = `${lake.token.slice(0, -6)}AAAAAA`;
    const refused = await dlaas(['--json', 'whoami'], envOf({ extra: { RUCIO_ACCESS_TOKEN: bad } }));
    expect(refused.code).toBe(4);
    expect(JSON.parse(refused.stderr)).toMatchObject({ error: { code: 'DLAAS_UNAUTHENTICATED', exit: 4 } });
    expect(refused.stderr).not.toContain(bad);
  });

  it('a DID that does not exist → 1 (operation failed); an unreachable server → 5', async () => {
    const r = await dlaas(['--json', 'replicas', 'lofar:no-such-observation']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: 'DLAAS_NOT_FOUND', exit: 1 } });
    const dead = await dlaas(['whoami', '--host', 'http://127.0.0.1:9'], envOf());
    expect(dead.code).toBe(5);
    expect(dead.stderr).toMatch(/DLAAS|could not|connect/i);
  });
});

describe('login, whoami, logout', () => {
  it('logs in with the device flow, keeps the session 0600, uses it, and logs out', async () => {
    const home = mkdtempSync(join(work, 'home-'));
    const env = envOf({ token: false, home });
    const login = start([bin, 'login'], { env, cwd: work });
    const [, code] = await login.waitFor(/enter the code: ([A-Z]{4}-[A-Z]{4})/);
    expect(login.stderr).toMatch(new RegExp(`To sign in, open ${lake.issuer}/device and enter the code`));
    await lake.approve(code!);
    const r = await login.done;
    outputs.push(r.stdout + r.stderr);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Logged in at http:\/\/127\.0\.0\.1:\d+ as jdoe \(Rucio account jdoe\)/);
    const store = join(home, '.config', 'dlaas', 'tokens.json');
    expect(r.stdout).toContain(`Session kept in ${store} (mode 0600)`);
    expect(statSync(store).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, '.config', 'dlaas')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(home, '.config', 'dlaas'))).toEqual(['tokens.json']); // no temporary files left

    const who = await dlaas(['--json', 'whoami'], env);
    expect(who.code).toBe(0);
    expect(json(who)).toMatchObject({ account: 'jdoe', email: 'jdoe@escape.test', token_source: `dlaas login (${lake.issuer})`, token: { sub: 'jdoe', aud: ['rucio'], iss: lake.issuer } });
    // The stored session is used by every command.
    expect((await dlaas(['ls', 'lofar:*'], env)).stdout.trim()).toBe('lofar:L802012_3C196');

    const out = await dlaas(['logout'], env);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/Logged out/);
    expect(existsSync(store)).toBe(false);
    expect((await dlaas(['whoami'], env)).code).toBe(4);
  });

  it('a denied login → 4', async () => {
    const env = envOf({ token: false, home: mkdtempSync(join(work, 'deny-')) });
    const login = start([bin, 'login'], { env, cwd: work });
    const [, code] = await login.waitFor(/enter the code: ([A-Z]{4}-[A-Z]{4})/);
    await lake.op.denyDevice(code!);
    const r = await login.done;
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/access_denied/);
  });

  it('whoami with the hub token: account and token claims, as text and JSON', async () => {
    const text = await dlaas(['whoami']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/account +jdoe \(USER\)/);
    expect(text.stdout).toMatch(/token +env:RUCIO_ACCESS_TOKEN; sub jdoe, aud rucio/);
    expect(text.stdout).toMatch(/storage +token: fallback: the Rucio token/);
    expect(json(await dlaas(['whoami', '--json']))).toMatchObject({ account: 'jdoe', token_source: 'env:RUCIO_ACCESS_TOKEN', storage_token_source: 'fallback: the Rucio token', rucio: lake.url });
  });
});

describe('basket ls | add | rm', () => {
  it('lists, adds (checked in Rucio, typed as the GUI stores it), removes', async () => {
    const ls = await dlaas(['basket', 'ls', '--json']);
    expect(ls.code).toBe(0);
    const before = json<{ user: string; items: { index: number; archive: string; did?: string; access_url?: string }[] }>(ls);
    expect(before.user).toBe('jdoe');
    expect(before.items.map((i) => i.did ?? i.access_url)).toEqual(['lofar:L802012_3C196', `${lake.voUrl}/vo/lotss-dr2/3C196_cutout.fits`, `${lake.voUrl}/vo/lotss-dr2/3C196_rms.fits`]);
    expect((await dlaas(['basket', 'ls'])).stdout).toMatch(/1 +rucio +lofar:L802012_3C196 +DATASET/);

    const add = await dlaas(['basket', 'add', 'cms:Run2012B_DoubleMuParked_dimuon']);
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/Added 1 item\(s\); the basket has 4/);
    expect(lake.emulator.esap.basket('jdoe').at(-1)).toMatchObject({ archive: 'rucio', record: { scope: 'cms', name: 'Run2012B_DoubleMuParked_dimuon', did_type: 'DATASET' } });
    expect((await dlaas(['basket', 'add', 'cms:Run2012B_DoubleMuParked_dimuon'])).stdout).toMatch(/Added 0 item\(s\) \(the others were already there\); the basket has 4/);
    expect((await dlaas(['basket', 'add', 'cms:no-such-dataset'])).code).toBe(1);

    const rm = await dlaas(['basket', 'rm', 'cms:Run2012B_DoubleMuParked_dimuon', '--json']);
    expect(rm.code).toBe(0);
    expect(json(rm)).toMatchObject({ removed: 1, size: 3 });
    const again = await dlaas(['basket', 'rm', 'cms:Run2012B_DoubleMuParked_dimuon']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/is not in the basket/);
    expect((await dlaas(['basket', 'rm', '--index', '9'])).code).toBe(1);
    expect(lake.emulator.esap.basket('jdoe')).toHaveLength(3);
  });
});

describe('ls, replicas', () => {
  it('searches by pattern and metadata filters', async () => {
    expect((await dlaas(['ls', 'lofar:*'])).stdout.trim()).toBe('lofar:L802012_3C196');
    const hits = json<{ scope: string; name: string; did_type: string }[]>(await dlaas(['ls', 'cms:Run2012*', '--filter', 'datatype=NANOAOD', '--json']));
    expect(hits.map((h) => `${h.scope}:${h.name}`)).toEqual(['cms:Run2012B_DoubleMuParked_dimuon']);
    expect(json(await dlaas(['ls', 'cms:*', '--filter', 'datatype=AOD', '--json']))).toEqual([]);
    expect((await dlaas(['ls', 'lofar:*', '--filter', 'run_number>=802000,run_number<803000'])).stdout.trim()).toBe('lofar:L802012_3C196');
    expect((await dlaas(['ls', 'lofar:*', '--filter', 'run_number<800000'])).stdout.trim()).toBe('');
    const long = await dlaas(['ls', 'ATLAS_OD_EDU:*', '--long']);
    expect(long.stdout).toMatch(/ATLAS_OD_EDU:data16_13TeV_2lep +DATASET/);
  });

  it('lists replicas with RSE, state and PFN', async () => {
    const reps = json<{ name: string; rses: Record<string, { state: string; pfns: string[] }> }[]>(await dlaas(['replicas', 'lofar:L802012_3C196', '--rse', 'SARA-DCACHE', '--json']));
    expect(reps.map((r) => r.name).sort()).toEqual([0, 1, 2, 3].map((i) => `L802012_SB00${i}_uv.vis`));
    for (const r of reps) expect(r.rses['SARA-DCACHE']).toMatchObject({ state: 'AVAILABLE', pfns: [expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/storage\/sara-dcache\/rucio\/lofar\//)] });
    expect((await dlaas(['replicas', 'lofar:L802012_SB000_uv.vis'])).stdout).toMatch(/lofar:L802012_SB000_uv\.vis +9\.79 kB +8fd0acaf +SARA-DCACHE +AVAILABLE +http/);
  });
});

describe('replicas declare-bad: a corrupt replica found by stage, declared, no longer offered', () => {
  it('stage names the corrupt replica and how to declare it; jdoe may not declare bad (exit 4); root does; the replica is no longer listed', async () => {
    const did = { scope: 'user.jdoe', name: 'cli-corrupt.fits' };
    await lake.emulator.seedDataset({ scope: did.scope, name: 'cli-corrupt', rses: ['PIC-DCACHE', 'SARA-DCACHE'], files: [{ name: did.name, content: 'SIMPLE  = T the right bytes' }] });
    // PIC's copy rots (same size). Equal priorities: the listing orders PFNs by URL, so PIC's is read first.
    lake.emulator.storage.get('PIC-DCACHE')?.put(`/storage/pic-dcache/rucio/${await lfn2pathHash(did)}`, new TextEncoder().encode('SIMPLE  = T the wrong bytes'));
    const text = await dlaas(['stage', 'user.jdoe:cli-corrupt', '--mode', 'download', '--dest', join(work, 'corrupt-1'), '-q']);
    expect(text.code).toBe(0);
    expect(text.stderr).toContain('corrupt replica of user.jdoe:cli-corrupt.fits on PIC-DCACHE (adler32 mismatch); to declare it: dlaas replicas declare-bad user.jdoe:cli-corrupt.fits --rse PIC-DCACHE --reason "adler32 mismatch"');
    const staged = json<{ files: { did: string; status: string; corrupt_replicas?: { rse: string; check: string }[] }[] }>(await dlaas(['stage', 'user.jdoe:cli-corrupt', '--mode', 'download', '--dest', join(work, 'corrupt-2'), '--json']));
    expect(staged.files).toMatchObject([{ did: 'user.jdoe:cli-corrupt.fits', status: 'OK', corrupt_replicas: [{ rse: 'PIC-DCACHE', check: 'adler32' }] }]);

    const args = ['replicas', 'declare-bad', 'user.jdoe:cli-corrupt.fits', '--rse', 'PIC-DCACHE', '--reason', 'adler32 mismatch'];
    const denied = await dlaas(args);
    expect(denied.code).toBe(4);
    expect(denied.stderr).toMatch(/can not declare bad replicas in RSE PIC-DCACHE/);
    const asRoot = envOf({ extra: { RUCIO_ACCOUNT: 'root', RUCIO_ACCESS_TOKEN: lake.emulator.rucio.issueToken('root') } });
    const ok = await dlaas([...args, '--json'], asRoot);
    expect([ok.code, json(ok)]).toEqual([0, { declared_as: 'bad', replicas: 1, not_declared: {} }]);
    const listed = json<{ rses: Record<string, { state: string }> }[]>(await dlaas(['replicas', 'user.jdoe:cli-corrupt.fits', '--json']));
    expect(Object.keys(listed[0]!.rses)).toEqual(['SARA-DCACHE']);
    const all = json<{ rses: Record<string, { state: string }> }[]>(await dlaas(['replicas', 'user.jdoe:cli-corrupt.fits', '--all-states', '--json']));
    expect(all[0]!.rses['PIC-DCACHE']).toMatchObject({ state: 'BAD' });
    const again = await dlaas(args, asRoot);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain('not declared: PIC-DCACHE: user.jdoe:cli-corrupt.fits Already declared');
  });
});

describe('rule add | show | wait | rm | ls', () => {
  it('adds a rule, shows it, waits with a progress bar until OK, lists it, removes it', async () => {
    const add = await dlaas(['rule', 'add', 'ATLAS_OD_EDU:data16_13TeV_2lep', '--rse', 'PIC-DCACHE', '--lifetime', '3600', '--json']);
    expect(add.code).toBe(0);
    const [rule] = json<{ id: string; state: string; rse_expression: string }[]>(add);
    expect(rule).toMatchObject({ rse_expression: 'PIC-DCACHE' });
    const show = json<{ id: string; expires_at: string | null }>(await dlaas(['rule', 'show', rule!.id, '--json']));
    expect(show.id).toBe(rule!.id);
    expect(show.expires_at).not.toBeNull();
    const wait = await dlaas(['rule', 'wait', rule!.id, '--poll-interval', '50']);
    expect(wait.code).toBe(0);
    expect(wait.stdout).toMatch(new RegExp(`rule ${rule!.id} is OK \\(4 locks OK\\)`));
    expect(wait.stderr).toMatch(/rule [0-9a-f]{8} [█░]{24} 4\/4 locks \| OK/);
    expect((await dlaas(['rule', 'show', rule!.id])).stdout).toMatch(/state +OK\nlocks +4\/4 OK/);
    expect((await dlaas(['rule', 'ls', 'ATLAS_OD_EDU:data16_13TeV_2lep'])).stdout).toContain(rule!.id);
    expect((await dlaas(['rule', 'ls', '--json'])).stdout).toContain(rule!.id);
    const rm = await dlaas(['rule', 'rm', rule!.id]);
    expect(rm.code).toBe(0);
    expect(rm.stdout).toMatch(new RegExp(`Rule ${rule!.id} will expire at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC: Rucio deletes rules softly`));
  });

  it('rule add --wait follows the new rule to OK', async () => {
    const r = await dlaas(['rule', 'add', 'km3net:dac21_arca_tracks', '--rse', 'DESY-DCACHE', '--wait', '--poll-interval', '50']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/[0-9a-f]{32} +km3net:dac21_arca_tracks +DESY-DCACHE +OK +1\/1/);
  });
});

describe('rules that do not finish (a lake whose transfers wait)', () => {
  let still: LocalLake;
  beforeAll(async () => {
    still = await startLocalLake({ conveyorMs: 0 });
  });
  afterAll(() => still?.close());
  const env = () => ({ ...still.env({ RUCIO_ACCESS_TOKEN: still.token }), HOME: work });

  it('rule wait: exit 1 when the rule goes STUCK, and when the timeout passes', async () => {
    const [a] = json<{ id: string }[]>(await dlaas(['rule', 'add', 'cms:Run2012B_DoubleMuParked_dimuon', '--rse', 'DESY-DCACHE', '--json'], env()));
    const [b] = json<{ id: string }[]>(await dlaas(['rule', 'add', 'cta:dac21_gps_dl3', '--rse', 'DESY-DCACHE', '--json'], env()));
    still.emulator.failTransfers({ ruleId: a!.id });
    const stuck = await dlaas(['rule', 'wait', a!.id, '--poll-interval', '50'], env());
    expect(stuck.code).toBe(1);
    expect(stuck.stderr).toMatch(/is STUCK .*Run2012B_DoubleMuParked_dimuon_\d\.csv@DESY-DCACHE/);
    const timeout = await dlaas(['rule', 'wait', b!.id, '--timeout', '1', '--poll-interval', '100', '--json'], env());
    expect(timeout.code).toBe(1);
    expect(JSON.parse(timeout.stderr)).toMatchObject({ error: { code: 'FAILED', message: expect.stringMatching(/still REPLICATING after 1 s/), exit: 1 } });
  });
});

describe('stage', () => {
  it("replica mode (the environment's): a rule to the compute RSE, waited for, local paths on the mount", async () => {
    const r = await dlaas(['stage', 'lofar:L802012_3C196', '--poll-interval', '50']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/rule [0-9a-f]{8} [█░]{24} 4\/4 files \| OK/);
    expect(r.stdout).toMatch(/rule [0-9a-f]{32} \(lofar:L802012_3C196 → CERN-EOS\): OK/);
    expect(r.stdout).toContain('4/4 files AVAILABLE');
    const paths = [...r.stdout.matchAll(/(\/\S+\/lofar\/[0-9a-f]{2}\/[0-9a-f]{2}\/L802012_SB00\d_uv\.vis)/g)].map((m) => m[1]!);
    expect(paths).toHaveLength(4);
    for (const p of paths) expect(p.startsWith(lake.mountDir)).toBe(true);
  });

  it('--basket --mode download --dest: DIDs and access URLs, verified, into the directory (JSON manifest)', async () => {
    const dest = mkdtempSync(join(work, 'dest-'));
    const r = await dlaas(['stage', '--basket', '--mode', 'download', '--dest', dest, '--json']);
    expect(r.code).toBe(0);
    const m = json<{ status: string; totals: { files: number; ok: number }; files: { did: string | null; url: string | null; status: string; verified: string[]; path: string }[] }>(r);
    expect(m).toMatchObject({ status: 'AVAILABLE', totals: { files: 6, ok: 6 } });
    for (const f of m.files) {
      expect(f.path.startsWith(dest)).toBe(true);
      expect(existsSync(f.path)).toBe(true);
      if (f.did) expect(f.verified).toEqual(['size', 'adler32']);
    }
    expect(m.files.filter((f) => f.url).map((f) => f.path.split('/').pop()).sort()).toEqual(['3C196_cutout.fits', '3C196_rms.fits']);
  });

  it('--basket in replica mode stages the Rucio items and says which URL items it skipped', async () => {
    const r = await dlaas(['stage', '--basket', '--poll-interval', '50']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('2 basket item(s) with access URLs skipped in replica mode');
    expect(r.stdout).toMatch(/\(lofar:L802012_3C196 → CERN-EOS\): OK, reused/);
  });

  it('exit 1 when files cannot be staged', async () => {
    await lake.emulator.seedDataset({ scope: 'user.jdoe', name: 'ghost', files: [{ name: 'ghost_1.dat', content: 'no replica anywhere' }] });
    const r = await dlaas(['stage', 'user.jdoe:ghost', '--mode', 'download', '--dest', mkdtempSync(join(work, 'ghost-'))]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/user\.jdoe:ghost_1\.dat +NOT_AVAILABLE/);
    expect(r.stderr).toMatch(/staging ended NOT_AVAILABLE: 1 of 1 files not available/);
  });
});

describe('upload', () => {
  it('uploads files into a dataset with a rule; again: nothing to do', async () => {
    const dir = mkdtempSync(join(work, 'up-'));
    writeFileSync(join(dir, 'a.txt'), 'first result\n');
    writeFileSync(join(dir, 'b.txt'), 'second result\n');
    const r = await dlaas(['upload', 'a.txt', 'b.txt', '--scope', 'user.jdoe', '--rse', 'CERN-EOS', '--dataset', 'cli-results', '--json'], envOf(), dir);
    expect(r.code).toBe(0);
    const out = json<{ ok: boolean; dataset: string; rules: string[]; files: { did: string; status: string; adler32: string }[] }>(r);
    expect(out).toMatchObject({ ok: true, dataset: 'user.jdoe:cli-results' });
    expect(out.rules).toHaveLength(1);
    expect(out.files.map((f) => [f.did, f.status])).toEqual([
      ['user.jdoe:a.txt', 'OK'],
      ['user.jdoe:b.txt', 'OK'],
    ]);
    await lake.emulator.sync();
    expect(new TextDecoder().decode(lake.emulator.rucio.bytes('user.jdoe:b.txt', 'CERN-EOS'))).toBe('second result\n');
    const again = await dlaas(['upload', join(dir, 'a.txt'), '--scope', 'user.jdoe', '--rse', 'CERN-EOS', '--dataset', 'user.jdoe:cli-results']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/user\.jdoe:a\.txt +SKIPPED/);
    expect(again.stderr).toMatch(/upload [█░]{24} 1\/1 files \| a\.txt SKIPPED/);
  });

  it('an RSE that does not exist is a remote failure', async () => {
    const dir = mkdtempSync(join(work, 'up-bad-'));
    writeFileSync(join(dir, 'c.txt'), 'x');
    const r = await dlaas(['upload', 'c.txt', '--scope', 'user.jdoe', '--rse', 'NO-SUCH-RSE'], envOf(), dir);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/NO-SUCH-RSE/);
  });

  it('package.json `bin` points at dist/cli.js, which has its shebang', () => {
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin).toEqual({ dlaas: './dist/cli.js' });
  });
});

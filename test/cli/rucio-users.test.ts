/**
 * The CLI as Rucio users expect it (issue #16), against the embedded local Data Lake: Rucio errors
 * name what they are about, tokens and logins, input checks before any work, the verbs Rucio users
 * reach for, and output that says what is true.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalLake, type LocalLake } from '../../scripts/lib/local-lake.ts';
import { requireBuild, root, runNode, start, type Finished } from '../examples/helpers.ts';

const bin = join(root, 'dist', 'cli.js');
let lake: LocalLake;
let work: string;
const outputs: string[] = [];

beforeAll(async () => {
  requireBuild();
  lake = await startLocalLake({ conveyorMs: 100 });
  work = mkdtempSync(join(tmpdir(), 'dlaas-cli-users-'));
});

afterAll(async () => {
  for (const o of outputs) expect(o).not.toContain(lake.token);
  await lake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

function envOf(extra: Record<string, string> = {}, token = true): Record<string, string> {
  return { ...lake.env(token ? { RUCIO_ACCESS_TOKEN: lake.token } : {}), HOME: work, ...extra };
}

async function dlaas(args: string[], env: Record<string, string> = envOf(), cwd = work): Promise<Finished> {
  const r = await runNode([bin, ...args], { env, cwd });
  outputs.push(r.stdout + r.stderr);
  return r;
}

const json = <T = unknown>(r: Finished): T => JSON.parse(r.stdout) as T;

describe('Rucio errors name what they are about', () => {
  it('DuplicateRule names the existing rule (exit 1); InvalidRSEExpression names the expression (exit 2)', async () => {
    const [rule] = json<{ id: string }[]>(await dlaas(['rule', 'add', 'lofar:L802012_3C196', '--rse', 'PIC-DCACHE', '--json']));
    const dup = await dlaas(['rule', 'add', 'lofar:L802012_3C196', '--rse', 'PIC-DCACHE']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain(`the rule exists already (DuplicateRule) — lofar:L802012_3C196 on PIC-DCACHE: rule ${rule!.id} (`);
    expect(dup.stderr).toContain(`see \`dlaas rule show ${rule!.id}\``);
    const dupJson = await dlaas(['rule', 'add', 'lofar:L802012_3C196', '--rse', 'PIC-DCACHE', '--json']);
    expect(JSON.parse(dupJson.stderr)).toMatchObject({ error: { code: 'DLAAS_DUPLICATE', exit: 1, message: expect.stringContaining(rule!.id) } });
    const bad = await dlaas(['rule', 'add', 'lofar:L802012_3C196', '--rse', 'NOWHERE&&(']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('the RSE expression "NOWHERE&&(" is not valid or matches no RSE (InvalidRSEExpression');
  });

  it('an unknown DID is "operation failed" (exit 1), naming the DID', async () => {
    const r = await dlaas(['rule', 'add', 'lofar:no-such-observation', '--rse', 'PIC-DCACHE']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no such DID: lofar:no-such-observation');
    const rep = await dlaas(['replicas', 'lofar:no-such-observation', '--json']);
    expect(rep.code).toBe(1);
    expect(JSON.parse(rep.stderr)).toMatchObject({ error: { code: 'DLAAS_NOT_FOUND', exit: 1, message: expect.stringContaining('lofar:no-such-observation') } });
  });

  it('a failed upload names the failed step once', async () => {
    const dir = mkdtempSync(join(work, 'up-bad-'));
    writeFileSync(join(dir, 'c.txt'), 'x');
    // On an RSE no other test here writes to (the faults not used up stay).
    lake.emulator.storage.get('DESY-DCACHE')!.failNext({ method: 'PUT', status: 507, body: 'no space left', times: 10 });
    const r = await dlaas(['upload', 'c.txt', '--scope', 'user.jdoe', '--rse', 'DESY-DCACHE', '--no-rule'], envOf(), dir);
    expect(r.code).toBe(1);
    const line = r.stdout.split('\n').find((l) => l.includes('user.jdoe:c.txt'))!;
    expect(line).toMatch(/FAILED/);
    expect(line.match(/"transfer"|transfer:/g)).toHaveLength(1);
    expect(r.stderr).toContain('dlaas: error: 1 of 1 uploads failed');
  });
});

/** A JWT-shaped token that expired at `exp` (never sent anywhere: it is refused before that). */
function expiredJwt(exp: number): string {
  const b = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b({ alg: 'RS256', typ: 'JWT' })}.${b({ sub: 'jdoe', aud: 'rucio', iss: 'https://iam.example', exp })}.c2lnbmF0dXJl`;
}

describe('tokens', () => {
  it('an expired RUCIO_ACCESS_TOKEN is reported as expired, with when (exit 4)', async () => {
    const home = mkdtempSync(join(work, 'home-'));
    const r = await dlaas(['whoami'], envOf({ RUCIO_ACCESS_TOKEN: expiredJwt(1_700_000_000), HOME: home }, false));
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('dlaas: error: env:RUCIO_ACCESS_TOKEN: the token expired at 2023-11-14T22:13:20.000Z');
    expect(r.stderr).not.toMatch(/No access token found/);
  });

  it('with a valid `dlaas login` session, that is used instead, saying so', async () => {
    const home = mkdtempSync(join(work, 'home-'));
    const login = start([bin, 'login'], { env: envOf({ HOME: home }, false), cwd: work });
    const [, code] = await login.waitFor(/enter the code: ([A-Z]{4}-[A-Z]{4})/);
    await lake.approve(code!);
    expect((await login.done).code).toBe(0);
    const env = envOf({ RUCIO_ACCESS_TOKEN: expiredJwt(1_700_000_000), HOME: home }, false);
    const r = await dlaas(['whoami'], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`dlaas: RUCIO_ACCESS_TOKEN expired at 2023-11-14 22:13:20 UTC; using the \`dlaas login\` session (${lake.issuer}) instead`);
    expect(r.stdout).toMatch(/account +jdoe/);
    const j = await dlaas(['whoami', '--json'], env);
    expect(j.code).toBe(0);
    expect(j.stderr).toBe('');
    expect(json(j)).toMatchObject({ account: 'jdoe', token_source: `dlaas login (${lake.issuer})` });
  });
});

describe('input checks before any work', () => {
  it('--dest must be a creatable, writable directory (exit 2, at once)', async () => {
    const file = join(work, 'a-file');
    writeFileSync(file, 'x');
    const cases: [string, string][] = [
      ['/proc/x', '--dest /proc/x: cannot create the directory ('],
      [file, `--dest ${file}: it is a file, not a directory`],
      [join(file, 'sub'), `--dest ${join(file, 'sub')}: ${file} is a file, not a directory`],
    ];
    for (const [dest, message] of cases) {
      const r = await dlaas(['stage', 'lofar:L802012_3C196', '--mode', 'download', '--dest', dest]);
      expect(r.code, dest).toBe(2);
      expect(r.stderr).toContain(`dlaas: usage error: ${message}`);
    }
    // `download` checks it the same way.
    const d = await dlaas(['download', 'lofar:L802012_3C196', '--dest', file, '--json']);
    expect(d.code).toBe(2);
    expect(JSON.parse(d.stderr)).toMatchObject({ error: { code: 'USAGE', exit: 2, message: `--dest ${file}: it is a file, not a directory` } });
    // A directory that does not exist yet is made.
    const fresh = join(work, 'fresh', 'deeper');
    const ok = await dlaas(['stage', 'lofar:L802012_3C196', '--mode', 'download', '--dest', fresh]);
    expect(ok.code).toBe(0);
    expect(readdirSync(fresh).length).toBeGreaterThan(0);
  });

  it('a directory to upload is refused without --recursive, and recursed with it', async () => {
    const dir = mkdtempSync(join(work, 'up-dir-'));
    mkdirSync(join(dir, 'results', 'night2'), { recursive: true });
    writeFileSync(join(dir, 'results', 'r1.txt'), 'one');
    writeFileSync(join(dir, 'results', 'night2', 'r2.txt'), 'two');
    const refused = await dlaas(['upload', 'results', '--scope', 'user.jdoe', '--rse', 'PIC-DCACHE'], envOf(), dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('dlaas: usage error: results is a directory: give --recursive (-r) to upload the files in it');
    const r = await dlaas(['upload', 'results', '-r', '--scope', 'user.jdoe', '--rse', 'PIC-DCACHE', '--no-rule', '--json'], envOf(), dir);
    expect(r.code).toBe(0);
    expect(json<{ files: { did: string; status: string }[] }>(r).files.map((f) => [f.did, f.status]).sort()).toEqual([
      ['user.jdoe:r1.txt', 'OK'],
      ['user.jdoe:r2.txt', 'OK'],
    ]);
    writeFileSync(join(dir, 'results', 'night2', 'r1.txt'), 'clash');
    const clash = await dlaas(['upload', 'results', '-r', '--scope', 'user.jdoe', '--rse', 'PIC-DCACHE'], envOf(), dir);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/would both be user\.jdoe:r1\.txt/);
  });
});

describe('the verbs Rucio users reach for', () => {
  it('download: stage --mode download, ending with "N files verified in D"', async () => {
    const dest = join(work, 'dl');
    const r = await dlaas(['download', 'lofar:L802012_3C196', '--dest', dest]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`\\n4 files verified in [0-9.]+ (ms|s|min \\d+ s) \\([0-9.]+ [kMG]?B\\) in ${dest.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n$`));
    expect(r.stdout.split('\n').at(-2)).not.toMatch(/AVAILABLE|REPLICATING/);
    const j = await dlaas(['download', 'lofar:L802012_3C196', '--dest', dest, '--json']);
    expect(json<{ mode: string; totals: { files: number; skipped: number } }>(j)).toMatchObject({ mode: 'download', totals: { files: 4, skipped: 4 } });
    expect((await dlaas(['download', '--help'])).stdout).not.toMatch(/^ +--mode\b/m);
  });

  it('list-files, list-content (and --json)', async () => {
    const files = await dlaas(['list-files', 'lofar:L802012_3C196']);
    expect(files.code).toBe(0);
    expect(files.stdout).toMatch(/lofar:L802012_SB000_uv\.vis +[0-9.]+ [kMG]?B +[0-9a-f]{8}/);
    expect(files.stdout).toMatch(/4 file\(s\), /);
    expect(json<unknown[]>(await dlaas(['list-files', 'lofar:L802012_3C196', '--json']))).toHaveLength(4);
    const content = await dlaas(['list-content', 'lofar:L802012_3C196', '--json']);
    expect(content.code).toBe(0);
    expect(json<{ type: string }[]>(content).every((c) => c.type === 'FILE')).toBe(true);
    expect((await dlaas(['list-files', 'lofar:nothing-here'])).code).toBe(1);
  });

  it('set-metadata, then get-metadata shows it (and --json)', async () => {
    const set = await dlaas(['set-metadata', 'lofar:L802012_3C196', '--key', 'run_number', '--value', '802012']);
    expect(set.code).toBe(0);
    expect(set.stdout).toContain('lofar:L802012_3C196: run_number = 802012');
    const get = await dlaas(['get-metadata', 'lofar:L802012_3C196']);
    expect(get.code).toBe(0);
    expect(get.stdout).toMatch(/^run_number +802012$/m);
    expect(json<Record<string, unknown>>(await dlaas(['get-metadata', 'lofar:L802012_3C196', '--json']))).toMatchObject({ run_number: 802012, scope: 'lofar', name: 'L802012_3C196' });
    expect((await dlaas(['set-metadata', 'lofar:L802012_3C196', '--key', 'run_number'])).stderr).toContain('--value VALUE is required');
  });

  it('list-rses, with an expression, with --attributes (and --json)', async () => {
    const all = await dlaas(['list-rses']);
    expect(all.code).toBe(0);
    expect(all.stdout.split('\n')).toEqual(expect.arrayContaining(['CERN-EOS', 'PIC-DCACHE', 'DESY-DCACHE']));
    const one = json<{ rse: string; attributes: Record<string, unknown> }[]>(await dlaas(['list-rses', '--expression', 'PIC-DCACHE', '--attributes', '--json']));
    expect(one).toHaveLength(1);
    expect(one[0]).toMatchObject({ rse: 'PIC-DCACHE', attributes: { 'PIC-DCACHE': true } });
    const text = await dlaas(['list-rses', '--expression', 'PIC-DCACHE', '--attributes']);
    expect(text.stdout).toMatch(/^PIC-DCACHE\n {2}\S+: /);
    const bad = await dlaas(['list-rses', '--expression', 'NOWHERE&&(']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('the RSE expression "NOWHERE&&(" is not valid or matches no RSE');
  });

  it('rule update --lifetime; short rule ids wherever they are printed; rule rm says the rule will expire, and when', async () => {
    const [rule] = json<{ id: string }[]>(await dlaas(['rule', 'add', 'km3net:dac21_arca_tracks', '--rse', 'PIC-DCACHE', '--json']));
    const short = rule!.id.slice(0, 8);
    const show = await dlaas(['rule', 'show', short, '--json']);
    expect(show.code).toBe(0);
    expect(json<{ id: string; expires_at: string | null }>(show)).toMatchObject({ id: rule!.id, expires_at: null });
    const upd = await dlaas(['rule', 'update', short, '--lifetime', '7200']);
    expect(upd.code).toBe(0);
    expect(upd.stdout).toMatch(new RegExp(`^Rule ${rule!.id} now expires at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\.$`, 'm'));
    const after = json<{ expires_at: string }>(await dlaas(['rule', 'show', rule!.id, '--json']));
    const left = Date.parse(after.expires_at) - Date.now();
    expect(left).toBeGreaterThan(3600_000);
    expect(left).toBeLessThanOrEqual(7200_000 + 60_000);
    expect((await dlaas(['rule', 'show', rule!.id])).stdout).toMatch(/^expires +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/m);
    const none = await dlaas(['rule', 'update', short, '--lifetime', 'none']);
    expect(none.stdout).toContain(`Rule ${rule!.id} no longer expires.`);
    expect((await dlaas(['rule', 'update', short])).code).toBe(2);
    const unknown = await dlaas(['rule', 'show', '0000dead']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no rule of account jdoe has an id starting with 0000dead/);
    const rm = await dlaas(['rule', 'rm', short]);
    expect(rm.code).toBe(0);
    expect(rm.stdout).toMatch(new RegExp(`^Rule ${rule!.id} will expire at \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC: Rucio deletes rules softly`, 'm'));
  });

  it('--verbose says which Rucio, account and token; on failure every cause', async () => {
    const who = await dlaas(['whoami', '--verbose']);
    expect(who.code).toBe(0);
    expect(who.stderr).toMatch(/^dlaas: Rucio http:\/\/127\.0\.0\.1:\d+\/?.*, account jdoe, token from env:RUCIO_ACCESS_TOKEN/m);
    const dead = await dlaas(['whoami', '-v', '--host', 'http://127.0.0.1:9']);
    expect(dead.code).toBe(5);
    expect(dead.stderr).toContain('dlaas: error: rucio GET /accounts/whoami: port 9 of 127.0.0.1:9 is one fetch refuses to use ("bad port"); use another port');
    expect(dead.stderr).toMatch(/caused by: NetworkError: .*\n {2}caused by: TypeError: fetch failed\n {2}caused by: Error: bad port/);
  });
});

describe('help', () => {
  it('every option of every command has a one-line description; the global options only under `dlaas --help`', async () => {
    const main = await dlaas(['--help']);
    expect(main.code).toBe(0);
    for (const o of ['--json', '-q, --quiet', '-v, --verbose', '--host URL', '--http-timeout SECONDS']) expect(main.stdout).toContain(`  ${o}`);
    for (const c of ['download', 'list-files', 'list-content', 'get-metadata', 'set-metadata', 'list-rses', 'rule update']) expect(main.stdout).toContain(`  ${c} `);
    const commands = ['lake', 'cat', 'head', 'login', 'basket add', 'basket rm', 'ls', 'replicas', 'replicas declare-bad', 'rule add', 'rule show', 'rule wait', 'rule rm', 'rule update', 'rule ls', 'list-files', 'list-content', 'get-metadata', 'set-metadata', 'list-rses', 'stage', 'download', 'upload'];
    for (const c of commands) {
      const h = await dlaas([...c.split(' '), '--help']);
      expect(h.code, c).toBe(0);
      expect(h.stdout, c).not.toContain('--host URL');
      expect(h.stdout, c).not.toContain('Options for every command');
      expect(h.stdout, c).toContain('`dlaas --help`');
      const options = h.stdout.split('\n').filter((l) => /^ {2}(-\w, )?--/.test(l));
      // Each option line: the option, its argument, at least two spaces, then a description.
      for (const l of options) expect(l, `${c}: ${l}`).toMatch(/^ {2}(-\w, )?--[\w-]+( \S+)? {2,}\S.{8,}$/);
    }
    const stage = (await dlaas(['stage', '--help'])).stdout;
    expect(stage).toMatch(/--mode MODE +replica \(a rule to the mounted RSE\) or download \(default RUCIO_MODE/);
    expect(stage).toMatch(/--poll-interval MS +first rule poll interval in milliseconds, ≥ 10 \(default 2000/);
    expect((await dlaas(['rule', 'ls', '--help'])).stdout).toMatch(/--state STATE +only rules in this state: REPLICATING, OK, STUCK/);
  });
});

describe('output that says what is true', () => {
  it('ls --long counts the files of an open dataset', async () => {
    const dir = mkdtempSync(join(work, 'up-open-'));
    for (const f of ['o1.txt', 'o2.txt', 'o3.txt']) writeFileSync(join(dir, f), f);
    const up = await dlaas(['upload', 'o1.txt', 'o2.txt', 'o3.txt', '--scope', 'user.jdoe', '--rse', 'PIC-DCACHE', '--dataset', 'open-ds', '--no-rule'], envOf(), dir);
    expect(up.code).toBe(0);
    const ls = await dlaas(['ls', 'user.jdoe:open-ds', '--long']);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/user\.jdoe:open-ds +DATASET +3 +/);
    expect(json<{ name: string; length: number }[]>(await dlaas(['ls', 'user.jdoe:open-ds', '--json']))).toMatchObject([{ name: 'open-ds', length: 3 }]);
  });

  describe('with transfers that wait', () => {
    let still: LocalLake;
    beforeAll(async () => {
      still = await startLocalLake({ conveyorMs: 0 });
    });
    afterAll(() => still?.close());

    it('rule wait --timeout: says the rule carries on, and how to follow it (exit 1)', async () => {
      const env = { ...still.env({ RUCIO_ACCESS_TOKEN: still.token }), HOME: work };
      const [rule] = json<{ id: string }[]>(await dlaas(['rule', 'add', 'cta:dac21_gps_dl3', '--rse', 'DESY-DCACHE', '--json'], env));
      const r = await dlaas(['rule', 'wait', rule!.id, '--timeout', '1', '--poll-interval', '100'], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`rule ${rule!.id} is still REPLICATING after 1 s`);
      expect(r.stderr).toContain(`it carries on without us — follow it with \`dlaas rule wait ${rule!.id.slice(0, 8)}\` or \`dlaas rule show ${rule!.id.slice(0, 8)}\``);
      // The short id printed works.
      expect(json<{ id: string }>(await dlaas(['rule', 'show', rule!.id.slice(0, 8), '--json'], env)).id).toBe(rule!.id);
    });
  });
});

describe('progress', () => {
  it('download: bytes done of all, files done of all, rate and time left (a line per file in a log)', async () => {
    const dest = join(work, 'dl-progress');
    const r = await dlaas(['download', 'lofar:L802012_3C196', '--dest', dest]);
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('download '));
    expect(lines.at(-1)).toMatch(/^download [█░]{24} 100% \| ([\d.]+ [kMG]?B) of \1 \| 4\/4 files \| (-|[\d.]+ [kMG]?B\/s) \| ETA 0 ms$/);
    for (const n of [1, 2, 3]) expect(lines.some((l) => l.includes(`| ${n}/4 files |`))).toBe(true);
  });

  it('upload: files done of all, the file, bytes done of all, rate and time left', async () => {
    const dir = mkdtempSync(join(work, 'up-progress-'));
    writeFileSync(join(dir, 'p1.txt'), 'a'.repeat(1500));
    writeFileSync(join(dir, 'p2.txt'), 'b'.repeat(500));
    const r = await dlaas(['upload', 'p1.txt', 'p2.txt', '--scope', 'user.jdoe', '--rse', 'PIC-DCACHE', '--no-rule'], envOf(), dir);
    expect(r.code).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('upload '));
    expect(lines.at(-1)).toMatch(/^upload [█░]{24} 2\/2 files \| p[12]\.txt OK \| 2\.00 kB of 2\.00 kB \| [\d.]+ [kMG]?B\/s \| ETA 0 ms$/);
    expect(lines.some((l) => /1\/2 files \| p[12]\.txt OK \| (1\.50 kB|500 B) of 2\.00 kB \| [\d.]+ [kMG]?B\/s \| ETA \d/.test(l))).toBe(true);
  });

  it("a rule bar starts from the rule's real lock counts", async () => {
    const [rule] = json<{ id: string }[]>(await dlaas(['rule', 'add', 'lofar:L802012_3C196', '--rse', 'DESY-DCACHE', '--wait', '--poll-interval', '50', '--json']));
    // Now OK: a new wait draws 4/4 at once, never 0/4.
    const w = await dlaas(['rule', 'wait', rule!.id.slice(0, 8)]);
    expect(w.code).toBe(0);
    const bars = w.stderr.split('\n').filter((l) => l.startsWith('rule '));
    expect(bars.length).toBeGreaterThan(0);
    for (const l of bars) expect(l).toMatch(/ 4\/4 locks \| OK$/);
  });
});

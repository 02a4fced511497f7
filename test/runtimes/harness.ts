/**
 * Pieces of the runtime matrix that are not the scenario: the loopback site that serves the browser
 * files and plays the user's browser for OIDC logins, the browser bundles built from the packed
 * package, child processes with timeouts, Chromium (installed from Debian when missing), and the
 * summary table. Free of vitest imports.
 */
import { aptInstallSync } from '../support/apt.js';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { builtinModules } from 'node:module';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { build } from 'esbuild';

export const CHROMIUM = '/usr/bin/chromium';

/** Chromium flags for CI: headless, no sandbox (root), nothing phoning home. */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-default-apps'];

/**
 * Make sure Debian's Chromium is there: install it with apt when running as root, else fail with
 * what is missing. Returns how it was obtained.
 */
export function ensureChromium(): string {
  if (existsSync(CHROMIUM)) return 'present';
  if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get')) {
    throw new Error(`${CHROMIUM} is missing and this is not a Debian-like system: install Chromium at ${CHROMIUM} to run the browser rows of the runtime matrix`);
  }
  if (process.getuid?.() !== 0) {
    throw new Error(`${CHROMIUM} is missing: run \`sudo apt-get install -y --no-install-recommends chromium\` (the test installs it itself only when running as root)`);
  }
  aptInstallSync(['chromium', 'fonts-liberation']);
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get installed chromium but ${CHROMIUM} is still missing`);
  return 'installed with apt-get';
}

/** The ID Chromium gives an unpacked extension: from the SHA-256 of its absolute path, hex digits mapped to a–p. */
export function extensionId(dir: string): string {
  const hex = createHash('sha256').update(dir).digest('hex').slice(0, 32);
  return [...hex].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join('');
}

/** Chromium's version, e.g. `156.0.8078.79`. */
export function chromiumVersion(): string {
  const out = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20_000 });
  return /(\d+\.\d+\.\d+\.\d+)/.exec(out)?.[1] ?? out.trim();
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.map': 'application/json' };

/** The harness's loopback site. */
export interface Site {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** Resolves with the body POSTed to `/report/<id>`. */
  report(id: string, timeoutMs: number): Promise<string>;
  close(): Promise<void>;
}

/**
 * Serve `dir` on 127.0.0.1, plus two endpoints:
 * - `POST /browse` (body: an authorization URL) → the OP's redirect back to the client (`browse`
 *   plays the user's browser through the real login and consent pages);
 * - `POST /report/<id>` → handed to {@link Site.report}.
 */
export async function startSite(dir: string, browse: (url: string) => Promise<string>): Promise<Site> {
  const reports = new Map<string, { resolve: (body: string) => void; body?: string }>();
  const slot = (id: string) => {
    let s = reports.get(id);
    if (!s) reports.set(id, (s = { resolve: () => {} }));
    return s;
  };
  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://site');
    if (req.method === 'POST' && url.pathname === '/browse') {
      const callback = await browse(await readBody(req));
      res.writeHead(200, { 'content-type': 'text/plain' }).end(callback);
      return;
    }
    const report = /^\/report\/([\w-]+)$/.exec(url.pathname);
    if (req.method === 'POST' && report) {
      const s = slot(report[1]!);
      s.body = await readBody(req);
      s.resolve(s.body);
      res.writeHead(204).end();
      return;
    }
    const path = normalize(join(dir, decodeURIComponent(url.pathname)));
    if (req.method !== 'GET' || !path.startsWith(dir + sep) || !existsSync(path) || !statSync(path).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    // The msw worker script must be allowed to control the whole origin.
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream', 'cache-control': 'no-store', 'service-worker-allowed': '/' }).end(readFileSync(path));
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String((error as Error)?.stack ?? error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    report(id, timeoutMs) {
      const s = slot(id);
      if (s.body !== undefined) return Promise.resolve(s.body);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no report from ${id} within ${timeoutMs} ms`)), timeoutMs);
        s.resolve = (body) => {
          clearTimeout(timer);
          resolve(body);
        };
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Things a browser may not get: Node built-ins, eval, `new Function`. */
function assertBrowserSafe(file: string, code: string): void {
  const bad = [/\bfrom\s*["']node:/, /\brequire\(\s*["']node:/, /\bimport\(\s*["']node:/, /\bnew Function\(/, /\beval\(/].find((re) => re.test(code));
  if (bad) throw new Error(`${file}: the browser bundle contains ${bad} (no Node built-ins, eval or new Function allowed)`);
}

/**
 * Build, from the packed package installed in `project`:
 * - `dlaas.js`: the browser ESM bundle of `dlaas` (what a web app or an extension ships);
 * - `msw/entry.js` (+ chunks): `dlaas`, `dlaas/testing` and msw's `setupWorker`, for the msw page.
 * Returns the bundle sizes.
 */
export async function buildBrowserBundles(project: string, outDir: string): Promise<{ dlaas: number }> {
  const common = { absWorkingDir: project, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'silent', legalComments: 'none' } as const;
  const core = await build({ ...common, stdin: { contents: "export * from 'dlaas';", resolveDir: project, loader: 'js' }, outfile: join(outDir, 'dlaas.js'), minify: true, metafile: true });
  const out = readFileSync(join(outDir, 'dlaas.js'), 'utf8');
  assertBrowserSafe('dlaas.js', out);
  if (!Object.keys(core.metafile.inputs).some((f) => f.includes('node_modules/dlaas/dist/index.js'))) throw new Error('dlaas.js was not built from the installed package');
  // The testing entry loads its HTTP server (node:http) lazily, only for `serve: 'http'`: keep that
  // chunk separate (splitting) and never load it in the page.
  await build({
    ...common,
    stdin: { contents: "export * as dlaas from 'dlaas'; export * as testing from 'dlaas/testing'; export { setupWorker } from 'msw/browser';", resolveDir: project, loader: 'js', sourcefile: 'entry.js' },
    outdir: join(outDir, 'msw'),
    entryNames: 'entry',
    splitting: true,
    external: ['node:*', ...builtinModules],
  });
  return { dlaas: Buffer.byteLength(out) };
}

/** A finished child process. */
export interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run a command (no shell) with a timeout; the child is killed (by its pid) when time is up. */
export function runProcess(cmd: string, args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Exit> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[harness] killed after ${options.timeoutMs} ms`;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** The last JSON line a runner printed. */
export function lastJson(stdout: string): Record<string, unknown> | undefined {
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** One row of the summary table. */
export interface Row {
  runtime: string;
  entry: string;
  /** Where the staged file went. */
  sink: string;
  /** `pass` or `FAIL: …`. */
  result: string;
  /** What else the row checked. */
  extra: string;
  ms: number;
}

/** A plain-text table for CI logs. */
export function table(rows: readonly Row[]): string {
  const head = ['#', 'runtime', 'entry', 'sink', 'result', 'also checked', 'time'];
  const body = rows.map((r, i) => [String(i + 1), r.runtime, r.entry, r.sink, r.result, r.extra, `${(r.ms / 1000).toFixed(2)} s`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

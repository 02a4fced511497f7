/**
 * A real grid storage element for tests: XRootD 5.8.1 (XrdHttp/WebDAV) with SciTokens/WLCG bearer
 * token authorization, on loopback, the stack ESCAPE Data Lake XRootD endpoints run.
 *
 * ```ts
 * const se = await startStorageElement();          // first call on a machine builds the image (~30-60 s)
 * const token = await se.mintToken({ scope: 'storage.read:/ storage.create:/' });
 * await se.fetch(`${se.url}dir/file.txt`, { method: 'PUT', body: 'hello', headers: { authorization: `Bearer ${token}` } });
 * await se.stop();
 * ```
 *
 * - Runs as root only (CI is root): it installs `debootstrap` with apt-get if missing, builds a Debian 13
 *   chroot with xrootd once per machine (see `se/chroot.ts`), and starts xrootd in it with `-R xrootd`.
 * - Every call is independent: its own issuer (HTTPS, in this process, own keys), its own xrootd on two
 *   free ports, its own data directory. xrootd listens on the wildcard address; only ever use the
 *   returned `localhost` URLs.
 * - `stop()` kills xrootd by its pid file and removes the instance directory. Instances left by a test
 *   process that died are reaped by the next `startStorageElement` (again by pid file).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import * as tls from 'node:tls';
import { FULL_STORAGE_SCOPE, type MintTokenOptions } from '../../src/testing/storage/tokens.js';
import { ensureXrootdImage, type XrootdImage } from './se/chroot.js';
import { startIssuer, type RunningIssuer } from './se/issuer.js';
import { SYSTEM_PATH, cmdline, freePort, isAlive, sleep } from './se/proc.js';

export { FULL_STORAGE_SCOPE, type MintTokenOptions };

export interface StorageElementOptions {
  /** The `audience` xrootd accepts (scitokens.cfg); default the SE's origin, `https://localhost:PORT`. */
  audience?: string;
  /** The issuer's `base_path` (scope paths are relative to it); default `/`. */
  basePath?: string;
  /** Log every authorization decision (`scitokens.trace all`) to {@link StorageElement.logFile}. */
  trace?: boolean;
  /** HTML directory listings on `GET dir/`; default true (XRootD's default). `false` sets `http.listingdeny true`. */
  listing?: boolean;
  /** Keep the instance directory (data, config, log) after `stop()`, for debugging. */
  keep?: boolean;
  /** How long to wait for xrootd to answer; default 60 s (a hang guard: generous, a busy machine starts it slowly). */
  readyTimeoutMs?: number;
}

export interface StorageElement {
  /** `https://localhost:PORT/` (TLS with the test CA). */
  readonly url: string;
  /** `http://localhost:PORT/`: the same XrdHttp port without TLS (bearer tokens work there too). */
  readonly httpUrl: string;
  /** The XrdHttp port; `xrootdPort` is the xroot protocol port xrootd also opens. */
  readonly port: number;
  readonly xrootdPort: number;
  /** The audience xrootd accepts and `mintToken` uses by default. */
  readonly audience: string;
  /** The token issuer URL (`https://localhost:PORT`, served by this process). */
  readonly issuer: string;
  /** The test CA (PEM) and its file, e.g. for `NODE_EXTRA_CA_CERTS` of child processes or `curl --cacert`. */
  readonly caPem: string;
  readonly caFile: string;
  /**
   * `fetch` that trusts the test CA. This is the global `fetch`: the CA is added to this process's
   * default trust store (`tls.setDefaultCACertificates`), so any fetch in the test process works too.
   */
  readonly fetch: typeof fetch;
  /** Mint a WLCG token from this SE's issuer (default: full scope, aud = {@link audience}, 10 min). */
  mintToken(options?: MintTokenOptions): Promise<string>;
  /** `{ authorization: 'Bearer …' }` for a freshly minted token. */
  authHeader(options?: MintTokenOptions): Promise<{ authorization: string }>;
  /** Host path of the SE's data root (the `/` of its URLs). Files must stay owned by xrootd: use {@link seed}. */
  readonly dataDir: string;
  /** Host path of an SE path (`/a/b.txt` → `${dataDir}/a/b.txt`). */
  hostPath(path: string): string;
  /** Write a file straight into the data root (parents created), owned by the xrootd user. */
  seed(path: string, data: string | Uint8Array): void;
  /** Read a file straight from the data root, or undefined if absent. */
  readBack(path: string): Uint8Array | undefined;
  /** Remove everything in the data root. */
  clear(): void;
  /** xrootd's log (with `trace: true`, every token decision). */
  readonly logFile: string;
  /** `xrootd -v` of the image, e.g. `v5.8.1`. */
  readonly version: string;
  /** Kill xrootd (pid file), close the issuer, remove the instance directory. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Inside the chroot: one directory per running instance. */
const INSTANCES = '/srv/dlaas-se';
const live = new Map<string, { dir: string; child?: ChildProcess }>();
let seq = 0;

/** Start a storage element. Give the calling hook a long timeout (first run on a machine builds the image). */
export async function startStorageElement(options: StorageElementOptions = {}): Promise<StorageElement> {
  const image = await ensureXrootdImage();
  trustCa(image.pki.caPem);
  await reapOrphans(image.root);
  installExitHook();

  const id = `${process.pid}-${++seq}-${Math.random().toString(36).slice(2, 8)}`;
  const dirIn = `${INSTANCES}/${id}`; // path inside the chroot
  const dir = join(image.root, dirIn);
  const serverTls = { key: readFileSync(image.pki.serverKeyFile, 'utf8'), cert: readFileSync(image.pki.serverCertFile, 'utf8') };
  const issuer: RunningIssuer = await startIssuer(serverTls, options.audience ?? '');
  const entry: { dir: string; child?: ChildProcess } = { dir };
  live.set(id, entry);
  try {
    prepareInstance(image, dir, id);
    let lastError: unknown;
    for (let attempt = 1; attempt <= 4; attempt++) {
      const port = await freePort();
      const xrootdPort = await freePort();
      const audience = options.audience ?? `https://localhost:${port}`;
      issuer.audience = audience;
      writeConfig(dir, dirIn, { port, xrootdPort, audience, issuer: issuer.issuer, ...options });
      try {
        const child = (entry.child = launch(image, dir, dirIn));
        await waitReady(dir, child, `https://localhost:${port}/`, issuer, options.readyTimeoutMs ?? 60_000);
        return handle(image, dir, id, issuer, child, { port, xrootdPort, audience, keep: options.keep ?? false });
      } catch (e) {
        lastError = e;
        await killInstance(dir, entry.child);
        // A port taken between picking and binding: try again with others.
        if (!/bind|address already in use/i.test(String(e))) break;
      }
    }
    throw lastError;
  } catch (e) {
    await killInstance(dir, entry.child);
    await issuer.close();
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
    live.delete(id);
    throw e;
  }
}

function handle(
  image: XrootdImage,
  dir: string,
  id: string,
  issuer: RunningIssuer,
  child: ChildProcess,
  p: { port: number; xrootdPort: number; audience: string; keep: boolean },
): StorageElement {
  const dataDir = join(dir, 'data');
  const hostPath = (path: string) => {
    const clean = posix.normalize(`/${path}`);
    if (clean.split('/').includes('..')) throw new Error(`bad path ${path}`);
    return join(dataDir, clean);
  };
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await killInstance(dir, child);
      await issuer.close();
      if (!p.keep) rmSync(dir, { recursive: true, force: true });
      live.delete(id);
    })());
  const mintToken = (o: MintTokenOptions = {}) => issuer.mintToken(o);
  return {
    url: `https://localhost:${p.port}/`,
    httpUrl: `http://localhost:${p.port}/`,
    port: p.port,
    xrootdPort: p.xrootdPort,
    audience: p.audience,
    issuer: issuer.issuer,
    caPem: image.pki.caPem,
    caFile: image.pki.caFile,
    fetch: (input, init) => globalThis.fetch(input, init),
    mintToken,
    authHeader: async (o) => ({ authorization: `Bearer ${await mintToken(o)}` }),
    dataDir,
    hostPath,
    seed(path, data) {
      const file = hostPath(path);
      mkdirOwned(dirname(file), dataDir, image);
      writeFileSync(file, data);
      chownSync(file, image.uid, image.gid);
    },
    readBack(path) {
      const file = hostPath(path);
      return existsSync(file) ? new Uint8Array(readFileSync(file)) : undefined;
    },
    clear() {
      for (const name of readdirSync(dataDir)) rmSync(join(dataDir, name), { recursive: true, force: true });
    },
    logFile: join(dir, 'log/se/xrootd.log'),
    version: image.version,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** mkdir -p below `top`, each new directory owned by xrootd. */
function mkdirOwned(target: string, top: string, image: XrootdImage): void {
  if (target === top || existsSync(target)) return;
  mkdirOwned(dirname(target), top, image);
  mkdirSync(target);
  chownSync(target, image.uid, image.gid);
}

let trustedCa: string | undefined;
/** Make this process's fetch (and https) trust the test CA. */
function trustCa(caPem: string): void {
  if (trustedCa === caPem) return;
  if (typeof tls.setDefaultCACertificates !== 'function') {
    throw new Error(`startStorageElement needs tls.setDefaultCACertificates (Node >= 22.19 or 24.5); this is Node ${process.version}. Run the tests with the project's Node (npx vitest).`);
  }
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), caPem]);
  trustedCa = caPem;
}

function prepareInstance(image: XrootdImage, dir: string, id: string): void {
  for (const sub of ['data', 'admin', 'run', 'log', 'cache', 'pki']) mkdirSync(join(dir, sub), { recursive: true, mode: 0o755 });
  copyFileSync(image.pki.serverCertFile, join(dir, 'pki/server.pem'));
  copyFileSync(image.pki.serverKeyFile, join(dir, 'pki/server.key'));
  copyFileSync(image.pki.caFile, join(dir, 'pki/ca.pem'));
  writeFileSync(join(dir, 'owner.json'), JSON.stringify({ pid: process.pid, id, started: new Date().toISOString() }));
  for (const sub of ['', 'data', 'admin', 'run', 'log', 'cache', 'pki', 'pki/server.pem', 'pki/server.key', 'pki/ca.pem']) {
    chownSync(join(dir, sub), image.uid, image.gid);
  }
}

interface ConfigParams extends StorageElementOptions {
  port: number;
  xrootdPort: number;
  audience: string;
  issuer: string;
}

function writeConfig(dir: string, dirIn: string, c: ConfigParams): void {
  const scitokens = [
    '[Global]',
    `audience = ${c.audience}`,
    'onmissing = deny',
    '',
    '[Issuer dlaas-test]',
    `issuer = ${c.issuer}`,
    `base_path = ${c.basePath ?? '/'}`,
    'default_user = xrootd',
    '',
  ].join('\n');
  const xrootd = [
    `xrd.port ${c.xrootdPort}`,
    `xrd.protocol XrdHttp:${c.port} libXrdHttp.so`,
    'all.role server',
    'all.export /',
    `oss.localroot ${dirIn}/data`,
    `all.adminpath ${dirIn}/admin`,
    `all.pidpath ${dirIn}/run`,
    'xrootd.chksum adler32',
    `xrd.tls ${dirIn}/pki/server.pem ${dirIn}/pki/server.key`,
    `xrd.tlsca certfile ${dirIn}/pki/ca.pem`,
    'ofs.authorize 1',
    `ofs.authlib libXrdAccSciTokens.so config=${dirIn}/scitokens.cfg`,
    'http.header2cgi Authorization authz',
    ...(c.listing === false ? ['http.listingdeny true'] : []),
    ...(c.trace ? ['scitokens.trace all'] : []),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'scitokens.cfg'), scitokens);
  writeFileSync(join(dir, 'xrootd.cfg'), xrootd);
}

/**
 * Start xrootd in the foreground as a child of this process (so this process reaps it: no zombies
 * where PID 1 does not reap), writing a pid file that `stop()` and the orphan reaper use.
 */
function launch(image: XrootdImage, dir: string, dirIn: string): ChildProcess {
  rmSync(join(dir, 'run/xrootd.pid'), { force: true });
  rmSync(join(dir, 'log/se/xrootd.log'), { force: true }); // a fresh log per attempt
  const args = [image.root, 'env', `XDG_CACHE_HOME=${dirIn}/cache`, 'xrootd', '-R', 'xrootd', '-c', `${dirIn}/xrootd.cfg`];
  args.push('-l', `${dirIn}/log/xrootd.log`, '-n', 'se', '-s', `${dirIn}/run/xrootd.pid`);
  const child = spawn('chroot', args, { stdio: 'ignore', env: { ...process.env, PATH: SYSTEM_PATH } });
  child.on('error', () => undefined); // reported by waitReady through exitCode
  child.unref();
  return child;
}

function readPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'run/xrootd.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function logTail(dir: string, lines = 30): string {
  try {
    return readFileSync(join(dir, 'log/se/xrootd.log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Poll an authorized request until xrootd answers it (it also makes xrootd fetch the issuer's JWKS). */
async function waitReady(dir: string, child: ChildProcess, url: string, issuer: RunningIssuer, timeoutMs: number): Promise<void> {
  const token = await issuer.mintToken({ scope: 'storage.read:/' });
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`xrootd exited during start-up (${child.signalCode ?? `exit ${child.exitCode}`}):\n${logTail(dir)}`);
    }
    try {
      const res = await fetch(url, { method: 'HEAD', headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = String((e as Error).cause ?? e);
    }
    await sleep(25);
  }
  throw new Error(`xrootd did not answer an authorized HEAD ${url} within ${timeoutMs} ms (last: ${last}):\n${logTail(dir)}`);
}

/** SIGTERM the instance's xrootd (pid from its pid file, checked against its command line), then SIGKILL. */
async function killInstance(dir: string, child?: ChildProcess): Promise<void> {
  const exited = child ? new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()))) : undefined;
  let pid = readPid(dir);
  // The pid must still be this instance's xrootd (its command line names the instance's config).
  if (pid === undefined || !isAlive(pid) || !cmdline(pid).includes(`${basename(dir)}/xrootd.cfg`)) {
    // No pid file yet (killed during start-up): our own child is the same process.
    if (!child?.pid || !isAlive(child.pid)) return;
    pid = child.pid;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && isAlive(pid)) await Promise.race([exited ?? sleep(20), sleep(20)]);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  if (exited) await Promise.race([exited, sleep(1000)]);
}

/** Stop and remove instances whose test process is gone (it crashed before its teardown). */
async function reapOrphans(root: string): Promise<void> {
  const base = join(root, INSTANCES);
  if (!existsSync(base)) return;
  for (const name of readdirSync(base)) {
    const dir = join(base, name);
    let owner: number | undefined;
    try {
      owner = (JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as { pid: number }).pid;
    } catch {
      continue; // being set up right now, or not ours
    }
    if (owner === process.pid || isAlive(owner)) continue;
    await killInstance(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

let exitHook = false;
/** If the test process exits without teardown, still stop its xrootd daemons. */
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const { dir, child } of live.values()) {
      const pid = readPid(dir) ?? child?.pid;
      if (pid !== undefined && isAlive(pid) && cmdline(pid).includes(`${basename(dir)}/xrootd.cfg`)) process.kill(pid, 'SIGTERM');
    }
  });
}


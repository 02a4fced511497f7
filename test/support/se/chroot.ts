/**
 * The XRootD image: a Debian 13 "trixie" debootstrap chroot with XRootD 5.8.1, its HTTP (XrdHttp)
 * and SciTokens plugins, and a test PKI (a CA trusted inside the chroot + a localhost certificate).
 *
 * Built once per machine under {@link cacheDir} (~30 s, ~410 MB) and reused while the machine lives.
 * Debian 12's own XRootD (5.5.3) is deliberately not used: its XrdHttp matches header names
 * case-sensitively, so `fetch` (lower-case names) silently uploads empty files, and Range is broken.
 *
 * Concurrency: vitest runs test files in parallel processes. Builders serialise on an flock(1) lock
 * (released by the kernel if the holder dies, so a crashed builder never blocks the next one), build
 * into a temporary directory and rename it into place only when complete, so a half-built chroot is
 * never used. The Debian archive address is read at run time from the host's own apt sources.
 */
import { underAptLock } from '../apt.js';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync, copyFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { run, which } from './proc.js';

/** Where the image lives: `$DLAAS_TEST_CACHE` or `/var/cache/dlaas-test`. */
export const cacheDir = process.env.DLAAS_TEST_CACHE ?? '/var/cache/dlaas-test';
/** Bump when the recipe changes: a new name makes every machine rebuild. */
const IMAGE_NAME = 'xrootd-trixie-v1';
const READY_MARK = '.dlaas-test-ready.json';
const SUITE = 'trixie';
const CHROOT_PACKAGES = [
  'systemd-standalone-sysusers', // satisfies `systemd | systemd-standalone-sysusers` without systemd's failing scripts
  'xrootd-server',
  'xrootd-server-plugins',
  'xrootd-plugins',
  'xrootd-scitokens-plugins',
  'ca-certificates', // also brings openssl, used below for the PKI
];
/** Inside the chroot. */
export const PKI_DIR_IN_ROOT = '/etc/dlaas-test/pki';

export interface XrootdImage {
  /** Host path of the chroot. */
  root: string;
  /** `xrootd -v` of the image, e.g. `v5.8.1`. */
  version: string;
  /** Host paths of the PKI files (root-owned, keys mode 600). */
  pki: { caPem: string; caFile: string; serverCertFile: string; serverKeyFile: string };
  /** uid/gid of the packaged `xrootd` user inside the chroot. */
  uid: number;
  gid: number;
}

let cached: Promise<XrootdImage> | undefined;

/** The image, building it first if this machine has none yet (idempotent, safe across processes). */
export function ensureXrootdImage(): Promise<XrootdImage> {
  cached ??= ensure().catch((e: unknown) => {
    cached = undefined;
    throw e;
  });
  return cached;
}

const imageRoot = () => join(cacheDir, IMAGE_NAME);

async function ensure(): Promise<XrootdImage> {
  const root = imageRoot();
  if (existsSync(join(root, READY_MARK))) return load(root);
  requireRoot('build the XRootD test image (debootstrap + chroot)');
  mkdirSync(cacheDir, { recursive: true });
  const release = await lock(join(cacheDir, '.build.lock'));
  try {
    if (existsSync(join(root, READY_MARK))) return load(root); // another process built it meanwhile
    await build(root);
    return load(root);
  } finally {
    release();
  }
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      `The storage-element test setup must run as root to ${what} (it installs Debian packages, runs debootstrap and chroot, ` +
        `and starts xrootd with -R xrootd). Run the tests as root, e.g. in CI; uid is ${process.getuid?.() ?? 'unknown'}.`,
    );
  }
}

function load(root: string): XrootdImage {
  requireRoot('run xrootd inside its chroot');
  const mark = JSON.parse(readFileSync(join(root, READY_MARK), 'utf8')) as { version: string };
  const pkiDir = join(root, PKI_DIR_IN_ROOT);
  const caFile = join(pkiDir, 'ca.pem');
  const serverCertFile = join(pkiDir, 'server.pem');
  const cert = new X509Certificate(readFileSync(serverCertFile));
  if (Date.parse(cert.validTo) < Date.now() + 86_400_000) {
    throw new Error(`The test PKI in ${pkiDir} expires on ${cert.validTo}; delete ${root} to rebuild the image.`);
  }
  const user = readFileSync(join(root, 'etc/passwd'), 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .find((f) => f[0] === 'xrootd');
  if (!user) throw new Error(`no xrootd user in ${root}/etc/passwd: delete ${root} to rebuild the image`);
  return {
    root,
    version: mark.version,
    pki: { caPem: readFileSync(caFile, 'utf8'), caFile, serverCertFile, serverKeyFile: join(pkiDir, 'server.key') },
    uid: Number(user[2]),
    gid: Number(user[3]),
  };
}

/**
 * An exclusive lock held by a `flock` child process; the kernel drops it when that child (or this
 * process, which feeds its stdin) dies, so there is no stale-lock case to detect.
 */
function lock(file: string, waitSeconds = 1200): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['--exclusive', '--wait', String(waitSeconds), file, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let err = '';
    let out = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('locked')) resolve(() => child.stdin.end());
    });
    child.on('error', (e) => reject(new Error(`cannot run flock (util-linux) for ${file}: ${e.message}`)));
    child.on('close', (code) => {
      if (!out.includes('locked')) reject(new Error(`could not lock ${file} within ${waitSeconds} s (flock exit ${code}): ${err}`));
    });
  });
}

/**
 * The Debian main archive URL from the host's apt sources (deb822 `URIs:` in `sources.list.d/*.sources`,
 * or one-line `deb` entries), skipping security/updates/backports entries and disabled stanzas.
 */
export function debianArchive(aptDir = '/etc/apt'): string {
  const candidates: { uri: string; suites: string[]; components: string[] }[] = [];
  const d = join(aptDir, 'sources.list.d');
  const files = existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.sources')).map((f) => join(d, f)) : [];
  for (const f of files) {
    for (const stanza of readFileSync(f, 'utf8').split(/\n\s*\n/)) {
      const fields = new Map<string, string>();
      let last = '';
      for (const line of stanza.split('\n')) {
        if (/^\s*#/.test(line)) continue;
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (m?.[1] && m[2] !== undefined) fields.set((last = m[1].toLowerCase()), m[2]);
        else if (/^\s+\S/.test(line) && last) fields.set(last, `${fields.get(last) ?? ''} ${line.trim()}`);
      }
      if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
      if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
      const words = (k: string) => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
      for (const uri of words('uris')) candidates.push({ uri, suites: words('suites'), components: words('components') });
    }
  }
  const list = [join(aptDir, 'sources.list'), ...(existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.list')).map((f) => join(d, f)) : [])];
  for (const f of list) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)((?:\s+[^\s#]+)*)/.exec(line);
      if (m?.[1] && m[2]) candidates.push({ uri: m[1], suites: [m[2]], components: (m[3] ?? '').split(/\s+/).filter(Boolean) });
    }
  }
  // Debian's own archive: a Debian suite name with component main (not security, updates, backports, or a vendor repo).
  const debianSuite = /^(buster|bullseye|bookworm|trixie|forky|duke|sid|oldoldstable|oldstable|stable|testing|unstable)$/;
  const main = candidates.find(
    (c) => /^https?:\/\//.test(c.uri) && !/security/.test(c.uri) && c.components.includes('main') && c.suites.some((s) => debianSuite.test(s)),
  );
  if (!main) {
    throw new Error(
      `Found no Debian main archive among the host's apt sources (${files.join(', ') || 'no .sources files'}; ${join(aptDir, 'sources.list')}): ` +
        'the XRootD test image is built with debootstrap from that archive.',
    );
  }
  return main.uri;
}

let aptUpdated = false;
/** Install host packages that provide the given executables (apt-get, as root). */
export async function ensureHostTools(tools: Record<string, string>): Promise<void> {
  const missing = Object.entries(tools).filter(([bin]) => !which(bin));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map(([, pkg]) => pkg))];
  const what = `${missing.map(([bin]) => bin).join(', ')} (Debian packages: ${pkgs.join(' ')})`;
  if (process.getuid?.() !== 0) throw new Error(`The storage-element test setup needs ${what}; install them, or run the tests as root so it can.`);
  if (!which('apt-get')) throw new Error(`The storage-element test setup needs ${what} and found no apt-get to install them.`);
  const apt = ['-o', 'DPkg::Lock::Timeout=300', '-y', '--no-install-recommends'];
  if (!aptUpdated) {
    await run(...underAptLock('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update']));
    aptUpdated = true;
  }
  await run(...underAptLock('apt-get', ['install', ...apt, ...pkgs]), { env: { DEBIAN_FRONTEND: 'noninteractive' } });
  const still = missing.filter(([bin]) => !which(bin));
  if (still.length) throw new Error(`apt-get installed ${pkgs.join(' ')} but ${still.map(([b]) => b).join(', ')} is still missing`);
}

/** Unmount anything left mounted below `dir` (an interrupted debootstrap mounts proc/sys), deepest first. */
async function unmountBelow(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m], { check: false });
}

async function build(root: string): Promise<void> {
  const started = Date.now();
  process.stderr.write(`[dlaas-test] building the XRootD storage-element image in ${root} (debootstrap ${SUITE} + xrootd; about 30-60 s, once per machine)\n`);
  // Leftovers of builders that died (we hold the lock, so nobody else is building).
  for (const name of readdirSync(cacheDir)) {
    if (name.startsWith(`.${IMAGE_NAME}.build-`)) {
      await unmountBelow(join(cacheDir, name));
      rmSync(join(cacheDir, name), { recursive: true, force: true });
    }
  }
  if (existsSync(root)) rmSync(root, { recursive: true, force: true }); // an image without its ready mark
  await ensureHostTools({ debootstrap: 'debootstrap' });
  const mirror = debianArchive();
  const tmp = join(cacheDir, `.${IMAGE_NAME}.build-${process.pid}-${Date.now()}`);
  try {
    await run('debootstrap', ['--variant=minbase', SUITE, tmp, mirror]);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    const aptInstall = ['apt-get', 'install', '-y', '--no-install-recommends', ...CHROOT_PACKAGES];
    const first = await run('chroot', [tmp, ...aptInstall], { env, check: false });
    if (first.code !== 0) {
      await run('chroot', [tmp, 'apt-get', 'update'], { env });
      await run('chroot', [tmp, ...aptInstall], { env });
    }
    await run('chroot', [tmp, 'apt-get', 'clean'], { env, check: false });
    const v = await run('chroot', [tmp, 'xrootd', '-v'], { check: false });
    const version = `${v.stdout}${v.stderr}`.trim().split('\n').pop() ?? '';
    if (!/^v5\.\d+/.test(version)) throw new Error(`unexpected xrootd -v output in the new image: ${version}`);
    writeFileSync(join(tmp, 'etc/hosts'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
    await makePki(tmp);
    writeFileSync(join(tmp, READY_MARK), `${JSON.stringify({ version, suite: SUITE, built: new Date().toISOString() })}\n`);
    renameSync(tmp, root);
    process.stderr.write(`[dlaas-test] XRootD image ready (xrootd ${version}) in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  } catch (e) {
    await unmountBelow(tmp);
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** A test CA and a localhost server certificate, made with the image's openssl; the CA is trusted in the image. */
async function makePki(root: string): Promise<void> {
  const dir = PKI_DIR_IN_ROOT;
  mkdirSync(join(root, dir), { recursive: true, mode: 0o700 });
  const ossl = (...args: string[]) => run('chroot', [root, 'openssl', ...args]);
  await ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/ca.key`, '-out', `${dir}/ca.pem`, '-days', '3650',
    '-subj', '/CN=dlaas test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  await ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/server.key`, '-out', `${dir}/server.csr`, '-subj', '/CN=localhost');
  writeFileSync(
    join(root, dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  await ossl('x509', '-req', '-in', `${dir}/server.csr`, '-CA', `${dir}/ca.pem`, '-CAkey', `${dir}/ca.key`, '-CAcreateserial',
    '-out', `${dir}/server.pem`, '-days', '3650', '-extfile', `${dir}/ext.cnf`);
  for (const k of ['ca.key', 'server.key']) chmodSync(join(root, dir, k), 0o600);
  chmodSync(join(root, dir), 0o755);
  copyFileSync(join(root, dir, 'ca.pem'), join(root, 'usr/local/share/ca-certificates/dlaas-test-ca.crt'));
  await run('chroot', [root, 'update-ca-certificates']);
}

/**
 * Files that hold or steer credentials are trusted only when another local user cannot have
 * planted, read or changed them: WLCG bearer-token discovery (`/tmp/bt_u<uid>` is a name anyone can
 * create first), `BEARER_TOKEN_FILE`, the hub's token file, the file token store, the Jupyter config.
 * Files are planted by chown-ing them to another uid, so most cases need root (as these tests run).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, lchown, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ErrorCode } from '../../src/index.js';
import { TokenSourceError, TokenStoreError } from '../../src/auth/index.js';
import { fileStore, fromFile, loadDataLakeConfig, wlcgDiscovery } from '../../src/node.js';
import { errorOf, expectNoSecrets, makeKey, mint } from '../auth/helpers.js';

const ISS = 'https://iam-escape.cloud.cnaf.infn.it/';
const UID = 987_654; // the user whose token files these are (no real /tmp/bt_u<UID> to trip over)
const OTHER = 65_534; // nobody: the other local user
const root = process.getuid?.() === 0;
let dir = '';
let token = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dlaas-token-files-'));
  token = await mint(await makeKey('k'), { iss: ISS });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A sticky, world-writable directory like /tmp. */
async function sharedDir(name: string): Promise<string> {
  const d = join(dir, name);
  await mkdir(d);
  await chmod(d, 0o1777);
  return d;
}

/** Write `content` to `path` with `mode`, owned by `uid`. */
async function plant(path: string, content: string, mode: number, uid: number): Promise<string> {
  await writeFile(path, content);
  await chmod(path, mode);
  await chown(path, uid, uid);
  return path;
}

async function refusal(p: Promise<unknown>, path: string): Promise<TokenSourceError> {
  const e = await errorOf(p);
  expect(e).toBeInstanceOf(TokenSourceError);
  expect(e).toMatchObject({ code: ErrorCode.tokenSource, problem: 'insecure', source: `file:${path}` });
  expect(e.message).toContain(path);
  expectNoSecrets(e, [token]);
  return e as TokenSourceError;
}

describe.skipIf(!root)('WLCG bearer-token discovery refuses token files other users could plant or read', () => {
  it('a bt_u<uid> file owned by another user is refused, naming the file, why and what to do — never the token', async () => {
    const tmp = await sharedDir('tmp-owner');
    const planted = await plant(join(tmp, `bt_u${UID}`), token, 0o600, OTHER);
    const e = await refusal(wlcgDiscovery({ env: { XDG_RUNTIME_DIR: tmp }, uid: UID }).getToken(), planted);
    expect(e.message).toContain(`is owned by uid ${OTHER}, not by you (uid ${UID}): another user may have planted it`);
    expect(e.message).toContain(`rm ${planted}`);
    // The same file, once it is the user's own, is used.
    await chown(planted, UID, UID);
    const ok = wlcgDiscovery({ env: { XDG_RUNTIME_DIR: tmp }, uid: UID });
    expect(await ok.getToken()).toBe(token);
    expect(ok.source).toBe(`file:${planted}`);
  });

  it('a bt_u<uid> file its group or others may read is refused until chmod 600', async () => {
    const xdg = join(dir, 'xdg-mode');
    await mkdir(xdg, { mode: 0o700 });
    const file = await plant(join(xdg, `bt_u${UID}`), token, 0o640, UID);
    const group = await refusal(wlcgDiscovery({ env: { XDG_RUNTIME_DIR: xdg }, uid: UID }).getToken(), file);
    expect(group.message).toContain('is readable by its group (mode 0640)');
    expect(group.message).toContain(`chmod 600 ${file}`);
    await chmod(file, 0o604);
    expect((await refusal(wlcgDiscovery({ env: { XDG_RUNTIME_DIR: xdg }, uid: UID }).getToken(), file)).message).toContain('is readable by others (mode 0604)');
    await chmod(file, 0o600);
    expect(await wlcgDiscovery({ env: { XDG_RUNTIME_DIR: xdg }, uid: UID }).getToken()).toBe(token);
  });

  it('a symbolic link another user planted in a shared directory is refused, even to a private file of the user', async () => {
    const tmp = await sharedDir('tmp-link');
    const own = await plant(join(dir, 'own-private.token'), token, 0o600, UID);
    const link = join(tmp, `bt_u${UID}`);
    await symlink(own, link);
    await lchown(link, OTHER, OTHER);
    expect((await refusal(wlcgDiscovery({ env: { XDG_RUNTIME_DIR: tmp }, uid: UID }).getToken(), link)).message).toContain('symbolic link');
  });

  it('BEARER_TOKEN_FILE is held to the same rules: the variable names the path, not who wrote the file', async () => {
    const foreign = await plant(join(dir, 'named-foreign.token'), token, 0o600, OTHER);
    await refusal(wlcgDiscovery({ env: { BEARER_TOKEN_FILE: foreign }, uid: UID }).getToken(), foreign);
    const loose = await plant(join(dir, 'named-loose.token'), token, 0o644, UID);
    await refusal(wlcgDiscovery({ env: { BEARER_TOKEN_FILE: loose }, uid: UID }).getToken(), loose);
    // A link the user made (outside a shared directory) is followed; the file it points to is checked.
    const own = await plant(join(dir, 'named-own.token'), token, 0o400, UID);
    const link = join(dir, 'named-link.token');
    await symlink(own, link);
    expect(await wlcgDiscovery({ env: { BEARER_TOKEN_FILE: link }, uid: UID }).getToken()).toBe(token);
  });
});

describe.skipIf(!root)("the hub's token file (fromFile)", () => {
  it('may be readable (the hub writes it 0644), but not owned by another user nor writable by others', async () => {
    // fromFile() checks against the effective user (root here, uid 0).
    const hub = await plant(join(dir, 'rucio_oauth.token'), token, 0o644, 0);
    expect(await fromFile(hub).getToken()).toBe(token);
    const foreign = await plant(join(dir, 'rucio_foreign.token'), token, 0o644, OTHER);
    expect((await refusal(fromFile(foreign).getToken(), foreign)).message).toContain(`is owned by uid ${OTHER}, not by you (uid 0)`);
    const writable = await plant(join(dir, 'rucio_writable.token'), token, 0o666, 0);
    const e = await refusal(fromFile(writable).getToken(), writable);
    expect(e.message).toContain('is writable by group and others (mode 0666)');
    expect(e.message).toContain(`chmod go-w ${writable}`);
  });
});

describe('fileStore', () => {
  it.skipIf(!root)('refuses a store file owned by another user, or a symbolic link, and never writes through it', async () => {
    const foreign = await plant(join(dir, 'store-foreign.json'), '{}', 0o600, OTHER);
    const e = await errorOf(fileStore(foreign).get('k'));
    expect(e).toBeInstanceOf(TokenStoreError);
    expect(e.message).toContain(`Token store ${foreign} is owned by uid ${OTHER}`);
    const target = join(dir, 'store-target.json');
    await writeFile(target, '{"k":"v"}', { mode: 0o600 });
    const link = join(dir, 'store-link.json');
    await symlink(target, link);
    expect((await errorOf(fileStore(link).set('k', 'w'))).message).toContain('symbolic link');
    expect(await readFile(target, 'utf8')).toBe('{"k":"v"}');
  });

  it('writes 0600 even under a permissive umask, and takes over a lock its dead holder left', async () => {
    const sub = join(dir, 'store');
    const path = join(sub, 'tokens.json');
    const child = spawn(process.execPath, ['-e', '0']);
    await once(child, 'exit');
    await mkdir(sub, { mode: 0o700 });
    await writeFile(`${path}.lock`, JSON.stringify({ pid: child.pid, host: (await import('node:os')).hostname(), token: 'x' }));
    const old = process.umask(0);
    try {
      await fileStore(path).set('k', 'v');
    } finally {
      process.umask(old);
    }
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(sub)).toEqual(['tokens.json']);
  });
});

describe('the Jupyter config file (it decides where the token is sent)', () => {
  it('is refused when anybody may rewrite it', async () => {
    const path = join(dir, 'jupyter_server_config.json');
    await writeFile(path, JSON.stringify({ RucioConfig: { instances: [{ name: 'escape', rucio_base_url: 'https://attacker.example' }] } }));
    await chmod(path, 0o666);
    const e = await errorOf(loadDataLakeConfig({ RUCIO_ACCESS_TOKEN: token }, { configFile: path, uid: UID, defaultTokenFile: false }));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toContain(`${path} is writable by others (mode 0666)`);
    expect(e.message).toContain(`chmod o-w ${path}`);
    await chmod(path, 0o664); // group-writable is tolerated (docker-stacks images make /etc/jupyter group-writable)
    expect((await loadDataLakeConfig({ RUCIO_ACCESS_TOKEN: token }, { configFile: path, uid: UID, defaultTokenFile: false })).rucio.baseUrl).toBe('https://attacker.example');
  });
});

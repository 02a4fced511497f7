import { createServer } from 'node:http';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import { NoTokenError, TokenExpiredError, TokenSourceError, type TokenWarning } from '../../src/auth/index.js';
import { autoDetect, fromEnv, fromFile, fromJupyterHub, wlcgDiscovery } from '../../src/node.js';
import { errorOf, expectNoSecrets, makeKey, mint, type TestKey } from '../auth/helpers.js';
import { closeServer, listen } from '../auth/op.js';

const ISS = 'https://iam-escape.cloud.cnaf.infn.it/';
const UID = 987_654; // no real /tmp/bt_u<uid> to trip over
let dir = '';
let key: TestKey;
let fresh = '';
let fresh2 = '';
let expired = '';
let hubUrl = '';
let hubToken = '';
const hub = createServer((req, res) => {
  res.writeHead(req.headers.authorization === 'token hub-api-token-abcdef' ? 200 : 403, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ name: 'jdoe', auth_state: { access_token: 'x', exchanged_tokens: { rucio: hubToken } } }));
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dlaas-node-'));
  key = await makeKey('k');
  [fresh, fresh2, expired, hubToken] = await Promise.all([
    mint(key, { iss: ISS, jti: 'a' }),
    mint(key, { iss: ISS, jti: 'b' }),
    mint(key, { iss: ISS, jti: 'c' }, { expiresIn: -3600 }),
    mint(key, { iss: ISS, jti: 'hub' }),
  ]);
  hubUrl = `http://127.0.0.1:${await listen(hub)}/hub/api`;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await closeServer(hub);
});

describe('fromEnv', () => {
  it('reads RUCIO_ACCESS_TOKEN, then BEARER_TOKEN, whitespace stripped, and names the variable', async () => {
    const p = fromEnv(undefined, { env: { BEARER_TOKEN: `  ${fresh2}\n`, RUCIO_ACCESS_TOKEN: '' } });
    expect(await p.getToken()).toBe(fresh2);
    expect(p.source).toBe('env:BEARER_TOKEN');
    const q = fromEnv(undefined, { env: { BEARER_TOKEN: fresh2, RUCIO_ACCESS_TOKEN: fresh } });
    expect(await q.getToken()).toBe(fresh);
    expect(q.source).toBe('env:RUCIO_ACCESS_TOKEN');
    const e = await errorOf(fromEnv(undefined, { env: {} }).getToken());
    expect(e).toBeInstanceOf(NoTokenError);
    expect(e.message).toMatch(/Set RUCIO_ACCESS_TOKEN or BEARER_TOKEN/);
  });
});

describe('fromFile', () => {
  it('re-reads the file when the hub rewrites it (no 401 needed)', async () => {
    const path = join(dir, 'rucio_oauth.token');
    await writeFile(path, `${fresh}\n`);
    const p = fromFile(path);
    expect(await p.getToken()).toBe(fresh);
    expect(p.source).toBe(`file:${path}`);
    await writeFile(path, fresh2);
    expect(await p.getToken()).toBe(fresh2);
    // Caught mid-write (empty): the still-valid token is kept, the new one picked up once written.
    await writeFile(path, '');
    expect(await p.getToken()).toBe(fresh2);
    await writeFile(path, fresh);
    expect(await p.getToken({ forceRefresh: true })).toBe(fresh);
  });

  it('defaults to RUCIO_OIDC_FILE_NAME', async () => {
    const path = join(dir, 'named.token');
    await writeFile(path, fresh);
    const p = fromFile(undefined, { env: { RUCIO_OIDC_FILE_NAME: path } });
    expect(await p.getToken()).toBe(fresh);
  });

  it('missing, unreadable, malformed and expired files are typed errors that never quote the content', async () => {
    const missing = await errorOf(fromFile(join(dir, 'nope')).getToken());
    expect((missing as TokenSourceError).problem).toBe('missing');
    const aDir = join(dir, 'a-directory');
    await mkdir(aDir);
    const unreadable = await errorOf(fromFile(aDir).getToken());
    expect(unreadable).toBeInstanceOf(TokenSourceError);
    expect((unreadable as TokenSourceError).problem).toBe('unreadable');
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked.token');
      await writeFile(locked, fresh);
      await chmod(locked, 0o000);
      expect(((await errorOf(fromFile(locked).getToken())) as TokenSourceError).problem).toBe('unreadable');
    }
    const garbage = join(dir, 'garbage.token');
    const secretish = 'secret-part-one secret-part-two';
    await writeFile(garbage, secretish);
    const malformed = await errorOf(fromFile(garbage).getToken());
    expect((malformed as TokenSourceError).problem).toBe('malformed');
    expect(malformed.message).toContain(garbage);
    expectNoSecrets(malformed, ['secret-part-one', 'secret-part-two']);
    const truncated = join(dir, 'truncated.token');
    await writeFile(truncated, fresh.slice(0, fresh.lastIndexOf('.') - 20) + fresh.slice(fresh.lastIndexOf('.')));
    expect(((await errorOf(fromFile(truncated).getToken())) as TokenSourceError).problem).toBe('malformed');
    const old = join(dir, 'old.token');
    await writeFile(old, expired);
    const e = await errorOf(fromFile(old).getToken());
    expect(e).toBeInstanceOf(TokenExpiredError);
    expect(e.message).toContain(`file:${old}`);
    for (const x of [missing, unreadable, malformed, e]) expectNoSecrets(x, [fresh, expired]);
  });
});

describe('wlcgDiscovery', () => {
  it('BEARER_TOKEN, then BEARER_TOKEN_FILE, then $XDG_RUNTIME_DIR/bt_u$UID, then /tmp/bt_u$UID', async () => {
    const xdg = join(dir, 'xdg');
    await mkdir(xdg, { recursive: true });
    const btFile = join(dir, 'bt');
    await writeFile(btFile, ` ${fresh2} `, { mode: 0o600 });
    const tmpFile = `/tmp/bt_u${UID}`;
    await writeFile(join(xdg, `bt_u${UID}`), fresh, { mode: 0o600 });
    await writeFile(tmpFile, fresh2, { mode: 0o600 });
    try {
      const env = { BEARER_TOKEN: fresh, BEARER_TOKEN_FILE: btFile, XDG_RUNTIME_DIR: xdg };
      const a = wlcgDiscovery({ env, uid: UID });
      await a.getToken();
      expect(a.source).toBe('env:BEARER_TOKEN');
      const b = wlcgDiscovery({ env: { ...env, BEARER_TOKEN: undefined }, uid: UID });
      expect(await b.getToken()).toBe(fresh2);
      expect(b.source).toBe(`file:${btFile}`);
      const c = wlcgDiscovery({ env: { XDG_RUNTIME_DIR: xdg }, uid: UID });
      await c.getToken();
      expect(c.source).toBe(`file:${join(xdg, `bt_u${UID}`)}`);
      const d = wlcgDiscovery({ env: {}, uid: UID });
      await d.getToken();
      expect(d.source).toBe(`file:${tmpFile}`);
      // A set BEARER_TOKEN_FILE ends the search, even when it is missing.
      const e = await errorOf(wlcgDiscovery({ env: { BEARER_TOKEN_FILE: join(dir, 'absent'), XDG_RUNTIME_DIR: xdg }, uid: UID }).getToken());
      expect((e as TokenSourceError).problem).toBe('missing');
    } finally {
      await rm(tmpFile, { force: true });
    }
    const none = await errorOf(wlcgDiscovery({ env: {}, uid: UID }).getToken());
    expect(none).toBeInstanceOf(NoTokenError);
    expect(none.message).toMatch(/BEARER_TOKEN_FILE/);
  });
});

describe('fromJupyterHub', () => {
  it('reads the hub API from JUPYTERHUB_API_URL / JUPYTERHUB_API_TOKEN, or names the missing variable', async () => {
    const p = fromJupyterHub({ env: { JUPYTERHUB_API_URL: hubUrl, JUPYTERHUB_API_TOKEN: 'hub-api-token-abcdef' } });
    expect(await p.getToken()).toBe(hubToken);
    const e = (() => {
      try {
        fromJupyterHub({ env: { JUPYTERHUB_API_URL: hubUrl } });
      } catch (err) {
        return err as ConfigError;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(ConfigError);
    expect(e?.setting).toBe('JUPYTERHUB_API_TOKEN');
  });
});

describe('autoDetect', () => {
  const base = () => ({ uid: UID, defaultFile: join(dir, 'hub-default.token') as string | false });

  it('prefers the hub variable, then its file, then the hub API, then WLCG discovery — and says which it used', async () => {
    const file = join(dir, 'auto.token');
    await writeFile(file, fresh2);
    const hubEnv = { JUPYTERHUB_API_URL: hubUrl, JUPYTERHUB_API_TOKEN: 'hub-api-token-abcdef' };
    const cases: [Record<string, string>, string][] = [
      [{ RUCIO_ACCESS_TOKEN: fresh, RUCIO_OIDC_FILE_NAME: file, ...hubEnv, BEARER_TOKEN: fresh }, 'env:RUCIO_ACCESS_TOKEN'],
      [{ RUCIO_ACCESS_TOKEN: expired, RUCIO_OIDC_FILE_NAME: file, ...hubEnv }, `file:${file}`], // stale spawn-time variable
      [{ RUCIO_ACCESS_TOKEN: fresh, RUCIO_OIDC_AUTH: 'file', RUCIO_OIDC_FILE_NAME: file }, `file:${file}`],
      [{ RUCIO_OIDC_ENV_NAME: 'MY_TOKEN', MY_TOKEN: fresh, RUCIO_ACCESS_TOKEN: fresh2 }, 'env:MY_TOKEN'],
      [{ ...hubEnv, BEARER_TOKEN: fresh }, 'jupyterhub'],
      [{ BEARER_TOKEN: fresh }, 'env:BEARER_TOKEN'],
    ];
    for (const [env, source] of cases) {
      const p = await autoDetect({ ...base(), env, onWarning: () => {} });
      expect(p.source, JSON.stringify(Object.keys(env))).toBe(source);
    }
    const withDefault = await autoDetect({ uid: UID, defaultFile: file, env: {} });
    expect(withDefault.source).toBe(`file:${file}`);
  });

  it('checks tokens against what Rucio expects (warnings), and names what to set when there is none', async () => {
    const warnings: TokenWarning[] = [];
    const notForRucio = await mint(key, { iss: ISS, aud: 'fts', scope: 'openid fts:submit-transfer' });
    await autoDetect({ ...base(), env: { RUCIO_ACCESS_TOKEN: notForRucio }, onWarning: (w) => warnings.push(w) });
    expect(warnings.map((w) => w.claim)).toEqual(['aud', 'scope']);
    for (const w of warnings) expectNoSecrets(w, [notForRucio]);
    const e = await errorOf(autoDetect({ ...base(), env: {} }));
    expect(e).toBeInstanceOf(NoTokenError);
    expect(e.message).toMatch(/Set RUCIO_ACCESS_TOKEN \(or BEARER_TOKEN \/ BEARER_TOKEN_FILE\)/);
    expect((e as NoTokenError).tried).toContain('env:RUCIO_ACCESS_TOKEN (not set)');
    const only = await errorOf(autoDetect({ ...base(), env: { RUCIO_ACCESS_TOKEN: expired } }));
    expect(only).toBeInstanceOf(TokenExpiredError);
    expectNoSecrets(only, [expired]);
  });
});

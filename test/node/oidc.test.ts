import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError } from '../../src/index.js';
import { OAuthError, OidcClient, TokenStoreError } from '../../src/auth/index.js';
import { fileStore, loopbackLogin } from '../../src/node.js';
import { createJwtValidator, oidcIdentity } from '../../src/testing/rucio/jwt.js';
import { errorOf } from '../auth/helpers.js';
import { TEST_CLIENTS, startTestOP, type TestOP } from '../auth/op.js';

let op: TestOP;
let dir = '';
beforeAll(async () => {
  op = await startTestOP();
  dir = await mkdtemp(join(tmpdir(), 'dlaas-oidc-node-'));
});
afterAll(async () => {
  await op?.close();
  await rm(dir, { recursive: true, force: true });
});

const app = (store = fileStore(join(dir, `s-${Math.random()}.json`))) => new OidcClient({ issuer: op.issuer, clientId: TEST_CLIENTS.app.clientId, allowInsecureLoopback: true, store });

describe('fileStore', () => {
  it('writes a 0600 file in a 0700 directory, atomically, and serialises concurrent writes', async () => {
    const path = join(dir, 'nested', 'tokens.json');
    const store = fileStore(path);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.set(`k${i}`, `v${i}`)));
    expect(Object.keys(JSON.parse(await readFile(path, 'utf8')) as object)).toHaveLength(20);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'nested'))).mode & 0o777).toBe(0o700);
    expect(await store.get('k7')).toBe('v7');
    await store.delete('k7');
    expect(await store.get('k7')).toBeUndefined();
    await chmod(path, 0o644); // someone loosened it: refused (its refresh tokens may have leaked), saying how to fix it
    const loose = await errorOf(store.set('k1', 'again'));
    expect(loose).toBeInstanceOf(TokenStoreError);
    expect(loose.message).toContain(`${path} is readable by group and others (mode 0644)`);
    expect(loose.message).toContain(`chmod 600 ${path}`);
    await chmod(path, 0o600);
    await store.set('k1', 'again');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    for (let i = 0; i < 20; i++) await store.delete(`k${i}`);
    await expect(stat(path)).rejects.toThrow(); // empty store: no file left behind
  });

  it('a corrupt store file is a TokenStoreError', async () => {
    const path = join(dir, 'corrupt.json');
    await writeFile(path, 'not json');
    const e = await errorOf(fileStore(path).get('x'));
    expect(e).toBeInstanceOf(TokenStoreError);
  });
});

describe('loopbackLogin (authorization code + PKCE for Node)', () => {
  it('receives the code on 127.0.0.1, ignores stray requests, and the session survives a restart via the file store', async () => {
    const storePath = join(dir, 'cli-store.json');
    const client = app(fileStore(storePath));
    let redirect: URL | undefined;
    const session = await loopbackLogin(client, {
      openBrowser: async (url) => {
        expect(url.searchParams.get('code_challenge_method')).toBe('S256');
        redirect = new URL(url.searchParams.get('redirect_uri')!);
        expect(redirect.hostname).toBe('127.0.0.1');
        const stray = await fetch(new URL('/callback?code=x&state=forged', redirect));
        expect(stray.status).toBe(404);
        const back = await op.browse(url, 'erin');
        const page = await fetch(back);
        expect(page.status).toBe(200);
        expect(await page.text()).toMatch(/close this window/);
      },
    });
    const token = await session.getToken();
    const accepts = createJwtValidator({ issuers: [{ issuer: op.issuer, jwks: op.jwks }], identities: new Map([[oidcIdentity('erin', op.issuer), 'erin']]) });
    expect(await accepts(token)).toMatchObject({ account: 'erin' });
    // The listener is gone.
    await expect(fetch(redirect!)).rejects.toThrow();
    // A new process restores the session from the 0600 file and can refresh it.
    expect((await stat(storePath)).mode & 0o777).toBe(0o600);
    const restored = await app(fileStore(storePath)).restoreSession();
    expect(await restored?.getToken()).toBe(token);
    const renewed = await restored!.refresh();
    expect(renewed).not.toBe(token);
    expect(await readFile(storePath, 'utf8')).toContain(renewed.slice(0, 20));
  });

  it('stops on timeout and on abort, closing the listener', async () => {
    let redirect: URL | undefined;
    const timeout = await errorOf(loopbackLogin(app(), { timeout: 50, openBrowser: (u) => void (redirect = new URL(u.searchParams.get('redirect_uri')!)) }));
    expect((timeout as OAuthError).oauthCode).toBe('access_denied');
    await expect(fetch(redirect!)).rejects.toThrow();
    const ac = new AbortController();
    const aborted = await errorOf(loopbackLogin(app(), { signal: ac.signal, openBrowser: () => ac.abort() }));
    expect(aborted).toBeInstanceOf(AbortError);
  });
});

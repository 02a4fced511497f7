/**
 * One stored OIDC session shared by several processes, against a real OpenID Provider (npm
 * oidc-provider) that rotates refresh tokens and, when a rotated-out refresh token is replayed,
 * refuses it (`invalid_grant`) and revokes the whole grant. Without coordination the second process
 * to refresh replays the token the first one just rotated: both lose the session.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcClient, memoryStore, type DevicePrompt, type TokenStore } from '../../src/auth/index.js';
import { fileStore } from '../../src/node.js';
import { createJwtValidator, oidcIdentity, type JwtValidator } from '../../src/testing/rucio/jwt.js';
import { TEST_CLIENTS, startTestOP, type TestOP } from '../auth/op.js';

/** Node 24 (the devDependency): runs the worker's TypeScript directly. */
const NODE = join(import.meta.dirname, '../../node_modules/node/bin/node');
const WORKER = join(import.meta.dirname, 'shared-session-worker.ts');
const ROUNDS = 8;

let op: TestOP;
let dir = '';
let accepts: JwtValidator;
/** Refresh-token grants the OP answered. */
const grants = { ok: 0, failed: 0 };

beforeAll(async () => {
  op = await startTestOP();
  dir = await mkdtemp(join(tmpdir(), 'dlaas-shared-session-'));
  accepts = createJwtValidator({ issuers: [{ issuer: op.issuer, jwks: op.jwks }], identities: new Map([[oidcIdentity('alice', op.issuer), 'alice']]) });
  const isRefresh = (ctx: unknown) => (ctx as { oidc?: { params?: { grant_type?: unknown } } }).oidc?.params?.grant_type === 'refresh_token';
  op.provider.on('grant.success', (ctx) => void (isRefresh(ctx) && grants.ok++));
  op.provider.on('grant.error', (ctx) => void (isRefresh(ctx) && grants.failed++));
});
afterAll(async () => {
  await op?.close();
  await rm(dir, { recursive: true, force: true });
});

const sessionKey = () => `dlaas:oidc:${op.issuer}:${TEST_CLIENTS.device.clientId}`;
const client = (store: TokenStore) => new OidcClient({ issuer: op.issuer, clientId: TEST_CLIENTS.device.clientId, allowInsecureLoopback: true, store });
async function stored(store: TokenStore): Promise<{ refreshToken: string; accessToken: string } | undefined> {
  const raw = await store.get(sessionKey());
  return raw ? (JSON.parse(raw) as { refreshToken: string; accessToken: string }) : undefined;
}

/** A device login approved headlessly; the session is persisted in the client's store. */
async function login(store: TokenStore) {
  const prompts: DevicePrompt[] = [];
  return client(store).deviceLogin({
    scope: 'openid profile offline_access wlcg.groups',
    onPrompt: (p) => void prompts.push(p),
    wait: () => op.approveDevice(prompts[0]!.userCode, 'alice'),
  });
}

describe('a stored session shared by several processes', () => {
  it(`two processes refreshing one file-store session ${ROUNDS} times each both keep valid tokens, and the session stays`, async () => {
    const storePath = join(dir, 'tokens.json');
    const store = fileStore(storePath);
    await login(store);
    const first = (await stored(store))!;
    const before = { ...grants };

    // Both start from the same stored refresh token, then refresh at the same moments: each worker
    // says `ready` once its session is restored, and both are told `go` together (an event, not a
    // start time that a slow start-up could miss). The process timeout is only a hang guard.
    const run = () => {
      const done = promisify(execFile)(NODE, [WORKER, op.issuer, storePath, String(ROUNDS)], { timeout: 100_000 });
      let err = '';
      const ready = new Promise<void>((resolve) => done.child.stderr?.on('data', (d: Buffer) => void ((err += String(d)), err.includes('ready\n') && resolve())));
      return { done, ready: Promise.race([ready, done.then(() => undefined)]), go: () => done.child.stdin?.end('go\n') };
    };
    const workers = [run(), run()];
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const results = await Promise.all(workers.map((w) => w.done));

    for (const { stdout } of results) {
      const { tokens } = JSON.parse(stdout) as { tokens: string[] };
      expect(tokens).toHaveLength(ROUNDS);
      // Every refresh gave a new token the Rucio JWT rules accept (the OP's signature, issuer, audience, identity).
      expect(new Set([first.accessToken, ...tokens]).size).toBe(ROUNDS + 1);
      for (const t of tokens) expect(await accepts(t)).toMatchObject({ account: 'alice' });
    }
    // No refresh token was spent twice: the OP refused none. Each process refreshed itself or took over the other's fresh tokens.
    const refreshed = grants.ok - before.ok;
    expect(grants.failed - before.failed).toBe(0);
    expect(refreshed).toBeGreaterThanOrEqual(ROUNDS);
    expect(refreshed).toBeLessThanOrEqual(2 * ROUNDS);

    // The session is still stored, with a rotated refresh token the OP still honours (the grant was never revoked).
    const last = (await stored(store))!;
    expect(last.refreshToken).not.toBe(first.refreshToken);
    const restored = await client(fileStore(storePath)).restoreSession();
    expect(await accepts(await restored!.refresh())).toMatchObject({ account: 'alice' });
    // No lock or temporary file is left behind; the store stays private.
    expect(await readdir(dir)).toEqual(['tokens.json']);
    expect(JSON.parse(await readFile(storePath, 'utf8'))).toHaveProperty([sessionKey()]);
  });

  it('after invalid_grant the store is read again: a session another process rotated meanwhile is taken over, not deleted', async () => {
    const shared = memoryStore();
    await login(shared);
    // A store whose next read is stale, as when another process without a lock rotates the token right after the read.
    let staleNext: string | undefined;
    const racy: TokenStore = {
      get: async (k) => {
        const stale = staleNext;
        staleNext = undefined;
        return stale ?? shared.get(k);
      },
      set: (k, v) => shared.set(k, v),
      delete: (k) => shared.delete(k),
    };
    const a = (await client(shared).restoreSession())!;
    const b = (await client(racy).restoreSession())!;
    staleNext = await shared.get(sessionKey());
    const rotated = await a.refresh();
    const after = (await stored(shared))!;

    // b spends the refresh token a rotated out: the OP says invalid_grant; b reads the store again and uses a's session.
    const failedBefore = grants.failed;
    expect(await b.refresh()).toBe(rotated);
    expect(grants.failed - failedBefore).toBe(1);
    expect(await stored(shared)).toEqual(after);
  });
});

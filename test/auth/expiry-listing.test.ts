/**
 * A long listing (many batched `POST /replicas/list` NDJSON requests through `RucioClient`)
 * survives the token expiring in the middle: reactively (the server starts answering 401
 * CannotAuthenticate to the old token) and proactively (the announced expiry passes mid-listing).
 */
import { createServer, type IncomingMessage } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RucioClient, parseDid, formatRfc1123 } from '../../src/index.js';
import { rucioUserpass } from '../../src/auth/index.js';
import { fakeClock } from './helpers.js';
import { closeServer, listen } from './op.js';

const clock = fakeClock(Date.UTC(2026, 5, 1, 8, 0, 0));
const state = { issued: 0, valid: new Set<string>(), listCalls: 0, unauthorized: 0, revokeAfter: Infinity, lifetimeMs: 3600_000, expiry: new Map<string, number>() };

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let s = '';
    req.on('data', (c: Buffer) => (s += c.toString()));
    req.on('end', () => resolve(s));
  });
}

const server = createServer(async (req, res) => {
  if (req.url === '/auth/userpass') {
    if (req.headers['x-rucio-password'] !== 'pw-0123456789') return void res.writeHead(401).end();
    const token = `jdoe-jdoe-unknown-${(++state.issued).toString().padStart(32, '0')}`;
    state.valid.add(token);
    state.expiry.set(token, clock.now() + state.lifetimeMs);
    res.writeHead(200, { 'X-Rucio-Auth-Token': token, 'X-Rucio-Auth-Token-Expires': formatRfc1123(new Date(clock.now() + state.lifetimeMs)), 'X-Rucio-Auth-Account': 'jdoe' }).end();
    return;
  }
  if (req.url === '/replicas/list' && req.method === 'POST') {
    const token = String(req.headers['x-rucio-auth-token'] ?? '');
    const { dids } = JSON.parse(await body(req)) as { dids: { scope: string; name: string }[] };
    if (!state.valid.has(token) || (state.expiry.get(token) ?? 0) <= clock.now()) {
      state.unauthorized++;
      res.writeHead(401, { 'Content-Type': 'application/octet-stream', ExceptionClass: 'CannotAuthenticate' }).end(JSON.stringify({ ExceptionClass: 'CannotAuthenticate', ExceptionMessage: 'Cannot authenticate with given credentials' }));
      return;
    }
    if (++state.listCalls === state.revokeAfter) state.valid.delete(token); // the next request with it fails
    res.writeHead(200, { 'Content-Type': 'application/x-json-stream' });
    for (const d of dids) res.write(`${JSON.stringify({ scope: d.scope, name: d.name, bytes: 1, adler32: '00000001', pfns: {}, rses: {}, states: {} })}\n`);
    res.end();
    return;
  }
  res.writeHead(404).end();
});

let base = '';
beforeAll(async () => {
  base = `http://127.0.0.1:${await listen(server)}`;
});
afterAll(() => closeServer(server));
afterEach(() => Object.assign(state, { issued: 0, valid: new Set(), listCalls: 0, unauthorized: 0, revokeAfter: Infinity, lifetimeMs: 3600_000, expiry: new Map() }));

const dids = Array.from({ length: 1000 }, (_, i) => parseDid(`user.jdoe:file.${String(i).padStart(4, '0')}`));

function client() {
  const token = rucioUserpass({ baseUrl: base, username: 'jdoe', password: 'pw-0123456789', account: 'jdoe', now: clock.now, skew: 60 });
  return new RucioClient({ baseUrl: base, account: 'jdoe', token, retry: { limit: 0 } });
}

describe('a long listing survives token expiry mid-operation', () => {
  it('reactively: the server revokes the token after 7 of 20 requests; one refresh, one retried request', async () => {
    state.revokeAfter = 7;
    const names: string[] = [];
    for await (const r of client().replicas.list(dids, { batchSize: 50 })) names.push(r.name);
    expect(names).toHaveLength(1000);
    expect(names[999]).toBe('file.0999');
    expect(new Set(names).size).toBe(1000);
    expect(state.issued).toBe(2);
    expect(state.unauthorized).toBe(1);
    expect(state.listCalls).toBe(20);
  });

  it('proactively: the announced expiry passes mid-listing; the token is renewed before the next request, no 401', async () => {
    state.lifetimeMs = 600_000;
    let n = 0;
    for await (const _ of client().replicas.list(dids, { batchSize: 50 })) {
      if (++n === 420) clock.advance(590_000); // 10 s left: inside the 60 s skew
    }
    expect(n).toBe(1000);
    expect(state.issued).toBe(2);
    expect(state.unauthorized).toBe(0);
  });
});

/**
 * The ESAP emulator against the 43 calls recorded from the real ESAP API gateway: every recorded
 * request is replayed, in order, from the same starting state, and the status, headers and body are
 * compared (exact where the recording is deterministic, by shape where it is not).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createEsapEmulator, type EsapEmulator } from '../../../src/testing/esap/index.js';

interface WireCall {
  n: number;
  title: string;
  request: { method: string; target: string; headers: [string, string][]; body: string | null };
  response: { status: number; headers: [string, string][]; body: string; bodyBytes: number; bodyTruncated?: boolean; bodyReconstructed?: string };
  userinfoStubCalls?: string[];
}
const calls = JSON.parse(readFileSync(new URL('../../fixtures/esap-wire.json', import.meta.url), 'utf8')) as WireCall[];

const ORIGIN = 'http://127.0.0.1:8000';
const SESSION_OK = 'uhpad9lf88drzbdwaskvw3o76ukc716e';
const SESSION_EXPIRED = 'sf8be3ldxichy8i5fil3hbv030asimuv';
const KNOX = 'abf713818958299afb12d87559458ad3cb646e233ea56b67c14471a6e1e9d3f1';

/** The recorded server's starting state (see the transcript's "Identities used"). */
function recordedSetup(now = () => new Date('2026-11-25T09:32:56Z')): EsapEmulator {
  const esap = createEsapEmulator({
    baseUrl: ORIGIN,
    now,
    oidc: { issuer: 'http://127.0.0.1:8001/', authorizationEndpoint: 'http://127.0.0.1:8001/authorize', clientId: 'esap-local-test' },
  });
  esap.addUser({ user_name: 'alice', email: 'alice@example.org', full_name: 'Alice Example', password: 'alice-pw', tokens: ['alice-iam-access-token'], knoxTokens: [KNOX], sub: 'a1b2c3d4-alice' });
  esap.addUser({ user_name: 'bob', email: 'bob@example.org', password: 'bob-pw', tokens: ['bob-iam-access-token'], profile: false });
  esap.addIdentity('carol-iam-access-token', { sub: 'c-carol', email: 'carol@example.org' });
  esap.createSession('alice', { sessionid: SESSION_OK, accessToken: 'alice-iam-access-token', issuedAt: 1795599176, expiresAt: 1795602776 });
  esap.createSession('alice', { sessionid: SESSION_EXPIRED, accessToken: 'alice-iam-access-token', issuedAt: 1795599177, expiresAt: 1795599117 });
  return esap;
}

const SKIP_REQUEST = new Set(['host', 'connection', 'content-length', 'accept-encoding']);
const NOT_COMPARED = new Set(['date', 'server']);

function requestOf(c: WireCall): Request {
  const headers = c.request.headers.filter(([k]) => !SKIP_REQUEST.has(k.toLowerCase()));
  return new Request(`${ORIGIN}${c.request.target}`, { method: c.request.method, headers, ...(c.request.body !== null ? { body: c.request.body } : {}) });
}

const headerMap = (pairs: Iterable<[string, string]>) => new Map([...pairs].map(([k, v]) => [k.toLowerCase(), v.trim()]));
const RANDOM_URL = /^http:\/\/127\.0\.0\.1:8001\/authorize\?response_type=code&client_id=esap-local-test&redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A8000%2Fesap-api%2Foidc%2Fcallback%2F&state=[A-Za-z0-9]{32}&scope=openid%20email%20profile&prompt=none&nonce=[A-Za-z0-9]{32}$/;

describe('ESAP emulator replays the recorded transcript', () => {
  // The emulator's clock follows the recording's `Date` headers (session expiry, cookie expiry).
  let clock = new Date('2026-11-25T09:32:54Z');
  const esap = recordedSetup(() => clock);
  const results = new Map<number, { response: Response; body: string }>();

  for (const c of calls) {
    it(`#${c.n} ${c.title}`, async () => {
      esap.resetLog();
      clock = new Date(c.response.headers.find(([k]) => k === 'Date')?.[1] as string);
      const response = await esap.handle(requestOf(c));
      const body = await response.text();
      results.set(c.n, { response, body });
      expect(response.status).toBe(c.response.status);

      // Headers: the same names, and the same values except where the server was random or truncated.
      const want = headerMap(c.response.headers);
      const got = headerMap(response.headers);
      for (const name of NOT_COMPARED) want.delete(name);
      expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
      for (const [name, value] of want) {
        if (name === 'location' || name === 'refresh_url') expect(got.get(name)).toMatch(RANDOM_URL);
        else if (name === 'content-length' && c.response.bodyTruncated && c.response.bodyReconstructed === undefined) continue;
        else expect(`${name}: ${got.get(name)}`).toBe(`${name}: ${value}`);
      }

      // Body: exact when the recording is complete (or could be rebuilt), by shape otherwise.
      const full = c.response.bodyTruncated ? c.response.bodyReconstructed : c.response.body;
      if (c.n === 14) {
        const head = c.response.body.slice(0, c.response.body.indexOf('Python Path:'));
        expect(body.startsWith(head)).toBe(true);
      } else if (c.n === 42) {
        expect(JSON.parse(body)).toEqual({ refresh_url: expect.stringMatching(RANDOM_URL) });
        expect(body).toMatch(/^\{"refresh_url": "/);
      } else {
        expect(full).toBeDefined();
        expect(body).toBe(full);
      }

      // Bearer: one userinfo call per request, with the request's token (where the recording lists them).
      if (c.userinfoStubCalls) expect(esap.userinfoCalls.map((u) => `GET /userinfo Authorization='Bearer ${u.token}'`)).toEqual((c.userinfoStubCalls ?? []).map((l) => l.replace(/^\S+ /, '')));
    });
  }

  it('ends in the recorded final state: the basket of call 26, stored as Python json.dumps text', () => {
    const stored = esap.itemData('alice');
    expect(stored).toHaveLength(5);
    expect(stored[0]).toBe('{"archive": "rucio", "record": {"scope": "ESCAPE_CTA_TEST", "name": "gamma_20deg_0deg_run100___cta-prod5-paranal.simtel.zst", "did_type": "FILE", "bytes": 1048576, "length": null}}');
    expect(esap.rawStore.profiles.find((p) => p.user_name === 'alice')).toMatchObject({ oidc_access_token: 'alice-iam-access-token', id_token_expiration: '2026-11-25T09:31:57Z' });
  });
});

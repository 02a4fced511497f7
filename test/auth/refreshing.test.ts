import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, DlaasError, Transport, UnauthenticatedError } from '../../src/index.js';
import { RUCIO_TOKEN, RefreshingTokenProvider, TokenWarning, type LoadContext } from '../../src/auth/index.js';
import { errorOf, expectNoSecrets, fakeClock, makeKey, mint } from './helpers.js';

const MIN = 60_000;

/** A loader issuing tok-1, tok-2, ... that expire `lifetime` ms after issue, optionally slow. */
function counter(clock: { now(): number }, lifetime = 10 * MIN, delay = 0) {
  const calls: LoadContext[] = [];
  return {
    calls,
    load: async (ctx: LoadContext) => {
      calls.push(ctx);
      if (delay) await new Promise((r) => setTimeout(r, delay));
      return { token: `tok-${calls.length}-abcdef`, expiresAt: new Date(clock.now() + lifetime) };
    },
  };
}

describe('RefreshingTokenProvider', () => {
  it('caches the token and refreshes proactively `skew` seconds before expiry', async () => {
    const clock = fakeClock();
    const src = counter(clock);
    const p = new RefreshingTokenProvider({ load: src.load, skew: 60, now: clock.now });
    expect(await p.getToken()).toBe('tok-1-abcdef');
    clock.advance(8 * MIN);
    expect(await p.getToken()).toBe('tok-1-abcdef');
    expect(p.expiresAt?.getTime()).toBe(clock.now() + 2 * MIN);
    clock.advance(MIN + 1); // 59 s before expiry: inside the skew
    expect(await p.getToken()).toBe('tok-2-abcdef');
    expect(src.calls).toHaveLength(2);
    expect(src.calls[1]?.forced).toBe(false);
    expect(src.calls[1]?.previous?.token).toBe('tok-1-abcdef');
  });

  it('never refreshes earlier than half the lifetime, whatever the skew', async () => {
    const clock = fakeClock();
    const src = counter(clock, 30_000); // 30 s tokens, 60 s skew
    const p = new RefreshingTokenProvider({ load: src.load, skew: 60, now: clock.now });
    await p.getToken();
    clock.advance(14_000);
    await p.getToken();
    expect(src.calls).toHaveLength(1);
    clock.advance(2_000);
    await p.getToken();
    expect(src.calls).toHaveLength(2);
  });

  it('concurrent callers during a refresh share exactly one load', async () => {
    const clock = fakeClock();
    const src = counter(clock, 10 * MIN, 20);
    const p = new RefreshingTokenProvider({ load: src.load, now: clock.now });
    const first = await Promise.all(Array.from({ length: 25 }, () => p.getToken()));
    expect(new Set(first)).toEqual(new Set(['tok-1-abcdef']));
    clock.advance(10 * MIN); // expired: everybody needs a new one at once
    const second = await Promise.all(Array.from({ length: 25 }, () => p.getToken()));
    expect(new Set(second)).toEqual(new Set(['tok-2-abcdef']));
    expect(src.calls).toHaveLength(2);
  });

  it('forced refreshes after 401s share one load; with rejectedToken a straggler reuses the replacement', async () => {
    const clock = fakeClock();
    const src = counter(clock, 10 * MIN, 20);
    const p = new RefreshingTokenProvider({ load: src.load, now: clock.now });
    await p.getToken();
    const forced = await Promise.all(Array.from({ length: 10 }, () => p.getToken({ forceRefresh: true })));
    expect(new Set(forced)).toEqual(new Set(['tok-2-abcdef']));
    expect(src.calls).toHaveLength(2);
    expect(src.calls[1]?.forced).toBe(true);
    // A straggler whose request failed with tok-1 arrives after the load: it gets tok-2, no new load.
    expect(await p.getToken({ forceRefresh: true, rejectedToken: 'tok-1-abcdef' })).toBe('tok-2-abcdef');
    expect(src.calls).toHaveLength(2);
    // tok-2 itself refused: load again (also when the caller does not say which token failed).
    expect(await p.getToken({ forceRefresh: true, rejectedToken: 'tok-2-abcdef' })).toBe('tok-3-abcdef');
    expect(await p.getToken({ forceRefresh: true })).toBe('tok-4-abcdef');
    expect(await p.refresh()).toBe('tok-5-abcdef');
  });

  it('falls back to the still-valid token when a proactive refresh fails, and throws once it expired', async () => {
    const clock = fakeClock();
    let fail = false;
    let n = 0;
    const p = new RefreshingTokenProvider({
      now: clock.now,
      skew: 60,
      load: async () => {
        n++;
        if (fail) throw new Error('issuer down');
        return { token: `tok-${n}-abcdef`, expiresAt: new Date(clock.now() + 10 * MIN) };
      },
    });
    await p.getToken();
    fail = true;
    clock.advance(9.5 * MIN);
    expect(await p.getToken()).toBe('tok-1-abcdef');
    expect(await p.getToken()).toBe('tok-1-abcdef'); // no retry storm: backs off 5 s
    expect(n).toBe(2);
    clock.advance(MIN);
    const e = await errorOf(p.getToken());
    expect(e).toBeInstanceOf(DlaasError);
    expect(e.message).toMatch(/Could not obtain an access token/);
    fail = false;
    expect(await p.getToken()).toMatch(/^tok-\d-abcdef$/);
  });

  it("a caller's signal stops its own wait; the load is aborted only when nobody waits", async () => {
    const clock = fakeClock();
    let loadSignal: AbortSignal | undefined;
    let release: (() => void) | undefined;
    const p = new RefreshingTokenProvider({
      now: clock.now,
      load: async ({ signal }) => {
        loadSignal = signal;
        await new Promise<void>((r) => (release = r));
        return { token: 'tok-slow-abcdef' };
      },
    });
    const a = new AbortController();
    const pa = p.getToken({ signal: a.signal });
    const pb = p.getToken();
    await new Promise((r) => setTimeout(r, 5));
    a.abort();
    expect(await errorOf(pa)).toBeInstanceOf(AbortError);
    expect(loadSignal?.aborted).toBe(false);
    release?.();
    expect(await pb).toBe('tok-slow-abcdef');

    const q = new RefreshingTokenProvider({ load: async ({ signal }) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(new Error('stopped')))) });
    const c = new AbortController();
    const pc = q.getToken({ signal: c.signal });
    c.abort();
    expect(await errorOf(pc)).toBeInstanceOf(AbortError);
  });

  it('warns (typed, once per token) when a token lacks what its target expects', async () => {
    const key = await makeKey('k1');
    const jwt = await mint(key, { iss: 'https://iam.example.org/', aud: 'other', scope: 'openid' });
    const warnings: TokenWarning[] = [];
    const p = new RefreshingTokenProvider({ load: async () => ({ token: jwt }), expect: RUCIO_TOKEN, onWarning: (w) => warnings.push(w) });
    await p.getToken();
    await p.getToken({ forceRefresh: true });
    expect(warnings.map((w) => w.claim)).toEqual(['aud', 'scope']);
    expect(warnings[0]).toBeInstanceOf(TokenWarning);
    expect(warnings[0]?.code).toBe('DLAAS_AUTH_TOKEN_WARNING');
    expect(warnings[1]?.message).toMatch(/lacks scope profile/);
    for (const w of warnings) expectNoSecrets(w, [jwt]);
  });

  it('keeps loader failures secret-free', async () => {
    const secret = 'refresh-secret-0123456789';
    const p = new RefreshingTokenProvider({
      load: async () => {
        throw new Error(`server said: bad refresh token ${secret}`);
      },
    });
    // Registered secrets are scrubbed from every error text.
    await new RefreshingTokenProvider({ load: async () => ({ token: secret }) }).getToken();
    const e = await errorOf(p.getToken());
    expectNoSecrets(e, [secret]);
  });
});

describe('RefreshingTokenProvider with the Transport', () => {
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());

  it('a 401 makes the transport ask once for a fresh token; concurrent 401s cause one refresh', async () => {
    let valid = 'tok-1-abcdef';
    server.use(
      http.get('https://svc.test/x', ({ request }) =>
        request.headers.get('X-Rucio-Auth-Token') === valid ? HttpResponse.json({ ok: true }) : HttpResponse.json({ ExceptionClass: 'CannotAuthenticate', ExceptionMessage: 'Cannot authenticate' }, { status: 401 }),
      ),
    );
    const clock = fakeClock();
    const src = counter(clock, 10 * MIN, 10);
    const p = new RefreshingTokenProvider({ load: src.load, now: clock.now });
    const t = new Transport({ service: 'rucio', baseUrl: 'https://svc.test/', auth: { token: p, header: 'X-Rucio-Auth-Token' } });
    await t.json({ method: 'GET', path: 'x' });
    valid = 'tok-2-abcdef'; // the server revokes tok-1
    const results = await Promise.all(Array.from({ length: 8 }, () => t.json({ method: 'GET', path: 'x' })));
    expect(results).toHaveLength(8);
    expect(src.calls).toHaveLength(2); // the 401s arrive while the refresh is under way
    valid = 'never';
    const e = await errorOf(t.json({ method: 'GET', path: 'x' }));
    expect(e).toBeInstanceOf(UnauthenticatedError);
    expect(src.calls).toHaveLength(3); // one retry, not a loop
  });
});

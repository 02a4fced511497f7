/**
 * The ESAP emulator against the ESAP calls of the real-server addenda (#41–#61): profile creation
 * with `POST user-profiles/`, the missing trailing slash (CommonMiddleware's 301 and 500 with only
 * `Vary: Origin`), Django's error pages (`text/html` without charset), and two clients' concurrent
 * whole-basket PATCHes (the lost update, and the interleaved writes that duplicate items), replayed
 * with the emulator's request holds. Status, headers and bodies are compared as in transcripts.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createEsapEmulator, type EsapEmulator } from '../../../src/testing/esap/index.js';

interface WireCall {
  n: number;
  title: string;
  request: { method: string; target: string; headers: [string, string][]; body: string | null };
  response: { status: number; headers: [string, string][]; body: string; bodyBytes: number; bodyTruncated?: boolean };
}
const calls = JSON.parse(readFileSync(new URL('../../fixtures/real-server-addenda.json', import.meta.url), 'utf8')) as WireCall[];
const call = (n: number) => calls.find((c) => c.n === n) as WireCall;

const ORIGIN = 'http://127.0.0.1:8000';
const SKIP_REQUEST = new Set(['host', 'connection', 'content-length', 'accept-encoding']);
const NOT_COMPARED = new Set(['date', 'server']);
const headerMap = (pairs: Iterable<[string, string]>) => new Map([...pairs].map(([k, v]) => [k.toLowerCase(), v.trim()]));

/** The recorded server after its databases were reset (section 7): alice with an empty basket, bob without a profile. */
function recordedSetup(): EsapEmulator {
  const esap = createEsapEmulator({ baseUrl: ORIGIN });
  esap.addUser({ user_name: 'alice', email: 'alice@example.org', full_name: 'Alice Example', password: 'alice-pw', tokens: ['alice-iam-access-token'], sub: 'a1b2c3d4-alice', items: [] });
  esap.addUser({ user_name: 'bob', email: 'bob@example.org', password: 'bob-pw', profile: false });
  return esap;
}

function requestOf(c: WireCall): Request {
  const headers = c.request.headers.filter(([k]) => !SKIP_REQUEST.has(k.toLowerCase()));
  return new Request(`${ORIGIN}${c.request.target}`, { method: c.request.method, headers, ...(c.request.body !== null ? { body: c.request.body } : {}) });
}

/** Same status and header names; same header values (`Content-Length` only when the emulator's body is comparable); the body exact, or its recorded prefix. */
async function expectRecorded(c: WireCall, response: Response, compareLength = !c.response.bodyTruncated): Promise<string> {
  const body = await response.text();
  expect(response.status).toBe(c.response.status);
  const want = headerMap(c.response.headers);
  const got = headerMap(response.headers);
  for (const name of NOT_COMPARED) want.delete(name);
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, value] of want) if (name !== 'content-length' || compareLength) expect(`${name}: ${got.get(name)}`).toBe(`${name}: ${value}`);
  if (c.response.bodyTruncated) expect(body.startsWith(c.response.body)).toBe(true);
  return body;
}

const replay = async (esap: EsapEmulator, n: number) => expectRecorded(call(n), await esap.handle(requestOf(call(n))));

type Cart = { item_data: string; user_profile: string }[];
const cartOf = (body: string): Cart => (JSON.parse(body) as { shopping_cart?: Cart; results?: { shopping_cart: Cart }[] }).shopping_cart ?? (JSON.parse(body) as { results: { shopping_cart: Cart }[] }).results[0]!.shopping_cart;
const sorted = (cart: Cart) => cart.map((i) => i.item_data).sort();

describe('ESAP emulator replays the real-server addenda', () => {
  it('#41–#46: POST user-profiles/ creates a profile for anyone (201, no Location); shopping_cart in the body is a 500; a taken user_name is a 400', async () => {
    const esap = recordedSetup();
    for (const n of [41, 42, 43, 44, 45, 46]) await replay(esap, n);
    expect(esap.rawStore.profiles.map((p) => p.user_name)).toEqual(['alice', 'bob']); // dave's POST failed before saving
  });

  it('#47–#51: the missing trailing slash (301 / 500 with Vary: Origin only) and Django\'s pages (text/html, no charset)', async () => {
    const esap = recordedSetup();
    for (const n of [47, 48, 49, 50, 51]) await replay(esap, n);
    expect(esap.basket('alice')).toEqual([]); // the no-slash PATCH never reached the view
  });

  /** The seeding of sections 10a and 10b: alice's basket [A, B] as the GUI PATCH stored it (#52 shows it). */
  function seeded(): EsapEmulator {
    const esap = recordedSetup();
    esap.setRawBasket('alice', cartOf(call(52).response.body).map((i) => i.item_data));
    return esap;
  }

  it('#52–#56 (10a): both PATCHes answer 200 and the later one silently replaces the other\'s list', async () => {
    const esap = seeded();
    await replay(esap, 52);
    await replay(esap, 53);
    // Client 2's answer was read first (41 ms, client 1's at 107 ms): the emulator writes them in that order.
    await replay(esap, 55);
    await replay(esap, 54);
    const final = await replay(esap, 56);
    expect(cartOf(final).map((i) => JSON.parse(i.item_data).record?.name)).toEqual([
      'gamma_20deg_0deg_run100___cta-prod5-paranal.simtel.zst',
      undefined,
      'proton_20deg_0deg_run200___cta-prod5-paranal.simtel.zst',
    ]); // the electron file (C2) is lost
  });

  it('#57–#61 (10b): PATCHes held between delete and create interleave into the recorded 6-item basket (same items and copies)', async () => {
    const esap = seeded();
    await replay(esap, 57);
    await replay(esap, 58);
    const patches = esap.hold({ method: 'PATCH', phase: 'cart-deleted', limit: 2 });
    const answers = [esap.handle(requestOf(call(59))), esap.handle(requestOf(call(60)))];
    await patches.arrived(2); // both deleted the basket
    await patches.release(1); // client 2 creates its list (it answered first on the real server)…
    await patches.release(0); // …then client 1: the real server interleaved item by item, the emulator list by list
    const [r59, r60] = await Promise.all(answers);
    const b59 = await expectRecorded(call(59), r59 as Response); // 6 items, so the same Content-Length
    const b60 = await expectRecorded(call(60), r60 as Response, false); // 3 items here, 5 on the real server (client 1's A and B came first)
    expect(sorted(cartOf(b59))).toEqual(sorted(cartOf(call(59).response.body)));
    expect(cartOf(call(60).response.body).map((i) => i.item_data)).toEqual(expect.arrayContaining(cartOf(b60).map((i) => i.item_data)));
    const final = await esap.handle(requestOf(call(61)));
    const b61 = await expectRecorded(call(61), final);
    expect(sorted(cartOf(b61))).toEqual(sorted(cartOf(call(61).response.body)));
    expect(cartOf(b61)).toHaveLength(6);
  });
});

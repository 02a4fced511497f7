/**
 * The ESAP emulator beyond the recorded calls: Python's float formatting, DRF validation paths,
 * pagination, URL resolution, the open `shopping-items/` API, and the userinfo sources.
 */
import { describe, expect, it } from 'vitest';
import { EsapClient } from '../../../src/esap/index.js';
import { createEsapEmulator } from '../../../src/testing/esap/index.js';
import { pyDumps, pyFloatRepr, pyLoads } from '../../../src/testing/esap/python.js';

function alice(options: Parameters<typeof createEsapEmulator>[0] = {}) {
  const esap = createEsapEmulator(options);
  esap.addUser({ user_name: 'alice', email: 'alice@example.org', full_name: 'Alice', password: 'pw', tokens: ['t-alice'], items: [{ archive: 'x', n: 1 }] });
  const call = async (method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
    const res = await esap.fetch(`/esap-api/accounts/${path}`, {
      method,
      headers: { Authorization: 'Bearer t-alice', Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body } : {}),
    });
    return { status: res.status, type: res.headers.get('Content-Type'), headers: res.headers, text: await res.text() };
  };
  return { esap, call };
}

describe('Python json formatting', () => {
  it('writes floats as repr() does', () => {
    const cases: [number, string][] = [
      [1, '1.0'],
      [1e15, '1000000000000000.0'],
      [1e16, '1e+16'],
      [0.0001, '0.0001'],
      [0.00001, '1e-05'],
      [123.456, '123.456'],
      [-0, '-0.0'],
      [1.5e300, '1.5e+300'],
      [5e-324, '5e-324'],
      [0.1 + 0.2, '0.30000000000000004'],
      [Number.POSITIVE_INFINITY, 'Infinity'],
    ];
    for (const [x, repr] of cases) expect(pyFloatRepr(x)).toBe(repr);
  });

  it('json.dumps(json.loads(text)) keeps ints exact, floats as floats, order, and escapes non-ASCII', () => {
    expect(pyDumps(pyLoads('{"b":1.0,"a":[1,2.50,1E2,12345678901234567890],"é":"😀\\u007f","n":null}'))).toBe(
      '{"b": 1.0, "a": [1, 2.5, 100.0, 12345678901234567890], "\\u00e9": "\\ud83d\\ude00\\u007f", "n": null}',
    );
    expect(pyDumps(pyLoads('{"a":1,"a":2,"b":3}'))).toBe('{"a": 2, "b": 3}');
  });
});

describe('DRF validation and update paths (from the ESAP/DRF source; not in the recordings)', () => {
  it('answers each malformed PATCH with the serializer error, nothing written', async () => {
    const { esap, call } = alice();
    const cases: [string, string][] = [
      ['null', '{"non_field_errors":["No data provided"]}'],
      ['[1]', '{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}'],
      ['{"shopping_cart":null}', '{"shopping_cart":["This field may not be null."]}'],
      ['{"shopping_cart":[null,{}]}', '{"shopping_cart":[["This field may not be null."],{}]}'],
      ['{"shopping_cart":[{"user_profile":"nobody"},{"user_profile":true}]}', '{"shopping_cart":[{"user_profile":["Invalid pk \\"nobody\\" - object does not exist."]},{"user_profile":["Incorrect type. Expected pk value, received bool."]}]}'],
      ['{"shopping_cart":[],"user_email":"nope","full_name":""}', '{"full_name":["This field may not be blank."],"user_email":["Enter a valid email address."]}'],
      ['{"shopping_cart":[],"full_name":' + JSON.stringify('x'.repeat(101)) + '}', '{"full_name":["Ensure this field has no more than 100 characters."]}'],
    ];
    for (const [body, errors] of cases) {
      const r = await call('PATCH', 'user-profiles/alice/', body);
      expect([r.status, r.text]).toEqual([400, errors]);
    }
    expect(esap.basket('alice')).toEqual([{ archive: 'x', n: 1 }]);
  });

  it('PATCH sets plain fields with the cart; PUT needs user_name and user_email', async () => {
    const { esap, call } = alice();
    const r = await call('PATCH', 'user-profiles/alice/', '{"shopping_cart":[{"archive":"y"}],"full_name":"  Alice E.  ","user_name":"ignored"}');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ user_name: 'alice', full_name: 'Alice E.', shopping_cart: [{ item_data: '{"archive": "y"}', user_profile: 'alice' }] });
    const put = await call('PUT', 'user-profiles/alice/', '{"user_name":"alice","user_email":"alice@example.org","shopping_cart":[{"item_data":{"archive":"z"}}]}');
    expect(put.status).toBe(200);
    expect(esap.itemData('alice')).toEqual(['{"item_data": {"archive": "z"}}']); // the nesting trap, on PUT too
  });

  it('a PATCH body without Content-Type is ignored by DRF: the basket is wiped, then 500', async () => {
    const { esap } = alice();
    const res = await esap.fetch('/esap-api/accounts/user-profiles/alice/', { method: 'PATCH', headers: { Authorization: 'Bearer t-alice', Accept: 'application/json, text/plain, */*' }, body: new Blob(['{"shopping_cart":[]}']) });
    expect(res.status).toBe(500);
    expect(res.headers.get('Content-Type')).toBe('text/html'); // the GUI's Accept gets the HTML technical page (no charset: addenda #51)
    expect(await res.text()).toContain("KeyError at /esap-api/accounts/user-profiles/alice/");
    expect(esap.itemData('alice')).toEqual([]);
  });

  it('m2m fields: the cart is written, then update() fails', async () => {
    const { esap, call } = alice();
    const r = await call('PATCH', 'user-profiles/alice/', '{"shopping_cart":[{"archive":"k"}],"software_repositories":[]}');
    expect([r.status, r.text.split('\n')[0]]).toEqual([500, 'IndexError at /esap-api/accounts/user-profiles/alice/']);
    expect(esap.itemData('alice')).toEqual(['{"archive": "k"}']);
  });

  it('other content types are 415 (an empty body is {}: wipe, then 500); DELETE removes profile and items', async () => {
    const { esap, call } = alice();
    const empty = await call('PATCH', 'user-profiles/alice/', undefined, { 'Content-Type': 'text/plain' });
    expect(empty.status).toBe(500);
    expect(esap.itemData('alice')).toEqual([]);
    const typed = await esap.fetch('/esap-api/accounts/user-profiles/alice/', { method: 'PATCH', headers: { Authorization: 'Bearer t-alice', 'Content-Type': 'text/plain' }, body: 'x' });
    expect([typed.status, await typed.text()]).toEqual([415, '{"detail":"Unsupported media type \\"text/plain\\" in request."}']);
    const del = await call('DELETE', 'user-profiles/alice/');
    expect([del.status, del.type, del.text]).toEqual([204, null, '']);
    expect(esap.rawStore.profiles).toEqual([]);
    expect(esap.rawStore.items).toEqual([]);
  });
});

describe('URLs and pagination', () => {
  it('paginates like ESAP CustomPagination and DRF', async () => {
    const { call, esap } = alice();
    esap.setBasket('alice', Array.from({ length: 120 }, (_, i) => ({ archive: 'x', i })));
    const page = async (q: string) => {
      const r = await call('GET', `shopping-items/${q}`);
      return r.status === 200 ? (({ requested_page, requested_page_size, count, pages, results }) => ({ requested_page, requested_page_size, count, pages, n: results.length }))(JSON.parse(r.text)) : [r.status, r.text];
    };
    expect(await page('')).toEqual({ requested_page: '1', requested_page_size: null, count: 120, pages: 3, n: 50 });
    expect(await page('?page=3')).toEqual({ requested_page: '3', requested_page_size: null, count: 120, pages: 3, n: 20 });
    expect(await page('?page=last&page_size=100')).toEqual({ requested_page: 'last', requested_page_size: '100', count: 120, pages: 2, n: 20 });
    expect(await page('?page=4')).toEqual([404, '{"detail":"Invalid page."}']);
    expect((await page('?page_size=abc')) as unknown[]).toContainEqual(500);
  });

  it('resolves URLs like the DefaultRouter: format suffixes, APPEND_SLASH, names with dots', async () => {
    const { call, esap } = alice();
    expect((await call('GET', 'user-profiles.json')).status).toBe(200);
    expect(JSON.parse((await call('GET', 'user-profiles/alice.json')).text).user_name).toBe('alice');
    expect((await call('GET', 'user-profiles/alice.api/')).text).toBe('{"detail":"Not found."}');
    const redirect = await esap.fetch('/esap-api/accounts/user-profiles', { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('Location')]).toEqual([301, '/esap-api/accounts/user-profiles/']);
    const noSlash = await call('PATCH', 'user-profiles/alice', '{"shopping_cart":[]}');
    expect([noSlash.status, noSlash.text.split('\n')[0]]).toEqual([500, 'RuntimeError at /esap-api/accounts/user-profiles/alice']);
    expect((await esap.fetch('/esap-api/query/')).status).toBe(404);
    expect(esap.serves(new Request('http://any.host/esap-api/accounts/'))).toBe(true);
    expect(esap.serves('/replicas/list')).toBe(false);
  });
});

describe('shopping-items/ (AllowAny, not used by the GUI)', () => {
  it('stores item_data as given: an object, which the SDK then reports as a (writable) problem', async () => {
    const { call, esap } = alice();
    const created = await call('POST', 'shopping-items/', '{"item_data":{"archive":"rucio","record":{"scope":"s","name":"n"}},"user_profile":"alice"}');
    expect([created.status, created.text]).toEqual([201, '{"item_data":{"archive":"rucio","record":{"scope":"s","name":"n"}},"user_profile":"alice"}']);
    const client = new EsapClient({ baseUrl: esap.baseUrl, token: 't-alice', fetch: esap.fetch });
    const basket = await client.basket.get();
    expect(basket.problems).toEqual([expect.objectContaining({ index: 1, field: 'item_data', writable: true, problem: expect.stringMatching(/must be a JSON string/) })]);
    await client.basket.add({ archive: 'more' });
    expect(esap.itemData('alice')).toEqual(['{"archive": "x", "n": 1}', '{"archive": "rucio", "record": {"scope": "s", "name": "n"}}', '{"archive": "more"}']);
    expect((await call('POST', 'shopping-items/', '{}')).text).toBe('{"item_data":["This field is required."]}');
  });
});

describe('bearer validation sources', () => {
  it('a real userinfo endpoint (URL), called once per request; claims without email are refused', async () => {
    const seen: string[] = [];
    const esap = createEsapEmulator({
      userinfo: new URL('https://idp.test/userinfo'),
      fetch: async (_url, init) => {
        const token = new Headers(init?.headers).get('Authorization')?.slice(7) ?? '';
        seen.push(token);
        if (token === 'good') return Response.json({ sub: '1', email: 'alice@example.org' });
        if (token === 'no-email') return Response.json({ sub: '2' });
        return new Response('', { status: 401, headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' } });
      },
    });
    esap.addUser({ user_name: 'alice', email: 'alice@example.org' });
    const get = async (token: string) => {
      const r = await esap.fetch('/esap-api/accounts/user-profiles/', { headers: { Authorization: `Bearer ${token}` } });
      const body = JSON.parse(await r.text()) as { count?: number; detail?: string };
      return [r.status, body.count ?? body.detail];
    };
    expect(await get('good')).toEqual([200, 1]);
    expect(await get('no-email')).toEqual([401, 'Login failed: No user found for the given access token.']);
    expect(await get('bad')).toEqual([401, 'Invalid access token: bad']);
    expect(seen).toEqual(['good', 'no-email', 'bad']);
  });

  it('a token → email map; a new IAM identity gets a Django user but no profile', async () => {
    const esap = createEsapEmulator({ userinfo: { 'dave-token': 'dave@example.org' } });
    const client = new EsapClient({ baseUrl: esap.baseUrl, token: 'dave-token', fetch: esap.fetch });
    await expect(client.basket.get()).rejects.toMatchObject({ reason: 'no-profile-for-identity' });
    expect(esap.rawStore.users.map((u) => u.email)).toEqual(['dave@example.org']);
  });

  it('a logged-in session without OIDC tokens sees no profile', async () => {
    const esap = createEsapEmulator();
    esap.addUser({ user_name: 'alice', email: 'alice@example.org' });
    const sid = esap.createSession('alice', { oidc: false });
    const res = await esap.fetch('/esap-api/accounts/user-profiles/', { headers: { Cookie: `sessionid=${sid}` } });
    expect(JSON.parse(await res.text())).toMatchObject({ count: 0, results: [] });
  });
});

describe('POST user-profiles/, CommonMiddleware and error pages (addenda #41–#51; the rest from the Django/DRF source)', () => {
  it('a Django user without a profile creates one with POST, and the SDK then reads and edits that basket', async () => {
    const esap = createEsapEmulator();
    esap.addUser({ user_name: 'bob', email: 'bob@example.org', tokens: ['t-bob'], profile: false });
    const client = new EsapClient({ baseUrl: esap.baseUrl, token: 't-bob', fetch: esap.fetch, basketEdits: { settleMs: 0 } });
    await expect(client.basket.get()).rejects.toMatchObject({ reason: 'no-profile-for-identity' });
    const post = (body: string) => esap.fetch('/esap-api/accounts/user-profiles/', { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body });
    const missing = await post('{"user_name":"bob"}');
    expect([missing.status, await missing.text()]).toEqual([400, '{"user_email":["This field is required."]}']);
    const created = await post('{"user_name":"bob","user_email":"bob@example.org"}');
    expect([created.status, created.headers.get('Location'), created.headers.get('Allow')]).toEqual([201, null, 'GET, POST, HEAD, OPTIONS']);
    expect(JSON.parse(await created.text())).toMatchObject({ user_name: 'bob', full_name: null, shopping_cart: [] });
    expect(await client.basket.add({ archive: 'x', n: 1 })).toMatchObject({ written: true, verified: true });
    expect(esap.basket('bob')).toEqual([{ archive: 'x', n: 1 }]);
  });

  it('without DEBUG: the no-slash PATCH is redirected like a GET, and the plain error pages are text/html', async () => {
    const { esap } = alice({ debug: false });
    const patch = await esap.fetch('/esap-api/accounts/user-profiles/alice', { method: 'PATCH', headers: { Authorization: 'Bearer t-alice', 'Content-Type': 'application/json' }, body: '{"shopping_cart":[]}', redirect: 'manual' });
    expect([patch.status, patch.headers.get('Location'), patch.headers.get('Vary'), patch.headers.get('X-Frame-Options')]).toEqual([301, '/esap-api/accounts/user-profiles/alice/', 'Origin', null]);
    const notFound = await esap.fetch('/esap-api/nothing/here/');
    expect([notFound.status, notFound.headers.get('Content-Type'), notFound.headers.get('Vary')]).toEqual([404, 'text/html', 'Cookie, Origin']);
    expect(esap.basket('alice')).toEqual([{ archive: 'x', n: 1 }]);
  });
});

describe('request holds (deterministic races)', () => {
  it('holds matching requests until released, in any order; later ones pass once the limit is reached', async () => {
    const { esap, call } = alice();
    const hold = esap.hold({ method: 'PATCH', limit: 2 });
    const first = call('PATCH', 'user-profiles/alice/', '{"shopping_cart":[{"archive":"first"}]}');
    const second = call('PATCH', 'user-profiles/alice/', '{"shopping_cart":[{"archive":"second"}]}');
    await hold.arrived(2);
    expect((await call('GET', 'user-profiles/alice/')).status).toBe(200); // GETs are not held
    expect(esap.basket('alice')).toEqual([{ archive: 'x', n: 1 }]);
    await hold.release(1);
    expect(esap.basket('alice')).toEqual([{ archive: 'second' }]);
    await hold.release(0);
    expect(esap.basket('alice')).toEqual([{ archive: 'first' }]); // the earlier request, written last, wins
    expect([(await first).status, (await second).status]).toEqual([200, 200]);
    expect((await call('PATCH', 'user-profiles/alice/', '{"shopping_cart":[]}')).status).toBe(200); // a third one passes
    await expect(hold.release(5)).rejects.toThrow(/no held request #5/);
  });

  it("'cart-deleted' interleaves two PATCHes as the real server can: both delete, then both create", async () => {
    const { esap, call } = alice();
    const hold = esap.hold({ method: 'PATCH', phase: 'cart-deleted' });
    const writes = [call('PATCH', 'user-profiles/alice/', '{"shopping_cart":[{"archive":"a"},{"archive":"c1"}]}'), call('PATCH', 'user-profiles/alice/', '{"shopping_cart":[{"archive":"a"},{"archive":"c2"}]}')];
    await hold.arrived(2);
    expect(esap.basket('alice')).toEqual([]); // both deleted
    await hold.releaseAll();
    await Promise.all(writes);
    expect(esap.basket('alice')).toEqual([{ archive: 'a' }, { archive: 'c1' }, { archive: 'a' }, { archive: 'c2' }]);
  });

  it('onRequest sees every phase and can be removed', async () => {
    const { esap, call } = alice();
    const seen: string[] = [];
    const remove = esap.onRequest((e) => void seen.push(`${e.phase} ${e.method} ${e.path}`));
    await call('PATCH', 'user-profiles/alice/', '{"shopping_cart":[]}');
    remove();
    await call('GET', 'user-profiles/');
    expect(seen).toEqual(['received PATCH /esap-api/accounts/user-profiles/alice/', 'cart-deleted PATCH /esap-api/accounts/user-profiles/alice/']);
  });
});

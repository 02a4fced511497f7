/**
 * The basket client against the ESAP emulator: round trips with the stored text checked, concurrent
 * edits, malformed and huge baskets, every authentication mode, and the three ways to reach the
 * emulator (injected fetch, msw, loopback HTTP).
 */
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, UnauthenticatedError, formatDid } from '../../src/index.js';
import {
  EsapBasketConflictError,
  EsapBasketWriteError,
  EsapClient,
  EsapNoProfileError,
  EsapProfileNotAddressableError,
  EsapSessionExpiredError,
  EsapUnwritableItemsError,
  rucioItem,
  type EsapClientOptions,
  type WireItem,
} from '../../src/esap/index.js';
import { createEsapEmulator, type EsapEmulator, type EsapRequestPhase } from '../../src/testing/esap/index.js';
import { pyDumps, toPy } from '../../src/testing/esap/python.js';

const A: WireItem = { archive: 'rucio', record: { scope: 'ESCAPE_CTA_TEST', name: 'run100.simtel.zst', did_type: 'FILE', bytes: 1048576, length: null } };
const B: WireItem = { archive: 'vo_reg', record: ['ivo://astron.nl/tap', 'https://vo.astron.nl/tap', 'ASTRON VO TAP service', 'image', 'radio'] };
const C: WireItem = { archive: 'zooniverse', catalog: 'workflow', project_id: '12268', workflow_id: '17758', category: 'subjects' };
const X: WireItem = { archive: 'astron_vo', record: { dataset: 'astron.ivoa.obscore', url: 'https://vo.astron.nl/getproduct/APERTIF_DR1/190807041_AP_B001/image_mf_02.fits', ra: 342.16, fov: 1.5 } };

/** Every PATCH body any client in this file sent: none may lack `shopping_cart` (ESAP wipes the basket, then 500s). */
const patches: unknown[] = [];
afterAll(() => {
  expect(patches.length).toBeGreaterThan(10);
  for (const body of patches) expect(Array.isArray((body as { shopping_cart?: unknown }).shopping_cart)).toBe(true);
});

interface Setup {
  esap: EsapEmulator;
  client: EsapClient;
  /** Run `fn` when the n-th GET of the profile list arrives, before it is answered. */
  beforeGet(n: number, fn: () => void | Promise<void>): void;
  /** Replace the answer to PATCHes. */
  onPatch(fn: (request: Request) => Promise<Response>): void;
}

function setup(options: Partial<EsapClientOptions> = { token: 'alice-token' }, items: readonly unknown[] = [A, B, C]): Setup {
  const esap = createEsapEmulator();
  esap.addUser({ user_name: 'alice', email: 'alice@example.org', full_name: 'Alice Example', password: 'alice-pw', tokens: ['alice-token'], items });
  esap.addUser({ user_name: 'bob', email: 'bob@example.org', password: 'bob-pw', tokens: ['bob-token'], profile: false });
  let gets = 0;
  const hooks = new Map<number, () => void | Promise<void>>();
  let patch: ((r: Request) => Promise<Response>) | undefined;
  const client = new EsapClient({
    baseUrl: esap.baseUrl,
    retry: { limit: 0 },
    basketEdits: { settleMs: 0 }, // an in-memory server: read back at once
    ...options,
    fetch: async (input, init) => {
      const request = new Request(input as Request, init);
      if (request.method === 'GET') await hooks.get(++gets)?.();
      if (request.method === 'PATCH') {
        patches.push(JSON.parse(await request.clone().text()));
        if (patch) return patch(request);
      }
      return esap.handle(request);
    },
  });
  return { esap, client, beforeGet: (n, fn) => hooks.set(n, fn), onPatch: (fn) => (patch = fn) };
}

/** The text ESAP stores for an item: Python `json.dumps` (checked against the recordings in test/testing/esap). */
const pyText = (item: WireItem) => pyDumps(toPy(item));

describe('ESAP basket round trips through the emulator', () => {
  it('get → add → remove → clear, with the stored item_data checked after each write', async () => {
    const { esap, client } = setup();
    const before = esap.itemData('alice');
    expect(before[0]).toBe('{"archive": "rucio", "record": {"scope": "ESCAPE_CTA_TEST", "name": "run100.simtel.zst", "did_type": "FILE", "bytes": 1048576, "length": null}}');

    const added = await client.basket.add(X);
    expect(added).toMatchObject({ written: true, added: 1, removed: 0, merged: false });
    expect(esap.itemData('alice')).toEqual([...before, pyText(X)]);
    expect(esap.itemData('alice')[3]).toBe('{"archive": "astron_vo", "record": {"dataset": "astron.ivoa.obscore", "url": "https://vo.astron.nl/getproduct/APERTIF_DR1/190807041_AP_B001/image_mf_02.fits", "ra": 342.16, "fov": 1.5}}');
    expect(added.basket.items.map((i) => i.kind)).toEqual(['rucio', 'vo_reg', 'zooniverse', 'astron_vo']);

    const again = await client.basket.add([X, { ...X }]);
    expect(again).toMatchObject({ written: false, added: 0 });

    // Removal is by deep equality: a freshly built copy (other key order) removes that item, not the last one.
    const removed = await client.basket.remove({ record: { length: null, bytes: 1048576, did_type: 'FILE', name: 'run100.simtel.zst', scope: 'ESCAPE_CTA_TEST' }, archive: 'rucio' });
    expect(removed).toMatchObject({ written: true, removed: 1 });
    expect(esap.itemData('alice')).toEqual([before[1], before[2], pyText(X)]);

    const cleared = await client.basket.clear();
    expect(cleared).toMatchObject({ written: true, removed: 3 });
    expect(esap.itemData('alice')).toEqual([]);
    expect(cleared.basket.size).toBe(0);
    expect(await client.basket.clear()).toMatchObject({ written: false });
  });

  it('replace writes exactly the given list, read items from their stored text', async () => {
    const { esap, client } = setup();
    const basket = await client.basket.get();
    const [a, b, c] = basket.items;
    await client.basket.replace([c!, X, a!], { basedOn: basket });
    expect(esap.itemData('alice')).toEqual([c!.raw, pyText(X), a!.raw]);
    expect(esap.basket('alice')).toEqual([C, X, A]);
    expect(b?.kind).toBe('vo_reg');
  });

  it('unknown archives and integers beyond 2^53 round-trip byte for byte', async () => {
    const stored = ['{"archive": "zenodo", "record": {"doi": "10.5281/zenodo.1", "size": 12345678901234567890, "ratio": 1.0, "\\u00e9t\\u00e9": [1e+16, 1e-05]}}', '{"archive": "rucio", "record": {"scope": "user.alice", "name": "big.fits", "bytes": 9007199254740993}}'];
    const { esap, client } = setup();
    esap.setRawBasket('alice', stored);
    const basket = await client.basket.get();
    const [zenodo, big] = basket.items;
    expect(zenodo).toMatchObject({ kind: 'unknown', archive: 'zenodo', record: { size: 12345678901234567890n, ratio: 1, été: [1e16, 1e-5] } });
    expect(big?.kind === 'rucio' && big.bytes).toBe(9007199254740993n);
    await client.basket.add(A);
    expect(esap.itemData('alice')).toEqual([...stored, esap.itemData('alice')[2]]);
    await client.basket.remove(A);
    expect(esap.itemData('alice')).toEqual(stored);
  });

  it('rejects items the GUI could not use, before any request', async () => {
    const { esap, client } = setup();
    esap.resetLog();
    await expect(client.basket.add({ item_data: { archive: 'rucio', record: {} } } as unknown as WireItem)).rejects.toThrow(/bare item/);
    await expect(client.basket.add({ archive: 'rucio', record: { scope: 'ESCAPE_CTA_TEST' } })).rejects.toMatchObject({ argument: 'items[0].record.name' });
    await expect(client.basket.add({ archive: 'zooniverse', catalog: 'workflow', project_id: 1, category: 'subjects' })).rejects.toMatchObject({ argument: 'items[0].workflow_id' });
    await expect(client.basket.add([A, { archive: 'vo_reg', record: { not: 'a row' } }])).rejects.toMatchObject({ argument: 'items[1].record' });
    const [read] = (await client.basket.get()).items;
    await expect(client.basket.add({ ...read! } as unknown as WireItem)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.basket.add({ archive: 'x', n: Number.NaN })).rejects.toThrow(/n is NaN/);
    expect(esap.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
  });
});

describe('concurrent edits (another tab, the GUI) between read and write', () => {
  it('merges onto the fresh basket: the other writer keeps its item, the edit applies', async () => {
    const { esap, client } = setup();
    const shown = await client.basket.get();
    esap.setBasket('alice', [A, B, C, X]); // the GUI saved meanwhile
    const result = await client.basket.remove(shown.items[1]!, { basedOn: shown });
    expect(result).toMatchObject({ written: true, merged: true, removed: 1, added: 0 });
    expect(esap.basket('alice')).toEqual([A, C, X]);
  });

  it('detects a change that lands between its own read and the re-read right before writing', async () => {
    const { esap, client, beforeGet } = setup();
    beforeGet(2, () => esap.setBasket('alice', [B, X])); // someone removed A and C and added X
    const result = await client.basket.add(rucioItem('user.alice:new.fits'));
    expect(result.merged).toBe(true);
    expect(esap.basket('alice')).toEqual([B, X, rucioItem('user.alice:new.fits')]);
  });

  it('clear() removes only what it was based on; items added meanwhile stay', async () => {
    const { esap, client } = setup();
    const shown = await client.basket.get();
    esap.setBasket('alice', [X, A, B, C]);
    const result = await client.basket.clear({ basedOn: shown });
    expect(result).toMatchObject({ merged: true, removed: 3 });
    expect(esap.basket('alice')).toEqual([X]);
  });

  it("replace() keeps the other writer's new items after the given ones", async () => {
    const { esap, client } = setup();
    const shown = await client.basket.get();
    esap.setBasket('alice', [A, B, C, X]);
    await client.basket.replace([C], { basedOn: shown });
    expect(esap.basket('alice')).toEqual([C, X]);
  });

  it("onConflict 'fail': a typed conflict error with both baskets, and nothing written", async () => {
    const { esap, client } = setup();
    const shown = await client.basket.get();
    esap.setBasket('alice', [A, B, C, X]);
    const stored = esap.itemData('alice');
    esap.resetLog();
    const error = (await client.basket.clear({ basedOn: shown, onConflict: 'fail' }).catch((e: unknown) => e)) as EsapBasketConflictError;
    expect(error).toBeInstanceOf(EsapBasketConflictError);
    expect(error.code).toBe('DLAAS_ESAP_BASKET_CONFLICT');
    expect(error.message).toMatch(/1 entries added and 0 removed by another writer/);
    expect([error.expected.size, error.actual.size]).toEqual([3, 4]);
    expect(esap.itemData('alice')).toEqual(stored);
    expect(esap.requests.map((r) => r.method)).toEqual(['GET']);
  });

  it('a write whose outcome is unknown is checked by a re-read: success if the server holds the intended basket', async () => {
    const { esap, client, onPatch } = setup();
    onPatch(async (request) => {
      await esap.handle(request); // the write happened…
      return new Response('Bad Gateway', { status: 502 }); // …but the proxy lost the answer
    });
    const result = await client.basket.add(X);
    expect(result.written).toBe(true);
    expect(esap.basket('alice')).toEqual([A, B, C, X]);
  });

  it('a failed write that left the basket wiped is reported with the basket before it, for restoring', async () => {
    const { esap, client, onPatch } = setup();
    onPatch(async () => {
      esap.setBasket('alice', []); // ESAP deletes first, then failed while recreating
      return new Response('Internal Server Error', { status: 500, headers: { 'Content-Type': 'text/plain' } });
    });
    const error = (await client.basket.add(X).catch((e: unknown) => e)) as EsapBasketWriteError;
    expect(error).toBeInstanceOf(EsapBasketWriteError);
    expect(error.before.size).toBe(3);
    expect(error.after?.size).toBe(0);
    onPatch((request) => esap.handle(request));
    await client.basket.replace([...error.before.items, X]);
    expect(esap.basket('alice')).toEqual([A, B, C, X]);
  });
});

describe('two writers at the same moment: whole-basket PATCHes, no version or ETag (addenda 10a, 10b)', () => {
  const C1 = rucioItem('ESCAPE_CTA_TEST:proton_20deg_0deg_run200.simtel.zst', { did_type: 'FILE', bytes: 2097152, length: null });
  const C2 = rucioItem('ESCAPE_CTA_TEST:electron_20deg_0deg_run300.simtel.zst', { did_type: 'FILE', bytes: 3145728, length: null });
  type Who = 'gui' | 'notebook';
  const other = (w: Who): Who => (w === 'gui' ? 'notebook' : 'gui');
  const itemOf = (w: Who) => (w === 'gui' ? C1 : C2);

  /**
   * The GUI (Basic) adds C1 and a notebook (bearer) adds C2 to the basket [A, B]. Both PATCHes are
   * held (on arrival, or after deleting the old items) until both clients have read the basket, and
   * the read-backs wait until both PATCHes are answered (the other write lands within the settle).
   */
  function race(phase: EsapRequestPhase) {
    const esap = createEsapEmulator();
    esap.addUser({ user_name: 'alice', email: 'alice@example.org', password: 'alice-pw', tokens: ['alice-token'], items: [A, B] });
    const common = { baseUrl: esap.baseUrl, fetch: esap.fetch, retry: { limit: 0 }, basketEdits: { settleMs: 0 } };
    const clients = { gui: new EsapClient({ ...common, basic: { username: 'alice', password: 'alice-pw' } }), notebook: new EsapClient({ ...common, token: 'alice-token' }) };
    const patches = esap.hold({ method: 'PATCH', phase, limit: 2 });
    const readBacks = esap.hold({ method: 'GET', match: () => patches.held.length === 2 });
    const edits = Promise.all([clients.gui.basket.add(C1), clients.notebook.basket.add(C2)]);
    const patchOf = (w: Who) => patches.held.findIndex((e) => e.request.headers.get('Authorization')?.startsWith(w === 'gui' ? 'Basic' : 'Bearer'));
    /** Release both PATCHes, `first`'s first (each one answered before the next goes on), then the read-backs. */
    const run = async (first: Who) => {
      await patches.arrived(2);
      expect(esap.requests.map((r) => r.method)).toEqual(['GET', 'GET', 'GET', 'GET']); // both read [A, B] before either wrote
      await patches.release(patchOf(first));
      await patches.release(patchOf(other(first)));
      expect(esap.requests.filter((r) => r.method === 'PATCH').map((r) => r.status)).toEqual([200, 200]);
      const server = esap.basket('alice');
      await readBacks.releaseAll();
      const [gui, notebook] = await edits;
      return { server, results: { gui, notebook }, final: esap.basket('alice') };
    };
    return { esap, run };
  }

  for (const first of ['gui', 'notebook'] as const) {
    it(`lost update, ${first} written first: the overwritten add is seen by the read-back and re-applied; both items end up exactly once`, async () => {
      const { esap, run } = race('received');
      const second = other(first);
      const { server, results, final } = await run(first);
      expect(server).toEqual([A, B, itemOf(second)]); // what the real server did (10a): the second list replaced the first, an item lost
      expect(final).toEqual([A, B, itemOf(second), itemOf(first)]);
      expect(results[first]).toMatchObject({ written: true, verified: true, merged: true, reapplied: 1, added: 1, removed: 0 });
      expect(results[second]).toMatchObject({ written: true, verified: true, merged: false, reapplied: 0, added: 1 });
      expect(esap.requests.filter((r) => r.method === 'PATCH')).toHaveLength(3);
    });

    it(`interleaved writes, ${first} creating first: the basket holds A and B twice; the duplicates go, each item exactly once`, async () => {
      const { run } = race('cart-deleted');
      const second = other(first);
      const { server, results, final } = await run(first);
      expect(server).toEqual([A, B, itemOf(first), A, B, itemOf(second)]); // what the real server did (10b): both lists, the common items twice
      expect(final).toEqual([A, B, itemOf(first), itemOf(second)]);
      for (const r of Object.values(results)) expect(r).toMatchObject({ written: true, verified: true, merged: true, added: 1 });
      expect(results.gui.reapplied + results.notebook.reapplied).toBeGreaterThanOrEqual(1);
    });
  }

  it('a writer that replaces the list after every write: a typed conflict error after maxWrites, naming what is missing', async () => {
    const { esap, client, onPatch } = setup();
    onPatch(async (request) => {
      const response = await esap.handle(request);
      esap.setBasket('alice', [A, B, C]); // the GUI saves its stale list right after each of ours
      return response;
    });
    const error = (await client.basket.add(X).catch((e: unknown) => e)) as EsapBasketConflictError;
    expect(error).toBeInstanceOf(EsapBasketConflictError);
    expect(error).toMatchObject({ code: 'DLAAS_ESAP_BASKET_CONFLICT', writes: 3, written: true });
    expect(error.mismatch?.missing.map((i) => i.archive)).toEqual(['astron_vo']);
    expect([error.mismatch?.restored, error.mismatch?.duplicated]).toEqual([[], []]);
    expect(error.actual.items.map((i) => i.archive)).toEqual(['rucio', 'vo_reg', 'zooniverse']);
    expect(error.expected.items.map((i) => i.archive)).toEqual(['rucio', 'vo_reg', 'zooniverse', 'astron_vo']); // the server's 200 answer
    expect(esap.requests.filter((r) => r.method === 'PATCH')).toHaveLength(3);
    expect(error.message).toMatch(/could not be confirmed after 3 writes .*1 added entry missing/);
  });

  it("onConflict 'fail': a conflict found by the read-back is reported after the one write, not re-applied", async () => {
    const { esap, client, onPatch } = setup();
    onPatch(async (request) => {
      const response = await esap.handle(request);
      esap.setBasket('alice', [A, B, C]);
      return response;
    });
    await expect(client.basket.add(X, { onConflict: 'fail' })).rejects.toMatchObject({ constructor: EsapBasketConflictError, writes: 1 });
    expect(esap.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
  });

  it('verify: false: one PATCH, no read-back; a lost write then goes unnoticed (verified: false says so)', async () => {
    const { esap, client, onPatch } = setup();
    onPatch(async (request) => {
      const response = await esap.handle(request);
      esap.setBasket('alice', [A, B, C]);
      return response;
    });
    esap.resetLog();
    const result = await client.basket.add(X, { verify: false });
    expect(result).toMatchObject({ written: true, verified: false, reapplied: 0 });
    expect(esap.requests.map((r) => r.method)).toEqual(['GET', 'GET', 'PATCH']);
  });

  it('a removal undone by a concurrent write of the old list is applied again', async () => {
    const { esap, client, onPatch } = setup();
    let stale = true;
    onPatch(async (request) => {
      const response = await esap.handle(request);
      if (stale) esap.setBasket('alice', [A, B, C, X]); // another client, based on the old basket, adds X
      stale = false;
      return response;
    });
    const result = await client.basket.remove(B);
    expect(esap.basket('alice')).toEqual([A, C, X]);
    expect(result).toMatchObject({ written: true, verified: true, merged: true, reapplied: 1, removed: 1 });
  });

  it("repairing duplicates removes only extra copies of what the edit wrote, never other writers' entries", async () => {
    const Y: WireItem = { archive: 'zenodo', record: { doi: '10.5281/zenodo.1' } };
    const { esap, client, onPatch } = setup();
    let interleaved = true;
    onPatch(async (request) => {
      const response = await esap.handle(request);
      // Interleaved with another writer's [A, B, C, Y, Y] (its own duplicate of Y included).
      if (interleaved) esap.setBasket('alice', [A, B, C, X, A, B, C, Y, Y]);
      interleaved = false;
      return response;
    });
    const result = await client.basket.add(X);
    expect(esap.basket('alice')).toEqual([A, B, C, X, Y, Y]);
    expect(result).toMatchObject({ verified: true, reapplied: 1 });
  });

  it('waits settleMs to 2 × settleMs before reading back; an abort during the wait is an AbortError', async () => {
    // Every timer the code under test schedules is recorded (delay asked, and when it fires), in one
    // log with the PATCH answer and the read-back GET. The settle is the timer that fires between the
    // two: its delay is what the code asked for, however slow the machine is.
    const log: (['PATCH answered' | 'GET', number] | ['timer set' | 'timer fired', number])[] = [];
    let onTimer: ((ms: number) => void) | undefined;
    const realSetTimeout = globalThis.setTimeout;
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      const delay = Number(ms ?? 0);
      log.push(['timer set', delay]);
      onTimer?.(delay);
      return realSetTimeout(
        (...a: unknown[]) => {
          log.push(['timer fired', delay]);
          fn(...a);
        },
        ms,
        ...args,
      );
    }) as typeof setTimeout);
    try {
      const { esap, client, onPatch } = setup();
      onPatch(async (request) => {
        const response = await esap.handle(request);
        log.push(['PATCH answered', performance.now()]);
        return response;
      });
      esap.onRequest((e) => void (e.method === 'GET' && log.push(['GET', performance.now()])));
      const SETTLE = 40;
      await client.basket.add(X, { settleMs: SETTLE });
      const answered = log.findIndex(([what]) => what === 'PATCH answered');
      const readBack = log.findIndex(([what], i) => i > answered && what === 'GET');
      expect(answered).toBeGreaterThanOrEqual(0);
      expect(readBack).toBeGreaterThan(answered);
      const between = log.slice(answered + 1, readBack);
      const fired = between.filter(([what, ms]) => what === 'timer fired' && ms > 0).map(([, ms]) => ms);
      // One pause between the write's answer and the read-back, of settleMs to 2 × settleMs.
      expect(fired).toHaveLength(1);
      expect(fired[0]).toBeGreaterThanOrEqual(SETTLE);
      expect(fired[0]).toBeLessThan(2 * SETTLE);
      // And the read-back really came that much later (a lower bound: a busy machine only adds to it).
      expect((log[readBack]![1] as number) - (log[answered]![1] as number)).toBeGreaterThanOrEqual(SETTLE - 1);

      // An abort during a settle no machine can outwait (a day): only the abort ends the edit.
      const DAY = 86_400_000;
      const controller = new AbortController();
      onTimer = (ms) => void (ms >= DAY && realSetTimeout(() => controller.abort(), 0));
      log.length = 0;
      await expect(client.basket.add(rucioItem('user.alice:y.fits'), { settleMs: DAY, signal: controller.signal })).rejects.toMatchObject({ code: 'DLAAS_ABORTED' });
      expect(controller.signal.aborted).toBe(true);
      const patched = log.findIndex(([what]) => what === 'PATCH answered');
      expect(patched).toBeGreaterThanOrEqual(0); // the write happened; the abort came in the settle after it
      expect(log.slice(patched).filter(([what]) => what === 'GET')).toEqual([]); // and no read-back followed
      expect(log.slice(patched).some(([what, ms]) => what === 'timer set' && ms >= DAY)).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('malformed baskets', () => {
  const RAW = [
    'not json {', // item_data that is not JSON
    42, // not a string
    { archive: 'rucio', record: { scope: 'ESCAPE_CTA_TEST', name: 'as-object.fits' } }, // an object, not a string
    '[1, 2]', // JSON, not an object
    '{"archive": 5}', // wrong type
    '{"archive": "rucio", "record": {"scope": "bad scope!", "name": "x"}}', // invalid DID
    '{"archive": "zooniverse", "catalog": "team", "project_id": "1", "category": "subjects"}', // wrong enum
    '{"item_data": "{\\"archive\\": \\"rucio\\"}", "user_profile": "alice"}', // echoed back by a naive client
    '{"archive": "mystery", "payload": {"n": 123456789012345678901234567890}}', // unknown archive
    '{"archive": "rucio", "record": {"did": "ESCAPE_CTA_TEST:fine.fits"}}', // valid
  ];

  it('reports every bad entry (index, field, why), keeps unknown items, never throws', async () => {
    const { esap, client } = setup();
    esap.setRawBasket('alice', RAW);
    const basket = await client.basket.get();
    expect(basket.size).toBe(RAW.length);
    expect(basket.items.map((i) => `${i.kind}:${i.archive}`)).toEqual(['unknown:mystery', 'rucio:rucio']);
    expect(basket.problems.map((p) => [p.index, p.field, p.writable])).toEqual([
      [0, 'item_data', false],
      [1, 'item_data', false],
      [2, 'item_data', true],
      [3, 'item_data', false],
      [4, 'archive', true],
      [5, 'record.scope', true],
      [6, 'catalog', true],
      [7, 'archive', true],
    ]);
    expect(basket.problems[0]?.problem).toMatch(/^is not valid JSON \(Expecting value: line 1 column 1 \(char 0\)\)/);
    expect(basket.problems[5]?.problem).toMatch(/scope may only contain/);
    expect(basket.problems[6]?.problem).toMatch(/one of "project", "workflow", got "team"/);
    expect(basket.problems[7]?.problem).toMatch(/wrapped in \{item_data\}/);
    expect(basket.problems[1]?.raw).toBe(42);
    expect(basket.dids().map(formatDid)).toEqual(['ESCAPE_CTA_TEST:fine.fits']);
  });

  it('refuses to write while unwritable entries would be lost; drops them only when told to', async () => {
    const { esap, client } = setup();
    esap.setRawBasket('alice', RAW);
    const before = esap.itemData('alice');
    const error = (await client.basket.add(A).catch((e: unknown) => e)) as EsapUnwritableItemsError;
    expect(error).toBeInstanceOf(EsapUnwritableItemsError);
    expect(error.problems.map((p) => p.index)).toEqual([0, 1, 3]);
    expect(esap.itemData('alice')).toEqual(before);

    const result = await client.basket.add(A, { unwritable: 'drop' });
    expect(result).toMatchObject({ written: true, added: 1, removed: 3 });
    const after = esap.itemData('alice');
    // Writable entries, bad or unknown, are stored again exactly as before; the object item_data becomes a string.
    expect(after).toEqual([
      '{"archive": "rucio", "record": {"scope": "ESCAPE_CTA_TEST", "name": "as-object.fits"}}',
      ...[4, 5, 6, 7, 8, 9].map((i) => before[i]),
      pyText(A),
    ]);
  });

  it('lets the caller remove bad entries explicitly', async () => {
    const { esap, client } = setup();
    esap.setRawBasket('alice', RAW);
    const basket = await client.basket.get();
    await client.basket.remove(basket.problems.filter((p) => !p.writable), { basedOn: basket });
    expect(esap.itemData('alice')).toEqual(RAW.filter((_, i) => ![0, 1, 3].includes(i)).map((r) => (typeof r === 'string' ? r : '{"archive": "rucio", "record": {"scope": "ESCAPE_CTA_TEST", "name": "as-object.fits"}}')));
  });

  it('a basket of 5,000 items: read, edit and written back intact', async () => {
    const many = Array.from({ length: 5000 }, (_, i) =>
      i % 5 === 4 ? { archive: `other_${i}`, record: { i, big: 10n ** 20n + BigInt(i) } } : rucioItem(`ESCAPE_CTA_TEST:file_${String(i).padStart(5, '0')}.fits`, { did_type: 'FILE', bytes: i * 1000 }),
    );
    const { esap, client } = setup({ token: 'alice-token' }, many);
    const stored = esap.itemData('alice');
    esap.resetLog();
    const basket = await client.basket.get();
    expect(basket.size).toBe(5000);
    expect(basket.problems).toEqual([]);
    expect(basket.dids()).toHaveLength(4000);
    expect(basket.byArchive().unknown).toHaveLength(1000);
    const result = await client.basket.add(X, { basedOn: basket });
    expect(result.basket.size).toBe(5001);
    expect(esap.itemData('alice')).toEqual([...stored, pyText(X)]);
    expect(esap.itemData('alice')[4]).toBe('{"archive": "other_4", "record": {"i": 4, "big": 100000000000000000004}}');
    // The cost does not grow with the basket: the same requests as for three items (read; re-read,
    // one PATCH of the whole list, read-back), never one per item. (No wall-clock bound: the test
    // timeout stops a hang, and how fast this machine is proves nothing about the code.)
    expect(esap.requests.map((r) => r.method)).toEqual(['GET', 'GET', 'PATCH', 'GET']);
  });
});

describe('authentication and "no profile" cases', () => {
  it('bearer: one userinfo call per request, profile found by the token\'s email', async () => {
    const { esap, client } = setup({ token: 'alice-token' });
    esap.resetLog();
    await client.basket.get();
    await client.basket.get();
    expect(esap.userinfoCalls).toEqual([{ token: 'alice-token' }, { token: 'alice-token' }]);
  });

  it('basic credentials work (ESAP development login)', async () => {
    const { client } = setup({ basic: { username: 'alice', password: 'alice-pw' } });
    expect((await client.basket.get()).userName).toBe('alice');
  });

  it('a cookie session (credentials: include): no Authorization header, writes work, tokens stay out of results', async () => {
    const esap = createEsapEmulator();
    esap.addUser({ user_name: 'alice', email: 'alice@example.org', items: [A] });
    const sessionid = esap.createSession('alice', { accessToken: 'alice-session-access-token' });
    const seen: Headers[] = [];
    // What the browser does with `credentials: 'include'` on the ESAP origin: send the cookie.
    const browserFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
      const request = new Request(input as Request, init);
      expect(request.credentials).toBe('include');
      request.headers.set('Cookie', `sessionid=${sessionid}`);
      seen.push(request.headers);
      return esap.handle(request);
    };
    const client = new EsapClient({ baseUrl: esap.baseUrl, credentials: 'include', fetch: browserFetch });
    const result = await client.basket.add(X);
    expect(esap.basket('alice')).toEqual([A, X]);
    expect(seen.every((h) => h.get('Authorization') === null && h.get('X-Requested-With') === 'XMLHttpRequest')).toBe(true);
    expect(JSON.stringify(result.basket)).not.toContain('alice-session-access-token');
    expect(esap.rawStore.profiles[0]?.oidc_access_token).toBe('alice-session-access-token'); // what ESAP itself does
  });

  it('an expired cookie session is a typed error with the refresh URL', async () => {
    const esap = createEsapEmulator({ oidc: { issuer: 'https://iam.example.org/', clientId: 'esap' } });
    esap.addUser({ user_name: 'alice', email: 'alice@example.org' });
    const sessionid = esap.createSession('alice', { expiresAt: new Date(Date.now() - 60_000) });
    const client = new EsapClient({
      baseUrl: esap.baseUrl,
      credentials: 'include',
      fetch: async (input, init) => {
        const request = new Request(input as Request, init);
        request.headers.set('Cookie', `sessionid=${sessionid}`);
        return esap.handle(request);
      },
    });
    const error = (await client.basket.get().catch((e: unknown) => e)) as EsapSessionExpiredError;
    expect(error).toBeInstanceOf(EsapSessionExpiredError);
    expect(error.refreshUrl).toMatch(/^https:\/\/iam\.example\.org\/authorize\?response_type=code&client_id=esap&.*prompt=none/);
  });

  it('no profile: a typed error per case; an invalid token is the only 401, and it does not leak', async () => {
    const bob = setup({ token: 'bob-token' });
    await expect(bob.client.basket.get()).rejects.toMatchObject({ reason: 'no-profile-for-identity', authMode: 'bearer' });
    const anon = setup({});
    await expect(anon.client.basket.get()).rejects.toMatchObject({ reason: 'anonymous' });
    const bad = setup({ token: 'not-a-valid-iam-token' });
    const error = (await bad.client.basket.get().catch((e: unknown) => e)) as UnauthenticatedError;
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(JSON.stringify(error) + error.message).not.toContain('not-a-valid-iam-token');
    expect(bob.client.authMode).toBe('bearer');
  });

  it('a profile whose user_name ESAP cannot route (a ".") is refused before writing; the server would 404', async () => {
    const esap = createEsapEmulator();
    esap.addUser({ user_name: 'alice.smith', email: 'alice@example.org', tokens: ['t-alice'], items: [A] });
    const client = new EsapClient({ baseUrl: esap.baseUrl, token: 't-alice', fetch: esap.fetch });
    expect((await client.basket.get()).userName).toBe('alice.smith');
    await expect(client.basket.add(X)).rejects.toBeInstanceOf(EsapProfileNotAddressableError);
    expect(esap.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
    const raw = await esap.fetch('/esap-api/accounts/user-profiles/alice.smith/', { method: 'PATCH', headers: { Authorization: 'Bearer t-alice', 'Content-Type': 'application/json' }, body: '{"shopping_cart":[]}' });
    expect(raw.status).toBe(404);
    expect(esap.basket('alice.smith')).toEqual([A]);
  });

  it('a profile deleted between read and write is "profile not visible"', async () => {
    const { esap, client, onPatch } = setup();
    onPatch(async (request) => {
      await esap.fetch('/esap-api/accounts/user-profiles/alice/', { method: 'DELETE', headers: { Authorization: 'Bearer alice-token' } });
      return esap.handle(request);
    });
    await expect(client.basket.add(X)).rejects.toMatchObject({ constructor: EsapNoProfileError, reason: 'profile-not-visible' });
  });
});

describe('msw: the emulator behind the global fetch, as a browser app would use it', () => {
  const esap = createEsapEmulator({ baseUrl: 'https://esap.msw.test' });
  esap.addUser({ user_name: 'alice', email: 'alice@example.org', tokens: ['alice-token'], items: [A] });
  const server = setupServer(...esap.handlers());
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
  afterAll(() => server.close());

  it('reads and writes through msw handlers', async () => {
    const client = new EsapClient({ baseUrl: 'https://esap.msw.test/', token: 'alice-token' });
    await client.basket.add(X);
    expect(esap.basket('alice')).toEqual([A, X]);
    expect((await client.basket.get()).sources().map((s) => s.filename)).toEqual(['image_mf_02.fits']);
  });
});

describe('loopback HTTP (127.0.0.1, port 0)', () => {
  const esap = createEsapEmulator();
  esap.addUser({ user_name: 'alice', email: 'alice@example.org', tokens: ['alice-token'], items: [A] });
  let url = '';
  beforeAll(async () => {
    url = await esap.listen();
  });
  afterAll(() => esap.close());

  it('serves the client over real sockets', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const client = new EsapClient({ baseUrl: `${url}/`, token: 'alice-token' });
    const result = await client.basket.remove(A);
    expect(result.basket.size).toBe(0);
    expect(esap.itemData('alice')).toEqual([]);
  });

  it('answers a browser origin\'s CORS preflight like django-cors-headers', async () => {
    const preflight = await fetch(`${url}/esap-api/accounts/user-profiles/alice/`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'PATCH', 'Access-Control-Request-Headers': 'authorization,content-type,x-requested-with' },
    });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('Access-Control-Allow-Origin')).toBe('http://localhost:3000');
    expect(preflight.headers.get('Access-Control-Allow-Credentials')).toBe('true');
    expect(preflight.headers.get('Access-Control-Allow-Headers')).toContain('x-requested-with');
    expect(preflight.headers.get('Access-Control-Allow-Methods')).toContain('PATCH');
  });
});

/**
 * Fuzzing what maps to local paths and what the SDK sends or decodes for the user: PFN → local path
 * (replica mode), DID → download path, DID search filter encoding, ESAP basket items. Property: a
 * typed result or a typed error, never another exception, never a hang, and the safety property of
 * each (no path outside the mount; the filter the server reads is the filter that was given).
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { InvalidArgumentError, KNOWN_ARCHIVES, encodeDidFilters, isDid, parseJson, parsePythonLiteral, type DidFilter } from '../../src/index.js';
import { Basket } from '../../src/esap/basket.js';
import { JsonSyntaxError } from '../../src/esap/json.js';
import { decodeEntry, inputEntry } from '../../src/esap/items.js';
import { downloadRelativePath, pfnToLocalPath } from '../../src/staging/paths.js';
import { useLedger } from '../support/reliability-ledger.js';
import { check, fuzz, nastyString, typedOutcome } from './fuzz-helpers.js';

const ledger = useLedger(import.meta.url);
const T = 120_000;

describe('fuzz: PFN → local path (replica mode)', () => {
  const segment = fc.oneof(fc.constantFrom('..', '.', '', '%2e%2e', '%2E.', '.%2e', 'a b', 'dätä', 'rucio', 'user', '49', '\\..', '..\\', '%2f', '%00', ';', '~', 'a?b', 'x#y'), nastyString(8));
  const pfn = fc.oneof(
    nastyString(120),
    fc
      .tuple(fc.constantFrom('root', 'davs', 'https', 'http', 'file', 's3', 'gsiftp', 'srm', 'x-y'), fc.constantFrom('xrd1:1094', 'host', '', 'h:0', '[::1]:8443', 'user:pw@h'), fc.array(segment, { maxLength: 8 }), fc.constantFrom('/', '//', '///'))
      .map(([scheme, host, segs, lead]) => `${scheme}://${host}${lead}${segs.join('/')}`),
  );
  const mount = fc.oneof(fc.constantFrom('/eos/rucio', '/mnt/site_b/', '/', 'relative/dir', '/a//b'), nastyString(20));
  const beginsAt = fc.oneof(fc.nat(8), fc.integer({ min: -3, max: 3 }), fc.double());

  it('pfnToLocalPath: a path inside the mount (no "..", not absolute) or InvalidArgumentError', () => {
    ledger.scenario();
    fuzz(ledger, 'PFN → path mapping: pfnToLocalPath', fc.tuple(pfn, mount, beginsAt), ([p, m, n]) =>
      typedOutcome(
        () => pfnToLocalPath(p, m, n),
        [InvalidArgumentError],
        (out) => {
          // Python's os.path.join(mount, rest) with a relative rest: mount + ('/' unless it ends with one) + rest.
          const prefix = m.endsWith('/') ? m : `${m}/`;
          check(typeof out === 'string', 'not a string');
          check(out.startsWith(prefix), () => `${out} is not under ${m} (pfn ${p})`);
          const rest = out.slice(prefix.length);
          check(!rest.startsWith('/'), () => `${out}: absolute remainder (pfn ${p})`);
          check(!rest.split('/').includes('..'), () => `${out}: ".." segment (pfn ${p})`);
        },
      ),
    );
  }, T);

  it('downloadRelativePath: a relative path without "."/".."/empty segments, or InvalidArgumentError', () => {
    ledger.scenario();
    const did = fc.record({
      scope: fc.string({ unit: fc.constantFrom(...'abz09_-.'), minLength: 1, maxLength: 25 }),
      name: fc.string({ unit: fc.constantFrom(...'ab09/._-'), minLength: 1, maxLength: 60 }),
    });
    fuzz(ledger, 'PFN → path mapping: downloadRelativePath', fc.tuple(did, fc.constantFrom('scope', 'flat') as fc.Arbitrary<'scope' | 'flat'>), ([d, layout]) =>
      typedOutcome(
        () => downloadRelativePath(d, layout),
        [InvalidArgumentError],
        (out) => {
          const segs = out.split('/');
          check(!out.startsWith('/') && segs.every((s) => s !== '' && s !== '.' && s !== '..'), () => `${out} from ${JSON.stringify(d)}`);
          if (layout === 'scope') check(segs[0] === d.scope, 'scope layout without the scope');
        },
      ),
    );
  }, T);
});

describe('fuzz: DID search filter encoding', () => {
  const key = fc.oneof(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,12}$/), fc.constantFrom('__proto__', 'constructor', 'name', 'a.gt', '', '1x', 'x y'), nastyString(10));
  const leaf = fc.oneof(
    nastyString(30),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.date({ noInvalidDate: false }),
    fc.constant(undefined),
    fc.bigInt(),
    fc.array(fc.integer(), { maxLength: 2 }),
  );
  const ops = fc.dictionary(fc.oneof(fc.constantFrom('eq', 'ne', 'gt', 'gte', 'lt', 'lte'), fc.constantFrom('xx', 'GT', '__proto__')), leaf, { maxKeys: 4 });
  const group = fc.dictionary(key, fc.oneof(leaf, ops), { maxKeys: 5 });
  const filters = fc.oneof(group, fc.array(group, { maxLength: 3 }), fc.anything());

  /** The flat dict Rucio should read for one group, computed independently of the SDK. */
  function expected(g: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const enc = (v: unknown) => (v instanceof Date ? v.toISOString().slice(0, 19) : Object.is(v, -0) ? 0 : v);
    for (const [k, c] of Object.entries(g)) {
      if (c && typeof c === 'object' && !(c instanceof Date) && !Array.isArray(c)) {
        for (const [op, v] of Object.entries(c)) Object.defineProperty(out, op === 'eq' ? k : `${k}.${op}`, { value: enc(v), enumerable: true, writable: true, configurable: true });
      } else Object.defineProperty(out, k, { value: enc(c), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  it('encodeDidFilters: a Python literal that reads back as exactly the filters given, or InvalidArgumentError', () => {
    ledger.scenario();
    fuzz(ledger, 'filter encoding: encodeDidFilters', filters, (f) =>
      typedOutcome(
        () => encodeDidFilters(f as DidFilter),
        [InvalidArgumentError],
        (text) => {
          const back = parsePythonLiteral(text);
          const groups = (Array.isArray(f) ? f : [f]) as Record<string, unknown>[];
          check(Array.isArray(back) && back.length === groups.length, () => `${text}: wrong number of groups`);
          groups.forEach((g, i) => {
            const want = expected(g);
            const got = (back as Record<string, unknown>[])[i] as Record<string, unknown>;
            const keys = Object.keys(want);
            check(Object.keys(got).length === keys.length, () => `${text}: keys ${Object.keys(got).join(',')} for ${keys.join(',')}`);
            for (const k of keys) check(Object.hasOwn(got, k) && Object.is(got[k], want[k]), () => `${text}: ${k} is ${String(got[k])}, expected ${String(want[k])}`);
          });
        },
      ),
    );
  }, T);
});

describe('fuzz: ESAP basket items', () => {
  const didFields = fc.oneof(
    fc.record({ scope: fc.oneof(fc.stringMatching(/^[a-z._-]{1,12}$/), fc.anything()), name: fc.oneof(fc.stringMatching(/^[a-z0-9/._-]{1,20}$/), fc.anything()) }, { requiredKeys: [] }),
    fc.record({ SCOPE: fc.string(), Name: fc.string(), did_type: fc.constantFrom('FILE', 'DATASET', 1), bytes: fc.oneof(fc.integer(), fc.bigInt(), fc.constant(null), fc.string()) }, { requiredKeys: [] }),
    fc.record({ did: fc.oneof(fc.string(), fc.record({ scope: fc.string(), name: fc.string() }), fc.anything()) }),
    fc.record({ did_scope: fc.string(), did_name: fc.string() }),
    fc.stringMatching(/^[a-z.]{0,6}:?[a-z0-9/.]{0,10}$/),
  );
  const record = fc.oneof(didFields, fc.array(fc.oneof(fc.webUrl(), fc.string(), fc.anything()), { maxLength: 4 }), fc.record({ access_url: fc.oneof(fc.webUrl(), nastyString(30)), url: fc.string() }, { requiredKeys: [] }), fc.anything());
  const item = fc.record(
    {
      archive: fc.oneof(fc.constantFrom(...KNOWN_ARCHIVES, 'other', 'RUCIO'), fc.anything()),
      record,
      catalog: fc.constantFrom('project', 'workflow', 'x'),
      project_id: fc.oneof(fc.integer(), fc.string(), fc.bigInt(), fc.anything()),
      workflow_id: fc.oneof(fc.integer(), fc.string()),
      category: fc.constantFrom('classifications', 'subjects', 'y'),
      item_data: fc.string(),
    },
    { requiredKeys: [] },
  );
  const safeStringify = (v: unknown) => {
    try {
      return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x)) ?? 'null';
    } catch {
      return '{';
    }
  };
  const itemData = fc.oneof(item.map(safeStringify), nastyString(60), fc.json(), item, fc.anything(), fc.tuple(item.map(safeStringify), fc.nat(30)).map(([t, n]) => t.slice(0, n)));
  const entry = fc.oneof(fc.record({ item_data: itemData, user_profile: fc.oneof(fc.string(), fc.anything()) }, { requiredKeys: [] }), fc.anything());
  const KINDS = new Set<string>([...KNOWN_ARCHIVES, 'unknown', 'problem']);

  it('decodeEntry (one stored entry as ESAP returns it): an item or a problem, never an exception', () => {
    ledger.scenario();
    fuzz(ledger, 'basket item parsing: decodeEntry', fc.tuple(entry, fc.nat(1000)), ([e, i]) => {
      const decoded = decodeEntry(e, i);
      const v = decoded.value as { kind: string; did?: unknown; field?: unknown; problem?: unknown };
      check(KINDS.has(v.kind), () => `unknown kind ${v.kind}`);
      if (v.kind === 'rucio') check(isDid(v.did), 'a rucio item without a valid DID');
      if (v.kind === 'problem') check(typeof v.field === 'string' && typeof v.problem === 'string', 'a problem without field/problem');
      check(typeof decoded.key === 'string' && typeof decoded.wire === 'string', 'no identity');
    });
  }, T);

  it('Basket over a whole cart: every entry is an item or a problem; DIDs and sources are valid', () => {
    ledger.scenario();
    fuzz(
      ledger,
      'basket item parsing: Basket(profile)',
      fc.array(entry, { maxLength: 6 }),
      (cart) => {
        const basket = new Basket({ user_name: 'jdoe', shopping_cart: cart } as never);
        check(basket.items.length + basket.problems.length === cart.length, 'an entry was dropped');
        for (const d of basket.dids()) check(isDid(d), 'invalid DID');
        for (const s of basket.sources()) check(/^https?:\/\//i.test(s.url) && URL.canParse(s.url) && s.filename.length > 0, `bad source ${s.url}`);
      },
      { runs: 100_000 },
    );
  }, T);

  it('inputEntry (an item given to an editing method): an entry or InvalidArgumentError', () => {
    ledger.scenario();
    fuzz(ledger, 'basket item parsing: inputEntry', fc.oneof(item, fc.anything()), (input) =>
      typedOutcome(
        () => inputEntry(input, 'items[0]', true),
        [InvalidArgumentError],
        (e) => check(typeof e.text === 'string' && (e.value as { kind: string }).kind !== 'problem', 'a validated entry that is a problem'),
      ),
    );
  }, T);

  it('parseJson (lossless JSON of item_data): a value or JsonSyntaxError; valid JSON always parses', () => {
    ledger.scenario();
    fuzz(ledger, 'basket item parsing: parseJson', fc.oneof(nastyString(80), fc.json(), fc.tuple(fc.json(), fc.nat(20)).map(([j, n]) => j.slice(0, n))), (text) => {
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      typedOutcome(
        () => parseJson(text),
        [JsonSyntaxError],
        () => undefined,
        () => check(!valid, () => `valid JSON refused: ${text.slice(0, 60)}`),
      );
    });
  }, T);
});


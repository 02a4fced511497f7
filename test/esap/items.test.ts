/**
 * Units of the basket: lossless JSON, item decoding per archive (tolerant Rucio DID lookup), deep
 * equality, sources, and client configuration.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDid, InvalidArgumentError, ConfigError } from '../../src/index.js';
import { EsapClient, parseJson, rucioItem, type BasketItem, type BasketItemProblem } from '../../src/esap/index.js';
import { decodeEntry, inputEntry } from '../../src/esap/items.js';
import { canonicalKey, stringifyJson } from '../../src/esap/json.js';

const decode = (item: unknown) => decodeEntry({ item_data: typeof item === 'string' ? item : JSON.stringify(item), user_profile: 'alice' }, 0).value;
const didOf = (item: unknown) => {
  const v = decode(item) as BasketItem | BasketItemProblem;
  return v.kind === 'rucio' ? formatDid(v.did) : `${v.kind}: ${(v as BasketItemProblem).field} ${(v as BasketItemProblem).problem}`;
};

describe('lossless JSON', () => {
  it('keeps integers beyond 2^53 as bigint and everything else as JSON.parse does', () => {
    expect(parseJson('{"a": 9007199254740993, "b": 9007199254740991, "c": -0, "d": 1.0, "e": 1e400, "f": [true, null, "x\\u00e9"]}')).toEqual({
      a: 9007199254740993n,
      b: 9007199254740991,
      c: 0,
      d: 1,
      e: Number.POSITIVE_INFINITY,
      f: [true, null, 'xé'],
    });
  });

  it('treats "__proto__" as data', () => {
    const v = parseJson('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("reports errors with Python's json messages and positions", () => {
    const message = (t: string) => {
      try {
        parseJson(t);
        return 'ok';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(message('{"shopping_cart": [')).toBe('Expecting value: line 1 column 20 (char 19)');
    expect(message('not json {')).toBe('Expecting value: line 1 column 1 (char 0)');
    expect(message('{"a" 1}')).toBe("Expecting ':' delimiter: line 1 column 6 (char 5)");
    expect(message('{"a": 1,}')).toBe('Expecting property name enclosed in double quotes: line 1 column 9 (char 8)');
    expect(message('[1 2]')).toBe("Expecting ',' delimiter: line 1 column 4 (char 3)");
    expect(message('{}\n x')).toBe('Extra data: line 2 column 2 (char 4)');
    expect(message('"abc')).toBe('Unterminated string starting at: line 1 column 1 (char 0)');
    expect(message('"a\tb"')).toBe('Invalid control character at: line 1 column 3 (char 2)');
    expect(message('["😀", x]')).toBe('Expecting value: line 1 column 7 (char 6)');
    expect(message('NaN')).toBe('Expecting value: line 1 column 1 (char 0)');
  });

  it('round-trips any JSON value exactly, bigints included (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }), (value, big) => {
        const text = stringifyJson({ value, big });
        expect(stringifyJson(parseJson(text))).toBe(text);
        expect((parseJson(text) as { big: unknown }).big).toEqual(Number.isSafeInteger(Number(big)) ? Number(big) : big);
      }),
    );
  });

  it('deep equality ignores key order and int/float spelling, not values', () => {
    expect(canonicalKey({ a: 1, b: [1.0, { c: null, d: 'x' }] })).toBe(canonicalKey(parseJson('{"b": [1, {"d": "x", "c": null}], "a": 1.0}')));
    expect(canonicalKey({ a: 1 })).not.toBe(canonicalKey({ a: '1' }));
    expect(canonicalKey({ a: 2n ** 60n })).toBe(canonicalKey(parseJson(`{"a": ${2n ** 60n}}`)));
    expect(canonicalKey({ a: undefined, b: 1 })).toBe(canonicalKey({ b: 1 }));
  });
});

describe('Rucio items: the DID is found from the key variants of Rucio rows and the ESAP connector', () => {
  it.each([
    [{ archive: 'rucio', record: { scope: 'ESCAPE_CTA_TEST', name: 'a.fits', did_type: 'FILE', bytes: 1, length: null } }, 'ESCAPE_CTA_TEST:a.fits'],
    [{ archive: 'rucio', record: { scope: 'user.alice', name: 'a.fits', type: 'FILE', parent: null, level: 0 } }, 'user.alice:a.fits'],
    [{ archive: 'rucio', record: { Scope: 'user.alice', Name: 'run/1.fits' } }, 'user.alice:run/1.fits'],
    [{ archive: 'rucio', record: { did_scope: 'user.alice', did_name: 'a' } }, 'user.alice:a'],
    [{ archive: 'rucio', record: { did: 'user.alice:a' } }, 'user.alice:a'],
    [{ archive: 'rucio', record: { did: { scope: 'user.alice', name: 'a' } } }, 'user.alice:a'],
    [{ archive: 'rucio', record: { name: 'user.alice:a', bytes: 3 } }, 'user.alice:a'],
    [{ archive: 'rucio', record: 'user.alice:a' }, 'user.alice:a'],
    [{ archive: 'rucio', scope: 'user.alice', name: 'flat' }, 'user.alice:flat'],
    [{ archive: 'rucio', record: { scope: 'user.alice', name: 'a', pfns: {}, rses: { X: [] } } }, 'user.alice:a'],
  ])('%j → %s', (item, did) => {
    expect(didOf(item)).toBe(did);
  });

  it.each([
    [{ archive: 'rucio', record: { scope: 'user.alice' } }, 'problem: record.name is missing'],
    [{ archive: 'rucio', record: { scope: 'user alice', name: 'a' } }, 'problem: record.scope scope may only contain'],
    [{ archive: 'rucio', record: { did: { scope: 'x', name: '' } } }, 'problem: record.did.name name is empty'],
    [{ archive: 'rucio', record: 'no-colon' }, 'problem: record Invalid DID'],
    [{ archive: 'rucio', record: 42 }, 'problem: record must be an object'],
  ])('%j is a problem naming the field', (item, start) => {
    expect(didOf(item)).toMatch(new RegExp(`^${start.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  it('rucioItem builds the GUI shape from a DID', () => {
    expect(rucioItem('user.alice:a.fits', { did_type: 'FILE' })).toEqual({ archive: 'rucio', record: { scope: 'user.alice', name: 'a.fits', did_type: 'FILE' } });
    expect(() => rucioItem('nope')).toThrow(/Invalid DID/);
  });
});

describe('other archives', () => {
  it('decodes each known archive and keeps unknown ones verbatim', () => {
    expect(decode({ archive: 'apertif', record: { PID: 'x', url: 'https://alta.astron.nl/x.fits' } })).toMatchObject({ kind: 'apertif', accessUrl: 'https://alta.astron.nl/x.fits' });
    expect(decode({ archive: 'multi_query', record: { name: 'm', access_url: 'http://a.b/c?d=1', url: 'https://other' } })).toMatchObject({ kind: 'multi_query', accessUrl: 'http://a.b/c?d=1' });
    expect(decode({ archive: 'samp', record: [1, 'https://x.org/a.fits', 'text'] })).toMatchObject({ kind: 'samp', urls: ['https://x.org/a.fits'] });
    expect(decode({ archive: 'zooniverse', catalog: 'workflow', project_id: 1, workflow_id: 2, category: 'subjects' })).toMatchObject({ kind: 'zooniverse', projectId: '1', workflowId: '2' });
    expect(decode({ archive: 'zenodo', record: { doi: '10.1/x', access_url: 'ftp://no' } })).toEqual(expect.objectContaining({ kind: 'unknown', archive: 'zenodo', record: { doi: '10.1/x', access_url: 'ftp://no' } }));
    expect(decode({ archive: 'astron_vo', record: ['row'] })).toMatchObject({ kind: 'problem', field: 'record', problem: expect.stringMatching(/must be an object, got \["row"\]/) });
    expect(decode({ archive: 'zooniverse', catalog: 'project', category: 'subjects' })).toMatchObject({ kind: 'problem', field: 'project_id', problem: expect.stringMatching(/is missing/) });
  });

  it('items from the server are frozen; copies of them are refused as inputs, their data is accepted', () => {
    const item = decode({ archive: 'rucio', record: { scope: 's', name: 'n' } }) as BasketItem;
    expect(Object.isFrozen(item) && Object.isFrozen(item.data)).toBe(true);
    expect(inputEntry(item, 'items[0]', true).text).toBe(item.raw);
    expect(() => inputEntry({ ...item }, 'items[0]', true)).toThrow(InvalidArgumentError);
    expect(inputEntry(item.data as never, 'items[0]', true).key).toBe(inputEntry(item, 'x', true).key);
  });
});

describe('EsapClient configuration', () => {
  const urlOf = async (baseUrl: string) => {
    let seen = '';
    const client = new EsapClient({ baseUrl, fetch: async (input) => ((seen = (input as Request).url), new Response('{"count":0,"results":[]}')) });
    await client.basket.get().catch(() => undefined);
    return seen;
  };

  it('puts the API under esap-api/ unless the base URL already ends there', async () => {
    expect(await urlOf('https://esap.example.org')).toBe('https://esap.example.org/esap-api/accounts/user-profiles/');
    expect(await urlOf('https://example.org/sdc/')).toBe('https://example.org/sdc/esap-api/accounts/user-profiles/');
    expect(await urlOf('https://example.org/esap-api')).toBe('https://example.org/esap-api/accounts/user-profiles/');
  });

  it('refuses missing or ambiguous settings', () => {
    expect(() => new EsapClient({} as never)).toThrow(ConfigError);
    expect(() => new EsapClient({ baseUrl: 'https://x', token: 't', basic: { username: 'u', password: 'p' } })).toThrow(InvalidArgumentError);
    expect(() => new EsapClient({ baseUrl: 'not a url' })).toThrow(InvalidArgumentError);
    expect(new EsapClient({ baseUrl: 'https://x', credentials: 'include' }).authMode).toBe('session');
    expect(new EsapClient({ baseUrl: 'https://x', credentials: 'omit' }).authMode).toBe('anonymous');
  });

  it('sends Basic credentials UTF-8 encoded', async () => {
    let auth = '';
    const client = new EsapClient({
      baseUrl: 'https://x',
      basic: { username: 'ålice', password: 'pw:with:colons' },
      fetch: async (input) => ((auth = (input as Request).headers.get('Authorization') ?? ''), new Response('{"count":0,"results":[]}')),
    });
    await client.basket.get().catch(() => undefined);
    expect(auth).toBe(`Basic ${btoa(String.fromCharCode(...new TextEncoder().encode('ålice:pw:with:colons')))}`);
  });
});

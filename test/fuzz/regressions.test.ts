/**
 * The counterexamples the fuzz properties found, fixed, and kept as fast deterministic checks.
 */
import { describe, expect, it } from 'vitest';
import { DlaasError, ErrorCode, InvalidArgumentError, ResponseValidationError, encodeDidFilters, formatRfc1123, parseJsonBody, parsePythonLiteral, parseRucioDate } from '../../src/index.js';
import { EsapClient, parseJson } from '../../src/esap/index.js';
import { decodeEntry } from '../../src/esap/items.js';
import { JsonSyntaxError } from '../../src/esap/json.js';
import { downloadRelativePath } from '../../src/staging/paths.js';

describe('fuzz findings, fixed', () => {
  it('parseRucioDate: epoch seconds out of the Date range give undefined, not an Invalid Date', () => {
    expect(parseRucioDate(-8640000000000.001)).toBeUndefined();
    expect(parseRucioDate(1e300)).toBeUndefined();
  });

  it('parseRucioDate: years 0-99 are those years, not 1900-1999; formatRfc1123 writes four digits', () => {
    expect(parseRucioDate('0050-01-01T00:00:00')?.toISOString()).toBe('0050-01-01T00:00:00.000Z');
    const d = new Date('0007-03-04T05:06:07Z');
    expect(formatRfc1123(d)).toBe('Sun, 04 Mar 0007 05:06:07 UTC');
    expect(parseRucioDate(formatRfc1123(d))?.getTime()).toBe(d.getTime());
  });

  it('parsePythonLiteral: an escape beyond U+10FFFF is a typed error, not a RangeError', () => {
    expect(() => parsePythonLiteral("'\\UA0a000aa'")).toThrow(DlaasError);
  });

  it('parsePythonLiteral and encodeDidFilters keep a "__proto__" key as data', () => {
    const parsed = parsePythonLiteral("{'__proto__': 0}") as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(encodeDidFilters(JSON.parse('{"__proto__": "x", "run": {"gte": 1}}'))).toBe("[{'__proto__': 'x', 'run.gte': 1}]");
  });

  it('decodeEntry: an item_data object holding Infinity is a problem entry, not an exception', () => {
    const e = decodeEntry({ item_data: { archive: 'rucio', record: { '': Number.POSITIVE_INFINITY } } }, 0);
    expect(e.value).toMatchObject({ kind: 'problem', field: 'item_data', writable: false });
  });

  it('downloadRelativePath: a scope "." or ".." (valid in Rucio) is refused as a directory', () => {
    expect(() => downloadRelativePath({ scope: '..', name: 'etc/passwd' })).toThrow(InvalidArgumentError);
    expect(() => downloadRelativePath({ scope: '.', name: 'a' })).toThrow(InvalidArgumentError);
    expect(downloadRelativePath({ scope: '..', name: 'a' }, 'flat')).toBe('a');
  });

  const nested = (levels: number, open = '[', close = ']') => open.repeat(levels) + close.repeat(levels);

  it('parseJson (ESAP, lossless): 20,000 levels of nesting are a typed error naming the limit, not a RangeError', () => {
    for (const text of [nested(20_000), nested(20_000, '{"a":', '}'), nested(1001)]) {
      const err = (() => {
        try {
          parseJson(text);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(JsonSyntaxError);
      expect(err).toBeInstanceOf(DlaasError);
      expect((err as DlaasError).code).toBe(ErrorCode.invalidArgument);
      expect((err as Error).message).toMatch(/^Nesting deeper than 1000 levels: line 1 column \d+ \(char \d+\)$/);
    }
    expect(parseJson(nested(1000))).toBeInstanceOf(Array);
  });

  it('deep nesting in responses: ESAP answers are a ResponseValidationError, item_data a problem entry; plain JSON.parse bodies parse', async () => {
    const deep = nested(20_000);
    const esap = new EsapClient({ baseUrl: 'https://esap.test', token: 'tok-123456', fetch: async () => new Response(deep, { headers: { 'Content-Type': 'application/json' } }) });
    const err = await esap.basket.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResponseValidationError);
    expect(err).toMatchObject({ code: ErrorCode.responseValidation, endpoint: 'GET /accounts/user-profiles/' });
    expect(((err as Error).cause as Error).message).toMatch(/Nesting deeper than 1000 levels/);
    const entry = decodeEntry({ item_data: nested(20_000, '{"a":', '}') }, 0);
    expect(entry.value).toMatchObject({ kind: 'problem', field: 'item_data' });
    // Rucio bodies go through V8's JSON.parse, which does not recurse: no RangeError at any depth.
    expect(() => parseJsonBody(nested(20_000), 'GET /x')).not.toThrow();
    expect(() => parseJsonBody(nested(1_000_000), 'GET /x')).not.toThrow();
  });
});

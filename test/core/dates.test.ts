import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatRfc1123, formatRucioIso, parseRucioDate } from '../../src/index.js';

describe('Rucio dates', () => {
  it('parses the formats the server sends', () => {
    const want = new Date('2026-11-25T10:10:10Z');
    expect(parseRucioDate('Wed, 25 Nov 2026 10:10:10 UTC')).toEqual(want);
    expect(parseRucioDate('25 Nov 2026 10:10:10 UTC')).toEqual(want);
    expect(parseRucioDate('Wed, 25 Nov 2026 10:10:10 GMT')).toEqual(want);
    expect(parseRucioDate('2026-11-25T10:10:10')).toEqual(want);
    expect(parseRucioDate('2026-11-25 10:10:10')).toEqual(want);
    expect(parseRucioDate('2026-11-25T10:10:10.250Z')).toEqual(new Date('2026-11-25T10:10:10.250Z'));
    expect(parseRucioDate('2026-11-25')).toEqual(new Date('2026-11-25T00:00:00Z'));
    expect(parseRucioDate(1795601410)).toEqual(new Date(1795601410 * 1000));
    expect(parseRucioDate('1795601410')).toEqual(new Date(1795601410 * 1000));
  });

  it('rejects what is not a date, including impossible days and wrong weekdays', () => {
    for (const bad of ['', 'None', 'Thu, 25 Nov 2026 10:10:10 UTC', '31 Feb 2026 10:10:10 UTC', '2026-13-01T00:00:00', '2026-11-25T25:00:00', null, {}, Number.NaN]) {
      expect(parseRucioDate(bad), String(bad)).toBeUndefined();
    }
  });

  it('formats RFC 1123 and ISO and round-trips', () => {
    expect(formatRfc1123(new Date('2013-05-13T10:23:03Z'))).toBe('Mon, 13 May 2013 10:23:03 UTC');
    expect(formatRucioIso(new Date('2026-11-25T09:10:10.999Z'))).toBe('2026-11-25T09:10:10');
    fc.assert(
      fc.property(fc.date({ min: new Date('1970-01-01'), max: new Date('2199-12-31'), noInvalidDate: true }), (d) => {
        const s = new Date(Math.floor(d.getTime() / 1000) * 1000);
        expect(parseRucioDate(formatRfc1123(s))).toEqual(s);
        expect(parseRucioDate(formatRucioIso(s))).toEqual(s);
      }),
      { numRuns: 3000 },
    );
  });

  it('never throws on arbitrary input', () => {
    fc.assert(fc.property(fc.anything(), (v) => void parseRucioDate(v)), { numRuns: 3000 });
  });
});

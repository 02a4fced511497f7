import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DlaasError, ErrorCode, InvalidDidError, didPath, encodeSegment, formatDid, isDid, parseDid, path, toDid } from '../../src/index.js';

const scopeArb = fc.stringMatching(/^[a-zA-Z_\-.0-9]{1,25}$/);
const nameArb = fc.stringMatching(/^[/A-Za-z0-9][/A-Za-z0-9.\-_]{0,249}$/);

describe('DID', () => {
  it('parses on the first colon; names may contain "/" and start with it', () => {
    expect(parseDid('user.jdoe:run1/file.fits')).toEqual({ scope: 'user.jdoe', name: 'run1/file.fits' });
    expect(parseDid('test:/abs/path')).toEqual({ scope: 'test', name: '/abs/path' });
  });

  it('rejects bad input with InvalidDidError naming the problem', () => {
    const cases: [unknown, RegExp][] = [
      ['noscope', /missing ":"/],
      [':name', /scope is empty/],
      ['scope:', /name is empty/],
      ['a'.repeat(26) + ':n', /26 characters long \(max 25\)/],
      ['s:' + 'n'.repeat(251), /251 characters long \(max 250\)/],
      ['bad scope:n', /scope may only contain/],
      ['s:.hidden', /name must start/],
      ['s:a:b', /name must start|contain only/],
      [42, /expected a string/],
    ];
    for (const [input, re] of cases) {
      const err = (() => {
        try {
          parseDid(input as string);
        } catch (e) {
          return e;
        }
      })();
      expect(err, String(input)).toBeInstanceOf(InvalidDidError);
      expect((err as InvalidDidError).code).toBe(ErrorCode.invalidDid);
      expect((err as Error).message).toMatch(re);
    }
    expect(() => toDid({ scope: 'x' })).toThrow(InvalidDidError);
    expect(() => toDid(null)).toThrow(InvalidDidError);
  });

  it('rejects names and scopes holding U+FFFD (a decoding loss), control characters or other non-ASCII', () => {
    for (const bad of ['f\ufffd.root', '\ufffd', 'a\u0000b', 'a\nb', 'a\tb', 'a\u007fb', 'a\u0085b', 'a\u202eb', 'fé', 'a b']) {
      expect(() => parseDid(`user.jdoe:${bad}`), JSON.stringify(bad)).toThrow(InvalidDidError);
      expect(() => toDid({ scope: 'user.jdoe', name: bad }), JSON.stringify(bad)).toThrow(InvalidDidError);
      expect(() => toDid({ scope: `u${bad}`, name: 'n' }), JSON.stringify(bad)).toThrow(InvalidDidError);
    }
  });

  it('parse ∘ format is the identity on valid DIDs', () => {
    fc.assert(
      fc.property(scopeArb, nameArb, (scope, name) => {
        const d = { scope, name };
        expect(parseDid(formatDid(d))).toEqual(d);
        expect(isDid(d)).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws anything but InvalidDidError on arbitrary input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.anything()), (input) => {
        try {
          const d = parseDid(input as string);
          expect(isDid(d)).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidDidError);
          expect(e).toBeInstanceOf(DlaasError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('encodes each path segment separately, "/" as %2F, like quote_plus', () => {
    expect(didPath({ scope: 'user.jdoe', name: 'run1/f (1).fits' })).toBe('user.jdoe/run1%2Ff%20%281%29.fits');
    expect(encodeSegment("a/b?c#d&e=f'g*")).toBe('a%2Fb%3Fc%23d%26e%3Df%27g%2A');
    expect(path`/rses/${'SITE/A'}/attr/`).toBe('/rses/SITE%2FA/attr/');
    fc.assert(
      fc.property(nameArb, (name) => {
        const seg = encodeSegment(name);
        expect(seg).not.toContain('/');
        expect(decodeURIComponent(seg)).toBe(name);
      }),
    );
  });
});

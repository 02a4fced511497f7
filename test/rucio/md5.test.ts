/** The small MD5 behind the `hash` LFN → PFN algorithm, against Node's. */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { md5Hex } from '../../src/rucio/md5.js';

const nodeMd5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');

describe('md5Hex', () => {
  it('matches the RFC 1321 test suite and block boundaries', () => {
    expect(md5Hex('')).toBe('d41d8cd98f00b204e9800998ecf8427e');
    expect(md5Hex('abc')).toBe('900150983cd24fb0d6963f7d28e17f72');
    expect(md5Hex('12345678901234567890123456789012345678901234567890123456789012345678901234567890')).toBe('57edf4a22be3c955ac49da2e2107b67a');
    for (const n of [55, 56, 57, 63, 64, 65, 119, 120, 128, 1000]) expect(md5Hex('x'.repeat(n)), String(n)).toBe(nodeMd5('x'.repeat(n)));
  });

  it('equals Node’s MD5 of the UTF-8 bytes for any string', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => md5Hex(s) === nodeMd5(s)), { numRuns: 2000 });
  });
});

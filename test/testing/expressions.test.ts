/**
 * RSE expressions: syntax, attribute terms, set operators evaluated left to right.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveRseExpression } from '../../src/testing/rucio/expressions.js';
import { call, smallWorld } from './helpers.js';

describe('GET /rses/?expression=', () => {
  const { rucio, root } = smallWorld();
  rucio.addRse('TAPE_C', { rseType: 'TAPE', attributes: { istape: true, tier: 1 }, availability: { write: false } });
  const names = async (expression: string) => {
    const r = await call(rucio, root, 'GET', `/rses/?expression=${encodeURIComponent(expression)}`);
    expect(r.status, r.text).toBe(200);
    return (r.lines() as { rse: string }[]).map((x) => x.rse);
  };
  const error = async (expression: string) => (await call(rucio, root, 'GET', `/rses/?expression=${encodeURIComponent(expression)}`)).json();

  it('resolves names, attributes, comparisons, columns and *', async () => {
    expect(await names('SITE_A')).toEqual(['SITE_A']);
    expect(await names('SITE_A|SITE_B')).toEqual(['SITE_A', 'SITE_B']);
    expect(await names('*')).toEqual(['SITE_A', 'SITE_B', 'TAPE_C']);
    expect(await names('tier=1')).toEqual(['SITE_A', 'TAPE_C']);
    expect(await names('tier>1')).toEqual(['SITE_B']);
    expect(await names('tier<2')).toEqual(['SITE_A', 'TAPE_C']);
    expect(await names('istape=true')).toEqual(['TAPE_C']);
    expect(await names('istape=True')).toEqual(['TAPE_C']);
    expect(await names('istape')).toEqual(['TAPE_C']);
    expect(await names('site=site_b')).toEqual(['SITE_B']);
    expect(await names('rse_type=TAPE')).toEqual(['TAPE_C']);
    expect(await names('availability_write=false')).toEqual(['TAPE_C']);
    expect(await names('*\\istape=true')).toEqual(['SITE_A', 'SITE_B']);
    expect(await names('tier=1&(SITE_B|TAPE_C)')).toEqual(['TAPE_C']);
  });

  it('has no operator precedence: left to right, as Rucio', async () => {
    // (SITE_A|SITE_B)&tier=2, not SITE_A|(SITE_B&tier=2)
    expect(await names('SITE_A|SITE_B&tier=2')).toEqual(['SITE_B']);
    expect(await names('SITE_A|(SITE_B&tier=2)')).toEqual(['SITE_A', 'SITE_B']);
  });

  it('answers 400 InvalidRSEExpression (or InvalidObject) as the server', async () => {
    expect(await error('NOWHERE')).toEqual({ ExceptionClass: 'InvalidRSEExpression', ExceptionMessage: 'RSE Expression resulted in an empty set.' });
    expect(await error('SITE_A|')).toEqual({ ExceptionClass: 'InvalidRSEExpression', ExceptionMessage: 'Expression does not comply to RSE Expression syntax' });
    expect(await error('(SITE_A|SITE_B')).toEqual({ ExceptionClass: 'InvalidRSEExpression', ExceptionMessage: 'Problem with parentheses.' });
    expect(await error('SITE_A)(')).toEqual({ ExceptionClass: 'InvalidRSEExpression', ExceptionMessage: 'Problem with parentheses.' });
    expect(await error('rse_type=FOO')).toEqual({ ExceptionClass: 'InvalidObject', ExceptionMessage: 'Invalid rse_type: FOO' });
    expect((await call(rucio, root, 'GET', '/rses/?expression=SITE%20A')).status).toBe(400);
  });

  it('rules skip RSEs closed for writing (RSEWriteBlocked when none is left)', async () => {
    await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: [{ name: 'f', content: 'x' }] });
    const r = await call(rucio, root, 'POST', '/rules/', { dids: [{ scope: 'test', name: 'ds' }], account: null, copies: 1, rse_expression: 'TAPE_C' });
    expect([r.status, r.json()]).toEqual([500, { ExceptionClass: 'RSEWriteBlocked', ExceptionMessage: 'RSE excluded; not available for writing.' }]);
    const empty = await call(rucio, root, 'POST', '/rules/', { dids: [{ scope: 'test', name: 'ds' }], account: null, copies: 1, rse_expression: 'NOWHERE' });
    expect([empty.status, empty.headers.get('ExceptionClass')]).toEqual([409, 'InvalidRSEExpression']);
  });
});

describe('expression algebra (property)', () => {
  const rses = ['A1', 'B2', 'C3', 'D4', 'E5'].map((name, i) => ({
    id: name,
    name,
    rseType: 'DISK' as const,
    deterministic: true,
    volatile: false,
    stagingArea: false,
    availabilityRead: true,
    availabilityWrite: true,
    availabilityDelete: true,
    lfn2pfnAlgorithm: 'hash',
    verifyChecksum: true,
    location: {},
    qosClass: null,
    attributes: new Map<string, string | number | boolean>([[name, true], ['n', i]]),
    protocols: [],
    createdAt: new Date(0),
    updatedAt: new Date(0),
  }));
  const term = fc.oneof(fc.constantFrom(...rses.map((r) => r.name)), fc.integer({ min: -1, max: 5 }).map((n) => `n<${n}`), fc.integer({ min: -1, max: 5 }).map((n) => `n>${n}`), fc.constant('*'));
  const expr = fc.tuple(term, fc.array(fc.tuple(fc.constantFrom('|', '&', '\\'), term), { maxLength: 5 }));

  function evaluate(t: string): Set<string> {
    const m = /^n([<>])(-?\d+)$/.exec(t);
    if (t === '*') return new Set(rses.map((r) => r.name));
    if (m) return new Set(rses.filter((r, i) => (m[1] === '<' ? i < Number(m[2]) : i > Number(m[2]))).map((r) => r.name));
    return new Set([t]);
  }

  it('equals left-to-right set algebra over the terms', () => {
    fc.assert(
      fc.property(expr, ([first, rest]) => {
        const text = first + rest.map(([op, t]) => op + t).join('');
        let expected = evaluate(first);
        for (const [op, t] of rest) {
          const right = evaluate(t);
          expected = new Set(op === '|' ? [...expected, ...right] : [...expected].filter((x) => (op === '&' ? right.has(x) : !right.has(x))));
        }
        if (!expected.size) {
          expect(() => resolveRseExpression(text, rses)).toThrow('RSE Expression resulted in an empty set.');
        } else {
          expect(resolveRseExpression(text, rses).map((r) => r.name)).toEqual([...expected].sort());
        }
      }),
      { numRuns: 300 },
    );
  });
});

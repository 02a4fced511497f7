import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import { ResponseValidationError, validate } from '../../src/index.js';
import { validator } from '../../src/core/validate.js';
import { ReplicaSchema, RuleSchema } from '../../src/rucio/types.js';

const replica = {
  scope: 'test',
  name: 'file1',
  bytes: 1500,
  md5: null,
  adler32: '8dc1fca8',
  pfns: {
    'davs://storage-b.example.org:443/rucio/site_b/test/80/25/file1': { rse_id: '66fd', rse: 'SITE_B', type: 'DISK', volatile: false, domain: 'wan', priority: 1, client_extract: false },
  },
  rses: { SITE_B: ['davs://storage-b.example.org:443/rucio/site_b/test/80/25/file1'] },
  states: { SITE_B: 'AVAILABLE' },
};

/** Every path into a JSON value. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (v === null || typeof v !== 'object') return [prefix];
  const out: (string | number)[][] = [prefix];
  for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, Array.isArray(v) ? Number(k) : k]));
  return out;
}

function mutate(v: unknown, path: (string | number)[], to: unknown, remove: boolean): unknown {
  const copy = structuredClone(v) as Record<string | number, unknown>;
  if (path.length === 0) return to;
  let at = copy;
  for (const p of path.slice(0, -1)) at = at[p] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (remove) delete at[last];
  else at[last] = to;
  return copy;
}

describe('validate (fast path)', () => {
  it('returns a valid value as it is, with unknown fields kept', () => {
    const value = { ...replica, extra: { new: 1 } };
    expect(validate(ReplicaSchema, value, 'POST /replicas/list')).toBe(value);
  });

  it('accepts exactly what zod accepts, for any one change to a replica', () => {
    const all = paths(replica);
    const junk = fc.oneof(fc.constant(null), fc.constant(undefined), fc.integer(), fc.double(), fc.string(), fc.boolean(), fc.constant([]), fc.constant({}), fc.constant(['x']), fc.constant({ a: 1 }));
    fc.assert(
      fc.property(fc.nat(all.length - 1), junk, fc.boolean(), (i, to, remove) => {
        const value = mutate(replica, all[i] as (string | number)[], to, remove);
        const zodOk = ReplicaSchema.safeParse(value).success;
        let ours: boolean;
        try {
          validate(ReplicaSchema, value, 'e');
          ours = true;
        } catch (e) {
          expect(e).toBeInstanceOf(ResponseValidationError);
          ours = false;
        }
        expect(ours).toBe(zodOk);
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves __proto__ and constructor keys, and schemas with checks, to zod', () => {
    const withProto = JSON.parse('{"scope":"s","name":"n","bytes":1,"pfns":{},"rses":{"__proto__":["x"]}}') as unknown;
    expect(validate(ReplicaSchema, withProto, 'e')).toEqual(ReplicaSchema.parse(withProto));
    const checked = z.string().check(z.minLength(3));
    expect(() => validate(checked, 'ab', 'e')).toThrow(ResponseValidationError);
    expect(validate(checked, 'abc', 'e')).toBe('abc');
    const strip = z.object({ a: z.number() });
    expect(validate(strip, { a: 1, b: 2 }, 'e')).toEqual({ a: 1 });
  });

  it('names the line of a bad item', () => {
    const check = validator(RuleSchema, 'GET /rules/');
    expect(() => check({ id: 1 }, 7)).toThrow(/line 7/);
  });
});

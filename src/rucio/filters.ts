/**
 * DID search filters, typed, and their encoding for `GET /dids/{scope}/dids/search?filters=`.
 *
 * The server reads `filters` with Python's `ast.literal_eval`: a list of dicts, OR'ed; the keys of
 * one dict are AND'ed; comparisons are key suffixes `.gt .lt .gte .lte .ne`; `*` is a wildcard.
 *
 * @module
 */
import { InvalidArgumentError } from '../core/errors.js';
import { toPythonLiteral, type PyValue } from './python-literal.js';

/** A value to compare with. Dates are sent as `YYYY-MM-DDTHH:MM:SS` (UTC). */
export type FilterValue = string | number | boolean | Date | null;

/** Comparison operators on one key. */
export interface FilterOps {
  eq?: FilterValue;
  ne?: FilterValue;
  gt?: number | Date;
  gte?: number | Date;
  lt?: number | Date;
  lte?: number | Date;
}

/**
 * One AND-group: key → value (equality, `*` wildcards in strings) or operators.
 *
 * @example
 * ```ts
 * const f: DidFilter = { datatype: 'MS', 'run_number': { gte: 100, lt: 200 }, name: 'L123*' };
 * ```
 */
export type DidFilter = Record<string, FilterValue | FilterOps>;

const OPS = new Set(['eq', 'ne', 'gt', 'gte', 'lt', 'lte']);
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

function isOps(v: unknown): v is FilterOps {
  return typeof v === 'object' && v !== null && !(v instanceof Date) && !Array.isArray(v);
}

function checkValue(key: string, v: unknown): FilterValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || v instanceof Date) {
    if (v instanceof Date && Number.isNaN(v.getTime())) throw new InvalidArgumentError(`filters.${key}`, `filter "${key}": invalid Date`);
    return v;
  }
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  throw new InvalidArgumentError(`filters.${key}`, `filter "${key}": unsupported value of type ${typeof v}`);
}

/** Flatten one group into Rucio's `key` / `key.op` dict. */
function flatten(group: DidFilter): Record<string, PyValue> {
  if (typeof group !== 'object' || group === null || Array.isArray(group)) throw new InvalidArgumentError('filters', 'each filter group must be an object');
  const out: Record<string, PyValue> = {};
  for (const [key, cond] of Object.entries(group)) {
    if (!KEY.test(key)) throw new InvalidArgumentError(`filters.${key}`, `filter key ${JSON.stringify(key)} is not a valid metadata key`);
    if (isOps(cond)) {
      const ops = Object.entries(cond);
      if (ops.length === 0) throw new InvalidArgumentError(`filters.${key}`, `filter "${key}": no operator given`);
      for (const [op, v] of ops) {
        if (!OPS.has(op)) throw new InvalidArgumentError(`filters.${key}`, `filter "${key}": unknown operator "${op}" (use eq, ne, gt, gte, lt, lte)`);
        const value = checkValue(key, v);
        if (op !== 'eq' && op !== 'ne' && typeof value !== 'number' && !(value instanceof Date)) {
          throw new InvalidArgumentError(`filters.${key}`, `filter "${key}": "${op}" needs a number or a Date`);
        }
        put(out, op === 'eq' ? key : `${key}.${op}`, value);
      }
    } else put(out, key, checkValue(key, cond));
  }
  return out;
}

/** Set a key as data (a key named `__proto__` must not become the object's prototype and vanish). */
function put(out: Record<string, PyValue>, key: string, value: PyValue): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Encode filters (one group, or OR'ed groups) as the Python literal the server's `literal_eval`
 * expects (`True`/`False`/`None`, not JSON's `true`/`false`/`null`).
 *
 * @example
 * ```ts
 * encodeDidFilters([{ name: 'file*', events: { gte: 20 } }]); // "[{'name': 'file*', 'events.gte': 20}]"
 * ```
 * @throws {@link InvalidArgumentError} naming the bad key or value.
 */
export function encodeDidFilters(filters: DidFilter | readonly DidFilter[]): string {
  const groups = Array.isArray(filters) ? (filters as readonly DidFilter[]) : [filters as DidFilter];
  if (groups.length === 0) throw new InvalidArgumentError('filters', 'an empty list of filter groups matches nothing; omit filters instead');
  return toPythonLiteral(groups.map(flatten));
}

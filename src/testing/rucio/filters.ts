/**
 * DID search filters (`GET /dids/{scope}/dids/search`), as Rucio's metadata plugins and
 * `FilterEngine` apply them: a list of OR'ed groups of AND'ed `key[.op]: value` criteria, with
 * `.gt .lt .gte .lte .ne` suffixes, `*`/`%` wildcards, typecast string values and the
 * one-plugin-per-query rule (DID columns vs JSON metadata).
 * @module
 */
import { parsePythonLiteral, type PyParsed } from '../../rucio/python-literal.js';
import { parseRucioDate } from '../../core/dates.js';
import { PlainServerError, RucioError } from './wire.js';
import type { DidRecord, DidType } from './state.js';
import { EXTRA_COLUMNS, metaDict } from './views.js';

type Op = 'eq' | 'ne' | 'lt' | 'gt' | 'gte' | 'lte';
type Value = string | number | boolean | Date | null;
interface Criterion {
  key: string;
  op: Op;
  value: Value;
}

/** A compiled search: OR'ed groups, each with its DID types, and whether the JSON plugin answers. */
export interface DidQuery {
  groups: { types: DidType[] | undefined; criteria: Criterion[] }[];
  json: boolean;
}

const TYPE_MAP: Readonly<Record<string, DidType[]>> = {
  all: ['CONTAINER', 'DATASET', 'FILE'],
  collection: ['CONTAINER', 'DATASET'],
  container: ['CONTAINER'],
  dataset: ['DATASET'],
  file: ['FILE'],
};

const OPS: Readonly<Record<string, Op>> = { '': 'eq', ne: 'ne', lt: 'lt', gt: 'gt', gte: 'gte', lte: 'lte' };

/** Columns of the `dids` table (the attributes the DID_COLUMN plugin can filter on). */
const DID_COLUMNS = new Set(['scope', 'name', 'account', 'did_type', 'is_open', 'monotonic', 'bytes', 'length', 'md5', 'adler32', 'expired_at', 'events', 'guid', 'created_at', 'updated_at', 'closed_at', ...Object.keys(EXTRA_COLUMNS)]);
/** Columns the DID_COLUMN plugin refuses to manage (they fall through to the JSON plugin). */
const UNMANAGED = new Set(['account', 'availability', 'complete', 'created_at', 'did_type', 'is_open', 'monotonic', 'obsolete', 'scope', 'suppressed', 'updated_at']);
const DATE_FORMATS = "('%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%S', '%Y-%m-%d %H:%M:%S.%fZ', '%Y-%m-%dT%H:%M:%S.%fZ', '%a, %d %b %Y %H:%M:%S UTC')";

function columnManaged(key: string): boolean {
  return key === 'created_at' || key === 'type' || key === 'lifetime' || key === 'created_before' || key === 'created_after' || (DID_COLUMNS.has(key) && !UNMANAGED.has(key));
}

/** FilterEngine `_try_typecast_string`: dates, then numbers/booleans when no arithmetic sign. */
function typecast(value: string): Value {
  if (/^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  if (/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+Z)?$|^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} UTC$/.test(value)) {
    const date = parseRucioDate(value);
    if (date) return date;
  }
  if (/[+\-*/]/.test(value)) return value;
  if (/^(\d+\.?\d*|\.\d+)([eE]\d+)?$/.test(value)) return Number(value);
  if (value === 'True' || value === 'False') return value === 'True';
  if (value === 'None') return null;
  return value;
}

function isWildcard(v: Value): v is string {
  return typeof v === 'string' && (v.includes('*') || v.includes('%'));
}

function toValue(v: PyParsed): Value {
  if (Array.isArray(v) || (typeof v === 'object' && v !== null && !(v instanceof Date))) return JSON.stringify(v);
  return v;
}

/**
 * Read the search parameters: `filters=` (a Python literal, a dict or a list of dicts) or every
 * query argument other than `type/limit/long/recursive` as one AND group.
 */
export function readFilters(params: URLSearchParams): Record<string, Value>[] {
  const literal = params.get('filters');
  if (literal === null) {
    const group: Record<string, Value> = {};
    for (const [k, v] of params) if (!['type', 'limit', 'long', 'recursive'].includes(k)) group[k] = v;
    return [group];
  }
  let parsed: PyParsed;
  try {
    parsed = parsePythonLiteral(literal);
  } catch {
    throw new PlainServerError(`malformed node or string: ${literal}`);
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.map((g) => {
    if (typeof g !== 'object' || g === null || Array.isArray(g) || g instanceof Date) throw new PlainServerError(`'${typeof g}' object has no attribute 'keys'`);
    return Object.fromEntries(Object.entries(g).map(([k, v]) => [k, toValue(v)]));
  });
}

/** Compile filter groups for a search whose default type is `didType` (400/404/409/500 as the server). */
export function compileQuery(groups: Record<string, Value>[], didType: string): DidQuery {
  const plugins = new Set<boolean>();
  for (const g of groups) for (const k of Object.keys(g)) if (k !== 'name') plugins.add(!columnManaged(k.split('.')[0] as string));
  if (plugins.size > 1) throw new RucioError(500, 'InvalidMetadata', 'Filter keys used do not all belong to the same metadata plugin.');
  const json = plugins.has(true);
  return {
    json,
    groups: groups.map((raw) => {
      const g = { ...raw };
      let types: DidType[] | undefined;
      if (!json) {
        const t = String(g.type ?? didType).toLowerCase();
        delete g.type;
        types = TYPE_MAP[t];
        if (!types) throw new RucioError(409, 'UnsupportedOperation', `${t} is not a valid type. Valid types are dict_keys(['all', 'collection', 'container', 'dataset', 'file'])`);
      }
      if ('created_after' in g) g['created_at.gte'] = g.created_after as Value;
      if ('created_before' in g) g['created_at.lte'] = g.created_before as Value;
      delete g.created_after;
      delete g.created_before;
      return { types, criteria: Object.entries(g).map(([k, v]) => criterion(k, v, json)) };
    }),
  };
}

function criterion(rawKey: string, rawValue: Value, json: boolean): Criterion {
  const parts = rawKey.split('.');
  if (parts.length > 2) throw new RucioError(400, 'DIDFilterSyntaxError', 'None');
  const key = parts[0] as string;
  const op = OPS[parts[1] ?? ''];
  if (!op) throw new PlainServerError("'NoneType' object is not callable");
  if (!json && !DID_COLUMNS.has(key)) throw new RucioError(404, 'KeyNotFound', `'${key}' keyword could not be coerced to model class attribute. Attribute not found.`);
  const value = typeof rawValue === 'string' ? typecast(rawValue) : rawValue;
  if (key === 'name' && op !== 'eq' && op !== 'ne') throw new PlainServerError('Name operator must be an equality operator.');
  if (key === 'length' && !Number.isInteger(Number(value))) throw new PlainServerError('Length has to be an integer value.');
  if (isWildcard(value) && op !== 'eq' && op !== 'ne') throw new RucioError(400, 'DIDFilterSyntaxError', 'Wildcards can only be used with equality operators');
  if (key === 'created_at' && !(value instanceof Date)) throw new RucioError(400, 'DIDFilterSyntaxError', `Couldn't parse date '${String(value)}'. Valid formats are: ${DATE_FORMATS}`);
  return { key, op, value };
}

function likeRegex(pattern: string): RegExp {
  const body = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/[*%]/g, '.*');
  return new RegExp(`^${body}$`, 's');
}

function compareValues(a: unknown, b: Value): number | undefined {
  const norm = (v: unknown) => (v instanceof Date ? v.getTime() : typeof v === 'boolean' ? Number(v) : v);
  const x = norm(a);
  const y = norm(b);
  if (typeof x === 'number' && typeof y === 'number') return x - y;
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0;
  if (typeof x === 'number' && typeof y === 'string' && y.trim() !== '' && !Number.isNaN(Number(y))) return x - Number(y);
  return undefined;
}

function test(actual: unknown, c: Criterion): boolean {
  const { op, value } = c;
  if (isWildcard(value)) {
    if (value === '*' || value === '%') return true;
    if (actual === null || actual === undefined) return op === 'ne';
    const hit = likeRegex(value).test(String(actual));
    return op === 'eq' ? hit : !hit;
  }
  if (actual === null || actual === undefined) return op === 'ne';
  const cmp = compareValues(actual, value);
  if (cmp === undefined) return op === 'ne';
  return { eq: cmp === 0, ne: cmp !== 0, lt: cmp < 0, gt: cmp > 0, gte: cmp >= 0, lte: cmp <= 0 }[op];
}

/** Does a DID match the query? */
export function matchesQuery(did: DidRecord, query: DidQuery): boolean {
  if (query.json && Object.keys(did.meta).length === 0) return false;
  const row = query.json ? { ...did.meta, name: did.name } : metaDict(did);
  return query.groups.some((g) => (!g.types || g.types.includes(did.type)) && g.criteria.every((c) => test(row[c.key], c)));
}

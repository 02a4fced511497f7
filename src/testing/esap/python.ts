/**
 * The Python side of ESAP's wire format: `json.loads` into Python-shaped values (dicts keep key
 * order, ints are exact, floats stay floats), `json.dumps` with Python's defaults (the text ESAP
 * stores in `item_data`), and DRF's `JSONRenderer` output (compact, non-ASCII kept) for responses.
 *
 * Web-standard APIs only: this file is bundled for browsers.
 * @module
 */
import { parseJsonWith, type JsonBuilder } from '../../esap/json.js';

/** A Python `float` (so that `1.0` is written back as `1.0`, not `1`). */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** A Python value as `json.loads` makes it: `bigint` is `int`, `Map` is `dict`. */
export type PyValue = null | boolean | string | bigint | PyFloat | PyValue[] | PyDict;
/** A Python `dict` (insertion-ordered, like `Map`). */
export type PyDict = Map<string, PyValue>;

const pyBuilder: JsonBuilder<PyValue, PyDict> = {
  object: () => new Map(),
  set: (o, k, v) => void o.set(k, v),
  done: (o) => o,
  array: (items) => items,
  string: (s) => s,
  number: (text, integer) => (integer ? BigInt(text) : new PyFloat(Number(text))),
  literal: (v) => v,
};

/**
 * `json.loads(text)` (strict, as DRF's parser). Throws `JsonSyntaxError` with Python's message.
 */
export function pyLoads(text: string): PyValue {
  return parseJsonWith(text, pyBuilder);
}

/** Python `repr(float)`: shortest round-trip digits, `1.0`, `1e-05`, `1e+16`, `inf` → `Infinity` in JSON. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const [mantissa = '0', exp = '0'] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const point = Number(exp) + 1; // value = 0.<digits> × 10^point
  if (point > 16 || point < -3) {
    const e = point - 1;
    return `${sign}${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ''}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

function pyString(s: string, ensureAscii: boolean): string {
  const out = JSON.stringify(s);
  return ensureAscii ? out.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : out;
}

/**
 * Encode Python values (and plain JS values: integral numbers as `int`, others as `float`, objects
 * as dicts in key order) the way Python's `json` module does with the given separators.
 */
function encode(value: unknown, sep: readonly [string, string], ensureAscii: boolean): string {
  if (value === null || value === undefined) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'string') return pyString(value, ensureAscii);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value).toString() : pyFloatRepr(value);
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (Array.isArray(value)) return `[${value.map((v) => encode(v, sep, ensureAscii)).join(sep[0])}]`;
  const entries = value instanceof Map ? [...(value as Map<string, unknown>).entries()] : Object.entries(value as Record<string, unknown>);
  return `{${entries.map(([k, v]) => `${pyString(k, ensureAscii)}${sep[1]}${encode(v, sep, ensureAscii)}`).join(sep[0])}}`;
}

/** `json.dumps(value)` with Python's defaults: `", "`/`": "`, ASCII only, floats as `repr`. */
export function pyDumps(value: unknown): string {
  return encode(value, [', ', ': '], true);
}

/** DRF `JSONRenderer`: compact, non-ASCII kept, U+2028/U+2029 escaped. */
export function drfJson(value: unknown): string {
  return encode(value, [',', ':'], false).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** Python's `type(value).__name__`. */
export function pyTypeName(value: PyValue | undefined): string {
  if (value === null || value === undefined) return 'NoneType';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'string') return 'str';
  if (typeof value === 'bigint') return 'int';
  if (value instanceof PyFloat) return 'float';
  if (Array.isArray(value)) return 'list';
  return 'dict';
}

/** Python 3 `round()` (half to even). */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d !== 0.5) return Math.round(x);
  return f % 2 === 0 ? f : f + 1;
}

/** A JS value (from tests' seeding) as the Python value `json.loads(JSON.stringify(value))` would give. */
export function toPy(value: unknown): PyValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean' || typeof value === 'string' || typeof value === 'bigint') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : new PyFloat(value);
  if (value instanceof PyFloat || value instanceof Map) return value as PyValue;
  if (Array.isArray(value)) return value.map(toPy);
  const out: PyDict = new Map();
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (v !== undefined) out.set(k, toPy(v));
  return out;
}

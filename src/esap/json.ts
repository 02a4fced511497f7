/**
 * Lossless JSON for the ESAP basket. ESAP stores every basket item as Python `json.dumps` text, and
 * Python keeps integers exact: a JS `JSON.parse` would round `9007199254740993` and so corrupt an item
 * that the SDK writes back. This parser keeps integers beyond 2^53 as `bigint`, refuses `__proto__`
 * tricks, and reports errors with Python's `json` messages and positions (the ESAP server's own
 * wording, so the emulator can reuse it).
 *
 * @module
 */
import { InvalidArgumentError } from '../core/errors.js';

/**
 * A JSON value as the SDK hands it out: integers beyond ±(2^53 − 1) are `bigint`.
 *
 * @example
 * ```ts
 * const size: JsonValue = parseJson('12345678901234567890'); // 12345678901234567890n
 * ```
 */
export type JsonValue = null | boolean | number | bigint | string | readonly JsonValue[] | JsonObject;

/**
 * A JSON object.
 *
 * @example
 * ```ts
 * const record = basket.items[0]!.data.record as JsonObject;
 * ```
 */
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

/**
 * @internal A JSON syntax error with Python `json.JSONDecodeError`'s message and character offset
 * (an {@link InvalidArgumentError} for the `text`; the clients report a bad response body as a
 * `ResponseValidationError`).
 */
export class JsonSyntaxError extends InvalidArgumentError {
  constructor(
    /** Python's message, e.g. `Expecting value`. */
    readonly problem: string,
    /** Offset in UTF-16 code units. */
    readonly offset: number,
    text: string,
  ) {
    super('text', `${problem}: ${jsonPosition(text, offset)}`);
  }
}

/** @internal Deepest nesting {@link parseJsonWith} accepts (Python's own recursion limit is about 1000). */
export const MAX_JSON_DEPTH = 1000;

/**
 * @internal Python's `line L column C (char P)`, with P counted in code points as Python does.
 */
export function jsonPosition(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = codePoints(before.slice(before.lastIndexOf('\n') + 1)) + 1;
  return `line ${line} column ${column} (char ${codePoints(before)})`;
}

function codePoints(s: string): number {
  return s.length - (s.match(/[\ud800-\udbff][\udc00-\udfff]/g) ?? []).length;
}

/** @internal How parsed values are built (the emulator builds Python values, the client JS values). */
export interface JsonBuilder<V, O> {
  object(): O;
  set(target: O, key: string, value: V): void;
  done(target: O): V;
  array(items: V[]): V;
  string(value: string): V;
  /** `text` is the token as written; `integer` is true when it has no fraction and no exponent. */
  number(text: string, integer: boolean): V;
  literal(value: boolean | null): V;
}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/y;
const WS = /[ \t\n\r]*/y;

/**
 * @internal Parse JSON text with a builder. Accepts exactly what Python's strict `json.loads` accepts,
 * minus `NaN`/`Infinity` (which DRF's strict parser refuses) and nesting deeper than {@link MAX_JSON_DEPTH}.
 * @throws {@link JsonSyntaxError}
 */
export function parseJsonWith<V, O>(text: string, b: JsonBuilder<V, O>): V {
  let i = 0;
  const fail = (problem: string, at = i): never => {
    throw new JsonSyntaxError(problem, at, text);
  };
  const ws = () => {
    WS.lastIndex = i;
    WS.test(text);
    i = WS.lastIndex;
  };
  const str = (): string => {
    const start = i;
    let j = i + 1;
    let simple = true;
    for (;;) {
      const c = text.charCodeAt(j);
      if (Number.isNaN(c)) fail('Unterminated string starting at', start);
      if (c === 0x22) break;
      if (c < 0x20) fail('Invalid control character at', j);
      if (c === 0x5c) {
        simple = false;
        const e = text[j + 1];
        if (e === undefined) fail('Unterminated string starting at', start);
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(j + 2, j + 6))) fail('Invalid \\uXXXX escape', j + 1);
          j += 6;
          continue;
        }
        if (!'"\\/bfnrt'.includes(e as string)) fail('Invalid \\escape', j);
        j += 2;
        continue;
      }
      j++;
    }
    i = j + 1;
    return simple ? text.slice(start + 1, j) : (JSON.parse(text.slice(start, j + 1)) as string);
  };
  /** After an element: true when `close` ends the container (consumed), false after a `,` (consumed). */
  const closes = (close: string): boolean => {
    ws();
    if (text[i] === close) {
      i++;
      return true;
    }
    if (text[i] !== ',') fail("Expecting ',' delimiter");
    i++;
    ws();
    return false;
  };
  const value = (depth: number): V => {
    const c = text[i];
    if (c === '"') return b.string(str());
    if ((c === '{' || c === '[') && depth >= MAX_JSON_DEPTH) fail(`Nesting deeper than ${MAX_JSON_DEPTH} levels`);
    if (c === '{') {
      const o = b.object();
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return b.done(o);
      }
      for (;;) {
        if (text[i] !== '"') fail('Expecting property name enclosed in double quotes');
        const key = str();
        ws();
        if (text[i] !== ':') fail("Expecting ':' delimiter");
        i++;
        ws();
        b.set(o, key, value(depth + 1));
        if (closes('}')) return b.done(o);
      }
    }
    if (c === '[') {
      const items: V[] = [];
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return b.array(items);
      }
      for (;;) {
        items.push(value(depth + 1));
        if (closes(']')) return b.array(items);
      }
    }
    if (text.startsWith('true', i)) return (i += 4), b.literal(true);
    if (text.startsWith('false', i)) return (i += 5), b.literal(false);
    if (text.startsWith('null', i)) return (i += 4), b.literal(null);
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail('Expecting value');
    i = NUMBER.lastIndex;
    return b.number(m[0], m[1] === undefined && m[2] === undefined);
  };
  ws();
  const v = value(0);
  ws();
  if (i < text.length) fail('Extra data');
  return v;
}

type MutableObject = Record<string, JsonValue>;

const jsBuilder: JsonBuilder<JsonValue, MutableObject> = {
  object: () => ({}),
  set(o, key, v) {
    // `__proto__` is data here, never a prototype switch.
    if (key === '__proto__') Object.defineProperty(o, key, { value: v, enumerable: true, writable: true, configurable: true });
    else o[key] = v;
  },
  done: (o) => Object.freeze(o),
  array: (items) => Object.freeze(items),
  string: (s) => s,
  number(text, integer) {
    if (!integer) return Number(text);
    const n = Number(text);
    return Number.isSafeInteger(n) ? n || 0 : BigInt(text);
  },
  literal: (v) => v,
};

/**
 * Parse JSON text losslessly: integers beyond 2^53 become `bigint`; objects and arrays are frozen.
 *
 * @example
 * ```ts
 * parseJson('{"bytes": 9007199254740993}'); // { bytes: 9007199254740993n }
 * ```
 * @throws An `InvalidArgumentError` (code `DLAAS_INVALID_ARGUMENT`) with Python's wording for invalid
 * JSON, and for nesting deeper than 1000 levels.
 */
export function parseJson(text: string): JsonValue {
  return parseJsonWith(text, jsBuilder);
}

/**
 * A value the SDK can write as JSON: like {@link JsonValue}, with `bigint` for exact large integers.
 *
 * @example
 * ```ts
 * const item: WireItem = { archive: 'rucio', record: { scope: 's', name: 'n', bytes: 2n ** 60n } };
 * ```
 */
export type JsonInput = null | boolean | number | bigint | string | readonly JsonInput[] | { readonly [key: string]: JsonInput | undefined };

/**
 * @internal Compact JSON (`JSON.stringify` layout) that writes `bigint` exactly. Throws `TypeError`
 * naming the path of a value JSON cannot carry (non-finite number, function, symbol, cycle).
 */
export function stringifyJson(value: unknown, path = '', seen: Set<object> = new Set()): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${path || '(root)'} is ${value}, which JSON cannot carry`);
      return JSON.stringify(value);
    case 'object': {
      if (seen.has(value)) throw new TypeError(`${path || '(root)'} is a circular reference`);
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return stringifyJson((toJSON as () => unknown).call(value), path, seen);
      seen.add(value);
      try {
        if (Array.isArray(value)) return `[${value.map((v, k) => stringifyJson(v === undefined ? null : v, `${path}[${k}]`, seen)).join(',')}]`;
        const parts: string[] = [];
        for (const [k, v] of Object.entries(value)) {
          if (v === undefined) continue;
          parts.push(`${JSON.stringify(k)}:${stringifyJson(v, path ? `${path}.${k}` : k, seen)}`);
        }
        return `{${parts.join(',')}}`;
      } finally {
        seen.delete(value);
      }
    }
    default:
      throw new TypeError(`${path || '(root)'} is a ${typeof value}, which JSON cannot carry`);
  }
}

/**
 * @internal A canonical text of a JSON value for deep equality: keys sorted, `1` and `1.0` the same,
 * `bigint` and `number` compared by value, `undefined` members ignored (as `JSON.stringify` does).
 */
export function canonicalKey(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'number':
      return Number.isInteger(value) ? BigInt(value).toString() : String(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => canonicalKey(v)).join(',')}]`;
      const keys = Object.keys(value)
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalKey((value as Record<string, unknown>)[k])}`).join(',')}}`;
    }
    default:
      return String(value);
  }
}

/**
 * Python literals, both ways: Rucio parses DID search filters with `ast.literal_eval`, and
 * `/auth/validate` answers with the `str()` of a dict. Neither is JSON.
 *
 * @module
 */
import { DlaasError, ErrorCode, excerptOf } from '../core/errors.js';

/** A value that can be written as a Python literal. */
export type PyValue = string | number | boolean | null | Date | readonly PyValue[] | { readonly [k: string]: PyValue };

/** Write a string as Python's `repr` does (single quotes unless the text has one and no double quote). */
export function pyString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** Encode a value as a Python literal (`True`/`False`/`None`, single-quoted strings, ISO dates as strings). */
export function toPythonLiteral(value: PyValue): string {
  if (value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return pyString(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new DlaasError(`cannot encode ${value} as a Python literal`, {}, ErrorCode.invalidArgument);
    return String(value);
  }
  if (value instanceof Date) return pyString(value.toISOString().slice(0, 19));
  if (Array.isArray(value)) return `[${value.map((v) => toPythonLiteral(v)).join(', ')}]`;
  const entries = Object.entries(value as Record<string, PyValue>);
  return `{${entries.map(([k, v]) => `${pyString(k)}: ${toPythonLiteral(v)}`).join(', ')}}`;
}

/** A parsed Python value. `datetime.datetime(...)` becomes a `Date` (UTC). */
export type PyParsed = string | number | boolean | null | Date | PyParsed[] | { [k: string]: PyParsed };

/**
 * Parse the subset of Python literals Rucio emits: dicts, lists, tuples, strings, numbers,
 * `True`/`False`/`None`, and `datetime.datetime(y, m, d, H, M, S, us)`.
 * @throws {@link DlaasError} (`DLAAS_RESPONSE_VALIDATION`) naming the position of the problem.
 */
export function parsePythonLiteral(text: string): PyParsed {
  let i = 0;
  const fail = (what: string): never => {
    throw new DlaasError(`Python literal: ${what} at position ${i} near ${excerptOf(text.slice(i, i + 20))}`, {}, ErrorCode.responseValidation);
  };
  const ws = () => {
    while (i < text.length && /\s/.test(text[i] as string)) i++;
  };
  const value = (depth: number): PyParsed => {
    if (depth > 64) fail('nesting too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const out: Record<string, PyParsed> = {};
      ws();
      if (text[i] === '}') return i++, out;
      for (;;) {
        const k = value(depth + 1);
        if (typeof k !== 'string' && typeof k !== 'number') fail('dict key must be a string or number');
        ws();
        if (text[i++] !== ':') fail('expected ":"');
        // A defined property, not an assignment: a key "__proto__" is data, not the prototype.
        Object.defineProperty(out, String(k), { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        ws();
        const sep = text[i++];
        if (sep === '}') return out;
        if (sep !== ',') fail('expected "," or "}"');
        ws();
        if (text[i] === '}') return i++, out;
      }
    }
    if (c === '[' || c === '(') {
      const close = c === '[' ? ']' : ')';
      i++;
      const out: PyParsed[] = [];
      ws();
      if (text[i] === close) return i++, out;
      for (;;) {
        out.push(value(depth + 1));
        ws();
        const sep = text[i++];
        if (sep === close) return out;
        if (sep !== ',') fail(`expected "," or "${close}"`);
        ws();
        if (text[i] === close) return i++, out;
      }
    }
    if (c === "'" || c === '"') return str(c);
    const word = /^(True|False|None|datetime\.datetime\(|-?\d+(\.\d+)?([eE][-+]?\d+)?)/.exec(text.slice(i, i + 40));
    if (!word) return fail('unexpected input');
    const w = word[0];
    i += w.length;
    if (w === 'True') return true;
    if (w === 'False') return false;
    if (w === 'None') return null;
    if (w === 'datetime.datetime(') {
      i--;
      const args = value(depth + 1) as PyParsed[];
      if (!args.every((a) => typeof a === 'number') || args.length < 3) fail('bad datetime arguments');
      const [y, mo, d, h = 0, mi = 0, s = 0, us = 0] = args as number[];
      return new Date(Date.UTC(y as number, (mo as number) - 1, d, h, mi, s, Math.floor(us / 1000)));
    }
    return Number(w);
  };
  const str = (quote: string): string => {
    i++;
    let out = '';
    while (i < text.length) {
      const ch = text[i++] as string;
      if (ch === quote) return out;
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      const e = text[i++];
      const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"', '0': '\0' };
      if (e !== undefined && e in simple) out += simple[e];
      else if (e === 'x' || e === 'u' || e === 'U') {
        const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = text.slice(i, i + len);
        const code = parseInt(hex, 16);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len || code > 0x10ffff) fail('bad escape');
        out += String.fromCodePoint(code);
        i += len;
      } else fail('unknown escape');
    }
    return fail('unterminated string');
  };
  const result = value(0);
  ws();
  if (i !== text.length) fail('trailing characters');
  return result;
}

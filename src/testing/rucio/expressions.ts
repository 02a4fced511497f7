/**
 * RSE expressions, parsed and evaluated as `rucio.core.rse_expression_parser` does: the same
 * syntax check, left-to-right evaluation without operator precedence, `|` union, `&` intersection,
 * `\` difference, parentheses, `key=value` / `key<n` / `key>n` attribute terms, bare `KEY` meaning
 * "attribute KEY is true" (every RSE has an attribute named after itself), and `*` for all RSEs.
 * @module
 */
import { RucioError } from './wire.js';
import { compare, type RseRecord } from './state.js';

const DEFAULT_ATTRIBUTE = '([A-Za-z0-9]+([_-][A-Za-z0-9]+)*)';
const ATTRIBUTE = '([A-Za-z0-9._-]+[=<>][A-Za-z0-9_-]+)';
const PRIMITIVE = `(\\(*(${ATTRIBUTE}|${DEFAULT_ATTRIBUTE}|\\*)\\)*)`;
const PRIMITIVE_RE = new RegExp(`^${PRIMITIVE}`);
const PATTERN_RE = new RegExp(`^${PRIMITIVE}((\\|${PRIMITIVE})|(&${PRIMITIVE})|(\\\\${PRIMITIVE}))*`);

type Term = { kind: 'all' } | { kind: 'attr'; key: string; op: '=' | '<' | '>'; value: string | true } | { kind: 'op'; op: string; left: Term; right: Term };

function invalid(message: string): RucioError {
  return new RucioError(400, 'InvalidRSEExpression', message);
}

/** Text inside the parentheses that open `expression`. */
function extractTerm(expression: string): string {
  let depth = 0;
  for (let i = 0; i < expression.length; i++) {
    if (expression[i] === '(') depth++;
    else if (expression[i] === ')') depth--;
    if (depth === 0) return expression.slice(1, i);
  }
  throw invalid('Problem with parentheses.');
}

function primitive(text: string): Term {
  for (const op of ['=', '<', '>'] as const) {
    const i = text.indexOf(op);
    if (i >= 0) return { kind: 'attr', key: text.slice(0, i), op, value: text.slice(i + 1) };
  }
  return text.includes('*') ? { kind: 'all' } : { kind: 'attr', key: text, op: '=', value: true };
}

function resolve(expression: string): Term {
  let left: Term | undefined;
  let operator: string | undefined;
  const combine = (right: Term) => {
    left = left === undefined ? right : { kind: 'op', op: operator ?? '|', left, right };
    operator = undefined;
  };
  let rest = expression;
  while (rest.length) {
    const c = rest[0] as string;
    if (c === '(') {
      const inner = extractTerm(rest);
      combine(resolve(inner));
      rest = rest.slice(inner.length + 2);
    } else if (c === '\\' || c === '&' || c === '|') {
      operator = c;
      rest = rest.slice(1);
    } else {
      const text = PRIMITIVE_RE.exec(rest)?.[0] ?? '';
      if (!text) throw invalid('Expression does not comply to RSE Expression syntax');
      combine(primitive(text));
      rest = rest.slice(text.length);
    }
  }
  if (!left) throw invalid('Expression does not comply to RSE Expression syntax');
  return left;
}

/** Parse an RSE expression, with the server's syntax errors (400 `InvalidRSEExpression`). */
export function parseRseExpression(expression: string): Term {
  let open = 0;
  let close = 0;
  for (const ch of expression) {
    if (ch === '(') open++;
    else if (ch === ')') close++;
    if (close > open) throw invalid('Problem with parentheses.');
  }
  if (open !== close) throw invalid('Problem with parentheses.');
  const m = PATTERN_RE.exec(expression);
  if (!m || m[0] !== expression) throw invalid('Expression does not comply to RSE Expression syntax');
  return resolve(expression);
}

/** Attribute values compare as strings, booleans as lowercase `true`/`false` (`BooleanString`). */
function normalise(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const s = String(value);
  return /^(true|false)$/i.test(s) ? s.toLowerCase() : s;
}

const BOOLEAN_COLUMNS: Readonly<Record<string, (r: RseRecord) => boolean>> = {
  deterministic: (r) => r.deterministic,
  volatile: (r) => r.volatile,
  staging_area: (r) => r.stagingArea,
  availability_read: (r) => r.availabilityRead,
  availability_write: (r) => r.availabilityWrite,
  availability_delete: (r) => r.availabilityDelete,
};

const TEXT_COLUMNS: Readonly<Record<string, (r: RseRecord) => unknown>> = {
  rse: (r) => r.name,
  id: (r) => r.id,
  vo: () => 'def',
  rse_type: (r) => r.rseType,
  qos_class: (r) => r.qosClass,
  ...Object.fromEntries(['city', 'region_code', 'country_name', 'continent', 'time_zone', 'ISP', 'ASN'].map((k) => [k, (r: RseRecord) => r.location[k] ?? null])),
};

/** `list_rses({key: value})`: RSE columns are compared as columns, anything else as an attribute. */
function equalCheck(rse: RseRecord, key: string, value: string | true): boolean {
  const boolColumn = BOOLEAN_COLUMNS[key];
  if (boolColumn) {
    if (value === true) return boolColumn(rse);
    if (!/^(1|0|true|false)$/i.test(value)) throw new RucioError(400, 'InvalidObject', `Invalid boolean value: ${value}`);
    return boolColumn(rse) === (value === '1' || value.toLowerCase() === 'true');
  }
  const textColumn = TEXT_COLUMNS[key];
  if (textColumn) {
    if (key === 'rse_type' && value !== true && value !== 'DISK' && value !== 'TAPE') throw new RucioError(400, 'InvalidObject', `Invalid rse_type: ${value}`);
    return value !== true && String(textColumn(rse)) === value;
  }
  const attr = rse.attributes.get(key);
  return attr !== undefined && normalise(attr) === normalise(value);
}

function numericCheck(rse: RseRecord, key: string, op: '<' | '>', value: string): boolean {
  const attr = rse.attributes.get(key);
  if (attr === undefined) return false;
  const a = Number(attr);
  const b = Number(value);
  // Python float(): booleans are 1/0, blank strings are not numbers.
  if (Number.isNaN(a) || Number.isNaN(b) || String(attr).trim() === '' || value.trim() === '') return false;
  return op === '<' ? a < b : a > b;
}

function evaluate(term: Term, rses: readonly RseRecord[]): Set<RseRecord> {
  if (term.kind === 'all') return new Set(rses);
  if (term.kind === 'attr') {
    const { key, op, value } = term;
    return new Set(rses.filter((r) => (op === '=' || value === true ? equalCheck(r, key, value) : numericCheck(r, key, op, value))));
  }
  const left = evaluate(term.left, rses);
  const right = evaluate(term.right, rses);
  if (term.op === '|') return new Set([...left, ...right]);
  if (term.op === '&') return new Set([...left].filter((r) => right.has(r)));
  return new Set([...left].filter((r) => !right.has(r)));
}

/**
 * Resolve an expression to RSEs (sorted by name), as `parse_expression` does: 400
 * `InvalidRSEExpression` for bad syntax or an empty result; with `forWrite`, RSEs not available for
 * writing are dropped and an empty remainder is `RSEWriteBlocked` (uncaught by the views: 500).
 */
export function resolveRseExpression(expression: string, rses: Iterable<RseRecord>, forWrite = false): RseRecord[] {
  const all = [...rses];
  const result = [...evaluate(parseRseExpression(expression), all)].sort((a, b) => compare(a.name, b.name));
  if (!result.length) throw invalid('RSE Expression resulted in an empty set.');
  if (!forWrite) return result;
  const writable = result.filter((r) => r.availabilityWrite);
  if (!writable.length) throw new RucioError(500, 'RSEWriteBlocked', 'RSE excluded; not available for writing.');
  return writable;
}

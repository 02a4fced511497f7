/**
 * Fuzzing the parsers of what servers and users send: DIDs, Rucio error bodies, Rucio dates, Python
 * literals. Property, for every generated input: a typed result or a typed error (the SDK's own),
 * never another exception, never a hang; and where a round trip exists, it holds.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  ApiError,
  DlaasError,
  InvalidDidError,
  NAME_MAX_LENGTH,
  SCOPE_MAX_LENGTH,
  apiErrorFrom,
  didPath,
  formatDid,
  formatRfc1123,
  formatRucioIso,
  isDid,
  parseDid,
  parseRucioDate,
  parseRucioErrorBody,
  parsePythonLiteral,
  toDid,
  toPythonLiteral,
} from '../../src/index.js';
import { useLedger } from '../support/reliability-ledger.js';
import { check, fuzz, nastyString, typedOutcome } from './fuzz-helpers.js';

const ledger = useLedger(import.meta.url);
const T = 120_000;

const SCOPE_CHARS = [...'abcxyzABCXYZ0129_-.'];
const NAME_CHARS = [...'abcxyzABC0189/.-_'];
const nearScope = fc.string({ unit: fc.constantFrom(...SCOPE_CHARS, ':', ' ', 'é', '/'), maxLength: SCOPE_MAX_LENGTH + 3 });
const nearName = fc.string({ unit: fc.constantFrom(...NAME_CHARS, ':', ' ', '%', 'é', '\n'), maxLength: NAME_MAX_LENGTH + 3 });
const didText = fc.oneof(nastyString(300), fc.tuple(nearScope, nearName).map(([s, n]) => `${s}:${n}`), fc.tuple(nearScope, nearName, nearName).map(([s, a, b]) => `${s}:${a}:${b}`));

describe('fuzz: DID parsing', () => {
  it('parseDid(string): a valid, frozen DID that round-trips, or InvalidDidError', () => {
    ledger.scenario();
    fuzz(ledger, 'DID parsing: parseDid(string)', didText, (text) =>
      typedOutcome(
        () => parseDid(text),
        [InvalidDidError],
        (d) => {
          check(isDid(d) && Object.isFrozen(d), 'not a frozen valid DID');
          check(formatDid(d) === text, 'does not round-trip');
          const [scope, name] = didPath(d).split('/');
          check(decodeURIComponent(scope as string) === d.scope && decodeURIComponent(name as string) === d.name, 'didPath does not decode back');
        },
        (e) => check(e.message.length < 400, 'unbounded message'),
      ),
    );
  }, T);

  it('toDid(anything): a valid DID, or InvalidDidError', () => {
    ledger.scenario();
    const didLike = fc.oneof(fc.anything(), fc.record({ scope: fc.oneof(nearScope, fc.anything()), name: fc.oneof(nearName, fc.anything()) }), didText);
    fuzz(ledger, 'DID parsing: toDid(anything)', didLike, (value) =>
      typedOutcome(
        () => toDid(value),
        [InvalidDidError],
        (d) => check(isDid(d), 'not a valid DID'),
      ),
    );
  }, T);
});

describe('fuzz: Rucio error bodies', () => {
  const jsonish = fc.oneof(
    nastyString(300),
    fc.json(),
    fc.record({ ExceptionClass: fc.oneof(fc.string(), fc.anything()), ExceptionMessage: fc.oneof(nastyString(400), fc.anything()) }, { requiredKeys: [] }).map((o) => JSON.stringify(o) ?? ''),
    fc.record({ detail: fc.oneof(nastyString(), fc.anything()) }).map((o) => JSON.stringify(o) ?? ''),
    fc.tuple(fc.json(), fc.nat(40)).map(([j, n]) => j.slice(0, n)),
  );
  const headerValue = fc.string({ unit: fc.constantFrom(...'AccessDeniedNotFound: -_.()0123 '), maxLength: 130 });

  it('parseRucioErrorBody + apiErrorFrom: strings or nothing, the right ApiError subclass, JSON-safe, never throws', () => {
    ledger.scenario();
    const input = fc.record({ body: jsonish, cls: fc.option(headerValue), msg: fc.option(headerValue), status: fc.integer({ min: 400, max: 599 }) });
    fuzz(ledger, 'Rucio error-body parsing', input, ({ body, cls, msg, status }) => {
      const headers = new Headers();
      if (cls !== null) headers.set('ExceptionClass', cls);
      if (msg !== null) headers.set('ExceptionMessage', msg);
      const parsed = parseRucioErrorBody(body, headers);
      for (const v of [parsed.exceptionClass, parsed.exceptionMessage, parsed.bodyExcerpt]) check(v === undefined || typeof v === 'string', 'a field that is not a string');
      check(parsed.bodyExcerpt === undefined || parsed.bodyExcerpt.length <= 200, 'unbounded excerpt');
      const err = apiErrorFrom({ status, service: 'rucio', method: 'GET', url: 'https://rucio.example.org/dids/x?token=abc', ...parsed });
      check(err instanceof ApiError && err.status === status, 'not an ApiError with the status');
      check(!err.url.includes('abc'), 'secret query value in the URL');
      check(typeof JSON.stringify(err) === 'string', 'not JSON-serialisable');
    });
  }, T);
});

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

describe('fuzz: Rucio dates', () => {
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  // Date-shaped strings with fields in and out of range (31 Feb, hour 24, wrong weekday, …).
  const shaped = fc
    .record({ y: fc.integer({ min: 0, max: 9999 }), mo: fc.integer({ min: 0, max: 13 }), d: fc.integer({ min: 0, max: 32 }), h: fc.integer({ min: 0, max: 25 }), mi: fc.integer({ min: 0, max: 61 }), s: fc.integer({ min: 0, max: 61 }), wd: fc.integer({ min: 0, max: 6 }), frac: fc.option(fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 12 })), zone: fc.constantFrom('', 'Z', '+00:00', '+0000', 'UTC', 'GMT', '+01:00'), form: fc.nat(3) })
    .map(({ y, mo, d, h, mi, s, wd, frac, zone, form }) => {
      if (form === 0) return `${DAYS[wd]}, ${pad(d)} ${MONTHS[mo % 12]} ${pad(y, 4)} ${pad(h)}:${pad(mi)}:${pad(s)} ${zone || 'UTC'}`;
      if (form === 1) return `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}${frac ? `.${frac}` : ''}${zone}`;
      if (form === 2) return `${pad(y, 4)}-${pad(mo)}-${pad(d)} ${pad(h)}:${pad(mi)}:${pad(s)}`;
      return `${pad(y, 4)}-${pad(mo)}-${pad(d)}`;
    });
  const input = fc.oneof(nastyString(60), shaped, fc.double(), fc.integer(), fc.date({ noInvalidDate: false }), fc.anything(), fc.stringMatching(/^\d{9,11}(\.\d{1,6})?$/));

  it('parseRucioDate(anything): a valid Date or undefined, never throws', () => {
    ledger.scenario();
    fuzz(ledger, 'date parsing: parseRucioDate(anything)', input, (value) => {
      const d = parseRucioDate(value);
      check(d === undefined || (d instanceof Date && !Number.isNaN(d.getTime())), () => `an invalid Date for ${String(value)}`);
    });
  }, T);

  it('a date-shaped string parses to exactly its fields (or is refused), whatever the year', () => {
    ledger.scenario();
    const fields = fc.record({ y: fc.integer({ min: 0, max: 9999 }), mo: fc.integer({ min: 1, max: 12 }), d: fc.integer({ min: 1, max: 31 }), h: fc.integer({ min: 0, max: 23 }), mi: fc.integer({ min: 0, max: 59 }), s: fc.integer({ min: 0, max: 59 }) });
    fuzz(ledger, 'date parsing: fields of ISO/RFC 1123 strings', fields, ({ y, mo, d, h, mi, s }) => {
      const iso = `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}`;
      const got = parseRucioDate(iso);
      const exists = new Date(`${iso}Z`).getUTCDate() === d;
      if (!exists) return check(got === undefined, `${iso} does not exist but parsed as ${got?.toISOString()}`);
      check(got !== undefined && got.toISOString().slice(0, 19) === `${iso}` , () => `${iso} parsed as ${got?.toISOString()}`);
      const rfc = formatRfc1123(got);
      check(parseRucioDate(rfc)?.getTime() === got.getTime(), `${rfc} does not parse back`);
    });
  }, T);

  it('formatRfc1123 / formatRucioIso → parseRucioDate round-trips every representable second', () => {
    ledger.scenario();
    const date = fc.date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(Date.UTC(9999, 11, 31, 23, 59, 59)), noInvalidDate: true }).map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000));
    fuzz(ledger, 'date parsing: format → parse round trip', date, (d) => {
      check(parseRucioDate(formatRfc1123(d))?.getTime() === d.getTime(), () => `${formatRfc1123(d)} does not round-trip`);
      check(parseRucioDate(formatRucioIso(d))?.getTime() === d.getTime(), () => `${formatRucioIso(d)} does not round-trip`);
    });
  }, T);
});

describe('fuzz: Python literals (filters out, /auth/validate in)', () => {
  it('parsePythonLiteral(string): a value or a DlaasError, never another exception', () => {
    ledger.scenario();
    const pyish = fc.oneof(
      nastyString(120),
      fc.string({ unit: fc.constantFrom('{', '}', '[', ']', '(', ')', ',', ':', "'", '"', '\\', 'x', 'u', 'U', 'F', '0', '9', '-', '.', 'e', 'True', 'None', 'datetime.datetime(', ' '), maxLength: 60 }),
      fc.stringMatching(/^'(\\[xuU][0-9a-fA-F]{0,9}|[a-z])*'$/),
    );
    fuzz(ledger, 'Python literal parsing', pyish, (text) => typedOutcome(() => parsePythonLiteral(text), [DlaasError], () => undefined));
  }, T);

  it('toPythonLiteral → parsePythonLiteral round-trips strings, numbers, lists and dicts', () => {
    ledger.scenario();
    const leaf = fc.oneof(nastyString(40), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));
    const key = fc.oneof(nastyString(12), fc.constantFrom('__proto__', 'constructor', 'toString', 'name'));
    const value = fc.letrec((tie) => ({ v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(key, tie('v'), { maxKeys: 4 })) })).v;
    fuzz(ledger, 'Python literal round trip', value, (v) => {
      const text = toPythonLiteral(v as never);
      const back = parsePythonLiteral(text);
      check(same(back, normalise(v)), () => `${text} parsed back as ${JSON.stringify(back)}`);
    });
  }, T);
});

/** Deep equality with own keys only (`__proto__` included), and Object.is for numbers. */
function same(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b);
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

/** What a value becomes after a Python literal round trip (-0 is written as 0; dicts are plain objects). */
function normalise(v: unknown): unknown {
  if (typeof v === 'number') return Object.is(v, -0) ? 0 : v;
  if (Array.isArray(v)) return v.map(normalise);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: normalise(x), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return v;
}

/**
 * Fuzzing the reading of `POST /replicas/list` lines, which are rewritten before `JSON.parse` (the
 * keyed `pfns` turned into a `replicas` array). Property: for any line, exactly what `JSON.parse` of
 * the line as it is, then the plain conversion, gives (key order included), or the same
 * `SyntaxError` when the line is not JSON; never another value.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { parseReplicaLine, rewriteReplicaLine } from '../../src/rucio/listed-replicas.js';
import { useLedger } from '../support/reliability-ledger.js';
import { referenceReplica, shape } from '../support/replica-lines.js';
import { check, fuzz, nastyString } from './fuzz-helpers.js';

const ledger = useLedger(import.meta.url);
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
const decode = (b: Uint8Array) => dec.decode(b);
/** Modest counts: each case is cheap, and the unit tests pin the known corners. */
const BUDGET = { runs: 3_000, timeLimitMs: 8_000 };

/** A JSON string for `s`, escaping some characters that need no escape (as `\uXXXX` or `\/`) when `escapes` says so. */
function jsonString(s: string, escapes: number): string {
  const plain = JSON.stringify(s);
  if (escapes === 0) return plain;
  let out = '"';
  for (let i = 1; i < plain.length - 1; i++) {
    const c = plain[i] as string;
    if (c === '\\') {
      // Keep an existing escape whole.
      const n = plain[i + 1] === 'u' ? 6 : 2;
      out += plain.slice(i, i + n);
      i += n - 1;
    } else if ((i * 7 + escapes) % 5 === 0) out += c === '/' ? '\\/' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    else out += c;
  }
  return `${out}"`;
}

/** Whitespace around the structure: none, Python's json.dumps (", " and ": "), or anything JSON allows. */
const spacing = fc.constantFrom(['', ''], ['', ' '], [' ', '\t'], ['\r\n', ' \n'], ['  ', '']);

type Member = [key: string, keyEscapes: number, value: string];
/** How many characters of a key to escape: mostly none (an escaped key is left to the plain parse). */
const keyEscapes = fc.oneof({ weight: 80, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) });
/** Members with distinct keys mostly, repeated ones at times. */
const members = <K, V>(key: fc.Arbitrary<K>, value: fc.Arbitrary<V>, maxLength: number) =>
  fc.oneof({ weight: 6, arbitrary: fc.uniqueArray(fc.tuple(key, keyEscapes, value), { selector: (m) => m[0], maxLength }) }, { weight: 1, arbitrary: fc.array(fc.tuple(key, keyEscapes, value), { maxLength }) });

/** Text of an object from members (keys may repeat, as a server could send them). */
function objectText(members: readonly Member[], [outer, inner]: readonly string[]): string {
  return `{${outer}${members.map(([k, e, v]) => `${jsonString(k, e)}${inner}:${inner}${v}`).join(`${inner},${outer}`)}${outer}}`;
}

const scalar = fc.oneof(
  nastyString(20).map((s) => JSON.stringify(s)),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.constantFrom('true', 'false', 'null', '1e999', '-0'),
);
const jsonValue = fc.oneof(
  { weight: 4, arbitrary: scalar },
  { weight: 1, arbitrary: fc.array(scalar, { maxLength: 3 }).map((a) => `[${a.join(',')}]`) },
  { weight: 1, arbitrary: fc.dictionary(nastyString(6), scalar, { maxKeys: 3 }).map((o) => `{${Object.entries(o).map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(', ')}}`) },
);
const pfn = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(fc.constantFrom('davs', 'root', 'https'), fc.webSegment(), nastyString(12)).map(([s, h, p]) => `${s}://${h}.example.org:443/${p}`) },
  { weight: 1, arbitrary: nastyString(12) },
  { weight: 1, arbitrary: fc.constantFrom('12', '0', '007', 'pfn', '__proto__', '') },
);
const detailKey = fc.oneof({ weight: 30, arbitrary: fc.constantFrom('rse_id', 'rse', 'type', 'volatile', 'domain', 'priority', 'client_extract') }, { weight: 1, arbitrary: fc.constantFrom('pfn', '__proto__', '1') }, { weight: 2, arbitrary: nastyString(6) });
const detailValue = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 4 }).map(String) }, { weight: 3, arbitrary: jsonValue });
const details = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(members(detailKey, detailValue, 8), spacing).map(([m, sp]) => objectText(m, sp)) },
  { weight: 1, arbitrary: jsonValue },
);
const pfns = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(members(pfn, details, 5), spacing).map(([m, sp]) => objectText(m, sp)) },
  { weight: 1, arbitrary: jsonValue },
);
const topKey = fc.oneof({ weight: 30, arbitrary: fc.constantFrom('scope', 'name', 'bytes', 'md5', 'adler32', 'rses', 'states', 'parents') }, { weight: 1, arbitrary: fc.constantFrom('pfns', 'replicas', '__proto__', '2') }, { weight: 3, arbitrary: nastyString(8) });
const topValue = fc.oneof({ weight: 6, arbitrary: jsonValue }, { weight: 3, arbitrary: fc.stringMatching(/^[0-9a-fé]{0,12}$/).map((s) => JSON.stringify(s)) }, { weight: 1, arbitrary: pfns });

/** A replica line: a few members around one `pfns` (sometimes none, sometimes two), keys escaped at times, any spacing. */
const line = fc
  .tuple(members(topKey, topValue, 7), fc.nat(7), keyEscapes, pfns, fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: pfns }), spacing, fc.constantFrom('', ' ', '\r', ' \t'))
  .map(([top, at, escapes, p, second, sp, tail]) => {
    const all: Member[] = [...top];
    all.splice(at % (all.length + 1), 0, ['pfns', escapes, p]);
    if (second !== null) all.push(['pfns', 0, second]);
    return sp[0] + objectText(all, sp) + tail;
  });

/** `parseReplicaLine` and the reference agree: the same value (key order included), or both refuse the line. */
function agree(line: string): void {
  const bytes = enc.encode(line);
  // As it travels: in UTF-8 (a lone surrogate becomes U+FFFD).
  const text = dec.decode(bytes);
  let want: unknown;
  let wantError: unknown;
  try {
    want = referenceReplica(text);
  } catch (e) {
    wantError = e;
  }
  let got: unknown;
  try {
    got = parseReplicaLine(bytes, decode);
  } catch (e) {
    check(wantError !== undefined && e instanceof SyntaxError, () => `refused a line JSON.parse reads: ${text} (${String(e)})`);
    return;
  }
  check(wantError === undefined, () => `read a line JSON.parse refuses: ${text}`);
  check(JSON.stringify(shape(got)) === JSON.stringify(shape(want)), () => `another value for ${text}:\n${JSON.stringify(shape(got))}\n${JSON.stringify(shape(want))}`);
}

describe('fuzz: replica lines rewritten before parsing', () => {
  it('any replica-like line: exactly JSON.parse + the plain conversion', () => {
    ledger.scenario();
    let rewritten = 0;
    let cases = 0;
    fuzz(
      ledger,
      'replica lines: rewrite vs JSON.parse',
      line,
      (text) => {
        cases++;
        if (rewriteReplicaLine(enc.encode(text))) rewritten++;
        agree(text);
      },
      BUDGET,
    );
    // The generator must reach the rewrite, not only the plain parse.
    check(rewritten > cases / 6, `only ${rewritten} of ${cases} lines were rewritten`);
  });

  it('a line with a character inserted or removed anywhere: the same value or the same refusal', () => {
    ledger.scenario();
    const mutated = fc.tuple(line, fc.nat(), fc.constantFrom('', '"', '\\', '{', '}', '[', ']', ',', ':', ' ', 'a', '1')).map(([text, at, c]) => {
      const i = at % (text.length + 1);
      return c === '' ? text.slice(0, i) + text.slice(i + 1) : text.slice(0, i) + c + text.slice(i);
    });
    fuzz(ledger, 'replica lines: mutated lines', mutated, agree, BUDGET);
  });
});

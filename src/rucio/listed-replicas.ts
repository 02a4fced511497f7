/**
 * The lines of `POST /replicas/list`, read into {@link Replica}s.
 *
 * On the wire, a file's `pfns` is an object keyed by PFN. Parsed as it is, every file brings
 * property names never seen before: V8 interns them and makes new hidden classes for them, in its
 * old generation, garbage that only a full GC reclaims (a million files: hundreds of MiB of peak
 * RSS). So each line is rewritten before it is parsed, on its bytes:
 * `"pfns": {"<pfn>": {…}, …}` becomes `"replicas": [{"pfn": "<pfn>", …}, …]`, by a scanner that
 * checks the line's layout as it goes. A line it is not sure about (not one object, an escape in a
 * key, a PFN twice, …) is parsed as it is and converted afterwards: the result is the same either way.
 *
 * @module
 */
import type { NdjsonOptions } from '../core/ndjson.js';
import { quickCheck, validate } from '../core/validate.js';
import { ListedReplicaSchema, ReplicaSchema, type PfnInfo, type Replica, type ReplicaPfn } from './types.js';

/**
 * The prototype of listed files: `pfns`, the server's map, made from `replicas` when first read
 * (then kept), and `toJSON`, the line as the server sent it.
 */
class ListedReplica {
  declare replicas: ReplicaPfn[];

  get pfns(): Record<string, PfnInfo> {
    const pfns = Object.fromEntries(this.replicas.map(({ pfn, ...info }) => [pfn, info])) as Record<string, PfnInfo>;
    this.pfns = pfns;
    return pfns;
  }

  set pfns(value: Record<string, PfnInfo>) {
    Object.defineProperty(this, 'pfns', { value, writable: true, configurable: true });
  }

  toJSON(): Record<string, unknown> {
    return wireOf(this);
  }
}

/** A listed file as the server sent it: `pfns` where `replicas` is. */
function wireOf(file: ListedReplica): Record<string, unknown> {
  return Object.fromEntries(Object.entries(file).map(([k, v]) => (k === 'replicas' ? ['pfns', file.pfns] : [k, v])));
}

/**
 * A parsed line whose `replicas` are the file's PFNs in the line's order, as listed files are: best
 * first (a stable sort by priority, which leaves Rucio's own order as it is), with the prototype.
 */
function listed(file: { replicas: { priority?: unknown }[] }): ListedReplica {
  const list = file.replicas;
  let sorted = true;
  for (let i = 1; i < list.length && sorted; i++) sorted = !((list[i - 1]?.priority as number) > (list[i]?.priority as number));
  // Priorities that are not all numbers fail validation: no need to order them.
  if (!sorted && list.every((r) => typeof r.priority === 'number')) (list as { priority: number }[]).sort((a, b) => a.priority - b.priority);
  // Object.setPrototypeOf costs more than a copy; a `__proto__` key (an own property when parsed) would set the copy's prototype.
  return (Object.hasOwn(file, '__proto__') ? Object.setPrototypeOf(file, ListedReplica.prototype) : Object.assign(Object.create(ListedReplica.prototype), file)) as ListedReplica;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * @internal A line of `POST /replicas/list`, parsed as it is, as `replicas.list` yields it: `pfns`
 * read into `replicas` (the PFN first in each, whatever the details hold), in place of `pfns` (and
 * of any `replicas` the line has). Any other value is returned as it is.
 */
export function fromWire(value: unknown): unknown {
  if (!isObject(value) || !Object.hasOwn(value, 'pfns') || !isObject(value.pfns)) return value;
  const replicas: Record<string, unknown>[] = [];
  for (const [pfn, info] of Object.entries(value.pfns)) {
    if (!isObject(info)) return value;
    const entry = { pfn, ...info };
    entry.pfn = pfn;
    replicas.push(entry);
  }
  return listed(Object.fromEntries(Object.entries(value).flatMap(([k, v]) => (k === 'pfns' ? [['replicas', replicas]] : k === 'replicas' ? [] : [[k, v]]))) as { replicas: Record<string, unknown>[] });
}

/**
 * @internal One line of `POST /replicas/list` (its bytes, without the newline) as `replicas.list`
 * yields it, before validation: rewritten and parsed ({@link rewriteReplicaLine}) when its layout
 * allows, else parsed as it is and converted ({@link fromWire}). The same value either way; throws
 * exactly when `JSON.parse` of the line would.
 */
export function parseReplicaLine(line: Uint8Array, decode: (bytes: Uint8Array) => string): unknown {
  const rewritten = rewriteReplicaLine(line);
  if (rewritten) {
    let file: { replicas: ReplicaPfn[] } | undefined;
    try {
      file = JSON.parse(decode(rewritten)) as { replicas: ReplicaPfn[] };
    } catch {
      // Not JSON after all: parsed as it is below, for the error.
    }
    if (file) {
      unpad(file as unknown as Record<string, unknown>);
      return listed(file);
    }
  }
  return fromWire(JSON.parse(decode(line)));
}

/**
 * @internal How `replicas.list` reads its lines (for the transport's NDJSON listings):
 * {@link parseReplicaLine}, then validation. A file that fails it is reported in the server's
 * terms (`pfns`, not `replicas`).
 */
export function replicaLines(endpoint: string): Pick<NdjsonOptions<Replica>, 'parse' | 'map'> {
  const valid = quickCheck(ListedReplicaSchema);
  return {
    parse: parseReplicaLine,
    map: (value, line) => {
      if (value instanceof ListedReplica && valid(value)) return value as unknown as Replica;
      return fromWire(validate(ReplicaSchema, value instanceof ListedReplica ? wireOf(value) : value, endpoint, `line ${line}`)) as Replica;
    },
  };
}

// The scanner. It works on the line's UTF-8 bytes: every byte it looks for is ASCII, and never
// part of a multi-byte character.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const SPACE = 0x20;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const PFNS = ascii('pfns');
const REPLICAS = ascii('replicas');
const PFN = ascii('pfn');
const REPLICAS_OPEN = ascii('"replicas":[');
const PFN_OPEN = ascii('{"pfn":');
/**
 * Top-level fields whose short values are unique to a file. V8's `JSON.parse` interns every string
 * value of up to 10 characters, in the old generation, like a key; an adler32 (8 characters) and a
 * short name would then be garbage of the same kind as the PFN keys. Their value is padded with
 * spaces in the rewritten line (past 10 characters, so not interned) and cut back after parsing.
 */
const PADDED = [ascii('name'), ascii('adler32')] as const;
const NOT_INTERNED = 11;
/** The bytes that end a number, `true`, `false` or `null`: structure, quotes and whitespace. */
const STOPS = Uint8Array.from({ length: 128 }, (_, c) => Number(',}]{[:" \n\r\t'.includes(String.fromCharCode(c))));
/** More PFNs than this in one line: the line is parsed as it is (duplicates are looked for pairwise). */
const MAX_PFNS = 64;
/** Longest rewritten line kept in {@link scratch} for the next ones; a longer one gets its own buffer. */
const MAX_SCRATCH = 1 << 20;

/** What the object being scanned is: the line, or its `pfns`. */
const LINE = 0;
const PFN_MAP = 1;
type Kind = typeof LINE | typeof PFN_MAP;

/**
 * The scan of the current line. `edits`: per change, its start, its end and what goes there (-1:
 * the `replicas` made from `marks`; n ≥ 0: n spaces), in the line's order. `marks`: per PFN, its
 * key's quotes and its details' braces. `pads`: the spaces added to each {@link PADDED} field.
 */
const edits: number[] = [];
const marks: number[] = [];
let nEdits = 0;
let nMarks = 0;
const pads = [0, 0];
let found = false;
/** Where lines are rewritten (reused: its content is decoded before the next line is). */
let scratch = new Uint8Array(4096);

/**
 * @internal The line with its top-level `"pfns": {"<pfn>": {…}, …}` member written as
 * `"replicas":[{"pfn":"<pfn>", …}, …]` (and short `name` and `adler32` values padded, see
 * {@link PADDED}: {@link parseReplicaLine} cuts them back), everything else byte for byte; or
 * `undefined` when the line is not an object with such a member, or when `JSON.parse` of the result
 * might not be that of the line with its `pfns` read into `replicas`: an escape in a top-level key,
 * in a PFN or anywhere in a PFN's details, a PFN given twice or made of digits only (JavaScript puts
 * those first), a string `"pfn"` in the details (it could be their key), a second `pfns`, `name` or
 * `adler32`, or a `replicas` key in the line. A line that is not valid JSON either fails here or gives bytes that
 * are not valid JSON either. The bytes are in a buffer that the next call reuses.
 */
export function rewriteReplicaLine(b: Uint8Array): Uint8Array | undefined {
  nEdits = 0;
  nMarks = 0;
  found = false;
  pads[0] = pads[1] = -1;
  const close = object(b, ws(b, 0), LINE);
  if (close < 0 || !found || ws(b, close + 1) !== b.length) return undefined;
  const size = b.length + REPLICAS_OPEN.length + (PFN_OPEN.length + 3) * (nMarks / 4) + 2 * NOT_INTERNED;
  if (scratch.length < size && size <= MAX_SCRATCH) scratch = new Uint8Array(Math.max(size, 2 * scratch.length));
  const out = scratch.length >= size ? scratch : new Uint8Array(size);
  let o = 0;
  let at = 0;
  for (let e = 0; e < nEdits; e += 3) {
    o = copy(out, o, b, at, edits[e] as number);
    const what = edits[e + 2] as number;
    if (what < 0) o = writeReplicas(out, o, b);
    else for (let i = 0; i < what; i++) out[o++] = SPACE;
    at = edits[e + 1] as number;
  }
  o = copy(out, o, b, at, b.length);
  return out.subarray(0, o);
}

/** `"replicas":[…]` from the PFNs in {@link marks}. */
function writeReplicas(out: Uint8Array, o: number, b: Uint8Array): number {
  o = copy(out, o, REPLICAS_OPEN, 0, REPLICAS_OPEN.length);
  for (let m = 0; m < nMarks; m += 4) {
    if (m > 0) out[o++] = COMMA;
    o = copy(out, o, PFN_OPEN, 0, PFN_OPEN.length);
    o = copy(out, o, b, marks[m] as number, (marks[m + 1] as number) + 1);
    const open = marks[m + 2] as number;
    const end = marks[m + 3] as number;
    if (ws(b, open + 1) < end) {
      out[o++] = COMMA;
      o = copy(out, o, b, open + 1, end);
    }
    out[o++] = CLOSE_BRACE;
  }
  out[o++] = CLOSE_BRACKET;
  return o;
}

/** The fields padded by the last {@link rewriteReplicaLine}, cut back in its parsed value. */
function unpad(file: Record<string, unknown>): void {
  for (let f = 0; f < PADDED.length; f++) {
    const n = pads[f] as number;
    if (n > 0) {
      const key = f === 0 ? 'name' : 'adler32';
      file[key] = (file[key] as string).slice(0, -n);
    }
  }
}

function copy(out: Uint8Array, o: number, from: Uint8Array, start: number, end: number): number {
  if (end - start > 48) out.set(from.subarray(start, end), o);
  else for (let i = start; i < end; i++) out[o + i - start] = from[i] as number;
  return o + end - start;
}

/** The index of the first byte at or after `i` that is not JSON whitespace. */
function ws(b: Uint8Array, i: number): number {
  let c = b[i] as number;
  while (c <= SPACE && (c === SPACE || c === 0x0a || c === 0x0d || c === 0x09)) c = b[++i] as number;
  return i;
}

/**
 * The object at `b[i]`, scanned as `kind`: the index of its closing brace, or -1 when it is not an
 * object as the scanner wants it.
 */
function object(b: Uint8Array, i: number, kind: Kind): number {
  if (b[i] !== OPEN_BRACE) return -1;
  let k = ws(b, i + 1);
  if (b[k] === CLOSE_BRACE) return k;
  for (;;) {
    if (b[k] !== QUOTE) return -1;
    const ke = keyEnd(b, k);
    if (ke < 0) return -1;
    let v = ws(b, ke + 1);
    if (b[v] !== COLON) return -1;
    v = ws(b, v + 1);
    const end = member(b, k, ke, v, kind);
    if (end < 0) return -1;
    k = ws(b, end);
    if (b[k] === CLOSE_BRACE) return k;
    if (b[k] !== COMMA) return -1;
    k = ws(b, k + 1);
  }
}

/** One member of an object scanned as `kind` (key from the quote at `k` to the one at `ke`, value at `v`): the end of its value, or -1. */
function member(b: Uint8Array, k: number, ke: number, v: number, kind: Kind): number {
  if (kind === PFN_MAP) {
    if (nMarks >= 4 * MAX_PFNS || digits(b, k + 1, ke) || seen(b, k + 1, ke)) return -1;
    const close = details(b, v);
    if (close < 0) return -1;
    marks[nMarks++] = k;
    marks[nMarks++] = ke;
    marks[nMarks++] = v;
    marks[nMarks++] = close;
    return close + 1;
  }
  if (same(b, k + 1, ke, REPLICAS)) return -1;
  if (same(b, k + 1, ke, PFNS)) {
    if (found) return -1;
    found = true;
    const close = object(b, v, PFN_MAP);
    if (close < 0) return -1;
    edits[nEdits++] = k;
    edits[nEdits++] = close + 1;
    edits[nEdits++] = -1;
    return close + 1;
  }
  const end = skipValue(b, v);
  if (end < 0) return -1;
  for (let f = 0; f < PADDED.length; f++) {
    if (!same(b, k + 1, ke, PADDED[f] as Uint8Array)) continue;
    if ((pads[f] as number) >= 0) return -1;
    // A string without escapes of 2 to 10 bytes (JSON.parse does not intern shorter ones either).
    const length = end - v - 2;
    let pad = b[v] === QUOTE && length >= 2 && length < NOT_INTERNED ? NOT_INTERNED - length : 0;
    for (let i = v + 1; i < end - 1 && pad > 0; i++) if (b[i] === BACKSLASH) pad = 0;
    pads[f] = pad;
    if (pad > 0) {
      edits[nEdits++] = end - 1;
      edits[nEdits++] = end - 1;
      edits[nEdits++] = pad;
    }
  }
  return end;
}

/**
 * The index of the brace that closes a PFN's details (the object at `b[i]`), or -1 when they might
 * hold a `pfn` key: any string `"pfn"` in them, or any escape. The rest is `JSON.parse`'s to judge.
 */
function details(b: Uint8Array, i: number): number {
  if (b[i] !== OPEN_BRACE) return -1;
  for (let k = i, depth = 0; k < b.length; k++) {
    const c = b[k];
    if (c === QUOTE) {
      const e = keyEnd(b, k);
      if (e < 0 || same(b, k + 1, e, PFN)) return -1;
      k = e;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && --depth === 0) return k;
  }
  return -1;
}

/** The index of the quote that closes the key opened at `q`, or -1 if the key has an escape or does not end. */
function keyEnd(b: Uint8Array, q: number): number {
  for (let i = q + 1; i < b.length; i++) {
    const c = b[i] as number;
    if (c === QUOTE) return i;
    if (c === BACKSLASH) return -1;
  }
  return -1;
}

/** The index of the quote that closes the string opened at `q`, or -1. */
function stringEnd(b: Uint8Array, q: number): number {
  for (let i = q + 1; i < b.length; i++) {
    const c = b[i];
    if (c === QUOTE) return i;
    if (c === BACKSLASH) i++; // the escaped character is not the end
  }
  return -1;
}

/** The index just after the value at `b[i]`, or -1. Not a validation: what it passes over is copied as it is, and `JSON.parse` judges it. */
function skipValue(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c === QUOTE) {
    const end = stringEnd(b, i);
    return end < 0 ? -1 : end + 1;
  }
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    for (let k = i, depth = 0; k < b.length; k++) {
      const d = b[k];
      if (d === QUOTE) {
        k = stringEnd(b, k);
        if (k < 0) return -1;
      } else if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if ((d === CLOSE_BRACE || d === CLOSE_BRACKET) && --depth === 0) return k + 1;
    }
    return -1;
  }
  // A number, true, false or null: up to the next structural character or whitespace.
  let k = i;
  while (k < b.length && STOPS[b[k] as number] !== 1) k++;
  return k === i ? -1 : k;
}

function same(b: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (b[start + i] !== word[i]) return false;
  return true;
}

function digits(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if ((b[i] as number) < 0x30 || (b[i] as number) > 0x39) return false;
  return end > start;
}

/** Whether the PFN `b[start..end)` was already met in this line. */
function seen(b: Uint8Array, start: number, end: number): boolean {
  for (let m = 0; m < nMarks; m += 4) {
    const s = (marks[m] as number) + 1;
    if ((marks[m + 1] as number) - s !== end - start) continue;
    let i = 0;
    while (i < end - start && b[s + i] === b[start + i]) i++;
    if (i === end - start) return true;
  }
  return false;
}

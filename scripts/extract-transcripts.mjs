// Extracts the recorded wire transcripts (Rucio, ESAP) into JSON test fixtures.
// Usage: node scripts/extract-transcripts.mjs [referenceDir]   (default: ../shared/reference from the repo root)
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { TextDecoder } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const refDir = resolve(process.argv[2] ?? resolve(root, '../shared/reference'));
const outDir = resolve(root, 'test/fixtures');
const utf8Bytes = (s) => Buffer.byteLength(s, 'utf8');

function fail(where, msg) {
  throw new Error(`${where}: ${msg}`);
}
// Verification failures are collected so that one run reports every mismatching call.
const mismatches = [];
const mismatch = (where, msg) => mismatches.push(`${where}: ${msg}`);
const warnings = [];

/** Decodes one Python repr() literal: '...', "...", b'...' or b"...". */
function pyRepr(lit, where) {
  const m = /^(b?)(['"])(.*)\2$/s.exec(lit.trim());
  if (!m) fail(where, `not a Python repr: ${lit.slice(0, 80)}`);
  const [, isBytes, , inner] = m;
  const simple = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v' };
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i];
    if (c !== '\\') { out += c; continue; }
    const e = inner[++i];
    const hex = isBytes ? { x: 2 }[e] : { x: 2, u: 4, U: 8 }[e];
    if (hex) {
      const h = inner.slice(i + 1, i + 1 + hex);
      if (!/^[0-9a-fA-F]+$/.test(h) || h.length !== hex) fail(where, `bad \\${e} escape`);
      out += String.fromCodePoint(parseInt(h, 16));
      i += hex;
    } else if (e in simple) out += simple[e];
    else fail(where, `unknown escape \\${e}`);
  }
  if (!isBytes) return out;
  // bytes repr: each char is one byte (0-255); the payload is UTF-8.
  return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(out, 'latin1'));
}

/** Parses an http block: start line, ordered header pairs, optional body after the blank line. */
function parseHttp(text, where) {
  const lines = text.split('\n');
  const blank = lines.indexOf('');
  const head = blank === -1 ? lines : lines.slice(0, blank);
  const body = blank === -1 ? '' : lines.slice(blank + 1).join('\n');
  // Values are kept byte-exact after the "Name: " separator: Rucio's ExceptionMessage can end in a space and
  // Django writes "Set-Cookie:  sessionid=..." (two spaces). HTTP clients strip that whitespace.
  const headers = head.slice(1).map((l) => {
    const i = l.indexOf(': ');
    if (i <= 0) fail(where, `bad header line: ${l}`);
    return [l.slice(0, i), l.slice(i + 2)];
  });
  return { start: head[0], headers, body: body === '' ? null : body };
}

// The Rucio transcript shortened SITE_A's posix prefix after recording: each "/rucio/SITE_A/" in it stood for 8
// more bytes on the wire (stated byte counts, Content-Length and chunk sizes are the recorded ones). A length
// mismatch is accepted only when exactly this explains it; the text is kept as shown and bodyBytesShown is added.
const SHORTENED = '/rucio/SITE_A/';
const PAD = '\0'.repeat(8);
const restoreLength = (s) => s.replaceAll(SHORTENED, PAD + SHORTENED);
const lengthExplained = (s, bytes) => utf8Bytes(restoreLength(s)) === bytes;

const header = (headers, name) => headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

/** Decodes a Transfer-Encoding: chunked payload (sizes count UTF-8 bytes); null if the framing is inconsistent. */
function dechunk(wire) {
  const buf = Buffer.from(wire, 'utf8');
  const parts = [];
  for (let pos = 0; ;) {
    const eol = buf.indexOf('\r\n', pos);
    if (eol === -1) return null;
    const sizeLine = buf.toString('latin1', pos, eol);
    const size = parseInt(sizeLine, 16);
    const next = eol + 2 + size;
    if (!/^[0-9a-f]+$/i.test(sizeLine) || (size && buf.toString('latin1', next, next + 2) !== '\r\n')) return null;
    if (size === 0) return Buffer.concat(parts).toString('utf8');
    parts.push(buf.subarray(eol + 2, next));
    pos = next + 2;
  }
}

function parseDocument(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const calls = [];
  let section = null;
  let call = null;
  let prose = [];
  // Prose inside a call: the line right before a fence labels that block, everything else becomes notes.
  const flush = () => {
    const paras = prose.join('\n').split(/\n\s*\n/).map((p) => p.split('\n').map((l) => l.trim()).join(' ').trim());
    call?.notes.push(...paras.filter(Boolean));
    prose = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const h = /^(#{1,3}) (.*)$/.exec(line);
    if (h) {
      flush();
      // "# Part …" (the addenda) and "## …" start a section; "### N. …" a call.
      if (h[1] !== '###') { section = h[2].trim(); call = null; continue; }
      const m = /^(\d+)\. (.*)$/.exec(h[2]);
      if (!m) fail(file, `unexpected heading: ${line}`);
      call = { n: Number(m[1]), title: m[2].trim(), section, blocks: [], notes: [] };
      calls.push(call);
      continue;
    }
    const fence = /^```(\w*)$/.exec(line);
    if (fence && call) {
      const end = lines.indexOf('```', i + 1);
      if (end === -1) fail(`${file} #${call.n}`, 'unterminated fence');
      while (prose.length && !prose.at(-1).trim()) prose.pop();
      const label = (prose.pop() ?? '').trim();
      flush();
      call.blocks.push({ lang: fence[1], label, text: lines.slice(i + 1, end).join('\n') });
      i = end;
      continue;
    }
    if (call) prose.push(line);
  }
  flush();
  return calls.map((c) => buildEntry(c, `${file} #${c.n}`));
}

function buildEntry(c, where) {
  const byLabel = (re) => c.blocks.filter((b) => re.test(b.label));
  const one = (re, what) => {
    const found = byLabel(re);
    if (found.length !== 1) fail(where, `expected exactly one ${what} block, found ${found.length}`);
    return found[0];
  };
  const known = /^(Request|Response status line|Response body on the wire|Decoded body|Pretty|item_data parsed|Calls the server made)/;
  for (const b of c.blocks) if (!known.test(b.label)) fail(where, `unknown block labelled "${b.label}"`);

  const req = parseHttp(one(/^Request/, 'request').text, where);
  const [method, target] = req.start.split(' ');
  const request = { method, target, headers: req.headers, body: req.body };
  const reqLen = header(req.headers, 'Content-Length');
  // A long request body may be shown as a prefix, then a "[… M bytes elided]" line.
  const cut = /\n\[… (\d+) bytes elided\]$/.exec(req.body ?? '');
  if (cut) {
    request.body = (req.body ?? '').slice(0, cut.index);
    request.bodyTruncated = true;
    if (reqLen === undefined || utf8Bytes(request.body) + Number(cut[1]) !== Number(reqLen)) mismatch(where, 'shown request body + elided bytes != its Content-Length');
  } else if (reqLen !== undefined && Number(reqLen) !== utf8Bytes(req.body ?? '')) {
    if (!lengthExplained(req.body ?? '', Number(reqLen))) mismatch(where, 'request body length != its Content-Length');
    request.bodyBytesShown = utf8Bytes(req.body ?? '');
  }

  const res = parseHttp(one(/^Response status line/, 'response').text, where);
  if (res.body !== null) fail(where, 'response head block has content after the blank line');
  const sl = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(res.start);
  if (!sl) fail(where, `bad status line: ${res.start}`);

  const bodyBlock = one(/^Decoded body/, 'decoded body');
  const bm = /^Decoded body \((\d+) bytes(?: - first (\d+) (characters|lines) shown)?/.exec(bodyBlock.label);
  if (!bm) fail(where, `cannot read byte count from "${bodyBlock.label}"`);
  const bodyBytes = Number(bm[1]);
  // "first N lines shown": one repr() per line, then a "[… M bytes elided]" marker for the rest.
  const ELIDED = /^\[… (\d+) bytes elided\]$/;
  const lines = bodyBlock.text.split('\n').filter((l) => l.trim() !== '');
  const elided = lines.map((l) => ELIDED.exec(l.trim())).find(Boolean);
  const reprs = lines.filter((l) => !ELIDED.test(l.trim()));
  const body = reprs.map((r) => pyRepr(r, where)).join('');
  const response = { status: Number(sl[1]), reason: sl[2], headers: res.headers, body, bodyBytes };

  const resLen = header(res.headers, 'Content-Length');
  if (resLen !== undefined && Number(resLen) !== bodyBytes) mismatch(where, `Content-Length ${resLen} != stated ${bodyBytes} bytes`);
  if (bm[2] === undefined) {
    if (utf8Bytes(body) !== bodyBytes) {
      if (!lengthExplained(body, bodyBytes)) mismatch(where, `decoded body is ${utf8Bytes(body)} bytes, transcript says ${bodyBytes}`);
      response.bodyBytesShown = utf8Bytes(body);
    }
  } else {
    // Transcript shows only a prefix. Keep it as shown; rebuild the full body from the Pretty JSON when that
    // reproduces the prefix and the exact byte count (DRF emits compact JSON, like JSON.stringify).
    response.bodyTruncated = true;
    response.bodyShownChars = [...body].length;
    if (bm[3] === 'lines') {
      response.bodyShownLines = reprs.length;
      if (reprs.length !== Number(bm[2])) mismatch(where, `${reprs.length} lines shown, the label says ${bm[2]}`);
      if (!elided || utf8Bytes(body) + Number(elided[1]) !== bodyBytes) mismatch(where, 'shown lines + elided bytes != stated byte count');
    } else if (response.bodyShownChars !== Number(bm[2])) {
      warnings.push(`${where}: truncated body shows ${response.bodyShownChars} chars, its note says ${bm[2]}`);
    }
    const pretty = byLabel(/^Pretty/)[0];
    if (pretty) {
      const full = JSON.stringify(JSON.parse(pretty.text));
      if (full.startsWith(body) && utf8Bytes(full) === bodyBytes) response.bodyReconstructed = full;
    }
  }

  const wire = byLabel(/^Response body on the wire/)[0];
  if (wire) {
    response.wireChunked = pyRepr(wire.text, where);
    const w = response.wireChunked;
    if (dechunk(w) !== body && dechunk(restoreLength(w))?.replaceAll(PAD, '') !== body) mismatch(where, 'de-chunked wire body != decoded body');
  }

  const entry = {
    n: c.n,
    title: c.title,
    section: c.section,
    request,
    response,
  };
  if (c.notes.length) entry.notes = c.notes.join('\n\n');
  const stub = byLabel(/^Calls the server made/)[0];
  if (stub) entry.userinfoStubCalls = stub.text.split('\n').filter(Boolean);
  return entry;
}

const docs = [
  ['rucio-wire-transcripts.md', 'rucio-wire.json', 89],
  ['esap-wire-transcripts.md', 'esap-wire.json', 43],
  ['real-server-addenda.md', 'real-server-addenda.json', 61],
].map(([src, out, expected]) => {
  const entries = parseDocument(resolve(refDir, src));
  entries.forEach((e, i) => { if (e.n !== i + 1) mismatch(src, `call numbering gap at #${e.n}`); });
  if (entries.length !== expected) mismatch(src, `found ${entries.length} calls, expected ${expected}`);
  return { out, entries };
});
if (mismatches.length) {
  process.stderr.write(`Transcript verification failed, no fixtures written:\n  ${mismatches.join('\n  ')}\n`);
  process.exit(1);
}
mkdirSync(outDir, { recursive: true });
for (const { out, entries } of docs) {
  // Pretty-printed, but each [name, value] header pair on one line.
  const json = JSON.stringify(entries, null, 2).replace(/\[\n\s+("(?:[^"\\]|\\.)*"),\n\s+("(?:[^"\\]|\\.)*")\n\s+\]/g, '[$1, $2]');
  writeFileSync(resolve(outDir, out), json + '\n');
  const list = (pick) => entries.filter(pick).map((e) => `#${e.n}`).join(' ') || '-';
  process.stdout.write(`test/fixtures/${out}: ${entries.length} calls; truncated: ${list((e) => e.response.bodyTruncated)}` +
    ` (rebuilt from Pretty: ${list((e) => e.response.bodyReconstructed)}); shortened ${SHORTENED}: ` +
    `${list((e) => e.response.bodyBytesShown !== undefined || e.request.bodyBytesShown !== undefined)}\n`);
}
for (const w of warnings) process.stderr.write(`warning: ${w}\n`);

import { describe, expect, it } from 'vitest';
import { fromWire, parseReplicaLine, replicaLines, rewriteReplicaLine } from '../../src/rucio/listed-replicas.js';
import { ResponseValidationError } from '../../src/index.js';
import type { Replica } from '../../src/index.js';
import { createRucioEmulator } from '../../src/testing.js';
import { referenceReplica, shape } from '../support/replica-lines.js';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
const decode = (b: Uint8Array) => dec.decode(b);

/** What the scanner makes of a line (text), or undefined when it leaves the line to the plain parse. */
function rewritten(line: string): string | undefined {
  const out = rewriteReplicaLine(enc.encode(line));
  return out && dec.decode(out);
}

/** The line read as `replicas.list` reads it. */
function read(line: string): unknown {
  return parseReplicaLine(enc.encode(line), decode);
}

function expectSame(line: string): void {
  const got = read(line);
  expect(shape(got)).toEqual(shape(referenceReplica(line)));
}

const details = (rse: string, priority: number) => `{"rse_id": "id-${rse}", "rse": "${rse}", "type": "DISK", "volatile": false, "domain": "wan", "priority": ${priority}, "client_extract": false}`;
/** A line as Rucio writes it (Python's json.dumps: ", " and ": "). */
const rucioLine = `{"scope": "test", "name": "f1", "bytes": 1500, "md5": null, "adler32": "8dc1fca8", "pfns": {"davs://a.example.org:443/p/f1": ${details('SITE_A', 1)}, "root://b.example.org:1094//p/f1": ${details('SITE_B', 2)}}, "rses": {"SITE_A": ["davs://a.example.org:443/p/f1"], "SITE_B": ["root://b.example.org:1094//p/f1"]}, "states": {"SITE_A": "AVAILABLE", "SITE_B": "AVAILABLE"}}`;

describe('replica lines: the pfns rewrite', () => {
  it('rewrites a line as Rucio writes it into replicas, everything else byte for byte', () => {
    expect(rewritten(rucioLine)).toBe(
      `{"scope": "test", "name": "f1         ", "bytes": 1500, "md5": null, "adler32": "8dc1fca8   ", "replicas":[{"pfn":"davs://a.example.org:443/p/f1",${details('SITE_A', 1).slice(1)},{"pfn":"root://b.example.org:1094//p/f1",${details('SITE_B', 2).slice(1)}], "rses": {"SITE_A": ["davs://a.example.org:443/p/f1"], "SITE_B": ["root://b.example.org:1094//p/f1"]}, "states": {"SITE_A": "AVAILABLE", "SITE_B": "AVAILABLE"}}`,
    );
    const r = read(rucioLine) as Replica;
    expect(r.replicas.map((p) => [p.pfn, p.rse, p.priority])).toEqual([
      ['davs://a.example.org:443/p/f1', 'SITE_A', 1],
      ['root://b.example.org:1094//p/f1', 'SITE_B', 2],
    ]);
    expect(Object.keys(r)).toEqual(['scope', 'name', 'bytes', 'md5', 'adler32', 'replicas', 'rses', 'states']);
    expect(Object.keys(r.replicas[0] as object)).toEqual(['pfn', 'rse_id', 'rse', 'type', 'volatile', 'domain', 'priority', 'client_extract']);
    expectSame(rucioLine);
  });

  it("rewrites every line of the emulator's listings (which answers as Rucio does), with several RSEs, schemes and domains", async () => {
    const emu = createRucioEmulator();
    emu.addScope('test', 'root');
    for (const rse of ['SITE_A', 'SITE_B']) {
      emu.addRse(rse, {
        protocols: [
          { scheme: 'davs', hostname: `${rse.toLowerCase()}.example.org`, port: 443, prefix: `/rucio/${rse.toLowerCase()}/` },
          { scheme: 'root', hostname: `${rse.toLowerCase()}.example.org`, port: 1094, prefix: `//rucio/${rse.toLowerCase()}/` },
        ],
      });
    }
    emu.seedSyntheticDataset({ scope: 'test', name: 'ds', count: 5, rses: ['SITE_A', 'SITE_B'] });
    const res = await emu.fetch('/replicas/list', { method: 'POST', body: JSON.stringify({ dids: [{ scope: 'test', name: 'ds' }], schemes: ['davs', 'root'], domain: 'all' }), headers: { 'X-Rucio-Auth-Token': emu.issueToken('root') } });
    const lines = (await res.text()).split('\n').filter(Boolean);
    expect(lines).toHaveLength(5);
    for (const line of lines) {
      expect(rewritten(line), line).toBeDefined();
      expectSame(line);
      expect((read(line) as Replica).replicas.length).toBeGreaterThanOrEqual(4);
    }
  });

  it('keeps the wire shape reachable: pfns (made once, not enumerable) and JSON.stringify give the line as sent', () => {
    const r = read(rucioLine) as Replica;
    const wire = JSON.parse(rucioLine) as { pfns: unknown };
    expect(r.pfns).toEqual(wire.pfns);
    expect(Object.keys(r.pfns)).toEqual(Object.keys(wire.pfns as object));
    expect(r.pfns).toBe(r.pfns);
    expect(Object.keys(r)).not.toContain('pfns');
    expect(JSON.stringify(r)).toBe(JSON.stringify(wire));
    expect({ ...r }).not.toHaveProperty('pfns');
    // Assignable, as a plain property was.
    (r as { pfns: unknown }).pfns = {};
    expect(r.pfns).toEqual({});
  });

  it('handles compact separators, any whitespace, CRLF, and the pfns member anywhere', () => {
    const compact = JSON.stringify(JSON.parse(rucioLine));
    expect(rewritten(compact)).toBeDefined();
    expectSame(compact);
    const spaced = JSON.stringify(JSON.parse(rucioLine), null, '\t').replace(/\n/g, '\r\n');
    expect(rewritten(` \t${spaced.replace(/\r\n/g, ' ')}\r`)).toBeDefined();
    expectSame(` \t${spaced.replace(/\r\n/g, ' ')}\r`);
    for (const line of [`{"pfns": {"x://a": ${details('A', 1)}}, "name": "n"}`, `{"name": "n", "pfns": {"x://a": ${details('A', 1)}}}`, `{"pfns":{"x://a":${details('A', 1)}}}`, `{ "pfns" : { "x://a" : { } } , "name" : "n" }`]) {
      expect(rewritten(line), line).toBeDefined();
      expectSame(line);
    }
  });

  it('reads empty pfns and empty details', () => {
    for (const line of ['{"scope": "s", "name": "n", "bytes": 1, "pfns": {}, "rses": {}, "states": {}}', '{"pfns": { }}', '{"pfns": {"x://a": {}, "x://b": {  }}}']) {
      expect(rewritten(line), line).toBeDefined();
      expectSame(line);
    }
    expect((read('{"pfns": {}}') as Replica).replicas).toEqual([]);
    expect((read('{"pfns": {"x://a": {}}}') as Replica).replicas).toEqual([{ pfn: 'x://a' }]);
  });

  it('copies strings with escapes, braces, colons and commas inside untouched', () => {
    // As they appear inside JSON strings (escaped where JSON wants it).
    const tricky = ['a\\"b', 'a\\\\', 'a\\\\\\"}', '\\u0022', '{', '}', ':', ',', '[', ']', '\\"pfns\\": {', '\\n', 'é😀'];
    for (const t of tricky) {
      const plain = t.replace(/[\\"]/g, '');
      // Outside the PFNs' details, escapes are copied as they are; inside, any escape leaves the line to the plain parse.
      const line = `{"name": "${t}", "meta": {"${plain}": ["${t}", {"k": "${t}"}]}, "pfns": {"davs://h/${plain}": {"rse": "${plain}", "priority": 1, "note": ["${plain}", {"k": "${plain}"}]}}, "rses": {"A": ["${t}"]}}`;
      expect(() => JSON.parse(line) as unknown, line).not.toThrow();
      expect(rewritten(line), line).toBeDefined();
      expectSame(line);
      const inDetails = `{"pfns": {"davs://h/${plain}": {"rse": "${t}", "priority": 1}}}`;
      expect(rewritten(inDetails) === undefined, inDetails).toBe(t.includes('\\'));
      expectSame(inDetails);
    }
    expect((read('{"pfns": {"davs://h/a}b,c:d{e": {"rse": "A}{,:[]", "priority": 1}}}') as Replica).replicas).toEqual([{ pfn: 'davs://h/a}b,c:d{e', rse: 'A}{,:[]', priority: 1 }]);
  });

  it('leaves to the plain parse what it cannot rewrite exactly, with the same result', () => {
    const plain = [
      // An escape in a PFN, a top-level key or the details (a key could spell "pfns" or "pfn").
      `{"pfns": {"davs://h/a\\"b": ${details('A', 1)}}}`,
      `{"pfns": {"davs://h/\\u0061": ${details('A', 1)}}}`,
      `{"pf\\u006es": {"x://a": ${details('A', 1)}}}`,
      `{"pfns": {"x://a": {"\\u0070fn": "other", "priority": 1}}}`,
      // A PFN twice: JSON.parse keeps the last details at the first place.
      `{"pfns": {"x://a": ${details('A', 1)}, "x://b": ${details('B', 2)}, "x://a": ${details('C', 3)}}}`,
      // A `pfn` key in the details (the PFN is the key, whatever they say), or a "pfn" string anywhere in them.
      `{"pfns": {"x://a": {"pfn": "other", "priority": 1}}}`,
      `{"pfns": {"x://a": {"priority": 1, "note": {"pfn": 1}}}}`,
      `{"pfns": {"x://a": {"priority": 1, "note": "pfn"}}}`,
      // Two pfns, or a replicas field, in the line.
      `{"pfns": {"x://a": ${details('A', 1)}}, "pfns": {"x://b": ${details('B', 1)}}}`,
      `{"replicas": [1], "pfns": {"x://a": ${details('A', 1)}}}`,
      `{"pfns": {"x://a": ${details('A', 1)}}, "replicas": 2}`,
      // PFNs JavaScript orders itself (array indices come first).
      `{"pfns": {"x://a": ${details('A', 1)}, "12": ${details('B', 1)}}}`,
      // No pfns, or pfns of another shape.
      '{"scope": "s", "name": "n"}',
      '{"pfns": []}',
      '{"pfns": null}',
      '{"pfns": {"x://a": 1}}',
      '{"pfns": {"x://a": [1]}}',
      '"just a string"',
      '[{"pfns": {}}]',
      '{}',
    ];
    for (const line of plain) {
      expect(rewritten(line), line).toBeUndefined();
      expectSame(line);
    }
    expect((read(plain[4] as string) as Replica).replicas.map((r) => [r.pfn, r.rse])).toEqual([
      ['x://b', 'B'],
      ['x://a', 'C'],
    ]);
    expect((read(plain[5] as string) as Replica).replicas).toEqual([{ pfn: 'x://a', priority: 1 }]);
  });

  it('finds the top-level pfns only (not one nested in another field or inside a string)', () => {
    const line = `{"meta": {"pfns": {"x://m": ${details('M', 1)}}}, "note": "\\"pfns\\": {}", "list": [{"pfns": {}}], "pfns": {"x://a": ${details('A', 1)}}}`;
    const out = rewritten(line) as string;
    expect(out).toContain('"meta": {"pfns": {"x://m"');
    expect(out).toContain('"replicas":[{"pfn":"x://a"');
    expectSame(line);
    // A nested pfns and no top-level one: nothing to rewrite, nothing converted.
    const nested = `{"meta": {"pfns": {"x://m": ${details('M', 1)}}}}`;
    expect(rewritten(nested)).toBeUndefined();
    expect(read(nested)).toEqual(JSON.parse(nested));
  });

  it('pads short name and adler32 values past what JSON.parse interns, and cuts them back', () => {
    expect(rewritten('{"name": "ab", "adler32": "0123456789", "pfns": {}}')).toBe('{"name": "ab         ", "adler32": "0123456789 ", "replicas":[]}');
    // Long enough, too short to be interned, not strings, or with escapes: as they are.
    for (const line of ['{"name": "abcdefghijk", "pfns": {}}', '{"name": "a", "adler32": "", "pfns": {}}', '{"name": 12, "adler32": null, "pfns": {}}', '{"name": "a\\"b", "adler32": "\\u0041x", "pfns": {}}', '{"pfns": {}, "meta": {"name": "ab"}}']) {
      expect(rewritten(line), line).toBe(line.replace('"pfns": {}', '"replicas":[]'));
      expectSame(line);
    }
    for (const line of ['{"name": "ab", "adler32": "0123abcd", "pfns": {}}', '{"name": "é😀", "pfns": {}}', '{"name": "  ", "pfns": {"x://a": {"name": "xy"}}}', '{"pfns": {}, "adler32": "  x"}']) expectSame(line);
    expect(read('{"name": "é😀", "adler32": "0123abcd", "pfns": {}}')).toEqual({ name: 'é😀', adler32: '0123abcd', replicas: [] });
    // Given twice: parsed as it is (JSON.parse keeps the last).
    for (const line of ['{"name": "ab", "name": "cd", "pfns": {}}', '{"adler32": "ab", "pfns": {}, "adler32": "abcdefghijkl"}']) {
      expect(rewritten(line), line).toBeUndefined();
      expectSame(line);
    }
  });

  it('sorts by priority (stable), which is a no-op for Rucio order', () => {
    const line = `{"pfns": {"x://c": ${details('C', 3)}, "x://a": ${details('A', 1)}, "x://b1": ${details('B', 2)}, "x://b2": ${details('B', 2)}}}`;
    expect((read(line) as Replica).replicas.map((r) => r.pfn)).toEqual(['x://a', 'x://b1', 'x://b2', 'x://c']);
    expectSame(line);
  });

  it('never makes invalid JSON valid, nor valid JSON invalid', () => {
    const invalid = [
      '{"pfns": {"x://a": {"priority": 1},}}',
      '{"pfns": {"x://a": {"priority": 1,}}}',
      '{"pfns": {"x://a": {, "priority": 1}}}',
      '{"pfns": {"x://a" {"priority": 1}}}',
      '{"pfns": {"x://a": {"priority": 1}} "name": "n"}',
      '{"pfns": {"x://a": {"p": [1}}, "name": "n"]}',
      '{"pfns": {"x://a": {"p": tru}}}',
      '{"pfns": {"x://a": {"p": 1}}}}',
      '{"pfns": {"x://a": {"p": 1}}',
      '{"pfns": {"x://a": {"p": "1}}}',
      '{"name": "n" "pfns": {}}',
    ];
    for (const line of invalid) {
      expect(() => JSON.parse(line) as unknown, line).toThrow(SyntaxError);
      expect(() => read(line), line).toThrow(SyntaxError);
    }
  });

  it('validates in the SDK shape and reports a bad line in the server terms', () => {
    const { parse, map } = replicaLines('POST /replicas/list');
    const good = (parse as typeof parseReplicaLine)(enc.encode(`{"scope": "s", "name": "n", "bytes": 1, ${rucioLine.slice(rucioLine.indexOf('"pfns"'))}`), decode);
    expect(map?.(good, 1)).toBe(good);
    const bad = (parse as typeof parseReplicaLine)(enc.encode(`{"scope": "s", "name": "n", "bytes": 1, "pfns": {"x://a": {"rse": "A", "priority": "first"}}, "rses": {}}`), decode);
    const err = (() => {
      try {
        map?.(bad, 7);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ResponseValidationError);
    expect((err as ResponseValidationError).message).toContain('line 7: pfns.x://a');
    expect(() => map?.({ scope: 's', name: 'n', bytes: 1, pfns: [], rses: {} }, 2)).toThrow(/line 2: pfns/);
    // A file zod accepts that the fast check leaves to it (a __proto__ key) still gets the prototype.
    const proto = (parse as typeof parseReplicaLine)(enc.encode('{"scope": "s", "name": "n", "bytes": 1, "pfns": {}, "rses": {}, "__proto__": 1}'), decode);
    const r = map?.(proto, 1) as Replica;
    expect(r.pfns).toEqual({});
    expect(r.replicas).toEqual([]);
  });

  it('fromWire returns what it cannot convert as it is', () => {
    for (const v of [null, 1, 'x', [1], { a: 1 }, { pfns: 1 }, { pfns: { a: null } }]) expect(fromWire(v)).toBe(v);
  });
});

import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { StreamChecksum, checksumOf, combineAdler32, sameAdler32 } from '../../src/staging/checksum.js';
import { downloadRelativePath, joinPath, pfnToLocalPath } from '../../src/staging/paths.js';
import { memorySink } from '../../src/staging/sinks.js';
import { orderSources } from '../../src/staging/staging.js';
import { moveDestination, parseDigestHeader, pfnToHttpUrl } from '../../src/staging/storage.js';
import { collectionStatus } from '../../src/staging/types.js';

/** zlib's adler32 and md5 via Python, for reference values. */
function pythonSums(hex: string): { adler32: string; md5: string } {
  const out = execFileSync('python3', ['-c', 'import sys,zlib,hashlib; b=bytes.fromhex(sys.stdin.read()); print("%08x" % zlib.adler32(b), hashlib.md5(b).hexdigest())'], { input: hex, encoding: 'utf8' });
  const [adler32, md5] = out.trim().split(' ') as [string, string];
  return { adler32, md5 };
}
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('checksums', () => {
  it('match zlib.adler32 and hashlib.md5, including zero padding and chunked input', async () => {
    const cases = [new Uint8Array(0), new TextEncoder().encode('a'), new Uint8Array(100_000).map((_, i) => (i * 7) % 256), new Uint8Array(5552 * 3 + 17).fill(255)];
    for (const data of cases) {
      const want = pythonSums(toHex(data));
      expect(await checksumOf(data, { md5: true })).toEqual({ bytes: data.length, ...want });
      const sum = await StreamChecksum.create({ md5: true });
      for (let i = 0; i < data.length; i += 4093) sum.update(data.subarray(i, i + 4093));
      expect(sum.digest()).toEqual({ bytes: data.length, ...want });
    }
    expect((await checksumOf(new Uint8Array(0))).adler32).toBe('00000001');
  });

  it('are correct for arbitrary chunkings (pooled hashers reused)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(3000), { maxLength: 6 }), async (data, cuts) => {
        const whole = await checksumOf(data, { md5: true });
        const sum = await StreamChecksum.create({ md5: true });
        let prev = 0;
        for (const c of [...cuts.map((x) => x % (data.length + 1))].sort((a, b) => a - b)) {
          sum.update(data.subarray(prev, c));
          prev = c;
        }
        sum.update(data.subarray(prev));
        expect(sum.digest()).toEqual(whole);
      }),
      { numRuns: 300 },
    );
    const blob = new Blob([new Uint8Array([1, 2, 3])]);
    expect((await checksumOf(blob)).adler32).toBe(pythonSums('010203').adler32);
  });

  it('compares adler32 like Rucio: case and leading zeros do not matter', () => {
    expect(sameAdler32('0aff020e', 'AFF020E')).toBe(true);
    expect(sameAdler32('0aff020e', '0aff020f')).toBe(false);
    expect(sameAdler32(null, '00000001')).toBe(false);
  });
});

/** The extension's `translate_pfn_to_path`, run by Python itself, for a batch of [pfn, mount, pathBeginsAt]. */
function pythonTranslate(cases: readonly [string, string, number][]): { path: string; suffix: string }[] {
  const script = [
    'import json, os, sys',
    'from urllib.parse import urlparse',
    'out = []',
    'for pfn, mount, n in json.load(sys.stdin):',
    "    suffix = urlparse(pfn).path.strip('/').split('/', n)[-1]",
    '    out.append({"path": os.path.join(mount, suffix), "suffix": suffix})',
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(execFileSync('python3', ['-c', script], { input: JSON.stringify(cases), encoding: 'utf8' })) as { path: string; suffix: string }[];
}

describe('PFN → local path (the JupyterLab extension rule)', () => {
  it('reproduces the documented example and the ESCAPE VRE setting', () => {
    // CONFIGURATION.md of rucio/jupyterlab-extension
    expect(pfnToLocalPath('root://xrd1:1094//rucio/test/49/ad/f1.txt', '/eos/rucio', 1)).toBe('/eos/rucio/test/49/ad/f1.txt');
    // vre-hub: RUCIO_PATH_BEGINS_AT=5 replaces /eos/pilot/eulake/escape/data with the mount /eos/eulake
    expect(pfnToLocalPath('root://eospilot.cern.ch:1094//eos/pilot/eulake/escape/data/atlas/ab/cd/f.root', '/eos/eulake', 5)).toBe('/eos/eulake/atlas/ab/cd/f.root');
    expect(pfnToLocalPath('davs://h:443/rucio/site_b/test/80/25/file1', '/mnt/site_b/', 2)).toBe('/mnt/site_b/test/80/25/file1');
    expect(pfnToLocalPath('file://localhost/rucio/SITE_A/test/80/25/file1', '/data', 0)).toBe('/data/rucio/SITE_A/test/80/25/file1');
  });

  it('takes the URL path as Python does: no percent-decoding, spaces and non-ASCII kept, ;params cut for http(s) only', () => {
    expect(pfnToLocalPath('davs://h/a b/dätä/f;1.txt', '/m', 0)).toBe('/m/a b/dätä/f;1.txt');
    expect(pfnToLocalPath('https://h/a%20b/f.txt;v=1?q=2#x', '/m', 0)).toBe('/m/a%20b/f.txt');
    expect(pfnToLocalPath('root://h//a/b', '/m', 7)).toBe('/m/b'); // fewer segments than pathBeginsAt: the last one
  });

  it('matches Python (urlparse + str.split + os.path.join) on 3,000 generated PFNs, and refuses exactly the paths that would leave the mount', () => {
    const segment = fc.oneof(fc.constantFrom('rucio', 'eos', 'data', 'a b', 'dätä', '..', '.', '', 'f;1', 'x%20y', '49', 'ad'), fc.string({ maxLength: 6 }).map((t) => [...t].filter((c) => c > ' ' && c !== '\x7f' && !'?#/'.includes(c)).join('')));
    const pfn = fc.tuple(fc.constantFrom('root://xrd1:1094/', 'davs://h:443', 'https://h', 'file://', 'file://localhost', 'srm://h:8443/srm/managerv2?SFN='), fc.array(segment, { maxLength: 8 }), fc.constantFrom('', '?q=1', '#frag', ';p')).map(([head, segs, tail]) => `${head}/${segs.join('/')}${tail}`);
    const cases = fc.sample(fc.tuple(pfn, fc.constantFrom('/eos/rucio', '/mnt/site_b/', '/m//'), fc.nat(7)), { numRuns: 3000, seed: 42 });
    const want = pythonTranslate(cases);
    cases.forEach(([p, mount, n], i) => {
      const { path, suffix } = want[i] as { path: string; suffix: string };
      const escapes = suffix.startsWith('/') || suffix.split('/').includes('..');
      if (escapes) expect(() => pfnToLocalPath(p, mount, n), p).toThrow(InvalidArgumentError);
      else expect(pfnToLocalPath(p, mount, n), `${p} ${mount} ${n}`).toBe(path);
    });
  });

  it('refuses paths that would leave the mount, and bad arguments', () => {
    expect(() => pfnToLocalPath('root://h//a/../../etc/passwd', '/m', 0)).toThrow(/outside the mount/);
    expect(() => pfnToLocalPath('root://h//a//etc/passwd', '/m', 1)).toThrow(/outside the mount/);
    expect(() => pfnToLocalPath('not a url', '/m', 0)).toThrow(/not a URL/);
    expect(() => pfnToLocalPath('root://h//a', '/m', -1)).toThrow(/pathBeginsAt/);
    expect(() => pfnToLocalPath('root://h//a', '', 0)).toThrow(/rseMountPath/);
  });

  it('never throws anything but InvalidArgumentError, and stays under the mount', () => {
    fc.assert(
      fc.property(fc.string(), fc.nat(8), (path, n) => {
        try {
          const p = pfnToLocalPath(`root://h:1094/${path}`, '/mount', n);
          expect(p.startsWith('/mount')).toBe(true);
          expect(p.split('/')).not.toContain('..');
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidArgumentError);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('joins like os.path.join', () => {
    expect(joinPath('/a', 'b')).toBe('/a/b');
    expect(joinPath('/a/', 'b')).toBe('/a/b');
    expect(joinPath('/a', '')).toBe('/a/');
    expect(joinPath('/a', '/b')).toBe('/b');
  });

  it('lays out downloads as scope/name and refuses dot segments', () => {
    expect(downloadRelativePath({ scope: 'lofar', name: 'L1/SB000.MS' })).toBe('lofar/L1/SB000.MS');
    expect(downloadRelativePath({ scope: 'lofar', name: '/abs/x' }, 'flat')).toBe('abs/x');
    expect(() => downloadRelativePath({ scope: 's', name: 'a/../b' })).toThrow(InvalidArgumentError);
  });
});

describe('collection status', () => {
  it('follows the extension semantics', () => {
    const s = (...st: string[]) => collectionStatus(st.map((status) => ({ status }) as never));
    expect(s()).toBe('EMPTY');
    expect(s('OK', 'OK')).toBe('AVAILABLE');
    expect(s('OK', 'NOT_AVAILABLE')).toBe('PARTIALLY_AVAILABLE');
    expect(s('OK', 'REPLICATING', 'STUCK')).toBe('REPLICATING');
    expect(s('OK', 'STUCK')).toBe('STUCK');
    expect(s('NOT_AVAILABLE', 'FAILED')).toBe('NOT_AVAILABLE');
    expect(s('STUCK', 'NOT_AVAILABLE')).toBe('STUCK');
    // The one deliberate difference from the extension: a FAILED file next to OK ones is not AVAILABLE.
    expect(s('OK', 'FAILED')).toBe('PARTIALLY_AVAILABLE');
  });
});

describe('sources and storage helpers', () => {
  it('orders readable replicas: preferred RSEs first, then server priority; skips non-HTTP and unavailable', () => {
    const rep = {
      replicas: [
        { pfn: 'root://a/x', rse: 'A', priority: 1, rse_id: '', type: 'DISK', volatile: false, domain: 'wan', client_extract: false },
        { pfn: 'davs://b/x', rse: 'B', priority: 2, rse_id: '', type: 'DISK', volatile: false, domain: 'wan', client_extract: false },
        { pfn: 'https://c/x', rse: 'C', priority: 3, rse_id: '', type: 'DISK', volatile: false, domain: 'wan', client_extract: false },
        { pfn: 'https://d/x', rse: 'D', priority: 4, rse_id: '', type: 'DISK', volatile: false, domain: 'wan', client_extract: false },
      ],
      states: { A: 'AVAILABLE', B: 'AVAILABLE', C: 'AVAILABLE', D: 'COPYING' },
    };
    expect(orderSources(rep, [])).toEqual(['davs://b/x', 'https://c/x']);
    expect(orderSources(rep, ['C'])).toEqual(['https://c/x', 'davs://b/x']);
  });

  it('maps WebDAV PFNs to HTTP URLs and parses Digest headers', () => {
    expect(pfnToHttpUrl('davs://h:443/p/x')).toBe('https://h:443/p/x');
    expect(pfnToHttpUrl('dav://h/p')).toBe('http://h/p');
    expect(() => pfnToHttpUrl('root://h//p')).toThrow(InvalidArgumentError);
    expect(parseDigestHeader('adler32=1e720467, MD5=rL0Y20zC+Fzt72VPzMSk2A==')).toEqual({ adler32: '1e720467', md5: 'rL0Y20zC+Fzt72VPzMSk2A==' });
  });

  it('writes MOVE Destination as a URI (RFC 4918), or as the UTF-8 bytes of the decoded path for XRootD', () => {
    const url = 'https://se:1094/rucio space/dätä/f.txt';
    expect(moveDestination(url, false)).toBe('https://se:1094/rucio%20space/d%C3%A4t%C3%A4/f.txt');
    const raw = moveDestination(url, true);
    expect(raw).toBe(`https://se:1094${String.fromCharCode(...new TextEncoder().encode('/rucio space/dätä/f.txt'))}`);
    expect(() => new Headers({ Destination: raw })).not.toThrow(); // a valid header value (bytes ≤ 0xFF)
    expect(moveDestination('https://se/a%41b', true)).toBe('https://se/aAb');
    expect(moveDestination('https://se/bad%zz', true)).toBe('https://se/bad%zz');
  });

  it('memory sink keeps partial data for the same file only, takes turns per file, and publishes only on commit', async () => {
    const sink = memorySink();
    const expected = { id: 's:a', bytes: 3, adler32: null, md5: null };
    const f = await sink.open('s/a', { expected });
    await f.write(new Uint8Array([1, 2]), 0);
    await expect(f.write(new Uint8Array([9]), 5)).rejects.toMatchObject({ argument: 'position' });
    // A second writer of the same file waits for the first.
    let second = false;
    const waiting = sink.open('s/a', { expected }).then((g) => ((second = true), g));
    await Promise.resolve();
    expect(second).toBe(false);
    await f.close({ keep: { segments: [{ start: 0, end: 3, done: 2 }] } });
    const again = await waiting;
    expect(await sink.existing('s/a')).toBeUndefined();
    expect(again.resume).toEqual({ segments: [{ start: 0, end: 3, done: 2 }] });
    await again.write(new Uint8Array([3]), 2);
    const loc = await again.commit();
    expect(loc.kind).toBe('blob');
    expect([...new Uint8Array(await (loc as { blob: Blob }).blob.arrayBuffer())]).toEqual([1, 2, 3]);
    expect((await sink.existing('s/a'))?.bytes).toBe(3);
    const other = await sink.open('s/b', { expected: { ...expected, id: 's:b' } });
    await other.write(new Uint8Array([7]), 0);
    await other.close({ keep: { segments: [{ start: 0, end: 3, done: 1 }] } });
    expect((await sink.open('s/b', { expected: { ...expected, id: 's:b', adler32: '00000001' } })).resume).toBeUndefined();
  });

  it('combines adler32 of segments as zlib does', async () => {
    const data = new Uint8Array(300_001).map((_, i) => (i * 2654435761) >>> 24);
    for (const cut of [0, 1, 65520, 65521, 150_000, 300_001]) {
      const [a, b, whole] = await Promise.all([checksumOf(data.subarray(0, cut)), checksumOf(data.subarray(cut)), checksumOf(data)]);
      expect(combineAdler32(a.adler32, b.adler32, b.bytes), String(cut)).toBe(whole.adler32);
    }
  });
});

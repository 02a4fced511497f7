import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { StreamChecksum, checksumOf, sameAdler32 } from '../../src/staging/checksum.js';
import { downloadRelativePath, pfnToLocalPath } from '../../src/staging/paths.js';
import { memorySink } from '../../src/staging/sinks.js';
import { orderSources } from '../../src/staging/staging.js';
import { parseDigestHeader, pfnToHttpUrl } from '../../src/staging/storage.js';
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

describe('PFN → local path (the JupyterLab extension rule)', () => {
  it('reproduces the documented example and the VRE setting', () => {
    expect(pfnToLocalPath('root://xrd1:1094//rucio/test/49/ad/f1.txt', '/eos/rucio', 1)).toBe('/eos/rucio/test/49/ad/f1.txt');
    expect(pfnToLocalPath('root://eospilot.cern.ch:1094//eos/pilot/eulake/escape/data/atlas/ab/cd/f.root', '/eos/eulake', 5)).toBe('/eos/eulake/atlas/ab/cd/f.root');
    expect(pfnToLocalPath('davs://h:443/rucio/site_b/test/80/25/file1', '/mnt/site_b/', 2)).toBe('/mnt/site_b/test/80/25/file1');
    expect(pfnToLocalPath('file://localhost/rucio/SITE_A/test/80/25/file1', '/data', 0)).toBe('/data/rucio/SITE_A/test/80/25/file1');
  });

  it("keeps the last segment when there are fewer segments than pathBeginsAt (Python split(..., n)[-1])", () => {
    expect(pfnToLocalPath('root://h//a/b', '/m', 7)).toBe('/m/b');
  });

  it('refuses paths that would leave the mount, and bad arguments', () => {
    // The URL parser resolves dot segments, so they cannot climb out of the mount.
    expect(pfnToLocalPath('root://h//a/../../etc/passwd', '/m', 0)).toBe('/m/etc/passwd');
    expect(() => pfnToLocalPath('root://h//a//etc/passwd', '/m', 1)).toThrow(/outside the mount/);
    expect(() => pfnToLocalPath('not a url', '/m', 0)).toThrow(/not a URL/);
    expect(() => pfnToLocalPath('root://h//a', '/m', -1)).toThrow(/pathBeginsAt/);
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
  });
});

describe('sources and storage helpers', () => {
  it('orders readable replicas: preferred RSEs first, then server priority; skips non-HTTP and unavailable', () => {
    const rep = {
      scope: 's',
      name: 'n',
      bytes: 1,
      pfns: {
        'root://a/x': { rse: 'A', priority: 1, rse_id: '', type: 'DISK', volatile: false, domain: 'wan', client_extract: false },
        'davs://b/x': { rse: 'B', priority: 2, rse_id: '', type: 'DISK', volatile: false, domain: 'wan', client_extract: false },
        'https://c/x': { rse: 'C', priority: 3, rse_id: '', type: 'DISK', volatile: false, domain: 'wan', client_extract: false },
        'https://d/x': { rse: 'D', priority: 4, rse_id: '', type: 'DISK', volatile: false, domain: 'wan', client_extract: false },
      },
      rses: {},
      states: { A: 'AVAILABLE', B: 'AVAILABLE', C: 'AVAILABLE', D: 'COPYING' },
    };
    expect(orderSources(rep as never, [])).toEqual(['davs://b/x', 'https://c/x']);
    expect(orderSources(rep as never, ['C'])).toEqual(['https://c/x', 'davs://b/x']);
  });

  it('maps WebDAV PFNs to HTTP URLs and parses Digest headers', () => {
    expect(pfnToHttpUrl('davs://h:443/p/x')).toBe('https://h:443/p/x');
    expect(pfnToHttpUrl('dav://h/p')).toBe('http://h/p');
    expect(() => pfnToHttpUrl('root://h//p')).toThrow(InvalidArgumentError);
    expect(parseDigestHeader('adler32=1e720467, MD5=rL0Y20zC+Fzt72VPzMSk2A==')).toEqual({ adler32: '1e720467', md5: 'rL0Y20zC+Fzt72VPzMSk2A==' });
  });

  it('memory sink keeps partial data for resume and publishes only on commit', async () => {
    const sink = memorySink();
    const f = await sink.open('s/a');
    await f.write(new Uint8Array([1, 2]));
    await f.close({ keepPartial: true });
    expect(await sink.existing('s/a')).toBeUndefined();
    const again = await sink.open('s/a');
    expect(again.resumableBytes).toBe(2);
    await again.write(new Uint8Array([3]));
    const loc = await again.commit();
    expect(loc.kind).toBe('blob');
    expect([...new Uint8Array(await (loc as { blob: Blob }).blob.arrayBuffer())]).toEqual([1, 2, 3]);
    expect((await sink.existing('s/a'))?.bytes).toBe(3);
  });
});

/**
 * Streaming with flat memory: a synthetic dataset of 200,000 files is listed over the loopback
 * HTTP server with a plain fetch. The listing is ~90 MB of NDJSON; neither side may hold it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createRucioEmulator } from '../../src/testing.js';

const COUNT = 200_000;

/** `global.gc` without `--expose-gc` on the command line: measure retained memory, not garbage. */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

describe('synthetic datasets', () => {
  it('streams POST /replicas/list of 200,000 files over HTTP with a flat heap', async () => {
    const rucio = createRucioEmulator();
    rucio.addScope('big', 'root');
    rucio.addRse('SITE_A', { protocols: [{ scheme: 'davs', hostname: 'a.example.org', port: 443, prefix: '/data/' }] });
    rucio.seedSyntheticDataset({ scope: 'big', name: 'huge', count: COUNT, rses: ['SITE_A'] });
    const url = await rucio.listen();
    try {
      const gc = collector();
      const retained = () => {
        gc();
        return process.memoryUsage().heapUsed;
      };
      const baseline = retained();
      let peak = 0;
      const res = await fetch(`${url}/replicas/list`, { method: 'POST', headers: { 'X-Rucio-Auth-Token': rucio.issueToken('root') }, body: JSON.stringify({ dids: [{ scope: 'big', name: 'huge' }] }) });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBeNull();
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const decoder = new TextDecoder();
      let lines = 0;
      let bytes = 0;
      let tail = '';
      let first: string | undefined;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes += value.byteLength;
        const text = tail + decoder.decode(value, { stream: true });
        const parts = text.split('\n');
        tail = parts.pop() ?? '';
        first ??= parts[0];
        lines += parts.length;
        if (lines % 20_000 < parts.length) peak = Math.max(peak, retained() - baseline);
      }
      expect(tail).toBe('');
      expect(lines).toBe(COUNT);
      expect(bytes).toBeGreaterThan(60_000_000);
      // Holding the body anywhere (server or client) would retain at least its ~90 MB.
      expect(peak).toBeLessThan(16 * 1024 * 1024);
      const file = JSON.parse(first as string) as { name: string; bytes: number; adler32: string; md5: string; pfns: Record<string, unknown> };
      expect(file.name).toBe('huge_000000');
      expect(file.adler32).toMatch(/^[0-9a-f]{8}$/);
      expect(Object.keys(file.pfns)[0]).toMatch(/^davs:\/\/a\.example\.org:443\/data\/big\/[0-9a-f]{2}\/[0-9a-f]{2}\/huge_000000$/);
    } finally {
      await rucio.close();
    }
  });
});

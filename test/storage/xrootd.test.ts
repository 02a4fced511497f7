/**
 * Self-test of the real storage element (test/support/storage-element.ts): XRootD 5.8.1 + SciTokens in
 * its chroot behaves as measured in storage-element.md, and the helper manages it properly (ports,
 * data directory, tokens, CA, independent instances, teardown by pid file).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { adler32 } from 'hash-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStorageElement, type StorageElement } from '../support/storage-element.js';

const run = promisify(execFile);
let se: StorageElement;
// The first run on a machine builds the XRootD image (debootstrap, ~30-60 s).
beforeAll(async () => void (se = await startStorageElement()), 600_000);
afterAll(async () => se?.stop());

const noise = (n: number, seed = 7) => {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) b[i] = (x = (x * 1664525 + 1013904223) >>> 0) >>> 24;
  return b;
};
const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

describe('startStorageElement()', () => {
  it('runs XRootD >= 5.8 from Debian 13 (not Debian 12\'s 5.5.3) on localhost URLs', () => {
    // 5.8.1 when written; a Debian point release may bring a later 5.x.
    const [major, minor] = se.version.replace(/^v/, '').split('.').map(Number);
    expect(major === 5 && (minor ?? 0) >= 8, se.version).toBe(true);
    expect(se.url).toBe(`https://localhost:${se.port}/`);
    expect(se.httpUrl).toBe(`http://localhost:${se.port}/`);
    expect(se.audience).toBe(`https://localhost:${se.port}`);
    expect(se.issuer).toMatch(/^https:\/\/localhost:\d+$/);
    expect(se.caPem).toContain('BEGIN CERTIFICATE');
    expect(statSync(se.dataDir).isDirectory()).toBe(true);
  });

  it('uploads, downloads, ranges, checksums, moves and deletes with fetch (lower-case header names)', async () => {
    const auth = await se.authHeader();
    const data = noise(256 * 1024 + 3);
    const url = `${se.url}run/1/file.bin`;
    // A Uint8Array body: undici sends `content-length` in lower case, which 5.5.3 turned into a 0-byte file.
    let r = await se.fetch(`${url}.rucio.upload`, { method: 'PUT', headers: auth, body: data });
    expect(r.status).toBe(201);
    expect(Buffer.from(se.readBack('/run/1/file.bin.rucio.upload') ?? []).equals(Buffer.from(data))).toBe(true);
    r = await se.fetch(`${url}.rucio.upload`, { method: 'MOVE', headers: { ...auth, destination: url } });
    expect(r.status).toBe(201);

    r = await se.fetch(url, { method: 'HEAD', headers: { ...auth, 'want-digest': 'adler32' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('digest')).toBe(`adler32=${(await adler32(data)).padStart(8, '0')}`);
    expect(r.headers.get('content-length')).toBe(String(data.byteLength));
    expect(r.headers.get('accept-ranges')).toBe('bytes');

    r = await se.fetch(url, { headers: auth });
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(Buffer.from(data))).toBe(true);

    const range = async (spec: string) => {
      const res = await se.fetch(url, { headers: { ...auth, range: spec } });
      return { status: res.status, contentRange: res.headers.get('content-range'), body: new Uint8Array(await res.arrayBuffer()) };
    };
    const size = data.byteLength;
    expect(await range('bytes=10-19')).toEqual({ status: 206, contentRange: `bytes 10-19/${size}`, body: data.subarray(10, 20) });
    expect(await range('bytes=200000-')).toEqual({ status: 206, contentRange: `bytes 200000-${size - 1}/${size}`, body: data.subarray(200000) });
    expect(await range('bytes=-5')).toEqual({ status: 206, contentRange: `bytes ${size - 5}-${size - 1}/${size}`, body: data.subarray(size - 5) });
    expect((await range(`bytes=${size}-`)).status).toBe(416);

    r = await se.fetch(url, { method: 'DELETE', headers: auth });
    expect(r.status).toBe(200);
    expect(se.readBack('/run/1/file.bin')).toBeUndefined();
    r = await se.fetch(url, { method: 'HEAD', headers: auth });
    expect(r.status).toBe(404);
  });

  it('rejects with 403: no token, read-only token writing, expired, wrong audience, foreign issuer', async () => {
    se.seed('/auth/seed.txt', 'seed');
    const url = `${se.url}auth/seed.txt`;
    const now = Math.floor(Date.now() / 1000);
    expect((await se.fetch(url)).status).toBe(403);
    const readOnly = await se.authHeader({ scope: 'storage.read:/' });
    expect((await se.fetch(url, { headers: readOnly })).status).toBe(200);
    expect((await se.fetch(`${se.url}auth/new.txt`, { method: 'PUT', headers: readOnly, body: 'x' })).status).toBe(403);
    for (const o of [{ exp: now - 60, iat: now - 600, nbf: now - 600 }, { aud: 'https://other.example' }, { iss: 'https://localhost:9' }]) {
      const res = await se.fetch(url, { headers: await se.authHeader(o) });
      expect(res.status).toBe(403);
      expect(await res.text()).toBe('Unable to open /auth/seed.txt; permission denied\n');
    }
  });

  it('serves plain http on the same port, and TLS to child processes through caFile', async () => {
    se.seed('/plain.txt', 'plain');
    const auth = await se.authHeader({ scope: 'storage.read:/' });
    const res = await fetch(`${se.httpUrl}plain.txt`, { headers: auth });
    expect(await res.text()).toBe('plain');
    const script = `fetch(process.argv[1], { headers: { authorization: process.argv[2] } }).then(async (r) => console.log(r.status, await r.text()))`;
    const { stdout } = await run(process.execPath, ['-e', script, `${se.url}plain.txt`, auth.authorization], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: se.caFile },
    });
    expect(stdout.trim()).toBe('200 plain');
  });

  it('seed/readBack/clear work on the data directory; files uploaded over HTTP belong to xrootd', async () => {
    se.seed('/x/y/z.txt', 'zzz');
    expect(readFileSync(se.hostPath('/x/y/z.txt'), 'utf8')).toBe('zzz');
    const r = await se.fetch(`${se.url}x/y/up.txt`, { method: 'PUT', headers: await se.authHeader(), body: 'up' });
    expect(r.status).toBe(201);
    const owner = statSync(se.hostPath('/x/y/up.txt')).uid;
    expect(owner).not.toBe(0);
    expect(statSync(se.hostPath('/x/y/z.txt')).uid).toBe(owner);
    expect(() => se.hostPath('/../../etc/passwd')).not.toThrow(); // normalised inside the data root
    expect(se.hostPath('/../../etc/passwd')).toBe(join(se.dataDir, 'etc/passwd'));
    se.clear();
    expect(existsSync(se.hostPath('/x'))).toBe(false);
  });

  it('runs independent instances side by side and stops them by pid file', async () => {
    const other = await startStorageElement();
    try {
      expect(other.port).not.toBe(se.port);
      expect(other.dataDir).not.toBe(se.dataDir);
      other.seed('/only-here.txt', 'b');
      // Each instance has its own issuer: a token of one is refused by the other.
      expect((await other.fetch(`${other.url}only-here.txt`, { headers: await se.authHeader() })).status).toBe(403);
      expect((await other.fetch(`${other.url}only-here.txt`, { headers: await other.authHeader() })).status).toBe(200);
      expect((await se.fetch(`${se.url}only-here.txt`, { headers: await se.authHeader() })).status).toBe(404);
    } finally {
      await other.stop();
    }
    const pidFile = join(other.dataDir, '..', 'run/xrootd.pid');
    expect(existsSync(pidFile)).toBe(false); // instance directory removed
    expect(existsSync(other.dataDir)).toBe(false);
    expect(await portOpen(other.port)).toBe(false);
    expect(await portOpen(other.xrootdPort)).toBe(false);
    await other.stop(); // idempotent
    expect((await se.fetch(`${se.url}`, { method: 'HEAD', headers: await se.authHeader() })).status).toBe(200);
  });
});

/**
 * The Node file sink: bytes go to `name.part`, only `commit()` puts them under the final name (an
 * atomic rename), partial data survives for a resume, and nothing is written outside the directory.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, createDataLake } from '../../src/index.js';
import { fileSink, statFile } from '../../src/node.js';
import { createDataLakeEmulator } from '../../src/testing.js';
import { listFiles, tempDir } from '../staging/helpers.js';

const text = (s: string) => new TextEncoder().encode(s);
const read = async (stream: ReadableStream<Uint8Array>) => new TextDecoder().decode(new Uint8Array(await new Response(stream).arrayBuffer()));

let dir: string;
let remove: () => void;
beforeEach(() => ({ dir, remove } = tempDir('sink')));
afterEach(() => remove());

const EXPECT = (id: string, bytes: number | null = 11) => ({ expected: { id, bytes, adler32: null, md5: null } });
const parts = (d: string) => readdirSync(d).filter((n) => n.endsWith('.dlaas-part'));

/** A pid that is certainly dead: a child process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await once(child, 'exit');
  return child.pid as number;
}

describe('fileSink()', () => {
  it('writes to a private, exclusive .name.<random>.dlaas-part and publishes under the final name only on commit', async () => {
    const sink = fileSink(dir);
    const f = await sink.open('scope/sub/a.fits', EXPECT('s:a.fits'));
    expect(f.resume).toBeUndefined();
    await f.write(text('world'), 6);
    await f.write(text('hello '), 0);
    const [part] = parts(join(dir, 'scope/sub'));
    expect(part).toMatch(/^\.a\.fits\.[0-9a-f]{16}\.dlaas-part$/);
    expect(statSync(join(dir, 'scope/sub', part!)).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, 'scope/sub/.a.fits.dlaas-lock'))).toBe(true);
    expect(await sink.existing('scope/sub/a.fits')).toBeUndefined();
    const location = await f.commit();
    expect(location).toEqual({ kind: 'path', path: join(dir, 'scope/sub/a.fits') });
    expect(readdirSync(join(dir, 'scope/sub'))).toEqual(['a.fits']);
    const existing = await sink.existing('scope/sub/a.fits');
    expect(existing?.bytes).toBe(11);
    expect(await read(existing!.read())).toBe('hello world');
  });

  it('resumes only a partial whose state names the very same file; anything else starts again and is cleaned up', async () => {
    const sink = fileSink(dir);
    const f = await sink.open('s/b', EXPECT('s:b', 10));
    await f.write(text('0123'), 0);
    await f.close({ keep: { segments: [{ start: 0, end: 10, done: 4 }] } });
    expect(readdirSync(join(dir, 's')).sort()).toEqual([...parts(join(dir, 's')), '.b.dlaas-state'].sort());
    const again = await sink.open('s/b', EXPECT('s:b', 10));
    expect(again.resume).toEqual({ segments: [{ start: 0, end: 10, done: 4 }] });
    let back = '';
    for await (const c of again.readRange(0, 4)) back += new TextDecoder().decode(c);
    expect(back).toBe('0123');
    await again.close({ keep: { segments: [{ start: 0, end: 10, done: 4 }] } });
    // Another size (the catalogue changed): not resumed, the old partial is removed.
    const other = await sink.open('s/b', EXPECT('s:b', 12));
    expect(other.resume).toBeUndefined();
    expect(parts(join(dir, 's'))).toHaveLength(1);
    await other.write(text('abc'), 0);
    await other.reset();
    await other.write(text('xyz'), 0);
    await other.commit();
    expect(readFileSync(join(dir, 's/b'), 'utf8')).toBe('xyz');
    const g = await sink.open('s/c', EXPECT('s:c'));
    await g.write(text('xyz'), 0);
    await g.close();
    expect(listFiles(dir)).toEqual(['s/b']);
  });

  it('replaces an older file at the final path only when the new one is committed', async () => {
    mkdirSync(join(dir, 's'));
    writeFileSync(join(dir, 's/d'), 'old');
    const sink = fileSink(dir);
    const f = await sink.open('s/d', EXPECT('s:d'));
    await f.write(text('new!'), 0);
    expect(readFileSync(join(dir, 's/d'), 'utf8')).toBe('old');
    await f.commit();
    expect(readFileSync(join(dir, 's/d'), 'utf8')).toBe('new!');
    expect(listFiles(dir)).toEqual(['s/d']);
  });

  it('refuses paths outside its directory and names it reserves, with a typed error', async () => {
    const sink = fileSink(join(dir, 'root'));
    for (const bad of ['../x', '../../etc/passwd', '/etc/passwd', 'a/../../x', 's/x.dlaas-part', 's/.x.dlaas-state', 's/x.dlaas-lock']) {
      await expect(sink.open(bad, EXPECT('s:x')), bad).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    for (const bad of ['../x', '/etc/passwd']) await expect(sink.existing(bad), bad).rejects.toMatchObject({ argument: 'relPath' });
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('never writes through a symlink: at the final path, as a planted partial, or as a directory leading outside', async () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'target'), 'precious');
    const root = join(dir, 'root');
    mkdirSync(join(root, 's'), { recursive: true });
    const sink = fileSink(root);
    // A symlink at the final path.
    symlinkSync(join(outside, 'target'), join(root, 's/final'));
    await expect(sink.open('s/final', EXPECT('s:final'))).rejects.toMatchObject({ argument: 'destination' });
    await expect(sink.existing('s/final')).rejects.toMatchObject({ argument: 'destination' });
    // A planted state naming a symlinked partial: not followed, not resumed.
    symlinkSync(join(outside, 'target'), join(root, 's/.p.0000000000000000.dlaas-part'));
    writeFileSync(join(root, 's/.p.dlaas-state'), JSON.stringify({ v: 1, expected: { id: 's:p', bytes: 8, adler32: null, md5: null }, part: '.p.0000000000000000.dlaas-part', segments: [{ start: 0, end: 8, done: 8 }] }));
    const f = await sink.open('s/p', EXPECT('s:p', 8));
    expect(f.resume).toBeUndefined();
    await f.write(text('newbytes'), 0);
    await f.commit();
    // A directory that is a symlink to somewhere outside the sink.
    symlinkSync(outside, join(root, 'evil'));
    await expect(sink.open('evil/x', EXPECT('s:x'))).rejects.toMatchObject({ argument: 'destination' });
    expect(readFileSync(join(outside, 'target'), 'utf8')).toBe('precious');
    expect(readdirSync(outside)).toEqual(['target']);
  });

  it('makes one writer per file: a second open waits until the first is closed', async () => {
    const sink = fileSink(dir, { lockPollInterval: 10 });
    const first = await sink.open('s/e', EXPECT('s:e'));
    let second: Awaited<ReturnType<typeof sink.open>> | undefined;
    const waiting = sink.open('s/e', EXPECT('s:e')).then((f) => (second = f));
    await first.write(text('hello world'), 0);
    // The second is still waiting while the first writes (many poll rounds pass).
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 10));
    expect(second).toBeUndefined();
    await first.commit();
    await waiting;
    expect(second).toBeDefined();
    await second!.close();
    const aborted = new AbortController();
    const holder = await sink.open('s/f', EXPECT('s:f'));
    const blocked = sink.open('s/f', { ...EXPECT('s:f'), signal: aborted.signal });
    aborted.abort();
    await expect(blocked).rejects.toMatchObject({ code: 'DLAAS_ABORTED' });
    await holder.close();
  });

  it('takes over the lock of a process that died', async () => {
    mkdirSync(join(dir, 's'));
    writeFileSync(join(dir, 's/.g.dlaas-lock'), JSON.stringify({ pid: await deadPid(), host: hostname(), token: 'x' }));
    const f = await fileSink(dir).open('s/g', EXPECT('s:g'));
    await f.write(text('hello world'), 0);
    await f.commit();
    expect(listFiles(dir)).toEqual(['s/g']);
  });

  it('refuses writes after commit', async () => {
    const f = await fileSink(dir).open('s/e', EXPECT('s:e'));
    await f.commit();
    await expect(f.write(text('late'), 0)).rejects.toMatchObject({ code: 'DLAAS_STREAM' });
  });
});

describe('statFile()', () => {
  it('gives the size of a file, undefined for a missing path or a directory', async () => {
    writeFileSync(join(dir, 'f'), '12345');
    expect(await statFile(join(dir, 'f'))).toEqual({ size: 5 });
    expect(await statFile(join(dir, 'missing'))).toBeUndefined();
    expect(await statFile(dir)).toBeUndefined();
  });
});

describe('staging into the file sink', () => {
  it('skips a present file only when it verifies; a tampered one (same size) is downloaded again and replaced', async () => {
    const emu = await createDataLakeEmulator();
    const token = emu.addUser({ account: 'jdoe', admin: true });
    await emu.seedDataset({ scope: 'user.jdoe', name: 'ds', rse: 'SITE_A', files: [{ name: 'a.txt', content: 'genuine content' }] });
    const lake = createDataLake({ rucio: { baseUrl: emu.url, token }, auth: { storageToken: await emu.mintStorageToken() }, fetch: emu.fetch });
    const first = await lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(dir) });
    expect(first.files[0]).toMatchObject({ status: 'OK', attempts: 1, localPath: join(dir, 'user.jdoe/a.txt') });
    const skipped = await lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(dir) });
    expect(skipped.files[0]).toMatchObject({ status: 'OK', skipped: true, attempts: 0 });
    writeFileSync(join(dir, 'user.jdoe/a.txt'), 'tampered conten');
    const fixed = await lake.staging.stage(['user.jdoe:ds'], { mode: 'download', sink: fileSink(dir) });
    expect(fixed.files[0]).toMatchObject({ status: 'OK', attempts: 1 });
    expect(fixed.files[0]?.skipped).toBeUndefined();
    expect(readFileSync(join(dir, 'user.jdoe/a.txt'), 'utf8')).toBe('genuine content');
    expect(listFiles(dir)).toEqual(['user.jdoe/a.txt']);
  });
});

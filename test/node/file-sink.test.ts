/**
 * The Node file sink: bytes go to `name.part`, only `commit()` puts them under the final name (an
 * atomic rename), partial data survives for a resume, and nothing is written outside the directory.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

describe('fileSink()', () => {
  it('writes to name.part and publishes under the final name only on commit', async () => {
    const sink = fileSink(dir);
    const f = await sink.open('scope/sub/a.fits');
    expect(f.resumableBytes).toBe(0);
    await f.write(text('hello '));
    await f.write(text('world'));
    expect(listFiles(dir)).toEqual(['scope/sub/a.fits.part']);
    expect(await sink.existing('scope/sub/a.fits')).toBeUndefined();
    const location = await f.commit();
    expect(location).toEqual({ kind: 'path', path: join(dir, 'scope/sub/a.fits') });
    expect(listFiles(dir)).toEqual(['scope/sub/a.fits']);
    const existing = await sink.existing('scope/sub/a.fits');
    expect(existing?.bytes).toBe(11);
    expect(await read(existing!.read())).toBe('hello world');
  });

  it('keeps partial bytes for a resume, drops them on a plain close, and restarts from 0 on reset', async () => {
    const sink = fileSink(dir);
    const f = await sink.open('s/b');
    await f.write(text('0123'));
    await f.close({ keepPartial: true });
    const again = await sink.open('s/b');
    expect(again.resumableBytes).toBe(4);
    expect(await read(again.readPartial())).toBe('0123');
    await again.write(text('45'));
    await again.reset();
    await again.write(text('abc'));
    await again.commit();
    expect(readFileSync(join(dir, 's/b'), 'utf8')).toBe('abc');

    const g = await sink.open('s/c');
    await g.write(text('xyz'));
    await g.close();
    expect(listFiles(dir)).toEqual(['s/b']);
  });

  it('replaces an older file at the final path only when the new one is committed', async () => {
    mkdirSync(join(dir, 's'));
    writeFileSync(join(dir, 's/d'), 'old');
    const sink = fileSink(dir);
    const f = await sink.open('s/d');
    await f.write(text('new!'));
    expect(readFileSync(join(dir, 's/d'), 'utf8')).toBe('old');
    await f.commit();
    expect(readFileSync(join(dir, 's/d'), 'utf8')).toBe('new!');
    expect(listFiles(dir)).toEqual(['s/d']);
  });

  it('refuses paths outside its directory with a typed error', async () => {
    const sink = fileSink(join(dir, 'root'));
    for (const bad of ['../x', '../../etc/passwd', '/etc/passwd', 'a/../../x']) {
      await expect(sink.open(bad), bad).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(sink.existing(bad), bad).rejects.toMatchObject({ argument: 'relPath' });
    }
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('refuses writes after commit', async () => {
    const f = await fileSink(dir).open('s/e');
    await f.commit();
    await expect(f.write(text('late'))).rejects.toBeInstanceOf(InvalidArgumentError);
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

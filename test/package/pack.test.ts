/**
 * Tests the artifact users install: `npm pack`, install the tarball into a scratch project, then
 * `require('dlaas')` and `import('dlaas')` and call real functions through each entry point.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packAndInstall, root, run, type PackedInstall } from './packed.js';

let packed: PackedInstall | undefined;
let scratch = '';

beforeAll(() => {
  // dlaas/testing needs its optional peer msw, as users' test setups have it.
  packed = packAndInstall('dlaas-pack-', ['msw@^3.0.5']);
  scratch = packed.dir;
});

afterAll(() => packed?.cleanup());

const script = `
  const did = dlaas.parseDid('user.jdoe:run1/image.fits');
  const t = new dlaas.Transport({ service: 'rucio', baseUrl: 'http://127.0.0.1:9/', fetch: async () => new Response('{"version":"41.0.0"}') });
  const ping = await t.json({ method: 'GET', path: 'ping', auth: false });
  const pfn = await dlaas.lfn2pathHash({ scope: 'test', name: 'file1' });
  console.log(JSON.stringify({ did, formatted: dlaas.formatDid(did), ping, pfn, isErr: new dlaas.NotFoundError({ status: 404, service: 'rucio', method: 'GET', url: 'http://h/' }) instanceof dlaas.DlaasError, version: dlaas.VERSION }));
`;
const expected = { did: { scope: 'user.jdoe', name: 'run1/image.fits' }, formatted: 'user.jdoe:run1/image.fits', ping: { version: '41.0.0' }, pfn: 'test/80/25/file1', isErr: true };

describe('packed tarball', () => {
  it('works through require() (CommonJS, with ky inlined)', () => {
    writeFileSync(join(scratch, 'cjs.cjs'), `const dlaas = require('dlaas'); (async () => { ${script} })().catch((e) => { console.error(e); process.exit(1); });`);
    const out = JSON.parse(run(process.execPath, ['cjs.cjs'], scratch));
    expect(out).toMatchObject(expected);
  });

  it('works through import() (ESM)', () => {
    writeFileSync(join(scratch, 'esm.mjs'), `const dlaas = await import('dlaas'); ${script}`);
    const out = JSON.parse(run(process.execPath, ['esm.mjs'], scratch));
    expect(out).toMatchObject(expected);
  });

  const subScript = `
    const emu = t.createRucioEmulator();
    const rucio = new d.RucioClient({ baseUrl: emu.baseUrl, token: emu.issueToken('root'), fetch: emu.fetch });
    const ping = await rucio.ping();
    const me = await rucio.accounts.whoami();
    const sink = n.fileSink(require_os.tmpdir());
    console.log(JSON.stringify([ping.version, me.account, typeof sink.open]));
  `;
  const subExpected = ['41.0.0rc1', 'root', 'function'];

  it('exposes ./node and ./testing through require()', () => {
    writeFileSync(join(scratch, 'sub.cjs'), `const d = require('dlaas'); const n = require('dlaas/node'); const t = require('dlaas/testing'); const require_os = require('node:os'); (async () => { ${subScript} })().catch((e) => { console.error(e); process.exit(1); });`);
    expect(JSON.parse(run(process.execPath, ['sub.cjs'], scratch))).toEqual(subExpected);
  });

  it('exposes ./node and ./testing through import()', () => {
    writeFileSync(join(scratch, 'sub.mjs'), `const d = await import('dlaas'); const n = await import('dlaas/node'); const t = await import('dlaas/testing'); const require_os = await import('node:os'); ${subScript}`);
    expect(JSON.parse(run(process.execPath, ['sub.mjs'], scratch))).toEqual(subExpected);
  });

  it('a browser bundler gets the core, and refuses dlaas/node loudly ("browser": null)', async () => {
    const { build } = await import('esbuild');
    const bundle = (contents: string) => build({ stdin: { contents, resolveDir: scratch, loader: 'js' }, bundle: true, platform: 'browser', format: 'esm', write: false, logLevel: 'silent' });
    const core = await bundle("import { EsapClient } from 'dlaas'; console.log(EsapClient);");
    expect(core.outputFiles[0]!.text).toContain('esap-api');
    await expect(bundle("import { fileSink } from 'dlaas/node'; console.log(fileSink);")).rejects.toThrow(/dlaas\/node/);
  });

  it('ships no test files or sources of the tests', () => {
    const list = JSON.parse(run('npm', ['pack', '--dry-run', '--json'], root)) as { files: { path: string }[] }[];
    const paths = list[0]!.files.map((f) => f.path);
    expect(paths).toContain('dist/index.cjs');
    expect(paths.some((p) => p.startsWith('test/'))).toBe(false);
  });

  it('ships the Apache-2.0 LICENSE that package.json names', () => {
    const entries = run('tar', ['-tzf', packed!.tarball], scratch).split('\n');
    expect(entries).toContain('package/LICENSE');
    const license = readFileSync(join(scratch, 'node_modules', 'dlaas', 'LICENSE'), 'utf8');
    expect(license).toMatch(/^\s*Apache License\s+Version 2\.0, January 2004/);
    expect(license).toContain('END OF TERMS AND CONDITIONS');
    expect((JSON.parse(readFileSync(join(scratch, 'node_modules', 'dlaas', 'package.json'), 'utf8')) as { license: string }).license).toBe('Apache-2.0');
  });
});

describe('isomorphic core build', () => {
  it('has no Node built-ins, eval, new Function or dynamic import() in the browser-facing entry', async () => {
    const { readFileSync, readdirSync } = await import('node:fs');
    const files = ['index.js', ...readdirSync(join(root, 'dist')).filter((f) => /^chunk-.*\.js$/.test(f))];
    for (const f of files) {
      const code = readFileSync(join(root, 'dist', f), 'utf8');
      expect(code, f).not.toMatch(/from\s+["']node:|require\(["']node:/);
      expect(code, f).not.toMatch(/\bnew Function\(|\beval\(/);
      expect(code, f).not.toMatch(/\bimport\(/);
    }
  });
});

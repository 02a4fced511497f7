/**
 * The storage-element test setup's own logic that needs no root and no network: finding the Debian
 * archive in apt sources, and failing loudly (never skipping) when it cannot install what it needs.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { debianArchive, ensureHostTools, ensureXrootdImage } from '../support/se/chroot.js';

const dirs: string[] = [];
function aptDir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'dlaas-apt-'));
  dirs.push(d);
  mkdirSync(join(d, 'sources.list.d'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  vi.restoreAllMocks();
});

// Example hosts only (reserved .example names), never a real registry's or archive's.
describe('debianArchive()', () => {
  it('takes the main archive from a deb822 .sources file, skipping security, vendor repos and disabled stanzas', () => {
    const d = aptDir({
      'sources.list.d/vendor.sources': 'Types: deb\nURIs: https://vendor.example/node\nSuites: nodistro\nComponents: main\n',
      'sources.list.d/debian.sources': [
        'Types: deb',
        'URIs: http://disabled.example/debian',
        'Suites: bookworm',
        'Components: main',
        'Enabled: no',
        '',
        'Types: deb',
        '# a comment inside a stanza',
        'URIs: http://mirror.example/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        '',
        'Types: deb',
        'URIs: http://mirror.example/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        '',
      ].join('\n'),
    });
    expect(debianArchive(d)).toBe('http://mirror.example/debian');
  });

  it('reads one-line sources.list entries with options', () => {
    const d = aptDir({
      'sources.list': '# deb http://old.example/debian buster main\ndeb http://mirror.example/debian-security bookworm-security main\ndeb [arch=amd64 signed-by=/k.gpg] https://mirror.example/debian/ trixie main contrib\n',
    });
    expect(debianArchive(d)).toBe('https://mirror.example/debian/');
  });

  it('fails with a message naming where it looked when there is no Debian archive', () => {
    const d = aptDir({ 'sources.list.d/vendor.sources': 'Types: deb\nURIs: https://vendor.example/x\nSuites: nodistro\nComponents: main\n' });
    expect(() => debianArchive(d)).toThrow(/no Debian main archive.*vendor\.sources/s);
  });
});

describe('missing prerequisites are errors, not skips', () => {
  it('ensureHostTools names the missing tool and its package, and asks for root', async () => {
    vi.spyOn(process, 'getuid').mockReturnValue(1000);
    await expect(ensureHostTools({ 'dlaas-no-such-tool': 'dlaas-no-such-package' })).rejects.toThrow(/dlaas-no-such-tool.*dlaas-no-such-package.*root/s);
  });

  it('ensureXrootdImage refuses to run without root, saying why', async () => {
    vi.spyOn(process, 'getuid').mockReturnValue(1000);
    await expect(ensureXrootdImage()).rejects.toThrow(/must run as root/);
  });
});

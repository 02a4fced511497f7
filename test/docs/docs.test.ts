/**
 * The API reference as a reader opens it: TypeDoc run with the project's typedoc.json (what
 * `npm run docs` runs, into a scratch folder), then docs/api/index.html opened in Chromium (Debian's,
 * through playwright-core). The landing page must name createDataLake first (its first code example
 * and its first link into the reference), and the reference must be grouped by module, not by kind.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, ensureChromium } from '../runtimes/harness.ts';

const root = join(import.meta.dirname, '..', '..');
const GROUPS = ['Data Lake', 'Rucio', 'ESAP', 'Auth', 'Staging', 'Errors', 'Testing', 'Node'];

let work: string;
let out: string;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  ensureChromium();
  work = mkdtempSync(join(tmpdir(), 'dlaas-docs-'));
  out = join(work, 'api');
  await promisify(execFile)(join(root, 'node_modules', '.bin', 'typedoc'), ['--out', out], { cwd: root, maxBuffer: 16 << 20 });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, env: { ...process.env, XDG_CONFIG_HOME: join(work, 'xdg-config'), XDG_CACHE_HOME: join(work, 'xdg-cache') } });
  page = await browser.newPage();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The page's main column: headings, code examples and links in document order. */
const content = (p: Page) =>
  p.evaluate(() => {
    const main = document.querySelector('.col-content')!;
    return {
      headings: [...main.querySelectorAll('h2, h3')].map((h) => h.textContent!.trim()),
      code: [...main.querySelectorAll('pre code')].map((c) => c.textContent!),
      // Links into the reference (not anchors on the page itself, not other sites).
      links: [...main.querySelectorAll<HTMLAnchorElement>('a[href]')].filter((a) => /\/(functions|classes|interfaces|types|variables|modules)\//.test(a.href)).map((a) => a.textContent!.trim()),
    };
  });

describe('the API reference (docs/api)', () => {
  it('opens on createDataLake → staging.stage → staging.upload', async () => {
    await page.goto(pathToFileURL(join(out, 'index.html')).href);
    const { headings, code, links } = await content(page);
    expect(headings[0]).toMatch(/^Start here: createDataLake → staging\.stage → staging\.upload/);
    expect(code[0]).toContain("import { createDataLake } from 'dlaas'");
    const calls = ['createDataLake(', 'lake.staging.stage(', 'lake.staging.upload('].map((c) => code[0]!.indexOf(c));
    expect(calls.every((i) => i >= 0)).toBe(true);
    expect(calls).toEqual([...calls].sort((a, b) => a - b));
    expect(links[0]).toBe('createDataLake');
    // The naming rule is stated once, on the landing page.
    expect(headings).toContain("Naming: the server's names for the server's data");
  });

  it('lists the reference by module, in the order a user needs it', async () => {
    await page.goto(pathToFileURL(join(out, 'index.html')).href);
    const { headings } = await content(page);
    const positions = GROUPS.map((g) => headings.indexOf(g));
    expect(positions.every((i) => i > 0), `headings: ${headings.join(' | ')}`).toBe(true);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    // The sidebar (built by TypeDoc's script) shows the modules by their import paths, not "index".
    await page.waitForFunction(() => (document.querySelector('.site-menu')?.textContent ?? '').includes('dlaas/testing'));
    const menu = await page.textContent('.site-menu');
    expect(menu).toContain('dlaas/node');
    expect(menu).not.toMatch(/\bindex\b/);
  });

  it("groups the dlaas module's page by module, createDataLake first, errors apart", async () => {
    await page.goto(pathToFileURL(join(out, 'modules', 'dlaas.html')).href);
    const { headings, code } = await content(page);
    expect(headings).toEqual(['Data Lake', 'Rucio', 'ESAP', 'Auth', 'Staging', 'Core', 'Errors']);
    expect(code[0]).toContain('createDataLake(');
    const inGroup = (title: string) =>
      page.evaluate((t) => {
        const section = [...document.querySelectorAll('.col-content details.tsd-member-group')].find((s) => s.querySelector('h2')?.textContent?.trim() === t);
        return [...(section?.querySelectorAll('dt.tsd-member-summary .tsd-member-summary-name > a:first-of-type') ?? [])].map((a) => a.textContent!.trim());
      }, title);
    expect(await inGroup('Data Lake')).toContain('createDataLake');
    expect(await inGroup('Rucio')).toContain('RucioClient');
    // Every error class is under Errors, and under Errors only.
    const errors = await inGroup('Errors');
    expect(errors).toEqual(expect.arrayContaining(['DlaasError', 'NotFoundError', 'UploadError', 'ErrorCode']));
    for (const group of ['Data Lake', 'Rucio', 'ESAP', 'Auth', 'Staging', 'Core']) {
      const names = await inGroup(group);
      expect(names.length, group).toBeGreaterThan(0);
      expect(names.filter((n) => /Error$/.test(n)), group).toEqual([]);
    }
  });

  it('has a Testing group for dlaas/testing and a Node group for dlaas/node', async () => {
    for (const [file, group, member] of [
      ['dlaas_testing.html', 'Testing', 'createDataLakeEmulator'],
      ['dlaas_node.html', 'Node', 'createDataLake'],
    ] as const) {
      await page.goto(pathToFileURL(join(out, 'modules', file)).href);
      const { headings } = await content(page);
      expect(headings).toContain(group);
      expect(await page.textContent('.col-content')).toContain(member);
    }
  });
});

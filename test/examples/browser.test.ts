/**
 * The browser examples in Chromium (Debian's, through playwright-core), against the embedded local
 * Data Lake and its OpenID Provider:
 * - examples/esap-frontend: the page ESAP serves next to its API; basket by session cookie, Rucio by
 *   token exchange; a button that replicates a basket item and follows the rule to OK;
 * - examples/browser-extension: the MV3 extension; device login from the popup (approved by the OP as
 *   the user would in a browser), then the basket and the rule states.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RucioClient } from '../../src/index.js';
import { TEST_CLIENTS, freePort } from '../auth/op.ts';
import { CHROMIUM, CHROMIUM_ARGS, ensureChromium, extensionId } from '../runtimes/harness.ts';
import { buildExtension } from '../../examples/browser-extension/build.ts';
import { buildPage, serveEsapFrontend, type EsapFrontend } from '../../examples/esap-frontend/serve.ts';
import { startLocalLake, type LocalLake } from '../../scripts/lib/local-lake.ts';
import { requireBuild } from './helpers.ts';

let work: string;
let lake: LocalLake;
let site: EsapFrontend;
let origin: string;
let extDir: string;

beforeAll(async () => {
  requireBuild();
  ensureChromium();
  work = mkdtempSync(join(tmpdir(), 'dlaas-browser-'));
  // The OP must answer CORS from the page's origin: pick the port first.
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  // ... and from the extension, whose requests carry Origin chrome-extension://<id> (the id comes from its path).
  extDir = join(work, 'extension');
  lake = await startLocalLake({ conveyorMs: 100, corsOrigins: [origin, `chrome-extension://${extensionId(extDir)}`] });
  await buildPage(join(work, 'esap-gui'));
  site = await serveEsapFrontend({
    esapUrl: lake.url,
    outDir: join(work, 'esap-gui'),
    port,
    config: { rucioUrl: lake.url, issuer: lake.issuer, clientId: TEST_CLIENTS.exchange.clientId, targetRse: 'CERN-EOS' },
  });
}, 600_000);

afterAll(async () => {
  await site?.close();
  await lake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const browserEnv = () => ({ ...process.env, XDG_CONFIG_HOME: join(work, 'xdg-config'), XDG_CACHE_HOME: join(work, 'xdg-cache') });

describe('examples/esap-frontend', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, env: browserEnv() });
  });
  afterAll(() => browser?.close());

  it('shows the basket of the ESAP session, with Rucio data by token exchange, and replicates an item', async () => {
    const sid = lake.emulator.esap.createSession('jdoe', { accessToken: lake.token });
    const context = await browser.newContext();
    try {
      await context.addCookies([{ name: 'sessionid', value: sid, url: origin }]);
      const page = await context.newPage();
      await page.goto(`${origin}/esap-gui/`);
      await page.waitForSelector('body[data-ready]');
      expect(await page.textContent('#error')).toBe('');
      expect(await page.textContent('#who')).toBe(`ESAP user jdoe — Rucio account jdoe (token exchanged at ${lake.issuer}) — 3 basket items`);
      const row = page.locator('tr[data-did="lofar:L802012_3C196"]');
      expect(await row.locator('td').allTextContents()).toEqual(['1', 'rucio', 'lofar:L802012_3C196', 'DATASET', '4', 'SARA-DCACHE (4/4)', 'none', 'Replicate to CERN-EOS']);
      expect(await page.locator('tr[data-index="2"] td').nth(2).textContent()).toBe(`${lake.voUrl}/vo/lotss-dr2/3C196_cutout.fits`);

      await row.getByRole('button', { name: 'Replicate to CERN-EOS' }).click();
      await row.locator('td.rules', { hasText: / OK @ CERN-EOS$/ }).waitFor({ timeout: 60_000 });
      expect([...lake.emulator.rucio.fileReplicas()].filter((x) => x.did.scope === 'lofar' && x.rse === 'CERN-EOS' && x.state === 'AVAILABLE')).toHaveLength(4);
      // The tokens were used, never kept in the page.
      const everything = await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.documentElement.outerHTML);
      expect(everything).not.toContain(lake.token);
    } finally {
      await context.close();
    }
  });

  it('without an ESAP session the page says so', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${origin}/esap-gui/`);
      await page.waitForSelector('body[data-ready="error"]');
      expect(await page.textContent('#error')).toMatch(/DLAAS_ESAP_NO_PROFILE|log in/i);
    } finally {
      await context.close();
    }
  });
});

describe('examples/browser-extension', () => {
  let context: BrowserContext;
  beforeAll(async () => {
    await buildExtension(extDir);
    context = await chromium.launchPersistentContext(join(work, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [...CHROMIUM_ARGS, `--disable-extensions-except=${extDir}`, `--load-extension=${extDir}`],
      env: browserEnv(),
    });
  });
  afterAll(() => context?.close());

  it('logs in from the popup (device flow), then shows the basket and the state of its rules', async () => {
    // A rule the user already has on a basket item: the popup shows its state.
    const rucio = new RucioClient({ baseUrl: lake.url, token: lake.token });
    const [rule] = await rucio.rules.create({ dids: [{ scope: 'lofar', name: 'L802012_3C196' }], copies: 1, rse_expression: 'DESY-DCACHE', lifetime: 3600 });
    let [sw] = context.serviceWorkers();
    sw ??= await context.waitForEvent('serviceworker', { timeout: 60_000 });
    const id = new URL(sw.url()).host;
    // Settings, as the options page would store them.
    await sw.evaluate((cfg) => (globalThis as unknown as { chrome: { storage: { local: { set(v: object): Promise<void> } } } }).chrome.storage.local.set({ config: cfg }), { rucioUrl: lake.url, esapUrl: lake.url, issuer: lake.issuer, clientId: lake.clientId });
    const popup = await context.newPage();
    await popup.goto(`chrome-extension://${id}/popup.html`);
    await popup.getByRole('button', { name: 'Log in' }).click();
    await popup.locator('#code', { hasText: /^[A-Z]{4}-[A-Z]{4}$/ }).waitFor({ timeout: 60_000 });
    const code = (await popup.locator('#code').textContent())!.trim();
    expect(code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(await popup.locator('#verify').getAttribute('href')).toContain(`${lake.issuer}/device`);
    await lake.approve(code);
    await popup.locator('#who', { hasText: 'jdoe' }).waitFor({ timeout: 60_000 });
    const row = popup.locator('tr[data-did="lofar:L802012_3C196"]');
    await row.waitFor();
    expect(await row.locator('td.rules').textContent()).toMatch(new RegExp(`${rule!.slice(0, 8)}… (REPLICATING|OK) @ DESY-DCACHE`));
    // The rule progresses (the lake's transfers run); once it is OK, "Refresh" shows it OK.
    await rucio.rules.waitFor(rule!, { pollInterval: 50, maxPollInterval: 200 });
    await popup.getByRole('button', { name: 'Refresh' }).click();
    await row.locator('td.rules', { hasText: `${rule!.slice(0, 8)}… OK @ DESY-DCACHE` }).waitFor({ timeout: 60_000 });
    expect(await popup.locator('tbody tr').count()).toBe(3);
    // The session survives the popup: a new popup shows the basket without logging in again.
    const again = await context.newPage();
    await again.goto(`chrome-extension://${id}/popup.html`);
    await again.locator('tr[data-did="lofar:L802012_3C196"]').waitFor({ timeout: 60_000 });
    expect(await again.locator('#who').textContent()).toContain('jdoe');
  });
});

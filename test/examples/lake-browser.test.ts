/**
 * The browser examples in Chromium against `dlaas lake` (a process of its own, configured only by
 * what it prints and its `--cors-origin` options), as examples/esap-frontend/README.md and the
 * extension's options page say to run them:
 * - the ESAP page: without a session it links to ESAP's login page, which the lake serves (no 404);
 *   logged in there, the page shows the basket and replicates an item to OK;
 * - the MV3 extension: device login from the popup (approved on the OP's pages), then the basket
 *   and the state of the rule the page made.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveDeviceInBrowser, freePort } from '../auth/op.ts';
import { startLakeProcess, stopAllLakes, type LakeProcess } from '../cli/lake-process.ts';
import { CHROMIUM, CHROMIUM_ARGS, ensureChromium, extensionId } from '../runtimes/harness.ts';
import { buildExtension } from '../../examples/browser-extension/build.ts';
import { buildPage, serveEsapFrontend, type EsapFrontend } from '../../examples/esap-frontend/serve.ts';
import { requireBuild } from './helpers.ts';

let work: string;
let lake: LakeProcess;
let site: EsapFrontend;
let origin: string;
let extDir: string;

beforeAll(async () => {
  requireBuild();
  ensureChromium();
  work = mkdtempSync(join(tmpdir(), 'dlaas-lake-browser-'));
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  extDir = join(work, 'extension');
  lake = await startLakeProcess(['--cors-origin', origin, '--cors-origin', `chrome-extension://${extensionId(extDir)}`], work);
  const env = lake.info.env;
  await buildPage(join(work, 'esap-gui'));
  // What `node examples/esap-frontend/serve.ts` does with the lake's environment (and PORT).
  site = await serveEsapFrontend({
    esapUrl: env.ESAP_URL!,
    outDir: join(work, 'esap-gui'),
    port,
    config: { rucioUrl: env.RUCIO_BASE_URL!, issuer: env.OIDC_ISSUER!, clientId: 'esap-gui', targetRse: env.RUCIO_DESTINATION_RSE! },
  });
}, 600_000);

afterAll(async () => {
  await site?.close();
  if (lake) {
    lake.child.kill('SIGINT');
    expect((await lake.done).code).toBe(0);
  }
  stopAllLakes();
  if (work) rmSync(work, { recursive: true, force: true });
});

const browserEnv = () => ({ ...process.env, XDG_CONFIG_HOME: join(work, 'xdg-config'), XDG_CACHE_HOME: join(work, 'xdg-cache') });

describe('examples/esap-frontend against dlaas lake', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, env: browserEnv() });
  });
  afterAll(() => browser?.close());

  it('links to the ESAP login page, logs in there, shows the basket and replicates an item', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${origin}/esap-gui/`);
      await page.waitForSelector('body[data-ready="error"]');
      expect(await page.textContent('#error')).toMatch(/DLAAS_ESAP_NO_PROFILE|log in/i);
      const link = page.getByRole('link', { name: 'Log in to ESAP' });
      expect(await link.isVisible()).toBe(true);
      const [response] = await Promise.all([page.waitForEvent('response', (r) => new URL(r.url()).pathname === '/esap-api/oidc/authenticate/'), link.click()]);
      expect(response.status()).toBe(200);
      await page.getByRole('button', { name: 'Log in as jdoe' }).click();
      await page.waitForURL(`${origin}/esap-gui/`);
      await page.waitForSelector('body[data-ready="true"]');
      expect(await page.textContent('#error')).toBe('');
      expect(await page.textContent('#who')).toBe(`ESAP user jdoe — Rucio account jdoe (token exchanged at ${lake.info.issuer}) — 3 basket items`);
      expect(await page.locator('#login').isVisible()).toBe(false);
      const row = page.locator('tr[data-did="lofar:L802012_3C196"]');
      expect(await row.locator('td').allTextContents()).toEqual(['1', 'rucio', 'lofar:L802012_3C196', 'DATASET', '4', 'SARA-DCACHE (4/4)', 'none', 'Replicate to CERN-EOS']);
      expect(await page.locator('tr[data-index="2"] td').nth(2).textContent()).toBe(`${lake.info.voUrl}/vo/lotss-dr2/3C196_cutout.fits`);
      await row.getByRole('button', { name: 'Replicate to CERN-EOS' }).click();
      await row.locator('td.rules', { hasText: / OK @ CERN-EOS$/ }).waitFor({ timeout: 60_000 });
    } finally {
      await context.close();
    }
  });
});

describe('examples/browser-extension against dlaas lake', () => {
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
    const env = lake.info.env;
    let [sw] = context.serviceWorkers();
    sw ??= await context.waitForEvent('serviceworker', { timeout: 60_000 });
    const id = new URL(sw.url()).host;
    // The settings of the options page, from the lake's environment.
    await sw.evaluate((cfg) => (globalThis as unknown as { chrome: { storage: { local: { set(v: object): Promise<void> } } } }).chrome.storage.local.set({ config: cfg }), { rucioUrl: env.RUCIO_BASE_URL, esapUrl: env.ESAP_URL, issuer: env.OIDC_ISSUER, clientId: env.OIDC_CLIENT_ID });
    const popup = await context.newPage();
    await popup.goto(`chrome-extension://${id}/popup.html`);
    await popup.getByRole('button', { name: 'Log in' }).click();
    await popup.locator('#code', { hasText: /^[A-Z]{4}-[A-Z]{4}$/ }).waitFor({ timeout: 60_000 });
    const code = (await popup.locator('#code').textContent())!.trim();
    expect(await popup.locator('#verify').getAttribute('href')).toContain(`${env.OIDC_ISSUER}/device`);
    await approveDeviceInBrowser(`${env.OIDC_ISSUER}/device?user_code=${code}`, 'jdoe');
    await popup.locator('#who', { hasText: 'jdoe' }).waitFor({ timeout: 60_000 });
    const row = popup.locator('tr[data-did="lofar:L802012_3C196"]');
    await row.waitFor();
    // The rule the ESAP page made.
    expect(await row.locator('td.rules').textContent()).toMatch(/[0-9a-f]{8}… OK @ CERN-EOS/);
    expect(await popup.locator('tbody tr').count()).toBe(3);
  });
});

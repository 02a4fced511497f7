/**
 * Build the ESAP frontend example page and serve it the way ESAP is deployed: the page under
 * `/esap-gui/` and the ESAP API proxied under `/esap-api/` on the same origin (so the session cookie
 * is ESAP's), Rucio and the identity provider on their own origins.
 *
 *   npx node examples/esap-frontend/serve.ts
 *
 * Environment: ESAP_URL (the ESAP API to proxy to), RUCIO_BASE_URL, OIDC_ISSUER, ESAP_GUI_CLIENT_ID
 * (default esap-gui: a client allowed to exchange tokens), RUCIO_DESTINATION_RSE (the "replicate" target).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { build } from 'esbuild';
import { isMain } from '../lib/console.ts';
import type { EsapDataLakeConfig } from './dlaas-esap.ts';

const here = import.meta.dirname;

/** Bundle page.ts (and dlaas) for browsers into `outDir`, with index.html. */
export async function buildPage(outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  await build({ entryPoints: [join(here, 'page.ts')], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', outfile: join(outDir, 'page.js'), sourcemap: true, logLevel: 'error' });
  await writeFile(join(outDir, 'index.html'), await readFile(join(here, 'index.html')));
}

/** A running ESAP origin. */
export interface EsapFrontend {
  /** The origin (`http://127.0.0.1:<port>`); the page is at `${url}/esap-gui/`. */
  url: string;
  close(): Promise<void>;
}

const FORWARD = ['accept', 'authorization', 'content-type', 'cookie', 'x-csrftoken', 'x-requested-with'];

async function body(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? Buffer.concat(chunks) : undefined;
}

/** Serve the built page at `/esap-gui/` and proxy `/esap-api/` to `esapUrl` (loopback only). */
export async function serveEsapFrontend(options: { esapUrl: string; config: EsapDataLakeConfig; outDir: string; port?: number }): Promise<EsapFrontend> {
  const files: Record<string, [string, string]> = {
    '/esap-gui/': ['index.html', 'text/html; charset=utf-8'],
    '/esap-gui/index.html': ['index.html', 'text/html; charset=utf-8'],
    '/esap-gui/page.js': ['page.js', 'text/javascript'],
    '/esap-gui/page.js.map': ['page.js.map', 'application/json'],
  };
  const upstream = options.esapUrl.replace(/\/+$/, '');
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://esap.invalid');
    if (url.pathname === '/esap-gui') return void res.writeHead(301, { location: '/esap-gui/' }).end();
    if (url.pathname === '/esap-gui/config.json') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(options.config));
    const file = files[url.pathname];
    if (file) return void res.writeHead(200, { 'content-type': file[1] }).end(await readFile(join(options.outDir, file[0])));
    if (url.pathname.startsWith('/esap-api/')) {
      const headers: Record<string, string> = {};
      for (const h of FORWARD) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
      const payload = req.method === 'GET' || req.method === 'HEAD' ? undefined : await body(req);
      const up = await fetch(`${upstream}${url.pathname}${url.search}`, { method: req.method ?? 'GET', headers, ...(payload ? { body: new Uint8Array(payload) } : {}), redirect: 'manual' });
      const out: Record<string, string | string[]> = {};
      for (const h of ['content-type', 'location', 'www-authenticate']) {
        const v = up.headers.get(h);
        if (v !== null) out[h] = v;
      }
      const cookies = up.headers.getSetCookie();
      if (cookies.length) out['set-cookie'] = cookies;
      return void res.writeHead(up.status, out).end(Buffer.from(await up.arrayBuffer()));
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`proxy error: ${error instanceof Error ? error.message : String(error)}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

if (isMain(import.meta)) {
  const env = process.env;
  const missing = ['ESAP_URL', 'RUCIO_BASE_URL', 'OIDC_ISSUER'].filter((k) => !env[k]);
  if (missing.length) {
    console.error(`Set ${missing.join(', ')}`);
    process.exit(2);
  }
  const outDir = join(here, 'dist');
  await buildPage(outDir);
  const site = await serveEsapFrontend({
    esapUrl: env.ESAP_URL!,
    outDir,
    port: Number(env.PORT ?? 0),
    config: { rucioUrl: env.RUCIO_BASE_URL!, issuer: env.OIDC_ISSUER!, clientId: env.ESAP_GUI_CLIENT_ID ?? 'esap-gui', ...(env.RUCIO_DESTINATION_RSE ? { targetRse: env.RUCIO_DESTINATION_RSE } : {}) },
  });
  console.log(`ESAP frontend example at ${site.url}/esap-gui/ (log in to ESAP on this origin first: the page uses ESAP's session cookie)`);
}

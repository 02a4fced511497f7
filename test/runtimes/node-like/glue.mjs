// Glue for the runtimes with a filesystem (Node, Deno, Bun): read the harness's config file, run the
// shared scenario with `fileSink` from `dlaas/node`, print one JSON line, exit 0 or 1.
import { readFile } from 'node:fs/promises';
import process from 'node:process';
import { runScenario } from './scenario.mjs';

function runtimeName() {
  if (globalThis.Deno) return `deno ${globalThis.Deno.version.deno}`;
  if (globalThis.Bun) return `bun ${globalThis.Bun.version}`;
  return `node ${process.version}`;
}

function print(line) {
  return new Promise((resolve) => process.stdout.write(`${line}\n`, () => resolve()));
}

/**
 * @param {{ dlaas: any, node: { fileSink: (dir: string) => any, fileStore: (path: string) => any }, entry: string }} loaded
 *   What the runner imported (`dlaas` and `dlaas/node`), and how.
 */
export async function main({ dlaas, node, entry }) {
  const runtime = runtimeName();
  let code = 0;
  try {
    const config = JSON.parse(await readFile(process.argv[2], 'utf8'));
    const result = await runScenario({
      ...config.scenario,
      dlaas,
      oidc: {
        ...config.scenario.oidc,
        // A CLI's token store: a 0600 JSON file.
        store: node.fileStore(config.tokenFile),
        // The user's browser: the harness follows the authorization URL through the OP's login and consent.
        authorize: async (url) => {
          const res = await fetch(config.browseUrl, { method: 'POST', body: url });
          if (!res.ok) throw new Error(`browse: ${res.status} ${await res.text()}`);
          return res.text();
        },
      },
      sink: node.fileSink(config.sinkDir),
      read: async (location) => new Uint8Array(await readFile(location.path)),
    });
    await print(JSON.stringify({ ...result, runtime, entry, version: dlaas.VERSION }));
  } catch (error) {
    code = 1;
    await print(JSON.stringify({ ok: false, runtime, entry, error: String(error?.message ?? error), stack: String(error?.stack ?? '') }));
  }
  process.exit(code);
}

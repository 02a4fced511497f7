/**
 * `npm run demo`: the whole mission in one command.
 *
 * Without RUCIO_BASE_URL in the environment it starts the embedded local Data Lake (Rucio + ESAP +
 * storage + an OpenID Provider, on 127.0.0.1 only) and runs the LOFAR use case
 * (examples/lofar-image-roundtrip.ts) against it through the public SDK, exactly as against the real
 * ESCAPE services. With RUCIO_BASE_URL (and ESAP_URL, OIDC_ISSUER or a token, RUCIO_DESTINATION_RSE,
 * …) set, it runs the same code against those services instead.
 *
 * Options: --out DIR (where the image is written; default $TMPDIR/dlaas-demo).
 * Exit status: 0 when every step succeeded, 1 when one failed, 2 for a bad option.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DlaasError, VERSION, formatDid } from 'dlaas';
import { formatBytes, table } from '../examples/lib/console.ts';
import { lofarImageRoundtrip } from '../examples/lofar-image-roundtrip.ts';
import { RSES, startLocalLake, type LocalLake } from './lib/local-lake.ts';

const USAGE = 'usage: npm run demo [-- --out DIR]\n\nRuns the LOFAR use case against the embedded local Data Lake, or against the services named by RUCIO_BASE_URL, ESAP_URL, OIDC_ISSUER, ….';
let values: { out?: string | undefined; help?: boolean | undefined };
try {
  ({ values } = parseArgs({ options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const workDir = values.out ?? join(tmpdir(), 'dlaas-demo');
const real = Boolean(process.env.RUCIO_BASE_URL);

console.log(`dlaas ${VERSION} demo — the DAC21 LOFAR use case: ESAP basket → Data Lake → compute → image → Data Lake`);
let lake: LocalLake | undefined;
let status = 0;
try {
  if (real) {
    console.log(`\nAgainst the Data Lake of your environment: Rucio ${process.env.RUCIO_BASE_URL}, ESAP ${process.env.ESAP_URL ?? '(ESAP_URL not set)'}`);
    await lofarImageRoundtrip({ workDir });
  } else {
    lake = await startLocalLake();
    const env = lake.env();
    console.log('\nEmbedded local Data Lake (127.0.0.1 only; set RUCIO_BASE_URL & co. to use real services)');
    console.log(
      table([
        ['service', 'where'],
        ['Rucio', lake.url],
        ['ESAP', `${lake.url}/esap-api/`],
        ['OpenID Provider', lake.issuer],
        ['storage (WebDAV)', `${lake.url}/storage/<rse>/ for ${RSES.join(', ')}`],
        ['compute site', `${lake.computeRse}, mounted at ${lake.mountDir}`],
        ['VO archive', lake.voUrl],
      ]).join('\n'),
    );
    console.log(`\n  Datasets`);
    console.log(table([['DID', 'at', 'files', 'size', 'what'], ...lake.datasets.map((d) => [formatDid(d), d.rse, d.files.length, formatBytes(d.files.reduce((n, f) => n + (typeof f.content === 'string' ? new TextEncoder().encode(f.content).length : f.content.length), 0)), d.title])]).join('\n'));
    console.log(`\n  The user is ${lake.account}; the environment a notebook of theirs would have:`);
    for (const k of ['RUCIO_BASE_URL', 'ESAP_URL', 'OIDC_ISSUER', 'OIDC_CLIENT_ID', 'RUCIO_DESTINATION_RSE', 'RUCIO_MODE', 'RUCIO_RSE_MOUNT_PATH', 'RUCIO_PATH_BEGINS_AT']) console.log(`    ${k}=${env[k]}`);
    const local = lake;
    await lofarImageRoundtrip({
      env,
      workDir,
      pollInterval: 300,
      afterPrompt: async (p) => {
        console.log(`  (demo: the embedded OpenID Provider approves ${p.userCode} as ${local.account}, as you would in the browser)`);
        await local.approve(p.userCode);
      },
    });
  }
  console.log(`\n✓ Demo complete. The image is in ${workDir}; next: examples/README.md, and the CLI: node dist/cli.js --help ("dlaas" once the package is installed).`);
} catch (error) {
  status = 1;
  console.error(`\n✗ Demo failed: ${error instanceof DlaasError ? `${error.code}: ${error.message}` : error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await lake?.close();
}
process.exit(status);

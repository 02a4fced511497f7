/**
 * What a Deno user (or notebook) writes, for `deno check` in the scratch project. Kept as text
 * because their `npm:` specifiers mean nothing to the repository's own `tsc`.
 */

/** Must type-check against the package's `.d.ts` through `npm:` specifiers. */
export const DENO_EXAMPLE = `// A Deno notebook's code, typed against the package's .d.ts.
import { createDataLake, OidcClient, staticToken, type DataLake, type StageResult } from 'npm:dlaas';
import { fileSink } from 'npm:dlaas/node';

export async function stageBasket(url: string, token: string): Promise<StageResult> {
  const lake: DataLake = createDataLake({
    rucio: { baseUrl: url, account: 'jdoe' },
    esap: { baseUrl: url },
    auth: { token: staticToken(token) },
  });
  const iam = new OidcClient({ issuer: 'https://iam-escape.cloud.cnaf.infn.it/', clientId: 'notebook' });
  const { url: login } = await iam.createAuthorizationRequest({ redirectUri: 'http://127.0.0.1:8400/callback' });
  console.log(\`open \${login.href}\`);
  const dids = await lake.esap.basket.dids();
  const names: string[] = dids.map((d) => \`\${d.scope}:\${d.name}\`);
  console.log(names.join('\\n'));
  return lake.staging.stage(dids, { mode: 'download', sink: fileSink('./data') });
}
`;

/** Must NOT type-check: proves that `deno check` sees the package's real types (not \`any\`). */
export const DENO_BAD_EXAMPLE = `// Must NOT type-check: proves \`deno check\` sees the package's real types (not \`any\`).
import { createDataLake } from 'npm:dlaas';

const lake = createDataLake({ rucio: { baseUrl: 'https://rucio.example.org' } });
export const wrong: number = lake.rucio.accounts.whoami();
`;

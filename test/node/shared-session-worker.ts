/**
 * A child process of `shared-session.test.ts`: restores the OIDC session of the device client from
 * a file store another process shares, says `ready` (a line on stderr), waits for the test's `go`
 * (a line on stdin, sent once every worker is ready: a common start that no start-up delay can
 * spoil), then refreshes it `rounds` times and prints the access tokens it got (JSON on stdout). Any
 * failure exits non-zero.
 *
 * Run by Node 24 directly: its type stripping runs the sources as they are, and the hook below
 * resolves their `./x.js` imports to the `./x.ts` files.
 *
 * Usage: node shared-session-worker.ts <issuer> <store path> <rounds>
 */
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (specifier.startsWith('.') && specifier.endsWith('.js')) return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      throw error;
    }
  },
});

const [issuer = '', storePath = '', rounds = '0'] = process.argv.slice(2);
const { OidcClient } = await import('../../src/auth/oidc/client.ts');
const { fileStore } = await import('../../src/node/file-store.ts');

const client = new OidcClient({ issuer, clientId: 'dlaas-cli', allowInsecureLoopback: true, store: fileStore(storePath) });
const session = await client.restoreSession();
if (!session) throw new Error('no stored session to restore');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
process.stderr.write('ready\n');
await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
process.stdin.destroy();
const tokens: string[] = [];
for (let i = 0; i < Number(rounds); i++) {
  tokens.push(await session.refresh());
  await sleep(Math.random() * 10);
}
process.stdout.write(JSON.stringify({ tokens }));

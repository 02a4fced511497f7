/**
 * Connect to the Data Lake the environment names, the way every example does: the token the hub
 * provides (RUCIO_ACCESS_TOKEN, the hub's token file, …), or — on a laptop, with OIDC_ISSUER and
 * OIDC_CLIENT_ID set and no token — an OIDC device login whose code is printed for you to enter.
 * @module
 */
import { OidcClient, type Account, type DevicePrompt, type OidcSession } from 'dlaas';
import { createDataLake, type ConfiguredDataLake } from 'dlaas/node';
import type { Out } from './console.ts';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** The environment (default `process.env`). */
  env?: Record<string, string | undefined>;
  out?: Out;
  /** Called after the login code is shown (the demo and the tests approve it there). */
  afterPrompt?: (prompt: DevicePrompt) => void | Promise<void>;
  /** Where download mode writes (default `$DLAAS_DOWNLOAD_DIR`, else `./dlaas-data`). */
  downloadDir?: string;
}

/** A connected Data Lake. */
export interface Connection {
  lake: ConfiguredDataLake;
  /** The Rucio account (`whoami`). */
  me: Account;
  /** The OIDC session, when the example logged in itself. */
  session: OidcSession | undefined;
}

/** Log in if needed, build the SDK from the environment, and ask Rucio who we are. */
export async function connect(options: ConnectOptions = {}): Promise<Connection> {
  const env = options.env ?? process.env;
  const out = options.out ?? ((line: string) => console.log(line));
  let session: OidcSession | undefined;
  if (env.OIDC_ISSUER && !env.RUCIO_ACCESS_TOKEN) {
    const iam = new OidcClient({ issuer: env.OIDC_ISSUER, clientId: env.OIDC_CLIENT_ID ?? 'dlaas-cli', allowInsecureLoopback: true });
    out(`  OIDC device login at ${env.OIDC_ISSUER}`);
    session = await iam.deviceLogin({
      // Rucio accepts tokens with audience rucio and scope ⊇ "openid profile" (ESCAPE IAM issues them so).
      scope: env.OIDC_SCOPE ?? 'openid profile offline_access wlcg.groups',
      audience: env.OIDC_AUDIENCE ?? 'rucio',
      onPrompt: async (p) => {
        out(`  To sign in, open ${p.verificationUri} and enter the code  ${p.userCode}`);
        out(`  (or open ${p.verificationUriComplete ?? p.verificationUri}; the code expires at ${p.expiresAt.toISOString().slice(11, 19)} UTC)`);
        await options.afterPrompt?.(p);
      },
    });
  }
  const lake = await createDataLake({
    env,
    ...(options.downloadDir ? { downloadDir: options.downloadDir } : {}),
    ...(session ? { auth: { token: session, source: `OIDC device login at ${session.issuer}` } } : {}),
  });
  const me = await lake.rucio.accounts.whoami();
  const exp = session?.claims()?.exp;
  out(`  ✓ ${me.account}${me.email ? ` <${me.email}>` : ''} at ${lake.config.rucio.baseUrl} — token from ${lake.auth.source ?? 'the environment'}${exp ? `, valid until ${exp.toISOString().slice(11, 19)} UTC` : ''}`);
  return { lake, me, session };
}

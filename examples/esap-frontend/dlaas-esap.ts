/**
 * How the ESAP frontend embeds dlaas. ESAP's GUI is served from the same origin as its API (nginx:
 * `/esap-gui/` and `/esap-api/`), and the user is logged in to ESAP with a session cookie. So:
 *
 * - the basket is read with the session cookie (`credentials: 'include'`): no token in the page;
 * - ESAP's profile carries the user's IAM access token (what the GUI's "show token" button shows);
 *   the page exchanges it at the identity provider (RFC 8693) for a token meant for Rucio, and talks
 *   to Rucio (another origin, CORS) with that.
 *
 * Framework-free: a React component calls {@link connectFromEsapSession} in an effect and renders
 * what it returns (see README.md).
 * @module
 */
import { EsapClient, OidcClient, RucioClient, formatDid, type Basket, type Did, type OidcSession, type Rule } from 'dlaas';

/** Where things are. */
export interface EsapDataLakeConfig {
  /** ESAP's origin (default: the page's own, as the GUI is served by ESAP). */
  esapUrl?: string;
  /** The Rucio server, e.g. `https://vre-rucio.cern.ch`. */
  rucioUrl: string;
  /** The identity provider ESAP logs users in with (ESCAPE IAM: `https://iam-escape.cloud.cnaf.infn.it/`). */
  issuer: string;
  /** The client registered at the provider for token exchange. */
  clientId: string;
  /** The RSE the "replicate" button places data on. */
  targetRse?: string;
}

/** The SDK, connected for the user of the ESAP session. */
export interface EsapDataLake {
  esap: EsapClient;
  rucio: RucioClient;
  /** The basket as read (secret-free: its tokens were used, not kept). */
  basket: Basket;
  /** The Rucio account of the exchanged token. */
  account: string;
  /** The Rucio token session (renews itself by exchanging again). */
  session: OidcSession;
}

/** A Rucio item of the basket, with where its files are and the rules on it. */
export interface BasketRow {
  did: Did;
  type: string;
  files: number;
  bytes: number;
  /** RSE → files AVAILABLE there. */
  replicas: Record<string, number>;
  rules: Pick<Rule, 'id' | 'state' | 'rse_expression' | 'account'>[];
}

/** Read the basket with the ESAP session, and get a Rucio client by token exchange. */
export async function connectFromEsapSession(config: EsapDataLakeConfig): Promise<EsapDataLake> {
  const esap = new EsapClient({ baseUrl: config.esapUrl ?? location.origin, credentials: 'include' });
  const withTokens = await esap.basket.get({ includeTokens: true });
  const subject = withTokens.tokens?.accessToken;
  if (!subject) throw new Error('ESAP holds no access token for this session: log in to ESAP again');
  // `allowInsecureLoopback` lets the local test provider on http://127.0.0.1 through; https is required otherwise.
  const iam = new OidcClient({ issuer: config.issuer, clientId: config.clientId, allowInsecureLoopback: true });
  const session = await iam.exchangeToken(subject, { audience: 'rucio', scope: 'openid profile' });
  const rucio = new RucioClient({ baseUrl: config.rucioUrl, token: session });
  const { account } = await rucio.accounts.whoami();
  return { esap, rucio, basket: await esap.basket.get(), account, session };
}

/** What the page shows for each Rucio item of the basket. */
export async function basketRows(lake: EsapDataLake): Promise<BasketRow[]> {
  return Promise.all(
    lake.basket.dids().map(async (did) => {
      const info = await lake.rucio.dids.get(did);
      const files = await lake.rucio.dids.files(did).toArray();
      const replicas: Record<string, number> = {};
      for await (const rep of lake.rucio.replicas.list(files)) for (const [rse, state] of Object.entries(rep.states ?? {})) if (state === 'AVAILABLE') replicas[rse] = (replicas[rse] ?? 0) + 1;
      const rules = (await lake.rucio.dids.rules(did).toArray()).map((r) => ({ id: r.id, state: r.state, rse_expression: r.rse_expression, account: r.account }));
      return { did, type: info.type, files: files.length, bytes: files.reduce((n, f) => n + Number(f.bytes), 0), replicas, rules };
    }),
  );
}

/** Ask for a copy of a basket item on an RSE (one rule, a day), and follow it. */
export async function replicate(lake: EsapDataLake, did: Did, rse: string, onState: (state: string, ok: number, total: number) => void): Promise<Rule> {
  const [id] = await lake.rucio.rules.create({ dids: [did], copies: 1, rse_expression: rse, lifetime: 86_400, comment: `ESAP basket: ${formatDid(did)}` });
  return lake.rucio.rules.waitFor(id!, { pollInterval: 500, maxPollInterval: 5_000, onProgress: (p) => onState(p.state, p.ok, p.total) });
}

/**
 * The token issuer of a test storage element: a tiny Node HTTPS server on 127.0.0.1 serving
 * `/.well-known/openid-configuration` and `/jwks` for a {@link WlcgTokenIssuer}. It must be HTTPS
 * (scitokens-cpp refuses other issuers) with a certificate xrootd trusts (the image's test CA).
 */
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createWlcgTokenIssuer, type WlcgTokenIssuer } from '../../../src/testing/storage/tokens.js';

export interface RunningIssuer extends WlcgTokenIssuer {
  /** How many times each document was fetched (scitokens-cpp caches them). */
  readonly hits: Record<string, number>;
  close(): Promise<void>;
}

export async function startIssuer(tls: { key: string; cert: string }, audience: string): Promise<RunningIssuer> {
  const hits: Record<string, number> = {};
  const body = { oidc: '', jwks: '' }; // filled once the port (hence the issuer URL) is known
  const server = createServer(tls, (req, res) => {
    const path = (req.url ?? '').split('?')[0] ?? '';
    hits[path] = (hits[path] ?? 0) + 1;
    const doc = path === '/.well-known/openid-configuration' ? body.oidc : path === '/jwks' ? body.jwks : undefined;
    if (doc === undefined) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=600' }).end(doc);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const issuer = await createWlcgTokenIssuer({ issuer: `https://localhost:${port}`, audience });
  body.oidc = JSON.stringify(issuer.openidConfiguration);
  body.jwks = JSON.stringify(issuer.jwks);
  return Object.assign(issuer, {
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  });
}

/**
 * @module
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AbortError, InvalidArgumentError } from '../core/errors.js';
import { OAuthError } from '../auth/errors.js';
import type { AuthorizationRequestOptions, OidcClient } from '../auth/oidc/client.js';
import type { OidcSession } from '../auth/oidc/session.js';

/**
 * Options of {@link loopbackLogin}.
 *
 * @example
 * ```ts
 * const session = await loopbackLogin(iam, { port: 8400, openBrowser: (url) => execFile('xdg-open', [url.href]) });
 * ```
 */
export interface LoopbackLoginOptions extends Omit<AuthorizationRequestOptions, 'redirectUri'> {
  /** Open the authorization URL in the user's browser (default: print it to stderr). */
  openBrowser?: ((url: URL) => void | Promise<void>) | undefined;
  /** Port on 127.0.0.1 (default: a free one; register `http://127.0.0.1/callback` for a native client). */
  port?: number | undefined;
  /** Redirect path (default `/callback`). */
  path?: string | undefined;
  /** Give up after this many ms (default 300 000). */
  timeout?: number | undefined;
}

const DONE_PAGE = '<!doctype html><meta charset="utf-8"><title>dlaas login</title><p>Login received. You can close this window and return to the application.</p>';

/**
 * Authorization code + PKCE login for Node CLIs (RFC 8252): a redirect listener on 127.0.0.1
 * receives the code; only a request carrying this login's `state` is taken. The listener is
 * closed when done, on timeout and on abort.
 *
 * @example
 * ```ts
 * import { loopbackLogin } from 'dlaas/node';
 * const session = await loopbackLogin(iam, { openBrowser: (url) => console.log(`Open ${url}`) });
 * ```
 */
export async function loopbackLogin(client: OidcClient, options: LoopbackLoginOptions = {}): Promise<OidcSession> {
  const path = options.path ?? '/callback';
  if (!path.startsWith('/')) throw new InvalidArgumentError('path', 'the redirect path must start with "/"');
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const redirectUri = `http://127.0.0.1:${port}${path}`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const request = await client.createAuthorizationRequest({ ...options, redirectUri });
    const callback = new Promise<string>((resolve, reject) => {
      server.on('request', (req, res) => {
        const url = new URL(req.url ?? '/', redirectUri);
        if (req.method !== 'GET' || url.pathname !== path || url.searchParams.get('state') !== request.state) {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(DONE_PAGE);
        resolve(url.href);
      });
      timer = setTimeout(() => reject(new OAuthError('access_denied', 'the login was not completed in time', undefined, 'OIDC loopback login')), options.timeout ?? 300_000);
      onAbort = () => reject(new AbortError('Loopback login aborted', { cause: options.signal?.reason }));
      if (options.signal?.aborted) onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
    });
    callback.catch(() => {});
    await (options.openBrowser ?? printUrl)(request.url);
    return await client.completeAuthorization(await callback, { signal: options.signal });
  } finally {
    clearTimeout(timer);
    if (onAbort) options.signal?.removeEventListener('abort', onAbort);
    server.close();
    server.closeAllConnections();
  }
}

function printUrl(url: URL): void {
  process.stderr.write(`Open this URL in your browser to log in:\n\n  ${url.href}\n\n`);
}

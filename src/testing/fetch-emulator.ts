/**
 * The transport half every emulator shares: a fetch-style `handle`, reachable through an injected
 * `fetch`, msw handlers, or a loopback HTTP server (loaded lazily, so browser bundles never pull
 * `node:http`).
 * @module
 */
// `msw/http`, not `msw`: the `msw` index also loads its WebSocket support, whose module-level
// BroadcastChannel is unref'd only on Node and would keep a Deno program importing dlaas/testing alive.
import { http } from 'msw/http';
import type { RequestHandler } from 'msw';
import type { FetchServer } from './http-server.js';

/**
 * How tests reach an emulator: web-standard `handle`, an injected `fetch`, msw handlers, or a real
 * HTTP server on 127.0.0.1.
 *
 * @example
 * ```ts
 * const url = await emulator.listen(); // http://127.0.0.1:<port>
 * await fetch(`${url}/ping`);
 * await emulator.close();
 * ```
 */
export interface FetchEmulatorApi {
  /** Base URL served by {@link handlers} and the injected `fetch`. */
  readonly baseUrl: string;
  /** Answer one request (web-standard `Request`/`Response`; runs in any runtime). */
  handle(request: Request): Promise<Response>;
  /** A `fetch` that routes every request to {@link handle} (relative URLs resolve against `baseUrl`). */
  readonly fetch: typeof fetch;
  /** msw handlers for `baseUrl`, delegating to {@link handle}. */
  handlers(): RequestHandler[];
  /** Start a real HTTP server (Node; default 127.0.0.1 and a free port) and return its base URL. */
  listen(options?: { port?: number; host?: string }): Promise<string>;
  /** Stop the HTTP server, if any, and whatever the emulator runs in the background. */
  close(): Promise<void>;
  /** Base URL of the running HTTP server, if {@link listen} was called. */
  readonly url: string | undefined;
}

/** Base class implementing {@link FetchEmulatorApi} around an abstract `handle`. */
export abstract class FetchEmulator implements FetchEmulatorApi {
  readonly baseUrl: string;
  readonly fetch: typeof fetch;
  private server: FetchServer | undefined;

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
      const request = typeof input === 'string' || input instanceof URL ? new Request(new URL(input, `${this.baseUrl}/`), init) : new Request(input, init);
      return this.handle(request);
    }) as typeof fetch;
  }

  abstract handle(request: Request): Promise<Response>;

  get url(): string | undefined {
    return this.server?.url;
  }

  handlers(): RequestHandler[] {
    return [http.all(`${this.baseUrl}/*`, ({ request }) => this.handle(request))];
  }

  async listen(options: { port?: number; host?: string } = {}): Promise<string> {
    if (this.server) return this.server.url;
    const { serveFetch } = await import('./http-server.js');
    this.server = await serveFetch((request) => this.handle(request), options);
    return this.server.url;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.close();
  }
}

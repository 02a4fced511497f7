/**
 * Serve a fetch-style handler (`(Request) => Promise<Response>`) over real HTTP with `node:http`,
 * for tests that need a socket (other runtimes' clients, curl, a browser). Response bodies are
 * streamed with backpressure: the handler's `ReadableStream` is read only as fast as the socket
 * drains, so a million-line NDJSON listing never sits in memory.
 *
 * Node only; the emulators import it lazily from `listen()`.
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Readable } from 'node:stream';

/** A fetch-style request handler. */
export type FetchHandler = (request: Request) => Promise<Response>;

/** A running server. */
export interface FetchServer {
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Stop accepting connections and drop open ones. */
  close(): Promise<void>;
}

/** Where to listen (default 127.0.0.1, a free port). */
export interface ListenOptions {
  port?: number;
  host?: string;
}

function toRequest(req: IncomingMessage, base: string): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const init: RequestInit & { duplex?: 'half' } = { method, headers };
  if (hasBody) {
    init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
    init.duplex = 'half';
  }
  return new Request(new URL(req.url ?? '/', base), init);
}

async function send(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    headers[name] = name === 'set-cookie' ? response.headers.getSetCookie() : value;
  });
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  let aborted = false;
  res.on('close', () => {
    if (!res.writableFinished) {
      aborted = true;
      void reader.cancel().catch(() => undefined);
    }
  });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || aborted) break;
      if (!res.write(value)) await once(res, 'drain');
    }
  } catch {
    aborted = true;
  }
  if (aborted) res.destroy();
  else res.end();
}

/**
 * Listen on `host:port` (default `127.0.0.1:0`, i.e. a free port) and answer every request with
 * `handler`. A handler that throws gets a plain 500.
 *
 * @example
 * ```ts
 * const server = await serveFetch(async () => new Response('hi'));
 * await fetch(server.url); // 'hi'
 * await server.close();
 * ```
 */
export async function serveFetch(handler: FetchHandler, options: ListenOptions = {}): Promise<FetchServer> {
  const host = options.host ?? '127.0.0.1';
  let base = '';
  const server = createServer((req, res) => {
    handler(toRequest(req, base))
      .then((response) => send(response, res))
      .catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(String(error));
      });
  });
  server.listen(options.port ?? 0, host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url: base,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

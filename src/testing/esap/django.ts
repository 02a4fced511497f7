/**
 * How ESAP's Django stack frames answers, with the header sets of the recorded transcripts:
 * DRF responses (`Vary: Accept, Cookie, Origin`, `Allow`, security headers), Django's own pages
 * (technical 500/404 with `DEBUG=True`, `Content-Type: text/html` without charset), CommonMiddleware's
 * `APPEND_SLASH` answers (only the headers of the middleware outside it: `Vary: Origin`), mozilla-django-oidc's
 * session-refresh answers, and django-cors-headers (any `Origin` reflected, with credentials; preflights
 * answered first).
 *
 * Web-standard APIs only.
 * @module
 */
import { drfJson } from './python.js';

/**
 * Which layer produced an answer (decides the header set): a DRF view, Django's handler (pages for
 * exceptions raised inside the middleware stack), CommonMiddleware (its `APPEND_SLASH` redirect, or
 * an exception it raised: only the middleware outside it adds headers), the session refresh, or a
 * CORS preflight.
 */
export type ReplyKind = 'drf' | 'django' | 'common' | 'refresh' | 'preflight';

/** An answer before the middleware headers are added. */
export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly contentType: string | null;
  readonly kind: ReplyKind;
  /** Headers of the view (`Allow`, `WWW-Authenticate`, `Location`, `refresh_url`, `Set-Cookie`). */
  readonly headers?: readonly (readonly [string, string])[];
  /**
   * No `Content-Length` (an exception that escaped CommonMiddleware, whose `process_response` sets it):
   * the development server then ends the body by closing the connection (`Connection: close`).
   */
  readonly unframed?: boolean;
}

export const JSON_TYPE = 'application/json';
export const HTML = 'text/html; charset=utf-8';
/** Django's error pages (technical 404/500, and the plain ones without templates) say `text/html`, no charset. */
export const HTML_PAGE = 'text/html';
export const TEXT = 'text/plain; charset=utf-8';

/** Allowed methods of list routes and detail routes (DRF `Allow`). */
export const LIST_ALLOW = 'GET, POST, HEAD, OPTIONS';
export const DETAIL_ALLOW = 'GET, PUT, PATCH, DELETE, HEAD, OPTIONS';

const CORS_HEADERS = 'accept, accept-encoding, authorization, content-type, dnt, origin, user-agent, x-csrftoken, x-requested-with';
const CORS_METHODS = 'DELETE, GET, OPTIONS, PATCH, POST, PUT';
const encoder = new TextEncoder();

/** A DRF JSON answer. */
export function drf(status: number, data: unknown, allow: string, extra: readonly (readonly [string, string])[] = []): Reply {
  const body = status === 204 || data === undefined ? '' : drfJson(data);
  return { status, body, contentType: body ? JSON_TYPE : null, kind: 'drf', headers: [...extra, ['Allow', allow]] };
}

/** DRF's `{"detail": …}` error. */
export function detail(status: number, message: string, allow: string, extra: readonly (readonly [string, string])[] = []): Reply {
  return drf(status, { detail: message }, allow, extra);
}

/** django-cors-headers' early answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`). */
export function isPreflight(request: Request): boolean {
  return request.method === 'OPTIONS' && request.headers.has('Access-Control-Request-Method');
}

/** `request.accepts('text/html')` (Django 3.2: any matching media range; no header accepts all). */
function acceptsHtml(request: Request): boolean {
  const accept = request.headers.get('Accept');
  if (!accept) return true;
  return accept.split(',').some((part) => {
    const type = (part.split(';')[0] ?? '').trim().toLowerCase();
    return type === 'text/html' || type === 'text/*' || type === '*/*';
  });
}

/**
 * Django's answer to an unhandled exception: the technical 500 report with `DEBUG`, else the plain page.
 * `kind` `common` for an exception CommonMiddleware raised (no `Content-Length`, fewer headers).
 */
export function serverError(request: Request, exceptionType: string, exceptionValue: string, debug: boolean, kind: 'django' | 'common' = 'django'): Reply {
  const url = new URL(request.url);
  const frame = kind === 'common' ? ({ kind, unframed: true } as const) : ({ kind } as const);
  if (!debug) return { status: 500, body: '\n<!doctype html>\n<html lang="en">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n', contentType: HTML_PAGE, ...frame };
  const head = `${exceptionType} at ${url.pathname}\n${exceptionValue}\n\nRequest Method: ${request.method}\nRequest URL: ${url.origin}${url.pathname}${url.search}\nDjango Version: 3.2.25\nPython Executable: /usr/bin/python3\nPython Version: 3.11.2\n`;
  const note = "\n(The ESAP emulator does not reproduce the rest of Django's technical 500 report.)\n";
  if (!acceptsHtml(request)) return { status: 500, body: head + note, contentType: TEXT, ...frame };
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
  return {
    status: 500,
    body: `<!DOCTYPE html>\n<html lang="en">\n<head>\n  <meta http-equiv="content-type" content="text/html; charset=utf-8">\n  <meta name="robots" content="NONE,NOARCHIVE">\n  <title>${esc(exceptionType)} at ${esc(url.pathname)}</title>\n</head>\n<body>\n<pre>${esc(head + note)}</pre>\n</body>\n</html>\n`,
    contentType: HTML_PAGE,
    ...frame,
  };
}

/** Django's 404 for a URL no route matches (technical page with `DEBUG`). */
export function pageNotFound(request: Request, debug: boolean): Reply {
  const path = new URL(request.url).pathname;
  const body = debug
    ? `<!DOCTYPE html>\n<html lang="en">\n<head>\n  <meta http-equiv="content-type" content="text/html; charset=utf-8">\n  <title>Page not found at ${path.replace(/</g, '&lt;')}</title>\n</head>\n<body>\n  <h1>Page not found <span>(404)</span></h1>\n  <p>The current path, <code>${path.slice(1).replace(/</g, '&lt;')}</code>, didn\u2019t match any of these.</p>\n</body>\n</html>\n`
    : '<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n';
  return { status: 404, body, contentType: HTML_PAGE, kind: 'django' };
}

/** CommonMiddleware's `APPEND_SLASH` redirect (an `HttpResponsePermanentRedirect`: `text/html; charset=utf-8`). */
export function appendSlash(request: Request): Reply {
  const url = new URL(request.url);
  return { status: 301, body: '', contentType: HTML, kind: 'common', headers: [['Location', `${url.pathname}/${url.search}`]] };
}

/** Add the middleware headers of the reply's layer, CORS and `Content-Length`, and make the `Response`. */
export function toResponse(reply: Reply, request: Request): Response {
  const h = new Headers();
  const origin = request.headers.get('Origin');
  const bytes = encoder.encode(reply.body);
  const cors = () => {
    if (!origin) return;
    h.append('Access-Control-Allow-Credentials', 'true');
    h.append('Access-Control-Allow-Origin', origin);
    if (request.method === 'OPTIONS') {
      h.append('Access-Control-Allow-Headers', CORS_HEADERS);
      h.append('Access-Control-Allow-Methods', CORS_METHODS);
      h.append('Access-Control-Max-Age', '86400');
    }
  };
  const own = (names: RegExp) => {
    for (const [k, v] of reply.headers ?? []) if (names.test(k)) h.append(k, v);
  };
  if (reply.contentType) h.append('Content-Type', reply.contentType);
  if (reply.kind === 'preflight') {
    h.append('Content-Length', '0');
    h.append('Vary', 'Origin');
    cors();
  } else {
    own(/^(www-authenticate|location|refresh_url)$/i);
    if (reply.kind === 'drf') {
      h.append('Vary', 'Accept, Cookie, Origin');
      own(/^allow$/i);
    }
    // XFrameOptionsMiddleware sits inside CommonMiddleware; SessionMiddleware adds `Cookie` only once the session was read.
    if (reply.kind !== 'refresh' && reply.kind !== 'common') h.append('X-Frame-Options', 'DENY');
    if (!reply.unframed) h.append('Content-Length', String(bytes.byteLength));
    if (reply.kind === 'django' || reply.kind === 'refresh') h.append('Vary', 'Cookie, Origin');
    h.append('X-Content-Type-Options', 'nosniff');
    h.append('Referrer-Policy', 'same-origin');
    if (reply.kind === 'common') h.append('Vary', 'Origin');
    if (reply.unframed) h.append('Connection', 'close');
    cors();
    own(/^set-cookie$/i);
  }
  const noBody = request.method === 'HEAD' || reply.status === 204 || reply.status === 304 || bytes.byteLength === 0;
  return new Response(noBody ? null : bytes, { status: reply.status, headers: h });
}

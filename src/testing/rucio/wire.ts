/**
 * Wire formats of the Rucio Flask server: Python `json.dumps` and Flask `jsonify` output, error
 * responses, the plain bodies Flask sends by default, and `Accept` negotiation (werkzeug rules).
 *
 * Web-standard APIs only: this file is bundled for browsers.
 * @module
 */
import { formatRfc1123 } from '../../core/dates.js';

/** Python's default `json.dumps` float/int output for a JS number. */
function pyNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return n.toFixed(0);
  // Python writes exponents with at least two digits: 1e-07, 1.5e+300.
  return String(n).replace(/e([+-])(\d)$/, 'e$10$2');
}

/** A JSON string literal with `ensure_ascii=True` (Python escapes everything outside 0x20–0x7e). */
export function pyJsonString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function encode(value: unknown, sep: [string, string], sortKeys: boolean): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return pyNumber(value);
  if (typeof value === 'string') return pyJsonString(value);
  if (value instanceof Date) return pyJsonString(formatRfc1123(value));
  if (Array.isArray(value)) return `[${value.map((v) => encode(v, sep, sortKeys)).join(sep[0])}]`;
  let entries = Object.entries(value as Record<string, unknown>);
  if (sortKeys) entries = entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${pyJsonString(k)}${sep[1]}${encode(v, sep, sortKeys)}`).join(sep[0])}}`;
}

/**
 * Python `json.dumps(value)` with default settings: `", "` and `": "` separators, keys in insertion
 * order, non-ASCII escaped. Dates are written as Rucio's `APIEncoder` does (RFC 1123 `... UTC`).
 */
export function pyJson(value: unknown): string {
  return encode(value, [', ', ': '], false);
}

/** Flask `jsonify(value)` body: compact, keys sorted, non-ASCII escaped, trailing newline. */
export function flaskJson(value: unknown): string {
  return `${encode(value, [',', ':'], true)}\n`;
}

/** Python `repr()` of a `datetime.datetime` (trailing zero microseconds and seconds are omitted). */
export function pyDatetimeRepr(d: Date): string {
  const parts = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds() * 1000];
  if (parts[6] === 0) parts.pop();
  if (parts.length === 6 && parts[5] === 0) parts.pop();
  return `datetime.datetime(${parts.join(', ')})`;
}

/** Flask's default type for views returning a string. */
export const HTML = 'text/html; charset=utf-8';
/** Rucio's streaming type. */
export const NDJSON = 'application/x-json-stream';
/** Metalink type of `POST /replicas/list`. */
export const METALINK = 'application/metalink4+xml';
/** Type of error bodies and `/auth/*` answers. */
export const OCTET = 'application/octet-stream';
/** Type of single JSON documents. */
export const JSON_TYPE = 'application/json';

/** An error the Rucio server reports as `{ExceptionClass, ExceptionMessage}` with a status code. */
export class RucioError extends Error {
  /**
   * @param status HTTP status the view chose.
   * @param exceptionClass Python exception class name (`ExceptionClass` header and body field).
   * @param message Full message (`ExceptionMessage`).
   */
  constructor(
    readonly status: number,
    readonly exceptionClass: string,
    message: string,
  ) {
    super(message);
    this.name = 'RucioError';
  }
}

/** An uncaught non-Rucio Python exception: Flask answers 500 with `str(error)` as an HTML-typed body. */
export class PlainServerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlainServerError';
  }
}

const encoder = new TextEncoder();

/** A response with a fixed body and an explicit `Content-Length`, as the recorded server sends. */
export function fixedResponse(status: number, body: string, contentType: string | null, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  if (contentType) h.set('Content-Type', contentType);
  const bytes = encoder.encode(body);
  h.set('Content-Length', String(bytes.byteLength));
  return new Response(status === 204 || status === 304 ? null : bytes, { status, headers: h });
}

/** Header value as werkzeug would write it (latin-1 only; anything else becomes `?`). */
function headerSafe(text: string): string {
  return text.replace(/[^\t\x20-\x7e\xa0-\xff]/g, '?');
}

/** `generate_http_error_flask`: class/message headers (message cut at 125 chars), JSON body. */
export function errorResponse(error: RucioError, headers?: HeadersInit): Response {
  const flat = (s: string) => s.replace(/[\r\n]/g, ' ');
  let message = flat(error.message);
  if (message.length > 125) message = `${message.slice(0, 125)}...`;
  const h = new Headers(headers);
  h.set('ExceptionClass', headerSafe(flat(error.exceptionClass)));
  h.set('ExceptionMessage', headerSafe(message));
  return fixedResponse(error.status, pyJson({ ExceptionClass: error.exceptionClass, ExceptionMessage: error.message }), OCTET, h);
}

/** `('Created', 201)`. */
export function created(): Response {
  return fixedResponse(201, 'Created', HTML);
}

/** `('', 200)`. */
export function emptyOk(): Response {
  return fixedResponse(200, '', HTML);
}

/** A JSON document (`render_json` or `jsonify` output already formatted). */
export function jsonResponse(body: string, status = 200, contentType = JSON_TYPE): Response {
  return fixedResponse(status, body, contentType);
}

function werkzeugPage(code: number, name: string, description: string): string {
  return `<!doctype html>\n<html lang=en>\n<title>${code} ${name}</title>\n<h1>${name}</h1>\n<p>${description}</p>\n`;
}

/** Flask's page for an exception its handlers could not handle (the body of a bare 500). */
export const INTERNAL_SERVER_ERROR = werkzeugPage(500, 'Internal Server Error', 'The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.');

/** werkzeug's 404 page (no route matched). */
export function notFoundPage(): Response {
  return fixedResponse(404, werkzeugPage(404, 'Not Found', 'The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.'), HTML);
}

/** werkzeug's 405 page, with `Allow`. */
export function methodNotAllowedPage(allow: readonly string[]): Response {
  return fixedResponse(405, werkzeugPage(405, 'Method Not Allowed', 'The method is not allowed for the requested URL.'), HTML, { Allow: allow.join(', ') });
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
}

/** Flask `redirect(location, 303)` with werkzeug's HTML body. */
export function redirect303(location: string): Response {
  const loc = escapeHtml(location);
  const body = `<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the target URL: <a href="${loc}">${loc}</a>. If not, click the link.\n`;
  return fixedResponse(303, body, HTML, { Location: location });
}

/**
 * Stream text chunks as a response body, pulling the source only when the consumer asks for more
 * (backpressure), and batching small chunks into ~16 KiB writes. Like Rucio's `try_stream`, the
 * first item is produced before the status is chosen: an error there becomes an error response,
 * and an empty source gives 200 with an empty body.
 */
export async function streamResponse(source: AsyncIterable<string> | Iterable<string>, contentType: string): Promise<Response> {
  const it: AsyncIterator<string> | Iterator<string> = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  const first = await it.next();
  if (first.done) return fixedResponse(200, '', contentType);
  let pending: string | undefined = first.value;
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let text = pending ?? '';
        pending = undefined;
        try {
          while (text.length < 16384) {
            const next = await it.next();
            if (next.done) {
              if (text) controller.enqueue(encoder.encode(text));
              controller.close();
              return;
            }
            text += next.value;
          }
        } catch {
          // Like Rucio, an error after the first item just ends the stream early.
          if (text) controller.enqueue(encoder.encode(text));
          controller.close();
          return;
        }
        controller.enqueue(encoder.encode(text));
      },
      async cancel() {
        await it.return?.();
      },
    },
    { highWaterMark: 0 },
  );
  return new Response(body, { status: 200, headers: { 'Content-Type': contentType } });
}

interface AcceptItem {
  type: string;
  subtype: string;
  params: string[];
  quality: number;
}

function parseMime(text: string): { type: string; subtype: string; params: string[] } | undefined {
  const [main = '', ...params] = text.toLowerCase().split(';').map((s) => s.trim());
  const slash = main.indexOf('/');
  if (slash < 0) return undefined;
  return { type: main.slice(0, slash), subtype: main.slice(slash + 1), params: params.filter(Boolean).sort() };
}

/** Parse an `Accept` header the way werkzeug does (the `q` parameter is split off). */
export function parseAccept(header: string | null): AcceptItem[] | undefined {
  if (!header) return undefined;
  const items: AcceptItem[] = [];
  for (const part of header.split(',')) {
    const q = /;\s*q=(\d*(?:\.\d+)?)[^,]*$/.exec(part);
    const mime = parseMime(q ? part.slice(0, q.index) : part);
    if (!mime) continue;
    const quality = q?.[1] ? Math.max(0, Math.min(1, Number(q[1]))) : 1;
    items.push({ ...mime, quality });
  }
  return items;
}

function matches(server: string, item: AcceptItem): boolean {
  const v = parseMime(server);
  if (!v) return false;
  if (item.type === '*' && item.subtype !== '*') return false;
  if (item.type === '*' && item.subtype === '*') return true;
  return item.type === v.type && (item.subtype === '*' || (item.subtype === v.subtype && item.params.join(';') === v.params.join(';')));
}

/**
 * Rucio's `check_accept_header_wrapper_flask`: no `Accept` header accepts everything, otherwise one
 * supported type must match, else 406 `UnsupportedRequestedContentType`.
 */
export function checkAccept(header: string | null, supported: readonly string[]): void {
  const items = parseAccept(header);
  if (!items) return;
  if (supported.some((s) => items.some((item) => matches(s, item)))) return;
  const list = `[${supported.map((s) => `'${s}'`).join(', ')}]`;
  throw new RucioError(406, 'UnsupportedRequestedContentType', `The requested content type ${header} is not supported. Use ${list}.`);
}

/** werkzeug `accept_mimetypes.best_match(supported, default)`. */
export function bestMatch(header: string | null, supported: readonly string[], fallback: string): string {
  const items = parseAccept(header);
  if (!items) return fallback;
  const specificity = (i: AcceptItem) => (i.type === '*' ? 0 : i.subtype === '*' ? 1 : 2 + i.params.length);
  let result = fallback;
  let bestQ = -1;
  let bestS = -1;
  for (const s of supported) {
    for (const item of items) {
      if (item.quality <= 0 || item.quality < bestQ) continue;
      if ((item.quality > bestQ || specificity(item) > bestS) && matches(s, item)) {
        bestQ = item.quality;
        bestS = specificity(item);
        result = s;
      }
    }
  }
  return result;
}

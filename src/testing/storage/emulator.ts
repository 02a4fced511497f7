/**
 * An emulated Data Lake storage element: HTTP/WebDAV with WLCG bearer tokens, answering like the
 * XRootD 5.8.1 (XrdHttp + SciTokens) endpoints ESCAPE runs: same status codes, same error bodies
 * (`Unable to open /x; permission denied`), same quirks (MOVE needs an absolute `Destination` URL and
 * does not percent-decode it; `Want-Digest` always gets adler32; no ETag or Last-Modified). The
 * conformance suite (`test/testing/storage/conformance.test.ts`) runs the same checks against a real
 * XRootD and this emulator.
 *
 * Web-standard APIs only (Request/Response, streams, WebCrypto via jose, hash-wasm): it runs in
 * browsers and workers through msw, and in Node on a loopback port via `listen()`.
 * @module
 */
import { adler32 as adler32Hex, md5 as md5Hex } from 'hash-wasm';
// `msw/http`, not `msw` (whose WebSocket support keeps a Deno program alive): see fetch-emulator.ts.
import { http, type HttpHandler } from 'msw/http';
import { Tree, FsError, canonical, type DirNode, type FileNode, type StorageNode } from './store.js';
import { createWlcgTokenIssuer, createWlcgTokenVerifier, type MintTokenOptions, type TokenGrant, type WlcgTokenIssuer } from './tokens.js';
import type { JSONWebKeySet } from 'jose';

/** Checksum algorithms the emulator can put in a `Digest` header. */
export type DigestAlgorithm = 'adler32' | 'md5';

/** Options of {@link createStorageEmulator}. */
export interface StorageEmulatorOptions {
  /** Origin the emulator answers for (msw handlers); default `https://storage.dlaas.test/`. `listen()` switches `url` to its loopback URL. */
  baseUrl?: string;
  /**
   * `'wlcg'` (default): WLCG bearer tokens with `storage.read|create|modify` scopes, as XRootD's SciTokens
   * plugin enforces them. `'none'`: anonymous read/write, like XRootD without `ofs.authorize`.
   */
  authorization?: 'wlcg' | 'none';
  /** Accept tokens of this issuer instead of the built-in one (then `mintToken` is unavailable). */
  issuer?: { issuer: string; jwks: JSONWebKeySet };
  /**
   * Accepted `aud` values besides the WLCG "any" audience (exact match, as XRootD). Default: the emulator's
   * origin without a trailing slash (`https://storage.dlaas.test`, and `http://127.0.0.1:PORT` while listening).
   */
  audience?: string | readonly string[];
  /** Replace token verification: return the token's scopes, or undefined to deny (403). */
  verifyToken?: (token: string, request: Request) => TokenGrant | undefined | Promise<TokenGrant | undefined>;
  /** The issuer's `base_path`: scope paths are relative to it. Default `/`. */
  basePath?: string;
  /**
   * Algorithms the SE computes, in preference order; default `['adler32']` (XRootD, which answers any
   * `Want-Digest` with adler32). With `['adler32', 'md5']` a request for md5 gets `md5=<base64>` (RFC 3230).
   */
  digests?: readonly DigestAlgorithm[];
  /** HTML listings for `GET` on a directory; default true (XRootD's default). False: 503 `Listings are disabled.` */
  listing?: boolean;
  /** CORS for browser callers: true (default) allows any origin, a list allows those, false sends no CORS headers. */
  cors?: boolean | readonly string[];
  /** The clock (ms), for token times and mtimes; default `Date.now`. */
  now?: () => number;
}

/** One request as the emulator saw it. */
export interface StorageRequestRecord {
  method: string;
  /** Decoded path, as XRootD sees it. */
  path: string;
  headers: Record<string, string>;
  status: number;
}

/** A canned response for the next matching request(s). */
export interface StorageFault {
  method?: string;
  path?: string;
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** How many requests it answers; default 1. */
  times?: number;
}

/** An emulated storage element: HTTP/WebDAV with WLCG bearer tokens (see {@link createStorageEmulator}). */
export interface StorageEmulator {
  /** Where it answers: the `baseUrl` origin, or `http://127.0.0.1:PORT/` while listening. */
  readonly url: string;
  /** The audiences tokens must carry (one of), besides the WLCG "any" audience. */
  readonly audience: readonly string[];
  /** Answer one request (what msw handlers and the HTTP server call). */
  handle(request: Request): Promise<Response>;
  /** `fetch` that goes straight to {@link handle}, no network. */
  fetch: typeof fetch;
  /** msw 3 handlers for the `baseUrl` origin. */
  handlers(): HttpHandler[];
  /** Serve over HTTP on a loopback port (Node only; default 127.0.0.1, a free port); sets and returns {@link url}. */
  listen(options?: { port?: number; host?: string }): Promise<string>;
  /** Stop the HTTP server, if listening. */
  close(): Promise<void>;
  /** Mint a WLCG token the emulator accepts (built-in issuer; default: full scope, aud = first of {@link audience}). */
  mintToken(options?: MintTokenOptions): Promise<string>;
  /** `{ authorization: 'Bearer …' }` for a freshly minted token. */
  authHeader(options?: MintTokenOptions): Promise<{ authorization: string }>;
  /** The built-in issuer's `iss` and keys (to configure other emulators or clients). */
  tokenIssuer(): Promise<WlcgTokenIssuer>;

  /** Store a copy of `data` as a file (parent directories created). */
  put(path: string, data: Uint8Array | string): void;
  /** A copy of a file's bytes, or undefined. */
  get(path: string): Uint8Array | undefined;
  /** Remove a file or an empty directory; false if absent. */
  delete(path: string): boolean;
  /** mkdir -p. */
  mkdir(path: string): void;
  /** Paths of all files (sorted), optionally below a prefix directory. */
  list(prefix?: string): string[];
  /** Remove everything. */
  clear(): void;

  /**
   * Flip one byte of a stored file (size unchanged). By default the SE keeps reporting the old
   * checksum, as XRootD does for on-disk corruption (its checksum is cached): `digest: 'actual'` recomputes.
   */
  corrupt(path: string, options?: { offset?: number; digest?: 'stale' | 'actual' }): void;
  /**
   * The next GET of `path` sends its headers (full Content-Length) and `afterBytes` bytes of body, then
   * the body fails (in-process) or the connection is dropped (over HTTP).
   */
  interruptNextGet(path: string, afterBytes: number): void;
  /** Answer the next matching request(s) with a canned response (e.g. 503). */
  failNext(fault: StorageFault): void;
  /** Every request answered, oldest first. */
  readonly requests: StorageRequestRecord[];
}

const DEFAULT_BASE = 'https://storage.dlaas.test/';
const XRD_BOUNDARY = '123456';
const ALLOW = 'HEAD,GET,PUT,PROPFIND,DELETE,OPTIONS';
const DAV = '1, <http://apache.org/dav/propset/fs/1>';
const DIR_SIZE = 4096;
const CORS_METHODS = 'GET, HEAD, PUT, DELETE, MOVE, MKCOL, PROPFIND, OPTIONS';
const CORS_ALLOW_HEADERS = 'Authorization, Range, Want-Digest, Destination, Depth, Overwrite, Content-Type, Content-Length';
const CORS_EXPOSE = 'Digest, Content-Range, Content-Length, Accept-Ranges, Content-Type, DAV, Allow';
const RANGE_416 = 'None of the range-specifier values in the Range request-header field overlap the current extent of the selected resource.';
const enc = new TextEncoder();

interface Grant {
  read: string[];
  create: string[];
  modify: string[];
}
const FULL: Grant = { read: ['/'], create: ['/'], modify: ['/'] };

const under = (path: string, scope: string) => scope === '/' || path === scope || path.startsWith(`${scope}/`);
const ancestorOf = (path: string, scope: string) => (path === '/' ? scope !== '/' : scope.startsWith(`${path}/`));

/** Permissions as XRootD 5.8.1's SciTokens plugin grants them (measured, see storage-element.md). */
class Access {
  constructor(private readonly g: Grant) {}
  /** open for reading, readdir. */
  read(p: string) {
    return this.g.read.some((s) => under(p, s));
  }
  /** stat: any storage scope at or above the path, or the path is a parent of a scope's path. */
  stat(p: string) {
    const all = [...this.g.read, ...this.g.create, ...this.g.modify];
    return all.some((s) => under(p, s) || ancestorOf(p, s));
  }
  /** exclusive create, mkdir, rename, insert when the target is new. */
  create(p: string) {
    return this.g.create.some((s) => under(p, s)) || this.modify(p);
  }
  /** overwrite, delete, insert over an existing target. */
  modify(p: string) {
    return this.g.modify.some((s) => under(p, s));
  }
}

function parseGrant(scopes: readonly string[], basePath: string): Grant {
  const g: Grant = { read: [], create: [], modify: [] };
  for (const s of scopes) {
    const m = /^storage\.(read|create|modify)(?::(.*))?$/.exec(s);
    if (!m) continue;
    const path = m[2] ?? '/';
    if (!path.startsWith('/')) continue;
    g[m[1] as keyof Grant].push(canonical(`${basePath}/${path}`));
  }
  return g;
}

/** The bearer token from `Authorization` (or XRootD's `?authz=` query form). */
function bearerOf(request: Request, url: URL): string | undefined {
  const raw = request.headers.get('authorization') ?? url.searchParams.get('authz');
  if (raw === null) return undefined;
  const token = raw.startsWith('Bearer ') ? raw.slice(7) : raw;
  return /^[A-Za-z0-9+/_-]+\.[A-Za-z0-9+/_-]+\.[A-Za-z0-9+/_-]+$/.test(token) ? token : undefined;
}

function decodePath(pathname: string): string {
  // XRootD decodes every %XX (also %2F), then treats `?` as the start of its CGI part.
  const decoded = pathname.replace(/(%[0-9A-Fa-f]{2})+/g, (m) => {
    try {
      return decodeURIComponent(m);
    } catch {
      return m;
    }
  });
  const q = decoded.indexOf('?');
  return q >= 0 ? decoded.slice(0, q) : decoded;
}

function respond(status: number, body: string | Uint8Array | null, headers: Record<string, string> = {}): Response {
  const bytes = typeof body === 'string' ? enc.encode(body) : body;
  return new Response(bytes as Uint8Array<ArrayBuffer> | null, { status, headers: { 'content-length': String(bytes?.byteLength ?? 0), ...headers } });
}

function wantedDigests(header: string): string[] {
  return header
    .split(',')
    .map((part, i) => {
      const [name = '', ...params] = part.split(';').map((s) => s.trim());
      const q = params.find((p) => /^q=/i.test(p));
      return { name: name.toLowerCase(), q: q ? Number(q.slice(2)) : 1, i };
    })
    .filter((d) => d.name && d.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i)
    .map((d) => d.name);
}

type RangeResult = { kind: 'none' } | { kind: 'unsatisfiable' } | { kind: 'ranges'; ranges: [number, number][] };

/** XRootD's Range parsing: unit ignored, bad syntax → whole file, unsatisfiable parts dropped. */
function parseRange(header: string, size: number): RangeResult {
  const eq = header.indexOf('=');
  if (eq < 0) return { kind: 'none' };
  const ranges: [number, number][] = [];
  for (const part of header.slice(eq + 1).split(',').map((s) => s.trim())) {
    const m = /^(\d*)-(\d*)$/.exec(part);
    if (!m || (m[1] === '' && m[2] === '')) return { kind: 'none' };
    if (m[1] === '') {
      const n = Number(m[2]);
      if (n === 0) return { kind: 'none' };
      if (size > 0) ranges.push([Math.max(0, size - n), size - 1]);
      continue;
    }
    const start = Number(m[1]);
    const last = m[2] === '' ? size - 1 : Number(m[2]);
    if (last < start && m[2] !== '') return { kind: 'none' };
    if (start >= size) continue;
    ranges.push([start, Math.min(last, size - 1)]);
  }
  return ranges.length ? { kind: 'ranges', ranges } : { kind: 'unsatisfiable' };
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function propResponse(href: string, node: StorageNode): string {
  const common = `<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/" xmlns:lp3="LCGDM:">\n<D:href>${escapeXml(href)}</D:href>\n<D:propstat>\n<D:prop>\n`;
  const size = node.kind === 'file' ? node.data.byteLength : DIR_SIZE;
  const props =
    `<lp1:getcontentlength>${size}</lp1:getcontentlength>\n<lp1:getlastmodified>${node.mtime.toUTCString()}</lp1:getlastmodified>\n` +
    (node.kind === 'dir'
      ? '<lp1:resourcetype><D:collection/></lp1:resourcetype>\n<lp1:iscollection>1</lp1:iscollection>\n<lp1:executable>T</lp1:executable>\n<lp1:iscollection>1</lp1:iscollection>\n'
      : '<lp1:iscollection>0</lp1:iscollection>\n<lp1:executable>F</lp1:executable>\n');
  return `${common}${props}</D:prop>\n<D:status>HTTP/1.1 200 OK</D:status>\n</D:propstat>\n</D:response>\n`;
}

function listingHtml(path: string, dir: DirNode): string {
  const rows = [...dir.children.keys()]
    .sort()
    .map((name) => {
      const n = dir.children.get(name) as StorageNode;
      const slash = n.kind === 'dir' ? '/' : '';
      const href = `${path === '/' ? '' : path}/${name}${slash}`;
      const size = n.kind === 'file' ? n.data.byteLength : DIR_SIZE;
      return `<tr><td class="size">${size}</td><td class="datetime">${n.mtime.toUTCString()}</td><td class="name"><a href="${escapeXml(href)}">${escapeXml(name + slash)}</a></td></tr>`;
    })
    .join('');
  return `<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8"/>\n<title>${escapeXml(path)}</title>\n</head>\n<body>\n<h1>Listing of: ${escapeXml(path)}</h1>\n<table>\n${rows}</table>\n</body>\n</html>\n`;
}

/** Create a storage element emulator (in memory). */
export function createStorageEmulator(options: StorageEmulatorOptions = {}): StorageEmulator {
  const now = options.now ?? Date.now;
  const tree = new Tree(() => new Date(Math.floor(now() / 1000) * 1000));
  const digests: readonly DigestAlgorithm[] = options.digests?.length ? options.digests : ['adler32'];
  const basePath = options.basePath ?? '/';
  const baseOrigin = new URL(options.baseUrl ?? DEFAULT_BASE).origin;
  let listening: { url: string; close(): Promise<void> } | undefined;
  const currentUrl = () => listening?.url ?? `${baseOrigin}/`;
  const audiences = (): string[] => {
    const a = options.audience;
    if (a === undefined) return [...new Set([new URL(currentUrl()).origin, baseOrigin])];
    return typeof a === 'string' ? [a] : [...a];
  };

  let issuerPromise: Promise<WlcgTokenIssuer> | undefined;
  const builtInIssuer = () => (issuerPromise ??= createWlcgTokenIssuer({ issuer: 'https://issuer.dlaas.test', now }));
  let verifier: ((token: string) => Promise<TokenGrant | undefined>) | undefined;
  const verify = async (token: string, request: Request): Promise<TokenGrant | undefined> => {
    if (options.verifyToken) return options.verifyToken(token, request);
    if (!verifier) {
      const iss = options.issuer ?? (await builtInIssuer());
      verifier = createWlcgTokenVerifier({ issuer: iss.issuer, jwks: iss.jwks, audience: audiences, now });
    }
    return verifier(token);
  };

  const digestCache = new WeakMap<Uint8Array, Map<DigestAlgorithm, string>>();
  async function digestOf(file: FileNode, alg: DigestAlgorithm): Promise<string> {
    const bytes = file.digestSource ?? file.data;
    let m = digestCache.get(bytes);
    if (!m) digestCache.set(bytes, (m = new Map()));
    let v = m.get(alg);
    if (v === undefined) {
      v = alg === 'adler32' ? (await adler32Hex(bytes)).padStart(8, '0') : toBase64(hexToBytes(await md5Hex(bytes)));
      m.set(alg, v);
    }
    return v;
  }
  async function digestHeader(file: FileNode, want: string): Promise<string> {
    const alg = (wantedDigests(want).find((a) => (digests as readonly string[]).includes(a)) ?? digests[0]) as DigestAlgorithm;
    return `${alg}=${await digestOf(file, alg)}`;
  }

  const interrupts = new Map<string, number>();
  const faults: StorageFault[] = [];
  const requests: StorageRequestRecord[] = [];

  function corsHeaders(request: Request): Record<string, string> {
    const origin = request.headers.get('origin');
    const cors = options.cors ?? true;
    if (!origin || cors === false || (cors !== true && !cors.includes(origin))) return {};
    return { 'access-control-allow-origin': origin, vary: 'Origin', 'access-control-expose-headers': CORS_EXPOSE };
  }

  async function serve(request: Request, url: URL, path: string, raw: string): Promise<Response> {
    const method = request.method.toUpperCase();
    const fault = faults.find((f) => (!f.method || f.method.toUpperCase() === method) && (!f.path || canonical(f.path) === path));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
      return respond(fault.status, fault.body ?? '', fault.headers);
    }
    if (method === 'OPTIONS') {
      if (request.headers.has('access-control-request-method') && request.headers.has('origin')) {
        const h = corsHeaders(request);
        if (h['access-control-allow-origin']) {
          return respond(200, null, {
            ...h,
            'access-control-allow-methods': CORS_METHODS,
            'access-control-allow-headers': CORS_ALLOW_HEADERS,
            'access-control-max-age': '600',
            allow: ALLOW,
            dav: DAV,
          });
        }
      }
      return respond(200, null, { allow: ALLOW, dav: DAV });
    }
    if (method === 'POST') return respond(501, 'Request not supported.');
    if (method === 'PATCH') return respond(501, 'Request not supported yet.');
    if (!['GET', 'HEAD', 'PUT', 'DELETE', 'MKCOL', 'MOVE', 'PROPFIND'].includes(method)) return respond(400, 'Request unknown');

    let grant: Grant = { read: [], create: [], modify: [] };
    if (options.authorization === 'none') grant = FULL;
    else {
      const token = bearerOf(request, url);
      const verified = token === undefined ? undefined : await verify(token, request);
      if (verified) grant = parseGrant(verified.scopes, basePath);
    }
    const can = new Access(grant);
    const slash = raw.length > 1 && raw.endsWith('/');
    const fsFail = (what: string, e: unknown, empty = false): Response => {
      if (!(e instanceof FsError)) throw e;
      const status = { ENOENT: 404, ENOTDIR: 500, EISDIR: 409, EEXIST: 409, ENOTEMPTY: 409, EINVAL: 500 }[e.code];
      return respond(status, empty ? null : `${what}; ${e.text}\n`);
    };
    /** lookup that treats `file/` like ENOTDIR, as the OS does. */
    const look = (p: string, trailing: boolean): StorageNode => {
      const n = tree.lookup(p);
      if (trailing && n.kind === 'file') throw new FsError('ENOTDIR', 'not a directory');
      return n;
    };

    switch (method) {
      case 'GET': {
        if (!can.read(path)) return respond(403, `Unable to open ${raw}; permission denied\n`);
        let node: StorageNode;
        try {
          node = look(path, slash);
        } catch (e) {
          return fsFail(`Unable to open ${raw}`, e);
        }
        if (node.kind === 'dir') {
          if (options.listing === false) return respond(503, 'Listings are disabled.');
          return respond(200, listingHtml(path, node));
        }
        const headers: Record<string, string> = {};
        const want = request.headers.get('want-digest');
        if (want) headers.digest = await digestHeader(node, want);
        const data = node.data;
        let status = 200;
        let body: Uint8Array = data;
        const rangeHeader = request.headers.get('range');
        if (rangeHeader) {
          const r = parseRange(rangeHeader, data.byteLength);
          if (r.kind === 'unsatisfiable') return respond(416, RANGE_416);
          if (r.kind === 'ranges') {
            status = 206;
            if (r.ranges.length === 1) {
              const [s, e] = r.ranges[0] as [number, number];
              body = data.subarray(s, e + 1);
              headers['content-range'] = `bytes ${s}-${e}/${data.byteLength}`;
            } else {
              const parts: Uint8Array[] = [];
              for (const [s, e] of r.ranges) {
                parts.push(enc.encode(`\r\n--${XRD_BOUNDARY}\r\nContent-type: text/plain; charset=UTF-8\r\nContent-range: bytes ${s}-${e}/${data.byteLength}\r\n\r\n`));
                parts.push(data.subarray(s, e + 1));
              }
              parts.push(enc.encode(`\r\n--${XRD_BOUNDARY}--\r\n`));
              body = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
              let o = 0;
              for (const p of parts) body.set(p, (o += p.byteLength) - p.byteLength);
              headers['content-type'] = `multipart/byteranges; boundary=${XRD_BOUNDARY}`;
            }
          }
        }
        const cut = interrupts.get(path);
        if (cut !== undefined) {
          interrupts.delete(path);
          let head: Uint8Array | undefined = body.slice(0, cut);
          const stream = new ReadableStream<Uint8Array>({
            async pull(controller) {
              if (head?.byteLength) {
                controller.enqueue(head);
                head = undefined;
                return;
              }
              // Let an HTTP server flush what was sent before the connection is dropped.
              await new Promise((resolve) => setTimeout(resolve, 20));
              controller.error(new Error('connection reset by the storage emulator (interruptNextGet)'));
            },
          });
          return new Response(stream, { status, headers: { 'content-length': String(body.byteLength), ...headers } });
        }
        return respond(status, body, headers);
      }
      case 'HEAD': {
        if (!can.stat(path)) return respond(403, null);
        let node: StorageNode;
        try {
          node = look(path, slash);
        } catch (e) {
          return fsFail('', e, true);
        }
        const want = request.headers.get('want-digest');
        if (node.kind === 'dir') return want ? respond(409, null) : respond(200, null, { 'accept-ranges': 'bytes', 'content-length': String(DIR_SIZE) });
        const headers: Record<string, string> = { 'accept-ranges': 'bytes', 'content-length': String(node.data.byteLength) };
        if (want) headers.digest = await digestHeader(node, want);
        return respond(200, null, headers);
      }
      case 'PUT': {
        if (!can.create(path)) {
          await request.body?.cancel();
          return respond(403, `Unable to create ${raw}; permission denied\n`);
        }
        let existing: StorageNode | undefined;
        try {
          existing = tree.find(path);
        } catch (e) {
          await request.body?.cancel();
          return fsFail(`Unable to create ${raw}`, e);
        }
        if (path === '/' || slash || existing?.kind === 'dir') {
          await request.body?.cancel();
          return respond(409, `Unable to create ${raw}; is a directory\n`);
        }
        if (existing && !can.modify(path)) {
          await request.body?.cancel();
          return respond(403, `Unable to create ${raw}; permission denied\n`);
        }
        const data = new Uint8Array(await request.arrayBuffer());
        try {
          tree.writeFile(path, data);
        } catch (e) {
          return fsFail(`Unable to create ${raw}`, e);
        }
        return respond(201, ':-)');
      }
      case 'DELETE': {
        if (!can.stat(path)) return respond(403, `Unable to locate ${raw}; permission denied\n`);
        try {
          look(path, slash);
        } catch (e) {
          return fsFail(`Unable to locate ${raw}`, e);
        }
        if (!can.modify(path)) return respond(403, `Unable to remove ${raw}; permission denied\n`);
        try {
          tree.remove(path);
        } catch (e) {
          if (e instanceof FsError && e.code === 'ENOTEMPTY') return respond(405, `Unable to remove ${raw}; directory not empty\n`);
          return fsFail(`Unable to remove ${raw}`, e);
        }
        return respond(200, ':-)');
      }
      case 'MKCOL': {
        if (!can.create(path)) return respond(403, `Unable to mkdir ${raw}; permission denied\n`);
        const exists = 'Method is not allowed; resource already exists.';
        if (path === '/') return respond(405, exists);
        try {
          const node = tree.find(path);
          if (node?.kind === 'file') return respond(405, exists);
          tree.mkdirs(path);
        } catch (e) {
          return fsFail(`Unable to mkdir ${raw}`, e);
        }
        return respond(201, ':-)');
      }
      case 'MOVE': {
        const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(\/[^?#]*)/.exec(request.headers.get('destination') ?? '');
        if (!m) return respond(501, 'Cannot parse destination url.');
        const rawDest = m[1] as string; // XRootD does not percent-decode the Destination
        const dest = canonical(rawDest);
        if (!can.create(path)) return respond(403, `Unable to renaming ${raw}; permission denied`);
        let noOverwrite = false;
        if (!can.modify(dest)) {
          if (!can.create(dest)) return respond(403, `Unable to renaming to (no overwrite) ${rawDest}; permission denied`);
          noOverwrite = true;
        }
        try {
          if (noOverwrite && tree.find(dest)) return respond(403, 'Overwrite of existing data not permitted');
          tree.rename(path, dest);
        } catch (e) {
          if (!(e instanceof FsError)) throw e;
          const status = { ENOENT: 404, ENOTDIR: 500, EISDIR: 409, EEXIST: 409, ENOTEMPTY: 409, EINVAL: 500 }[e.code];
          return respond(status, `Unable to rename ${raw}; ${e.text}`);
        }
        return respond(201, ':-)');
      }
      case 'PROPFIND': {
        if (!can.stat(path)) return respond(403, `Unable to locate ${raw}; permission denied\n`);
        let node: StorageNode;
        try {
          node = look(path, slash);
        } catch (e) {
          return fsFail(`Unable to locate ${raw}`, e);
        }
        let xml = propResponse(raw, node);
        if (request.headers.get('depth') === '1' && node.kind === 'dir') {
          if (!can.read(path)) return respond(403, `Unable to open directory ${raw}; permission denied\n`);
          for (const name of [...node.children.keys()].sort()) {
            xml += propResponse(`${path === '/' ? '' : path}/${name}`, node.children.get(name) as StorageNode);
          }
        }
        const doc = `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:" xmlns:ns1="http://apache.org/dav/props/" xmlns:ns0="DAV:">\n${xml}</D:multistatus>\n`;
        return respond(207, doc, { 'content-type': 'text/xml; charset="utf-8"' });
      }
    }
    return respond(400, 'Request unknown');
  }

  async function handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const raw = decodePath(url.pathname) || '/';
    const path = canonical(raw);
    let response: Response;
    try {
      response = await serve(request, url, path, raw);
    } catch (e) {
      response = respond(500, `storage emulator error: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    const cors = corsHeaders(request);
    if (Object.keys(cors).length && !response.headers.has('access-control-allow-origin')) {
      const headers = new Headers(response.headers);
      for (const [k, v] of Object.entries(cors)) headers.set(k, v);
      response = new Response(response.body, { status: response.status, statusText: response.statusText, headers });
    }
    const headers: Record<string, string> = {};
    request.headers.forEach((v, k) => (headers[k] = k === 'authorization' ? `${v.slice(0, 12)}…` : v));
    requests.push({ method: request.method.toUpperCase(), path, headers, status: response.status });
    if (request.method.toUpperCase() === 'HEAD' && response.body) response = new Response(null, response);
    return response;
  }

  const emulator: StorageEmulator = {
    get url() {
      return currentUrl();
    },
    get audience() {
      return audiences();
    },
    handle,
    fetch: (input, init) => handle(new Request(input, init)),
    handlers: () => [http.all(`${baseOrigin}/*`, ({ request }) => handle(request))],
    async listen(o = {}) {
      if (!listening) {
        const { serveFetch } = await import('../http-server.js');
        const server = await serveFetch(handle, o);
        listening = { url: `${server.url}/`, close: () => server.close() };
      }
      return listening.url;
    },
    async close() {
      const l = listening;
      listening = undefined;
      await l?.close();
    },
    async mintToken(o: MintTokenOptions = {}) {
      if (options.issuer || options.verifyToken) throw new Error('mintToken() mints with the built-in issuer; this emulator was given its own issuer/verifyToken');
      const issuer = await builtInIssuer();
      return issuer.mintToken({ aud: audiences()[0] as string, ...o });
    },
    async authHeader(o) {
      return { authorization: `Bearer ${await emulator.mintToken(o)}` };
    },
    tokenIssuer: builtInIssuer,
    put(path, data) {
      tree.writeFile(canonical(path), typeof data === 'string' ? enc.encode(data) : data.slice());
    },
    get(path) {
      const n = tree.find(canonical(path));
      return n?.kind === 'file' ? n.data.slice() : undefined;
    },
    delete(path) {
      const p = canonical(path);
      if (!tree.find(p)) return false;
      tree.remove(p);
      return true;
    },
    mkdir(path) {
      tree.mkdirs(canonical(path));
    },
    list(prefix = '/') {
      const p = canonical(prefix);
      const n = tree.find(p);
      if (!n) return [];
      if (n.kind === 'file') return [p];
      return [...tree.files(n, p === '/' ? '' : p)].map(([f]) => f);
    },
    clear() {
      tree.root.children.clear();
    },
    corrupt(path, o = {}) {
      const p = canonical(path);
      const n = tree.find(p);
      if (n?.kind !== 'file' || n.data.byteLength === 0) throw new Error(`corrupt(): no non-empty file at ${p}`);
      const data = n.data.slice();
      const at = Math.min(Math.max(0, o.offset ?? Math.floor(data.byteLength / 2)), data.byteLength - 1);
      data[at] = (data[at] as number) ^ 0xff;
      if ((o.digest ?? 'stale') === 'stale') n.digestSource ??= n.data;
      else delete n.digestSource;
      n.data = data; // same node: mtime unchanged, as with on-disk corruption
    },
    interruptNextGet(path, afterBytes) {
      interrupts.set(canonical(path), Math.max(0, afterBytes));
    },
    failNext(fault) {
      faults.push({ ...fault });
    },
    requests,
  };

  return emulator;
}

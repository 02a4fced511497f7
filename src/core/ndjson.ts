/**
 * Streaming parser for `application/x-json-stream` (newline-delimited JSON) bodies, as every Rucio
 * listing returns them.
 *
 * Memory stays constant whatever the size: lines are cut from the body's bytes as they arrive, and
 * each is decoded and parsed only when the consumer asks for its item (a multi-byte character is
 * never split, since a newline byte never occurs inside one). Only the current chunk, the current
 * partial line and the item in hand are kept: items parsed ahead would survive the young-generation
 * GCs that run meanwhile, which is what makes V8 grow its heap.
 *
 * @module
 */
import { AbortError, ConnectionError, DlaasError, ResponseTooLargeError, StreamError, TimeoutError, excerptOf, type ServiceName } from './errors.js';

/** Default of {@link NdjsonOptions.maxLineBytes}: 16 MiB. */
export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;

/** Options for {@link parseNdjson}. */
export interface NdjsonOptions<T> {
  /** Turn each parsed JSON value into an item (validate it); throw to reject. Receives the 1-based line number. */
  map?: (value: unknown, line: number) => T;
  /**
   * @internal Read a line's bytes (without its newline) into a value, instead of `JSON.parse` of its
   * text: for a listing whose lines are best rewritten before they are parsed. `decode` turns bytes
   * into text as the parser does (strict UTF-8, a BOM dropped on line 1). Must throw exactly when
   * `JSON.parse(decode(line))` would.
   */
  parse?: (line: Uint8Array, decode: (bytes: Uint8Array) => string) => unknown;
  /** `METHOD /path`, used in error messages. */
  endpoint?: string;
  /** Stops reading (and cancels the body) when aborted. */
  signal?: AbortSignal | undefined;
  /** Called when iteration ends early (`break`, error, abort): e.g. aborts the HTTP request. */
  onCancel?: () => void;
  /** Abort when no chunk arrives for this many milliseconds (a stalled stream). */
  idleTimeoutMs?: number | undefined;
  /** Context for connection errors raised while reading. */
  request?: { service: ServiceName; method: string; url: string };
  /**
   * Longest line accepted, in (decoded) bytes; default {@link DEFAULT_MAX_LINE_BYTES} (16 MiB). A longer
   * line throws a {@link ResponseTooLargeError} as soon as it is known to be too long, so memory stays bounded.
   */
  maxLineBytes?: number | undefined;
}

/** What {@link parseNdjson} reads: a byte stream, a whole `Response`, or `null` (no body). */
export type NdjsonSource = ReadableStream<Uint8Array> | Response | null;

/**
 * Iterate the JSON values of an NDJSON body, one per line.
 *
 * - An empty body yields nothing.
 * - A last line without a trailing newline is parsed.
 * - Blank lines are skipped; bare JSON strings (`"name"`) are valid values.
 * - A line that is not JSON, or a stream that ends inside a value, throws a {@link StreamError} with the line number.
 * - A line longer than `maxLineBytes` (default 16 MiB) throws a {@link ResponseTooLargeError} without being buffered whole.
 * - Leaving a `for await` loop early cancels the body (and calls `onCancel`).
 *
 * @example
 * ```ts
 * for await (const rse of parseNdjson(response)) console.log(rse);
 * ```
 */
export async function* parseNdjson<T = unknown>(source: NdjsonSource, options: NdjsonOptions<T> = {}): AsyncGenerator<T, void, undefined> {
  for await (const batch of ndjsonBatches(source, options)) for (const item of batch) yield item;
}

const BLANK: unique symbol = Symbol('blank line');

/**
 * @internal {@link parseNdjson} one chunk at a time: each batch holds the items of the lines that
 * ended in one chunk of the body. A listing of a million lines then costs one `await` per chunk in
 * the layers between the body and the caller's loop, not one per line.
 *
 * A batch is single-pass and lazy: a line is decoded and parsed when its item is asked for, so that
 * only the item in hand is alive (not a chunk's worth, which would outlive young-generation GCs).
 * Iterate each batch before asking for the next one: a bad line ends its batch, and is thrown by
 * the next `next()`, after the items of the good lines before it.
 */
export async function* ndjsonBatches<T = unknown>(source: NdjsonSource, options: NdjsonOptions<T> = {}): AsyncGenerator<Iterable<T>, void, undefined> {
  const body = source instanceof Response ? source.body : source;
  if (!body) return;
  const { map, parse, endpoint, signal, onCancel, idleTimeoutMs, request, maxLineBytes = DEFAULT_MAX_LINE_BYTES } = options;
  const tooLong = (lineNo: number) => new ResponseTooLargeError({ limit: 'maxLineBytes', maxBytes: maxLineBytes, url: request?.url, endpoint, line: lineNo });
  const reader = body.getReader();
  // The BOM is dropped by hand, at the start of the body only.
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  /** Bytes of a line that continues in the next chunk(s). */
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  /** The number of the line being read (1-based), or of the last one read. */
  let line = 0;
  /** The body has ended: the line being read is its unterminated last one. */
  let ended = false;
  let done = false;
  /** A bad line met while iterating a batch: thrown when the next batch is asked for. */
  let failure: unknown;

  const decode = (bytes: Uint8Array): string => {
    try {
      const text = decoder.decode(bytes);
      return line === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    } catch (cause) {
      throw new StreamError(line, ended ? 'body is not valid UTF-8 (or ends inside a character)' : 'body is not valid UTF-8', { cause, endpoint });
    }
  };

  /** The item of the line {@link line}, or {@link BLANK}. */
  const parseLine = (bytes: Uint8Array): T | typeof BLANK => {
    let value: unknown;
    try {
      value = parse ? parse(bytes, decode) : JSON.parse(decode(bytes));
    } catch (cause) {
      if (cause instanceof DlaasError) throw cause;
      const text = decode(bytes);
      if (isBlank(text)) return BLANK;
      const msg = ended && looksUnterminated(text) ? 'the stream ended inside a JSON value (truncated body)' : `not valid JSON: ${excerptOf(text, 60)}`;
      throw new StreamError(line, msg, { cause, endpoint });
    }
    if (!map) return value as T;
    try {
      return map(value, line);
    } catch (cause) {
      if (cause instanceof DlaasError) throw cause;
      throw new StreamError(line, `invalid item: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, endpoint });
    }
  };

  /**
   * The items of a line begun in earlier chunks (`head`, if any) and of the lines in `bytes[from..=last]`
   * (`bytes[last]` is a newline), parsed one by one as they are asked for. A bad line ends them and
   * is kept in {@link failure}.
   */
  function* itemsOf(head: Uint8Array | undefined, bytes: Uint8Array, from: number, last: number): Generator<T, void, undefined> {
    try {
      if (head) {
        line++;
        const item = parseLine(head);
        if (item !== BLANK) yield item;
      }
      for (let start = from; start <= last; ) {
        const nl = bytes.indexOf(10, start);
        line++;
        if (nl - start > maxLineBytes) throw tooLong(line);
        const item = nl === start ? BLANK : parseLine(bytes.subarray(start, nl));
        start = nl + 1;
        if (item !== BLANK) yield item;
      }
    } catch (error) {
      failure = error;
    }
  }

  try {
    for (;;) {
      if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await readWithLimits(reader, signal, idleTimeoutMs);
      } catch (cause) {
        if (cause instanceof DlaasError) throw cause;
        if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });
        if (request) throw new ConnectionError({ ...request, cause }, `${request.service} ${request.method}: connection lost while reading line ${line + 1} of the stream`);
        throw new StreamError(line + 1, 'the body could not be read to its end', { cause, endpoint });
      }
      if (chunk.done) break;
      const bytes = chunk.value;
      const last = bytes.lastIndexOf(10);
      if (last < 0) {
        // No line ends here: keep a copy (the reader may reuse its buffer).
        if (pendingBytes + bytes.length > maxLineBytes) throw tooLong(line + 1);
        pending.push(bytes.slice());
        pendingBytes += bytes.length;
        continue;
      }
      let head: Uint8Array | undefined;
      let from = 0;
      if (pendingBytes > 0) {
        // The line begun in earlier chunks ends here.
        const nl = bytes.indexOf(10);
        if (pendingBytes + nl > maxLineBytes) throw tooLong(line + 1);
        pending.push(bytes.subarray(0, nl));
        head = concatBytes(pending, pendingBytes + nl);
        pending = [];
        pendingBytes = 0;
        from = nl + 1;
      }
      // `bytes` stays unread by the reader until the batch is done: no read() happens meanwhile.
      const batch = itemsOf(head, bytes, from, last);
      yield batch;
      // What a consumer left of the batch (normally nothing) is still parsed, for its errors.
      for (const item of batch) void item;
      if (failure !== undefined) throw failure;
      if (last + 1 < bytes.length) {
        if (bytes.length - last - 1 > maxLineBytes) throw tooLong(line + 1);
        pending.push(bytes.slice(last + 1));
        pendingBytes += bytes.length - last - 1;
      }
    }
    done = true;
    if (pendingBytes > 0) {
      ended = true;
      line++;
      const item = parseLine(concatBytes(pending, pendingBytes));
      if (item !== BLANK) yield [item];
    }
  } finally {
    if (!done) {
      onCancel?.();
      reader.cancel().catch(() => {});
    }
    reader.releaseLock();
  }
}

/** @internal `parts` joined into one array of `length` bytes (the one part itself when there is one). */
export function concatBytes(parts: readonly Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function isBlank(s: string): boolean {
  return s.length === 0 || /^\s*$/.test(s);
}

function looksUnterminated(text: string): boolean {
  const t = text.trim();
  if (t === '') return false;
  const first = t[0];
  return first === '{' || first === '[' || first === '"';
}

async function readWithLimits(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  signal: AbortSignal | undefined,
  idleTimeoutMs: number | undefined,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  if (!signal && !idleTimeoutMs) return reader.read();
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      cleanup();
      reject(new AbortError(undefined, { cause: signal?.reason }));
    };
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    if (idleTimeoutMs) {
      timer = setTimeout(() => {
        cleanup();
        reject(new TimeoutError({ service: 'stream', method: 'READ', url: 'about:stream', timeoutMs: idleTimeoutMs }));
      }, idleTimeoutMs);
    }
    reader.read().then(
      (r) => {
        cleanup();
        resolve(r);
      },
      (e: unknown) => {
        cleanup();
        reject(e);
      },
    );
  });
}

/**
 * Streaming parser for `application/x-json-stream` (newline-delimited JSON) bodies, as every Rucio
 * listing returns them.
 *
 * Memory stays constant whatever the size: the body is decoded chunk by chunk (`TextDecoder` in
 * streaming mode, so a multi-byte character split between chunks is joined correctly) and only the
 * current partial line is kept.
 *
 * @module
 */
import { AbortError, ConnectionError, DlaasError, StreamError, TimeoutError, excerptOf, type ServiceName } from './errors.js';

/** Options for {@link parseNdjson}. */
export interface NdjsonOptions<T> {
  /** Turn each parsed JSON value into an item (validate it); throw to reject. Receives the 1-based line number. */
  map?: (value: unknown, line: number) => T;
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
 * - Leaving a `for await` loop early cancels the body (and calls `onCancel`).
 *
 * @example
 * ```ts
 * for await (const rse of parseNdjson(response)) console.log(rse);
 * ```
 */
export async function* parseNdjson<T = unknown>(source: NdjsonSource, options: NdjsonOptions<T> = {}): AsyncGenerator<T, void, undefined> {
  const body = source instanceof Response ? source.body : source;
  if (!body) return;
  const { map, endpoint, signal, onCancel, idleTimeoutMs, request } = options;
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let buffer = '';
  let line = 0;
  let done = false;

  const parseLine = (text: string, lineNo: number, last: boolean): { ok: true; value: T } | { ok: false } => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (cause) {
      const msg = last && looksUnterminated(text) ? 'the stream ended inside a JSON value (truncated body)' : `not valid JSON: ${excerptOf(text, 60)}`;
      throw new StreamError(lineNo, msg, { cause, endpoint });
    }
    if (!map) return { ok: true, value: value as T };
    try {
      return { ok: true, value: map(value, lineNo) };
    } catch (cause) {
      if (cause instanceof DlaasError) throw cause;
      throw new StreamError(lineNo, `invalid item: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, endpoint });
    }
  };

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
      try {
        buffer += decoder.decode(chunk.value, { stream: true });
      } catch (cause) {
        throw new StreamError(line + 1, 'body is not valid UTF-8', { cause, endpoint });
      }
      let start = 0;
      for (let nl = buffer.indexOf('\n', start); nl >= 0; nl = buffer.indexOf('\n', start)) {
        line++;
        const text = buffer.slice(start, nl);
        start = nl + 1;
        if (isBlank(text)) continue;
        const r = parseLine(text, line, false);
        if (r.ok) yield r.value;
      }
      buffer = start === 0 ? buffer : buffer.slice(start);
    }
    try {
      buffer += decoder.decode();
    } catch (cause) {
      throw new StreamError(line + 1, 'body ends with an incomplete UTF-8 sequence', { cause, endpoint });
    }
    done = true;
    if (!isBlank(buffer)) {
      line++;
      const r = parseLine(buffer, line, true);
      if (r.ok) yield r.value;
    }
  } finally {
    if (!done) {
      onCancel?.();
      reader.cancel().catch(() => {});
    }
    reader.releaseLock();
  }
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

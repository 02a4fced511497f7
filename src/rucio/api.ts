/**
 * @internal The Rucio request shapes, so that resource methods stay one-liners: NDJSON listings with
 * `Accept: application/x-json-stream`, JSON documents with `Accept: application/json`, and writes whose
 * answer (`Created` / empty, labelled `text/html`) is discarded. Never a global `Accept`.
 * @module
 */
import { listingOfBatches, type Listing } from '../core/listing.js';
import { callSpec, type CallOptions, type LineReader, type QueryValue, type StreamCallOptions, type Transport } from '../core/transport.js';
import type { Schema } from '../core/validate.js';

const NDJSON = 'application/x-json-stream';
const JSON_TYPE = 'application/json';

type Query = Record<string, QueryValue>;


/** @internal */
export class RucioApi {
  constructor(
    /** Data host transport. */
    readonly data: Transport,
    /** Auth host transport (may be the same server). */
    readonly auth: Transport,
    /** Account the client acts as (for rule ownership and auth). */
    readonly account: string | undefined,
    /** VO for multi-VO servers. */
    readonly vo: string | undefined,
  ) {}

  /** NDJSON listing via GET. */
  list<T>(path: string, schema: Schema<T>, query?: Query, opts?: StreamCallOptions): Listing<T> {
    return listingOfBatches(() => this.data.ndjsonBatches({ method: 'GET', path, query, accept: NDJSON, idleTimeout: opts?.idleTimeout, ...callSpec(opts) }, schema));
  }

  /** NDJSON listing via a POST that only reads (retried like a GET). */
  listPost<T>(path: string, reader: LineReader<T>, json: unknown, opts?: StreamCallOptions): Listing<T> {
    return listingOfBatches(() => this.data.ndjsonBatches({ method: 'POST', path, json, accept: NDJSON, idempotent: true, idleTimeout: opts?.idleTimeout, ...callSpec(opts) }, reader));
  }

  /** A JSON document via GET. */
  get<T>(path: string, schema: Schema<T>, query?: Query, opts?: CallOptions): Promise<T> {
    return this.data.json({ method: 'GET', path, query, accept: JSON_TYPE, ...callSpec(opts) }, schema);
  }

  /** A write whose body is `Created` or empty: sends `json`, discards the answer. */
  async write(method: 'POST' | 'PUT' | 'DELETE', path: string, json: unknown, opts?: CallOptions): Promise<void> {
    await this.data.send({ method, path, json, ...callSpec(opts) });
  }

  /** A write that answers JSON labelled `text/html` (e.g. `POST /rules/` → rule ids). */
  writeJson<T>(method: 'POST' | 'PUT', path: string, json: unknown, schema: Schema<T>, opts?: CallOptions): Promise<T> {
    return this.data.json({ method, path, json, ...callSpec(opts) }, schema);
  }
}

/** @internal Split an array into chunks of at most `size` items. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

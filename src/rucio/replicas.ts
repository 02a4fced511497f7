/**
 * @module
 */
import { didPath, toDid, type Did } from '../core/did.js';
import { InvalidArgumentError } from '../core/errors.js';
import { batchesOf, listingOfBatches, type Listing } from '../core/listing.js';
import type { CallOptions, StreamCallOptions } from '../core/transport.js';
import { chunks, type RucioApi } from './api.js';
import { DatasetReplicaSchema, REPLICA_STATE_CODE, ReplicaSchema, type DatasetReplica, type Replica, type ReplicaState } from './types.js';

/** Options of {@link Replicas.list}, named as in Rucio's Python client. */
export interface ListReplicasOptions extends StreamCallOptions {
  /** One PFN per listed scheme (e.g. `['davs', 'https']`); default: the server picks one per RSE. */
  schemes?: readonly string[];
  /** Only replicas on these RSEs. */
  rseExpression?: string;
  /** Include replicas in every state (default: AVAILABLE only). */
  allStates?: boolean;
  /** Protocol domain: `wan`, `lan` or `all` (default: server decides from the client's site). */
  domain?: 'wan' | 'lan' | 'all';
  /** WAN ordering: `geoip` (server default), `custom_table` or `random`. */
  sort?: 'geoip' | 'custom_table' | 'random';
  /** Include RSEs that are not readable. */
  ignoreAvailability?: boolean;
  /** Where the client is (site name drives LAN choice). `ip` is always replaced by the server. */
  clientLocation?: { site?: string; fqdn?: string; latitude?: number; longitude?: number };
  /** Add `parents: ["scope:name"]` to each file. */
  resolveParents?: boolean;
  /** Include archive constituents (server default true). */
  resolveArchives?: boolean;
  /** Lifetime of signed URLs in seconds. */
  signatureLifetime?: number;
  /** Only replicas updated after this date. */
  updatedAfter?: Date;
  /** DIDs per request (default 500). Large DID lists are split into several requests transparently. */
  batchSize?: number;
}

/** A file replica to register with {@link Replicas.add}. */
export interface NewReplica extends Did {
  bytes: number;
  adler32: string;
  md5?: string;
  /** Initial state (the server defaults to AVAILABLE: register as `COPYING` before the data is there). */
  state?: ReplicaState;
  /** Required on non-deterministic RSEs. */
  pfn?: string;
  meta?: Record<string, unknown>;
}

/** A state change for {@link Replicas.updateState}. */
export interface ReplicaStateUpdate extends Did {
  state: ReplicaState;
}

const ADLER32 = /^[0-9a-fA-F]{8}$/;
const MD5 = /^[0-9a-fA-F]{32}$/;

function stateCode(state: string, field: string): string {
  const code = (REPLICA_STATE_CODE as Record<string, string>)[state];
  if (!code) throw new InvalidArgumentError(field, `unknown replica state ${JSON.stringify(state)} (use one of ${Object.keys(REPLICA_STATE_CODE).join(', ')})`);
  return code;
}

/**
 * File replicas (`/replicas`).
 *
 * @example
 * ```ts
 * for await (const r of rucio.replicas.list([parseDid('lofar:L123456')], { schemes: ['davs', 'https'] })) {
 *   const best = Object.entries(r.pfns).sort(([, a], [, b]) => a.priority - b.priority)[0];
 *   console.log(r.name, best?.[0]);
 * }
 * ```
 */
export class Replicas {
  /** @internal */
  constructor(private readonly api: RucioApi) {}

  /**
   * List the replicas of files (collections are expanded by the server) with `POST /replicas/list`,
   * streamed. Large DID sets are split into batches of `batchSize`, requested one after another.
   * @throws NotFoundError when a DID does not exist (the server's 400 `DataIdentifierNotFound`).
   */
  list(dids: readonly Did[], options: ListReplicasOptions = {}): Listing<Replica> {
    const clean = dids.map((d) => toDid(d));
    const size = options.batchSize ?? 500;
    if (!Number.isInteger(size) || size < 1) throw new InvalidArgumentError('batchSize', 'batchSize must be a positive integer');
    const base = {
      ...(options.schemes ? { schemes: options.schemes } : {}),
      ...(options.rseExpression !== undefined ? { rse_expression: options.rseExpression } : {}),
      ...(options.allStates ? { all_states: true } : {}),
      ...(options.domain ? { domain: options.domain } : {}),
      ...(options.sort ? { sort: options.sort } : {}),
      ...(options.ignoreAvailability !== undefined ? { ignore_availability: options.ignoreAvailability } : {}),
      ...(options.clientLocation ? { client_location: options.clientLocation } : {}),
      ...(options.resolveParents ? { resolve_parents: true } : {}),
      ...(options.resolveArchives !== undefined ? { resolve_archives: options.resolveArchives } : {}),
      ...(options.signatureLifetime !== undefined ? { signature_lifetime: options.signatureLifetime } : {}),
      ...(options.updatedAfter ? { updated_after: options.updatedAfter.toISOString().slice(0, 19) } : {}),
    };
    const api = this.api;
    return listingOfBatches(async function* () {
      for (const batch of chunks(clean, size)) {
        yield* batchesOf(api.listPost('replicas/list', ReplicaSchema, { dids: batch.map((d) => ({ scope: d.scope, name: d.name })), ...base }, options));
      }
    });
  }

  /**
   * Register file replicas on an RSE (`POST /replicas`, ≤ 1000 files per request). Missing file DIDs
   * are created. Pass `state: 'COPYING'` until the bytes are verified: the server's default is AVAILABLE.
   */
  async add(rse: string, files: readonly NewReplica[], options: CallOptions & { ignoreAvailability?: boolean } = {}): Promise<void> {
    const body = files.map((f, i) => {
      const d = toDid(f);
      if (!Number.isInteger(f.bytes) || f.bytes < 0) throw new InvalidArgumentError(`files[${i}].bytes`, `files[${i}].bytes must be a non-negative integer`);
      if (!ADLER32.test(f.adler32)) throw new InvalidArgumentError(`files[${i}].adler32`, `files[${i}].adler32 must be 8 hex digits`);
      if (f.md5 !== undefined && !MD5.test(f.md5)) throw new InvalidArgumentError(`files[${i}].md5`, `files[${i}].md5 must be 32 hex digits`);
      return {
        scope: d.scope,
        name: d.name,
        bytes: f.bytes,
        adler32: f.adler32.toLowerCase(),
        ...(f.md5 ? { md5: f.md5.toLowerCase() } : {}),
        ...(f.state ? { state: stateCode(f.state, `files[${i}].state`) } : {}),
        ...(f.pfn ? { pfn: f.pfn } : {}),
        ...(f.meta ? { meta: f.meta } : {}),
      };
    });
    for (const batch of chunks(body, 1000)) {
      await this.api.write('POST', 'replicas', { rse, files: batch, ...(options.ignoreAvailability !== undefined ? { ignore_availability: options.ignoreAvailability } : {}) }, options);
    }
  }

  /** Change replica states (`PUT /replicas`); takes state names, sends Rucio's letter codes. */
  async updateState(rse: string, files: readonly ReplicaStateUpdate[], options?: CallOptions): Promise<void> {
    const body = files.map((f, i) => ({ ...toDid(f), state: stateCode(f.state, `files[${i}].state`) }));
    for (const batch of chunks(body, 1000)) await this.api.write('PUT', 'replicas', { rse, files: batch }, options);
  }

  /** Delete replica registrations (`DELETE /replicas`). */
  async delete(rse: string, files: readonly Did[], options: CallOptions & { ignoreAvailability?: boolean } = {}): Promise<void> {
    const body = files.map((f) => ({ scope: toDid(f).scope, name: f.name }));
    for (const batch of chunks(body, 1000)) {
      await this.api.write('DELETE', 'replicas', { rse, files: batch, ...(options.ignoreAvailability !== undefined ? { ignore_availability: options.ignoreAvailability } : {}) }, options);
    }
  }

  /** Replicas of a dataset per RSE, with completeness (`GET …/datasets`). */
  datasetReplicas(did: Did, options: StreamCallOptions & { deep?: boolean } = {}): Listing<DatasetReplica> {
    return this.api.list(`replicas/${didPath(toDid(did))}/datasets`, DatasetReplicaSchema, { deep: options.deep ? 'True' : undefined }, options);
  }
}

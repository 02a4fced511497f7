/**
 * @module
 */
import { didPath, encodeSegment, scopeProblem, toDid, type Did } from '../core/did.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { Listing } from '../core/listing.js';
import type { CallOptions, StreamCallOptions } from '../core/transport.js';
import type { RucioApi } from './api.js';
import { encodeDidFilters, type DidFilter } from './filters.js';
import {
  ContentEntrySchema,
  DidInfoSchema,
  DidMetaSchema,
  DidNameSchema,
  DidSearchLongSchema,
  FileEntrySchema,
  ParentEntrySchema,
  RuleSchema,
  type ContentEntry,
  type DidInfo,
  type DidMeta,
  type DidSearchLong,
  type FileEntry,
  type ParentEntry,
  type Rule,
} from './types.js';

/** Options of {@link Dids.search}. */
export interface DidSearchOptions extends StreamCallOptions {
  /** Which DIDs (default `collection` on the server: datasets and containers). */
  type?: 'all' | 'collection' | 'dataset' | 'container' | 'file';
  /** Name pattern with `*` wildcards, e.g. `L123*`. */
  name?: string;
  /** Metadata filters: one AND-group, or a list of groups OR'ed. */
  filters?: DidFilter | readonly DidFilter[];
  /** Return `{ scope, name, did_type, bytes, length }` instead of names. */
  long?: boolean;
  /** At most this many results. */
  limit?: number;
  /** Search inside matching collections too. */
  recursive?: boolean;
}

/** A rule to attach when creating a collection (`POST /dids/{scope}/{name}` `rules`). */
export interface CollectionRule {
  copies: number;
  rse_expression: string;
  account?: string;
  grouping?: 'ALL' | 'DATASET' | 'NONE';
  lifetime?: number | null;
  [key: string]: unknown;
}

/** Options of {@link Dids.addDataset} / {@link Dids.addContainer}. */
export interface AddCollectionOptions extends CallOptions {
  /** Initial metadata. */
  meta?: Record<string, unknown>;
  /** Rules to create with it. */
  rules?: CollectionRule[];
  /** Lifetime in seconds. */
  lifetime?: number;
  /** DIDs to attach right away. */
  dids?: Did[];
  /** RSE where attached new files have replicas. */
  rse?: string;
  /** Create it closed/monotonic. */
  statuses?: { monotonic?: boolean };
}

/** A new DID for {@link Dids.addMany}. */
export interface NewDid extends Did {
  type: 'DATASET' | 'CONTAINER';
  account?: string;
  meta?: Record<string, unknown>;
  lifetime?: number;
  statuses?: { monotonic?: boolean };
}

/** A file or DID to attach, optionally with file attributes (new files are registered). */
export interface AttachedDid extends Did {
  bytes?: number;
  adler32?: string;
  md5?: string;
  meta?: Record<string, unknown>;
}

/** One `parent ← children` attachment for {@link Dids.attachMany}. */
export interface Attachment extends Did {
  dids: AttachedDid[];
  rse?: string;
}

const didBody = (d: Did) => ({ scope: d.scope, name: d.name });

/**
 * Data identifiers: files, datasets, containers (`/dids`).
 *
 * @example
 * ```ts
 * const info = await rucio.dids.get(parseDid('lofar:L123456'));
 * for await (const f of rucio.dids.files(parseDid('lofar:L123456'))) console.log(f.name, f.bytes);
 * for await (const name of rucio.dids.search('lofar', { type: 'dataset', filters: { datatype: 'MS' } })) console.log(name);
 * ```
 */
export class Dids {
  /** @internal */
  constructor(private readonly api: RucioApi) {}

  /** DID details (`GET /dids/{scope}/{name}`). @throws NotFoundError for a missing DID. */
  get(did: Did, options: CallOptions & { dynamicDepth?: 'FILE' | 'DATASET' } = {}): Promise<DidInfo> {
    return this.api.get(`dids/${didPath(toDid(did))}`, DidInfoSchema, { dynamic_depth: options.dynamicDepth }, options);
  }

  /** Search a scope: names, or `{scope,name,did_type,bytes,length}` with `long: true`. */
  search(scope: string, options: DidSearchOptions & { long: true }): Listing<DidSearchLong>;
  search(scope: string, options?: DidSearchOptions): Listing<string>;
  search(scope: string, options: DidSearchOptions = {}): Listing<string> | Listing<DidSearchLong> {
    const problem = scopeProblem(scope);
    if (problem) throw new InvalidArgumentError('scope', `Invalid scope ${JSON.stringify(scope)}: ${problem}`);
    if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 1)) throw new InvalidArgumentError('limit', 'limit must be a positive integer');
    const groups = options.filters === undefined ? undefined : Array.isArray(options.filters) ? options.filters : [options.filters as DidFilter];
    // A name pattern joins every OR-group (or is sent as a plain argument without filters).
    const filters = groups ? encodeDidFilters(options.name === undefined ? groups : groups.map((g) => ({ ...g, name: options.name as string }))) : undefined;
    const query = {
      type: options.type,
      long: options.long ? 'true' : undefined,
      limit: options.limit,
      recursive: options.recursive ? 'true' : undefined,
      ...(filters ? { filters } : { name: options.name }),
    };
    const path = `dids/${encodeSegment(scope)}/dids/search`;
    return options.long ? this.api.list(path, DidSearchLongSchema, query, options) : this.api.list(path, DidNameSchema, query, options);
  }

  /** DIDs directly attached to a collection (`GET …/dids`). */
  content(did: Did, options?: StreamCallOptions): Listing<ContentEntry> {
    return this.api.list(`dids/${didPath(toDid(did))}/dids`, ContentEntrySchema, undefined, options);
  }

  /** All files inside a collection, recursively (`GET …/files`). */
  files(did: Did, options: StreamCallOptions & { long?: boolean } = {}): Listing<FileEntry> {
    return this.api.list(`dids/${didPath(toDid(did))}/files`, FileEntrySchema, { long: options.long ? 'True' : undefined }, options);
  }

  /** Collections a DID is attached to (`GET …/parents`). */
  parents(did: Did, options?: StreamCallOptions): Listing<ParentEntry> {
    return this.api.list(`dids/${didPath(toDid(did))}/parents`, ParentEntrySchema, undefined, options);
  }

  /** Rules on a DID (`GET …/rules`). @throws NotFoundError for a missing DID. */
  rules(did: Did, options?: StreamCallOptions): Listing<Rule> {
    return this.api.list(`dids/${didPath(toDid(did))}/rules`, RuleSchema, undefined, options);
  }

  /** Metadata (`GET …/meta`); `plugin` defaults to the server's `DID_COLUMN`. */
  getMeta(did: Did, options: CallOptions & { plugin?: string } = {}): Promise<DidMeta> {
    return this.api.get(`dids/${didPath(toDid(did))}/meta`, DidMetaSchema, { plugin: options.plugin }, options);
  }

  /** Set metadata keys (`POST …/meta`). */
  setMeta(did: Did, meta: Record<string, unknown>, options: CallOptions & { recursive?: boolean } = {}): Promise<void> {
    return this.api.write('POST', `dids/${didPath(toDid(did))}/meta`, { meta, ...(options.recursive ? { recursive: true } : {}) }, options);
  }

  /** Delete one metadata key (`DELETE …/meta?key=`). */
  deleteMeta(did: Did, key: string, options?: CallOptions): Promise<void> {
    return this.api.data.send({ method: 'DELETE', path: `dids/${didPath(toDid(did))}/meta`, query: { key }, signal: options?.signal }).then(() => undefined);
  }

  /** Create a dataset (`POST /dids/{scope}/{name}`). @throws DuplicateError if it exists. */
  addDataset(did: Did, options: AddCollectionOptions = {}): Promise<void> {
    return this.#addCollection('DATASET', did, options);
  }

  /** Create a container. @throws DuplicateError if it exists. */
  addContainer(did: Did, options: AddCollectionOptions = {}): Promise<void> {
    return this.#addCollection('CONTAINER', did, options);
  }

  /** Create several datasets/containers in one call (`POST /dids`). */
  addMany(dids: readonly NewDid[], options?: CallOptions): Promise<void> {
    return this.api.write('POST', 'dids', dids.map((d) => ({ ...d, ...didBody(toDid(d)) })), options);
  }

  /** Attach DIDs to a collection (`POST …/dids`). New files carrying attributes are registered (on `rse`). */
  attach(parent: Did, dids: readonly AttachedDid[], options: CallOptions & { rse?: string } = {}): Promise<void> {
    return this.api.write('POST', `dids/${didPath(toDid(parent))}/dids`, { dids: dids.map((d) => ({ ...d, ...didBody(toDid(d)) })), ...(options.rse ? { rse: options.rse } : {}) }, options);
  }

  /** Attach to several collections at once (`POST /dids/attachments`). */
  attachMany(attachments: readonly Attachment[], options: CallOptions & { ignoreDuplicate?: boolean } = {}): Promise<void> {
    const list = attachments.map((a) => ({ ...a, ...didBody(toDid(a)), dids: a.dids.map((d) => ({ ...d, ...didBody(toDid(d)) })) }));
    return this.api.write('POST', 'dids/attachments', { attachments: list, ignore_duplicate: options.ignoreDuplicate ?? false }, options);
  }

  /** Detach DIDs from a collection (`DELETE …/dids` with a body). */
  detach(parent: Did, dids: readonly Did[], options?: CallOptions): Promise<void> {
    return this.api.write('DELETE', `dids/${didPath(toDid(parent))}/dids`, { dids: dids.map((d) => didBody(toDid(d))) }, options);
  }

  /** Close a collection: no more attachments (`PUT …/status {open:false}`). */
  close(did: Did, options?: CallOptions): Promise<void> {
    return this.api.write('PUT', `dids/${didPath(toDid(did))}/status`, { open: false }, options);
  }

  /** Reopen a closed collection (`PUT …/status {open:true}`; the server may refuse: admins only). */
  reopen(did: Did, options?: CallOptions): Promise<void> {
    return this.api.write('PUT', `dids/${didPath(toDid(did))}/status`, { open: true }, options);
  }

  #addCollection(type: 'DATASET' | 'CONTAINER', did: Did, o: AddCollectionOptions): Promise<void> {
    const body = {
      type,
      ...(o.statuses ? { statuses: o.statuses } : {}),
      ...(o.meta ? { meta: o.meta } : {}),
      ...(o.rules ? { rules: o.rules.map((r) => ({ account: this.api.account ?? null, grouping: 'DATASET', ...r })) } : {}),
      ...(o.lifetime !== undefined ? { lifetime: o.lifetime } : {}),
      ...(o.dids ? { dids: o.dids.map((d) => didBody(toDid(d))) } : {}),
      ...(o.rse ? { rse: o.rse } : {}),
    };
    return this.api.write('POST', `dids/${didPath(toDid(did))}`, body, o);
  }
}

/**
 * @module
 */
import { formatDid, path, toDid, type Did } from '../core/did.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { Listing } from '../core/listing.js';
import type { CallOptions, StreamCallOptions } from '../core/transport.js';
import type { RucioApi } from './api.js';
import { buildPfn, lfn2pathHash, lfn2pathIdentity } from './lfn2pfn.js';
import { ObjectSchema, PfnMapSchema, ProtocolSchema, RseNameSchema, RseSchema, RseSettingsSchema, type Protocol, type Rse, type RseName, type RseSettings } from './types.js';
import * as z from 'zod/mini';

const RSE_NAME = /^([A-Z0-9]+([_-][A-Z0-9]+)*)$/;

function rseName(rse: string): string {
  if (typeof rse !== 'string' || !RSE_NAME.test(rse)) throw new InvalidArgumentError('rse', `Invalid RSE name ${JSON.stringify(String(rse)).slice(0, 60)}: expected upper-case letters, digits, "_" and "-"`);
  return rse;
}

/** Options of {@link Rses.pfns} and {@link Rses.lfns2pfns}. */
export interface PfnOptions extends CallOptions {
  /** Protocol scheme (default: the best-priority protocol for the operation). */
  scheme?: string;
  /** `read`, `write` (default) or `delete`. */
  operation?: 'read' | 'write' | 'delete';
  /** `wan` (default) or `lan`. */
  domain?: 'wan' | 'lan';
}

/**
 * The protocols usable for an operation in a domain, best first (priority ascending; `null` or
 * missing priority = disabled), optionally only one scheme.
 */
export function protocolsFor(settings: Pick<RseSettings, 'protocols'>, operation: 'read' | 'write' | 'delete', domain: 'wan' | 'lan' = 'wan', schemes?: readonly string[]): Protocol[] {
  return settings.protocols
    .filter((p) => !schemes || schemes.includes(p.scheme))
    .map((p) => ({ p, prio: p.domains[domain]?.[operation] }))
    .filter((x): x is { p: Protocol; prio: number } => typeof x.prio === 'number' && x.prio >= 0)
    .sort((a, b) => a.prio - b.prio)
    .map((x) => x.p);
}

/**
 * Storage elements (`/rses`).
 *
 * @example
 * ```ts
 * for await (const { rse } of rucio.rses.list('tier=1&type=DISK')) console.log(rse);
 * const settings = await rucio.rses.get('SITE_A');
 * const pfns = await rucio.rses.pfns('SITE_A', [parseDid('user.jdoe:out.fits')], { scheme: 'davs' });
 * ```
 */
export class Rses {
  /** @internal */
  constructor(private readonly api: RucioApi) {}

  /** All RSEs (full entries), or the names an RSE expression resolves to. @throws BadRequestError / ConflictError for an invalid expression. */
  list(): Listing<Rse>;
  list(expression: string, options?: StreamCallOptions): Listing<RseName>;
  list(expression?: string, options?: StreamCallOptions): Listing<Rse> | Listing<RseName> {
    if (expression === undefined) return this.api.list('rses/', RseSchema, undefined, options);
    if (typeof expression !== 'string' || expression.trim() === '') throw new InvalidArgumentError('expression', 'an RSE expression must be a non-empty string');
    return this.api.list('rses/', RseNameSchema, { expression }, options);
  }

  /** Settings of an RSE, including its protocols (`GET /rses/{rse}`). @throws NotFoundError (`RSENotFound`). */
  get(rse: string, options?: CallOptions): Promise<RseSettings> {
    return this.api.get(path`rses/${rseName(rse)}`, RseSettingsSchema, undefined, options);
  }

  /** Protocols of an RSE (`GET /rses/{rse}/protocols`). */
  protocols(rse: string, options?: CallOptions): Promise<Protocol[]> {
    return this.api.get(path`rses/${rseName(rse)}/protocols`, z.array(ProtocolSchema), undefined, options);
  }

  /** Attributes of an RSE (`GET /rses/{rse}/attr/`). */
  attributes(rse: string, options?: CallOptions): Promise<Record<string, unknown>> {
    return this.api.get(path`rses/${rseName(rse)}/attr/`, ObjectSchema, undefined, options);
  }

  /** Ask the server for PFNs (`GET /rses/{rse}/lfns2pfns`): works for every lfn2pfn algorithm. Keys are `scope:name`. */
  lfns2pfns(rse: string, dids: readonly Did[], options: PfnOptions = {}): Promise<Record<string, string>> {
    if (dids.length === 0) return Promise.resolve({});
    const lfn = dids.map((d) => formatDid(toDid(d)));
    const query = { lfn, scheme: options.scheme, domain: options.domain ?? 'wan', operation: options.operation ?? 'write' };
    return this.api.get(path`rses/${rseName(rse)}/lfns2pfns`, PfnMapSchema, query, options);
  }

  /**
   * PFNs of DIDs on an RSE, keyed by `scope:name`. Deterministic RSEs with the `hash` or `identity`
   * algorithm are computed client-side (no request beyond the cached-once settings); anything else
   * asks the server's `lfns2pfns`.
   * @throws InvalidArgumentError when the RSE has no protocol for the operation (and scheme).
   */
  async pfns(rse: string, dids: readonly Did[], options: PfnOptions & { settings?: RseSettings } = {}): Promise<Record<string, string>> {
    const settings = options.settings ?? (await this.get(rse, options));
    const operation = options.operation ?? 'write';
    const [protocol] = protocolsFor(settings, operation, options.domain ?? 'wan', options.scheme ? [options.scheme] : undefined);
    if (!protocol) throw new InvalidArgumentError('scheme', `RSE ${rse} has no ${options.scheme ?? ''} protocol for ${operation} in domain ${options.domain ?? 'wan'}`.replace('  ', ' '));
    const algorithm = settings.lfn2pfn_algorithm ?? 'hash';
    if (!settings.deterministic || (algorithm !== 'hash' && algorithm !== 'identity')) {
      return this.lfns2pfns(rse, dids, { ...options, scheme: protocol.scheme });
    }
    const out: Record<string, string> = {};
    for (const d of dids.map((x) => toDid(x))) {
      const p = algorithm === 'hash' ? await lfn2pathHash(d) : lfn2pathIdentity(d);
      out[formatDid(d)] = buildPfn(protocol, p);
    }
    return out;
  }
}

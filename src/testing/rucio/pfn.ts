/**
 * Protocol selection and PFN construction on the server side (`rsemanager`), reusing the SDK's
 * client-side translation (`lfn2pathHash`, `buildPfn`) so both sides agree by construction.
 * @module
 */
import { buildPfn, lfn2pathHash, lfn2pathIdentity } from '../../rucio/lfn2pfn.js';
import type { ProtocolRecord, RseRecord } from './state.js';

/** Implementation class Rucio records for a scheme when none is given. */
export function defaultImpl(scheme: string): string {
  if (scheme === 'file') return 'rucio.rse.protocols.posix.Default';
  if (scheme === 'root') return 'rucio.rse.protocols.xrootd.Default';
  return 'rucio.rse.protocols.gfal.Default';
}

/** Protocols usable for `operation` in `domain` (priority not null), optionally of one scheme. */
export function candidateProtocols(rse: RseRecord, operation: string, domain: 'lan' | 'wan', scheme?: string | null): ProtocolRecord[] {
  return rse.protocols.filter((p) => (!scheme || p.scheme === scheme) && p.domains[domain][operation] !== null && p.domains[domain][operation] !== undefined);
}

/** `select_protocol`: the usable protocol with the best (lowest) priority. */
export function selectProtocol(rse: RseRecord, operation: string, domain: 'lan' | 'wan', scheme?: string | null): ProtocolRecord | undefined {
  const priority = (p: ProtocolRecord) => p.domains[domain][operation] as number;
  return candidateProtocols(rse, operation, domain, scheme).sort((a, b) => priority(a) - priority(b))[0];
}

/** Path of a replica below the protocol prefix: the stored one, or the RSE's lfn2pfn algorithm. */
export async function replicaPath(rse: RseRecord, scope: string, name: string, stored: string | null): Promise<string | undefined> {
  if (stored) return stored;
  if (!rse.deterministic) return undefined;
  return rse.lfn2pfnAlgorithm === 'identity' ? lfn2pathIdentity({ scope, name }) : lfn2pathHash({ scope, name });
}

/** The PFN of a replica through one protocol. */
export function pfnOf(protocol: ProtocolRecord, path: string): string {
  return buildPfn(protocol, path);
}

/**
 * The path to store for a PFN registered on a non-deterministic RSE (`parse_pfns`): what follows
 * the protocol's `scheme://host[:port]` and prefix.
 */
export function pathOfPfn(rse: RseRecord, pfn: string): string {
  const scheme = pfn.split(':')[0];
  const protocol = rse.protocols.find((p) => p.scheme === scheme);
  const rest = pfn.replace(/^[a-z0-9+.-]+:\/\/[^/]*/i, '');
  if (!protocol) return rest;
  let prefix = protocol.prefix || '/';
  if (!prefix.startsWith('/')) prefix = `/${prefix}`;
  if (!prefix.endsWith('/')) prefix = `${prefix}/`;
  return rest.startsWith(prefix) ? `/${rest.slice(prefix.length)}` : rest;
}

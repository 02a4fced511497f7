/**
 * File replica listing (`POST /replicas/list`, `GET /replicas/{scope}/{name}`), streamed one file
 * at a time in `(scope, name)` order, with PFNs built and prioritised as `list_replicas` and the
 * REST layer do, and the metalink rendering.
 * @module
 */
import { resolveRseExpression } from './expressions.js';
import { pfnOf, replicaPath, selectProtocol } from './pfn.js';
import { compare, didKey, mergeSorted, sortKey, type ContentRow, type ProtocolRecord, type ReplicaState, type RseRecord, type Store } from './state.js';
import { RucioError } from './wire.js';

/** The listing parameters of `POST /replicas/list`, after defaults. */
export interface ListOptions {
  dids: { scope: string; name: string }[];
  schemes: string[] | null;
  rseExpression: string | null;
  allStates: boolean;
  unavailable: boolean;
  ignoreAvailability: boolean;
  resolveParents: boolean;
  /** `wan`, `lan`, `all`, or null (lan only for RSEs whose `site` attribute is the client's site). */
  domain: string | null;
  clientSite: string | null;
  sort: string | null;
  updatedAfter: Date | null;
}

/** A PFN entry of a listed file. */
export interface PfnInfo {
  rse_id: string;
  rse: string;
  type: string;
  volatile: boolean;
  domain: string;
  priority: number;
  client_extract: boolean;
}

/** One listed file (keys in the server's order). */
export interface ListedFile {
  scope: string;
  name: string;
  bytes: number | null;
  md5: string | null;
  adler32: string | null;
  pfns: Record<string, PfnInfo>;
  rses: Record<string, string[]>;
  states: Record<string, ReplicaState>;
  parents?: string[];
}

/** Schemes a metalink request without `schemes` asks for (`SUPPORTED_PROTOCOLS`). */
export const SUPPORTED_PROTOCOLS = ['root', 'davs', 'http', 'https', 'file', 'storm', 'srm+https', 'scp', 'rsync', 'rclone', 'magnet'];
const SORTING_ALGORITHMS = ['geoip', 'custom_table', 'random'];

type Row = ContentRow & { input: boolean };

function rowKey(r: ContentRow): string {
  return sortKey(r.scope, r.name);
}

/** The file rows to list: input files (even without replicas) and the files of input collections. */
function rows(store: Store, dids: ListOptions['dids']): Iterable<Row> {
  const seen = new Set<string>();
  const inputs: Row[] = [];
  const sources: Iterable<Row>[] = [inputs];
  for (const { scope, name } of dids) {
    if (seen.has(didKey(scope, name))) continue;
    seen.add(didKey(scope, name));
    const did = store.getDid(scope, name);
    if (!did) continue;
    if (did.type === 'FILE') inputs.push({ scope, name, type: 'FILE', bytes: did.bytes, md5: did.md5, adler32: did.adler32, guid: did.guid, events: did.events, input: true });
    else sources.push(mapRows(store.sortedFiles(did), false));
  }
  inputs.sort((a, b) => compare(rowKey(a), rowKey(b)));
  // Input files come first among equal keys, so their "listed even without replicas" flag wins.
  return mergeSorted(sources, rowKey);
}

function* mapRows(source: Iterable<ContentRow>, input: boolean): Generator<Row> {
  for (const r of source) yield { ...r, input };
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** Read protocols of an RSE for the listing: `[domain, protocol, priority]`, one per scheme and domain. */
function readProtocols(rse: RseRecord, domains: ('lan' | 'wan')[], schemes: string[] | null): [('lan' | 'wan'), ProtocolRecord, number][] {
  const wanted = schemes?.length ? schemes : domains.map((d) => selectProtocol(rse, 'read', d)?.scheme).filter((s): s is string => !!s);
  const out: [('lan' | 'wan'), ProtocolRecord, number][] = [];
  for (const scheme of [...new Set(wanted)]) {
    for (const d of domains) {
      const p = selectProtocol(rse, 'read', d, scheme);
      if (p) out.push([d, p, p.domains[d].read as number]);
    }
  }
  return out;
}

/** Stream the listed files of `list_replicas` + the REST layer's priority renumbering. */
export async function* listReplicas(store: Store, o: ListOptions): AsyncGenerator<ListedFile> {
  const selection = o.sort ?? 'geoip';
  if (!SORTING_ALGORITHMS.includes(selection)) throw new RucioError(400, 'SortingAlgorithmNotSupported', `Sorting algorithm: ${selection} is not supported. Supported protocols: ['geoip', 'custom_table', 'random']`);
  let allowed: Set<string> | undefined;
  if (o.rseExpression) {
    try {
      allowed = new Set(resolveRseExpression(o.rseExpression, store.rses.values()).map((r) => r.id));
    } catch (error) {
      // Not among the exceptions the view maps: the generic handler answers 500.
      if (error instanceof RucioError) throw new RucioError(500, error.exceptionClass, error.message);
      throw error;
    }
  }
  const states: ReplicaState[] = o.allStates ? [] : o.unavailable ? ['AVAILABLE', 'UNAVAILABLE', 'COPYING'] : ['AVAILABLE'];
  const protocols = new Map<string, [('lan' | 'wan'), ProtocolRecord, number][]>();
  for (const row of rows(store, o.dids)) {
    const replicas = store.replicasOf(row.scope, row.name).flatMap((rep) => {
      const rse = store.rseById(rep.rseId);
      if (!rse || (!o.ignoreAvailability && !rse.availabilityRead) || (allowed && !allowed.has(rse.id))) return [];
      if (states.length && !states.includes(rep.state)) return [];
      if (o.updatedAfter && rep.updatedAt < o.updatedAfter) return [];
      return [{ rep, rse }];
    });
    if (!replicas.length && !row.input) continue;
    const file: ListedFile = { scope: row.scope, name: row.name, bytes: row.bytes, md5: row.md5, adler32: row.adler32, pfns: {}, rses: {}, states: {} };
    if (o.resolveParents) file.parents = store.ancestorKeys(row.scope, row.name);
    const pfns = new Map<string, PfnInfo>();
    for (const { rep, rse } of replicas.sort((a, b) => compare(a.rse.id, b.rse.id))) {
      file.states[rse.name] = rep.state;
      const domains: ('lan' | 'wan')[] = o.domain === 'all' ? ['wan', 'lan'] : o.domain === 'lan' || (o.domain === null && o.clientSite && rse.attributes.get('site') === o.clientSite) ? ['lan'] : ['wan'];
      const key = `${rse.id}|${domains.join()}`;
      let list = protocols.get(key);
      if (!list) protocols.set(key, (list = readProtocols(rse, domains, o.schemes)));
      const path = list.length ? await replicaPath(rse, row.scope, row.name, rep.path) : undefined;
      if (path === undefined) continue;
      for (const [domain, protocol, priority] of list) {
        pfns.set(pfnOf(protocol, path), { rse_id: rse.id, rse: rse.name, type: rse.rseType, volatile: rse.volatile, domain, priority, client_extract: false });
      }
    }
    // Core order (domain, priority, pfn); the REST layer then puts LAN first and sorts WAN
    // (stable for geoip without a GeoIP database), and renumbers from 1.
    const ordered = [...pfns].sort(([pa, a], [pb, b]) => compare(a.domain, b.domain) || a.priority - b.priority || compare(pa, pb));
    const lan = ordered.filter(([, p]) => p.domain === 'lan');
    const wan = ordered.filter(([, p]) => p.domain !== 'lan');
    [...lan, ...(selection === 'random' ? shuffle(wan) : wan)].forEach(([pfn, info], i) => {
      file.pfns[pfn] = { ...info, priority: i + 1 };
    });
    for (const [pfn, info] of Object.entries(file.pfns).sort(([pa, a], [pb, b]) => compare(a.rse_id, b.rse_id) || a.priority - b.priority || compare(pa, pb))) {
      (file.rses[info.rse] ??= []).push(pfn);
    }
    yield file;
  }
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The metalink document of a listing, one chunk per element as the server yields them. */
export async function* metalink(files: AsyncIterable<ListedFile>, policySchema: string, detailed: boolean): AsyncGenerator<string> {
  const head = '<?xml version="1.0" encoding="UTF-8"?>\n<metalink xmlns="urn:ietf:params:xml:ns:metalink">\n';
  let first = true;
  for await (const f of files) {
    if (first) yield head;
    first = false;
    yield ` <file name="${f.name}">\n`;
    if (f.parents?.length) yield `  <parents>\n${f.parents.map((p) => `   <did>${p}</did>\n`).join('')}  </parents>\n`;
    yield `  <identity>${f.scope}:${f.name}</identity>\n`;
    if (f.adler32 !== null) yield `  <hash type="adler32">${f.adler32}</hash>\n`;
    if (f.md5 !== null) yield `  <hash type="md5">${f.md5}</hash>\n`;
    yield `  <size>${f.bytes === null ? 'None' : f.bytes}</size>\n`;
    yield `  <glfn name="/${policySchema}/rucio/${f.scope}:${f.name}"></glfn>\n`;
    for (const [pfn, r] of Object.entries(f.pfns)) {
      yield detailed
        ? `  <url location="${r.rse}" domain="${r.domain}" priority="${r.priority}" client_extract="${r.client_extract}">${xmlEscape(pfn)}</url>\n`
        : `  <url location="${r.rse}" priority="${r.priority}">${xmlEscape(pfn)}</url>\n`;
    }
    yield ' </file>\n';
  }
  yield first ? `${head}</metalink>\n` : '</metalink>\n';
}

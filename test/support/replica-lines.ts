/**
 * The reference for reading `POST /replicas/list` lines: `JSON.parse` of the line as it is, then its
 * `pfns` turned into `replicas` by plain object code, written here independently of the SDK's
 * rewrite-before-parse (src/rucio/listed-replicas.ts), which must give exactly this.
 */

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const define = (o: object, k: string, value: unknown) => Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });

/** The line parsed, then `pfns` (an object of objects) as `replicas: [{ pfn, …details }]` in its place, sorted by priority when all are numbers; any other value as parsed. */
export function referenceReplica(line: string): unknown {
  const wire = JSON.parse(line) as unknown;
  if (!isObject(wire) || !Object.hasOwn(wire, 'pfns') || !isObject(wire.pfns)) return wire;
  const list: Record<string, unknown>[] = [];
  for (const [pfn, info] of Object.entries(wire.pfns)) {
    if (!isObject(info)) return wire;
    const entry = define({}, 'pfn', pfn) as Record<string, unknown>;
    for (const [k, v] of Object.entries(info)) define(entry, k, v);
    entry.pfn = pfn;
    list.push(entry);
  }
  if (list.every((r) => typeof r.priority === 'number')) list.sort((a, b) => (a.priority as number) - (b.priority as number));
  const out = {};
  for (const [k, v] of Object.entries(wire)) if (k !== 'replicas') define(out, k === 'pfns' ? 'replicas' : k, k === 'pfns' ? list : v);
  return out;
}

/** A value with its key order made visible (`toEqual` ignores it), for deep comparison. */
export function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (isObject(v)) return Object.entries(v).map(([k, x]) => [k, shape(x)]);
  return v;
}

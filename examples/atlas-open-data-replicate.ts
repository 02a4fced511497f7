/**
 * ATLAS open data (DAC21): replicate a dataset to a site, wait for it, and list what is there.
 *
 *   npx node examples/atlas-open-data-replicate.ts [DID] [RSE]
 *     (default ATLAS_OD_EDU:data16_13TeV_2lep to DESY-DCACHE)
 *
 * A replication rule (lifetime ATLAS_RULE_LIFETIME seconds, default a day) asks the Data Lake to keep
 * a copy of the dataset on the RSE; an existing rule of yours there is reused. Environment: the DLaaS
 * variables (RUCIO_BASE_URL, a token or OIDC_ISSUER/OIDC_CLIENT_ID).
 */
import { DlaasError, formatDid, parseDid, type Rule } from 'dlaas';
import { connect, type ConnectOptions } from './lib/connect.ts';
import { formatBytes, isMain, progressBar, table, type Bar, type Out } from './lib/console.ts';

/** Options of {@link atlasReplicate}. */
export interface AtlasOptions extends ConnectOptions {
  did?: string;
  rse?: string;
  tty?: boolean;
  pollInterval?: number;
}

/** What the run did. */
export interface AtlasSummary {
  ruleId: string;
  created: boolean;
  state: string;
  files: { name: string; bytes: number; state: string; pfn: string }[];
}

export async function atlasReplicate(options: AtlasOptions = {}): Promise<AtlasSummary> {
  const out: Out = options.out ?? ((l) => console.log(l));
  const env = options.env ?? process.env;
  const tty = options.tty ?? (options.out === undefined && process.stdout.isTTY === true);
  const did = parseDid(options.did ?? 'ATLAS_OD_EDU:data16_13TeV_2lep');
  const rse = options.rse ?? 'DESY-DCACHE';

  out('Connect');
  const { lake, me } = await connect({ ...options, env, out });
  const { rucio } = lake;

  const info = await rucio.dids.get(did);
  const files = await rucio.dids.files(did).toArray();
  out(`\n${formatDid(did)}: ${info.type}, ${files.length} files, ${formatBytes(files.reduce((n, f) => n + Number(f.bytes), 0))}`);
  const where = new Map<string, number>();
  for await (const rep of rucio.replicas.list(files)) for (const [r, st] of Object.entries(rep.states ?? {})) if (st === 'AVAILABLE') where.set(r, (where.get(r) ?? 0) + 1);
  out(`  now at: ${[...where].map(([r, n]) => `${r} (${n}/${files.length})`).join(', ') || 'nowhere'}`);
  const target = await rucio.rses.list(rse).toArray();
  if (target.length === 0) throw new DlaasError(`RSE expression ${rse} matches no RSE`);

  // Reuse a rule of ours on that RSE, else create one.
  let rule: Rule | undefined;
  for await (const r of rucio.dids.rules(did)) if (r.rse_expression === rse && r.account === me.account) rule = r;
  const created = rule === undefined;
  if (!rule) {
    const lifetime = Number(env.ATLAS_RULE_LIFETIME ?? 86_400);
    const [id] = await rucio.rules.create({ dids: [did], copies: 1, rse_expression: rse, lifetime, comment: 'dlaas example: ATLAS open data' });
    rule = await rucio.rules.get(id!);
    out(`\nCreated rule ${rule.id}: 1 copy on ${rse}, expires ${rule.expires_at ?? 'never'}`);
  } else out(`\nReusing rule ${rule.id} (${rule.state})`);

  let bar: Bar | undefined;
  const done = await rucio.rules
    .waitFor(rule.id, {
      pollInterval: options.pollInterval ?? 2000,
      onProgress: (p) => {
        bar ??= progressBar(`  rule ${p.ruleId.slice(0, 8)} {bar} {value}/{total} files | {state}`, p.total, { state: p.state }, { out, tty });
        bar.update(p.ok, { state: p.state });
      },
    })
    .finally(() => bar?.stop());

  out(`\nOn ${rse} now:`);
  const listed: AtlasSummary['files'] = [];
  for await (const rep of rucio.replicas.list(files, { rse_expression: rse })) listed.push({ name: rep.name, bytes: Number(rep.bytes ?? 0), state: rep.states?.[rse] ?? '?', pfn: rep.rses[rse]?.[0] ?? '-' });
  out(table([['file', 'size', 'state', 'PFN'], ...listed.map((f) => [f.name, formatBytes(f.bytes), f.state, f.pfn])]).join('\n'));
  for await (const d of rucio.replicas.datasetReplicas(did)) out(`  dataset replica on ${d.rse}: ${d.available_length}/${d.length} files, ${d.state}`);
  if (listed.some((f) => f.state !== 'AVAILABLE') || listed.length !== files.length) throw new DlaasError(`not every file is AVAILABLE on ${rse}`);
  return { ruleId: done.id, created, state: done.state, files: listed };
}

if (isMain(import.meta)) {
  atlasReplicate({ ...(process.argv[2] ? { did: process.argv[2] } : {}), ...(process.argv[3] ? { rse: process.argv[3] } : {}) }).then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`✗ ${error instanceof DlaasError ? `${error.code}: ${error.message}` : String(error)}`);
      process.exit(1);
    },
  );
}

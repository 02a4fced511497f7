/**
 * The `dlaas` command line: log in, look at the ESAP basket and the Rucio catalogue, place data with
 * rules, stage it to the compute site, upload results. Every command takes `--json` for scripts.
 * @module
 */
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  AbortError,
  DlaasError,
  RuleStuckError,
  VERSION,
  corruptReplicas,
  decodeToken,
  formatDid,
  isJwt,
  parseDid,
  rucioItem,
  type BasketItem,
  type BasketItemInput,
  type Did,
  type DidFilter,
  type FileManifest,
  type FilterOps,
  type FilterValue,
  type Rule,
  type RuleState,
  type StageEvent,
  type StageSource,
  type UploadFile,
} from 'dlaas';
import { createDataLake, fileSink } from 'dlaas/node';
import { DEFAULT_SCOPE, effectiveEnv, forgetLogin, oidcClient, openLake, openStore, saveLogin, type GlobalOptions } from './context.js';
import { CliFailure, EXIT, Interrupted, OperationFailed, UsageError, describeError, exitCodeOf, exitCodeOfSignal } from './errors.js';
import { formatBytes, note, printJson, println, progress, table, type Io, type OutputMode, type Progress, type StopSignal } from './output.js';

type OptionSpec = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | string[] | undefined>;

interface Ctx {
  io: Io;
  mode: OutputMode;
  global: GlobalOptions;
  values: Values;
  args: string[];
  /** Aborted by the first Ctrl-C / SIGTERM while an interruptible command runs (never otherwise). */
  signal: AbortSignal;
  /** The signal that aborted {@link signal}, if one did. */
  stopSignal(): StopSignal | undefined;
  /** The progress bars drawn: stopped on the first signal, so what follows is on a clean line. */
  bars: Set<Progress>;
}

interface Command {
  /** `login`, `basket ls`, … */
  name: string;
  usage: string;
  summary: string;
  options?: OptionSpec;
  /** Positional argument count. */
  args?: [min: number, max: number];
  /**
   * A long command: it runs with `ctx.signal`, which the first SIGINT or SIGTERM aborts; it then stops
   * cleanly and throws {@link Interrupted} saying what is left (exit 130 / 143).
   */
  interruptible?: boolean;
  run(ctx: Ctx): Promise<void>;
}

const GLOBAL_OPTIONS: OptionSpec = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  host: { type: 'string' },
  'auth-host': { type: 'string' },
  account: { type: 'string', short: 'a' },
  vo: { type: 'string' },
  'esap-url': { type: 'string' },
  'oidc-issuer': { type: 'string' },
  'oidc-client-id': { type: 'string' },
  'oidc-scope': { type: 'string' },
  'oidc-audience': { type: 'string' },
  'token-store': { type: 'string' },
};

const GLOBAL_HELP = `Options for every command:
  --json                 machine-readable output on stdout (errors as JSON on stderr)
  -q, --quiet            no progress bars
  --host URL             Rucio server (RUCIO_BASE_URL)
  --auth-host URL        Rucio auth server (RUCIO_AUTH_URL)
  -a, --account NAME     Rucio account (RUCIO_ACCOUNT)
  --vo VO                Rucio VO (RUCIO_VO)
  --esap-url URL         ESAP (ESAP_URL)
  --oidc-issuer URL      OpenID Provider for \`dlaas login\` (OIDC_ISSUER)
  --oidc-client-id ID    its client id (OIDC_CLIENT_ID, default dlaas-cli)
  --oidc-scope S         scopes to ask for (OIDC_SCOPE, default "${DEFAULT_SCOPE}")
  --oidc-audience A      audience to ask for (OIDC_AUDIENCE, default rucio)
  --token-store FILE     where logins are kept (DLAAS_TOKEN_STORE, default ~/.config/dlaas/tokens.json)
Tokens: RUCIO_ACCESS_TOKEN (or BEARER_TOKEN, the hub's token file, …) wins over \`dlaas login\`.
Staging: RUCIO_DESTINATION_RSE, RUCIO_MODE, RUCIO_RSE_MOUNT_PATH, RUCIO_PATH_BEGINS_AT, DLAAS_DOWNLOAD_DIR.
Exit status: 0 ok, 1 operation failed, 2 usage error, 3 configuration error, 4 authentication error, 5 remote failure, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
Ctrl-C (or SIGTERM) stops stage, upload, rule wait and login cleanly and says what is left (a second Ctrl-C quits at once).`;

const str = (v: Values[string]): string | undefined => (typeof v === 'string' ? v : undefined);
const strs = (v: Values[string]): string[] => (Array.isArray(v) ? v : typeof v === 'string' ? [v] : []);

function intOption(v: Values[string], name: string, min = 0): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min} (got ${JSON.stringify(s)})`);
  return n;
}

function didArg(text: string): Did {
  try {
    return parseDid(text);
  } catch (error) {
    throw new UsageError(`${JSON.stringify(text)} is not a DID (expected SCOPE:NAME): ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** `k=v`, `k!=v`, `k>=v`, `k>v`, `k<=v`, `k<v`; several per option, comma-separated. */
export function parseFilters(items: readonly string[]): DidFilter | undefined {
  const out: DidFilter = {};
  for (const item of items.flatMap((i) => i.split(',')).map((i) => i.trim()).filter(Boolean)) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*(!=|>=|<=|=|>|<)\s*(.*)$/.exec(item);
    if (!m) throw new UsageError(`--filter ${JSON.stringify(item)}: expected KEY=VALUE (or !=, >, >=, <, <=)`);
    const [, key, op, raw] = m as unknown as [string, string, string, string];
    const value: FilterValue = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw === 'true' ? true : raw === 'false' ? false : raw;
    const opName = ({ '=': 'eq', '!=': 'ne', '>': 'gt', '>=': 'gte', '<': 'lt', '<=': 'lte' } as const)[op as '='];
    if (opName !== 'eq' && opName !== 'ne' && typeof value !== 'number') throw new UsageError(`--filter ${JSON.stringify(item)}: ${op} needs a number`);
    const prev = out[key];
    if (opName === 'eq' && prev === undefined) out[key] = value;
    else {
      const ops: FilterOps = prev === undefined ? {} : typeof prev === 'object' && prev !== null && !(prev instanceof Date) ? (prev as FilterOps) : { eq: prev as FilterValue };
      (ops as Record<string, FilterValue>)[opName] = value;
      out[key] = ops;
    }
  }
  return Object.keys(out).length ? out : undefined;
}

function itemLabel(item: BasketItem): string {
  if (item.kind === 'rucio') return formatDid(item.did);
  if ('accessUrl' in item && item.accessUrl) return item.accessUrl;
  if (item.kind === 'zooniverse') return `${item.catalog} ${item.projectId}${item.workflowId ? `/${item.workflowId}` : ''} ${item.category}`;
  if ((item.kind === 'vo_reg' || item.kind === 'samp') && item.urls.length) return item.urls[0]!;
  return JSON.stringify(item.data).slice(0, 70);
}

function itemJson(item: BasketItem, index: number): Record<string, unknown> {
  return {
    index,
    archive: item.archive,
    kind: item.kind,
    ...(item.kind === 'rucio' ? { did: formatDid(item.did), did_type: item.didType ?? null } : {}),
    ...('accessUrl' in item && item.accessUrl ? { access_url: item.accessUrl } : {}),
    data: item.data,
  };
}

function ruleJson(r: Rule): Record<string, unknown> {
  return { ...r };
}

/** A progress bar of this command (none once a signal arrived: the terminal is being handed back). */
function bar(ctx: Ctx, format: string, total: number, payload?: Record<string, string | number>): Progress {
  const b = progress(ctx.io, ctx.signal.aborted ? { ...ctx.mode, quiet: true } : ctx.mode, format, total, payload);
  ctx.bars.add(b);
  return b;
}

/** The signal that stopped this command, when `error` came from that (any error once our signal fired: it is why). */
function interruptedBy(ctx: Ctx, error: unknown): StopSignal | undefined {
  if (!ctx.signal.aborted || error instanceof Interrupted) return undefined;
  return ctx.stopSignal();
}

/** Rules left running by an interrupted command: they keep replicating without us. */
function rulesLeft(signal: StopSignal, ids: readonly string[]): Interrupted {
  if (ids.length === 1) return new Interrupted(signal, `rule ${ids[0]} still exists and keeps replicating; follow it with \`dlaas rule show ${ids[0]}\``, [], { rules: ids });
  if (ids.length === 0) return new Interrupted(signal, 'any rule already created still exists and keeps replicating; list them with `dlaas rule ls`', [], { rules: [] });
  return new Interrupted(signal, `${ids.length} rules still exist and keep replicating; follow them with \`dlaas rule show RULE_ID\``, ids.map((id) => `rule ${id}`), { rules: ids });
}

function ruleProgressBar(ctx: Ctx, id: string): { on: (p: { ok: number; total: number; state: string }) => void; stop: () => void } {
  let b: Progress | undefined;
  return {
    on: (p) => {
      b ??= bar(ctx, `rule ${id.slice(0, 8)} {bar} {value}/{total} locks | {state}`, p.total, { state: p.state });
      b.setTotal(p.total);
      b.update(p.ok, { state: p.state });
    },
    stop: () => b?.stop(),
  };
}

/**
 * Wait for a rule: exit 1 when it goes STUCK or `timeoutS` passes; on Ctrl-C / SIGTERM an
 * {@link Interrupted} naming the rules still running (`alsoRunning`: others of the same command).
 */
async function waitRule(ctx: Ctx, rucio: Awaited<ReturnType<typeof openLake>>['lake']['rucio'], id: string, timeoutS: number | undefined, pollMs: number | undefined, alsoRunning: readonly string[] = []): Promise<Rule> {
  const p = ruleProgressBar(ctx, id);
  const timeout = timeoutS === undefined ? undefined : AbortSignal.timeout(timeoutS * 1000);
  const signal = timeout ? AbortSignal.any([ctx.signal, timeout]) : ctx.signal;
  try {
    return await rucio.rules.waitFor(id, { ...(pollMs ? { pollInterval: pollMs } : {}), signal, onProgress: p.on });
  } catch (error) {
    const stop = interruptedBy(ctx, error);
    if (stop) throw rulesLeft(stop, [id, ...alsoRunning]);
    if (error instanceof AbortError && timeout?.aborted) {
      const rule = await rucio.rules.get(id, { signal: ctx.signal });
      throw new OperationFailed(`rule ${id} is still ${rule.state} after ${timeoutS} s (${rule.locks_ok_cnt} OK, ${rule.locks_replicating_cnt} replicating, ${rule.locks_stuck_cnt} stuck)`);
    }
    throw error;
  } finally {
    p.stop();
  }
}

const COMMANDS: Command[] = [
  {
    name: 'login',
    usage: 'dlaas login [--oidc-issuer URL] [--oidc-client-id ID]',
    summary: 'log in with the OIDC device flow; the session is kept (mode 0600) for the next commands',
    options: { timeout: { type: 'string' } },
    args: [0, 0],
    interruptible: true,
    async run(ctx) {
      const env = effectiveEnv(ctx.io, ctx.global);
      const { store, path } = openStore(ctx.io, env);
      const client = (await oidcClient(ctx.io, env, store, true))!;
      const timeout = intOption(ctx.values.timeout, 'timeout', 1);
      const timer = timeout ? AbortSignal.timeout(timeout * 1000) : undefined;
      let session;
      try {
        session = await client.deviceLogin({
          scope: env.OIDC_SCOPE || DEFAULT_SCOPE,
          audience: env.OIDC_AUDIENCE || 'rucio',
          signal: timer ? AbortSignal.any([ctx.signal, timer]) : ctx.signal,
          onPrompt: (p) => {
            note(ctx.io, `To sign in, open ${p.verificationUri} and enter the code: ${p.userCode}`);
            if (p.verificationUriComplete) note(ctx.io, `  (or open ${p.verificationUriComplete})`);
            note(ctx.io, `Waiting for you to approve (the code expires at ${p.expiresAt.toISOString().slice(11, 19)} UTC)…`);
          },
        });
      } catch (error) {
        const stop = interruptedBy(ctx, error);
        if (stop) throw new Interrupted(stop, 'not logged in — run `dlaas login` again');
        if (timer?.aborted) throw new CliFailure(`login timed out after ${timeout} s: the code was not approved in time; not logged in`, EXIT.auth, 'TIMEOUT');
        throw error;
      }
      await saveLogin(store, client);
      const claims = session.claims();
      let account: string | undefined;
      if (env.RUCIO_BASE_URL) {
        const lake = await createDataLake({ env, auth: { token: session }, config: { requireToken: false } });
        account = (await lake.rucio.accounts.whoami()).account;
      }
      const result = {
        issuer: session.issuer,
        client_id: session.clientId,
        subject: claims?.sub ?? (session.idTokenClaims?.sub as string | undefined) ?? null,
        account: account ?? null,
        scope: session.scope.join(' '),
        expires_at: session.expiresAt?.toISOString() ?? null,
        kept: session.hasRefreshToken,
        token_store: path,
      };
      if (ctx.mode.json) return printJson(ctx.io, result);
      println(ctx.io, `Logged in at ${result.issuer} as ${result.subject ?? '?'}${account ? ` (Rucio account ${account})` : ''}.`);
      println(ctx.io, session.hasRefreshToken ? `Session kept in ${path} (mode 0600).` : 'The provider issued no refresh token: this login is not kept (ask for the offline_access scope).');
    },
  },
  {
    name: 'logout',
    usage: 'dlaas logout',
    summary: 'revoke and forget the session of `dlaas login`',
    args: [0, 0],
    async run(ctx) {
      const env = effectiveEnv(ctx.io, ctx.global);
      const { store, path } = openStore(ctx.io, env);
      const client = await oidcClient(ctx.io, env, store, false);
      const session = client ? await client.restoreSession() : undefined;
      if (session) await session.logout().catch(() => {}); // forgotten locally even if the provider cannot revoke
      await forgetLogin(store);
      if (ctx.mode.json) return printJson(ctx.io, { logged_out: session !== undefined, token_store: path });
      println(ctx.io, session ? `Logged out (${session.issuer}); ${path} no longer holds the session.` : 'Not logged in.');
    },
  },
  {
    name: 'whoami',
    usage: 'dlaas whoami',
    summary: 'the Rucio account and the token in use',
    args: [0, 0],
    async run(ctx) {
      const { lake, session } = await openLake(ctx.io, ctx.global);
      const me = await lake.rucio.accounts.whoami();
      const raw = await lake.auth.token!.getToken();
      const c = session?.claims() ?? (isJwt(raw) ? decodeToken(raw) : undefined);
      const result = {
        account: me.account,
        account_type: me.account_type ?? null,
        email: me.email ?? null,
        status: me.status ?? null,
        rucio: lake.config.rucio.baseUrl,
        token_source: lake.auth.source ?? lake.config.sources.token ?? null,
        storage_token_source: lake.auth.storageSource,
        token: c ? { iss: c.iss ?? null, sub: c.sub ?? null, aud: c.aud ?? null, scope: c.scope ?? null, exp: c.exp?.toISOString() ?? null } : { kind: 'rucio' },
      };
      if (ctx.mode.json) return printJson(ctx.io, result);
      for (const [k, v] of [
        ['account', `${me.account}${me.account_type ? ` (${me.account_type})` : ''}`],
        ['email', me.email ?? '-'],
        ['rucio', result.rucio],
        ['token', `${result.token_source ?? '?'}${c ? `; sub ${c.sub}, aud ${[c.aud].flat().join(' ')}, expires ${c.exp?.toISOString() ?? '?'}` : ''}`],
        ['storage', `token: ${result.storage_token_source}`],
      ] as const)
        println(ctx.io, `${k.padEnd(8)} ${v}`);
    },
  },
  {
    name: 'basket ls',
    usage: 'dlaas basket ls',
    summary: 'the items of your ESAP basket',
    args: [0, 0],
    async run(ctx) {
      const { lake } = await openLake(ctx.io, ctx.global);
      const basket = await lake.esap.basket.get();
      if (ctx.mode.json) return printJson(ctx.io, { user: basket.userName, items: basket.items.map((it, i) => itemJson(it, i + 1)), problems: basket.problems.length });
      if (!basket.items.length) return println(ctx.io, `The ESAP basket of ${basket.userName} is empty.`);
      for (const l of table([['#', 'archive', 'item', 'type'], ...basket.items.map((it, i) => [i + 1, it.archive, itemLabel(it), it.kind === 'rucio' ? (it.didType ?? '') : ''])])) println(ctx.io, l);
      if (basket.problems.length) note(ctx.io, `${basket.problems.length} item(s) could not be read (kept in the basket).`);
    },
  },
  {
    name: 'basket add',
    usage: 'dlaas basket add DID... [--item JSON]...',
    summary: 'add Rucio DIDs (checked in Rucio) or raw items to your ESAP basket',
    options: { item: { type: 'string', multiple: true } },
    args: [0, Infinity],
    async run(ctx) {
      const raw = strs(ctx.values.item).map((text) => {
        try {
          return JSON.parse(text) as BasketItemInput;
        } catch {
          throw new UsageError(`--item is not JSON: ${text.slice(0, 60)}`);
        }
      });
      const dids = ctx.args.map(didArg);
      if (!dids.length && !raw.length) throw new UsageError('nothing to add: give DIDs or --item JSON');
      const { lake } = await openLake(ctx.io, ctx.global);
      const items: BasketItemInput[] = [];
      for (const did of dids) {
        const info = await lake.rucio.dids.get(did); // exists? and its type, as the ESAP GUI stores it
        items.push(rucioItem(did, { did_type: info.type, ...(info.bytes != null ? { bytes: info.bytes } : {}), ...(info.length != null ? { length: info.length } : {}) }));
      }
      const r = await lake.esap.basket.add([...items, ...raw]);
      if (ctx.mode.json) return printJson(ctx.io, { added: r.added, size: r.basket.size, written: r.written, merged: r.merged });
      println(ctx.io, `Added ${r.added} item(s)${r.added < items.length + raw.length ? ' (the others were already there)' : ''}; the basket has ${r.basket.size}.`);
    },
  },
  {
    name: 'basket rm',
    usage: 'dlaas basket rm DID... | --index N...',
    summary: 'remove items from your ESAP basket (by DID, or by the # of `basket ls`)',
    options: { index: { type: 'string', multiple: true } },
    args: [0, Infinity],
    async run(ctx) {
      const indexes = strs(ctx.values.index).map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 1) throw new UsageError(`--index must be a positive integer (got ${JSON.stringify(s)})`);
        return n;
      });
      const dids = ctx.args.map(didArg);
      if (!dids.length && !indexes.length) throw new UsageError('nothing to remove: give DIDs or --index N');
      const { lake } = await openLake(ctx.io, ctx.global);
      const basket = await lake.esap.basket.get();
      const targets: BasketItem[] = [];
      for (const did of dids) {
        const found = basket.items.filter((it) => it.kind === 'rucio' && formatDid(it.did) === formatDid(did));
        if (!found.length) throw new OperationFailed(`${formatDid(did)} is not in the basket`);
        targets.push(...found);
      }
      for (const n of indexes) {
        const it = basket.items[n - 1];
        if (!it) throw new OperationFailed(`the basket has no item #${n} (it has ${basket.items.length})`);
        targets.push(it);
      }
      const r = await lake.esap.basket.remove(targets, { basedOn: basket });
      if (ctx.mode.json) return printJson(ctx.io, { removed: r.removed, size: r.basket.size, merged: r.merged });
      println(ctx.io, `Removed ${r.removed} item(s); the basket has ${r.basket.size}.`);
    },
  },
  {
    name: 'ls',
    usage: 'dlaas ls SCOPE:PATTERN [--filter KEY=VALUE]... [--type all|collection|dataset|container|file] [--long] [--limit N]',
    summary: 'search DIDs by name pattern (* wildcards) and metadata',
    options: { filter: { type: 'string', multiple: true }, type: { type: 'string' }, long: { type: 'boolean', short: 'l' }, limit: { type: 'string' }, recursive: { type: 'boolean' } },
    args: [1, 1],
    async run(ctx) {
      const arg = ctx.args[0]!;
      const colon = arg.indexOf(':');
      const scope = colon < 0 ? arg : arg.slice(0, colon);
      const name = colon < 0 ? '*' : arg.slice(colon + 1) || '*';
      const type = str(ctx.values.type);
      const types = ['all', 'collection', 'dataset', 'container', 'file'] as const;
      if (type !== undefined && !types.includes(type as (typeof types)[number])) throw new UsageError(`--type must be one of ${types.join(', ')}`);
      const filters = parseFilters(strs(ctx.values.filter));
      const limit = intOption(ctx.values.limit, 'limit', 1);
      const common = { name, ...(filters ? { filters } : {}), ...(type ? { type: type as (typeof types)[number] } : {}), ...(limit ? { limit } : {}), ...(ctx.values.recursive ? { recursive: true } : {}) };
      const { lake } = await openLake(ctx.io, ctx.global);
      if (ctx.values.long || ctx.mode.json) {
        const hits = await lake.rucio.dids.search(scope, { ...common, long: true }).toArray();
        if (ctx.mode.json) return printJson(ctx.io, hits);
        for (const l of table([['DID', 'type', 'files', 'size'], ...hits.map((h) => [`${h.scope}:${h.name}`, h.did_type, Number(h.length ?? 0), formatBytes(h.bytes)])])) println(ctx.io, l);
        return;
      }
      for await (const n of lake.rucio.dids.search(scope, common)) println(ctx.io, `${scope}:${n}`);
    },
  },
  {
    name: 'replicas',
    usage: 'dlaas replicas DID [--rse EXPRESSION] [--all-states]',
    summary: 'where the files of a DID are: RSE, state, PFN',
    options: { rse: { type: 'string' }, 'all-states': { type: 'boolean' } },
    args: [1, 1],
    async run(ctx) {
      const did = didArg(ctx.args[0]!);
      const { lake } = await openLake(ctx.io, ctx.global);
      await lake.rucio.dids.get(did); // a DID that does not exist is an error, not an empty list
      const rse = str(ctx.values.rse);
      const reps = await lake.rucio.replicas.list([did], { ...(rse ? { rseExpression: rse } : {}), ...(ctx.values['all-states'] ? { allStates: true } : {}) }).toArray();
      if (ctx.mode.json) return printJson(ctx.io, reps.map((r) => ({ scope: r.scope, name: r.name, bytes: r.bytes, adler32: r.adler32 ?? null, md5: r.md5 ?? null, rses: Object.fromEntries(Object.entries(r.rses).map(([k, pfns]) => [k, { state: r.states?.[k] ?? null, pfns }])) })));
      const rows: (string | number)[][] = [['file', 'size', 'adler32', 'RSE', 'state', 'PFN']];
      for (const r of reps) {
        const entries = Object.entries(r.rses);
        if (!entries.length) rows.push([`${r.scope}:${r.name}`, formatBytes(r.bytes), r.adler32 ?? '-', '-', 'no replica', '-']);
        for (const [k, pfns] of entries) rows.push([`${r.scope}:${r.name}`, formatBytes(r.bytes), r.adler32 ?? '-', k, r.states?.[k] ?? '?', pfns[0] ?? '-']);
      }
      for (const l of table(rows)) println(ctx.io, l);
    },
  },
  {
    name: 'replicas declare-bad',
    usage: 'dlaas replicas declare-bad DID... --rse RSE --reason TEXT [--force] [--suspicious] | PFN... --reason TEXT [--suspicious]',
    summary: 'tell Rucio that replicas are corrupt or lost: BAD (no longer offered), or --suspicious',
    options: { rse: { type: 'string' }, reason: { type: 'string' }, force: { type: 'boolean' }, suspicious: { type: 'boolean' } },
    args: [1, Infinity],
    async run(ctx) {
      const reason = str(ctx.values.reason);
      if (!reason?.trim()) throw new UsageError('--reason TEXT is required (it is kept with the declaration)');
      const rse = str(ctx.values.rse);
      const byPfn = ctx.args.every((a) => /^[a-z][a-z0-9+.-]*:\/\//i.test(a));
      if (!byPfn && ctx.args.some((a) => a.includes('://'))) throw new UsageError('give either DIDs (with --rse) or PFNs, not both');
      if (byPfn && rse) throw new UsageError('--rse goes with DIDs; a PFN names its RSE');
      if (!byPfn && !rse) throw new UsageError('--rse RSE is required with DIDs (the RSE holding the bad replicas)');
      const dids = byPfn ? [] : ctx.args.map(didArg);
      const { lake } = await openLake(ctx.io, ctx.global);
      let notDeclared: Record<string, string[]>;
      let sent = ctx.args.length;
      if (ctx.values.suspicious) {
        // Suspicious replicas are named by PFN: those of the DIDs on the RSE, whatever their state.
        const pfns = byPfn ? ctx.args : (await lake.rucio.replicas.list(dids, { rseExpression: rse!, allStates: true }).toArray()).flatMap((r) => r.rses[rse!] ?? []);
        if (!pfns.length) throw new OperationFailed(`no replica of ${ctx.args.join(', ')} on ${rse}`);
        sent = pfns.length;
        notDeclared = await lake.rucio.replicas.declareSuspicious(pfns, { reason });
      } else {
        notDeclared = await lake.rucio.replicas.declareBad(byPfn ? ctx.args : dids.map((d) => ({ ...d, rse: rse! })), { reason, ...(ctx.values.force ? { force: true } : {}) });
      }
      const problems = Object.entries(notDeclared).flatMap(([where, list]) => list.map((m) => `${where}: ${m}`));
      const as = ctx.values.suspicious ? 'suspicious' : 'bad';
      if (ctx.mode.json) printJson(ctx.io, { declared_as: as, replicas: sent, not_declared: notDeclared });
      else {
        println(ctx.io, `${sent - Math.min(problems.length, sent)} of ${sent} replica(s) declared ${as}${rse ? ` on ${rse}` : ''}`);
        for (const p of problems) println(ctx.io, `  not declared: ${p}`);
      }
      if (problems.length) throw new OperationFailed(`${problems.length} replica(s) not declared`, { quiet: true });
    },
  },
  {
    name: 'rule add',
    usage: 'dlaas rule add DID... --rse EXPRESSION [--copies N] [--lifetime SECONDS] [--activity A] [--wait [--timeout S]]',
    summary: 'ask the Data Lake to keep copies of DIDs on RSEs (one rule per DID)',
    options: { rse: { type: 'string' }, copies: { type: 'string' }, lifetime: { type: 'string' }, activity: { type: 'string' }, comment: { type: 'string' }, wait: { type: 'boolean' }, timeout: { type: 'string' }, 'poll-interval': { type: 'string' } },
    args: [1, Infinity],
    interruptible: true,
    async run(ctx) {
      const dids = ctx.args.map(didArg);
      const rse = str(ctx.values.rse);
      if (!rse) throw new UsageError('--rse EXPRESSION is required');
      const copies = intOption(ctx.values.copies, 'copies', 1) ?? 1;
      const lifetime = intOption(ctx.values.lifetime, 'lifetime', 1);
      const timeout = intOption(ctx.values.timeout, 'timeout', 1);
      const poll = intOption(ctx.values['poll-interval'], 'poll-interval', 10);
      const { lake } = await openLake(ctx.io, ctx.global);
      // Not cancellable: an aborted POST would leave it unknown whether the rule exists (Ctrl-C acts once it is answered).
      const ids = await lake.rucio.rules.create({ dids, copies, rse_expression: rse, ...(lifetime ? { lifetime } : {}), ...(str(ctx.values.activity) ? { activity: str(ctx.values.activity)! } : {}), ...(str(ctx.values.comment) ? { comment: str(ctx.values.comment)! } : {}) });
      const rules: Rule[] = [];
      try {
        for (const [i, id] of ids.entries()) rules.push(ctx.values.wait ? await waitRule(ctx, lake.rucio, id, timeout, poll, ids.slice(i + 1)) : await lake.rucio.rules.get(id, { signal: ctx.signal }));
      } catch (error) {
        const stop = interruptedBy(ctx, error);
        if (stop) throw rulesLeft(stop, ids.slice(rules.length)); // created, not yet seen OK
        throw error;
      }
      if (ctx.mode.json) return printJson(ctx.io, rules.map(ruleJson));
      for (const l of table([['rule', 'DID', 'RSE expression', 'state', 'locks OK'], ...rules.map((r) => [r.id, `${r.scope}:${r.name}`, r.rse_expression, r.state, `${r.locks_ok_cnt}/${r.locks_ok_cnt + r.locks_replicating_cnt + r.locks_stuck_cnt}`])])) println(ctx.io, l);
    },
  },
  {
    name: 'rule show',
    usage: 'dlaas rule show RULE_ID',
    summary: 'a rule and its progress',
    args: [1, 1],
    async run(ctx) {
      const { lake } = await openLake(ctx.io, ctx.global);
      const r = await lake.rucio.rules.get(ctx.args[0]!);
      if (ctx.mode.json) return printJson(ctx.io, ruleJson(r));
      const total = r.locks_ok_cnt + r.locks_replicating_cnt + r.locks_stuck_cnt;
      for (const [k, v] of [
        ['id', r.id],
        ['did', `${r.scope}:${r.name} (${r.did_type})`],
        ['account', r.account],
        ['rse', `${r.rse_expression} × ${r.copies}`],
        ['state', r.state],
        ['locks', `${r.locks_ok_cnt}/${total} OK, ${r.locks_replicating_cnt} replicating, ${r.locks_stuck_cnt} stuck`],
        ['expires', r.expires_at ?? 'never'],
        ['created', r.created_at ?? '-'],
        ...(r.error ? [['error', r.error] as const] : []),
      ] as const)
        println(ctx.io, `${k.padEnd(8)} ${v}`);
    },
  },
  {
    name: 'rule wait',
    usage: 'dlaas rule wait RULE_ID [--timeout SECONDS] [--poll-interval MS]',
    summary: 'wait until a rule is OK (exit 1 if it goes STUCK or the timeout passes)',
    options: { timeout: { type: 'string' }, 'poll-interval': { type: 'string' } },
    args: [1, 1],
    interruptible: true,
    async run(ctx) {
      const timeout = intOption(ctx.values.timeout, 'timeout', 1);
      const poll = intOption(ctx.values['poll-interval'], 'poll-interval', 10);
      const { lake } = await openLake(ctx.io, ctx.global);
      let r: Rule;
      try {
        r = await waitRule(ctx, lake.rucio, ctx.args[0]!, timeout, poll);
      } catch (error) {
        if (error instanceof RuleStuckError) throw new OperationFailed(error.message);
        throw error;
      }
      if (ctx.mode.json) return printJson(ctx.io, ruleJson(r));
      println(ctx.io, `rule ${r.id} is ${r.state} (${r.locks_ok_cnt} locks OK)`);
    },
  },
  {
    name: 'rule rm',
    usage: 'dlaas rule rm RULE_ID [--purge-replicas]',
    summary: 'delete a rule',
    options: { 'purge-replicas': { type: 'boolean' } },
    args: [1, 1],
    async run(ctx) {
      const { lake } = await openLake(ctx.io, ctx.global);
      await lake.rucio.rules.delete(ctx.args[0]!, { purgeReplicas: ctx.values['purge-replicas'] === true });
      if (ctx.mode.json) return printJson(ctx.io, { deleted: ctx.args[0] });
      println(ctx.io, `Deleted rule ${ctx.args[0]}.`);
    },
  },
  {
    name: 'rule ls',
    usage: 'dlaas rule ls [DID] [--account NAME] [--rse EXPRESSION] [--state STATE]',
    summary: "the rules of a DID, or an account's rules (default: yours)",
    options: { rse: { type: 'string' }, state: { type: 'string' } },
    args: [0, 1],
    async run(ctx) {
      const { lake } = await openLake(ctx.io, ctx.global);
      let rules: Rule[];
      if (ctx.args[0]) rules = await lake.rucio.dids.rules(didArg(ctx.args[0])).toArray();
      else {
        const account = ctx.global.account ?? lake.rucio.account ?? (await lake.rucio.accounts.whoami()).account;
        const state = str(ctx.values.state);
        const states = ['REPLICATING', 'OK', 'STUCK', 'SUSPENDED', 'WAITING_APPROVAL', 'INJECT'] as const;
        if (state !== undefined && !states.includes(state as RuleState)) throw new UsageError(`--state must be one of ${states.join(', ')}`);
        rules = await lake.rucio.rules.list({ account, ...(str(ctx.values.rse) ? { rse_expression: str(ctx.values.rse)! } : {}), ...(state ? { state: state as RuleState } : {}) }).toArray();
      }
      if (ctx.mode.json) return printJson(ctx.io, rules.map(ruleJson));
      for (const l of table([['rule', 'DID', 'RSE expression', 'state', 'locks OK', 'expires'], ...rules.map((r) => [r.id, `${r.scope}:${r.name}`, r.rse_expression, r.state, `${r.locks_ok_cnt}/${r.locks_ok_cnt + r.locks_replicating_cnt + r.locks_stuck_cnt}`, r.expires_at ?? '-'])])) println(ctx.io, l);
    },
  },
  {
    name: 'stage',
    usage: 'dlaas stage DID... | --basket  [--rse RSE] [--mode replica|download] [--dest DIR] [--lifetime SECONDS]',
    summary: 'make data available at the compute site: a rule to the mounted RSE (replica), or verified downloads',
    options: { basket: { type: 'boolean' }, rse: { type: 'string' }, mode: { type: 'string' }, dest: { type: 'string' }, lifetime: { type: 'string' }, layout: { type: 'string' }, 'poll-interval': { type: 'string' }, 'no-wait': { type: 'boolean' } },
    args: [0, Infinity],
    interruptible: true,
    async run(ctx) {
      const dids = ctx.args.map(didArg);
      if (!dids.length && !ctx.values.basket) throw new UsageError('give DIDs to stage, or --basket');
      const modeOpt = str(ctx.values.mode);
      if (modeOpt !== undefined && modeOpt !== 'replica' && modeOpt !== 'download') throw new UsageError('--mode must be replica or download');
      const layout = str(ctx.values.layout);
      if (layout !== undefined && layout !== 'scope' && layout !== 'flat') throw new UsageError('--layout must be scope or flat');
      const lifetime = intOption(ctx.values.lifetime, 'lifetime', 1);
      const poll = intOption(ctx.values['poll-interval'], 'poll-interval', 10);
      const { lake, env } = await openLake(ctx.io, ctx.global);
      const mode = modeOpt ?? lake.config.mode ?? (lake.config.rseMountPath ? 'replica' : 'download');
      const rse = str(ctx.values.rse) ?? lake.config.destinationRse;
      let fromBasket: StageSource[] = [];
      if (ctx.values.basket) {
        fromBasket = await lake.esap.basket.stageSources({ signal: ctx.signal });
        const urls = fromBasket.filter((s) => typeof s === 'object' && 'url' in s);
        const isUrl = new Set<StageSource>(urls);
        if (mode === 'replica' && urls.length) {
          // A rule can only place Rucio data: the basket's access-URL items need a download.
          note(ctx.io, `${urls.length} basket item(s) with access URLs skipped in replica mode (stage them with --mode download)`);
          fromBasket = fromBasket.filter((s) => !isUrl.has(s));
        }
      }
      const sources: StageSource[] = [...fromBasket, ...dids];
      if (!sources.length) throw new OperationFailed('the ESAP basket has nothing to stage');
      // Download mode writes here (the default of dlaas/node, but relative to this invocation's directory).
      const dest = str(ctx.values.dest) ?? env.DLAAS_DOWNLOAD_DIR ?? 'dlaas-data';
      const destDir = resolve(ctx.io.cwd, dest);
      const bars = new Map<string, Progress>();
      // What is left if a signal stops the run: files with bytes but no `file` event are partial
      // (the sink keeps them privately, never at the final path; the next identical run resumes
      // them with Range); rules not seen OK keep replicating.
      const key = (did: Did | undefined, url: string | undefined) => (did ? formatDid(did) : (url ?? '?'));
      const started = new Map<string, { transferred: number; total: number | null }>();
      const finished = new Set<string>();
      const rules = new Map<string, string>();
      let planned = 0;
      const onProgress = (e: StageEvent) => {
        if (e.type === 'rule') {
          rules.set(e.ruleId, e.state);
          let b = bars.get(e.ruleId);
          if (!b) bars.set(e.ruleId, (b = bar(ctx, `rule ${e.ruleId.slice(0, 8)} {bar} {value}/{total} files | {state}`, e.total, { state: e.state })));
          b.setTotal(e.total);
          b.update(e.ok, { state: e.state });
        } else if (e.type === 'plan') {
          planned = e.files;
          // On a terminal the bytes too (redrawn in place); in a log one line per percent is enough.
          const format = ctx.io.stderr.isTTY ? 'download {bar} {percentage}% | {held} of {size} | {files} files' : 'download {bar} {percentage}% | {files} files';
          bars.set('bytes', bar(ctx, format, Math.max(1, e.bytes), { files: e.files, held: formatBytes(0), size: formatBytes(e.bytes) }));
        } else if (e.type === 'bytes') {
          started.set(key(e.did, e.url), { transferred: e.transferred, total: e.total });
          bars.get('bytes')?.update(e.overallBytes, { held: formatBytes(e.overallBytes) });
        } else if (e.type === 'file') finished.add(key(e.manifest.did, e.manifest.url));
      };
      let r;
      try {
        r = await lake.staging.stage(sources, {
          mode,
          ...(rse ? { rse } : {}),
          ...(lifetime ? { lifetime } : {}),
          ...(poll ? { pollInterval: poll } : {}),
          ...(ctx.values['no-wait'] ? { wait: false } : {}),
          ...(mode === 'download' ? { sink: fileSink(destDir) } : {}),
          ...(layout ? { layout: layout as 'scope' | 'flat' } : {}),
          verifyLocal: mode === 'replica',
          signal: ctx.signal,
          onProgress,
        });
      } catch (error) {
        const stop = interruptedBy(ctx, error);
        if (!stop) throw error;
        if (mode === 'replica') throw rulesLeft(stop, [...rules].filter(([, state]) => state !== 'OK').map(([id]) => id));
        const partial = [...started].filter(([k]) => !finished.has(k));
        const details = { dest: destDir, partial: partial.map(([k]) => k), finished: finished.size, files: planned };
        const lines = [...partial.slice(0, 10).map(([k, p]) => `  ${k}: ${formatBytes(p.transferred)}${p.total === null ? '' : ` of ${formatBytes(p.total)}`}`), ...(partial.length > 10 ? [`  … and ${partial.length - 10} more`] : [])];
        if (planned) lines.push(`${finished.size} of ${planned} file(s) finished.`);
        throw new Interrupted(
          stop,
          partial.length
            ? `${partial.length} file(s) partially downloaded are kept in ${destDir} — run the same command again to resume`
            : `no partial download was kept; files already finished are in ${destDir} — run the same command again to go on`,
          lines,
          details,
        );
      } finally {
        for (const b of bars.values()) b.stop();
      }
      const pathOf = (f: FileManifest) => f.localPath ?? (f.location?.kind === 'path' ? f.location.path : undefined);
      const files = r.files.map((f) => ({ did: f.did ? formatDid(f.did) : null, url: f.url ?? null, status: f.status, bytes: f.bytes, adler32: f.adler32 ?? null, md5: f.md5 ?? null, verified: f.verified, skipped: f.skipped ?? false, path: pathOf(f) ?? null, ...(f.error ? { error: f.error } : {}), ...(f.corruptReplicas ? { corrupt_replicas: f.corruptReplicas.map((c) => ({ rse: c.rse ?? null, pfn: c.pfn, check: c.check })) } : {}) }));
      // A replica whose bytes did not match: say how to tell Rucio (the file itself may be OK from another one).
      if (!ctx.mode.json) for (const c of corruptReplicas(r)) note(ctx.io, `corrupt replica of ${formatDid(c.did)} on ${c.rse ?? c.pfn} (${c.check} mismatch); to declare it: dlaas replicas declare-bad ${formatDid(c.did)} --rse ${c.rse ?? 'RSE'} --reason "${c.check} mismatch"`);
      const failed = r.status !== 'AVAILABLE' && !(ctx.values['no-wait'] && r.status === 'REPLICATING');
      const t = r.totals;
      if (ctx.mode.json) printJson(ctx.io, { mode: r.mode, status: r.status, rse: rse ?? null, totals: { files: t.files, ok: t.ok, failed: t.failed, bytes: t.bytes, verified_bytes: t.verifiedBytes, skipped: t.skipped }, rules: r.rules.map((x) => ({ id: x.id, did: formatDid(x.did), created: x.created, state: x.state })), files });
      else {
        for (const x of r.rules) println(ctx.io, `rule ${x.id} (${formatDid(x.did)} → ${rse}): ${x.state}${x.created ? '' : ', reused'}`);
        for (const l of table([['file', 'status', 'size', 'verified', 'path'], ...files.map((f) => [f.did ?? f.url ?? '?', f.status, formatBytes(f.bytes), f.verified.join('+') || '-', f.path ?? (f.error?.message ?? '-')])])) println(ctx.io, l);
        println(ctx.io, `${r.totals.ok}/${r.totals.files} files ${r.status} (${formatBytes(r.totals.bytes)}${r.totals.skipped ? `, ${r.totals.skipped} already there` : ''})`);
      }
      if (failed) throw new OperationFailed(`staging ended ${r.status}: ${r.totals.failed} of ${r.totals.files} files not available`, { quiet: true });
    },
  },
  {
    name: 'upload',
    usage: 'dlaas upload FILE... --scope SCOPE --rse RSE [--dataset [SCOPE:]NAME] [--lifetime SECONDS] [--no-rule]',
    summary: 'upload files into the Data Lake (verified), attach them to a dataset, keep them with a rule',
    options: { scope: { type: 'string' }, rse: { type: 'string' }, dataset: { type: 'string' }, lifetime: { type: 'string' }, 'no-rule': { type: 'boolean' } },
    args: [1, Infinity],
    interruptible: true,
    async run(ctx) {
      const scope = str(ctx.values.scope);
      const rse = str(ctx.values.rse);
      if (!scope) throw new UsageError('--scope SCOPE is required');
      if (!rse) throw new UsageError('--rse RSE is required');
      const lifetime = intOption(ctx.values.lifetime, 'lifetime', 1);
      const datasetArg = str(ctx.values.dataset);
      const dataset = datasetArg === undefined ? undefined : didArg(datasetArg.includes(':') ? datasetArg : `${scope}:${datasetArg}`);
      const files: UploadFile[] = [];
      for (const f of ctx.args) {
        const path = resolve(ctx.io.cwd, f);
        const st = await stat(path).catch(() => undefined);
        if (!st?.isFile()) throw new UsageError(`${f}: no such file`);
        files.push({ name: basename(path), data: await openAsBlob(path) });
      }
      const { lake } = await openLake(ctx.io, ctx.global);
      const b = bar(ctx, 'upload {bar} {value}/{total} files | {file} {step}', files.length, { file: '', step: '' });
      let done = 0;
      const finished = new Set<string>();
      let r;
      try {
        r = await lake.staging.upload(files, {
          scope,
          rse,
          ...(dataset ? { dataset } : {}),
          rule: !ctx.values['no-rule'],
          ...(lifetime ? { lifetime } : {}),
          signal: ctx.signal,
          // Each step on a terminal; one line per file otherwise.
          onProgress: (e) => {
            if (e.type === 'step') {
              if (ctx.io.stderr.isTTY) b.update(done, { file: e.did.name, step: e.step });
              return;
            }
            finished.add(e.manifest.did.name);
            b.update(++done, { file: e.manifest.did.name, step: e.manifest.status });
          },
        });
      } catch (error) {
        const stop = interruptedBy(ctx, error);
        if (!stop) throw error;
        // Nothing unverified is ever AVAILABLE; a re-run checks what is there and finishes the rest.
        const left = files.map((f) => f.name).filter((n) => !finished.has(n));
        throw new Interrupted(
          stop,
          left.length
            ? `${left.length} of ${files.length} file(s) not finished — run the same command again to finish them`
            : `every file was uploaded, but the dataset and rule steps may not be done — run the same command again to finish them`,
          left.slice(0, 10).map((n) => `  ${scope}:${n}`).concat(left.length > 10 ? [`  … and ${left.length - 10} more`] : []),
          { unfinished: left.map((n) => `${scope}:${n}`), finished: files.length - left.length, files: files.length },
        );
      } finally {
        b.stop();
      }
      if (ctx.mode.json) printJson(ctx.io, { ok: r.ok, dataset: r.dataset ? formatDid(r.dataset) : null, rules: r.ruleIds, files: r.files.map((m) => ({ did: formatDid(m.did), status: m.status, bytes: m.bytes, adler32: m.adler32 ?? null, md5: m.md5 ?? null, pfn: m.pfn ?? null, ...(m.error ? { step: m.step, error: m.error } : {}) })) });
      else {
        for (const l of table([['DID', 'status', 'size', 'adler32', ''], ...r.files.map((m) => [formatDid(m.did), m.status, formatBytes(m.bytes), m.adler32 ?? '-', m.error ? `${m.step}: ${m.error.message}` : ''])])) println(ctx.io, l);
        if (r.dataset) println(ctx.io, `dataset ${formatDid(r.dataset)}`);
        for (const id of r.ruleIds) println(ctx.io, `rule ${id} on ${rse}`);
      }
      if (!r.ok) throw new OperationFailed(`${r.files.filter((m) => m.status === 'FAILED').length} of ${r.files.length} uploads failed`, { quiet: true });
    },
  },
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [`dlaas ${VERSION} — the ESCAPE Data Lake from the command line`, '', 'Usage: dlaas COMMAND [options]', '', 'Commands:', ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`), '', 'Run `dlaas COMMAND --help` for its options.', '', GLOBAL_HELP].join('\n');
}

function commandHelp(c: Command): string {
  const opts = Object.entries(c.options ?? {}).map(([k, o]) => `  --${k}${o.type === 'string' ? ' VALUE' : ''}${o.multiple ? ' (repeatable)' : ''}`);
  return [`Usage: ${c.usage}`, '', `${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`, ...(opts.length ? ['', 'Options:', ...opts] : []), '', GLOBAL_HELP].join('\n');
}

/** Find the command named by the leading words of `positionals`. */
function findCommand(positionals: readonly string[]): Command | undefined {
  const two = positionals.slice(0, 2).join(' ');
  return COMMANDS.find((c) => c.name === two) ?? COMMANDS.find((c) => c.name === positionals[0]);
}

/**
 * Stop signals while one command runs: the first stops the bars, says so (not with `--json`) and
 * aborts `signal`; a second quits at once (`io.exit`).
 */
function watchSignals(io: Io, mode: OutputMode, bars: Set<Progress>): { signal: AbortSignal; received: () => StopSignal | undefined; dispose: () => void } {
  const controller = new AbortController();
  let received: StopSignal | undefined;
  const stopBars = () => {
    for (const b of bars) b.stop();
  };
  const on = (sig: StopSignal) => {
    stopBars(); // first of all: the terminal gets its cursor back and a clean line
    if (received) return void io.exit?.(exitCodeOfSignal(sig));
    received = sig;
    if (!mode.json) note(io, sig === 'SIGINT' ? 'stopping… (press Ctrl-C again to quit at once)' : 'stopping (SIGTERM)…');
    controller.abort(new AbortError(sig === 'SIGINT' ? 'interrupted (Ctrl-C)' : 'terminated (SIGTERM)'));
  };
  const onInt = () => on('SIGINT');
  const onTerm = () => on('SIGTERM');
  io.signals?.on('SIGINT', onInt);
  io.signals?.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    received: () => received,
    dispose() {
      io.signals?.off('SIGINT', onInt);
      io.signals?.off('SIGTERM', onTerm);
    },
  };
}

/**
 * Run the CLI with `argv` (without `node` and the script). Resolves with the exit code; never
 * throws, never prints a token.
 *
 * Long commands (`stage`, `upload`, `rule wait`, `rule add --wait`, `login`) listen to `io.signals`
 * while they run: the first SIGINT or SIGTERM aborts them; they stop cleanly, say on stderr what is
 * left (partial downloads kept for resuming, rules that keep replicating, files not uploaded) and
 * resolve with 130 (SIGINT) or 143 (SIGTERM). A second signal calls `io.exit` at once.
 */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  let mode: OutputMode = { json: argv.includes('--json'), quiet: argv.includes('--quiet') || argv.includes('-q') };
  let current: Command | undefined;
  let watch: ReturnType<typeof watchSignals> | undefined;
  try {
    // First pass: the global options and the command words.
    const first = parseArgs({ args: [...argv], options: GLOBAL_OPTIONS, allowPositionals: true, strict: false });
    if (first.values.version && first.positionals.length === 0) {
      println(io, VERSION);
      return EXIT.ok;
    }
    if (first.positionals.length === 0 || first.positionals[0] === 'help') {
      const target = first.positionals[0] === 'help' ? findCommand(first.positionals.slice(1)) : undefined;
      if (first.positionals[0] === 'help' || first.values.help) {
        println(io, target ? commandHelp(target) : usage());
        return EXIT.ok;
      }
      note(io, usage());
      return EXIT.usage;
    }
    const command = (current = findCommand(first.positionals));
    if (!command) {
      const known = first.positionals[0] === 'basket' || first.positionals[0] === 'rule';
      throw new UsageError(known ? `unknown subcommand: dlaas ${first.positionals.slice(0, 2).join(' ')} (try \`dlaas ${first.positionals[0]} --help\`… or \`dlaas --help\`)` : `unknown command: ${first.positionals[0]}`);
    }
    // Second pass: strictly, with the command's options; the command words removed.
    const rest = [...argv];
    for (const word of command.name.split(' ')) rest.splice(rest.indexOf(word), 1);
    const parsed = parseArgs({ args: rest, options: { ...GLOBAL_OPTIONS, ...command.options }, allowPositionals: true, strict: true });
    const values = parsed.values as Values;
    mode = { json: values.json === true, quiet: values.quiet === true };
    if (values.help) {
      println(io, commandHelp(command));
      return EXIT.ok;
    }
    const [min, max] = command.args ?? [0, Infinity];
    if (parsed.positionals.length < min) throw new UsageError(`missing argument${min - parsed.positionals.length > 1 ? 's' : ''}`);
    if (parsed.positionals.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[max])}`);
    const global: GlobalOptions = {};
    for (const k of Object.keys(GLOBAL_OPTIONS)) if (typeof values[k] === 'string') (global as Record<string, string>)[k] = values[k] as string;
    const bars = new Set<Progress>();
    watch = command.interruptible ? watchSignals(io, mode, bars) : undefined;
    const w = watch;
    // A command that finishes despite a signal (it came too late to stop anything) reports as usual.
    await command.run({ io, mode, global, values, args: parsed.positionals, signal: w?.signal ?? new AbortController().signal, stopSignal: () => w?.received(), bars });
    return EXIT.ok;
  } catch (caught) {
    const stop = watch?.received();
    // Whatever a command throws once a signal stopped it is the interruption (the command says what is left).
    const error = stop && !(caught instanceof Interrupted) ? new Interrupted(stop, `${current?.name ?? 'the command'} stopped before it finished`) : caught;
    const exit = exitCodeOf(error);
    const { code, message } = describeError(error);
    const quiet = error instanceof OperationFailed && (error.details as { quiet?: boolean } | undefined)?.quiet === true && mode.json;
    if (error instanceof Interrupted) {
      if (mode.json) io.stderr.write(`${JSON.stringify({ error: { code, message, exit, signal: error.signal, ...error.details } })}\n`);
      else {
        note(io, `dlaas: ${error.signal === 'SIGINT' ? 'interrupted' : 'terminated (SIGTERM)'}: ${message}`);
        for (const l of error.lines) note(io, l);
      }
    } else if (mode.json) {
      if (!quiet) io.stderr.write(`${JSON.stringify({ error: { code, message, exit } })}\n`);
    } else {
      note(io, `dlaas: ${exit === EXIT.usage ? 'usage error' : 'error'}: ${message}`);
      if (exit === EXIT.usage && current) note(io, `Usage: ${current.usage}   (dlaas ${current.name} --help)`);
      else if (exit === EXIT.usage) note(io, 'Run `dlaas --help` for the commands and options.');
      else if (exit === EXIT.auth && error instanceof DlaasError) note(io, 'Log in with `dlaas login` (OIDC_ISSUER), or set RUCIO_ACCESS_TOKEN.');
      if (io.env.DLAAS_DEBUG && error instanceof Error && !(error instanceof DlaasError)) note(io, error.stack ?? '');
    }
    return exit;
  } finally {
    watch?.dispose();
  }
}


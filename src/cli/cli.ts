/**
 * The `dlaas` command line: log in, look at the ESAP basket and the Rucio catalogue, place data with
 * rules, stage it to the compute site, upload results. Every command takes `--json` for scripts.
 * @module
 */
import { openAsBlob } from 'node:fs';
import { access, constants, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { BasketItem, BasketItemInput, Did, DidFilter, FileManifest, FilterOps, FilterValue, Rule, RuleState, StageEvent, StageSource, UploadFile } from 'dlaas';
import { AbortError, ApiError, DlaasError, RuleStuckError, VERSION, corruptReplicas, decodeToken, formatDid, isJwt, parseDid, parseRucioDate, scrub } from './sdk-core.js';
import { DEFAULT_SCOPE, effectiveEnv, forgetLogin, oidcClient, openLake, openRucio, openStore, rucioOverrides, saveLogin, type GlobalOptions } from './context.js';
import { CliFailure, EXIT, Interrupted, OperationFailed, UsageError, describeError, exitCodeOf, exitCodeOfSignal } from './errors.js';
import { LAKE_OPTION_HELP, lakeCommand } from './lake.js';
import { catCommand, headCommand } from './files.js';
import { formatBytes, formatDate, formatDuration, loadProgressBars, note, printJson, println, progress, table, type Io, type OutputMode, type Progress, type StopSignal } from './output.js';

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

/**
 * One line of help per option, by command then option: `ARG  what it does (unit, default, allowed
 * values)`; `ARG` is empty for a flag.
 */
const OPTION_HELP: Record<string, Record<string, [arg: string, text: string]>> = {
  lake: LAKE_OPTION_HELP,
  cat: { range: ['A-B', 'only these bytes: A-B (B inclusive, from 0), A- (from A) or -N (the last N); not verified (default: the whole file, verified)'], rse: ['EXPRESSION', 'read from a replica on these RSEs (default: any)'] },
  head: { bytes: ['BYTES', 'how many bytes from the start (-c; default 1024)'], rse: ['EXPRESSION', 'read from a replica on these RSEs (default: any)'] },
  login: { timeout: ['SECONDS', 'give up when the code is not approved within this many seconds (default: until the code expires)'] },
  'basket add': { item: ['JSON', 'a raw ESAP basket item, as JSON (repeatable)'] },
  'basket rm': { index: ['N', 'the # of an item in `dlaas basket ls`, from 1 (repeatable)'] },
  ls: {
    filter: ['KEY=VALUE', 'metadata filter; also !=, >, >=, <, <= (numbers); comma-separated or repeated'],
    type: ['TYPE', 'DID type: all, collection, dataset, container or file (default collection)'],
    long: ['', 'a table with type, file count and size (-l)'],
    limit: ['N', 'at most N DIDs (default all)'],
    recursive: ['', 'also search inside containers'],
  },
  replicas: { rse: ['EXPRESSION', 'only replicas on the RSEs this RSE expression selects (default all)'], 'all-states': ['', 'also replicas not AVAILABLE (COPYING, BAD, …)'] },
  'replicas declare-bad': {
    rse: ['RSE', 'the RSE holding the bad replicas (required with DIDs)'],
    reason: ['TEXT', 'why (required; kept with the declaration)'],
    force: ['', 'declare even replicas Rucio already knows as bad'],
    suspicious: ['', 'declare them suspicious instead of bad'],
  },
  'rule add': {
    rse: ['EXPRESSION', 'RSE expression where the copies go (required)'],
    copies: ['N', 'how many copies (default 1)'],
    lifetime: ['SECONDS', 'the rule expires after this many seconds (default: never)'],
    activity: ['NAME', 'the transfer activity (default: the server’s, "User Subscriptions")'],
    comment: ['TEXT', 'a comment kept with the rule'],
    wait: ['', 'wait until the rule is OK, with a progress bar'],
    timeout: ['SECONDS', 'with --wait: stop waiting after this many seconds, exit 1 (the rule carries on)'],
    'poll-interval': ['MS', 'with --wait: first poll interval in milliseconds, ≥ 10 (default 2000, backing off)'],
  },
  'rule show': {},
  'rule wait': {
    timeout: ['SECONDS', 'stop waiting after this many seconds, exit 1 (the rule carries on; default: no limit)'],
    'poll-interval': ['MS', 'first poll interval in milliseconds, ≥ 10 (default 2000, backing off)'],
  },
  'rule rm': { 'purge-replicas': ['', 'also delete the replicas the rule protects once it expires'] },
  'rule update': { lifetime: ['SECONDS|none', 'new lifetime from now, in seconds; none: never expires'] },
  'rule ls': {
    rse: ['EXPRESSION', 'only rules with this RSE expression'],
    state: ['STATE', 'only rules in this state: REPLICATING, OK, STUCK, SUSPENDED, WAITING_APPROVAL or INJECT'],
  },
  'get-metadata': { plugin: ['NAME', 'the metadata plugin: DID_COLUMN, JSON or ALL (default: the server’s)'] },
  'set-metadata': { key: ['KEY', 'the metadata key (required)'], value: ['VALUE', 'its value (required); numbers and true/false are sent as such'] },
  'list-rses': { expression: ['EXPR', 'only the RSEs this RSE expression selects (default all)'], attributes: ['', 'with the attributes of each RSE'] },
  stage: {
    basket: ['', 'stage the items of your ESAP basket (besides any DIDs given)'],
    rse: ['RSE', 'the compute site’s RSE for replica mode (default RUCIO_DESTINATION_RSE)'],
    mode: ['MODE', 'replica (a rule to the mounted RSE) or download (default RUCIO_MODE, else replica when RUCIO_RSE_MOUNT_PATH is set)'],
    dest: ['DIR', 'download into this directory, made if missing (default DLAAS_DOWNLOAD_DIR, else ./dlaas-data)'],
    lifetime: ['SECONDS', 'lifetime of the rule replica mode makes (default: never expires)'],
    layout: ['LAYOUT', 'downloads as DIR/SCOPE/NAME (scope, the default) or DIR/NAME (flat)'],
    'poll-interval': ['MS', 'first rule poll interval in milliseconds, ≥ 10 (default 2000, backing off)'],
    'no-wait': ['', 'replica mode: make the rule and return without waiting (exit 0 while it replicates)'],
  },
  upload: {
    scope: ['SCOPE', 'the scope of the new DIDs (required), e.g. user.jdoe'],
    rse: ['RSE', 'the RSE to upload to (required)'],
    recursive: ['', 'a directory given: upload the files in it and its subdirectories (-r); DIDs are named by file name'],
    dataset: ['[SCOPE:]NAME', 'attach the files to this dataset (made if missing; default scope: --scope)'],
    lifetime: ['SECONDS', 'lifetime of the rule that keeps the files (default: never expires)'],
    'no-rule': ['', 'make no rule (the files may then be deleted by Rucio)'],
  },
};

const GLOBAL_OPTIONS: OptionSpec = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
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
  'http-timeout': { type: 'string' },
};

const GLOBAL_HELP = `Options for every command:
  --json                 machine-readable output on stdout (errors as JSON on stderr)
  -q, --quiet            no progress bars
  -v, --verbose          say which Rucio, account and token are used; on failure, every cause
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
  --http-timeout SECONDS how long one Rucio request waits for an answer (DLAAS_HTTP_TIMEOUT, default 30)
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
function bar(ctx: Ctx, format: string, total: number, payload?: Record<string, string | number>, start = 0): Progress {
  const b = progress(ctx.io, ctx.signal.aborted ? { ...ctx.mode, quiet: true } : ctx.mode, format, total, payload, start);
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
      // Drawn first from the rule's real lock counts (not from 0).
      b ??= bar(ctx, `rule ${id.slice(0, 8)} {bar} {value}/{total} locks | {state}`, p.total, { state: p.state }, p.ok);
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
      throw new OperationFailed(`rule ${id} is still ${rule.state} after ${timeoutS} s (${rule.locks_ok_cnt} OK, ${rule.locks_replicating_cnt} replicating, ${rule.locks_stuck_cnt} stuck); it carries on without us — follow it with \`dlaas rule wait ${id.slice(0, 8)}\` or \`dlaas rule show ${id.slice(0, 8)}\``);
    }
    throw error;
  } finally {
    p.stop();
  }
}

/**
 * A rule id as printed (the full 32 hex digits, or the first 8 a bar shows): a shorter prefix is
 * resolved among the account's rules when exactly one starts with it.
 */
async function resolveRuleId(rucio: Awaited<ReturnType<typeof openLake>>['lake']['rucio'], text: string, account: string | undefined): Promise<string> {
  const t = text.trim().toLowerCase().replace(/-/g, '');
  if (!/^[0-9a-f]{4,31}$/.test(t)) return text; // a full id (or not an id at all: the SDK says which)
  const owner = account ?? rucio.account ?? (await rucio.accounts.whoami()).account;
  const matches = (await rucio.rules.list({ account: owner }).toArray()).filter((r) => r.id.toLowerCase().startsWith(t));
  if (matches.length === 1) return matches[0]!.id;
  if (!matches.length) throw new OperationFailed(`no rule of account ${owner} has an id starting with ${t} (see \`dlaas rule ls\`)`);
  throw new UsageError(`rule id ${t} is ambiguous: ${matches.length} rules of ${owner} start with it (${matches.slice(0, 5).map((r) => r.id).join(', ')}${matches.length > 5 ? ', …' : ''}); give more of it`);
}

/**
 * `--dest`: a directory that exists or can be made, and that takes a file — checked (and made)
 * before any work, so a bad one is a usage error (exit 2) and not a stall or a raw ENOTDIR later.
 */
async function checkDestDir(destDir: string, shown: string): Promise<void> {
  const why = (e: unknown) => (e instanceof Error && 'code' in e ? String((e as { code: unknown }).code) : String(e));
  // The nearest part of the path that exists must be a directory; the parts below it are made one by
  // one (not `mkdir -p`: Node's recursive mkdir spins forever where a directory refuses entries, as in /proc).
  const missing: string[] = [];
  for (let p = destDir; ; p = dirname(p)) {
    let st;
    try {
      st = await stat(p);
    } catch (e) {
      if (why(e) !== 'ENOENT' && why(e) !== 'ENOTDIR') throw new UsageError(`--dest ${shown}: cannot use ${p} (${why(e)})`);
    }
    if (st && !st.isDirectory()) throw new UsageError(`--dest ${shown}: ${p === destDir ? 'it' : p} is a file, not a directory`);
    if (st || dirname(p) === p) break;
    missing.unshift(p);
  }
  try {
    for (const p of missing) await mkdir(p).catch((e: unknown) => (why(e) === 'EEXIST' ? undefined : Promise.reject(e)));
  } catch (e) {
    throw new UsageError(`--dest ${shown}: cannot create the directory (${why(e)})`);
  }
  const probe = join(destDir, `.dlaas-write-check-${process.pid}`);
  try {
    await access(destDir, constants.W_OK | constants.X_OK);
    await writeFile(probe, '', { flag: 'wx' });
  } catch (e) {
    throw new UsageError(`--dest ${shown}: the directory is not writable (${why(e)})`);
  } finally {
    await rm(probe, { force: true }).catch(() => {});
  }
}

/**
 * A failed rule creation, said in terms of what was asked: `DuplicateRule` names the existing rule
 * (found among the DID's rules with the same RSE expression, copies and account; exit 1),
 * `InvalidRSEExpression` names the expression (exit 2), a missing DID names it (exit 1).
 */
async function explainRuleError(error: unknown, rucio: Awaited<ReturnType<typeof openLake>>['lake']['rucio'], dids: readonly Did[], rse: string, copies: number, account: string | undefined): Promise<unknown> {
  if (!(error instanceof ApiError)) return error;
  if (error.exceptionClass === 'DuplicateRule') {
    const found: { did: Did; rule: Rule }[] = [];
    for (const did of dids) {
      const rules = await rucio.dids
        .rules(did)
        .toArray()
        .catch(() => [] as Rule[]);
      const rule = rules.find((r) => r.rse_expression === rse && r.copies === copies && (!account || r.account === account));
      if (rule) found.push({ did, rule });
    }
    if (!found.length) return new CliFailure(`a rule for ${dids.map(formatDid).join(', ')} on ${rse} (${copies} cop${copies === 1 ? 'y' : 'ies'}) already exists (DuplicateRule); list them with \`dlaas rule ls\``, EXIT.failed, error.code);
    const said = found.map(({ did, rule }) => `${formatDid(did)} on ${rse}: rule ${rule.id} (${rule.state}${rule.expires_at ? `, expires ${formatDate(rule.expires_at)}` : ''})`).join('; ');
    return new CliFailure(`the rule exists already (DuplicateRule) — ${said}; see \`dlaas rule show ${found[0]!.rule.id}\``, EXIT.failed, error.code);
  }
  if (error.exceptionClass === 'InvalidRSEExpression') return new CliFailure(`the RSE expression ${JSON.stringify(rse)} is not valid or matches no RSE (InvalidRSEExpression: ${error.exceptionMessage ?? ''}); list the RSEs with \`dlaas list-rses\``, EXIT.usage, error.code);
  if (error.exceptionClass === 'DataIdentifierNotFound') return new CliFailure(`no such DID: ${dids.length === 1 ? formatDid(dids[0]!) : `one of ${dids.map(formatDid).join(', ')}`} (${error.exceptionMessage ?? 'DataIdentifierNotFound'})`, EXIT.failed, error.code);
  return error;
}

const COMMANDS: Command[] = [
  catCommand,
  headCommand,
  {
    name: 'login',
    usage: 'dlaas login [--oidc-issuer URL] [--oidc-client-id ID]',
    summary: 'log in with the OIDC device flow; the session is kept (mode 0600) for the next commands',
    options: { timeout: { type: 'string' } },
    args: [0, 0],
    interruptible: true,
    async run(ctx) {
      const env = effectiveEnv(ctx.io, ctx.global);
      const { store, path } = await openStore(ctx.io, env);
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
            note(ctx.io, `Waiting for you to approve (the code expires at ${formatDate(p.expiresAt)})…`);
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
        const [{ createRucioLake }, overrides] = await Promise.all([import('./sdk-rucio.js'), rucioOverrides(env)]);
        const lake = await createRucioLake({ env, auth: { token: session }, config: { requireToken: false } }, overrides);
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
      const { store, path } = await openStore(ctx.io, env);
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
      const { lake, session } = await openRucio(ctx.io, ctx.global, ctx.mode);
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
        ['token', `${result.token_source ?? '?'}${c ? `; sub ${c.sub}, aud ${[c.aud].flat().join(' ')}, expires ${c.exp ? formatDate(c.exp) : '?'}` : ''}`],
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
      const { lake } = await openLake(ctx.io, ctx.global, ctx.mode);
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
      const { lake } = await openLake(ctx.io, ctx.global, ctx.mode);
      const items: BasketItemInput[] = [];
      const { rucioItem } = await import('./sdk-full.js');
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
      const { lake } = await openLake(ctx.io, ctx.global, ctx.mode);
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
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
      if (ctx.values.long || ctx.mode.json) {
        const hits = await lake.rucio.dids.search(scope, { ...common, long: true }).toArray();
        // Rucio counts a dataset's files (`length`) when it is closed: for an open one, count them.
        for (const h of hits) {
          if (h.did_type !== 'DATASET') continue;
          const did = { scope: h.scope, name: h.name };
          const info = await lake.rucio.dids.get(did);
          if (info.open !== false) {
            const files = await lake.rucio.dids.files(did).toArray();
            Object.assign(h, { length: files.length, bytes: files.reduce((n, f) => n + Number(f.bytes ?? 0), 0), open: true });
          }
        }
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
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
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
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
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
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
      // Not cancellable: an aborted POST would leave it unknown whether the rule exists (Ctrl-C acts once it is answered).
      let ids: string[];
      try {
        ids = await lake.rucio.rules.create({ dids, copies, rse_expression: rse, ...(lifetime ? { lifetime } : {}), ...(str(ctx.values.activity) ? { activity: str(ctx.values.activity)! } : {}), ...(str(ctx.values.comment) ? { comment: str(ctx.values.comment)! } : {}) });
      } catch (error) {
        throw await explainRuleError(error, lake.rucio, dids, rse, copies, lake.config.rucio.account);
      }
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
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
      const r = await lake.rucio.rules.get(await resolveRuleId(lake.rucio, ctx.args[0]!, ctx.global.account));
      if (ctx.mode.json) return printJson(ctx.io, ruleJson(r));
      const total = r.locks_ok_cnt + r.locks_replicating_cnt + r.locks_stuck_cnt;
      for (const [k, v] of [
        ['id', r.id],
        ['did', `${r.scope}:${r.name} (${r.did_type})`],
        ['account', r.account],
        ['rse', `${r.rse_expression} × ${r.copies}`],
        ['state', r.state],
        ['locks', `${r.locks_ok_cnt}/${total} OK, ${r.locks_replicating_cnt} replicating, ${r.locks_stuck_cnt} stuck`],
        ['expires', r.expires_at ? formatDate(r.expires_at) : 'never'],
        ['created', formatDate(r.created_at)],
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
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
      let r: Rule;
      try {
        r = await waitRule(ctx, lake.rucio, await resolveRuleId(lake.rucio, ctx.args[0]!, ctx.global.account), timeout, poll);
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
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
      const id = await resolveRuleId(lake.rucio, ctx.args[0]!, ctx.global.account);
      await lake.rucio.rules.delete(id, { purgeReplicas: ctx.values['purge-replicas'] === true });
      // Rucio deletes softly: the rule gets an expiry, and its cleaner removes it (and what only it protects) then.
      const after = await lake.rucio.rules.get(id).catch(() => undefined);
      const expires = after?.expires_at ?? null;
      if (ctx.mode.json) return printJson(ctx.io, { deleted: id, expires_at: expires ? (parseRucioDate(expires)?.toISOString() ?? expires) : null, gone: after === undefined });
      if (!after) return println(ctx.io, `Rule ${id} is deleted.`);
      println(ctx.io, `Rule ${id} will expire${expires ? ` at ${formatDate(expires)}` : ''}: Rucio deletes rules softly — its cleaner removes the rule then, and the replicas only it protects${ctx.values['purge-replicas'] ? ' (purged)' : ''}.`);
    },
  },
  {
    name: 'rule update',
    usage: 'dlaas rule update RULE_ID --lifetime SECONDS|none',
    summary: "change a rule: its lifetime from now (seconds), or none to keep it for good",
    options: { lifetime: { type: 'string' } },
    args: [1, 1],
    async run(ctx) {
      const raw = str(ctx.values.lifetime);
      if (raw === undefined) throw new UsageError('--lifetime SECONDS|none is required (what to change)');
      const lifetime = raw === 'none' ? null : intOption(raw, 'lifetime', 1)!;
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
      const id = await resolveRuleId(lake.rucio, ctx.args[0]!, ctx.global.account);
      await lake.rucio.rules.update(id, { lifetime });
      const r = await lake.rucio.rules.get(id);
      if (ctx.mode.json) return printJson(ctx.io, ruleJson(r));
      println(ctx.io, `Rule ${r.id} ${r.expires_at ? `now expires at ${formatDate(r.expires_at)}` : 'no longer expires'}.`);
    },
  },
  {
    name: 'rule ls',
    usage: 'dlaas rule ls [DID] [--account NAME] [--rse EXPRESSION] [--state STATE]',
    summary: "the rules of a DID, or an account's rules (default: yours)",
    options: { rse: { type: 'string' }, state: { type: 'string' } },
    args: [0, 1],
    async run(ctx) {
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
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
      for (const l of table([['rule', 'DID', 'RSE expression', 'state', 'locks OK', 'expires'], ...rules.map((r) => [r.id, `${r.scope}:${r.name}`, r.rse_expression, r.state, `${r.locks_ok_cnt}/${r.locks_ok_cnt + r.locks_replicating_cnt + r.locks_stuck_cnt}`, formatDate(r.expires_at)])])) println(ctx.io, l);
    },
  },
  {
    name: 'list-files',
    usage: 'dlaas list-files DID',
    summary: 'the files in a dataset or container (recursively), with size and checksum',
    args: [1, 1],
    async run(ctx) {
      const did = didArg(ctx.args[0]!);
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
      const files = await lake.rucio.dids.files(did).toArray();
      if (ctx.mode.json) return printJson(ctx.io, files);
      for (const l of table([['file', 'size', 'adler32'], ...files.map((f) => [`${f.scope}:${f.name}`, formatBytes(f.bytes), f.adler32 ?? '-'])])) println(ctx.io, l);
      println(ctx.io, `${files.length} file(s), ${formatBytes(files.reduce((n, f) => n + Number(f.bytes ?? 0), 0))}`);
    },
  },
  {
    name: 'list-content',
    usage: 'dlaas list-content DID',
    summary: 'what is attached directly to a dataset or container',
    args: [1, 1],
    async run(ctx) {
      const did = didArg(ctx.args[0]!);
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
      const content = await lake.rucio.dids.content(did).toArray();
      if (ctx.mode.json) return printJson(ctx.io, content);
      for (const l of table([['DID', 'type', 'size'], ...content.map((c) => [`${c.scope}:${c.name}`, c.type, formatBytes(c.bytes)])])) println(ctx.io, l);
    },
  },
  {
    name: 'get-metadata',
    usage: 'dlaas get-metadata DID [--plugin NAME]',
    summary: 'the metadata of a DID',
    options: { plugin: { type: 'string' } },
    args: [1, 1],
    async run(ctx) {
      const did = didArg(ctx.args[0]!);
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
      const plugin = str(ctx.values.plugin);
      const meta = await lake.rucio.dids.getMeta(did, plugin ? { plugin } : {});
      if (ctx.mode.json) return printJson(ctx.io, meta);
      const keys = Object.keys(meta).sort();
      const width = Math.max(0, ...keys.map((k) => k.length));
      for (const k of keys) {
        const v = meta[k];
        println(ctx.io, `${k.padEnd(width)}  ${v === null || v === undefined ? '-' : /(_at|_date)$|^(created|updated|accessed)/.test(k) && typeof v === 'string' ? formatDate(v) : typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
      }
    },
  },
  {
    name: 'set-metadata',
    usage: 'dlaas set-metadata DID --key KEY --value VALUE',
    summary: 'set one metadata key of a DID (numbers and true/false are sent as such)',
    options: { key: { type: 'string' }, value: { type: 'string' } },
    args: [1, 1],
    async run(ctx) {
      const did = didArg(ctx.args[0]!);
      const key = str(ctx.values.key);
      const raw = str(ctx.values.value);
      if (!key) throw new UsageError('--key KEY is required');
      if (raw === undefined) throw new UsageError('--value VALUE is required');
      const value = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw === 'true' ? true : raw === 'false' ? false : raw;
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
      await lake.rucio.dids.setMeta(did, { [key]: value });
      if (ctx.mode.json) return printJson(ctx.io, { did: formatDid(did), key, value });
      println(ctx.io, `${formatDid(did)}: ${key} = ${JSON.stringify(value)}`);
    },
  },
  {
    name: 'list-rses',
    usage: 'dlaas list-rses [--expression EXPR] [--attributes]',
    summary: 'the RSEs (storage elements), or those an RSE expression selects; with their attributes',
    options: { expression: { type: 'string' }, attributes: { type: 'boolean' } },
    args: [0, 0],
    async run(ctx) {
      const { lake } = await openRucio(ctx.io, ctx.global, ctx.mode);
      const expression = str(ctx.values.expression);
      let names: string[];
      try {
        names = expression === undefined ? (await lake.rucio.rses.list().toArray()).map((r) => r.rse) : (await lake.rucio.rses.list(expression).toArray()).map((r) => r.rse);
      } catch (error) {
        if (expression !== undefined && error instanceof ApiError && error.exceptionClass === 'InvalidRSEExpression')
          throw new CliFailure(`the RSE expression ${JSON.stringify(expression)} is not valid or matches no RSE (InvalidRSEExpression: ${error.exceptionMessage ?? ''})`, EXIT.usage, error.code);
        throw error;
      }
      names.sort();
      const attributes = ctx.values.attributes ? await Promise.all(names.map((n) => lake.rucio.rses.attributes(n))) : undefined;
      if (ctx.mode.json) return printJson(ctx.io, names.map((rse, i) => ({ rse, ...(attributes ? { attributes: attributes[i] } : {}) })));
      for (const [i, n] of names.entries()) {
        println(ctx.io, n);
        if (attributes) for (const [k, v] of Object.entries(attributes[i]!).sort(([a], [b]) => a.localeCompare(b))) println(ctx.io, `  ${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
      }
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
      const { lake, env } = await openLake(ctx.io, ctx.global, ctx.mode);
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
      if (mode === 'download') await checkDestDir(destDir, dest);
      const bars = new Map<string, Progress>();
      // What is left if a signal stops the run: files with bytes but no `file` event are partial
      // (the sink keeps them privately, never at the final path; the next identical run resumes
      // them with Range); rules not seen OK keep replicating.
      const key = (did: Did | undefined, url: string | undefined) => (did ? formatDid(did) : (url ?? '?'));
      const started = new Map<string, { transferred: number; total: number | null }>();
      const finished = new Set<string>();
      const rules = new Map<string, string>();
      let planned = 0;
      let heldBytes = 0;
      let finishedBytes = 0;
      let lastSpeed = { held: formatBytes(0), rate: '-', timeLeft: '-' };
      const onProgress = (e: StageEvent) => {
        if (e.type === 'rule') {
          rules.set(e.ruleId, e.state);
          let b = bars.get(e.ruleId);
          if (!b) bars.set(e.ruleId, (b = bar(ctx, `rule ${e.ruleId.slice(0, 8)} {bar} {value}/{total} files | {state}`, e.total, { state: e.state }, e.ok)));
          b.setTotal(e.total);
          b.update(e.ok, { state: e.state });
        } else if (e.type === 'plan') {
          planned = e.files;
          // On a terminal the bytes too (redrawn in place); in a log one line per percent is enough.
          // Bytes done of all, rate, time left, files done of all; in a log (one line per change) percent and files only.
          // (in a log the bytes, rate and time left as of the last file finished: a line per file, not per chunk).
          const format = ctx.io.stderr.isTTY ? 'download {bar} {percentage}% | {held} of {size} | {done}/{files} files | {rate} | ETA {timeLeft}' : 'download {bar} {percentage}% | {fheld} of {size} | {done}/{files} files | {frate} | ETA {feta}';
          bars.set('bytes', bar(ctx, format, Math.max(1, e.bytes), { files: e.files, done: 0, held: formatBytes(0), size: formatBytes(e.bytes), rate: '-', timeLeft: '-', fheld: formatBytes(0), frate: '-', feta: '-' }));
        } else if (e.type === 'bytes') {
          started.set(key(e.did, e.url), { transferred: e.transferred, total: e.total });
          heldBytes = e.overallBytes;
          const left = Math.max(0, e.overallTotal - e.overallBytes);
          lastSpeed = { held: formatBytes(e.overallBytes), rate: e.rate > 0 ? `${formatBytes(e.rate)}/s` : '-', timeLeft: e.rate > 0 ? formatDuration((left / e.rate) * 1000) : '-' };
          bars.get('bytes')?.update(e.overallBytes, lastSpeed);
        } else if (e.type === 'file') {
          finished.add(key(e.manifest.did, e.manifest.url));
          finishedBytes += Number(e.manifest.bytes ?? 0);
          heldBytes = Math.max(heldBytes, finishedBytes);
          bars.get('bytes')?.update(heldBytes, { done: e.done, held: formatBytes(heldBytes), fheld: formatBytes(heldBytes), frate: lastSpeed.rate, feta: e.done === e.total ? '0 ms' : lastSpeed.timeLeft });
        }
      };
      let r;
      const began = performance.now();
      try {
        r = await lake.staging.stage(sources, {
          mode,
          ...(rse ? { rse } : {}),
          ...(lifetime ? { lifetime } : {}),
          ...(poll ? { pollInterval: poll } : {}),
          ...(ctx.values['no-wait'] ? { wait: false } : {}),
          ...(mode === 'download' ? { sink: (await import('./sdk-full.js')).fileSink(destDir) } : {}),
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
        const sizes = `${formatBytes(r.totals.bytes)}${r.totals.skipped ? `, ${r.totals.skipped} already there` : ''}`;
        if (r.mode === 'download') println(ctx.io, `${r.totals.ok === r.totals.files ? r.totals.ok : `${r.totals.ok} of ${r.totals.files}`} file${r.totals.files === 1 ? '' : 's'} verified in ${formatDuration(performance.now() - began)} (${sizes}) in ${destDir}${r.totals.failed ? `; ${r.totals.failed} failed` : ''}`);
        else println(ctx.io, `${r.totals.ok}/${r.totals.files} files ${r.status} (${sizes})`);
      }
      if (failed) throw new OperationFailed(`staging ended ${r.status}: ${r.totals.failed} of ${r.totals.files} files not available`, { quiet: true });
    },
  },
  {
    name: 'upload',
    usage: 'dlaas upload FILE|DIR... --scope SCOPE --rse RSE [--recursive] [--dataset [SCOPE:]NAME] [--lifetime SECONDS] [--no-rule]',
    summary: 'upload files into the Data Lake (verified), attach them to a dataset, keep them with a rule',
    options: { scope: { type: 'string' }, rse: { type: 'string' }, dataset: { type: 'string' }, lifetime: { type: 'string' }, 'no-rule': { type: 'boolean' }, recursive: { type: 'boolean', short: 'r' } },
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
      const from = new Map<string, string>();
      const add = async (path: string, shown: string) => {
        const name = basename(path);
        const before = from.get(name);
        if (before !== undefined) throw new UsageError(`${shown} and ${before} would both be ${scope}:${name} (a DID names a file by its base name); upload them separately, into different scopes or under other names`);
        from.set(name, shown);
        files.push({ name, data: await openAsBlob(path) });
      };
      for (const f of ctx.args) {
        const path = resolve(ctx.io.cwd, f);
        const st = await stat(path).catch(() => undefined);
        if (st?.isDirectory()) {
          if (!ctx.values.recursive) throw new UsageError(`${f} is a directory: give --recursive (-r) to upload the files in it (and its subdirectories)`);
          const inside = (await readdir(path, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort();
          if (!inside.length) throw new UsageError(`${f} is a directory with no files in it`);
          for (const p of inside) await add(p, relative(ctx.io.cwd, p) || p);
          continue;
        }
        if (!st) throw new UsageError(`${f}: no such file or directory`);
        if (!st.isFile()) throw new UsageError(`${f}: not a regular file`);
        await add(path, f);
      }
      const { lake } = await openLake(ctx.io, ctx.global, ctx.mode);
      // Files done of all, the current file and step, bytes done of all (of the files finished), rate and time left.
      const byteSize = (d: UploadFile['data']) => ('size' in d ? d.size : d.byteLength);
      const totalBytes = files.reduce((n, f) => n + byteSize(f.data), 0);
      const sizeOf = new Map(files.map((f) => [f.name, byteSize(f.data)]));
      const began = performance.now();
      let doneBytes = 0;
      const speed = () => {
        const rate = doneBytes / Math.max(0.001, (performance.now() - began) / 1000);
        return { held: formatBytes(doneBytes), rate: doneBytes > 0 ? `${formatBytes(rate)}/s` : '-', timeLeft: doneBytes > 0 ? formatDuration(((totalBytes - doneBytes) / rate) * 1000) : '-' };
      };
      const b = bar(ctx, 'upload {bar} {done}/{files} files | {file} {step} | {held} of {size} | {rate} | ETA {timeLeft}', Math.max(1, totalBytes), { done: 0, files: files.length, file: '', step: '', size: formatBytes(totalBytes), held: formatBytes(0), rate: '-', timeLeft: '-' });
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
              if (ctx.io.stderr.isTTY) b.update(doneBytes, { file: e.did.name, step: e.step });
              return;
            }
            finished.add(e.manifest.did.name);
            doneBytes += sizeOf.get(e.manifest.did.name) ?? 0;
            b.update(doneBytes, { done: ++done, file: e.manifest.did.name, step: e.manifest.status, ...speed() });
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
        for (const l of table([['DID', 'status', 'size', 'adler32', ''], ...r.files.map((m) => [formatDid(m.did), m.status, formatBytes(m.bytes), m.adler32 ?? '-', m.error ? m.error.message : ''])])) println(ctx.io, l);
        if (r.dataset) println(ctx.io, `dataset ${formatDid(r.dataset)}`);
        for (const id of r.ruleIds) println(ctx.io, `rule ${id} on ${rse}`);
      }
      if (!r.ok) throw new OperationFailed(`${r.files.filter((m) => m.status === 'FAILED').length} of ${r.files.length} uploads failed`, { quiet: true });
    },
  },
  lakeCommand,
];

// `download`: `stage --mode download`, under the name Rucio users type.
{
  const stage = COMMANDS.find((c) => c.name === 'stage')!;
  const { mode: _mode, ...options } = stage.options ?? {};
  COMMANDS.splice(COMMANDS.indexOf(stage) + 1, 0, {
    ...stage,
    name: 'download',
    usage: 'dlaas download DID... | --basket  [--dest DIR] [--layout scope|flat]',
    summary: 'download DIDs (or the basket) into a directory, verified (`stage --mode download`)',
    options,
    run: (ctx) => stage.run({ ...ctx, values: { ...ctx.values, mode: 'download' } }),
  });
}

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [`dlaas ${VERSION} — the ESCAPE Data Lake from the command line`, '', 'Usage: dlaas COMMAND [options]', '', 'Commands:', ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`), '', 'Run `dlaas COMMAND --help` for its options.', '', GLOBAL_HELP].join('\n');
}

function commandHelp(c: Command): string {
  const help = OPTION_HELP[c.name] ?? (c.name === 'download' ? OPTION_HELP.stage : undefined) ?? {};
  const heads = Object.entries(c.options ?? {}).map(([k, o]) => {
    const [arg, text] = help[k] ?? [o.type === 'string' ? 'VALUE' : '', ''];
    return [`  ${o.short ? `-${o.short}, ` : ''}--${k}${arg ? ` ${arg}` : ''}`, `${text}${o.multiple && !/repeat/.test(text) ? ' (repeatable)' : ''}`] as const;
  });
  const width = Math.max(0, ...heads.map(([h]) => h.length));
  const opts = heads.map(([h, t]) => (t ? `${h.padEnd(width)}  ${t}` : h));
  return [`Usage: ${c.usage}`, '', `${c.summary[0]!.toUpperCase()}${c.summary.slice(1)}.`, ...(opts.length ? ['', 'Options:', ...opts] : []), '', 'Global options (--json, --quiet, --verbose, --host, --account, …), the environment and exit status: `dlaas --help`.'].join('\n');
}

/** The causes under an error, outermost first, secret-free: `TypeError: fetch failed`, `Error [ECONNREFUSED]: connect ECONNREFUSED 127.0.0.1:9`. */
function causesOf(error: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>([error]);
  for (let c = (error as { cause?: unknown } | undefined)?.cause; c !== undefined && c !== null && !seen.has(c) && out.length < 8; c = (c as { cause?: unknown }).cause) {
    seen.add(c);
    const code = typeof (c as { code?: unknown }).code === 'string' ? ` [${(c as { code: string }).code}]` : '';
    out.push(c instanceof Error ? `${c.name}${code}: ${scrub(c.message)}` : scrub(String(c)));
  }
  return out;
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
  let mode: OutputMode = { json: argv.includes('--json'), quiet: argv.includes('--quiet') || argv.includes('-q'), verbose: argv.includes('--verbose') || argv.includes('-v') };
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
    mode = { json: values.json === true, quiet: values.quiet === true, verbose: values.verbose === true };
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
    // The long commands are the ones that draw progress bars: load cli-progress for them only.
    if (command.interruptible && !mode.json && !mode.quiet) await loadProgressBars();
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
      if (mode.verbose) for (const c of causesOf(error)) note(io, `  caused by: ${c}`);
      if (io.env.DLAAS_DEBUG && error instanceof Error && !(error instanceof DlaasError)) note(io, error.stack ?? '');
    }
    return exit;
  } finally {
    watch?.dispose();
  }
}


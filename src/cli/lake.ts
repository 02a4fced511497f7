/**
 * `dlaas lake`: the embedded local Data Lake of `npm run demo` (Rucio + ESAP + storage, an OpenID
 * Provider, a VO archive, all on 127.0.0.1) as a long-running service to point the CLI, the examples,
 * the notebook and the browser examples at. Prints the environment to export and how to log in,
 * runs until Ctrl-C (or SIGTERM), then stops everything, saves the state (with `--state DIR`) and
 * exits 0; a second Ctrl-C quits at once.
 *
 * The lake is loaded only by this command: it needs the packages `oidc-provider` (its OpenID
 * Provider) and `msw` (the emulators' peer), development dependencies of dlaas.
 * @module
 */
import { resolve } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import type { LocalLake, LocalLakeOptions } from '../lake/local-lake.js';
import { UsageError } from './errors.js';
import { note, println, type Io, type OutputMode } from './output.js';

/** What `lake` needs of the CLI's command context. */
interface LakeCtx {
  io: Io;
  mode: OutputMode;
  values: Record<string, string | boolean | string[] | undefined>;
  signal: AbortSignal;
}

function port(value: string | boolean | string[] | undefined, name: string): number | undefined {
  if (typeof value !== 'string') return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new UsageError(`--${name} must be a port number (0: any free port), not ${JSON.stringify(value)}`);
  return n;
}

/** A value for a POSIX shell. */
const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The names of the environment, in the order printed. */
const ENV_ORDER = ['RUCIO_BASE_URL', 'RUCIO_AUTH_URL', 'RUCIO_ACCOUNT', 'ESAP_URL', 'OIDC_ISSUER', 'OIDC_CLIENT_ID', 'RUCIO_DESTINATION_RSE', 'RUCIO_MODE', 'RUCIO_RSE_MOUNT_PATH', 'RUCIO_PATH_BEGINS_AT'];

/** What each option of `dlaas lake` does (for the CLI's option help: `OPTION_HELP.lake`). */
export const LAKE_OPTION_HELP: Record<string, [arg: string, text: string]> = {
  port: ['N', 'port of Rucio, ESAP and storage on 127.0.0.1 (default: a free one)'],
  'oidc-port': ['N', 'port of the OpenID Provider (default: a free one)'],
  'vo-port': ['N', 'port of the VO archive (default: a free one)'],
  'cors-origin': ['ORIGIN', 'a browser origin the OpenID Provider answers (the ESAP page, chrome-extension://<id>); repeatable'],
  state: ['DIR', 'keep the state in DIR/lake.json: restored at start, saved at exit and every --save-every seconds'],
  'save-every': ['SECONDS', 'how often to save the state with --state (default 30; 0: only at exit)'],
  'approve-logins': ['', 'approve every device login at once as jdoe (unattended runs: CI, notebooks)'],
};

export const lakeCommand = {
  name: 'lake',
  usage: 'dlaas lake [--port N] [--oidc-port N] [--vo-port N] [--cors-origin ORIGIN]… [--state DIR] [--save-every SECONDS] [--approve-logins]',
  summary: 'run a local Data Lake (Rucio, ESAP, storage, OpenID Provider) on 127.0.0.1 until Ctrl-C',
  options: {
    port: { type: 'string' },
    'oidc-port': { type: 'string' },
    'vo-port': { type: 'string' },
    'cors-origin': { type: 'string', multiple: true },
    state: { type: 'string' },
    'save-every': { type: 'string' },
    'approve-logins': { type: 'boolean' },
  } satisfies NonNullable<ParseArgsConfig['options']>,
  args: [0, 0] as [number, number],
  interruptible: true,
  async run(ctx: LakeCtx): Promise<void> {
    const { io, values } = ctx;
    const state = typeof values.state === 'string' ? resolve(io.cwd, values.state) : undefined;
    const saveEvery = typeof values['save-every'] === 'string' ? Number(values['save-every']) : 30;
    if (!(saveEvery >= 0)) throw new UsageError(`--save-every must be a number of seconds (0: only at exit), not ${JSON.stringify(values['save-every'])}`);
    const cors = Array.isArray(values['cors-origin']) ? values['cors-origin'] : [];
    // An origin: scheme://host[:port], nothing after (chrome-extension://<id> included, which URL gives no origin).
    for (const o of cors) if (!/^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]+$/i.test(o)) throw new UsageError(`--cors-origin must be an origin (scheme://host[:port]), not ${JSON.stringify(o)}`);
    const options: LocalLakeOptions = {
      ...(cors.length ? { corsOrigins: cors } : {}),
      ...(state ? { stateDir: state } : {}),
      ...(values['approve-logins'] === true ? { approveLogins: true } : {}),
    };
    const p = port(values.port, 'port');
    const op = port(values['oidc-port'], 'oidc-port');
    const vo = port(values['vo-port'], 'vo-port');
    if (p) options.port = p;
    if (op) options.oidcPort = op;
    if (vo) options.voPort = vo;

    const { startLocalLake, ESAP_LOGIN_PATH } = await import('../lake/local-lake.js');
    const lake: LocalLake = await startLocalLake(options);
    let timer: ReturnType<typeof setInterval> | undefined;
    try {
      const env = lake.env();
      const login = { command: 'dlaas login', account: lake.account, password: 'any', esapLogin: `${lake.url}${ESAP_LOGIN_PATH}` };
      if (ctx.mode.json) {
        // One line per document (the stop report follows): `--json` output is NDJSON.
        println(io, JSON.stringify({ env, login, issuer: lake.issuer, voUrl: lake.voUrl, corsOrigins: cors, state: state ?? null, restored: lake.restored, datasets: lake.datasets.map((d) => `${d.scope}:${d.name}`) }));
      } else {
        println(io, `Local Data Lake on 127.0.0.1${lake.restored && state ? ` (state restored from ${state})` : state ? ` (state kept in ${state})` : ''}:`);
        println(io, `  Rucio ${lake.url}  ESAP ${lake.url}/esap-api/  storage ${lake.url}/storage/<rse>/  OpenID Provider ${lake.issuer}  VO archive ${lake.voUrl}`);
        println(io, `  Datasets: ${lake.datasets.map((d) => `${d.scope}:${d.name}`).join(', ')}; ${lake.account}'s ESAP basket holds ${lake.datasets[0] ? `${lake.datasets[0].scope}:${lake.datasets[0].name}` : 'nothing'} and two VO records.`);
        println(io);
        println(io, '# The environment (paste into your shell):');
        for (const k of ENV_ORDER) if (env[k] !== undefined) println(io, `export ${k}=${shellQuote(env[k])}`);
        println(io);
        if (values['approve-logins'] === true) println(io, `# Log in: \`dlaas login\` (approved at once as ${lake.account}: --approve-logins).`);
        else println(io, `# Log in: \`dlaas login\`, open the link it prints and sign in as ${lake.account} (any password).`);
        println(io, `# ESAP in a browser: ${login.esapLogin} logs you in as ${lake.account}.`);
        if (cors.length) println(io, `# Browser origins allowed by the OpenID Provider: ${cors.join(', ')}`);
        println(io);
        println(io, 'Ready. Ctrl-C to stop.');
      }
      if (state && saveEvery > 0) {
        timer = setInterval(() => {
          // A save finishes queued transfers: wait for a quiet moment instead of speeding them up.
          if (lake.emulator.rucio.pendingTransfers === 0) lake.save().catch((error: unknown) => note(io, `dlaas lake: could not save the state: ${error instanceof Error ? error.message : String(error)}`));
        }, saveEvery * 1000);
      }
      await new Promise<void>((done) => (ctx.signal.aborted ? done() : ctx.signal.addEventListener('abort', () => done(), { once: true })));
    } finally {
      if (timer) clearInterval(timer);
      let saved: string | undefined;
      try {
        saved = await lake.save();
      } finally {
        await lake.close();
      }
      if (ctx.mode.json) println(io, JSON.stringify({ stopped: true, saved: saved ?? null }));
      else note(io, saved ? `Local Data Lake stopped; its state is saved in ${saved} (dlaas lake --state ${state} restores it).` : 'Local Data Lake stopped (nothing kept: use --state DIR to keep its state).');
    }
  },
};

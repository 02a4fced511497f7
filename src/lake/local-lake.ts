/**
 * The embedded local Data Lake of `dlaas lake`, `npm run demo`, the examples' tests, the notebook test and the
 * CLI tests: the `dlaas/testing` emulator (Rucio + ESAP + storage, one per RSE) and a real OpenID
 * Provider, all on 127.0.0.1, seeded with the DAC21 datasets and a user `jdoe` whose ESAP basket
 * holds the LOFAR observation and two VO records.
 *
 * Two things a real Data Lake does by itself are played here:
 * - the transfer system: queued transfers complete one file every `conveyorMs`, so rules progress;
 * - the compute site's mount: the RSE `CERN-EOS` is mirrored into `mountDir`, the way a notebook
 *   hub mounts its RSE (replica mode: `RUCIO_RSE_MOUNT_PATH`, `RUCIO_PATH_BEGINS_AT=3`).
 * @module
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { OidcClient, formatDid, lfn2pathHash, type Did } from 'dlaas';
// Loaded when a lake starts (it needs msw, an optional peer): `dlaas` without `lake` never loads it.
import type { DataLakeEmulator } from 'dlaas/testing';
import { toFits } from '../../examples/lib/lofar-imaging.ts';
import { dac21Datasets, type DatasetSeed } from './datasets.ts';
import { TEST_CLIENTS, startTestOP, type TestOP } from './op.ts';
import { restoreState, snapshotState } from './persist.ts';

/** The user of the local lake. */
export const ACCOUNT = 'jdoe';
/** The compute site's RSE (mounted in "notebooks"). */
export const COMPUTE_RSE = 'CERN-EOS';
/** Every RSE of the local lake. */
export const RSES = ['SARA-DCACHE', 'PIC-DCACHE', 'DESY-DCACHE', COMPUTE_RSE] as const;

/** Options of {@link startLocalLake}. */
export interface LocalLakeOptions {
  /** Complete one queued transfer every this many ms (default 250; 0: never, call `completeTransfers`). */
  conveyorMs?: number;
  /** Where the compute RSE is mounted (default: a fresh temporary directory, removed on close). */
  mountDir?: string;
  /** Browser origins the OpenID Provider answers CORS requests from (web pages, extensions). */
  corsOrigins?: readonly string[];
  /** Port of Rucio + ESAP + storage on 127.0.0.1 (default: a free one). */
  port?: number;
  /** Port of the OpenID Provider (default: a free one). */
  oidcPort?: number;
  /** Port of the VO archive (default: a free one). */
  voPort?: number;
  /**
   * Keep the lake's state (catalogue, bytes, rules, baskets) in `<stateDir>/lake.json`: restored at
   * start when present (instead of seeding), written by {@link LocalLake.save}.
   */
  stateDir?: string;
  /** Approve every device login at once, as jdoe (unattended runs: CI, a notebook executed headless). */
  approveLogins?: boolean;
}

/** One request the VO archive served. */
export interface VoRequest {
  path: string;
  /** Whether the request carried an `Authorization` header. */
  authorization: boolean;
}

/** A running local Data Lake. */
export interface LocalLake {
  /** Rucio at `/`, ESAP at `/esap-api/`, storage at `/storage/<rse>/`. */
  readonly url: string;
  /** The OpenID Provider's issuer. */
  readonly issuer: string;
  /** The public client for device logins (CLIs, notebooks). */
  readonly clientId: string;
  readonly account: string;
  readonly computeRse: string;
  readonly mountDir: string;
  /** Base URL of the VO archive the basket's VO records point to. */
  readonly voUrl: string;
  readonly emulator: DataLakeEmulator;
  readonly op: TestOP;
  /** An access token of `jdoe` for audience rucio, valid an hour (what a hub puts in `RUCIO_ACCESS_TOKEN`). */
  readonly token: string;
  readonly datasets: readonly DatasetSeed[];
  /** Requests the VO archive served. */
  readonly voRequests: readonly VoRequest[];
  /** The DLaaS environment of a user of this lake (no token: log in with OIDC_ISSUER, or add `RUCIO_ACCESS_TOKEN`). */
  env(extra?: Record<string, string>): Record<string, string>;
  /** Approve a device login (what the user does in the browser), as `jdoe`. */
  approve(userCode: string): Promise<void>;
  /** Complete every queued transfer now. */
  completeTransfers(): Promise<number>;
  /** Whether the state came from `stateDir` (else the lake was seeded). */
  readonly restored: boolean;
  /** Write the state to `stateDir` (finishing queued transfers first); returns the file, or undefined without `stateDir`. */
  save(): Promise<string | undefined>;
  /** Stop everything started. */
  close(): Promise<void>;
}

/** Where the local ESAP's login page is (mozilla-django-oidc's path on a real ESAP). */
export const ESAP_LOGIN_PATH = '/esap-api/oidc/authenticate/';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A same-site path to go back to after the login (never another origin). */
function safeNext(next: string | null): string {
  return next && /^\/(?!\/)/.test(next) && !next.includes('\\') ? next : '/esap-gui/';
}

/** The ESAP basket `jdoe` starts with: the LOFAR observation (Rucio) and VO records of the same field. */
export function initialBasket(voUrl: string): unknown[] {
  return [
    { archive: 'rucio', record: { scope: 'lofar', name: 'L802012_3C196', did_type: 'DATASET' } },
    {
      archive: 'astron_vo',
      record: { obs_id: 'P123+47', target: '3C196', dataproduct_type: 'image', dataproduct_subtype: 'cutout', access_url: `${voUrl}/vo/lotss-dr2/3C196_cutout.fits`, access_format: 'image/fits' },
    },
    {
      archive: 'astron_vo',
      record: { obs_id: 'P123+47', target: '3C196', dataproduct_type: 'image', dataproduct_subtype: 'rms-map', access_url: `${voUrl}/vo/lotss-dr2/3C196_rms.fits`, access_format: 'image/fits' },
    },
  ];
}

/** A small FITS cutout (a Gaussian blob), what the VO archive serves. */
function cutout(target: string, peak: number): Uint8Array {
  const size = 32;
  const pixels = new Float32Array(size * size);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) pixels[y * size + x] = peak * Math.exp(-((x - 16) ** 2 + (y - 16) ** 2) / 8);
  return toFits({ size, cell: 1.5 / 3600, pixels, ra: 123.4, dec: 48.2175, target, frequency: 144e6, visibilities: 0, peak: { x: 16, y: 16, value: peak, ra: 123.4, dec: 48.2175 }, rms: 0 }, ['LoTSS-DR2 cutout (local VO archive)']);
}

async function startVoArchive(port = 0): Promise<{ server: Server; url: string; requests: VoRequest[] }> {
  const files = new Map<string, Uint8Array>([
    ['/vo/lotss-dr2/3C196_cutout.fits', cutout('3C196', 60.5)],
    ['/vo/lotss-dr2/3C196_rms.fits', cutout('3C196 rms', 0.4)],
  ]);
  const requests: VoRequest[] = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requests.push({ path, authorization: req.headers.authorization !== undefined });
    const body = files.get(path);
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'image/fits', 'content-length': body.length, 'access-control-allow-origin': '*' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/** Start the embedded local Data Lake. */
export async function startLocalLake(options: LocalLakeOptions = {}): Promise<LocalLake> {
  const started: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const fn of started.reverse()) await fn();
  };
  try {
    // The embedded OP is development-only by design: keep oidc-provider's warnings saying so out of the output.
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (!/oidc-provider WARNING: a quick start development-only/.test(String(args[0]))) warn(...args);
    };
    started.push(() => void (console.warn = warn));
    const op = await startTestOP({ accessTokenTTL: 3600, ...(options.corsOrigins ? { corsOrigins: options.corsOrigins } : {}), ...(options.oidcPort ? { port: options.oidcPort } : {}) });
    started.push(() => op.close());
    if (options.approveLogins) {
      op.provider.on('device_authorization.success', (_ctx: unknown, body: unknown) => {
        const code = (body as { user_code?: unknown } | undefined)?.user_code;
        if (typeof code === 'string') op.approveDevice(code, ACCOUNT).catch(() => undefined);
      });
    }
    const { createDataLakeEmulator } = await import('dlaas/testing');
    // A token of jdoe from the OP, by a device login approved here (what a hub hands to a notebook; what the ESAP login page puts in a session).
    const hub = new OidcClient({ issuer: op.issuer, clientId: TEST_CLIENTS.device.clientId, allowInsecureLoopback: true });
    const userToken = async () => {
      let code = '';
      const session = await hub.deviceLogin({ scope: 'openid profile offline_access wlcg.groups', audience: 'rucio', onPrompt: (p) => void (code = p.userCode), wait: () => op.approveDevice(code, ACCOUNT) });
      return session.getToken();
    };
    const ref: { lake?: DataLakeEmulator } = {};
    const emulator = await createDataLakeEmulator({
      serve: 'http',
      ...(options.port ? { port: options.port } : {}),
      rses: [...RSES],
      // The ESAP login page (mozilla-django-oidc's on a real ESAP): here a form that logs the user in
      // as jdoe, with a session holding an OP access token, as ESAP's session does after an IAM login.
      route: async (request) => {
        const url = new URL(request.url);
        if (url.pathname !== ESAP_LOGIN_PATH || !ref.lake) return undefined;
        const next = safeNext(url.searchParams.get('next'));
        if (request.method === 'POST') {
          const sid = ref.lake.esap.createSession(ACCOUNT, { accessToken: await userToken() });
          return new Response(null, { status: 302, headers: { location: next, 'set-cookie': `sessionid=${sid}; Path=/; HttpOnly; SameSite=Lax` } });
        }
        const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ESAP — log in</title></head><body><h1>Log in to ESAP (local Data Lake)</h1><form method="post" action="${escapeHtml(ESAP_LOGIN_PATH)}?next=${escapeHtml(encodeURIComponent(next))}"><p>The local lake has one user: <b>${ACCOUNT}</b>.</p><button type="submit">Log in as ${ACCOUNT}</button></form></body></html>`;
        return new Response(html, { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' } });
      },
      // Rucio trusts the OP's tokens (audience rucio, scope openid profile), as an ESCAPE server trusts IAM.
      rucio: { oidc: { issuers: [{ issuer: op.issuer, jwksUri: `${op.issuer}/jwks` }] } },
    });
    ref.lake = emulator;
    started.push(() => emulator.close());
    const vo = await startVoArchive(options.voPort);
    started.push(() => new Promise<void>((resolve) => vo.server.close(() => resolve())));
    const ownMount = options.mountDir === undefined;
    const mountDir = options.mountDir ?? mkdtempSync(join(tmpdir(), 'dlaas-mnt-'));
    if (ownMount) started.push(() => rmSync(mountDir, { recursive: true, force: true }));

    emulator.addUser({ account: ACCOUNT, email: `${ACCOUNT}@escape.test`, fullName: 'Jane Doe', admin: true, basket: initialBasket(vo.url) });
    const stateFile = options.stateDir === undefined ? undefined : join(options.stateDir, 'lake.json');
    const restored = stateFile !== undefined && existsSync(stateFile);
    if (restored) await restoreState(emulator, JSON.parse(readFileSync(stateFile, 'utf8')) as unknown);
    // After a restore too: the OP's issuer URL may have another port than last time.
    emulator.rucio.addOidcIdentity(ACCOUNT, op.issuer, ACCOUNT);
    // The token a hub would hand to jdoe's notebook: an OP access token for audience rucio (a JWT, so
    // storage takes it as well).
    const token = await userToken();
    const datasets = dac21Datasets();
    const paths = new Map<string, string>();
    if (!restored) for (const scope of new Set(datasets.map((d) => d.scope))) emulator.rucio.addScope(scope, 'root');
    for (const d of datasets) {
      if (!restored) await emulator.seedDataset({ scope: d.scope, name: d.name, rse: d.rse, files: d.files.map((f) => ({ name: f.name, content: f.content })), ...(d.meta ? { meta: d.meta } : {}) });
      for (const f of d.files) paths.set(`${d.scope}:${f.name}`, await lfn2pathHash({ scope: d.scope, name: f.name }));
    }

    // The compute site's mount: every AVAILABLE replica on COMPUTE_RSE appears under mountDir. Written
    // synchronously right after a transfer completes, so a file is there before anyone can see its rule OK.
    const mirrored = new Set<string>();
    const unknown = new Map<string, Did>();
    const mirror = () => {
      for (const r of emulator.rucio.fileReplicas()) {
        const key = formatDid(r.did);
        if (r.rse !== COMPUTE_RSE || r.state !== 'AVAILABLE' || mirrored.has(key)) continue;
        const rel = paths.get(key);
        const bytes = emulator.rucio.bytes(r.did, COMPUTE_RSE);
        if (!rel) {
          unknown.set(key, r.did);
          continue;
        }
        if (!bytes) continue;
        const file = join(mountDir, rel);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, bytes);
        mirrored.add(key);
      }
    };
    const learnPaths = async () => {
      for (const [key, did] of unknown) paths.set(key, await lfn2pathHash(did));
      unknown.clear();
    };
    mirror();
    await learnPaths();
    mirror();

    let busy = false;
    const tick = async () => {
      if (busy) return;
      busy = true;
      try {
        if (emulator.rucio.pendingTransfers > 0) {
          emulator.rucio.completeTransfers({ limit: 1 });
          mirror();
          await emulator.sync(); // the bytes onto the destination's storage element too
        }
        if (unknown.size) {
          await learnPaths();
          mirror();
        }
      } finally {
        busy = false;
      }
    };
    const conveyorMs = options.conveyorMs ?? 250;
    if (conveyorMs > 0) {
      const timer = setInterval(() => void tick(), conveyorMs);
      started.push(() => clearInterval(timer));
    }

    return {
      url: emulator.url,
      issuer: op.issuer,
      clientId: TEST_CLIENTS.device.clientId,
      account: ACCOUNT,
      computeRse: COMPUTE_RSE,
      mountDir,
      voUrl: vo.url,
      emulator,
      op,
      token,
      datasets,
      voRequests: vo.requests,
      env: (extra = {}) => ({
        RUCIO_BASE_URL: emulator.url,
        RUCIO_AUTH_URL: emulator.url,
        RUCIO_ACCOUNT: ACCOUNT,
        ESAP_URL: emulator.url,
        OIDC_ISSUER: op.issuer,
        OIDC_CLIENT_ID: TEST_CLIENTS.device.clientId,
        RUCIO_DESTINATION_RSE: COMPUTE_RSE,
        RUCIO_MODE: 'replica',
        RUCIO_RSE_MOUNT_PATH: mountDir,
        RUCIO_PATH_BEGINS_AT: '3',
        ...extra,
      }),
      approve: (userCode) => op.approveDevice(userCode, ACCOUNT),
      restored,
      save: async () => {
        if (!stateFile || !options.stateDir) return undefined;
        // Transfers in flight are not part of the state: finish them, as the conveyor would have.
        emulator.rucio.completeTransfers();
        mirror();
        await emulator.sync();
        mkdirSync(options.stateDir, { recursive: true });
        writeFileSync(`${stateFile}.tmp`, JSON.stringify(snapshotState(emulator, [ACCOUNT])));
        renameSync(`${stateFile}.tmp`, stateFile);
        return stateFile;
      },
      completeTransfers: async () => {
        const n = emulator.rucio.completeTransfers();
        mirror();
        await emulator.sync();
        await learnPaths();
        mirror();
        return n;
      },
      close: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

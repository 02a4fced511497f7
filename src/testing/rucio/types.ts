/**
 * Public option and record types of the Rucio emulator.
 * @module
 */
import type { JwtIssuerConfig } from './jwt.js';

/**
 * Read/write/delete (and third-party-copy) priorities of a protocol in one domain; `null` disables,
 * 0 is the highest priority.
 *
 * @example
 * ```ts
 * const wanReadOnly: ProtocolPriorities = { read: 1, write: null, delete: null };
 * ```
 */
export interface ProtocolPriorities {
  read?: number | null;
  write?: number | null;
  delete?: number | null;
  third_party_copy_read?: number | null;
  third_party_copy_write?: number | null;
}

/**
 * A storage protocol of an RSE, as `POST /rses/{rse}/protocols/{scheme}` takes it.
 *
 * @example
 * ```ts
 * const davs: ProtocolOptions = { scheme: 'davs', hostname: 'se.example.org', port: 443, prefix: '/rucio/' };
 * ```
 */
export interface ProtocolOptions {
  scheme: string;
  hostname: string;
  port: number;
  prefix: string;
  /** Rucio implementation class; default by scheme (posix for `file`, xrootd for `root`, gfal otherwise). */
  impl?: string;
  /** Priorities per domain; default 1 for every operation in both domains. */
  domains?: { lan?: ProtocolPriorities; wan?: ProtocolPriorities };
  extended_attributes?: unknown;
}

/**
 * Options of {@link RucioEmulator.addRse}.
 *
 * @example
 * ```ts
 * rucio.addRse('CERN_DISK', { attributes: { site: 'cern', tier: 1 }, protocols: [davs] });
 * rucio.addRse('ND_DISK', { deterministic: false, protocols: [davs] });
 * ```
 */
export interface RseOptions {
  /** Default true. Non-deterministic RSEs need an explicit `pfn` for every replica. */
  deterministic?: boolean;
  volatile?: boolean;
  stagingArea?: boolean;
  /** Default `DISK`. Rules without lifetime on TAPE RSEs are locked automatically. */
  rseType?: 'DISK' | 'TAPE';
  /** Read/write/delete availability (all true by default), or Rucio's integer form (7 = all). */
  availability?: number | { read?: boolean; write?: boolean; delete?: boolean };
  /** RSE attributes (an attribute named after the RSE, set to true, is always added). */
  attributes?: Record<string, string | number | boolean>;
  protocols?: ProtocolOptions[];
  /** `hash` (default) or `identity`. */
  lfn2pfnAlgorithm?: 'hash' | 'identity';
  /** Fix the RSE id (32 hex digits), e.g. to reproduce a recording; random by default. */
  id?: string;
  /** Location columns: `city`, `country_name`, `continent`, `region_code`, `time_zone`, `ISP`, `ASN`, `latitude`, `longitude`. */
  location?: Record<string, string | number | null>;
  qosClass?: string | null;
}

/**
 * Options of {@link RucioEmulator.addAccount}.
 *
 * @example
 * ```ts
 * rucio.addAccount('alice', { email: 'alice@example.org', password: 'alicepw' });
 * rucio.addAccount('ops', { type: 'SERVICE', admin: true });
 * ```
 */
export interface AccountOptions {
  /** `USER` (default), `GROUP` or `SERVICE`. */
  type?: 'USER' | 'GROUP' | 'SERVICE';
  email?: string | null;
  /** A userpass identity mapped to the account (`username` defaults to the account name). */
  password?: string;
  username?: string;
  /** The `admin` account attribute: admins may do what root may under the generic policy. */
  admin?: boolean;
}

/**
 * A file of {@link RucioEmulator.seedDataset}.
 *
 * @example
 * ```ts
 * const file: SeedFile = { name: 'img_001.fits', content: new Uint8Array(2880), meta: { events: 1, instrument: 'hba' } };
 * ```
 */
export interface SeedFile {
  name: string;
  /** The bytes (strings are UTF-8 encoded). Size, adler32 and md5 are computed from them. */
  content: Uint8Array | string;
  /** Metadata: DID columns (`events`, `guid`, `project`, ...), or custom keys on a server with the JSON plugin (`database: 'postgresql'`). */
  meta?: Record<string, unknown>;
}

/**
 * Options of {@link RucioEmulator.seedDataset}.
 *
 * @example
 * ```ts
 * await rucio.seedDataset({ scope: 'test', name: 'run1', rses: ['SITE_A', 'SITE_B'], files: [{ name: 'f1', content: 'hello' }], open: false });
 * ```
 */
export interface SeedDatasetOptions {
  scope: string;
  /** Dataset name. */
  name: string;
  /** One RSE, or several: every file gets an AVAILABLE replica on each. */
  rse?: string;
  rses?: string[];
  files: SeedFile[];
  /** Account owning the DIDs (default: the scope's owner). */
  account?: string;
  /** Leave the dataset open (default) or close it (then its `length` and `bytes` are set). */
  open?: boolean;
  /** Metadata of the dataset itself. */
  meta?: Record<string, unknown>;
}

/**
 * Options of {@link RucioEmulator.seedSyntheticDataset}.
 *
 * @example
 * ```ts
 * rucio.seedSyntheticDataset({ scope: 'big', name: 'survey', count: 1_000_000, rses: ['SITE_A'] }); // files survey_000000 ... survey_999999
 * ```
 */
export interface SyntheticDatasetOptions {
  scope: string;
  name: string;
  /** Number of files. */
  count: number;
  /** RSEs holding an AVAILABLE replica of every file. */
  rses: string[];
  /** File name prefix (default `<name>_`); file `i` is the prefix plus `i` zero-padded. */
  prefix?: string;
  account?: string;
}

/**
 * A file created by {@link RucioEmulator.seedDataset}, with its computed size and checksums.
 *
 * @example
 * ```ts
 * const [file] = await rucio.seedDataset({ scope: 'test', name: 'ds', rse: 'SITE_A', files: [{ name: 'a', content: 'a' }] });
 * file.adler32; // '00620062'
 * ```
 */
export interface SeededFile {
  scope: string;
  name: string;
  bytes: number;
  adler32: string;
  md5: string;
}

/**
 * One request served, for request-economy assertions.
 *
 * @example
 * ```ts
 * expect(rucio.requests.filter((r) => r.path === '/replicas/list')).toHaveLength(1);
 * ```
 */
export interface RequestLogEntry {
  method: string;
  /** Path as sent (percent-encoding kept), without the query. */
  path: string;
  /** Query string without `?` (empty if none). */
  query: string;
  status: number;
}

/**
 * Options of {@link createRucioEmulator}.
 *
 * @example
 * ```ts
 * let now = new Date('2030-01-01T00:00:00Z');
 * const rucio = createRucioEmulator({ now: () => now, tokenLifetimeSeconds: 60, corsOrigins: ['https://app.example.org'] });
 * ```
 */
export interface RucioEmulatorOptions {
  /** Base URL of the msw handlers and of the injected `fetch` (default `https://rucio.emulator.test`). */
  baseUrl?: string;
  /** Token lifetime (default 3600 s, as Rucio's userpass tokens). */
  tokenLifetimeSeconds?: number;
  /** Complete each transfer automatically this long after it is queued (default: only on demand). */
  transferDelayMs?: number;
  /** Origins allowed by CORS (default: all). */
  corsOrigins?: '*' | readonly string[];
  /** Clock (default `() => new Date()`); lets tests move time to expire tokens and rules. */
  now?: () => Date;
  /** Create `root` (userpass `ddmlab`/`secret`, as Rucio's test setup) — default true. */
  root?: boolean;
  /** Version answered by `/ping` (default `41.0.0rc1`, the recorded server). */
  version?: string;
  /**
   * The database the server runs on (default `'sqlite'`, as the recorded server), for what Rucio
   * decides by database. On SQLite there is no JSON metadata plugin: a metadata key that is not a DID
   * column is refused (400 `InvalidMetadata`) and `GET …/meta?plugin=JSON|ALL` answers 500; and
   * `POST /replicas` with 997 files or more exceeds SQLite's expression depth (500
   * `DatabaseException`, nothing registered). `'postgresql'` has the JSON plugin (custom keys are
   * stored and searchable) and no such limit.
   */
  database?: 'sqlite' | 'postgresql';
  /**
   * Accept JWTs of these OpenID Providers as `X-Rucio-Auth-Token`, as a server with `[oidc]`
   * configured does: signature checked against the issuer's keys, `exp` in the future, `aud` and
   * `scope` containing the expected items, and the identity mapped with {@link RucioEmulator.addOidcIdentity}.
   */
  oidc?: OidcOptions;
}

/**
 * The `[oidc]` configuration of the emulated server.
 *
 * @example
 * ```ts
 * const rucio = createRucioEmulator({ oidc: { issuers: [{ issuer: 'https://iam.example.org/', jwks }] } });
 * rucio.addOidcIdentity('a1b2-c3', 'https://iam.example.org/', 'alice');
 * ```
 */
export interface OidcOptions {
  /** Trusted issuers (exact `iss`, trailing slash included) with their keys or JWKS URI. */
  issuers: readonly JwtIssuerConfig[];
  /** `[oidc] expected_audience` (default `rucio`). */
  expectedAudience?: string;
  /** `[oidc] expected_scope` (default `openid profile`). */
  expectedScope?: string;
}

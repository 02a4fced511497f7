/**
 * @module
 */
import { path } from '../core/did.js';
import { HiddenRedirectError, InvalidArgumentError, ResponseValidationError } from '../core/errors.js';
import { parseRucioDate } from '../core/dates.js';
import { Listing } from '../core/listing.js';
import type { CallOptions } from '../core/transport.js';
import type { RucioApi } from './api.js';
import { parsePythonLiteral, type PyParsed } from './python-literal.js';
import { AccountSchema, StringArraySchema, type Account } from './types.js';

const ACCOUNT = /^[a-z0-9-_]{1,25}$/;

function accountName(account: string): string {
  if (typeof account !== 'string' || !ACCOUNT.test(account)) throw new InvalidArgumentError('account', `Invalid account ${JSON.stringify(String(account)).slice(0, 40)}: expected ≤ 25 of a-z, 0-9, "-", "_"`);
  return account;
}

/**
 * Accounts (`/accounts`).
 *
 * @example
 * ```ts
 * const me = await rucio.accounts.whoami(); // { account: 'jdoe', account_type: 'USER', ... }
 * ```
 */
export class Accounts {
  /** @internal */
  constructor(private readonly api: RucioApi) {}

  /**
   * The account the token belongs to. The server answers `303` with a *relative* `Location`
   * (`/accounts/whoami` → `jdoe`, i.e. `/accounts/jdoe`); the SDK follows it on the same origin.
   * Browsers hide that redirect, and it is only given to requests with the token, which the SDK never
   * lets a browser follow (the token would go wherever it points): there the account is asked with
   * `GET /auth/validate`, then read with `GET /accounts/{account}`.
   */
  async whoami(options?: CallOptions): Promise<Account> {
    try {
      return await this.api.get('accounts/whoami', AccountSchema, undefined, options);
    } catch (error) {
      if (!(error instanceof HiddenRedirectError)) throw error;
    }
    const { account } = await new RucioAuth(this.api).validate(undefined, options);
    return this.get(account, options);
  }

  /** One account (`GET /accounts/{account}`). Dates here are ISO `YYYY-MM-DDTHH:MM:SS`. */
  get(account: string, options?: CallOptions): Promise<Account> {
    return this.api.get(path`accounts/${accountName(account)}`, AccountSchema, undefined, options);
  }

  /** Scopes an account owns (`GET /accounts/{account}/scopes/`). */
  scopes(account: string, options?: CallOptions): Listing<string> {
    return Listing.fromPromise(() => this.api.get(path`accounts/${accountName(account)}/scopes/`, StringArraySchema, undefined, options));
  }
}

/**
 * Scopes (`/scopes`).
 *
 * @example
 * ```ts
 * const scopes = await rucio.scopes.list().toArray();
 * ```
 */
export class Scopes {
  /** @internal */
  constructor(private readonly api: RucioApi) {}

  /** Every scope (`GET /scopes/`). */
  list(options?: CallOptions): Listing<string> {
    return Listing.fromPromise(() => this.api.get('scopes/', StringArraySchema, undefined, options));
  }
}

/** A Rucio token with its expiry, as returned by {@link RucioAuth.userpass}. */
export interface RucioToken {
  token: string;
  /** From `X-Rucio-Auth-Token-Expires` (RFC 1123; epoch seconds on `oidc_refresh`). */
  expiresAt: Date | undefined;
  /** `X-Rucio-Auth-Account`. */
  account: string | undefined;
}

/** Credentials for {@link RucioAuth.userpass}. */
export interface UserpassCredentials extends CallOptions {
  username: string;
  password: string;
  /** Account to log into (default: the client's account, else the identity's default). */
  account?: string;
  vo?: string;
  appId?: string;
}

/** What `/auth/validate` says about a token. */
export interface TokenValidation {
  account: string;
  identity: string;
  lifetime: Date | undefined;
  audience: string | null;
  authz_scope: string | null;
  vo: string;
  [key: string]: unknown;
}

/** Thrown by {@link RucioAuth.userpass} when an identity maps to several accounts and none was chosen (HTTP 206). */
export class AccountChoiceRequiredError extends InvalidArgumentError {
  /** The accounts to choose from. */
  readonly accounts: string[];
  constructor(accounts: string[]) {
    super('account', `This identity maps to several accounts (${accounts.join(', ')}); pass one as "account"`);
    this.accounts = accounts;
  }
}

/**
 * Rucio's own auth endpoints (`/auth`, on the auth host). For OIDC and token providers see the `auth` module.
 *
 * @example
 * ```ts
 * const { token, expiresAt } = await rucio.auth.userpass({ username: 'jdoe', password: secret, account: 'jdoe' });
 * ```
 */
export class RucioAuth {
  /** @internal */
  constructor(private readonly api: RucioApi) {}

  /** Get a token with username and password (`GET /auth/userpass`). Tokens live 1 hour. */
  async userpass(creds: UserpassCredentials): Promise<RucioToken> {
    if (!creds.username || !creds.password) throw new InvalidArgumentError(creds.username ? 'password' : 'username', 'username and password are required');
    const account = creds.account ?? this.api.account;
    const vo = creds.vo ?? this.api.vo;
    const res = await this.api.auth.request({
      method: 'GET',
      path: 'auth/userpass',
      auth: false,
      accept: 'application/octet-stream',
      okStatuses: [206],
      headers: {
        'X-Rucio-Username': creds.username,
        'X-Rucio-Password': creds.password,
        ...(account ? { 'X-Rucio-Account': account } : {}),
        ...(vo ? { 'X-Rucio-VO': vo } : {}),
        ...(creds.appId ? { 'X-Rucio-AppID': creds.appId } : {}),
      },
      signal: creds.signal,
      timeout: creds.timeout,
    });
    const body = await this.api.auth.readText(res, { method: 'GET', path: 'auth/userpass', signal: creds.signal });
    if (res.status === 206) {
      const header = res.headers.get('X-Rucio-Auth-Accounts');
      throw new AccountChoiceRequiredError(header ? header.split(',').map((s) => s.trim()) : (JSON.parse(body) as string[]));
    }
    const token = res.headers.get('X-Rucio-Auth-Token');
    if (!token) throw new ResponseValidationError('GET /auth/userpass', 'X-Rucio-Auth-Token', 'header is missing (is the header exposed by CORS?)', null);
    return { token, expiresAt: parseRucioDate(res.headers.get('X-Rucio-Auth-Token-Expires') ?? undefined), account: res.headers.get('X-Rucio-Auth-Account') ?? undefined };
  }

  /**
   * Introspect a token (`GET /auth/validate`). The server answers with the `str()` of a Python dict,
   * not JSON; it is parsed here. Defaults to the client's own token.
   */
  async validate(token?: string, options?: CallOptions): Promise<TokenValidation> {
    const text = await this.api.auth.text({
      method: 'GET',
      path: 'auth/validate',
      accept: 'application/octet-stream',
      ...(token ? { auth: false, headers: { 'X-Rucio-Auth-Token': token } } : {}),
      signal: options?.signal,
    });
    let parsed: PyParsed;
    try {
      parsed = parsePythonLiteral(text);
    } catch (cause) {
      throw new ResponseValidationError('GET /auth/validate', '', 'is not a Python dict literal', text, { cause });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || parsed instanceof Date) {
      throw new ResponseValidationError('GET /auth/validate', '', 'is not a dict', text);
    }
    const lifetime = parsed.lifetime instanceof Date ? parsed.lifetime : parseRucioDate(parsed.lifetime);
    return { ...(parsed as Record<string, unknown>), lifetime } as TokenValidation;
  }
}

/**
 * @internal The ESAP request shapes, so that the basket methods stay short: the profile list (the
 * paginated wrapper, `results[0]`) and the whole-cart PATCH — the only write there is, always
 * carrying `shopping_cart` (a PATCH without it wipes the basket and then fails with 500).
 *
 * Bodies are parsed losslessly (integers beyond 2^53 stay exact), the profile's IAM tokens are
 * registered as secrets before anything else looks at the body, and cookie sessions ask for ESAP's
 * JSON answer to an expired session (`X-Requested-With`) instead of a redirect to the identity provider.
 * @module
 */
import * as z from 'zod/mini';
import { path } from '../core/did.js';
import { NotFoundError, ResponseValidationError, apiErrorFrom, parseRucioErrorBody, registerSecret } from '../core/errors.js';
import type { CallOptions, RequestSpec, Transport } from '../core/transport.js';
import { callSpec, endpointOf } from '../core/transport.js';
import { validate, type Schema } from '../core/validate.js';
import { EsapNoProfileError, EsapSessionExpiredError, type EsapAuthMode, type NoProfileReason } from './errors.js';
import { parseJson } from './json.js';

/** @internal A user profile as ESAP serialises it (list `results[n]`, detail and PATCH answers). */
export interface ProfileWire {
  user_name: string;
  full_name?: string | null | undefined;
  user_email?: string | null | undefined;
  oidc_id_token?: string | null | undefined;
  oidc_access_token?: string | null | undefined;
  id_token_expiration?: string | null | undefined;
  shopping_cart: unknown[];
  [key: string]: unknown;
}

/** ESAP's pagination wrapper (`query.my_pagination.CustomPagination`). */
interface PageWire {
  count?: number | undefined;
  results: unknown[];
  [key: string]: unknown;
}

/** The response schemas, built on first use (not when the module loads: a program may never call ESAP). */
function makeSchemas(): { profile: Schema<ProfileWire>; page: Schema<PageWire> } {
  const nstr = z.optional(z.nullable(z.string()));
  return {
    profile: z.looseObject({
      user_name: z.string(),
      full_name: nstr,
      user_email: nstr,
      oidc_id_token: nstr,
      oidc_access_token: nstr,
      id_token_expiration: nstr,
      shopping_cart: z.array(z.unknown()),
    }),
    page: z.looseObject({ count: z.optional(z.number()), results: z.array(z.unknown()) }),
  };
}
let schemas: ReturnType<typeof makeSchemas> | undefined;
const schemasOf = (): ReturnType<typeof makeSchemas> => (schemas ??= makeSchemas());

const PROFILES = 'accounts/user-profiles/';
const JSON_TYPE = 'application/json';

const NO_PROFILE: Record<EsapAuthMode, NoProfileReason> = {
  anonymous: 'anonymous',
  session: 'no-session-or-no-profile',
  bearer: 'no-profile-for-identity',
  basic: 'no-profile-for-identity',
};

function registerProfileSecrets(profile: unknown): void {
  if (typeof profile !== 'object' || profile === null) return;
  const p = profile as Record<string, unknown>;
  for (const k of ['oidc_access_token', 'oidc_id_token']) if (typeof p[k] === 'string') registerSecret(p[k] as string);
}


/** @internal */
export class EsapApi {
  constructor(
    readonly transport: Transport,
    readonly authMode: EsapAuthMode,
  ) {}

  /** `GET accounts/user-profiles/` → `results[0]`, or {@link EsapNoProfileError} for an empty list. */
  async readProfile(opts?: CallOptions): Promise<ProfileWire> {
    const spec: RequestSpec = { method: 'GET', path: PROFILES, accept: JSON_TYPE, ...callSpec(opts) };
    const page = await this.#json(spec, schemasOf().page, (v) => (v as { results?: unknown[] } | null)?.results?.forEach(registerProfileSecrets));
    if (page.results.length === 0) throw new EsapNoProfileError(NO_PROFILE[this.authMode], this.authMode);
    return validate(schemasOf().profile, page.results[0], endpointOf(spec), 'results[0]');
  }

  /** `PATCH accounts/user-profiles/{user_name}/` with the whole cart; `items` are bare JSON texts. */
  async writeCart(userName: string, items: readonly string[], opts?: CallOptions): Promise<ProfileWire> {
    const body = `{"shopping_cart":[${items.join(',')}]}`;
    const spec: RequestSpec = { method: 'PATCH', path: path`accounts/user-profiles/${userName}/`, body, headers: { 'Content-Type': JSON_TYPE }, accept: JSON_TYPE, ...callSpec(opts) };
    try {
      return await this.#json(spec, schemasOf().profile, registerProfileSecrets);
    } catch (error) {
      if (error instanceof NotFoundError) throw new EsapNoProfileError('profile-not-visible', this.authMode, userName);
      throw error;
    }
  }

  async #json<T>(spec: RequestSpec, schema: Schema<T>, before: (value: unknown) => void): Promise<T> {
    const endpoint = endpointOf(spec);
    const text = await this.#send(spec);
    let value: unknown;
    try {
      value = parseJson(text);
    } catch (cause) {
      throw new ResponseValidationError(endpoint, '', 'is not valid JSON', text, { cause });
    }
    before(value);
    return validate(schema, value, endpoint);
  }

  /** Send; with a cookie session, turn ESAP's "session expired" answers (403 `refresh_url`, 302) into one error. */
  async #send(spec: RequestSpec): Promise<string> {
    const session = this.authMode === 'session';
    const res = await this.transport.request(
      session ? { ...spec, headers: { ...spec.headers, 'X-Requested-With': 'XMLHttpRequest' }, redirect: 'manual', okStatuses: [403] } : spec,
    );
    // Bounded by limits.maxBodyBytes, strict UTF-8; a lost connection is a ConnectionError, a stall the transport's TimeoutError.
    const text = await this.transport.readText(res, spec);
    // A browser hides the redirect (opaque, status 0): it is the same answer, without the Location.
    if (res.type === 'opaqueredirect' || (res.status >= 300 && res.status < 400)) throw new EsapSessionExpiredError(res.headers.get('Location') ?? undefined);
    if (res.status === 403) {
      const refresh = res.headers.get('refresh_url') ?? /"refresh_url"\s*:\s*"([^"]*)"/.exec(text)?.[1];
      if (refresh !== undefined) throw new EsapSessionExpiredError(refresh);
      throw apiErrorFrom({ status: 403, service: this.transport.service, method: spec.method, url: res.url || this.transport.url(spec.path).toString(), ...parseRucioErrorBody(text, res.headers) });
    }
    return text;
  }
}

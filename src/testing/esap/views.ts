/**
 * ESAP's `accounts` API as the recorded server answers it: URL resolution (DRF `DefaultRouter` with
 * format suffixes, `APPEND_SLASH`), the paginated wrapper, the profile viewset (unwrapped detail,
 * creation by anyone with POST, whole-list PATCH that deletes first and then reads `shopping_cart` — hence the wipe-then-500),
 * DRF's validation errors, and the `shopping-items` viewset (open to anyone).
 *
 * Web-standard APIs only.
 * @module
 */
import { JsonSyntaxError } from '../../esap/json.js';
import { AuthFailed, authenticate, profileData, profileQueryset, sessionOf, sessionRefresh, type DjangoUser, type EsapEnv } from './auth.js';
import { DETAIL_ALLOW, HTML, LIST_ALLOW, appendSlash, detail, drf, isPreflight, pageNotFound, serverError, type Reply } from './django.js';
import { PyFloat, pyDumps, pyFloatRepr, pyLoads, pyRound, pyTypeName, type PyDict, type PyValue } from './python.js';
import type { EsapStore, ItemRecord, ProfileRecord } from './state.js';

/** An unhandled Python exception: Django's 500 (`common`: raised by CommonMiddleware, outside the view). */
class Crash extends Error {
  constructor(
    readonly type: string,
    readonly value: string,
    readonly layer: 'django' | 'common' = 'django',
  ) {
    super(`${type}: ${value}`);
  }
}

const ROOT_ALLOW = 'GET, HEAD, OPTIONS';
const REQUIRED = 'This field is required.';
const NULL = 'This field may not be null.';
const RESOURCES = {
  'query-schemas': { name: 'Esap Query Schema', doc: 'EsapQuerySchemas' },
  'compute-resources': { name: 'Esap Compute Resource', doc: 'EsapComputeResources' },
  'software-repositories': { name: 'Esap Software Repository', doc: 'EsapSoftwareRepositorys' },
  'shopping-items': { name: 'Esap Shopping Item', doc: 'EsapShoppingItems' },
  'user-profiles': { name: 'Esap User Profile', doc: 'EsapUserProfiles' },
} as const;
type Resource = keyof typeof RESOURCES;

// DefaultRouter: `^$` (API root), `^<prefix>/$`, `^<prefix>/<pk>/$` (pk `[^/.]+`), each also with a `.<format>/?` suffix.
const ROUTE = /^\/esap-api\/accounts\/(?:(?<resource>query-schemas|compute-resources|software-repositories|shopping-items|user-profiles)(?:\/(?<pk>[^/.]+))?(?:\/|\.(?<format>[a-z0-9]+)\/?)|\.(?<rootFormat>[a-z0-9]+)\/?)?$/;

interface Ctx {
  readonly request: Request;
  readonly url: URL;
  readonly env: EsapEnv;
  readonly user: DjangoUser | undefined;
  readonly session: ReturnType<typeof sessionOf>;
}

/** Answer one request the way ESAP's middleware stack and views do. */
export async function esapRoute(request: Request, env: EsapEnv): Promise<Reply> {
  if (isPreflight(request)) return { status: 200, body: '', contentType: HTML, kind: 'preflight' };
  try {
    const session = sessionOf(request, env);
    const refresh = sessionRefresh(request, session, env);
    if (refresh) return refresh;
    const url = new URL(request.url);
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = url.pathname;
    }
    const m = ROUTE.exec(path);
    if (!m?.groups) return notRouted(request, path, env);
    const { resource, pk, format = m.groups.rootFormat } = m.groups as { resource?: Resource; pk?: string; format?: string };
    const allow = resource === undefined ? ROOT_ALLOW : pk === undefined ? LIST_ALLOW : DETAIL_ALLOW;
    if (format !== undefined && format !== 'json') return detail(404, 'Not found.', allow);
    let user: DjangoUser | undefined;
    try {
      user = await authenticate(request, env);
    } catch (e) {
      if (e instanceof AuthFailed) return detail(401, e.message, allow, [['WWW-Authenticate', 'Token']]);
      throw e;
    }
    const ctx: Ctx = { request, url, env, user, session };
    if (request.method === 'OPTIONS') return drf(200, metadata(resource, pk), allow);
    if (resource === undefined) return request.method === 'GET' || request.method === 'HEAD' ? drf(200, apiRoot(url, request), allow) : notAllowed(request, allow);
    if (resource === 'user-profiles') return await (pk === undefined ? profileList(ctx) : profileDetail(ctx, pk));
    if (resource === 'shopping-items') return await (pk === undefined ? itemList(ctx) : itemDetail(ctx, pk));
    if (request.method !== 'GET' && request.method !== 'HEAD') return notAllowed(request, allow);
    return pk === undefined ? paginate(ctx, []) : detail(404, 'Not found.', allow);
  } catch (e) {
    if (e instanceof Crash) return serverError(request, e.type, e.value, env.debug, e.layer);
    throw e;
  }
}

/** CommonMiddleware's `APPEND_SLASH` (a 301; with `DEBUG`, a RuntimeError for a body it cannot carry over), else Django's 404. */
function notRouted(request: Request, path: string, env: EsapEnv): Reply {
  if (!path.endsWith('/') && ROUTE.test(`${path}/`)) {
    if (!env.debug || !['POST', 'PUT', 'PATCH'].includes(request.method)) return appendSlash(request);
    const url = new URL(request.url);
    throw new Crash(
      'RuntimeError',
      `You called this URL via ${request.method}, but the URL doesn't end in a slash and you have APPEND_SLASH set. Django can't redirect to the slash URL while maintaining ${request.method} data. Change your form to point to ${url.host}${url.pathname}/ (note the trailing slash), or set APPEND_SLASH=False in your Django settings.`,
      'common',
    );
  }
  return pageNotFound(request, env.debug);
}

function notAllowed(request: Request, allow: string): Reply {
  return detail(405, `Method "${request.method}" not allowed.`, allow);
}

function apiRoot(url: URL, request: Request): Record<string, string> {
  // USE_X_FORWARDED_HOST = True: absolute URLs use the proxy's host.
  const host = request.headers.get('X-Forwarded-Host')?.split(',')[0]?.trim() ?? url.host;
  const base = `${url.protocol}//${host}/esap-api/accounts/`;
  return Object.fromEntries(Object.keys(RESOURCES).map((r) => [r, `${base}${r}/`]));
}

/** DRF `SimpleMetadata` for `OPTIONS` (without the per-field `actions` description). */
function metadata(resource: Resource | undefined, pk: string | undefined): Record<string, unknown> {
  const r = resource === undefined ? undefined : RESOURCES[resource];
  return {
    name: r ? `${r.name} ${pk === undefined ? 'List' : 'Instance'}` : 'Api Root',
    description: r ? `API endpoint that allows ${r.doc} to be viewed or edited.` : 'The default basic root view for DefaultRouter',
    renders: ['application/json', 'text/html'],
    parses: ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'],
  };
}

/** `CustomPagination`: ESAP's wrapper around DRF's page-number pagination. */
function paginate(ctx: Ctx, rows: readonly unknown[]): Reply {
  const q = ctx.url.searchParams;
  const rawPage = q.get('page');
  const rawSize = q.get('page_size');
  const sizeParam = rawSize !== null && /^\s*\+?\d+\s*$/.test(rawSize) ? Number(rawSize) : 0;
  const size = sizeParam > 0 ? Math.min(sizeParam, 500) : 50;
  const numPages = Math.max(1, Math.ceil(rows.length / size));
  const page = rawPage === null ? 1 : rawPage === 'last' ? numPages : /^\s*[+-]?\d+\s*$/.test(rawPage) ? Number(rawPage) : NaN;
  if (!(page >= 1 && page <= numPages)) return detail(404, 'Invalid page.', LIST_ALLOW);
  const divisor = rawSize === null ? 50 : /^\s*[+-]?\d+\s*$/.test(rawSize) ? Number(rawSize) : undefined;
  if (divisor === undefined) throw new Crash('ValueError', `invalid literal for int() with base 10: '${rawSize}'`);
  if (divisor === 0) throw new Crash('ZeroDivisionError', 'division by zero');
  return drf(
    200,
    {
      description: 'ESAP API Gateway',
      version: ctx.env.version,
      requested_page: rawPage ?? '1',
      requested_page_size: rawSize,
      default_page_size: 50,
      max_page_size: 500,
      count: rows.length,
      pages: pyRound(rows.length / divisor + 0.5),
      results: rows.slice((page - 1) * size, page * size),
    },
    LIST_ALLOW,
  );
}

/** `request.data`: JSON (Python's parser and messages), empty for no body / no content type. */
async function requestData(ctx: Ctx, allow: string): Promise<{ data: PyValue } | { reply: Reply }> {
  const type = ctx.request.headers.get('Content-Type');
  const bytes = new Uint8Array(await ctx.request.arrayBuffer());
  if (!type || bytes.byteLength === 0) return { data: new Map() };
  if ((type.split(';')[0] ?? '').trim().toLowerCase() !== 'application/json') return { reply: detail(415, `Unsupported media type "${type}" in request.`, allow) };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { reply: detail(400, "JSON parse error - 'utf-8' codec can't decode the request body", allow) };
  }
  try {
    return { data: pyLoads(text) };
  } catch (e) {
    if (e instanceof JsonSyntaxError) return { reply: detail(400, `JSON parse error - ${e.message}`, allow) };
    throw e;
  }
}

/** The top-level `Serializer.run_validation` checks: the body must be a dict. */
function asDict(data: PyValue): PyDict | Record<string, string[]> {
  if (data instanceof Map) return data;
  return { non_field_errors: [data === null ? 'No data provided' : `Invalid data. Expected a dictionary, but got ${pyTypeName(data)}.`] };
}

/** Python `str()` of a scalar. */
function pyStr(v: PyValue): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof PyFloat) return pyFloatRepr(v.value);
  return undefined;
}

interface CharRules {
  allowNull: boolean;
  allowBlank: boolean;
  maxLength?: number;
  email?: boolean;
  taken?: (value: string) => boolean;
  takenMessage?: string;
}

const EMAIL = /^[^\s@]+@(?:[^\s@.]+\.)+[^\s@.]{2,}$|^[^\s@]+@localhost$/i;

/** DRF `CharField`/`EmailField` validation: `[errors]`, or `{value}`. */
function charField(v: PyValue, r: CharRules): string[] | { value: string | null } {
  if (v === '' || (typeof v === 'string' && v.trim() === '')) return r.allowBlank ? { value: '' } : ['This field may not be blank.'];
  if (v === null) return r.allowNull ? { value: null } : [NULL];
  const raw = pyStr(v);
  if (raw === undefined) return ['Not a valid string.'];
  const s = raw.trim();
  const errors: string[] = [];
  if (r.maxLength !== undefined && [...s].length > r.maxLength) errors.push(`Ensure this field has no more than ${r.maxLength} characters.`);
  if (r.email && !EMAIL.test(s)) errors.push('Enter a valid email address.');
  if (r.taken?.(s)) errors.push(r.takenMessage ?? 'This field must be unique.');
  return errors.length ? errors : { value: s };
}

const DATETIME = /^(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,6})\d{0,6})?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/** DRF `DateTimeField` (ISO 8601, rendered in UTC with `Z`). */
function dateTimeField(v: PyValue): string[] | { value: string | null } {
  if (v === null) return { value: null };
  const m = typeof v === 'string' ? DATETIME.exec(v.trim()) : null;
  const wrong = ['Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].'];
  if (!m) return wrong;
  const [, y, mo, d, h, mi, s = '0', us = '', tz = 'Z'] = m;
  const offset = tz === 'Z' ? 0 : (tz.startsWith('-') ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + (tz.length > 3 ? Number(tz.slice(-2)) : 0));
  const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)) - offset * 60_000;
  if (Number.isNaN(t)) return wrong;
  const micro = us ? `.${us.padEnd(6, '0')}` : '';
  return { value: `${new Date(t).toISOString().slice(0, 19)}${micro}Z` };
}

/** A hyperlinked relation (no related objects exist in the emulator, so any link fails). */
function hyperlink(v: PyValue): string[] {
  return typeof v === 'string' ? ['Invalid hyperlink - No URL match.'] : [`Incorrect type. Expected URL string, received ${pyTypeName(v)}.`];
}

/** `EsapShoppingItemSerializer` for one item: `{}` when valid. */
function itemErrors(item: PyValue, partial: boolean, store: EsapStore): unknown {
  if (item === null) return [NULL];
  if (!(item instanceof Map)) return { non_field_errors: [`Invalid data. Expected a dictionary, but got ${pyTypeName(item)}.`] };
  const errors: Record<string, string[]> = {};
  const data = item.get('item_data');
  if (data === undefined ? !partial : data === null) errors.item_data = [data === undefined ? REQUIRED : NULL];
  const owner = item.get('user_profile');
  if (owner !== undefined && owner !== null) {
    const key = typeof owner === 'boolean' || owner instanceof Map || Array.isArray(owner) ? undefined : pyStr(owner);
    if (key === undefined) errors.user_profile = [`Incorrect type. Expected pk value, received ${pyTypeName(owner)}.`];
    else if (!store.profiles.has(key)) errors.user_profile = [`Invalid pk "${key}" - object does not exist.`];
  }
  return errors;
}

const isEmpty = (e: unknown) => typeof e === 'object' && e !== null && !Array.isArray(e) && Object.keys(e).length === 0;

/** `EsapUserProfileSerializer` validation, errors in field order; the validated scalar values otherwise. */
function validateProfile(data: PyDict, partial: boolean, instance: ProfileRecord | undefined, store: EsapStore): { errors: Record<string, unknown> } | { values: Map<string, string | null> } {
  const errors: Record<string, unknown> = {};
  const values = new Map<string, string | null>();
  const field = (name: string, required: boolean, check: (v: PyValue) => string[] | { value: string | null } | unknown[] | Record<string, unknown>) => {
    const v = data.get(name);
    if (v === undefined) {
      if (required && !partial) errors[name] = [REQUIRED];
      return;
    }
    const r = check(v);
    if (Array.isArray(r)) errors[name] = r;
    else if ('value' in r) values.set(name, r.value as string | null);
    else errors[name] = r;
  };
  field('user_name', true, (v) =>
    charField(v, { allowNull: false, allowBlank: false, maxLength: 50, taken: (s) => s !== instance?.user_name && store.profiles.has(s), takenMessage: 'User Profile with this Username already exists.' }),
  );
  field('full_name', false, (v) => charField(v, { allowNull: true, allowBlank: false, maxLength: 100 }));
  field('user_email', true, (v) => charField(v, { allowNull: false, allowBlank: false, maxLength: 254, email: true }));
  field('oidc_id_token', false, (v) => charField(v, { allowNull: true, allowBlank: true }));
  field('oidc_access_token', false, (v) => charField(v, { allowNull: true, allowBlank: true }));
  field('id_token_expiration', false, dateTimeField);
  field('query_schema', false, (v) => (v === null ? { value: null } : hyperlink(v)));
  for (const m2m of ['software_repositories', 'compute_resources']) {
    field(m2m, false, (v) => {
      if (v === null) return [NULL];
      if (typeof v === 'string' || !(Array.isArray(v) || v instanceof Map)) return [`Expected a list of items but got type "${pyTypeName(v)}".`];
      const first = Array.isArray(v) ? v[0] : v.keys().next().value;
      return first === undefined ? { value: null } : hyperlink(first);
    });
  }
  field('shopping_cart', false, (v) => {
    if (v === null) return [NULL];
    if (!Array.isArray(v)) return { non_field_errors: [`Expected a list of items but got type "${pyTypeName(v)}".`] };
    const each = v.map((item) => itemErrors(item, partial, store));
    return each.every(isEmpty) ? { value: null } : each;
  });
  return Object.keys(errors).length ? { errors } : { values };
}

/**
 * `EsapUserProfileSerializer.update`: delete every item, then read `shopping_cart` (a `KeyError`
 * when it is absent: the basket stays wiped, no transaction), store `json.dumps(item)` for each raw
 * item, then the m2m fields (an `IndexError` for a list), then the plain fields. Between the delete
 * and the creates the request passes the `cart-deleted` phase: where two writes interleave on the
 * real server (both delete, then both create: duplicated items).
 */
async function updateProfile(ctx: Ctx, p: ProfileRecord, data: PyDict, values: Map<string, string | null>): Promise<void> {
  const { store } = ctx.env;
  store.deleteCart(p.user_name);
  const held = ctx.env.phase?.('cart-deleted', ctx.request);
  if (held) await held;
  const cart = data.get('shopping_cart');
  if (cart === undefined) throw new Crash('KeyError', "'shopping_cart'");
  for (const item of cart as PyValue[]) store.createItem(pyDumps(item), p.user_name);
  for (const m2m of ['software_repositories', 'compute_resources']) {
    const v = data.get(m2m);
    if (v !== undefined && v !== null) throw new Crash(Array.isArray(v) ? 'IndexError' : 'KeyError', Array.isArray(v) ? 'list index out of range' : '0');
  }
  if (values.has('full_name')) p.full_name = values.get('full_name') ?? null;
  if (values.has('user_email')) p.user_email = values.get('user_email') as string;
  if (values.has('oidc_id_token')) p.oidc_id_token = values.get('oidc_id_token') ?? null;
  if (values.has('oidc_access_token')) p.oidc_access_token = values.get('oidc_access_token') ?? null;
  if (values.has('id_token_expiration')) p.id_token_expiration = values.get('id_token_expiration') ?? null;
}

async function profileList(ctx: Ctx): Promise<Reply> {
  if (ctx.request.method === 'POST') return await createProfile(ctx);
  if (ctx.request.method !== 'GET' && ctx.request.method !== 'HEAD') return notAllowed(ctx.request, LIST_ALLOW);
  const { store } = ctx.env;
  return paginate(
    ctx,
    profileQueryset(ctx.session, ctx.user, ctx.env).map((p) => profileData(p, store)),
  );
}

/**
 * `POST user-profiles/` (the viewset is `AllowAny`: anyone may create any profile): the serializer's
 * full validation (`user_name` and `user_email` required, `user_name` unique), then DRF's default
 * `ModelSerializer.create`, which refuses the nested `shopping_cart` (any value, even `[]`) with an
 * AssertionError (a 500). 201 with the profile, no `Location`. The new profile is listed to the
 * Django user with the same email, like any other.
 */
async function createProfile(ctx: Ctx): Promise<Reply> {
  const { store } = ctx.env;
  const body = await requestData(ctx, LIST_ALLOW);
  if ('reply' in body) return body.reply;
  const data = asDict(body.data);
  if (!(data instanceof Map)) return drf(400, data, LIST_ALLOW);
  const checked = validateProfile(data, false, undefined, store);
  if ('errors' in checked) return drf(400, checked.errors, LIST_ALLOW);
  if (data.has('shopping_cart')) {
    throw new Crash(
      'AssertionError',
      'The `.create()` method does not support writable nested fields by default.\nWrite an explicit `.create()` method for serializer `accounts.api.serializers.EsapUserProfileSerializer`, or set `read_only=True` on nested serializer fields.',
    );
  }
  const { values } = checked;
  const profile: ProfileRecord = {
    user_name: values.get('user_name') as string,
    full_name: values.get('full_name') ?? null,
    user_email: values.get('user_email') as string,
    uid: null,
    oidc_id_token: values.get('oidc_id_token') ?? null,
    oidc_access_token: values.get('oidc_access_token') ?? null,
    id_token_expiration: values.get('id_token_expiration') ?? null,
  };
  store.profiles.set(profile.user_name, profile);
  return drf(201, profileData(profile, store), LIST_ALLOW);
}

async function profileDetail(ctx: Ctx, pk: string): Promise<Reply> {
  const { request, env } = ctx;
  const { store } = env;
  if (!['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'].includes(request.method)) return notAllowed(request, DETAIL_ALLOW);
  const profile = profileQueryset(ctx.session, ctx.user, env).find((p) => p.user_name === pk);
  if (!profile) return detail(404, 'Not found.', DETAIL_ALLOW);
  if (request.method === 'GET' || request.method === 'HEAD') return drf(200, profileData(profile, store), DETAIL_ALLOW);
  if (request.method === 'DELETE') {
    store.deleteCart(profile.user_name);
    store.profiles.delete(profile.user_name);
    return drf(204, undefined, DETAIL_ALLOW);
  }
  const body = await requestData(ctx, DETAIL_ALLOW);
  if ('reply' in body) return body.reply;
  const data = asDict(body.data);
  if (!(data instanceof Map)) return drf(400, data, DETAIL_ALLOW);
  const checked = validateProfile(data, request.method === 'PATCH', profile, store);
  if ('errors' in checked) return drf(400, checked.errors, DETAIL_ALLOW);
  await updateProfile(ctx, profile, data, checked.values);
  return drf(200, profileData(profile, store), DETAIL_ALLOW);
}

const itemData = (i: ItemRecord) => ({ item_data: i.item_data, user_profile: i.user_profile });

async function itemList(ctx: Ctx): Promise<Reply> {
  const { request, env } = ctx;
  if (request.method === 'GET' || request.method === 'HEAD') return paginate(ctx, env.store.items.map(itemData));
  if (request.method !== 'POST') return notAllowed(request, LIST_ALLOW);
  const saved = await saveItem(ctx, undefined, false, LIST_ALLOW);
  return 'status' in saved ? saved : drf(201, itemData(saved), LIST_ALLOW);
}

async function itemDetail(ctx: Ctx, pk: string): Promise<Reply> {
  const { request, env } = ctx;
  if (!['GET', 'HEAD', 'PUT', 'PATCH', 'DELETE'].includes(request.method)) return notAllowed(request, DETAIL_ALLOW);
  const item = /^\s*[+-]?\d+\s*$/.test(pk) ? env.store.items.find((i) => i.id === Number(pk)) : undefined;
  if (!item) return detail(404, 'Not found.', DETAIL_ALLOW);
  if (request.method === 'GET' || request.method === 'HEAD') return drf(200, itemData(item), DETAIL_ALLOW);
  if (request.method === 'DELETE') {
    env.store.items = env.store.items.filter((i) => i !== item);
    return drf(204, undefined, DETAIL_ALLOW);
  }
  const saved = await saveItem(ctx, item, request.method === 'PATCH', DETAIL_ALLOW);
  return 'status' in saved ? saved : drf(200, itemData(saved), DETAIL_ALLOW);
}

/** `shopping-items/` create/update: the plain ModelSerializer stores `item_data` as given (not a string). */
async function saveItem(ctx: Ctx, item: ItemRecord | undefined, partial: boolean, allow: string): Promise<ItemRecord | Reply> {
  const { store } = ctx.env;
  const body = await requestData(ctx, allow);
  if ('reply' in body) return body.reply;
  const data = asDict(body.data);
  if (!(data instanceof Map)) return drf(400, data, allow);
  const errors = itemErrors(data, partial, store);
  if (!isEmpty(errors)) return drf(400, errors, allow);
  const owner = data.has('user_profile') ? (data.get('user_profile') === null ? null : (pyStr(data.get('user_profile') as PyValue) ?? null)) : (item?.user_profile ?? null);
  const next: ItemRecord = { id: item?.id ?? 0, item_data: data.has('item_data') ? (data.get('item_data') as PyValue) : (item?.item_data ?? null), user_profile: owner };
  if (!item) return store.createItem(next.item_data, next.user_profile);
  store.items = store.items.map((i) => (i === item ? next : i));
  return next;
}

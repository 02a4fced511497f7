/**
 * Data identifiers (DIDs): `scope:name` pairs naming files, datasets and containers in Rucio.
 *
 * Validation follows Rucio's generic schema: scope `^[a-zA-Z_\-.0-9]+$` (≤ 25 chars), name
 * `^[/A-Za-z0-9][/A-Za-z0-9\.\-_]*$` (≤ 250 chars; names may contain and start with `/`).
 *
 * @module
 */
import { InvalidDidError } from './errors.js';

/** A Rucio data identifier. */
export interface Did {
  /** Scope, e.g. `user.jdoe` or `lofar`. */
  readonly scope: string;
  /** Name within the scope; may contain `/`. */
  readonly name: string;
}

/** Maximum scope length in Rucio's generic schema. */
export const SCOPE_MAX_LENGTH = 25;
/** Maximum name length in Rucio's generic schema. */
export const NAME_MAX_LENGTH = 250;

const SCOPE_RE = /^[a-zA-Z_\-.0-9]+$/;
const NAME_RE = /^[/A-Za-z0-9][/A-Za-z0-9.\-_]*$/;

/** Why a scope is invalid, or `undefined` when it is valid. */
export function scopeProblem(scope: unknown): string | undefined {
  if (typeof scope !== 'string') return `scope must be a string, got ${typeof scope}`;
  if (scope.length === 0) return 'scope is empty';
  if (scope.length > SCOPE_MAX_LENGTH) return `scope is ${scope.length} characters long (max ${SCOPE_MAX_LENGTH})`;
  if (!SCOPE_RE.test(scope)) return 'scope may only contain letters, digits, "_", "-" and "."';
  return undefined;
}

/** Why a name is invalid, or `undefined` when it is valid. */
export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return `name must be a string, got ${typeof name}`;
  if (name.length === 0) return 'name is empty';
  if (name.length > NAME_MAX_LENGTH) return `name is ${name.length} characters long (max ${NAME_MAX_LENGTH})`;
  if (!NAME_RE.test(name)) return 'name must start with a letter, digit or "/" and contain only letters, digits, "/", ".", "-" and "_"';
  return undefined;
}

/** True when `value` is a valid {@link Did}. */
export function isDid(value: unknown): value is Did {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return scopeProblem(v.scope) === undefined && nameProblem(v.name) === undefined;
}

/**
 * Build a validated {@link Did}.
 * @throws {@link InvalidDidError} naming the problem.
 */
export function did(scope: string, name: string): Did {
  return toDid({ scope, name });
}

/**
 * Validate a DID-like object and return a clean, frozen `{ scope, name }`.
 * @throws {@link InvalidDidError}
 */
export function toDid(value: unknown): Did {
  if (typeof value === 'string') return parseDid(value);
  if (typeof value !== 'object' || value === null) throw new InvalidDidError(value, 'expected "scope:name" or { scope, name }');
  const v = value as Record<string, unknown>;
  const problem = scopeProblem(v.scope) ?? nameProblem(v.name);
  if (problem) throw new InvalidDidError(value, problem);
  return Object.freeze({ scope: v.scope as string, name: v.name as string });
}

/**
 * Parse `scope:name`, splitting on the first `:` as the Rucio server does.
 *
 * @example
 * ```ts
 * parseDid('user.jdoe:run1/file.fits'); // { scope: 'user.jdoe', name: 'run1/file.fits' }
 * ```
 * @throws {@link InvalidDidError} for anything that is not a valid DID.
 */
export function parseDid(text: string): Did {
  if (typeof text !== 'string') throw new InvalidDidError(text, 'expected a string "scope:name"');
  const i = text.indexOf(':');
  if (i < 0) throw new InvalidDidError(text, 'missing ":" between scope and name');
  const scope = text.slice(0, i);
  const name = text.slice(i + 1);
  const problem = scopeProblem(scope) ?? nameProblem(name);
  if (problem) throw new InvalidDidError(text, problem);
  return Object.freeze({ scope, name });
}

/** Format a DID as `scope:name`. */
export function formatDid(d: Did): string {
  return `${d.scope}:${d.name}`;
}

/** Same DID? */
export function sameDid(a: Did, b: Did): boolean {
  return a.scope === b.scope && a.name === b.name;
}

/**
 * Encode one URL path segment the way Rucio's Python client does (`quote_plus`): every reserved
 * character is percent-encoded, `/` included (`%2F`).
 */
export function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `scope/name` path of a DID for `/dids/{scope}/{name}` routes, each part encoded separately. */
export function didPath(d: Did): string {
  return `${encodeSegment(d.scope)}/${encodeSegment(d.name)}`;
}

/**
 * Tagged template that percent-encodes every interpolated value as one path segment.
 *
 * @example
 * ```ts
 * path`/rses/${rse}/attr/`
 * ```
 */
export function path(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  let out = strings[0] ?? '';
  values.forEach((v, i) => {
    out += encodeSegment(String(v)) + (strings[i + 1] ?? '');
  });
  return out;
}

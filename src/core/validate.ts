/**
 * Response validation with `zod/mini` (no eval/JIT, so it runs in MV3 extension service workers).
 * Object schemas are `looseObject`s: fields a newer server adds are kept, never rejected.
 *
 * @module
 */
import type { ZodMiniType } from 'zod/mini';
import { ResponseValidationError } from './errors.js';

/** A response schema. */
export type Schema<T> = ZodMiniType<T, unknown>;

/**
 * Validate `value` against `schema`; on failure throw a {@link ResponseValidationError} naming the
 * endpoint, the path of the first bad field and an excerpt of its value.
 */
export function validate<T>(schema: Schema<T>, value: unknown, endpoint: string, where?: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const pathParts = issue?.path ?? [];
  let bad: unknown = value;
  for (const p of pathParts) {
    if (bad !== null && typeof bad === 'object') bad = (bad as Record<PropertyKey, unknown>)[p as PropertyKey];
    else {
      bad = undefined;
      break;
    }
  }
  const pathText = pathParts.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.');
  const prefix = where ? `${where}: ` : '';
  throw new ResponseValidationError(endpoint, `${prefix}${pathText}`, issue?.message ?? 'is invalid', bad);
}

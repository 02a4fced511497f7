/**
 * Rucio's date formats.
 *
 * - Default (APIEncoder): RFC 1123 with a literal `UTC` zone, `Mon, 13 May 2013 10:23:03 UTC`.
 * - Accounts: ISO without zone, `2026-11-25T09:10:10` (UTC).
 * - Some inputs: `2026-11-25 09:10:10`, with optional fractional seconds and `Z`.
 * - `/auth/oidc_refresh` expiry: epoch seconds.
 *
 * @module
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

const RFC1123 = /^(?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (UTC|GMT|\+0000|Z)$/;
const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]00:?00)?$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function build(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): Date | undefined {
  if (mo < 0 || mo > 11 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  // Not Date.UTC: it reads years 0-99 as 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(y, mo, d);
  date.setUTCHours(h, mi, s, ms);
  // Reject overflow such as 31 Feb (Date.UTC would roll it into March).
  if (date.getUTCDate() !== d || date.getUTCMonth() !== mo) return undefined;
  return date;
}

/** The date, unless it is `Invalid Date` (out of the ±8.64e15 ms range). */
function validDate(date: Date | undefined): Date | undefined {
  return date === undefined || Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * Parse any date string Rucio sends: RFC 1123 `... UTC`, ISO with or without `T`/fraction/`Z`, a bare
 * `YYYY-MM-DD`, or epoch seconds (number or digit string). Returns `undefined` when it is not a date.
 *
 * @example
 * ```ts
 * parseRucioDate('Wed, 25 Nov 2026 10:10:10 UTC'); // 2026-11-25T10:10:10.000Z
 * parseRucioDate('2026-11-25T09:10:10');          // 2026-11-25T09:10:10.000Z
 * ```
 */
export function parseRucioDate(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (typeof value === 'number') return validDate(Number.isFinite(value) ? new Date(value * 1000) : undefined);
  if (typeof value !== 'string') return undefined;
  const s = value.trim();
  let m = RFC1123.exec(s);
  if (m) {
    const date = build(Number(m[4]), MONTHS.indexOf(m[3] as string), Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7]));
    // A weekday, when present, must match the date.
    if (date && m[1] && DAYS[date.getUTCDay()] !== m[1]) return undefined;
    return date;
  }
  m = ISO.exec(s);
  if (m) {
    const frac = m[7] ? Number(`0.${m[7]}`) * 1000 : 0;
    return build(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), Math.floor(frac));
  }
  m = ISO_DATE.exec(s);
  if (m) return build(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (/^\d{9,11}(\.\d+)?$/.test(s)) return new Date(Number(s) * 1000);
  return undefined;
}

/** Format a date the way Rucio writes and expects it in filters: `Wed, 25 Nov 2026 10:10:10 UTC`. */
export function formatRfc1123(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[date.getUTCDay()]}, ${p(date.getUTCDate())} ${MONTHS[date.getUTCMonth()]} ${String(date.getUTCFullYear()).padStart(4, '0')} ${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} UTC`;
}

/** Format a date as Rucio's ISO input form `YYYY-MM-DDTHH:MM:SS` (UTC, no zone). */
export function formatRucioIso(date: Date): string {
  return date.toISOString().slice(0, 19);
}

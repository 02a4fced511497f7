/**
 * Counters of the reliability and fuzz suites, shared across their test files (each runs in its own
 * worker process): every file records into its {@link Ledger} and writes it, in `afterAll`, as a JSON
 * file into a directory of the OS temp dir that is unique to the vitest run. The global setup
 * (`reliability-summary.ts`) creates that directory and prints the summary table when the run ends.
 *
 * The ledger also holds the secret scan: everything a scenario gives to {@link Ledger.capture}
 * (errors with their message, `String()`, stack, whole `cause` chain and `AggregateError.errors`,
 * fields, JSON forms and `util.inspect` form; progress events; results) and everything written to the
 * console or stdout/stderr while the file runs is searched for the registered secrets, in every form
 * they can leak in (as is, URL-encoded, base64). {@link useLedger} makes any hit fail the test during
 * which it was found (or the file, for hits found after its last test), so a leak fails the suite.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { format, inspect } from 'node:util';
import { afterAll, afterEach, expect } from 'vitest';
import { LEDGER_ENV, type LedgerData } from './reliability-summary.js';

export type { LedgerData };

/**
 * The forms a secret takes in text that users see: as is, URL-encoded (`%XX` and form `+`), and
 * base64/base64url at each of the three byte alignments (the part of the encoding that depends on the
 * secret alone, so `Basic base64(user:token)` or a token inside an encoded blob is found too).
 */
export function secretForms(value: string): Map<string, string> {
  const forms = new Map<string, string>();
  const add = (form: string, how: string) => void (form.length >= 6 && !forms.has(form) && forms.set(form, how));
  add(value, '');
  add(encodeURIComponent(value), ' (URL-encoded)');
  add(encodeURIComponent(value).replace(/%20/g, '+'), ' (URL-encoded)');
  const bytes = Buffer.byteLength(value);
  for (const k of [0, 1, 2]) {
    const b64 = Buffer.from('\0'.repeat(k) + value).toString('base64').slice([0, 2, 3][k], Math.floor(((k + bytes) * 8) / 6));
    add(b64, ' (base64)');
    add(b64.replace(/\+/g, '-').replace(/\//g, '_'), ' (base64url)');
  }
  return forms;
}

/** `JSON.stringify` that also shows what errors hide from it (non-enumerable name, message, stack, cause, errors), past any `toJSON`. */
export function revealingJson(value: unknown): string {
  const seen = new WeakSet<object>();
  return (
    JSON.stringify(value, function (this: Record<string, unknown>, key: string, x: unknown) {
      const original = this[key];
      if (typeof x === 'bigint') return String(x);
      if (original instanceof Error) x = { ...original, name: original.name, message: original.message, stack: original.stack, cause: original.cause, errors: (original as Partial<AggregateError>).errors };
      if (typeof original === 'object' && original !== null) {
        if (seen.has(original)) return '[seen]';
        seen.add(original);
      }
      return x;
    }) ?? ''
  );
}

/** The directory of this run's ledgers (set by the global setup; a per-process fallback otherwise). */
export function ledgerDir(): string {
  const dir = process.env[LEDGER_ENV] ?? join(tmpdir(), `dlaas-reliability-${process.ppid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export class Ledger {
  readonly data: LedgerData;
  /** Every form of every secret → its label in reports (the secret itself is never reported). */
  readonly #secrets = new Map<string, string>();
  readonly #restore: (() => void)[] = [];
  /** Hits already reported by {@link Ledger.assertNoSecrets}. */
  #reported = 0;
  #reportedHits = 0;
  #registered = 0;

  constructor(file: string) {
    this.data = { file: basename(file), scenarios: 0, faults: 0, filesVerified: 0, filesLost: 0, duplicateRules: 0, secretsFound: 0, scanned: 0, fuzzCases: 0, fuzz: [], secretHits: [], notes: [] };
  }

  /** Strings that must never appear anywhere (tokens, passwords, their recognisable marks). */
  secret(...values: string[]): void {
    for (const v of values) {
      if (!v || v.length < 6 || this.#secrets.has(v)) continue;
      const n = ++this.#registered;
      for (const [form, how] of secretForms(v)) if (!this.#secrets.has(form)) this.#secrets.set(form, `secret #${n}${how}`);
    }
  }

  scenario(): void {
    this.data.scenarios++;
  }

  /** Scan one text for every registered secret. */
  scanText(text: string, where: string): void {
    this.data.scanned++;
    for (const [form, label] of this.#secrets) {
      const at = text.indexOf(form);
      if (at < 0) continue;
      this.data.secretsFound++;
      if (this.data.secretHits.length >= 20) continue;
      // Redacted first, then cut around the first redaction: no part of any secret is shown.
      const shown = this.redact(text);
      const mark = Math.max(0, shown.indexOf('[secret #'));
      this.data.secretHits.push(`${where}: ${label} in …${shown.slice(Math.max(0, mark - 60), mark + 80).replace(/\s+/g, ' ')}…`);
    }
  }

  /** `text` with every form of every secret replaced by its label (hits are reported, secrets never). */
  redact(text: string): string {
    // Longest first, so that a secret containing another (a token and its mark) is hidden whole.
    for (const [form, label] of [...this.#secrets].sort(([a], [b]) => b.length - a.length)) text = text.split(form).join(`[${label}]`);
    return text;
  }

  /** Fail (a vitest assertion) if secrets were found since the last call, listing where (redacted). */
  assertNoSecrets(when: string): void {
    const found = this.data.secretsFound - this.#reported;
    const hits = this.data.secretHits.slice(this.#reportedHits);
    if (hits.length < found) hits.push(`(${found - hits.length} more not listed)`);
    this.#reported = this.data.secretsFound;
    this.#reportedHits = this.data.secretHits.length;
    expect(found, `secret scan: ${found} secret(s) found ${when}:\n  ${hits.join('\n  ')}\n`).toBe(0);
  }

  /** Scan a value deeply: an error (message, stack, cause chain, fields, JSON), an event, a result. */
  capture(value: unknown, where = 'value'): void {
    const seen = new Set<unknown>();
    const walk = (v: unknown, path: string, depth: number) => {
      if (v === null || v === undefined || depth > 8) return;
      if (typeof v === 'string') return this.scanText(v, path);
      if (typeof v !== 'object' && typeof v !== 'function') return this.scanText(String(v), path);
      if (seen.has(v)) return;
      seen.add(v);
      if (v instanceof Error) {
        this.scanText(v.message, `${path}.message`);
        this.scanText(v.stack ?? '', `${path}.stack`);
        this.scanText(String(v), `${path}.toString()`);
        // The whole chain, however long (the seen set ends cycles).
        walk(v.cause, `${path}.cause`, depth);
        if (v instanceof AggregateError) walk(v.errors, `${path}.errors`, depth);
      }
      if (v instanceof Blob || ArrayBuffer.isView(v)) return;
      for (const [form, json] of [['JSON', (x: unknown) => JSON.stringify(x, (_k, y: unknown) => (typeof y === 'bigint' ? String(y) : y))], ['JSON with error internals', revealingJson]] as const) {
        try {
          this.scanText(json(v) ?? '', `${path} (${form})`);
        } catch {
          /* circular or a throwing toJSON/getter: the inspect form below covers it */
        }
      }
      // What console.log shows, and more (non-enumerable and symbol keys, getters).
      this.scanText(inspect(v, { depth: 8, showHidden: true, getters: true }), `${path} (inspect)`);
      if (v instanceof Map || v instanceof Set) for (const [k, x] of v.entries()) walk([k, x], `${path}[entry]`, depth + 1);
      for (const key of Object.getOwnPropertyNames(v)) {
        let x: unknown;
        try {
          x = (v as Record<string, unknown>)[key];
        } catch {
          continue;
        }
        walk(x, `${path}.${key}`, depth + 1);
      }
    };
    walk(value, where, 0);
  }

  /** Scan everything written through `console` while the file runs (what the SDK logs). */
  captureConsole(): void {
    for (const m of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      const original = console[m];
      console[m] = (...args: unknown[]) => {
        this.scanText(format(...args), `console.${m}`);
        original.apply(console, args);
      };
      this.#restore.push(() => void (console[m] = original));
    }
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write.bind(stream);
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        this.scanText(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'), stream === process.stdout ? 'stdout' : 'stderr');
        return (original as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write;
      this.#restore.push(() => void (stream.write = original));
    }
  }

  /** Record a fast-check run. */
  fuzz(property: string, runs: number, ms: number, interrupted: boolean): void {
    this.data.fuzzCases += runs;
    this.data.fuzz.push({ property, runs, ms: Math.round(ms), interrupted });
  }

  note(text: string): void {
    this.data.notes.push(text);
  }

  /** Stop capturing the console and stdout/stderr. */
  release(): void {
    for (const r of this.#restore.splice(0)) r();
  }

  /** Restore the console and write this file's ledger. */
  flush(): void {
    this.release();
    writeFileSync(join(ledgerDir(), `${this.data.file}.${process.pid}.json`), JSON.stringify(this.data, null, 2));
  }
}

/**
 * The ledger of the calling test file: console capture from the start, written in `afterAll`.
 * `onFlush` runs first (e.g. to add the proxy's fault count and scan its log). A secret found during
 * a test fails that test (`afterEach`); one found after the last test (e.g. by `onFlush`) fails the
 * file (`afterAll`), after the ledger is written so the summary table still shows it.
 */
export function useLedger(fileUrl: string, onFlush?: (ledger: Ledger) => void | Promise<void>): Ledger {
  const ledger = new Ledger(new URL(fileUrl).pathname);
  ledger.captureConsole();
  afterEach(() => ledger.assertNoSecrets('during this test'));
  afterAll(async () => {
    await onFlush?.(ledger);
    ledger.flush();
    ledger.assertNoSecrets(`in ${ledger.data.file} after its tests (request logs, late console output)`);
  });
  return ledger;
}

/**
 * Counters of the reliability and fuzz suites, shared across their test files (each runs in its own
 * worker process): every file records into its {@link Ledger} and writes it, in `afterAll`, as a JSON
 * file into a directory of the OS temp dir that is unique to the vitest run. The global setup
 * (`reliability-summary.ts`) creates that directory and prints the summary table when the run ends.
 *
 * The ledger also holds the secret scan: everything a scenario gives to {@link Ledger.capture}
 * (errors with their message, stack, `cause` chain, enumerable fields and JSON form; progress events;
 * results) and everything the SDK logs to the console is searched for the fake secrets.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { format, inspect } from 'node:util';
import { afterAll } from 'vitest';
import { LEDGER_ENV, type LedgerData } from './reliability-summary.js';

export type { LedgerData };

/** The directory of this run's ledgers (set by the global setup; a per-process fallback otherwise). */
export function ledgerDir(): string {
  const dir = process.env[LEDGER_ENV] ?? join(tmpdir(), `dlaas-reliability-${process.ppid}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export class Ledger {
  readonly data: LedgerData;
  readonly #secrets = new Set<string>();
  readonly #restore: (() => void)[] = [];

  constructor(file: string) {
    this.data = { file: basename(file), scenarios: 0, faults: 0, filesVerified: 0, filesLost: 0, duplicateRules: 0, secretsFound: 0, scanned: 0, fuzzCases: 0, fuzz: [], secretHits: [], notes: [] };
  }

  /** Strings that must never appear anywhere (tokens, passwords, their recognisable marks). */
  secret(...values: string[]): void {
    for (const v of values) if (v && v.length >= 6) this.#secrets.add(v);
  }

  scenario(): void {
    this.data.scenarios++;
  }

  /** Scan one text for every registered secret. */
  scanText(text: string, where: string): void {
    this.data.scanned++;
    for (const s of this.#secrets) {
      if (text.includes(s)) {
        this.data.secretsFound++;
        if (this.data.secretHits.length < 20) this.data.secretHits.push(`${where}: …${text.slice(Math.max(0, text.indexOf(s) - 60), text.indexOf(s) + s.length + 20)}…`);
      }
    }
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
        walk(v.cause, `${path}.cause`, depth + 1);
      }
      if (v instanceof Blob || ArrayBuffer.isView(v)) return;
      try {
        this.scanText(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x)) ?? '', `${path} (JSON)`);
      } catch {
        /* circular or exotic: the inspect form below covers it */
      }
      this.scanText(inspect(v, { depth: 8, showHidden: true, getters: true }), `${path} (inspect)`);
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

  /** Restore the console and write this file's ledger. */
  flush(): void {
    for (const r of this.#restore.splice(0)) r();
    writeFileSync(join(ledgerDir(), `${this.data.file}.${process.pid}.json`), JSON.stringify(this.data, null, 2));
  }
}

/**
 * The ledger of the calling test file: console capture from the start, written in `afterAll`.
 * `onFlush` runs first (e.g. to add the proxy's fault count and scan its log).
 */
export function useLedger(fileUrl: string, onFlush?: (ledger: Ledger) => void | Promise<void>): Ledger {
  const ledger = new Ledger(new URL(fileUrl).pathname);
  ledger.captureConsole();
  afterAll(async () => {
    await onFlush?.(ledger);
    ledger.flush();
  });
  return ledger;
}

/**
 * Global setup of the test run (vitest `globalSetup`): gives the reliability and fuzz suites a ledger
 * directory of their own in the OS temp dir, and when the whole run is over prints their summary
 * table to stdout (only when some of those suites ran), and fails the run if any secret was found.
 * See `reliability-ledger.ts`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Environment variable carrying the run's ledger directory to the workers. */
export const LEDGER_ENV = 'DLAAS_RELIABILITY_LEDGER_DIR';

/** What one file reports. */
export interface LedgerData {
  file: string;
  scenarios: number;
  faults: number;
  filesVerified: number;
  filesLost: number;
  duplicateRules: number;
  secretsFound: number;
  /** Texts scanned for secrets (errors, events, log lines, URLs). */
  scanned: number;
  fuzzCases: number;
  fuzz: { property: string; runs: number; ms: number; interrupted: boolean }[];
  secretHits: string[];
  notes: string[];
}

/** Read every ledger of a directory. */
export function readLedgers(dir: string): LedgerData[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as LedgerData);
}

/** The summary table (plain text). */
export function summaryTable(ledgers: readonly LedgerData[]): string {
  const sum = (k: 'scenarios' | 'faults' | 'filesVerified' | 'filesLost' | 'duplicateRules' | 'secretsFound' | 'fuzzCases' | 'scanned') => ledgers.reduce((n, l) => n + l[k], 0);
  const rows: [string, string][] = [
    ['scenarios run', String(sum('scenarios'))],
    ['faults injected', String(sum('faults'))],
    ['files verified', String(sum('filesVerified'))],
    ['files lost', String(sum('filesLost'))],
    ['duplicate rules', String(sum('duplicateRules'))],
    ['secrets found', `${sum('secretsFound')} (in ${sum('scanned')} texts scanned)`],
    ['fuzz cases run', String(sum('fuzzCases'))],
  ];
  const title = 'reliability & security';
  const w = Math.max(title.length, ...rows.map(([k]) => k.length));
  const v = Math.max(...rows.map(([, x]) => x.length));
  const line = `+${'-'.repeat(w + 2)}+${'-'.repeat(v + 2)}+`;
  const out = [line, `| ${title.padEnd(w)} | ${'total'.padStart(v)} |`, line, ...rows.map(([k, x]) => `| ${k.padEnd(w)} | ${x.padStart(v)} |`), line];
  const fuzz = ledgers.flatMap((l) => l.fuzz);
  if (fuzz.length) {
    out.push('', 'fuzz properties (runs, time):');
    for (const f of fuzz) out.push(`  ${f.property.padEnd(44)} ${String(f.runs).padStart(8)} runs  ${(f.ms / 1000).toFixed(1).padStart(6)} s${f.interrupted ? '  (time budget reached)' : ''}`);
  }
  out.push('', 'per file:');
  for (const l of [...ledgers].sort((a, b) => a.file.localeCompare(b.file))) {
    out.push(`  ${l.file.padEnd(36)} scenarios ${String(l.scenarios).padStart(3)}  faults ${String(l.faults).padStart(5)}  verified ${String(l.filesVerified).padStart(6)}  lost ${l.filesLost}  dup rules ${l.duplicateRules}  secrets ${l.secretsFound}`);
  }
  const hits = ledgers.flatMap((l) => l.secretHits.map((h) => `${l.file}: ${h}`));
  if (hits.length) out.push('', 'SECRET HITS:', ...hits.map((h) => `  ${h}`));
  const notes = ledgers.flatMap((l) => l.notes.map((n) => `${l.file}: ${n}`));
  if (notes.length) out.push('', 'notes:', ...notes.map((n) => `  ${n}`));
  return out.join('\n');
}

/** vitest global setup: create the directory; the returned teardown prints the table. */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'dlaas-reliability-'));
  process.env[LEDGER_ENV] = dir;
  return () => {
    const ledgers = readLedgers(dir);
    rmSync(dir, { recursive: true, force: true });
    if (ledgers.length === 0) return;
    process.stdout.write(`\n${summaryTable(ledgers)}\n`);
    // Each file already failed on its own hits (useLedger); this also fails the run for any ledger written without it.
    const found = ledgers.reduce((n, l) => n + l.secretsFound, 0);
    if (found > 0) throw new Error(`secret scan: ${found} secret(s) found (see SECRET HITS above)`);
  };
}

/**
 * CLI output: aligned tables, JSON, and progress bars (cli-progress) on stderr.
 * @module
 */
import { parseRucioDate } from './sdk-core.js';

type CliProgress = typeof import('cli-progress');
/** cli-progress, once {@link loadProgressBars} loaded it (only commands that draw bars do). */
let cliProgress: CliProgress | undefined;

/**
 * Load cli-progress, before a command that draws progress bars runs: the other commands (and
 * `--json`, `--quiet`) start without it.
 */
export async function loadProgressBars(): Promise<void> {
  if (cliProgress) return;
  const m = (await import('cli-progress')) as CliProgress & { default?: CliProgress };
  cliProgress = m.default ?? m;
}

/** The signals that stop a long command: Ctrl-C (`SIGINT`) and `SIGTERM`. */
export type StopSignal = 'SIGINT' | 'SIGTERM';

/** Where stop signals come from: `process` for the bin, an `EventEmitter` (or nothing) in tests. */
export interface SignalSource {
  on(signal: StopSignal, listener: () => void): unknown;
  off(signal: StopSignal, listener: () => void): unknown;
}

/** Where the CLI writes (injected in tests). */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
  /**
   * Stop signals, listened to only while a long command (`stage`, `upload`, `rule wait`, `rule add
   * --wait`, `login`) runs: the first aborts it cleanly. The bin passes `process`; without it, signals
   * are not handled by the CLI (in-process callers keep their own handlers).
   */
  signals?: SignalSource | undefined;
  /** Quit at once with this code (a second signal while a command unwinds). The bin passes `process.exit`. */
  exit?: ((code: number) => void) | undefined;
}

/** How to print: `json` for scripts, `quiet` for no progress. */
export interface OutputMode {
  json: boolean;
  quiet: boolean;
  /** `--verbose`: say which service, account and token are used, and every cause of an error. */
  verbose?: boolean;
}

/** Print one line to stdout. */
export function println(io: Io, line = ''): void {
  io.stdout.write(`${line}\n`);
}

/** Print one line to stderr (prompts, progress, notes). */
export function note(io: Io, line: string): void {
  io.stderr.write(`${line}\n`);
}

/** Print a JSON document to stdout (bigints as numbers when safe, else strings). */
export function printJson(io: Io, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v), 2)}\n`);
}

/** Aligned text table; the first row is the heading; numeric columns align right. */
export function table(rows: readonly (readonly (string | number)[])[]): string[] {
  const [head, ...body] = rows;
  if (!head) return [];
  const widths = head.map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  const numeric = head.map((_, i) => body.length > 0 && body.every((r) => typeof r[i] === 'number'));
  const line = (r: readonly (string | number)[]) =>
    r
      .map((c, i) => (numeric[i] ? String(c).padStart(widths[i]!) : String(c ?? '').padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...body.map(line)];
}

/** The one date format of the CLI's text output: `2026-12-03 07:12:00 UTC` (any Rucio date in; `-` for none). */
export function formatDate(value: Date | string | number | null | undefined): string {
  if (value === null || value === undefined || value === '') return '-';
  const d = value instanceof Date ? value : parseRucioDate(value);
  if (!d) return String(value);
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A duration for people: `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(Math.floor(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** Bytes as kB/MB/GB (decimal, as Rucio). */
export function formatBytes(n: number | bigint | null | undefined): string {
  if (n === null || n === undefined) return '-';
  let v = Number(n);
  if (v < 1000) return `${v} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** A progress bar. After `stop()` (which may be called more than once) updates are ignored. */
export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  setTotal(total: number): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { update: () => {}, setTotal: () => {}, stop: () => {} };

/**
 * A progress bar on stderr: redrawn in place on a terminal; on a pipe or file, one line per change
 * (still rendered by cli-progress); nothing with `--json` or `--quiet`. The bar installs no signal
 * handlers (`gracefulExit: false`): the CLI handles Ctrl-C and SIGTERM itself (see `run`).
 */
export function progress(io: Io, mode: OutputMode, format: string, total: number, payload: Record<string, string | number> = {}, start = 0): Progress {
  if (mode.quiet || mode.json) return NO_PROGRESS;
  if (!cliProgress) throw new Error('progress(): call loadProgressBars() first');
  const tty = io.stderr.isTTY === true;
  let pending = '';
  let last = '';
  const lines = {
    isTTY: false,
    columns: 120,
    write(text: string) {
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trimEnd();
        pending = pending.slice(nl + 1);
        if (line && line !== last) io.stderr.write(`${(last = line)}\n`);
      }
      return true;
    },
  };
  const bar = new cliProgress.SingleBar(
    { format, barsize: 24, hideCursor: tty, stream: (tty ? io.stderr : lines) as NodeJS.WriteStream, noTTYOutput: !tty, notTTYSchedule: 3_600_000, gracefulExit: false },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, start, payload);
  let stopped = false;
  return {
    update(value, p) {
      if (stopped) return;
      bar.update(value, p);
      if (!tty) bar.render();
    },
    setTotal: (t) => void (stopped || bar.setTotal(t)),
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}

/**
 * Console helpers shared by the examples: progress bars (cli-progress) and plain tables.
 *
 * On a terminal the bars redraw in place; when the output is a file or a pipe (CI logs, tests),
 * every change is printed as one line, rendered by cli-progress all the same.
 * @module
 */
import cliProgress from 'cli-progress';

/** Where examples write: a function taking one line (default `console.log`). */
export type Out = (line: string) => void;

/** A progress bar: `update` takes the value and the named fields of the format. */
export interface Bar {
  update(value: number, payload?: Record<string, string | number>): void;
  setTotal(total: number): void;
  stop(): void;
}

/**
 * A progress bar in `format` (cli-progress tokens: `{bar}`, `{value}`, `{total}`, `{percentage}`, plus
 * payload fields). `tty: true` draws on `process.stdout`; otherwise each change goes to `out` as a line.
 */
export function progressBar(format: string, total: number, payload: Record<string, string | number>, options: { out?: Out; tty?: boolean } = {}): Bar {
  const tty = options.tty ?? (options.out === undefined && process.stdout.isTTY === true);
  const out = options.out ?? ((line: string) => console.log(line));
  let pending = '';
  let last = '';
  // Not a terminal: cli-progress renders each redraw as text + newline into this stream; print changes only.
  const lines = {
    isTTY: false,
    columns: 120,
    write(text: string) {
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trimEnd();
        pending = pending.slice(nl + 1);
        if (line && line !== last) out((last = line));
      }
      return true;
    },
  };
  const bar = new cliProgress.SingleBar(
    {
      format,
      barsize: 24,
      hideCursor: tty,
      stream: (tty ? process.stdout : lines) as NodeJS.WriteStream,
      noTTYOutput: !tty,
      notTTYSchedule: 3_600_000, // no periodic lines: one per change (below)
      forceRedraw: false,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, payload);
  return {
    update(value, p) {
      bar.update(value, p);
      if (!tty) bar.render();
    },
    setTotal(t) {
      bar.setTotal(t);
    },
    stop() {
      bar.stop();
    },
  };
}

/** Format bytes as B/kB/MB/GB (decimal, as Rucio shows sizes). */
export function formatBytes(n: number | bigint | null | undefined): string {
  if (n === null || n === undefined) return '-';
  const v = Number(n);
  if (v < 1000) return `${v} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let x = v;
  let u = -1;
  while (x >= 1000 && u < units.length - 1) {
    x /= 1000;
    u++;
  }
  return `${x.toFixed(x < 10 ? 2 : 1)} ${units[u]}`;
}

/** Render rows as an aligned text table (the first row is the heading). Numbers align right. */
export function table(rows: readonly (readonly (string | number)[])[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, String(c).length)));
  const numeric = widths.map((_, i) => rows.slice(1).every((r) => typeof r[i] === 'number' || /^-?[\d.,]+( [kMGT]?B| s| ms)?$/.test(String(r[i] ?? ''))));
  const line = (r: readonly (string | number)[]) => indent + r.map((c, i) => (numeric[i] ? String(c).padStart(widths[i]!) : String(c).padEnd(widths[i]!))).join('  ').trimEnd();
  const [head, ...body] = rows;
  if (!head) return [];
  return [line(head), indent + widths.map((w) => '─'.repeat(w)).join('  '), ...body.map(line)];
}

/** Seconds with one decimal (`0.4 s`), or milliseconds under 100 ms. */
export function formatDuration(ms: number): string {
  return ms < 100 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Time a step: runs `fn`, records its duration under `name` in `times`. */
export async function timed<T>(times: Map<string, number>, name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    times.set(name, (times.get(name) ?? 0) + performance.now() - t0);
  }
}

/** True when this module is the program being run (`node file.ts`, `deno run file.ts`, `bun file.ts`). */
export function isMain(meta: ImportMeta): boolean {
  const m = meta as ImportMeta & { main?: boolean; filename?: string };
  if (typeof m.main === 'boolean') return m.main;
  const argv1 = typeof process !== 'undefined' ? process.argv[1] : undefined;
  return argv1 !== undefined && m.filename !== undefined && (argv1 === m.filename || argv1.replace(/\.ts$/, '') === m.filename.replace(/\.ts$/, ''));
}

/**
 * `dlaas cat DID [--range A-B]` and `dlaas head DID [-c N]`: stream a file's bytes (or only some of
 * them) from the Data Lake to stdout, through `lake.files.open` (Range requests, replica fallback,
 * the storage token only to the replica's storage). `cat` of a whole file is verified against the
 * catalogue (size and adler32): a mismatch fails the command after the bytes were written. Bytes
 * read by range cannot be verified (the catalogue checksums whole files only).
 * @module
 */
import type { ParseArgsConfig } from 'node:util';
import type { RemoteBlob } from 'dlaas';
import { parseDid } from './sdk-core.js';
import type { GlobalOptions } from './context.js';
import { openLake } from './context.js';
import { UsageError } from './errors.js';
import { note, type Io, type OutputMode } from './output.js';

/** What these commands need of the CLI's command context. */
interface FilesCtx {
  io: Io;
  mode: OutputMode;
  global: GlobalOptions;
  values: Record<string, string | boolean | string[] | undefined>;
  args: string[];
  signal: AbortSignal;
}

/** `A-B` (inclusive, as HTTP), `A-` (to the end) or `-N` (the last N bytes) → `[start, end)` of a file of `size` bytes. */
export function parseByteRange(text: string, size: number): [number, number] {
  const m = /^(\d*)-(\d*)$/.exec(text.trim());
  if (!m || (m[1] === '' && m[2] === '')) throw new UsageError(`--range must be A-B, A- or -N (bytes, B inclusive), not ${JSON.stringify(text)}`);
  if (m[1] === '') return [Math.max(0, size - Number(m[2])), size];
  const start = Number(m[1]);
  const end = m[2] === '' ? size : Number(m[2]) + 1;
  if (end < start) throw new UsageError(`--range ${text}: the end is before the start`);
  return [Math.min(start, size), Math.min(end, size)];
}

/** The source argument: a DID (`scope:name`) or an http(s) URL. */
function sourceArg(text: string): string {
  if (/^https?:\/\//i.test(text)) return text;
  try {
    parseDid(text);
  } catch (error) {
    throw new UsageError(`${JSON.stringify(text)} is not a DID (expected SCOPE:NAME) or an http(s) URL: ${error instanceof Error ? error.message : String(error)}`);
  }
  return text;
}

/** Write a blob's stream to stdout, waiting for stdout to drain. */
async function pipe(io: Io, blob: RemoteBlob, signal: AbortSignal): Promise<number> {
  let n = 0;
  const reader = blob.stream({ signal }).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return n;
      n += value.byteLength;
      if (!io.stdout.write(value)) await new Promise<void>((r) => io.stdout.once('drain', () => r()));
    }
  } finally {
    reader.releaseLock();
  }
}

const rangeOptions = {
  range: { type: 'string' },
  rse: { type: 'string' },
} satisfies NonNullable<ParseArgsConfig['options']>;

export const catCommand = {
  name: 'cat',
  usage: 'dlaas cat DID|URL [--range A-B] [--rse EXPRESSION]',
  summary: 'write a file (or bytes A to B of it) to stdout; a whole file is verified against the catalogue',
  options: rangeOptions,
  args: [1, 1] as [number, number],
  interruptible: true,
  async run(ctx: FilesCtx): Promise<void> {
    const source = sourceArg(ctx.args[0] as string);
    const { lake } = await openLake(ctx.io, ctx.global, ctx.mode);
    const rse = typeof ctx.values.rse === 'string' ? ctx.values.rse : undefined;
    const file = await lake.files.open(source, { signal: ctx.signal, ...(rse ? { rse_expression: rse } : {}) });
    try {
      const range = typeof ctx.values.range === 'string' ? parseByteRange(ctx.values.range, file.size) : undefined;
      const blob = range ? file.slice(range[0], range[1]) : file;
      const n = await pipe(ctx.io, blob, ctx.signal);
      if (!ctx.mode.quiet && !ctx.io.stdout.isTTY) {
        const v = file.verified;
        note(ctx.io, `dlaas cat: ${n} of ${file.size} bytes${v ? ` (verified: ${v.verified.join(', ')})` : range ? ' (a range: not verified)' : ''}`);
      }
    } finally {
      file.close();
    }
  },
};

export const headCommand = {
  name: 'head',
  usage: 'dlaas head DID|URL [-c BYTES] [--rse EXPRESSION]',
  summary: 'write the first bytes of a file to stdout (default 1024; only those are transferred)',
  options: { bytes: { type: 'string', short: 'c' }, rse: { type: 'string' } } satisfies NonNullable<ParseArgsConfig['options']>,
  args: [1, 1] as [number, number],
  interruptible: true,
  async run(ctx: FilesCtx): Promise<void> {
    const source = sourceArg(ctx.args[0] as string);
    const raw = typeof ctx.values.bytes === 'string' ? ctx.values.bytes : '1024';
    if (!/^\d+$/.test(raw)) throw new UsageError(`-c must be a number of bytes, not ${JSON.stringify(raw)}`);
    const count = Number(raw);
    const { lake } = await openLake(ctx.io, ctx.global, ctx.mode);
    const rse = typeof ctx.values.rse === 'string' ? ctx.values.rse : undefined;
    // Small blocks: head reads no more than it shows (rounded up to 64 KiB).
    const file = await lake.files.open(source, { signal: ctx.signal, blockSize: 64 * 1024, readAhead: 0, ...(rse ? { rse_expression: rse } : {}) });
    try {
      await pipe(ctx.io, file.slice(0, Math.min(count, file.size)), ctx.signal);
    } finally {
      file.close();
    }
  },
};

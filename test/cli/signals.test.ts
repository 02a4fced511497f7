/**
 * Ctrl-C and SIGTERM in the `dlaas` bin (dist/cli.js), on a real pseudo-terminal: a long command
 * stops cleanly, says on stderr what is left, and exits 130 (SIGINT) or 143 (SIGTERM); a partial
 * download is kept and the same command resumes it (HTTP Range) and verifies the file.
 *
 * The terminal is python3's `pty` module (a tiny program passed with `-c`): Ctrl-C is the byte 0x03
 * written to the pty master, so the kernel's line discipline sends SIGINT to the CLI, as a terminal
 * does. Nothing here depends on speed: the storage element of the local lake is wrapped so that a
 * GET sends its headers and the first bytes of the file, then holds the rest back until the client
 * goes away; an upload's PUT is held the same way; rules never progress (no transfer conveyor). The
 * signal is sent once the CLI has shown the progress that proves the command is mid-way.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StorageEmulator } from 'dlaas/testing';
import { startLocalLake, type LocalLake } from '../../scripts/lib/local-lake.ts';
import { requireBuild, root, runNode, type Finished } from '../examples/helpers.ts';

const bin = join(root, 'dist', 'cli.js');
const hasPython = spawnSync('python3', ['-c', 'import pty, termios, fcntl'], { stdio: 'ignore' }).status === 0;

/** Safety nets only: every wait below ends on an event (output, a request), long before these. */
const WAIT_MS = 60_000;
const TEST_MS = 180_000;

/**
 * Run argv[1:] on a new pseudo-terminal (120×40). The pty's output (stdout and stderr of the
 * program, as a terminal shows them) goes to our stdout; `PID n` and finally `EXIT code` (negative:
 * killed by that signal) to our stderr. Commands on stdin: `INT` types Ctrl-C, `TERM` sends SIGTERM.
 */
const PTY_PY = String.raw`
import errno, fcntl, os, pty, select, signal, struct, sys, termios
argv = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))
    os.execv(argv[0], argv)
sys.stderr.write('PID %d\n' % pid)
sys.stderr.flush()
pending = b''
stdin_open = True
while True:
    ready, _, _ = select.select([fd] + ([0] if stdin_open else []), [], [])
    if fd in ready:
        try:
            data = os.read(fd, 65536)
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            data = b''
        if not data:
            break
        os.write(1, data)
    if 0 in ready:
        chunk = os.read(0, 1024)
        if not chunk:
            stdin_open = False
        pending += chunk
        while b'\n' in pending:
            line, pending = pending.split(b'\n', 1)
            if line == b'INT':
                os.write(fd, b'\x03')
            elif line == b'TERM':
                os.kill(pid, signal.SIGTERM)
_, status = os.waitpid(pid, 0)
sys.stderr.write('EXIT %d\n' % os.waitstatus_to_exitcode(status))
sys.stderr.flush()
`;

interface PtyRun {
  /** What the terminal showed so far. */
  readonly output: string;
  /** The first match of `re` in the output (rejects after a generous safety timeout). */
  waitFor(re: RegExp): Promise<RegExpMatchArray>;
  /** Type Ctrl-C. */
  ctrlC(): void;
  /** `kill -TERM` the program. */
  sigterm(): void;
  done: Promise<{ code: number; output: string }>;
}

function onPty(args: string[], env: Record<string, string>, cwd: string): PtyRun {
  const child = spawn('python3', ['-c', PTY_PY, process.execPath, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let control = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  child.stdout.on('data', (d: Buffer) => {
    output += d.toString();
    for (const w of [...waiters]) {
      const m = output.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => void (control += d.toString()));
  const done = new Promise<{ code: number; output: string }>((resolve, reject) =>
    child.on('close', () => {
      const m = /EXIT (-?\d+)/.exec(control);
      if (m) resolve({ code: Number(m[1]), output });
      else reject(new Error(`the pty helper ended without an exit status:\n${control}\n${output}`));
    }),
  );
  const safety = setTimeout(() => child.kill('SIGKILL'), TEST_MS);
  void done.finally(() => clearTimeout(safety)).catch(() => {});
  return {
    get output() {
      return output;
    },
    waitFor(re) {
      const m = output.match(re);
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${re} within ${WAIT_MS} ms; the terminal showed:\n${output}`)), WAIT_MS);
        waiters.push({ re, resolve: (x) => (clearTimeout(timer), resolve(x)) });
      });
    },
    ctrlC: () => void child.stdin.write('INT\n'),
    sigterm: () => void child.stdin.write('TERM\n'),
    done,
  };
}

/**
 * Hold transfers of one storage element: the next GET of a file named `name` (without `Range`)
 * sends its headers and the first `after` bytes, then nothing until the client goes away; the next
 * PUT of such a file gets no answer until released. Test-side only: the emulator object's `handle`
 * (what the lake's HTTP server calls for `/storage/<rse>/…`) is wrapped.
 */
function holdTransfers(se: StorageEmulator) {
  const original = se.handle;
  const gets = new Map<string, number>();
  const puts = new Map<string, () => void>();
  const open = new Set<() => void>();
  se.handle = async (request) => {
    const name = decodeURIComponent(new URL(request.url).pathname.split('/').pop() ?? '');
    const method = request.method.toUpperCase();
    // An upload PUTs to a temporary name next to the file's (`<name>.<random>.rucio.upload`, or the like).
    const putOf = method === 'PUT' ? [...puts.keys()].find((k) => name === k || name.startsWith(`${k}.`)) : undefined;
    if (putOf !== undefined) {
      const arrived = puts.get(putOf)!;
      puts.delete(putOf);
      arrived();
      // No answer: the client's abort (or the end of the test) closes it.
      await new Promise<void>((resolve) => open.add(resolve));
      return new Response('held by the test', { status: 503 });
    }
    const res = await original(request);
    const after = gets.get(name);
    if (method !== 'GET' || after === undefined || request.headers.has('range') || res.status !== 200) return res;
    gets.delete(name);
    const body = new Uint8Array(await res.arrayBuffer());
    let sent = false;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => open.add((release = resolve)));
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(body.slice(0, after));
          return;
        }
        await gate;
        controller.error(new Error('held transfer released by the test'));
      },
      cancel() {
        release();
      },
    });
    return new Response(stream, { status: 200, headers: res.headers });
  };
  return {
    get: (file: string, after: number) => void gets.set(file, after),
    /** Resolves when the held PUT has arrived. */
    put: (file: string) => new Promise<void>((resolve) => puts.set(file, resolve)),
    releaseAll() {
      for (const r of open) r();
      open.clear();
      gets.clear();
      puts.clear();
    },
    restore() {
      this.releaseAll();
      se.handle = original;
    },
  };
}

/** `promise`, or a rejection saying what did not happen (a safety net: the wait ends on the event). */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not happen within ${WAIT_MS} ms`)), WAIT_MS)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Every file below `dir` with its size (relative paths). */
function filesBelow(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const full = join(entry.parentPath, entry.name);
      out[full.slice(dir.length + 1)] = statSync(full).size;
    }
  }
  return out;
}

let lake: LocalLake;
let work: string;
let hold: ReturnType<typeof holdTransfers>;
let sara: StorageEmulator;
const SCOPE = 'user.jdoe';
const DATASET = 'signals';
const FILES = { big: 'signals-big.bin', term: 'signals-term.bin' } as const;
const SIZE = 4 * 1024 * 1024;
const HELD = 256 * 1024;
const content = new Map<string, Uint8Array>();
const outputs: string[] = [];

beforeAll(async () => {
  requireBuild();
  // No conveyor: rules stay REPLICATING until the test says otherwise.
  lake = await startLocalLake({ conveyorMs: 0 });
  work = mkdtempSync(join(tmpdir(), 'dlaas-signals-'));
  for (const name of Object.values(FILES)) content.set(name, new Uint8Array(randomBytes(SIZE)));
  await lake.emulator.seedDataset({ scope: SCOPE, name: DATASET, rse: 'SARA-DCACHE', files: [...content].map(([name, c]) => ({ name, content: c })) });
  sara = lake.emulator.storage.get('SARA-DCACHE')!;
  hold = holdTransfers(sara);
});

afterAll(async () => {
  hold?.restore();
  for (const o of outputs) expect(o).not.toContain(lake.token);
  await lake?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) => ({ ...lake.env({ RUCIO_ACCESS_TOKEN: lake.token }), HOME: work, ...extra });

async function dlaas(args: string[]): Promise<Finished> {
  const r = await runNode([bin, ...args], { env: env(), cwd: work });
  outputs.push(r.stdout + r.stderr);
  return r;
}

function pty(args: string[]): PtyRun {
  const p = onPty([bin, ...args], env(), work);
  void p.done.then((r) => outputs.push(r.output)).catch(() => {});
  return p;
}

/**
 * The download bar (on a terminal it shows the bytes held) with some bytes: the transfer is under
 * way, and held, stays so. The first `bytes` event is never throttled, so this always shows.
 */
const DOWNLOADING = /download [^\r\n]*\| (?!0 B )\d[\d.]* [kMG]?B of [\d.]+ MB \| 0\/1 files/;

describe.skipIf(!hasPython)('Ctrl-C and SIGTERM on a terminal', () => {
  it(
    'stage --mode download: Ctrl-C → exit 130, the partial file kept and named; the same command resumes with Range and verifies',
    async () => {
      const dest = join(work, 'data-int');
      const did = `${SCOPE}:${FILES.big}`;
      const final = join(dest, SCOPE, FILES.big);
      hold.get(FILES.big, HELD);
      const p = pty(['stage', did, '--mode', 'download', '--dest', dest]);
      await p.waitFor(DOWNLOADING);
      p.ctrlC();
      const r = await p.done;
      expect(r.code, r.output).toBe(130);
      expect(r.output).toContain('stopping… (press Ctrl-C again to quit at once)');
      expect(r.output).toMatch(/dlaas: interrupted: 1 file\(s\) partially downloaded are kept in \S*data-int — run the same command again to resume/);
      expect(r.output).toContain(`${did}: `);
      expect(r.output).not.toMatch(/\n\s+at /); // no stack trace
      // Nothing at the final path; the partial bytes are kept (in whatever form the sink keeps them).
      expect(existsSync(final)).toBe(false);
      const kept = filesBelow(dest);
      expect(Object.values(kept).reduce((a, b) => a + b, 0), JSON.stringify(kept)).toBeGreaterThan(0);

      // The same command, no terminal: resumes, verifies, publishes.
      const seen = sara.requests.length;
      const again = await dlaas(['--json', 'stage', did, '--mode', 'download', '--dest', dest]);
      expect(again.code, again.stderr).toBe(0);
      const out = JSON.parse(again.stdout) as { status: string; files: { did: string; status: string; verified: string[]; path: string }[] };
      expect(out.status).toBe('AVAILABLE');
      expect(out.files).toHaveLength(1);
      expect(out.files[0]).toMatchObject({ did, status: 'OK', path: final });
      expect(out.files[0]!.verified).toContain('adler32');
      expect(Buffer.compare(readFileSync(final), content.get(FILES.big)!)).toBe(0);
      // It went on from where the first run stopped: a GET of this file with a Range from a byte > 0.
      const gets = sara.requests.slice(seen).filter((q) => q.method === 'GET' && q.path.endsWith(`/${FILES.big}`));
      expect(gets.length).toBeGreaterThan(0);
      expect(gets.map((q) => q.headers.range ?? '')).toContainEqual(expect.stringMatching(/^bytes=[1-9]\d*-$/));
      expect(gets.every((q) => q.headers.range !== undefined), 'no GET of the whole file again').toBe(true);
      expect(Object.keys(filesBelow(dest))).toEqual([join(SCOPE, FILES.big)]); // nothing partial left behind
    },
    TEST_MS,
  );

  it(
    'stage --mode download: SIGTERM → exit 143, the partial file kept',
    async () => {
      const dest = join(work, 'data-term');
      hold.get(FILES.term, HELD);
      const p = pty(['stage', `${SCOPE}:${FILES.term}`, '--mode', 'download', '--dest', dest]);
      await p.waitFor(DOWNLOADING);
      p.sigterm();
      const r = await p.done;
      expect(r.code, r.output).toBe(143);
      expect(r.output).toMatch(/dlaas: terminated \(SIGTERM\): 1 file\(s\) partially downloaded are kept in \S*data-term — run the same command again to resume/);
      expect(existsSync(join(dest, SCOPE, FILES.term))).toBe(false);
      expect(Object.values(filesBelow(dest)).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    },
    TEST_MS,
  );

  it(
    'rule wait: Ctrl-C → exit 130, naming the rule that keeps replicating',
    async () => {
      const add = await dlaas(['--json', 'rule', 'add', `${SCOPE}:${DATASET}`, '--rse', 'PIC-DCACHE']);
      expect(add.code, add.stderr).toBe(0);
      const [rule] = JSON.parse(add.stdout) as { id: string; state: string }[];
      expect(rule!.state).toBe('REPLICATING');
      const p = pty(['rule', 'wait', rule!.id, '--poll-interval', '100']);
      await p.waitFor(new RegExp(`rule ${rule!.id.slice(0, 8)} [^\\r\\n]*\\| REPLICATING`));
      p.ctrlC();
      const r = await p.done;
      expect(r.code, r.output).toBe(130);
      expect(r.output).toContain(`dlaas: interrupted: rule ${rule!.id} still exists and keeps replicating; follow it with \`dlaas rule show ${rule!.id}\``);
      const show = await dlaas(['--json', 'rule', 'show', rule!.id]);
      expect(show.code).toBe(0);
      expect(JSON.parse(show.stdout)).toMatchObject({ id: rule!.id, state: 'REPLICATING' });
    },
    TEST_MS,
  );

  it(
    'stage --mode replica: Ctrl-C → exit 130, naming the rule it created',
    async () => {
      const p = pty(['stage', `${SCOPE}:${DATASET}`, '--mode', 'replica', '--rse', 'DESY-DCACHE', '--poll-interval', '100']);
      const [, short] = await p.waitFor(/rule ([0-9a-f]{8}) [^\r\n]*\| REPLICATING/);
      p.ctrlC();
      const r = await p.done;
      expect(r.code, r.output).toBe(130);
      const m = /dlaas: interrupted: rule ([0-9a-f]{32}) still exists and keeps replicating; follow it with `dlaas rule show \1`/.exec(r.output);
      expect(m, r.output).not.toBeNull();
      expect(m![1]!.startsWith(short!)).toBe(true);
    },
    TEST_MS,
  );

  it(
    'upload: Ctrl-C during the transfer → exit 130, naming the file not finished; the same command finishes it',
    async () => {
      const name = 'signals-upload.bin';
      const file = join(work, 'out', name);
      mkdirSync(join(work, 'out'), { recursive: true });
      const bytes = new Uint8Array(randomBytes(64 * 1024));
      writeFileSync(file, bytes);
      const args = ['upload', file, '--scope', SCOPE, '--rse', 'SARA-DCACHE', '--no-rule'];
      const held = hold.put(name);
      const p = pty(args);
      await Promise.all([p.waitFor(new RegExp(`\\| ${name} transfer`)), within(held, `the PUT of ${name}`)]);
      p.ctrlC();
      const r = await p.done;
      hold.releaseAll();
      expect(r.code, r.output).toBe(130);
      expect(r.output).toMatch(/dlaas: interrupted: 1 of 1 file\(s\) not finished — run the same command again to finish them/);
      expect(r.output).toContain(`${SCOPE}:${name}`);
      const again = await dlaas(['--json', ...args]);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ ok: true, files: [{ did: `${SCOPE}:${name}`, status: 'OK' }] });
      expect(Buffer.compare(Buffer.from(sara.list().filter((f) => f.endsWith(`/${name}`)).map((f) => sara.get(f)!)[0]!), bytes)).toBe(0);
    },
    TEST_MS,
  );

  it(
    'login: Ctrl-C while waiting for approval → exit 130, not logged in',
    async () => {
      const home = mkdtempSync(join(work, 'home-'));
      const p = onPty([bin, 'login'], { ...lake.env(), HOME: home }, work);
      await p.waitFor(/enter the code: [A-Z]{4}-[A-Z]{4}/);
      p.ctrlC();
      const r = await p.done;
      outputs.push(r.output);
      expect(r.code, r.output).toBe(130);
      expect(r.output).toContain('dlaas: interrupted: not logged in — run `dlaas login` again');
      expect(existsSync(join(home, '.config', 'dlaas', 'tokens.json')) && readFileSync(join(home, '.config', 'dlaas', 'tokens.json'), 'utf8').includes('dlaas:cli:login')).toBe(false);
    },
    TEST_MS,
  );

  it(
    'a second Ctrl-C quits at once (exit 130) while the first is still waiting for a step that cannot be cancelled',
    async () => {
      // Creating a rule is not cancelled (whether it exists would be unknown): hold Rucio's answer to it.
      const rucio = lake.emulator.rucio;
      const original = rucio.handle;
      let arrived!: () => void;
      const posted = new Promise<void>((resolve) => (arrived = resolve));
      let answer!: () => void;
      const held = new Promise<void>((resolve) => (answer = resolve));
      rucio.handle = async (request: Request) => {
        if (request.method === 'POST' && new URL(request.url).pathname.replace(/\/+$/, '') === '/rules') {
          arrived();
          await held;
          return new Response('held by the test', { status: 503 });
        }
        return original.call(rucio, request);
      };
      try {
        const p = pty(['rule', 'add', `${SCOPE}:${DATASET}`, '--rse', 'DESY-DCACHE', '--wait']);
        await within(posted, 'the POST of the rule');
        p.ctrlC();
        await p.waitFor(/stopping… \(press Ctrl-C again to quit at once\)/);
        p.ctrlC();
        const r = await p.done;
        expect(r.code, r.output).toBe(130);
        expect(r.output).not.toContain('dlaas: interrupted'); // it did not wait to say what is left
      } finally {
        answer();
        rucio.handle = original;
      }
    },
    TEST_MS,
  );
});

describe('login --timeout', () => {
  it('nobody approves: "timed out", exit 4 (as JSON too)', async () => {
    const home = mkdtempSync(join(work, 'home-'));
    const text = await runNode([bin, 'login', '--timeout', '1'], { env: { ...lake.env(), HOME: home }, cwd: work });
    expect(text.code, text.stderr).toBe(4);
    expect(text.stderr).toMatch(/dlaas: error: login timed out after 1 s: the code was not approved in time; not logged in/);
    const json = await runNode([bin, '--json', 'login', '--timeout', '1'], { env: { ...lake.env(), HOME: home }, cwd: work });
    expect(json.code).toBe(4);
    expect(JSON.parse(json.stderr.split('\n').filter(Boolean).at(-1)!)).toMatchObject({ error: { code: 'TIMEOUT', exit: 4 } });
  });
});

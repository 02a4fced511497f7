/**
 * What failed, said plainly (issue #16, item 1): a request that got no answer names the host and the
 * cause — refused, DNS, TLS to a plain-HTTP port, timeout — in real loopback situations; Rucio
 * errors name what they are about (the existing rule of a DuplicateRule, the RSE expression), and
 * an unknown DID is "operation failed" (exit 1), not a remote failure.
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireBuild, root, runNode, type Finished } from '../examples/helpers.ts';

const bin = join(root, 'dist', 'cli.js');
let work: string;

beforeAll(() => {
  requireBuild();
  work = mkdtempSync(join(tmpdir(), 'dlaas-cli-errors-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function dlaas(args: string[], env: Record<string, string>): Promise<Finished> {
  return runNode([bin, ...args], { env: { HOME: work, RUCIO_ACCESS_TOKEN: 'not-a-real-token', RUCIO_ACCOUNT: 'jdoe', ...env }, cwd: work });
}

const listen = <S extends Server | TcpServer>(s: S): Promise<number> =>
  new Promise((res) => s.listen(0, '127.0.0.1', () => res((s.address() as { port: number }).port)));
const close = (s: Server | TcpServer): Promise<void> => new Promise((res) => s.close(() => res()));

describe('a request that got no answer names the host and why (exit 5)', () => {
  it('refused: nothing listens on the port', async () => {
    const s = createTcpServer();
    const port = await listen(s);
    await close(s); // now closed: connections are refused
    const r = await dlaas(['whoami'], { RUCIO_BASE_URL: `http://127.0.0.1:${port}` });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`dlaas: error: rucio GET /accounts/whoami: connection to 127.0.0.1:${port} refused (nothing listens there)`);
    const j = await dlaas(['whoami', '--json'], { RUCIO_BASE_URL: `http://127.0.0.1:${port}` });
    expect(j.code).toBe(5);
    expect(JSON.parse(j.stderr)).toMatchObject({ error: { code: 'DLAAS_CONNECTION', exit: 5, message: expect.stringContaining(`connection to 127.0.0.1:${port} refused`) } });
  });

  it('DNS: the host name does not resolve', async () => {
    const r = await dlaas(['whoami'], { RUCIO_BASE_URL: 'https://nonexistent.invalid' });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/rucio GET \/accounts\/whoami: cannot resolve host name nonexistent\.invalid \(DNS/);
  });

  it('TLS: https:// to a plain-HTTP port', async () => {
    const s = createHttpServer((_req, res) => res.end('{}'));
    const port = await listen(s);
    try {
      const r = await dlaas(['whoami'], { RUCIO_BASE_URL: `https://127.0.0.1:${port}` });
      expect(r.code).toBe(5);
      expect(r.stderr).toContain(`rucio GET /accounts/whoami: TLS handshake with 127.0.0.1:${port} failed: it does not speak TLS there (a plain-HTTP port? then use http://)`);
    } finally {
      s.closeAllConnections();
      await close(s);
    }
  });

  it('timeout: a server that accepts and never answers, with --http-timeout 1', async () => {
    const sockets = new Set<Socket>();
    const s = createTcpServer((sock) => void sockets.add(sock)); // reads nothing, answers nothing
    const port = await listen(s);
    try {
      const r = await dlaas(['whoami', '--http-timeout', '1'], { RUCIO_BASE_URL: `http://127.0.0.1:${port}` });
      expect(r.code).toBe(5);
      expect(r.stderr).toContain(`rucio GET /accounts/whoami: 127.0.0.1:${port} did not answer within 1000 ms (timed out)`);
      const bad = await dlaas(['whoami', '--http-timeout', 'soon'], { RUCIO_BASE_URL: `http://127.0.0.1:${port}` });
      expect(bad.code).toBe(3);
      expect(bad.stderr).toContain('--http-timeout / DLAAS_HTTP_TIMEOUT must be a number of seconds > 0');
    } finally {
      for (const sock of sockets) sock.destroy();
      await close(s);
    }
  });
});

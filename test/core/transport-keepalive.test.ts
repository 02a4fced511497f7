// A request that is never retried (a POST) must not go out on a keep-alive connection the server has
// already closed. Node's fetch (undici) learns that a pooled connection is gone only when its event
// loop runs: after the loop was blocked (seconds of synchronous work, a busy machine) past the
// server's keep-alive timeout, a request sent right away went on the dead connection and failed with
// `ECONNRESET` / "other side closed" (issue #17: `npm run bench` after seeding 1 GiB). Neither test
// depends on how fast the machine is: the loop is blocked with Atomics.wait, for a fixed time or until
// another thread says the server closed the connection.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { Transport } from '../../src/index.js';

/** Block this thread's event loop (no timer, no I/O callback runs) for `ms`, or until `flag[0]` is set. */
function block(ms: number, flag = new Int32Array(new SharedArrayBuffer(4))): boolean {
  return Atomics.wait(flag, 0, 0, ms) !== 'timed-out';
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

describe('Transport: a stale keep-alive connection', () => {
  it('sends a POST after the event loop was blocked past the server’s keep-alive timeout (the server in this process, its idle timer overdue)', async () => {
    let requests = 0;
    let connections = 0;
    const server: Server = createServer((req, res) => {
      requests++;
      req.resume();
      req.on('end', () => res.writeHead(201, { 'Content-Type': 'application/json' }).end('{}'));
    });
    server.on('connection', () => connections++);
    // The emulator's server is node:http with Node's defaults (5 s, plus 1 s of buffer); 3 s here (with
    // less, its `Keep-Alive: timeout=N` hint makes undici keep nothing), same mechanism.
    server.keepAliveTimeout = 3000;
    (server as Server & { keepAliveTimeoutBuffer?: number }).keepAliveTimeoutBuffer = 0;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
    const t = new Transport({ service: 'rucio', baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, auth: { token: 'tok', header: 'X-Rucio-Auth-Token' } });

    // The bench's sequence: two POSTs (a dataset and its files), seconds of seeding, the next POST.
    await t.json({ method: 'POST', path: 'dids/bench/one', json: {} });
    await t.json({ method: 'POST', path: 'dids/bench/one/dids', json: {} });
    const before = connections;
    // Seeding in the same process: the server's idle timers fall due during the block and run after it.
    block(3100);
    await expect(t.json({ method: 'POST', path: 'dids/bench/many', json: {} })).resolves.toEqual({});
    expect(requests).toBe(3);
    expect(connections).toBe(before + 1); // the third POST went on a new connection
  });

  it('sends a POST after the server closed the idle connection while this thread was blocked (its FIN already received, not yet read)', async () => {
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads');
      const { createServer } = require('node:http');
      const flag = new Int32Array(workerData.flag);
      const sockets = new Set();
      let requests = 0, connections = 0;
      const server = createServer((req, res) => {
        requests++;
        req.resume();
        req.on('end', () => res.writeHead(201, { 'Content-Type': 'application/json' }).end('{}'));
      });
      server.on('connection', (s) => { connections++; sockets.add(s); s.on('close', () => sockets.delete(s)); });
      server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
      parentPort.on('message', (m) => {
        if (m === 'close idle') {
          // What a server's keep-alive timeout does; the flag is set once the sockets are closed.
          let left = sockets.size;
          const done = () => { Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); };
          for (const s of sockets) s.once('close', () => --left === 0 && done());
          if (left === 0) done();
          server.closeIdleConnections();
        } else if (m === 'stats') parentPort.postMessage({ requests, connections });
      });
      `,
      { eval: true, workerData: { flag: flag.buffer } },
    );
    cleanup.push(() => worker.terminate());
    const [{ port }] = (await once(worker, 'message')) as [{ port: number }];
    const t = new Transport({ service: 'rucio', baseUrl: `http://127.0.0.1:${port}/`, auth: { token: 'tok', header: 'X-Rucio-Auth-Token' } });

    await t.json({ method: 'POST', path: 'dids/bench/one', json: {} });
    await t.json({ method: 'POST', path: 'dids/bench/one/dids', json: {} });
    worker.postMessage('stats');
    const [{ connections }] = (await once(worker, 'message')) as [{ connections: number }];
    worker.postMessage('close idle');
    expect(block(60_000, flag)).toBe(true); // blocked until the server's side of the connection is closed
    await expect(t.json({ method: 'POST', path: 'dids/bench/many', json: {} })).resolves.toEqual({});
    worker.postMessage('stats');
    const [stats] = (await once(worker, 'message')) as [{ requests: number; connections: number }];
    expect(stats).toEqual({ requests: 3, connections: connections + 1 });
  });
});

// A wide-area link on loopback, for benchmarks: a TCP proxy (node:net) that caps each connection at
// RATE bytes/s in each direction (a token bucket per connection and direction) and delays every byte
// by DELAY ms in each direction (so DELAY × 2 of round-trip time is added). This kernel has no netem;
// the proxy stands in for it.
//
// - Delay is done by buffering with timestamps: each chunk read is queued with the time it may leave
//   (arrival + DELAY), and a per-direction pump sends what is due, as fast as the token bucket allows.
//   Reading goes on while earlier chunks wait, so the delay adds latency, not a stop-and-go.
// - Memory is bounded: a direction stops reading its source when HIGH_WATER bytes are queued (and
//   resumes below half of it), and waits for 'drain' when its destination is full. Nothing reads a
//   whole stream into memory.
// - The proxy terminates TCP, so handshakes are local; to charge a new connection the round trip its
//   handshake costs on a real link, the client's first bytes leave no earlier than 2 × DELAY after
//   the accept (then DELAY more, as every byte).
// - Half-closes are forwarded (after the queued data), resets and errors tear down both sides.
//
//   import { startWanProxy } from './wan-proxy.mjs';
//   const wan = await startWanProxy({ upstreamHost: 'localhost', upstreamPort: 8443 });
//   // … http://127.0.0.1:${wan.port}/… …
//   wan.stats; // { connections, open, maxOpen, bytesDown, bytesUp }
//   await wan.close();
//
// Check it by itself (prints what one curl gets through it, and the added round-trip time):
//   npx node bench/wan-proxy.mjs --check [--rate 60e6] [--delay 15] [--mib 256]
// Run it in front of a server:
//   npx node bench/wan-proxy.mjs HOST:PORT [--rate 60e6] [--delay 15] [--port 0]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import net from 'node:net';

const HIGH_WATER = 4 << 20;
const MIN_SEND = 16 << 10;

/**
 * Start the proxy on 127.0.0.1.
 * @param {{ upstreamHost: string, upstreamPort: number, rate?: number, delayMs?: number, burstMs?: number, port?: number, handshakeRtt?: boolean }} o
 */
export async function startWanProxy(o) {
  const rate = o.rate ?? 60e6; // bytes/s per connection, per direction
  const delayMs = o.delayMs ?? 15;
  // The bucket holds BURST_MS of tokens: a pump that runs late (a busy machine) still sends its due
  // bytes, so the link's rate does not depend on CPU load; over any window T at most rate × (T + BURST_MS).
  const burst = Math.max(64 << 10, Math.round((rate * (o.burstMs ?? 20)) / 1000));
  const stats = { connections: 0, open: 0, maxOpen: 0, bytesDown: 0, bytesUp: 0 };
  const sockets = new Set();

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const accepted = performance.now();
    stats.connections++;
    stats.maxOpen = Math.max(stats.maxOpen, ++stats.open);
    const upstream = net.connect({ host: o.upstreamHost, port: o.upstreamPort, allowHalfOpen: true, noDelay: true });
    sockets.add(client).add(upstream);
    let closed = 0;
    const teardown = () => {
      client.destroy();
      upstream.destroy();
    };
    const onClose = (s) => () => {
      sockets.delete(s);
      if (++closed === 2) stats.open--;
    };
    client.on('close', onClose(client));
    upstream.on('close', onClose(upstream));
    client.on('error', teardown);
    upstream.on('error', teardown);
    const notBefore = o.handshakeRtt === false ? 0 : accepted + 2 * delayMs;
    const up = shape(client, upstream, { rate, delayMs, burst, notBefore, count: (n) => (stats.bytesUp += n) });
    const down = shape(upstream, client, { rate, delayMs, burst, notBefore: 0, count: (n) => (stats.bytesDown += n) });
    // A side gone without a clean end: nothing more can be delivered to it.
    client.on('close', () => up.stop() || down.drop());
    upstream.on('close', () => down.stop() || up.drop());
  });
  server.listen(o.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: server.address().port,
    rate,
    delayMs,
    stats,
    resetStats() {
      Object.assign(stats, { connections: 0, maxOpen: stats.open, bytesDown: 0, bytesUp: 0 });
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/**
 * One direction: read `src`, queue chunks with the time each may leave, write them to `dst` when due
 * and within the token bucket. Returns `stop()` (the source is gone: flush what is queued, then end)
 * and `drop()` (the destination is gone: forget the queue, stop reading).
 */
function shape(src, dst, { rate, delayMs, burst, notBefore, count }) {
  const queue = []; // { buf, off, due } or { end: true, due }
  let queued = 0;
  let tokens = burst;
  let last = performance.now();
  let timer;
  let waitingDrain = false;
  let paused = false;
  let ended = false;
  let dropped = false;

  const at = (t) => {
    if (timer) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        pump();
      },
      Math.max(1, t - performance.now()),
    );
  };
  const pump = () => {
    if (dropped || waitingDrain) return;
    const now = performance.now();
    tokens = Math.min(burst, tokens + ((now - last) * rate) / 1000);
    last = now;
    while (queue.length) {
      const head = queue[0];
      if (head.due > now) return at(head.due);
      if (head.end) {
        queue.shift();
        if (!dst.destroyed) dst.end();
        return;
      }
      const left = head.buf.length - head.off;
      if (tokens < Math.min(left, MIN_SEND)) return at(now + ((Math.min(left, MIN_SEND) - tokens) * 1000) / rate);
      const n = Math.min(left, Math.floor(tokens));
      const slice = head.buf.subarray(head.off, head.off + n);
      head.off += n;
      if (head.off === head.buf.length) queue.shift();
      tokens -= n;
      queued -= n;
      count(n);
      if (paused && queued < HIGH_WATER / 2) {
        paused = false;
        src.resume();
      }
      if (dst.destroyed) return;
      if (!dst.write(slice)) {
        waitingDrain = true;
        dst.once('drain', () => {
          waitingDrain = false;
          pump();
        });
        return;
      }
    }
  };
  src.on('data', (buf) => {
    queue.push({ buf, off: 0, due: Math.max(performance.now(), notBefore) + delayMs });
    queued += buf.length;
    if (queued >= HIGH_WATER && !paused) {
      paused = true;
      src.pause();
    }
    if (queue.length === 1) pump();
  });
  src.on('end', () => {
    ended = true;
    queue.push({ end: true, due: Math.max(performance.now(), notBefore) + delayMs });
    if (queue.length === 1) pump();
  });
  return {
    /** The source closed: if it ended cleanly the queue flushes and ends `dst`; else tear `dst` down. */
    stop() {
      if (!ended) dst.destroy();
      return false;
    },
    /** The destination closed: drop everything queued for it. */
    drop() {
      dropped = true;
      queue.length = 0;
      clearTimeout(timer);
      if (!src.destroyed && !ended) src.destroy();
    },
  };
}

/** Run curl; resolve its stdout. */
async function curl(args) {
  const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`curl exited with ${code}`);
  return out;
}

/**
 * Check the proxy by itself: a local HTTP server sends `bytes` (and a 1-byte answer); one curl fetches
 * them directly and through the proxy. Returns the throughput through the proxy (MB/s) and the time to
 * first byte added on a new connection and on a reused one (ms).
 */
export async function checkWanProxy({ rate = 60e6, delayMs = 15, bytes = 256 << 20 } = {}) {
  const block = Buffer.alloc(1 << 20, 0x5a);
  const server = createHttpServer((req, res) => {
    if (req.url === '/tiny') return res.end('x');
    res.writeHead(200, { 'content-length': bytes });
    let sent = 0;
    const more = () => {
      while (sent < bytes) {
        const n = Math.min(block.length, bytes - sent);
        sent += n;
        if (!res.write(n === block.length ? block : block.subarray(0, n))) return res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = server.address().port;
  const wan = await startWanProxy({ upstreamHost: '127.0.0.1', upstreamPort: port, rate, delayMs });
  try {
    const fmt = '%{time_starttransfer} %{speed_download}\\n';
    const ttfb = async (p) => (await curl(['-s', '-o', '/dev/null', '-o', '/dev/null', '-w', fmt, `http://127.0.0.1:${p}/tiny`, `http://127.0.0.1:${p}/tiny`])).trim().split('\n').map((l) => Number(l.split(' ')[0]) * 1000);
    const [directNew, directReused] = await ttfb(port);
    const [wanNew, wanReused] = await ttfb(wan.port);
    const [, speed] = (await curl(['-s', '-o', '/dev/null', '-w', fmt, `http://127.0.0.1:${wan.port}/big`])).trim().split(' ').map(Number);
    return { mbs: speed / 1e6, addedNewMs: wanNew - directNew, addedReusedMs: wanReused - directReused, stats: { ...wan.stats } };
  } finally {
    await wan.close();
    server.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const rate = opt('--rate', 60e6);
  const delayMs = opt('--delay', 15);
  if (args.includes('--check')) {
    const r = await checkWanProxy({ rate, delayMs, bytes: opt('--mib', 256) * 2 ** 20 });
    console.log(`one curl through the proxy: ${r.mbs.toFixed(1)} MB/s (cap ${(rate / 1e6).toFixed(0)} MB/s)`);
    console.log(`time to first byte added: ${r.addedReusedMs.toFixed(1)} ms on a reused connection (${2 * delayMs} ms RTT), ${r.addedNewMs.toFixed(1)} ms on a new one (+ a handshake RTT)`);
  } else {
    const [host, port] = (args.find((a) => a.includes(':')) ?? '').split(/:(?=\d+$)/);
    if (!host || !port) {
      console.error('usage: wan-proxy.mjs HOST:PORT [--rate BYTES_PER_S] [--delay MS] [--port PORT] | --check');
      process.exit(2);
    }
    const wan = await startWanProxy({ upstreamHost: host, upstreamPort: Number(port), rate, delayMs, port: opt('--port', 0) });
    console.log(`wan proxy on 127.0.0.1:${wan.port} → ${host}:${port}, ${(rate / 1e6).toFixed(0)} MB/s per connection, ${delayMs} ms each way`);
  }
}

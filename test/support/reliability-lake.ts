/**
 * The emulated Data Lake (Rucio + ESAP + storage) behind the fault proxy, over real loopback TCP:
 *
 *   SDK ──HTTP──▶ fault proxy (127.0.0.1:P) ──HTTP──▶ emulator server (127.0.0.1:U)
 *
 * The emulator is built with the proxy's URL as its base, so every URL it hands out (PFNs of the
 * storage elements, redirects) leads through the proxy too.
 *
 * Tokens: {@link fakeTokenProvider} issues recognisable fake tokens (`…DLAASFAKETOKEN…`) that the
 * emulator accepts everywhere (Rucio, ESAP, storage), so the secret scan can look for them.
 */
import { RefreshingTokenProvider } from '../../src/auth/index.js';
import { createDataLakeEmulator, type DataLakeEmulator } from '../../src/testing.js';
import { serveFetch, type FetchServer } from '../../src/testing/http-server.js';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

/** The mark every fake token carries (the secret scan looks for it). */
export const TOKEN_MARK = 'DLAASFAKETOKEN';
/** The fake password used by the userpass scenarios. */
export const FAKE_PASSWORD = 'pw-DLAASFAKEPASSWORD-correct-horse-battery';

export interface ProxiedLake {
  proxy: FaultProxy;
  emu: DataLakeEmulator;
  upstream: FetchServer;
  /** The proxy's URL: give it to the SDK. */
  url: string;
  close(): Promise<void>;
}

/** Start the emulated Data Lake behind a fault proxy. */
export async function startProxiedLake(options: { rses?: readonly string[]; now?: () => Date; transferDelayMs?: number; logLimit?: number } = {}): Promise<ProxiedLake> {
  const proxy = await startFaultProxy(options.logLimit !== undefined ? { logLimit: options.logLimit } : {});
  const emu = await createDataLakeEmulator({
    serve: 'fetch',
    baseUrl: proxy.url,
    ...(options.rses ? { rses: options.rses } : {}),
    rucio: { ...(options.now ? { now: options.now } : {}), ...(options.transferDelayMs !== undefined ? { transferDelayMs: options.transferDelayMs } : {}) },
  });
  const upstream = await serveFetch((request) => emu.fetch(request));
  proxy.setUpstream(upstream.url);
  return {
    proxy,
    emu,
    upstream,
    url: proxy.url,
    async close() {
      await proxy.close();
      await upstream.close();
      await emu.close();
    },
  };
}

interface TokenStore {
  tokens: Map<string, { token: string; account: string; identity: string; expiresAt: Date }>;
  now(): Date;
}

/** The emulator's token table (not part of its public interface). */
function tokenTable(emu: DataLakeEmulator): TokenStore {
  return (emu.rucio as unknown as { store: TokenStore }).store;
}

let serial = 0;

/** Register a recognisable token for `account` in the emulator (valid `lifetimeMs`). */
export function issueFakeToken(emu: DataLakeEmulator, account: string, lifetimeMs = 3_600_000): string {
  const store = tokenTable(emu);
  // Three dot-separated parts (storage takes JWT-shaped bearer tokens only), but not `eyJ…`: the SDK's
  // JWT pattern does not recognise it, so only its secret registry can keep it out of errors.
  const rnd = () => Math.random().toString(36).slice(2, 10);
  const token = `${account}-${TOKEN_MARK}-${process.pid}-${++serial}.${rnd()}${rnd()}.${rnd()}${rnd()}`;
  store.tokens.set(token, { token, account, identity: account, expiresAt: new Date(store.now().getTime() + lifetimeMs) });
  return token;
}

/** Make the emulator accept a given token string for `account`. */
export function registerToken(emu: DataLakeEmulator, token: string, account: string, lifetimeMs = 3_600_000): void {
  const store = tokenTable(emu);
  store.tokens.set(token, { token, account, identity: account, expiresAt: new Date(store.now().getTime() + lifetimeMs) });
}

/** Make a token invalid on the server (expired there), without the client knowing. */
export function expireOnServer(emu: DataLakeEmulator, token: string): void {
  const rec = tokenTable(emu).tokens.get(token);
  if (rec) rec.expiresAt = new Date(0);
}

/** A refreshing provider issuing fake tokens; `loads` counts refreshes. */
export function fakeTokenProvider(emu: DataLakeEmulator, account: string, o: { lifetimeMs?: number; now?: () => number; delayMs?: number } = {}) {
  const issued: string[] = [];
  const provider = new RefreshingTokenProvider({
    now: o.now,
    skew: 0,
    load: async () => {
      if (o.delayMs) await new Promise((r) => setTimeout(r, o.delayMs));
      const lifetime = o.lifetimeMs ?? 3_600_000;
      const token = issueFakeToken(emu, account, lifetime);
      issued.push(token);
      return { token, expiresAt: new Date((o.now ?? Date.now)() + lifetime) };
    },
  });
  return {
    provider,
    issued,
    get loads() {
      return issued.length;
    },
  };
}

/** Deterministic pseudo-random bytes. */
export function noise(n: number, seed = 7): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) b[i] = (x = (x * 1664525 + 1013904223) >>> 0) >>> 24;
  return b;
}

/**
 * Test helpers of the auth suites: secret-leak checks on errors and console output, a fake
 * clock, JWT minting with jose, a loopback JWKS server.
 */
import { createServer, type Server } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair, type JWK, type JWTPayload } from 'jose';
import { expect } from 'vitest';
import { closeServer, listen } from './op.js';

/** Every text an error exposes: message, stack, JSON form, own properties (enumerable or not), causes. */
export function exposedText(error: unknown, depth = 0): string {
  if (depth > 5 || error === undefined || error === null) return '';
  if (typeof error !== 'object') return String(error);
  const parts: string[] = [];
  try {
    parts.push(JSON.stringify(error));
  } catch {
    /* circular */
  }
  for (const key of Object.getOwnPropertyNames(error)) {
    const v = (error as Record<string, unknown>)[key];
    if (key === 'cause') parts.push(exposedText(v, depth + 1));
    else if (typeof v === 'string') parts.push(v);
    else if (v && typeof v === 'object' && !(v instanceof Response)) {
      try {
        parts.push(JSON.stringify(v));
      } catch {
        /* ignore */
      }
    }
  }
  if (error instanceof Error) parts.push(error.message, error.stack ?? '', String(error));
  return parts.join('\n');
}

/** Assert that none of `secrets` appears anywhere in what `error` exposes. */
export function expectNoSecrets(error: unknown, secrets: readonly (string | undefined)[]): void {
  const text = exposedText(error);
  for (const s of secrets) if (s && s.length >= 6) expect(text.includes(s), `secret leaked: …${s.slice(-6)}`).toBe(false);
}

/** Capture the error of a promise (fails the test if it resolves). */
export async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

/** Record everything written to the console while `fn` runs. */
export async function captureConsole<T>(fn: () => Promise<T>): Promise<{ result: T; output: string }> {
  const lines: string[] = [];
  const saved = { log: console.log, warn: console.warn, error: console.error, info: console.info, debug: console.debug };
  const record = (...args: unknown[]) => void lines.push(args.map((a) => (a instanceof Error ? `${a.message}\n${a.stack}` : typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  Object.assign(console, { log: record, warn: record, error: record, info: record, debug: record });
  try {
    const result = await fn();
    return { result, output: lines.join('\n') };
  } finally {
    Object.assign(console, saved);
  }
}

/** A manually advanced clock (ms). */
export function fakeClock(start = Date.now()) {
  let t = start;
  return {
    now: () => t,
    date: () => new Date(t),
    advance: (ms: number) => void (t += ms),
  };
}

/** A signing key with its public JWK. */
export interface TestKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

/** Generate an RS256 signing key. */
export async function makeKey(kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/** Sign a JWT access token with `key` (defaults: 10 minutes, audience rucio, scope openid profile). */
export async function mint(key: TestKey, claims: Record<string, unknown> & { iss: string }, options: { expiresIn?: number; notBefore?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = { sub: 'alice', aud: 'rucio', scope: 'openid profile', iat: now, exp: now + (options.expiresIn ?? 600), ...claims };
  if (options.notBefore !== undefined) payload.nbf = now + options.notBefore;
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' }).sign(key.privateKey);
}

/** A loopback server publishing a JWKS that the test can change (key rotation). */
export async function startJwksServer(keys: JWK[]): Promise<{ url: string; setKeys(k: JWK[]): void; hits(): number; close(): Promise<void> }> {
  let current = keys;
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: current }));
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/jwks`,
    setKeys: (k) => void (current = k),
    hits: () => hits,
    close: () => closeServer(server),
  };
}

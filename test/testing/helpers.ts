/**
 * Shared setup for the emulator tests: the recording's world (accounts, scopes, RSEs with the
 * recorded ids and protocols, clock frozen at the recording time) and the parsed transcript.
 */
import { readFileSync } from 'node:fs';
import { createRucioEmulator, type RucioEmulator, type RucioEmulatorOptions } from '../../src/testing.js';

/** One recorded exchange of `test/fixtures/rucio-wire.json`. */
export interface WireCall {
  n: number;
  title: string;
  request: { method: string; target: string; headers: [string, string][]; body: string | null };
  response: { status: number; reason: string; headers: [string, string][]; body: string; bodyBytes: number; bodyBytesShown?: number };
}

/** All 89 recorded calls, by number. */
export const WIRE: ReadonlyMap<number, WireCall> = new Map(
  (JSON.parse(readFileSync(new URL('../fixtures/rucio-wire.json', import.meta.url), 'utf8')) as WireCall[]).map((c) => [c.n, c]),
);

/** The recorded server's clock: every timestamp of the recording is this second. */
export const RECORDED_NOW = new Date('2026-11-25T09:10:10Z');

/** RSE ids of the recording. */
export const RSE_IDS = { SITE_A: '018169b14a2d4f2fbe09c9b0f5bcb263', SITE_B: '66fdf59b1dba4a41930cf8ef02685b6c', SITE_ND: 'c1b90831f483456bba1a06d3ad3b0730' };

const DOMAINS = { lan: { read: 1, write: 1, delete: 1 }, wan: { read: 1, write: 1, delete: 1, third_party_copy_read: 1, third_party_copy_write: 1 } };

/** Create the RSEs of the recording (calls 16–21) on an emulator. */
export function addRecordedRses(rucio: RucioEmulator): void {
  rucio.addRse('SITE_A', { id: RSE_IDS.SITE_A, protocols: [{ scheme: 'file', hostname: 'localhost', port: 0, prefix: '/rucio/SITE_A/', impl: 'rucio.rse.protocols.posix.Default', domains: DOMAINS }] });
  rucio.addRse('SITE_B', { id: RSE_IDS.SITE_B, protocols: [{ scheme: 'davs', hostname: 'storage-b.example.org', port: 443, prefix: '/rucio/site_b/', domains: DOMAINS }] });
  rucio.addRse('SITE_ND', { id: RSE_IDS.SITE_ND, deterministic: false, protocols: [{ scheme: 'https', hostname: 'storage-nd.example.org', port: 443, prefix: '/nd/', domains: DOMAINS }] });
}

/** An emulator in the state of the recording after its setup calls (8–21, 28–31). */
export function recordedWorld(options: RucioEmulatorOptions = {}): RucioEmulator {
  const rucio = createRucioEmulator({ now: () => RECORDED_NOW, ...options });
  rucio.addAccount('alice', { type: 'USER', email: 'alice@example.org', password: 'alicepw' });
  rucio.addScope('test', 'root');
  rucio.addScope('user.alice', 'alice');
  addRecordedRses(rucio);
  return rucio;
}

/** A small world for behaviour tests: root, alice, scope `test`, two davs RSEs. */
export function smallWorld(options: RucioEmulatorOptions = {}): { rucio: RucioEmulator; root: string; alice: string } {
  const rucio = createRucioEmulator(options);
  rucio.addAccount('alice', { password: 'alicepw' });
  rucio.addScope('test', 'root');
  rucio.addScope('user.alice', 'alice');
  for (const [name, host] of [['SITE_A', 'a.example.org'], ['SITE_B', 'b.example.org']] as const) {
    rucio.addRse(name, { attributes: { site: name.toLowerCase(), tier: name === 'SITE_A' ? 1 : 2 }, protocols: [{ scheme: 'davs', hostname: host, port: 443, prefix: '/rucio/' }] });
  }
  return { rucio, root: rucio.issueToken('root'), alice: rucio.issueToken('alice') };
}

/** Call the emulator as `token` and read the body. */
export async function call(rucio: RucioEmulator, token: string | null, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json: () => unknown; lines: () => unknown[] }> {
  const h: Record<string, string> = { ...headers };
  if (token) h['X-Rucio-Auth-Token'] = token;
  const init: RequestInit = { method, headers: h };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await rucio.handle(new Request(`${rucio.baseUrl}${path}`, init));
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text), lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

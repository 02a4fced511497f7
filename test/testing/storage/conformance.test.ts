/**
 * Storage-element conformance: the same checks (./checks.ts) against a real XRootD 5.8.1 with
 * SciTokens (test/support/storage-element.ts) and against the emulator, over HTTP and in-process.
 * Code that passes against the emulator passes against a real XRootD storage element.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, it, onTestFailed } from 'vitest';
import { createStorageEmulator, type StorageEmulator } from '../../../src/testing/storage/index.js';
import { startStorageElement, type StorageElement } from '../../support/storage-element.js';
import { CHECKS, reset, type Target } from './checks.js';

type Kind = 'xrootd' | 'emulator (http)' | 'emulator (fetch)';

async function open(kind: Kind): Promise<{ target: Target; stop(): Promise<void>; log?: () => string }> {
  if (kind === 'xrootd') {
    const se: StorageElement = await startStorageElement();
    return {
      target: { name: kind, url: se.url, audience: se.audience, fetch: se.fetch, mintToken: se.mintToken, seed: se.seed, read: se.readBack, clear: se.clear },
      stop: se.stop,
      log: () => readFileSync(se.logFile, 'utf8').trimEnd().split('\n').slice(-40).join('\n'),
    };
  }
  const emu: StorageEmulator = createStorageEmulator();
  const url = kind === 'emulator (http)' ? await emu.listen() : emu.url;
  return {
    target: {
      name: kind,
      url,
      audience: emu.audience[0] as string,
      fetch: kind === 'emulator (http)' ? globalThis.fetch : emu.fetch,
      mintToken: emu.mintToken,
      seed: emu.put,
      read: emu.get,
      clear: emu.clear,
    },
    stop: emu.close,
  };
}

describe.each<Kind>(['xrootd', 'emulator (http)', 'emulator (fetch)'])('storage element conformance: %s', (kind) => {
  let opened: Awaited<ReturnType<typeof open>> | undefined;
  const target = () => {
    if (!opened) throw new Error(`${kind} did not start`);
    return opened.target;
  };
  // The first run on a machine builds the XRootD image (debootstrap, ~30-60 s).
  beforeAll(async () => void (opened = await open(kind)), 600_000);
  afterAll(async () => opened?.stop());
  beforeEach(() => {
    reset(target());
    // On a failure against the real XRootD, show the end of its log.
    onTestFailed(() => {
      if (opened?.log) console.error(`--- ${kind} log (last 40 lines) ---\n${opened.log()}`);
    });
  });
  for (const check of CHECKS) it(check.name, () => check.run(target()));
});

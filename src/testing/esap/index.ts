/**
 * The emulated ESAP API gateway (`esap-api/`), for tests: msw handlers, an injected `fetch`, or a
 * loopback HTTP server.
 * @module
 */
export {
  createEsapEmulator,
  type EsapEmulator,
  type EsapEmulatorOptions,
  type EsapRawStore,
  type EsapRequestLogEntry,
  type EsapSessionSeed,
  type EsapUserSeed,
  type UserinfoSource,
} from './emulator.js';
export type { UserinfoClaims } from './state.js';

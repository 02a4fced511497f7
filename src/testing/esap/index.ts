/**
 * The emulated ESAP API gateway (`esap-api/`), for tests: msw handlers, an injected `fetch`, or a
 * loopback HTTP server.
 * @module
 */
export {
  createEsapEmulator,
  type EsapEmulator,
  type EsapEmulatorOptions,
  type EsapHold,
  type EsapHoldOptions,
  type EsapRawStore,
  type EsapRequestEvent,
  type EsapRequestHook,
  type EsapRequestLogEntry,
  type EsapRequestPhase,
  type EsapSessionSeed,
  type EsapUserSeed,
  type UserinfoSource,
} from './emulator.js';
export type { UserinfoClaims } from './state.js';

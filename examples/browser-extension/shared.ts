/**
 * What the service worker, the popup and the options page share: the `chrome` API they use (typed
 * here, so the example needs no @types/chrome), the settings, and the view the worker stores for the
 * popup.
 * @module
 */

interface Area {
  get(keys: string | string[]): Promise<Record<string, unknown>>;
  set(items: Record<string, unknown>): Promise<void>;
  remove(keys: string | string[]): Promise<void>;
}

/** The parts of `chrome.*` the extension uses. */
export interface Chrome {
  storage: {
    local: Area;
    session: Area;
    onChanged: { addListener(fn: (changes: Record<string, { newValue?: unknown }>, area: string) => void): void };
  };
  runtime: {
    sendMessage(message: unknown): Promise<unknown>;
    onMessage: { addListener(fn: (message: unknown, sender: unknown, respond: (r: unknown) => void) => boolean | void): void };
    openOptionsPage(): Promise<void>;
  };
}

export const chrome = (globalThis as unknown as { chrome: Chrome }).chrome;

/** Settings (options page; `chrome.storage.local` key `config`). */
export interface Config {
  rucioUrl: string;
  esapUrl: string;
  issuer: string;
  clientId: string;
}

/** A device login in progress (`chrome.storage.session` key `prompt`). */
export interface Prompt {
  userCode: string;
  verificationUri: string;
  verificationUriComplete?: string;
  expiresAt: string;
}

/** What the popup shows (`chrome.storage.session` key `view`). */
export interface View {
  account: string;
  user: string;
  at: string;
  rows: { index: number; archive: string; label: string; did?: string; rules: { id: string; state: string; rse: string }[] }[];
}

/** Messages to the service worker. */
export type Message = { type: 'login' } | { type: 'logout' } | { type: 'refresh' } | { type: 'status' };

/** The worker's answer to `status`. */
export interface Status {
  configured: boolean;
  loggedIn: boolean;
  error?: string;
}

/**
 * @internal Waiting that an `AbortSignal` ends.
 * @module
 */
import { AbortError } from './errors.js';

/**
 * Resolve after `ms`; reject with {@link AbortError} (`message`, the signal's reason as `cause`) as
 * soon as `signal` aborts, or at once when it already has. The timer never outlives an abort.
 */
export function sleep(ms: number, signal: AbortSignal | undefined, message?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError(message, { cause: signal.reason }));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortError(message, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

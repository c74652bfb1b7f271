/**
 * Records what would otherwise escape a test as an uncaught exception: an error RxJS reports as
 * unhandled (`config.onUnhandledError`, which RxJS calls on a later job instead of throwing there),
 * and a throw out of the event loop (`process`'s `'uncaughtException'`).
 */
import { config } from 'rxjs';

export interface UncaughtRecorder {
  /** Everything caught since the last `install()`, oldest first. */
  readonly errors: unknown[];
  /** Starts recording; call in `beforeAll`/`beforeEach`. */
  install(): void;
  /** Restores the previous `onUnhandledError` and removes the listener; call in `afterAll`/`afterEach`. */
  restore(): void;
}

export function uncaughtRecorder(): UncaughtRecorder {
  const errors: unknown[] = [];
  let previous: ((error: unknown) => void) | null = null;
  let installed = false;
  function onUncaught(error: unknown): void {
    errors.push(error);
  }
  return {
    errors,
    install() {
      if (installed) return;
      installed = true;
      errors.length = 0;
      previous = config.onUnhandledError;
      config.onUnhandledError = onUncaught;
      process.on('uncaughtException', onUncaught);
    },
    restore() {
      if (!installed) return;
      installed = false;
      config.onUnhandledError = previous;
      process.off('uncaughtException', onUncaught);
    },
  };
}

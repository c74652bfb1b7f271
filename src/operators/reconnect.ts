import {
  Observable,
  Subject,
  asyncScheduler,
  takeUntil,
  type MonoTypeOperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { ClientEvent } from '../types';

/** Milliseconds before the first retry is computed (Twisted's `initialDelay = 1.0` seconds). */
export const DEFAULT_RECONNECT_INITIAL_DELAY = 1000;
/** How much the delay grows per retry: Twisted's `factor`, e. */
export const DEFAULT_RECONNECT_FACTOR = 2.7182818284590451;
/** The standard deviation of the delay, as a fraction of it (Twisted's `jitter`). */
export const DEFAULT_RECONNECT_JITTER = 0.11962656472;
/** The longest delay before jitter, in milliseconds (Twisted's `maxDelay = 3600` seconds). */
export const DEFAULT_RECONNECT_MAX_DELAY = 3600 * 1000;

/** The `type` of a {@link ClientEvent} that is not a successful connection. */
const NOT_CONNECTED: ReadonlySet<unknown> = new Set<ClientEvent['type']>([
  'connecting',
  'failed',
  'lost',
]);

/**
 * The default `resetWhen`: false for a `connecting`, `failed` or `lost` {@link ClientEvent}, true
 * for anything else, so `connected` resets and so does every value of {@link connect}, which emits
 * only on success.
 */
function isConnected(value: unknown): boolean {
  return !(
    typeof value === 'object' &&
    value !== null &&
    NOT_CONNECTED.has((value as { type?: unknown }).type)
  );
}

/** Options of {@link reconnect}; every default is Twisted's `ReconnectingClientFactory`'s. */
export interface ReconnectConfig<T> {
  /** Milliseconds. @defaultValue {@link DEFAULT_RECONNECT_INITIAL_DELAY} */
  readonly initialDelay?: number;
  /** @defaultValue {@link DEFAULT_RECONNECT_FACTOR} */
  readonly factor?: number;
  /** `0` makes the delays exact. @defaultValue {@link DEFAULT_RECONNECT_JITTER} */
  readonly jitter?: number;
  /** Milliseconds. @defaultValue {@link DEFAULT_RECONNECT_MAX_DELAY} */
  readonly maxDelay?: number;
  /** Retries in a row after which the output gives up. @defaultValue `Infinity` */
  readonly maxRetries?: number;
  /**
   * Which values mean "connected": they reset the delay and the retry count (Twisted's
   * `resetDelay()`). @defaultValue a `connected` {@link ClientEvent}, and any value that is not a
   * `ClientEvent` (such as the `Connection` that {@link connect} emits); a `connecting`, `failed`
   * or `lost` event (an object whose `type` is one of those) never resets
   */
  readonly resetWhen?: (value: T) => boolean;
  /** Where the retry timers run. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
  /** Uniform numbers in [0, 1) for the jitter. @defaultValue `Math.random` */
  readonly random?: () => number;
}

/**
 * Resubscribes to the source after it fails or completes, with Twisted's exponential backoff.
 *
 * ```text
 * source:                                                -a-#     a=connection, then lost
 * reconnect({ initialDelay: 1, factor: 2, jitter: 0 }):  -a----a----a-
 *
 * refused:                                               cf|      c=connecting  f=failed
 * reconnect({ ...same, maxRetries: 2 }):                 cf--cf----cf|
 * ```
 *
 * Pipe it after {@link connect} or {@link connectEvents}: each subscription is one connection
 * attempt, so a failed attempt (an error from `connect`, a `failed` event then completion from
 * `connectEvents`) and a closed connection (completion) both lead to a new attempt, as
 * `clientConnectionFailed` and `clientConnectionLost` call `retry()` in Twisted. Before each retry
 * the delay becomes `min(delay * factor, maxDelay)`, then, with jitter, a normal variate
 * with that mean and `delay * jitter` as standard deviation (Python's `normalvariate`, drawing from
 * `random`); the jittered delay is what the next retry grows from, as in Twisted. A value for which
 * `resetWhen` is true resets the delay to `initialDelay` and the retry count to 0, so after a
 * successful connection the first retry waits `initialDelay * factor`.
 *
 * Only a successful connection resets, as Twisted's documented client calls `resetDelay()` in
 * `buildProtocol` and nowhere else. By default that is a `connected` {@link ClientEvent}, or a
 * value that is not a `ClientEvent` at all, such as the `Connection` that {@link connect} emits
 * (only on success); `connecting`, `failed` and `lost` events never reset, so after
 * {@link connectEvents} against a refused port the delays still grow and `maxRetries` still ends
 * the output. A `resetWhen` of your own replaces this rule.
 *
 * After `maxRetries` retries in a row, the output ends the way the last attempt did: it fails with
 * its error, or completes. Timers run on `scheduler`, so a `TestScheduler` tests it in virtual
 * time. Unsubscribing cancels a pending retry and the current attempt.
 *
 * ## Example
 * ```ts
 * import { connect, reconnect } from 'rxnet';
 *
 * connect('tcp:localhost:8007')
 *   .pipe(reconnect({ maxRetries: 10 }))
 *   .subscribe((connection) => connection.write('hello again\r\n'));
 * ```
 *
 * @param config Delays, jitter, the retry limit, what counts as connected, the scheduler and the
 * random source.
 * @returns A function that returns an Observable of the values of every attempt.
 * @throws TypeError at call time when a delay is negative, `factor` is below 1, or `jitter` or
 * `maxRetries` is negative.
 * @see {@link connectEvents}
 */
export function reconnect<T>(config: ReconnectConfig<T> = {}): MonoTypeOperatorFunction<T> {
  const {
    initialDelay = DEFAULT_RECONNECT_INITIAL_DELAY,
    factor = DEFAULT_RECONNECT_FACTOR,
    jitter = DEFAULT_RECONNECT_JITTER,
    maxDelay = DEFAULT_RECONNECT_MAX_DELAY,
    maxRetries = Infinity,
    resetWhen,
    scheduler = asyncScheduler,
    random = Math.random,
  } = config;
  if (!(initialDelay >= 0) || !(maxDelay >= 0)) {
    throw new TypeError(
      `reconnect: delays must be at least 0, got ${initialDelay} and ${maxDelay}`,
    );
  }
  if (!(factor >= 1) || !(jitter >= 0) || !(maxRetries >= 0)) {
    throw new TypeError('reconnect: factor must be at least 1, jitter and maxRetries at least 0');
  }
  return (source) =>
    new Observable<T>((subscriber) => {
      let delay = initialDelay;
      let retries = 0;
      let attempt: Subscription | undefined;
      let timer: Subscription | undefined;
      let stopped = false;
      // Stops a synchronous source mid-emission, before its subscribe() has returned a Subscription.
      const stop = new Subject<void>();

      function retry(giveUp: () => void): void {
        if (stopped) {
          return;
        }
        retries += 1;
        if (retries > maxRetries) {
          giveUp();
          return;
        }
        delay = Math.min(delay * factor, maxDelay);
        if (jitter > 0) {
          delay = normalVariate(delay, delay * jitter, random);
        }
        timer = scheduler.schedule(subscribeToSource, Math.max(0, delay));
      }

      function subscribeToSource(): void {
        timer = undefined;
        attempt = source.pipe(takeUntil(stop)).subscribe({
          next(value) {
            let reset: boolean;
            try {
              reset = resetWhen === undefined ? isConnected(value) : resetWhen(value);
            } catch (error: unknown) {
              subscriber.error(error);
              return;
            }
            if (reset) {
              delay = initialDelay;
              retries = 0;
            }
            subscriber.next(value);
          },
          error: (error: unknown) => retry(() => subscriber.error(error)),
          complete: () => retry(() => subscriber.complete()),
        });
      }

      // Registered before the first attempt, so an unsubscribe during a synchronous one stops it.
      subscriber.add(() => {
        stopped = true;
        timer?.unsubscribe();
        stop.next();
        attempt?.unsubscribe();
      });
      subscribeToSource();
    });
}

/** Four times e^-0.5 over √2: the bound of Kinderman and Monahan's ratio-of-uniforms method. */
const NV_MAGICCONST = (4 * Math.exp(-0.5)) / Math.sqrt(2);

/**
 * Python's `random.normalvariate`, step for step, so a given `random` yields Twisted's delays.
 */
function normalVariate(mu: number, sigma: number, random: () => number): number {
  for (;;) {
    const u1 = random();
    const u2 = 1 - random();
    const z = (NV_MAGICCONST * (u1 - 0.5)) / u2;
    if ((z * z) / 4 <= -Math.log(u2)) {
      return mu + z * sigma;
    }
  }
}

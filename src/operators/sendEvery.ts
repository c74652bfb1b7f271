import {
  asyncScheduler,
  map,
  type OperatorFunction,
  type SchedulerLike,
  switchMap,
  take,
  timer,
} from 'rxjs';

/** Options of {@link sendEvery}. */
export interface SendEveryConfig {
  /**
   * How many messages to send for each source value; then the output waits for the next one.
   * @defaultValue `Infinity`
   */
  readonly count?: number;
  /**
   * Milliseconds from a source value to its first message.
   * @defaultValue `0`: the first message goes at once, as the seed client writes before it sleeps.
   */
  readonly delay?: number;
  /**
   * Where the timers run and where `now` comes from; a `TestScheduler` makes them virtual.
   * @defaultValue `asyncScheduler`
   */
  readonly scheduler?: SchedulerLike;
}

/**
 * For each source value, emits a message every `period` milliseconds, until the next source value.
 *
 * ```text
 * source:                        -a-----------b------|
 * sendEvery(3, f, { count: 3 }):  -x--y--z-----u--v--w|    x=f(0,1,'a')  y=f(1,4,'a')  z=f(2,7,'a')  u=f(0,13,'b') …
 * ```
 *
 * The Spread client's thread writes `hello, I'm NAME TIMESTAMP` every 5 seconds while it is
 * connected. Here that loop is a stream of messages for one connection to send, and the time comes
 * from `scheduler` (its `now()` is the `now` given to `message`), so a marble spec runs it in
 * virtual time. Each source value starts a new series and ends the previous one (`switchMap`
 * semantics): a stream of connections, piped through it, talks on the newest connection only. The
 * output completes once the source has completed and the last series has sent its `count`
 * messages; with no `count` it runs until it is unsubscribed, typically by the connection closing.
 *
 * Fails with whatever `message` throws. Throws a `TypeError` at call time when `period` is not a
 * positive number, `delay` is negative, or `count` is not a whole number of at least zero.
 *
 * ## Example
 * ```ts
 * import { type Observable, of, switchMap } from 'rxjs';
 * import { sendEvery, type Connection } from 'rxnet';
 *
 * declare const connection$: Observable<Connection>;
 * const hello = (_index: number, now: number) => `hello, I'm spread-client ${new Date(now).toISOString()}`;
 * connection$.pipe(switchMap((conn) => conn.send(of(conn).pipe(sendEvery(5000, hello))))).subscribe();
 * ```
 *
 * @param period Milliseconds between two messages.
 * @param message Makes the message from its index in its series (from 0), the scheduler's
 * `now()`, and the source value that started the series.
 * @param config How many messages, after what delay, on which scheduler.
 * @returns A function that returns an Observable of the messages to send.
 */
export function sendEvery<T, O>(
  period: number,
  message: (index: number, now: number, value: T) => O,
  config: SendEveryConfig = {},
): OperatorFunction<T, O> {
  const { count = Infinity, delay = 0, scheduler = asyncScheduler } = config;
  if (!(period > 0) || !Number.isFinite(period)) {
    throw new TypeError(
      `sendEvery: period must be a positive number of milliseconds, got ${period}`,
    );
  }
  if (!(delay >= 0) || !Number.isFinite(delay)) {
    throw new TypeError(
      `sendEvery: delay must be a number of milliseconds of at least 0, got ${delay}`,
    );
  }
  if (!(count >= 0) || (count !== Infinity && !Number.isInteger(count))) {
    throw new TypeError(`sendEvery: count must be a whole number of at least 0, got ${count}`);
  }
  return switchMap((value: T) =>
    timer(delay, period, scheduler).pipe(
      take(count),
      map((index) => message(index, scheduler.now(), value)),
    ),
  );
}

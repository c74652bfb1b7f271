/**
 * Mechanics shared by the protocol helpers. Not re-exported: nothing here is public API.
 *
 * @packageDocumentation
 */
import { from, isObservable, type Observable, of } from 'rxjs';
import { ConnectionLostError, IdleTimeoutError, ProtocolError, RxnetError } from '../errors';
import type { CloseReason, ConnectionId } from '../types';

/** Node's timers hold at most 2^31−1 ms; a longer finite delay fires at once. */
const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * A close reason carries an RxnetError: a protocol's foreign error is wrapped in a
 * {@link ProtocolError} that keeps it as `cause`.
 */
export function asProtocolError(error: unknown): RxnetError {
  return error instanceof RxnetError ? error : new ProtocolError({ cause: error });
}

/**
 * The close reason a failed frame stream stands for: a connection's `data$` fails with its close
 * reason's error, so the error's class says which reason it was; any other error (a decoder's)
 * aborts the connection.
 */
export function closeReasonOf(error: unknown): CloseReason {
  if (error instanceof ConnectionLostError) return { type: 'lost', error };
  if (error instanceof IdleTimeoutError) return { type: 'timedOut', error };
  return { type: 'aborted', error: asProtocolError(error) };
}

/** `done`, `lost: ECONNRESET`, `aborted: Request timed out …`: a close reason for a message. */
export function describeReason(reason: CloseReason): string {
  const error = 'error' in reason ? reason.error : undefined;
  return error === undefined ? reason.type : `${reason.type}: ${error.message}`;
}

/**
 * A timeout option in milliseconds: 0 or `Infinity` mean none, and come back as `Infinity`.
 *
 * @throws TypeError when it is not a number or negative; RangeError when it is finite but too long
 * for a timer.
 */
export function checkTimeout(name: string, value: number | undefined, fallback: number): number {
  const timeout = value ?? fallback;
  if (typeof timeout !== 'number' || !(timeout >= 0)) {
    throw new TypeError(`${name} must be 0 or more milliseconds, got ${String(timeout)}`);
  }
  if (timeout > MAX_TIMER_DELAY && timeout !== Infinity) {
    throw new RangeError(
      `${name} must be at most ${MAX_TIMER_DELAY} ms (or 0 or Infinity for none), got ${timeout}`,
    );
  }
  return timeout === 0 ? Infinity : timeout;
}

/**
 * A count option: a whole number of at least `min`, or `Infinity`.
 *
 * @throws TypeError otherwise.
 */
export function checkCount(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
): number {
  const count = value ?? fallback;
  if (
    typeof count !== 'number' ||
    !(count >= min) ||
    (count !== Infinity && !Number.isInteger(count))
  ) {
    throw new TypeError(
      `${name} must be a whole number of at least ${min}, or Infinity; got ${String(count)}`,
    );
  }
  return count;
}

/**
 * What a handler returned, as an Observable: an Observable as it is, a Promise (any thenable) as
 * its one value, anything else as one value. Arrays and strings are values, not sequences.
 */
export function resultOf<R>(result: R | PromiseLike<R> | Observable<R>): Observable<R> {
  if (isObservable(result)) return result;
  if (isPromiseLike(result)) return from(result);
  return of(result);
}

function isPromiseLike<R>(value: unknown): value is PromiseLike<R> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** The connection whose protocol {@link subscribingFor} is subscribing, if any. */
let subscribing: ConnectionId | undefined;

/**
 * Runs `subscribe` (a protocol's call and subscription) with `id` as the connection being
 * subscribed for, so an operator inside it, such as `respond()` on `conn.frames$`, can name its
 * connection in diagnostics without being handed it. Subscribing is synchronous, so a variable
 * set around it is enough; an operator subscribed later (on another scheduler) sees none.
 */
export function subscribingFor<R>(id: ConnectionId, subscribe: () => R): R {
  const outer = subscribing;
  subscribing = id;
  try {
    return subscribe();
  } finally {
    subscribing = outer;
  }
}

/** The connection whose protocol is being subscribed right now (see {@link subscribingFor}). */
export function connectionSubscribing(): ConnectionId | undefined {
  return subscribing;
}

import { asyncScheduler, type SchedulerLike } from 'rxjs';

/**
 * Pending output, in bytes, at which `write()` starts returning `false` and the connection stops
 * reading (Node's rule: `false` once the buffered length reaches the mark).
 *
 * @defaultValue 65536 (64 KiB)
 */
export const DEFAULT_WRITE_HIGH_WATER_MARK = 64 * 1024;

/**
 * Pending output, in bytes, above which the connection is aborted at once with
 * `WriteBufferFullError`: the hard memory bound, whatever the timing.
 *
 * @defaultValue 8388608 (8 MiB)
 */
export const DEFAULT_MAX_PENDING_WRITE_BYTES = 8 * 1024 * 1024;

/**
 * Milliseconds the pending output may stay at or above `writeHighWaterMark` before the connection
 * is aborted with `DrainTimeoutError`. A burst that a fast reader drains in time is not cut off;
 * a peer that stops reading is, after this grace period.
 *
 * @defaultValue 10000
 */
export const DEFAULT_DRAIN_TIMEOUT = 10_000;

/**
 * Milliseconds without reading or writing after which a connection closes as `timedOut`; `0` is off.
 *
 * @defaultValue 0 (no idle timeout)
 */
export const DEFAULT_IDLE_TIMEOUT = 0;

/**
 * Milliseconds that `end()` waits, once its output is flushed, for the peer's FIN before closing
 * the socket anyway. Waiting lets a well-behaved peer close first, so data it still has in flight
 * is not answered with a RST; not waiting forever keeps a peer that never answers a FIN (an
 * interactive `nc`) from holding a half-open connection. `0` closes at once, as Twisted's
 * `loseConnection()` does.
 *
 * @defaultValue 1000
 */
export const DEFAULT_CLOSE_TIMEOUT = 1000;

/**
 * Milliseconds a connection stays writable after the peer's FIN (a half-close: `nc -N`,
 * `shutdown(SHUT_WR)`, an HTTP/1.0-style client), so replies still in the making reach the peer.
 * When it passes without `end()` or `abort()`, the connection ends gracefully (flush, then FIN)
 * and closes as `done`. `0` ends it at once, as Twisted does without `IHalfCloseableProtocol`.
 *
 * @defaultValue 5000
 */
export const DEFAULT_HALF_OPEN_TIMEOUT = 5000;

/**
 * `halfOpenTimeout` for a client's connection (`connect`, `connectEvents`, `connectAsync`, the
 * virtual network's `connect`): a server's FIN means the service is over, so the client ends as
 * soon as its output is flushed, as Node's and Twisted's clients do. A client whose protocol
 * half-closes on purpose sets `halfOpenTimeout` itself.
 *
 * @defaultValue 0
 */
export const DEFAULT_CLIENT_HALF_OPEN_TIMEOUT = 0;

/** The longest delay a Node timer keeps; a longer one fires after about 1 ms. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * Limits and timing of one connection; shared by `fromDuplex`, `listen`, `connect`, `serve` and
 * the testing kit. Every time is in milliseconds (endpoint strings use seconds).
 */
export interface ConnectionOptions {
  /** @defaultValue {@link DEFAULT_WRITE_HIGH_WATER_MARK} */
  readonly writeHighWaterMark?: number;
  /** Must be at least `writeHighWaterMark`. @defaultValue {@link DEFAULT_MAX_PENDING_WRITE_BYTES} */
  readonly maxPendingWriteBytes?: number;
  /** Milliseconds; `Infinity` never aborts a slow reader. @defaultValue {@link DEFAULT_DRAIN_TIMEOUT} */
  readonly drainTimeout?: number;
  /**
   * Milliseconds with nothing received and nothing written; `0` or `Infinity` turns it off.
   * @defaultValue {@link DEFAULT_IDLE_TIMEOUT}
   */
  readonly idleTimeout?: number;
  /**
   * Milliseconds with nothing received (each chunk restarts it; writes do not), so a client that
   * sends heartbeats still notices a dead server. `0` or `Infinity` turns it off. @defaultValue 0
   */
  readonly readIdleTimeout?: number;
  /** Milliseconds with nothing written (each `write()` restarts it). `0` or `Infinity` turns it off. @defaultValue 0 */
  readonly writeIdleTimeout?: number;
  /**
   * Milliseconds `end()` waits for the peer's FIN after flushing; `Infinity` waits for as long as
   * the peer takes. @defaultValue {@link DEFAULT_CLOSE_TIMEOUT}
   */
  readonly closeTimeout?: number;
  /**
   * Milliseconds the connection stays writable after the peer's FIN; `Infinity` until `end()`.
   * @defaultValue {@link DEFAULT_HALF_OPEN_TIMEOUT}
   */
  readonly halfOpenTimeout?: number;
  /**
   * Bytes per second read from this connection (Twisted's `ThrottlingFactory` `readLimit`):
   * reading pauses once the budget is spent and resumes as it refills, so a fast sender is held
   * back by TCP's flow control, not buffered. `Infinity` is no limit. @defaultValue `Infinity`
   */
  readonly maxReadBytesPerSecond?: number;
  /**
   * Bytes per second written to this connection (`writeLimit`): bytes beyond the budget wait and
   * count as pending output, so `write()` returns `false` at `writeHighWaterMark`, `drain$` tells
   * when to go on, and `maxPendingWriteBytes` and `drainTimeout` apply as to a slow reader (a
   * single write larger than the mark keeps the output at it while its excess goes out at this
   * rate: keep `drainTimeout` above that). `Infinity` is no limit.
   * @defaultValue `Infinity`
   */
  readonly maxWriteBytesPerSecond?: number;
  /** Where the timeouts and the throttle read the time and set their timers. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
}

/** {@link ConnectionOptions} with the defaults applied; one object shared by a server's connections. @internal */
export interface ConnectionLimits {
  readonly highWaterMark: number;
  readonly maxPending: number;
  readonly drainTimeout: number;
  /** `Infinity` when off. */
  readonly idleTimeout: number;
  readonly readIdleTimeout: number;
  readonly writeIdleTimeout: number;
  /** Whether any of the three idle timeouts is on, so the hot path asks one field. */
  readonly tracksActivity: boolean;
  readonly closeTimeout: number;
  readonly halfOpenTimeout: number;
  /** `Infinity` when off, as is `writeBytesPerSecond`. */
  readonly readBytesPerSecond: number;
  readonly writeBytesPerSecond: number;
  readonly scheduler: SchedulerLike;
}

/**
 * Applies the defaults and rejects contradictory or out-of-range limits at call time; `listen`
 * and `connect` call it too, so a bad option fails before the first connection.
 *
 * @throws TypeError for a limit or rate that is not a positive number, or `maxPendingWriteBytes`
 * below `writeHighWaterMark`; RangeError for a finite time above 2^31−1 ms, which Node's timers
 * cannot keep (they would fire after about 1 ms).
 * @internal
 */
export function checkConnectionOptions(options: ConnectionOptions): ConnectionLimits {
  const highWaterMark = options.writeHighWaterMark ?? DEFAULT_WRITE_HIGH_WATER_MARK;
  const maxPending = options.maxPendingWriteBytes ?? DEFAULT_MAX_PENDING_WRITE_BYTES;
  if (!(highWaterMark > 0)) {
    throw new TypeError(`writeHighWaterMark must be positive, got ${highWaterMark}`);
  }
  if (!(maxPending >= highWaterMark)) {
    throw new TypeError(
      `maxPendingWriteBytes (${maxPending}) must be at least writeHighWaterMark (${highWaterMark})`,
    );
  }
  const idleTimeout = offWhenZero(
    checkDelay('idleTimeout', options.idleTimeout, DEFAULT_IDLE_TIMEOUT),
  );
  const readIdleTimeout = offWhenZero(checkDelay('readIdleTimeout', options.readIdleTimeout, 0));
  const writeIdleTimeout = offWhenZero(checkDelay('writeIdleTimeout', options.writeIdleTimeout, 0));
  return {
    highWaterMark,
    maxPending,
    drainTimeout: checkDelay('drainTimeout', options.drainTimeout, DEFAULT_DRAIN_TIMEOUT),
    idleTimeout,
    readIdleTimeout,
    writeIdleTimeout,
    tracksActivity:
      idleTimeout !== Infinity || readIdleTimeout !== Infinity || writeIdleTimeout !== Infinity,
    closeTimeout: checkDelay('closeTimeout', options.closeTimeout, DEFAULT_CLOSE_TIMEOUT),
    halfOpenTimeout: checkDelay(
      'halfOpenTimeout',
      options.halfOpenTimeout,
      DEFAULT_HALF_OPEN_TIMEOUT,
    ),
    readBytesPerSecond: checkRate('maxReadBytesPerSecond', options.maxReadBytesPerSecond),
    writeBytesPerSecond: checkRate('maxWriteBytesPerSecond', options.maxWriteBytesPerSecond),
    scheduler: options.scheduler ?? asyncScheduler,
  };
}

/**
 * A delay in milliseconds: 0 up to {@link MAX_TIMER_DELAY}, or `Infinity` for never.
 *
 * @throws TypeError when it is negative or not a number; RangeError when it is finite but too long
 * for a timer.
 * @internal
 */
export function checkDelay(name: string, value: number | undefined, fallback: number): number {
  const delay = value ?? fallback;
  if (typeof delay !== 'number' || !(delay >= 0)) {
    throw new TypeError(`${name} must be 0 or more milliseconds, got ${String(delay)}`);
  }
  if (delay > MAX_TIMER_DELAY && delay !== Infinity) {
    throw new RangeError(
      `${name} must be at most ${MAX_TIMER_DELAY} ms (or Infinity for never), got ${delay}`,
    );
  }
  return delay;
}

/**
 * A rate in bytes per second: positive, or `Infinity` (the default) for none.
 *
 * @throws TypeError when it is not a positive number.
 * @internal
 */
export function checkRate(name: string, value: number | undefined): number {
  const rate = value ?? Infinity;
  if (typeof rate !== 'number' || !(rate > 0)) {
    throw new TypeError(
      `${name} must be a positive number of bytes per second, got ${String(rate)}`,
    );
  }
  return rate;
}

function offWhenZero(delay: number): number {
  return delay === 0 ? Infinity : delay;
}

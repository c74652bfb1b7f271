import type { Duplex } from 'node:stream';
import {
  Observable,
  ReplaySubject,
  Subject,
  asyncScheduler,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import {
  ConnectionClosedError,
  ConnectionLostError,
  IdleTimeoutError,
  WriteBufferFullError,
  type RxnetError,
} from '../errors';
import type { Address, CloseReason, Connection, ConnectionId, Output } from '../types';

/**
 * Pending output, in bytes, above which `write()` returns `false` and the connection stops reading.
 *
 * @defaultValue 65536 (64 KiB)
 */
export const DEFAULT_WRITE_HIGH_WATER_MARK = 64 * 1024;

/**
 * Pending output, in bytes, above which the connection is aborted with {@link WriteBufferFullError}.
 *
 * @defaultValue 8388608 (8 MiB)
 */
export const DEFAULT_MAX_PENDING_WRITE_BYTES = 8 * 1024 * 1024;

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
 * interactive `nc`) from holding a half-open connection. Twisted's `loseConnection()` does not
 * wait at all: `0` does the same.
 *
 * @defaultValue 1000
 */
export const DEFAULT_CLOSE_TIMEOUT = 1000;

/** Limits and timing of one connection; shared by `fromDuplex`, `listen`, `connect` and `serve`. */
export interface ConnectionOptions {
  /** @defaultValue {@link DEFAULT_WRITE_HIGH_WATER_MARK} */
  readonly writeHighWaterMark?: number;
  /** Must be at least `writeHighWaterMark`. @defaultValue {@link DEFAULT_MAX_PENDING_WRITE_BYTES} */
  readonly maxPendingWriteBytes?: number;
  /** Milliseconds; `0` turns it off. @defaultValue {@link DEFAULT_IDLE_TIMEOUT} */
  readonly idleTimeout?: number;
  /**
   * Milliseconds `end()` waits for the peer's FIN after flushing; `Infinity` waits for as long as
   * the peer takes. @defaultValue {@link DEFAULT_CLOSE_TIMEOUT}
   */
  readonly closeTimeout?: number;
  /** Where the idle and close timeouts read the time and set their timers. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
}

/** Who a connection is: its id and both ends' addresses. */
export interface ConnectionInfo {
  readonly id: ConnectionId;
  readonly local: Address;
  readonly remote: Address;
}

/**
 * Wraps any Node `Duplex` (a `net.Socket`, one half of `stream.duplexPair()`) as a {@link Connection}.
 *
 * This is the one place where a Node stream becomes rxnet's model, so the server, the client and
 * the in-memory testing kit share its guarantees:
 *
 * - an `error` listener is attached synchronously, before anything else, so a reset can never crash
 *   the process; every listener is a named method removed again when the connection closes;
 * - reading starts when `data$` gets its first subscriber and pauses while it has none, and while
 *   pending output is above `writeHighWaterMark` (Node's `'drain'` resumes it), so an echo to a
 *   peer that does not read holds at most one chunk more than the high-water mark;
 * - pending output above `maxPendingWriteBytes` aborts the connection with
 *   {@link WriteBufferFullError}: one slow reader cannot exhaust the process's memory;
 * - the writes of one event-loop turn after the first are corked and flushed together on
 *   `process.nextTick`, so a fan-out of many small messages costs one `writev` per connection
 *   rather than one per message, while a lone write (an echo) goes out at once;
 * - `end()` flushes, sends FIN and stops delivering data; the connection closes as `done` when the
 *   peer's FIN arrives, or `closeTimeout` after the flush for a peer that never answers one (an
 *   interactive `nc`), as Twisted's `loseConnection()` does not wait for the peer either. A peer's
 *   FIN is answered the same way, as Twisted's `connectionLost(ConnectionDone)`;
 * - `send(output$)` writes each value as `output$` emits it (an Observable cannot be paused), so a
 *   fast producer is bounded by `maxPendingWriteBytes`, not slowed down;
 * - `abort()` drops pending output and resets: `resetAndDestroy()` where the stream has it, so a
 *   TCP peer sees a RST; `destroy()` otherwise.
 *
 * ## Example
 * ```ts
 * import { duplexPair } from 'node:stream';
 * import { fromDuplex } from 'rxnet';
 *
 * const [left, right] = duplexPair();
 * const a = fromDuplex(left, { id: 1, local: { _tag: 'MemoryAddress', name: 'a' }, remote: { _tag: 'MemoryAddress', name: 'b' } });
 * a.data$.subscribe((chunk) => a.write(chunk)); // echo
 * right.write('hello');
 * ```
 *
 * @param duplex The stream to wrap. rxnet owns it from now on: do not read from it or listen to it.
 * @param info The connection's id and addresses.
 * @param options Buffer limits and the idle timeout.
 * @returns A live {@link Connection}.
 * @throws TypeError when `maxPendingWriteBytes` is below `writeHighWaterMark`, or a limit is not a
 * positive number.
 * @see {@link serveConnections}
 */
export function fromDuplex(
  duplex: Duplex,
  info: ConnectionInfo,
  options: ConnectionOptions = {},
): Connection {
  return new DuplexConnection(
    duplex,
    info,
    checkConnectionOptions(options),
    options.scheduler ?? asyncScheduler,
  );
}

/**
 * Applies the defaults and rejects contradictory limits; `listen` and `connect` call it too, so a
 * bad option fails at call time rather than on the first connection.
 *
 * @internal
 */
export function checkConnectionOptions(options: ConnectionOptions): ConnectionLimits {
  const highWaterMark = options.writeHighWaterMark ?? DEFAULT_WRITE_HIGH_WATER_MARK;
  const maxPending = options.maxPendingWriteBytes ?? DEFAULT_MAX_PENDING_WRITE_BYTES;
  const idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
  const closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
  if (!(highWaterMark > 0)) {
    throw new TypeError(`writeHighWaterMark must be positive, got ${highWaterMark}`);
  }
  if (!(maxPending >= highWaterMark)) {
    throw new TypeError(
      `maxPendingWriteBytes (${maxPending}) must be at least writeHighWaterMark (${highWaterMark})`,
    );
  }
  if (!(idleTimeout >= 0)) {
    throw new TypeError(`idleTimeout must be 0 or more, got ${idleTimeout}`);
  }
  if (!(closeTimeout >= 0)) {
    throw new TypeError(`closeTimeout must be 0 or more, got ${closeTimeout}`);
  }
  return { highWaterMark, maxPending, idleTimeout, closeTimeout };
}

/** {@link ConnectionOptions} with the defaults applied. @internal */
interface ConnectionLimits {
  readonly highWaterMark: number;
  readonly maxPending: number;
  readonly idleTimeout: number;
  readonly closeTimeout: number;
}

/** Written with a callback to learn when everything queued before it has been flushed. */
const FLUSH_MARKER = Buffer.alloc(0);

type Resettable = Duplex & { resetAndDestroy?: () => unknown };

/**
 * The connections that wrote in the current event-loop turn. A lone write goes out at once (a cork
 * would only delay it and cost a buffered request); from the second write on, the connection is
 * corked, and one `process.nextTick` for all connections uncorks them, so a fan-out of small
 * messages costs one `writev` per connection and one tick per turn.
 */
const writersThisTurn: DuplexConnection[] = [];

function endTurn(): void {
  // Indexed, not iterated: an uncork can run code that writes and joins the list.
  for (let i = 0; i < writersThisTurn.length; i += 1) {
    writersThisTurn[i]!.endTurn();
  }
  writersThisTurn.length = 0;
}

class DuplexConnection implements Connection {
  readonly id: ConnectionId;
  readonly local: Address;
  readonly remote: Address;
  readonly data$: Observable<Buffer>;
  readonly closed$: Observable<CloseReason>;

  private readonly chunks = new Subject<Buffer>();
  private readonly closeReason = new ReplaySubject<CloseReason>(1);
  private readers = 0;
  private reading = false;
  private writeBlocked = false;
  /** Writes in this event-loop turn: 0, 1 (sent at once), or 2 for "more, corked until the turn ends". */
  private turnWrites = 0;
  private ending = false;
  private closed = false;
  /** The first reason decided before Node's `'close'`; later ones lose, as the first cause is the true one. */
  private decidedReason: CloseReason | undefined;
  private lastActivity = 0;
  private idleTimer: Subscription | undefined;
  private closeTimer: Subscription | undefined;
  private readonly highWaterMark: number;
  private readonly maxPending: number;
  private readonly idleTimeout: number;
  private readonly closeTimeout: number;

  constructor(
    private readonly duplex: Duplex,
    info: ConnectionInfo,
    limits: ConnectionLimits,
    private readonly scheduler: SchedulerLike,
  ) {
    // First and synchronous: an 'error' without a listener would throw out of the event loop.
    duplex.on('error', this.onError);
    this.highWaterMark = limits.highWaterMark;
    this.maxPending = limits.maxPending;
    this.idleTimeout = limits.idleTimeout;
    this.closeTimeout = limits.closeTimeout;
    this.id = info.id;
    this.local = info.local;
    this.remote = info.remote;
    // Paused before the 'data' listener is added, so adding it does not start the flow.
    duplex.pause();
    duplex.on('data', this.onData);
    duplex.on('end', this.onEnd);
    duplex.on('drain', this.onDrain);
    duplex.on('close', this.onClose);
    this.data$ = new Observable<Buffer>((subscriber) => {
      const counted = !this.closed;
      const subscription = this.chunks.subscribe(subscriber);
      if (counted) {
        this.readers += 1;
        this.updateFlow();
      }
      return () => {
        subscription.unsubscribe();
        if (counted) {
          this.readers -= 1;
          this.updateFlow();
        }
      };
    });
    this.closed$ = this.closeReason.asObservable();
    if (this.idleTimeout > 0) {
      this.lastActivity = scheduler.now();
      this.idleTimer = scheduler.schedule(this.onIdleCheck, this.idleTimeout);
    }
    if (duplex.destroyed) {
      this.decide({ type: 'lost', error: new ConnectionLostError('Stream was already destroyed') });
      process.nextTick(this.onClose);
    }
  }

  get pendingWriteBytes(): number {
    return this.duplex.writableLength;
  }

  write(data: Output): boolean {
    if (this.ending || this.closed || this.decidedReason !== undefined) {
      return false;
    }
    if (this.turnWrites === 0) {
      this.turnWrites = 1;
      if (writersThisTurn.push(this) === 1) {
        process.nextTick(endTurn);
      }
    } else if (this.turnWrites === 1) {
      this.turnWrites = 2;
      this.duplex.cork();
    }
    this.duplex.write(data);
    const pending = this.duplex.writableLength;
    if (pending > this.maxPending) {
      this.abort(new WriteBufferFullError(this.maxPending, pending));
      return false;
    }
    if (this.idleTimeout > 0) {
      this.lastActivity = this.scheduler.now();
    }
    if (pending > this.highWaterMark) {
      if (!this.writeBlocked) {
        this.writeBlocked = true;
        this.updateFlow();
        this.awaitDrain();
      }
      return false;
    }
    return true;
  }

  end(): void {
    if (this.ending || this.closed) {
      return;
    }
    this.ending = true;
    // Reading goes on, discarding, until the peer's FIN or the close timeout.
    this.updateFlow();
    this.duplex.end(this.onFlushedForClose);
  }

  abort(reason?: RxnetError): void {
    if (this.closed || this.decidedReason !== undefined) {
      return;
    }
    this.decide(reason === undefined ? { type: 'aborted' } : { type: 'aborted', error: reason });
    this.reset();
  }

  send(output$: Observable<Output>): Observable<never> {
    return new Observable<never>((subscriber) => {
      let flushing = false;
      const closedSubscription = this.closeReason.subscribe(function onClosed(reason) {
        if (flushing && reason.type === 'done') {
          subscriber.complete();
        } else {
          const cause = 'error' in reason ? reason.error : undefined;
          subscriber.error(new ConnectionClosedError(undefined, { cause }));
        }
      });
      if (subscriber.closed) {
        return;
      }
      const onFlushed = (error?: Error | null): void => {
        // A destroyed stream calls back with an error; closed$ reports that case.
        if (error == null && this.decidedReason === undefined) {
          subscriber.complete();
        }
      };
      const outputSubscription = output$.subscribe({
        next: (chunk) => {
          if (this.ending) {
            subscriber.error(new ConnectionClosedError('Connection is closing'));
          } else {
            this.write(chunk);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          flushing = true;
          // After end(), the close itself reports the flush, as 'done' (handled in onClosed).
          if (!this.ending && !this.closed) {
            this.duplex.write(FLUSH_MARKER, onFlushed);
          }
        },
      });
      return () => {
        outputSubscription.unsubscribe();
        closedSubscription.unsubscribe();
      };
    });
  }

  private readonly onError = (error: Error): void => {
    this.decide({ type: 'lost', error: new ConnectionLostError(undefined, { cause: error }) });
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.idleTimeout > 0) {
      this.lastActivity = this.scheduler.now();
    }
    if (!this.ending && this.decidedReason === undefined) {
      this.chunks.next(chunk);
    }
  };

  /** The peer sent FIN: like Twisted, rxnet treats it as the end of the whole connection. */
  private readonly onEnd = (): void => {
    this.end();
  };

  private readonly onDrain = (): void => {
    if (this.writeBlocked && this.duplex.writableLength <= this.highWaterMark) {
      this.writeBlocked = false;
      this.updateFlow();
    } else if (this.writeBlocked) {
      this.awaitDrain();
    }
  };

  private readonly onClose = (): void => {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.updateFlow();
    this.idleTimer?.unsubscribe();
    this.closeTimer?.unsubscribe();
    const duplex = this.duplex;
    duplex.off('error', this.onError);
    duplex.off('data', this.onData);
    duplex.off('end', this.onEnd);
    duplex.off('drain', this.onDrain);
    duplex.off('close', this.onClose);
    const reason = this.decidedReason ?? { type: 'done' };
    if (reason.type === 'done' || reason.error === undefined) {
      this.chunks.complete();
    } else {
      this.chunks.error(reason.error);
    }
    this.closeReason.next(reason);
    this.closeReason.complete();
  };

  /** Called once per turn in which this connection wrote; flushes the corked writes in one writev. */
  endTurn(): void {
    if (this.turnWrites === 2) {
      this.duplex.uncork();
    }
    this.turnWrites = 0;
  }

  /** `end()`'s output is flushed and our FIN sent: the peer now has `closeTimeout` to answer it. */
  private readonly onFlushedForClose = (error?: Error | null): void => {
    if (error == null && !this.closed && this.closeTimeout !== Infinity) {
      this.closeTimer = this.scheduler.schedule(this.onCloseTimeout, this.closeTimeout);
    }
  };

  /** The peer never answered our FIN: close anyway. Nothing was lost, so the close is still `done`. */
  private readonly onCloseTimeout = (): void => {
    this.closeTimer = undefined;
    if (!this.closed) {
      this.duplex.destroy();
    }
  };

  private readonly onIdleCheck = (): void => {
    if (this.closed) {
      return;
    }
    const idle = this.scheduler.now() - this.lastActivity;
    if (idle >= this.idleTimeout) {
      this.idleTimer = undefined;
      if (this.decidedReason === undefined) {
        this.decide({ type: 'timedOut', error: new IdleTimeoutError(this.idleTimeout) });
        this.duplex.destroy();
      }
    } else {
      this.idleTimer = this.scheduler.schedule(this.onIdleCheck, this.idleTimeout - idle);
    }
  };

  private decide(reason: CloseReason): void {
    if (this.decidedReason === undefined) {
      this.decidedReason = reason;
    }
  }

  /**
   * Node emits 'drain' only after a write that returned `false` by the stream's own high-water
   * mark; when ours is lower, a flush marker's callback stands in for it.
   */
  private awaitDrain(): void {
    if (!this.duplex.writableNeedDrain && !this.duplex.writableEnded) {
      this.duplex.write(FLUSH_MARKER, this.onDrain);
    }
  }

  private updateFlow(): void {
    const wanted =
      !this.closed &&
      (this.ending || (this.readers > 0 && !this.writeBlocked)) &&
      this.decidedReason === undefined;
    if (wanted !== this.reading) {
      this.reading = wanted;
      if (wanted) {
        this.duplex.resume();
      } else {
        this.duplex.pause();
      }
    }
  }

  private reset(): void {
    const duplex = this.duplex as Resettable;
    if (typeof duplex.resetAndDestroy === 'function') {
      try {
        duplex.resetAndDestroy();
        return;
      } catch {
        // Only TCP handles can send a RST (a Unix socket throws ERR_INVALID_HANDLE_TYPE).
      }
    }
    duplex.destroy();
  }
}

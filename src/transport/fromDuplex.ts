import type { Duplex } from 'node:stream';
import {
  Observable,
  asyncScheduler,
  type Observer,
  type SchedulerAction,
  type SchedulerLike,
  type Subscriber,
  type Subscription,
  type TeardownLogic,
  type Unsubscribable,
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
 *   the process; every listener is a named module-level function (no closure per connection),
 *   removed again when the connection closes;
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
  return new DuplexConnection(duplex, info, checkConnectionOptions(options), undefined);
}

/**
 * `fromDuplex` for a server: the limits are checked once per server rather than once per
 * connection, and the connection is in `live` until it closes (a Set kept without a subscription
 * per connection).
 *
 * @internal
 */
export function fromServerDuplex(
  duplex: Duplex,
  info: ConnectionInfo,
  limits: ConnectionLimits,
  live: Set<Connection>,
): Connection {
  return new DuplexConnection(duplex, info, limits, live);
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
  const scheduler = options.scheduler ?? asyncScheduler;
  return { highWaterMark, maxPending, idleTimeout, closeTimeout, scheduler };
}

/** {@link ConnectionOptions} with the defaults applied; one object shared by a server's connections. @internal */
export interface ConnectionLimits {
  readonly highWaterMark: number;
  readonly maxPending: number;
  readonly idleTimeout: number;
  readonly closeTimeout: number;
  readonly scheduler: SchedulerLike;
}

/** Written with a callback to learn when everything queued before it has been flushed. */
const FLUSH_MARKER = Buffer.alloc(0);

/**
 * Where a stream's listeners find their connection. They are module-level functions (Node calls a
 * listener with the stream as `this`), as in ws, so an idle connection holds no listener closures:
 * with thousands of idle connections, a closure per listener per connection adds up.
 */
const kConnection = Symbol('rxnet.connection');

type OwnedDuplex = Duplex & {
  [kConnection]?: DuplexConnection;
  resetAndDestroy?: () => unknown;
};

function onDuplexError(this: OwnedDuplex, error: Error): void {
  this[kConnection]!.lose(error);
}

function onDuplexData(this: OwnedDuplex, chunk: Buffer): void {
  this[kConnection]!.receive(chunk);
}

/** The peer sent FIN: like Twisted, rxnet treats it as the end of the whole connection. */
function onDuplexEnd(this: OwnedDuplex): void {
  this[kConnection]!.end();
}

function onDuplexDrain(this: OwnedDuplex): void {
  this[kConnection]!.drain();
}

function onDuplexClose(this: OwnedDuplex): void {
  this[kConnection]!.close();
}

function closeConnection(connection: DuplexConnection): void {
  connection.close();
}

function checkIdle(this: SchedulerAction<DuplexConnection>, connection: DuplexConnection): void {
  connection.checkIdle();
}

function closeTimedOut(
  this: SchedulerAction<DuplexConnection>,
  connection: DuplexConnection,
): void {
  connection.closeTimedOut();
}

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

/** Told once when a connection closes: `closed$`'s subscribers and `send()`'s, in a plain list. */
interface CloseHook {
  connectionClosed(reason: CloseReason): void;
}

class DuplexConnection implements Connection {
  /** `data$`'s subscribers; a plain list rather than a Subject, created by the first one. */
  private readers: Subscriber<Buffer>[] | undefined;
  private closeHooks: CloseHook[] | undefined;
  private dataObservable: Observable<Buffer> | undefined;
  private closedObservable: Observable<CloseReason> | undefined;
  private reading = false;
  private writeBlocked = false;
  /** Writes in this event-loop turn: 0, 1 (sent at once), or 2 for "more, corked until the turn ends". */
  private turnWrites = 0;
  private ending = false;
  /** Set once Node's `'close'` has been handled: the connection is closed. */
  private finalReason: CloseReason | undefined;
  /** The first reason decided before Node's `'close'`; later ones lose, as the first cause is the true one. */
  private decidedReason: CloseReason | undefined;
  private lastActivity = 0;
  private idleTimer: Subscription | undefined;
  private closeTimer: Subscription | undefined;

  constructor(
    private readonly duplex: OwnedDuplex,
    private readonly info: ConnectionInfo,
    private readonly limits: ConnectionLimits,
    private readonly live: Set<Connection> | undefined,
  ) {
    duplex[kConnection] = this;
    // First and synchronous: an 'error' without a listener would throw out of the event loop.
    duplex.on('error', onDuplexError);
    // Paused before the 'data' listener is added, so adding it does not start the flow.
    duplex.pause();
    duplex.on('data', onDuplexData);
    duplex.on('end', onDuplexEnd);
    duplex.on('drain', onDuplexDrain);
    duplex.on('close', onDuplexClose);
    live?.add(this);
    if (limits.idleTimeout > 0) {
      this.lastActivity = limits.scheduler.now();
      this.idleTimer = limits.scheduler.schedule(checkIdle, limits.idleTimeout, this);
    }
    if (duplex.destroyed) {
      this.decide({ type: 'lost', error: new ConnectionLostError('Stream was already destroyed') });
      process.nextTick(closeConnection, this);
    }
  }

  get id(): ConnectionId {
    return this.info.id;
  }

  // Read through: `listen` passes addresses that are looked up on first use.
  get local(): Address {
    return this.info.local;
  }

  get remote(): Address {
    return this.info.remote;
  }

  /** Created on first use, as many connections never have their data or close observed. */
  get data$(): Observable<Buffer> {
    return (this.dataObservable ??= new Observable<Buffer>((subscriber) =>
      this.addReader(subscriber),
    ));
  }

  get closed$(): Observable<CloseReason> {
    return (this.closedObservable ??= new Observable<CloseReason>((subscriber) => {
      const notice = new CloseNotice(this, subscriber);
      return this.watchClose(notice) ? notice : undefined;
    }));
  }

  get pendingWriteBytes(): number {
    return this.duplex.writableLength;
  }

  write(data: Output): boolean {
    if (this.ending || this.finalReason !== undefined || this.decidedReason !== undefined) {
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
    const limits = this.limits;
    if (pending > limits.maxPending) {
      this.abort(new WriteBufferFullError(limits.maxPending, pending));
      return false;
    }
    if (limits.idleTimeout > 0) {
      this.lastActivity = limits.scheduler.now();
    }
    if (pending > limits.highWaterMark) {
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
    if (this.ending || this.finalReason !== undefined) {
      return;
    }
    this.ending = true;
    // Reading goes on, discarding, until the peer's FIN or the close timeout.
    this.updateFlow();
    this.duplex.end((error?: Error | null) => this.flushedForClose(error));
  }

  abort(reason?: RxnetError): void {
    if (this.finalReason !== undefined || this.decidedReason !== undefined) {
      return;
    }
    this.decide(reason === undefined ? { type: 'aborted' } : { type: 'aborted', error: reason });
    this.reset();
  }

  send(output$: Observable<Output>): Observable<never> {
    return new Observable<never>((subscriber) => {
      const sending = new Sending(this, subscriber);
      if (!this.watchClose(sending)) {
        return undefined;
      }
      sending.start(output$);
      return sending;
    });
  }

  /** `send()`'s check before each chunk: output after `end()` is an error, not silently dropped. */
  isEnding(): boolean {
    return this.ending;
  }

  /** `send()`'s output completed: `sending` completes once everything before it is flushed. */
  flushFor(sending: Sending): void {
    // After end(), the close itself reports the flush, as 'done' (Sending.connectionClosed).
    if (!this.ending && this.finalReason === undefined) {
      this.duplex.write(FLUSH_MARKER, (error?: Error | null) => {
        // A destroyed stream calls back with an error; the close reports that case.
        if (error == null && this.decidedReason === undefined) {
          sending.flushed();
        }
      });
    }
  }

  /** Calls `hook` when the connection closes and returns `true`, or at once if it has, returning `false`. */
  watchClose(hook: CloseHook): boolean {
    if (this.finalReason !== undefined) {
      hook.connectionClosed(this.finalReason);
      return false;
    }
    (this.closeHooks ??= []).push(hook);
    return true;
  }

  unwatchClose(hook: CloseHook): void {
    removeFrom(this.closeHooks, hook);
  }

  removeReader(subscriber: Subscriber<Buffer>): void {
    if (removeFrom(this.readers, subscriber)) {
      this.updateFlow();
    }
  }

  lose(error: Error): void {
    this.decide({ type: 'lost', error: new ConnectionLostError(undefined, { cause: error }) });
  }

  receive(chunk: Buffer): void {
    if (this.limits.idleTimeout > 0) {
      this.lastActivity = this.limits.scheduler.now();
    }
    const readers = this.readers;
    if (this.ending || this.decidedReason !== undefined || readers === undefined) {
      return;
    }
    if (readers.length === 1) {
      readers[0]!.next(chunk);
    } else {
      // A copy, as a Subject does: a reader may unsubscribe, or subscribe another, while it reads.
      for (const reader of readers.slice()) {
        reader.next(chunk);
      }
    }
  }

  drain(): void {
    if (this.writeBlocked && this.duplex.writableLength <= this.limits.highWaterMark) {
      this.writeBlocked = false;
      this.updateFlow();
    } else if (this.writeBlocked) {
      this.awaitDrain();
    }
  }

  close(): void {
    if (this.finalReason !== undefined) {
      return;
    }
    const reason = this.decidedReason ?? { type: 'done' };
    this.finalReason = reason;
    this.updateFlow();
    this.idleTimer?.unsubscribe();
    this.closeTimer?.unsubscribe();
    const duplex = this.duplex;
    duplex.off('error', onDuplexError);
    duplex.off('data', onDuplexData);
    duplex.off('end', onDuplexEnd);
    duplex.off('drain', onDuplexDrain);
    duplex.off('close', onDuplexClose);
    this.live?.delete(this);
    const readers = this.readers;
    this.readers = undefined;
    if (readers !== undefined) {
      for (const reader of readers) {
        if (reason.type === 'done' || reason.error === undefined) {
          reader.complete();
        } else {
          reader.error(reason.error);
        }
      }
    }
    const hooks = this.closeHooks;
    this.closeHooks = undefined;
    if (hooks !== undefined) {
      for (const hook of hooks) {
        hook.connectionClosed(reason);
      }
    }
  }

  /** Called once per turn in which this connection wrote; flushes the corked writes in one writev. */
  endTurn(): void {
    if (this.turnWrites === 2) {
      this.duplex.uncork();
    }
    this.turnWrites = 0;
  }

  /** The peer never answered our FIN: close anyway. Nothing was lost, so the close is still `done`. */
  closeTimedOut(): void {
    this.closeTimer = undefined;
    if (this.finalReason === undefined) {
      this.duplex.destroy();
    }
  }

  checkIdle(): void {
    if (this.finalReason !== undefined) {
      return;
    }
    const { idleTimeout, scheduler } = this.limits;
    const idle = scheduler.now() - this.lastActivity;
    if (idle >= idleTimeout) {
      this.idleTimer = undefined;
      if (this.decidedReason === undefined) {
        this.decide({ type: 'timedOut', error: new IdleTimeoutError(idleTimeout) });
        this.duplex.destroy();
      }
    } else {
      this.idleTimer = scheduler.schedule(checkIdle, idleTimeout - idle, this);
    }
  }

  private addReader(subscriber: Subscriber<Buffer>): TeardownLogic {
    const reason = this.finalReason;
    if (reason !== undefined) {
      if (reason.type === 'done' || reason.error === undefined) {
        subscriber.complete();
      } else {
        subscriber.error(reason.error);
      }
      return undefined;
    }
    (this.readers ??= []).push(subscriber);
    this.updateFlow();
    return new Reader(this, subscriber);
  }

  /** `end()`'s output is flushed and our FIN sent: the peer now has `closeTimeout` to answer it. */
  private flushedForClose(error?: Error | null): void {
    const { closeTimeout, scheduler } = this.limits;
    if (error == null && this.finalReason === undefined && closeTimeout !== Infinity) {
      this.closeTimer = scheduler.schedule(closeTimedOut, closeTimeout, this);
    }
  }

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
      this.duplex.write(FLUSH_MARKER, () => this.drain());
    }
  }

  private updateFlow(): void {
    const wanted =
      this.finalReason === undefined &&
      (this.ending ||
        (this.readers !== undefined && this.readers.length > 0 && !this.writeBlocked)) &&
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
    const duplex = this.duplex;
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

/** One `data$` subscription: its teardown, without a closure. */
class Reader implements Unsubscribable {
  constructor(
    private readonly connection: DuplexConnection,
    private readonly subscriber: Subscriber<Buffer>,
  ) {}

  unsubscribe(): void {
    this.connection.removeReader(this.subscriber);
  }
}

/** One `closed$` subscription: a close hook that is also its own teardown. */
class CloseNotice implements CloseHook, Unsubscribable {
  constructor(
    private readonly connection: DuplexConnection,
    private readonly subscriber: Subscriber<CloseReason>,
  ) {}

  connectionClosed(reason: CloseReason): void {
    this.subscriber.next(reason);
    this.subscriber.complete();
  }

  unsubscribe(): void {
    this.connection.unwatchClose(this);
  }
}

/**
 * One `send()` subscription in one object: the observer of `output$`, the close hook and the
 * teardown, where closures and a second subscription to the close would cost several.
 */
class Sending implements Observer<Output>, CloseHook, Unsubscribable {
  private flushing = false;
  private output: Subscription | undefined;

  constructor(
    private readonly connection: DuplexConnection,
    private readonly destination: Subscriber<never>,
  ) {}

  start(output$: Observable<Output>): void {
    this.output = output$.subscribe(this);
  }

  next(chunk: Output): void {
    if (this.connection.isEnding()) {
      this.destination.error(new ConnectionClosedError('Connection is closing'));
    } else {
      this.connection.write(chunk);
    }
  }

  error(error: unknown): void {
    this.destination.error(error);
  }

  complete(): void {
    this.flushing = true;
    this.connection.flushFor(this);
  }

  flushed(): void {
    this.destination.complete();
  }

  connectionClosed(reason: CloseReason): void {
    if (this.flushing && reason.type === 'done') {
      this.destination.complete();
    } else {
      const cause = 'error' in reason ? reason.error : undefined;
      this.destination.error(new ConnectionClosedError(undefined, { cause }));
    }
  }

  unsubscribe(): void {
    this.output?.unsubscribe();
    this.connection.unwatchClose(this);
  }
}

/** Removes the first `item` from `list`; `true` if it was there. */
function removeFrom<T>(list: T[] | undefined, item: T): boolean {
  const index = list === undefined ? -1 : list.indexOf(item);
  if (index < 0) {
    return false;
  }
  list!.splice(index, 1);
  return true;
}

import { Observable, type Subscriber, type Subscription } from 'rxjs';
import { ConnectionLostError, type RxnetError } from '../../errors';
import type {
  Address,
  CloseReason,
  Connection,
  ConnectionId,
  ConnectionState,
  Output,
  TlsInfo,
} from '../../types';
import { removeFrom } from './lists';
import type { ConnectionLimits } from './options';
import {
  FULL_READ,
  addReader,
  finishReaders,
  fullRead,
  updateFlow,
  type ChunkReader,
} from './readPath';
import { startActivityTimer, startCloseTimer, startHalfOpenTimer, stopTimers } from './timers';
import type { Transport, TransportSink } from './transport';
import { Sending } from './send';
import {
  DrainWatch,
  flushed,
  settleFlushWaiters,
  write,
  type DrainHook,
  type FlushWaiter,
} from './writePath';

/** Who a connection is: its id and both ends' addresses. */
export interface ConnectionInfo {
  /** The connection's {@link Connection.id}. */
  readonly id: ConnectionId;
  /** This end's address. */
  readonly local: Address;
  /** The peer's address. */
  readonly remote: Address;
  /** What the TLS handshake settled, for a connection over TLS. */
  readonly tls?: TlsInfo | undefined;
}

/** Told once when a connection closes: `closed$`'s subscribers and `send()`'s, in a plain list. @internal */
export interface CloseHook {
  connectionClosed(reason: CloseReason): void;
}

const DONE: CloseReason = { type: 'done' };

/**
 * The one implementation of the {@link Connection} contract, over any {@link Transport}: a Node
 * `Duplex` (`fromDuplex`, and so `listen`, `connect` and the virtual network) or the testing kit's
 * scripted peer (`memoryConnection`).
 *
 * The lifecycle is one state, and every path into a close ends in exactly one `closed()`:
 *
 * ```text
 * open ──peer FIN──▶ readClosed ──end() / halfOpenTimeout──▶ ending
 *  │                                                           │ flushed, FIN sent; peer's FIN or closeTimeout
 *  └──end()──▶ ending ─────────────────────────────────────────┴──▶ closed (done)
 * any state but closed ──abort() / error / timeout──▶ closing ──transport closed──▶ closed (reason)
 * ```
 *
 * The first reason decided is the one reported: a later abort, error or timeout cannot replace
 * it, as the first cause is the true one. The read path (`readPath.ts`), the write path and corking
 * (`writePath.ts`) and the timers (`timers.ts`) are functions over this object's fields, kept
 * apart by concern; this file holds the state changes.
 *
 * @internal
 */
export class CoreConnection implements Connection, TransportSink {
  state: ConnectionState = 'open';
  /** The reason decided so far (the first one wins); final once `state` is `closed`. */
  reason: CloseReason | undefined;
  /** Replaced once, by an upgrade (`startTls`): see `upgrade.ts`. */
  transport: Transport;
  /**
   * An upgrade (`startTls`) is under way: from its request until the new stream takes over,
   * nothing is read and nothing received is delivered, so plaintext sent after the request can
   * never pass for the protected stream's bytes.
   */
  upgrading = false;
  /** What the handshake of an upgrade settled; `tls` reads it before the `info` it was made with. */
  upgradedTls: TlsInfo | undefined;

  /* The read path. */
  /** `data$`'s subscribers; a plain list rather than a Subject, created by the first one. */
  readers: ChunkReader[] | undefined;
  reading = false;
  /** `pause()` was called (Twisted's `pauseProducing`). */
  userPaused = false;
  /** The peer's FIN has arrived. */
  peerFin = false;
  /** Our FIN has been sent, after `end()` flushed. */
  ourFin = false;

  /* The write path. */
  /** Pending output is at or above the high-water mark: `write()` returns `false`, reading pauses. */
  writeBlocked = false;
  /**
   * Whether full reads (a whole 64 KiB buffer: more is probably waiting) make this connection
   * let the others read before it reads again (`readPath.ts`); a server turns it on.
   */
  yieldsAfterFullRead = false;
  /**
   * Whether a blocked output pauses this connection's own reading. A server turns it off and
   * pauses, instead, the connection whose input caused the write (`serveConnections.ts`).
   */
  backpressurePausesReading = true;
  /** Reading is held until the next event-loop iteration, after full reads. */
  yielding = false;
  /** The event-loop iteration of this connection's last full read, and how many it made in it. */
  fullReadIteration = -1;
  fullReads = 0;
  /** Writes in this event-loop turn: 0, 1 (sent at once), or 2 for "more, corked until the turn ends". */
  turnWrites = 0;
  drainHooks: DrainHook[] | undefined;
  /** Output handed on since the connection opened, in the units of `pendingBytes`. */
  flushedBytes = 0;
  /** The `send()`s whose source completed, waiting for their last bytes to be handed on. */
  flushWaiters: FlushWaiter[] | undefined;
  /** Times the output reached the high-water mark and paused reading (for diagnostics). */
  backpressurePauses = 0;

  /* The timers, and the activity they measure. */
  lastRead = 0;
  lastWrite = 0;
  activityTimer: Subscription | undefined;
  closeTimer: Subscription | undefined;
  halfOpenTimer: Subscription | undefined;
  drainTimer: Subscription | undefined;

  closeHooks: CloseHook[] | undefined;
  private dataObservable: Observable<Buffer> | undefined;
  private closedObservable: Observable<CloseReason> | undefined;
  private drainObservable: Observable<void> | undefined;

  constructor(
    private readonly info: ConnectionInfo,
    readonly limits: ConnectionLimits,
    private readonly live: Set<Connection> | undefined,
    makeTransport: (sink: TransportSink) => Transport,
  ) {
    this.transport = makeTransport(this);
    live?.add(this);
    if (limits.tracksActivity) {
      startActivityTimer(this);
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

  get tls(): TlsInfo | undefined {
    return this.upgradedTls ?? this.info.tls;
  }

  /** Created on first use, as many connections never have their data or close observed. */
  get data$(): Observable<Buffer> {
    return (this.dataObservable ??= new Observable<Buffer>((subscriber) =>
      addReader(this, subscriber),
    ));
  }

  get closed$(): Observable<CloseReason> {
    return (this.closedObservable ??= new Observable<CloseReason>((subscriber) => {
      const notice = new CloseNotice(this, subscriber);
      return this.watchClose(notice) ? notice : undefined;
    }));
  }

  get drain$(): Observable<void> {
    return (this.drainObservable ??= new Observable<void>((subscriber) => {
      if (this.state === 'closed') {
        subscriber.complete();
        return undefined;
      }
      return new DrainWatch(this, subscriber);
    }));
  }

  /** Output dropped by a close (an abort, an error) no longer counts, though the stream still holds it. */
  get pendingWriteBytes(): number {
    const state = this.state;
    return state === 'closing' || state === 'closed' ? 0 : this.transport.pendingBytes;
  }

  write(data: Output): boolean {
    return write(this, data, undefined);
  }

  /**
   * Writes `data` at the end of the event-loop iteration, with the others held for this
   * connection (`writePath.ts`), even when it is the first: a server's write of one chunk to many
   * receivers, where a system call per receiver per chunk, rather than per iteration, is the cost.
   */
  writeHeld(data: Output): boolean {
    return write(this, data, undefined, true);
  }

  end(): void {
    const state = this.state;
    if (state !== 'open' && state !== 'readClosed') {
      return;
    }
    this.state = 'ending';
    this.halfOpenTimer?.unsubscribe();
    // Reading goes on, discarding, until the peer's FIN or the close timeout.
    updateFlow(this);
    this.transport.end((error) => this.finSent(error));
  }

  abort(reason?: RxnetError): void {
    const state = this.state;
    if (state === 'closing' || state === 'closed') {
      return;
    }
    this.decide(reason === undefined ? { type: 'aborted' } : { type: 'aborted', error: reason });
    this.transport.reset();
  }

  send(source: Observable<Output> | AsyncIterable<Output>): Observable<never> {
    return new Observable<never>((subscriber) => {
      const sending = new Sending(this, subscriber);
      if (!this.watchClose(sending)) {
        return undefined;
      }
      sending.start(source);
      return sending;
    });
  }

  pause(): void {
    this.userPaused = true;
    updateFlow(this);
  }

  resume(): void {
    this.userPaused = false;
    updateFlow(this);
  }

  /** `true` while `write()` is accepted: before `end()`, and after the peer's FIN. */
  isWritable(): boolean {
    return this.state === 'open' || this.state === 'readClosed';
  }

  /** Calls `hook` when the connection closes and returns `true`, or at once if it has, returning `false`. */
  watchClose(hook: CloseHook): boolean {
    if (this.state === 'closed') {
      hook.connectionClosed(this.reason!);
      return false;
    }
    // A literal of one: a first push() would give the array room for 17 (V8), held while open.
    if (this.closeHooks === undefined) this.closeHooks = [hook];
    else this.closeHooks.push(hook);
    return true;
  }

  unwatchClose(hook: CloseHook): void {
    removeFrom(this.closeHooks, hook);
  }

  /**
   * A close is decided: nothing more is read or written, and the transport is on its way to
   * `closed()`. Only the first reason is kept.
   */
  decide(reason: CloseReason): void {
    if (this.reason === undefined) {
      this.reason = reason;
    }
    this.state = 'closing';
    updateFlow(this);
  }

  /** A timeout fired: the connection closes with `reason` unless another was decided first. */
  timedOut(reason: CloseReason): void {
    if (this.state === 'closing' || this.state === 'closed') {
      return;
    }
    this.decide(reason);
    this.transport.destroy();
  }

  /* TransportSink: what the transport reports. */

  received(chunk: Buffer): void {
    if (this.yieldsAfterFullRead && chunk.length >= FULL_READ) {
      fullRead(this);
    }
    if (this.limits.tracksActivity) {
      this.lastRead = this.limits.scheduler.now();
    }
    const readers = this.readers;
    if (this.state !== 'open' || readers === undefined || this.upgrading) {
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

  peerEnded(): void {
    this.peerFin = true;
    if (this.state === 'open') {
      this.state = 'readClosed';
      // data$ completes at the FIN (Twisted's readConnectionLost); the connection stays writable.
      finishReaders(this, DONE);
      updateFlow(this);
      // A reader may have ended or closed the connection as data$ completed: then no timer.
      if (this.state === 'readClosed') {
        startHalfOpenTimer(this);
      }
    } else if (this.state === 'ending' && this.ourFin) {
      // Our FIN was sent before: both sides are done.
      this.transport.destroy();
    } else {
      updateFlow(this);
    }
  }

  countFlushed(bytes: number): void {
    this.flushedBytes += bytes;
  }

  get awaitsFlushes(): boolean {
    return this.writeBlocked || this.flushWaiters !== undefined;
  }

  outputFlushed(): void {
    flushed(this);
    if (this.flushWaiters !== undefined) settleFlushWaiters(this);
  }

  failed(error: Error): void {
    if (this.state === 'closed') {
      return;
    }
    this.decide({ type: 'lost', error: new ConnectionLostError(undefined, { cause: error }) });
  }

  closed(): void {
    if (this.state === 'closed') {
      return;
    }
    const reason = this.reason ?? DONE;
    this.reason = reason;
    this.state = 'closed';
    this.writeBlocked = false;
    this.reading = false;
    stopTimers(this);
    this.transport.detach();
    this.live?.delete(this);
    finishReaders(this, reason);
    this.drainHooks = undefined;
    const hooks = this.closeHooks;
    this.closeHooks = undefined;
    if (hooks !== undefined) {
      for (const hook of hooks) {
        hook.connectionClosed(reason);
      }
    }
  }

  /** `end()`'s output is flushed and our FIN sent: close now if the peer's FIN came, else wait for it. */
  private finSent(error?: Error | null): void {
    if (this.state !== 'ending' || error != null) {
      // A failed flush is reported by the transport as failed(), then closed().
      return;
    }
    this.ourFin = true;
    if (this.peerFin) {
      this.transport.destroy();
    } else {
      startCloseTimer(this);
    }
  }
}

/** One `closed$` subscription: a close hook that is also its own teardown. */
class CloseNotice implements CloseHook {
  constructor(
    private readonly connection: CoreConnection,
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

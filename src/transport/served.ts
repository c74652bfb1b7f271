import type { Observable, Observer, Subject, Subscription } from 'rxjs';
import { RxnetError, StartTlsError, TlsError } from '../errors';
import { asRxnetError } from '../internal/asRxnetError';
import { frameError, type FrameCounts } from '../observability/connectionDiagnostics';
import type { CloseReason, Connection, ConnectionId, ServerEvent, TlsInfo } from '../types';
import type { FrameDecoder } from '../framing/decoder';
import { CoreConnection, type CloseHook } from './connection/core';
import { FrameFeed, type ChunkBatch } from './frameFeed';

/** What a {@link Served} connection reports to its server. */
export interface ServerState<T> {
  readonly events: Subject<ServerEvent<T>>;
  readonly live: Map<ConnectionId, Served<T>>;
  /** A connection has closed and left `live`. */
  connectionClosed(id: ConnectionId): void;
  /** The connection whose event the behaviour is handling right now: the cause of its writes. */
  current: Served<T> | undefined;
  /** Whether a write that fills a receiver pauses its sender (see `writeTo`); off in a shutdown. */
  pausesSenders: boolean;
  /**
   * A fresh decoder over the connection's `data$`: at the start, and again after a `startTls`.
   * Made when it is subscribed rather than kept, as a server holds one {@link Served} per open
   * connection and the operator chain's Observables are needed only to subscribe.
   */
  framesOf(connection: Connection): Observable<T>;
  /**
   * How a {@link CoreConnection}'s frames are read without an operator chain (`frameFeed.ts`):
   * the framing's decoder factory (`undefined`: unframed) and the batch its chunks are handled
   * in. `undefined` when the server's decoder is not one of rxnet's: then {@link framesOf}.
   */
  readonly direct:
    | {
        readonly createDecoder: (() => FrameDecoder<T>) | undefined;
        readonly batch: ChunkBatch | undefined;
      }
    | undefined;
}

/**
 * One served connection: the observer of its frames, and of its close through a small
 * {@link ServedClose}. Objects with methods rather than closures, as a server holds one per open
 * connection.
 */
export class Served<T> implements Observer<T>, FrameCounts, CloseHook {
  /** Plain counts, read only by diagnostics (see `connectionDiagnostics.ts`). */
  framesIn = 0;
  framesOut = 0;
  pauses = 0;
  /** The frames, read through `framesOf`'s operator chain. */
  private frames: Subscription | undefined;
  /** The frames, read directly (see {@link ServerState.direct}). */
  private feed: FrameFeed<T> | undefined;
  private closedSubscription: Subscription | undefined;

  constructor(
    private readonly server: ServerState<T>,
    readonly connection: Connection,
  ) {}

  start(): void {
    this.started = true;
    // A `startTls` on `connectionMade` came first: the frames begin once TLS has.
    if (this.tls !== 'upgrading') {
      this.readFrames();
    }
    const connection = this.connection;
    if (connection instanceof CoreConnection) {
      // Told directly, without the Observable, subscriber and notice `closed$` would hold for as
      // long as the connection is open (issue 12's idle memory).
      this.watchingClose = connection.watchClose(this);
    } else {
      this.closedSubscription = connection.closed$.subscribe(new ServedClose(this));
    }
  }

  /**
   * Whether the frames being read have stopped: a decoder feeding this (a `FrameSink`) stops
   * emitting. Only the direct path asks; a subscription's decoder asks its subscriber.
   */
  get closed(): boolean {
    return this.feed === undefined || this.feed.stopped;
  }

  private readFrames(): void {
    const connection = this.connection;
    const direct = this.server.direct;
    if (direct !== undefined && connection instanceof CoreConnection) {
      const feed = new FrameFeed(connection, this, direct.createDecoder, direct.batch);
      this.feed = feed;
      feed.start();
    } else {
      this.frames = this.server.framesOf(connection).subscribe(this);
    }
  }

  /** Stops reading frames, dropping what the decoder held. */
  private stopFrames(): void {
    this.frames?.unsubscribe();
    this.frames = undefined;
    this.feed?.unsubscribe();
    this.feed = undefined;
  }

  /** This is among its {@link CoreConnection}'s close hooks. */
  private watchingClose = false;

  /** The connection closed ({@link CloseHook}). */
  connectionClosed(reason: CloseReason): void {
    this.watchingClose = false;
    this.connectionLost(reason);
  }

  /** `start()` has been called: an upgrade done before it leaves the first subscription to it. */
  private started = false;
  /** Where a `startTls` command stands; `stopped` once the server no longer serves this connection. */
  private tls: 'plain' | 'upgrading' | 'secure' | 'stopped' = 'plain';

  /**
   * Carries out a `startTls` command with the server's upgrade (`undefined`: the server has none,
   * and the connection is aborted with a {@link StartTlsError}).
   *
   * The decoder is unsubscribed at once, so the frames after the command in the same chunk and
   * what the decoder held are dropped: sent before the peer saw the reply, they are plaintext
   * that must never pass for protected input (CVE-2011-0411). A fresh decoder reads the decrypted
   * bytes once the upgrade is done. A failed upgrade aborts the connection itself.
   */
  startTls(upgrade: ((connection: Connection) => Observable<TlsInfo>) | undefined): void {
    if (upgrade === undefined) {
      this.connection.abort(new StartTlsError('notConfigured'));
      return;
    }
    if (this.tls === 'plain') {
      this.tls = 'upgrading';
      this.stopFrames();
    }
    let upgraded: Observable<TlsInfo>;
    try {
      upgraded = upgrade(this.connection);
    } catch (error: unknown) {
      // A hand-written `upgradeTls` that throws fails this connection, not the server.
      this.connection.abort(
        error instanceof RxnetError ? error : new TlsError(undefined, { cause: error }),
      );
      return;
    }
    // Not unsubscribed by stop(): that would abort a connection the server means to end gracefully.
    upgraded.subscribe(new TlsUpgrade(this));
  }

  tlsStarted(tls: TlsInfo): void {
    if (this.tls !== 'upgrading') {
      return;
    }
    this.tls = 'secure';
    this.server.events.next({ type: 'tlsStarted', id: this.connection.id, tls });
    if (this.started && this.tls === 'secure' && this.connection.state === 'open') {
      this.readFrames();
    }
  }

  /** Receivers this connection waits for (see `writeTo`); created on the first. */
  private waitingOn: Set<Served<T>> | undefined;
  /** Senders waiting for this connection to drain, and the one subscription that tells them. */
  private waiters: Set<Served<T>> | undefined;
  private drain: Subscription | undefined;

  next(data: T): void {
    const server = this.server;
    const previous = server.current;
    this.framesIn += 1;
    server.current = this;
    try {
      server.events.next({ type: 'data', id: this.connection.id, data });
    } finally {
      server.current = previous;
    }
  }

  /**
   * A decoder's error (bad input, or a frame cut short by the peer's FIN) aborts this connection
   * with it as the reason. A lost connection's own error arrives here too; abort() is then a no-op.
   */
  error(error: unknown): void {
    const reason = asRxnetError(error);
    const state = this.connection.state;
    if (state !== 'closing' && state !== 'closed') frameError(this.connection, reason);
    this.connection.abort(reason);
  }

  /** The frames ended: at the peer's FIN the behaviour is told; at a close, connectionLost follows. */
  complete(): void {
    if (this.connection.state === 'readClosed') {
      this.server.events.next({ type: 'readConnectionLost', id: this.connection.id });
    }
  }

  connectionLost(reason: CloseReason): void {
    const server = this.server;
    const id = this.connection.id;
    server.live.delete(id);
    this.stop();
    server.events.next({ type: 'connectionLost', id, reason });
    server.connectionClosed(id);
  }

  /** Pauses reading this connection until `receiver` drains or closes. */
  waitFor(receiver: Served<T>): void {
    const waitingOn = (this.waitingOn ??= new Set());
    if (waitingOn.has(receiver)) {
      return;
    }
    waitingOn.add(receiver);
    if (waitingOn.size === 1) {
      this.pauses += 1;
      this.connection.pause();
    }
    (receiver.waiters ??= new Set()).add(this);
    receiver.drain ??= receiver.connection.drain$.subscribe(new DrainRelease(receiver));
  }

  /** This connection drained or closed: whoever waited for it reads again. */
  release(): void {
    this.drain?.unsubscribe();
    this.drain = undefined;
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters !== undefined) {
      for (const sender of waiters) {
        sender.stopWaitingFor(this);
      }
    }
  }

  /**
   * Reads again at once, whoever this connection waited for: a shutdown reads what peers have
   * already sent, and a slow receiver's queue (bounded by `maxPendingWriteBytes`) takes the rest.
   */
  stopWaiting(): void {
    const waitingOn = this.waitingOn;
    this.waitingOn = undefined;
    if (waitingOn === undefined || waitingOn.size === 0) {
      return;
    }
    for (const receiver of waitingOn) {
      receiver.waiters?.delete(this);
    }
    this.connection.resume();
  }

  stop(): void {
    this.tls = 'stopped';
    this.stopFrames();
    this.closedSubscription?.unsubscribe();
    if (this.watchingClose) {
      this.watchingClose = false;
      (this.connection as CoreConnection).unwatchClose(this);
    }
    this.release();
    const waitingOn = this.waitingOn;
    this.waitingOn = undefined;
    if (waitingOn !== undefined) {
      for (const receiver of waitingOn) {
        receiver.waiters?.delete(this);
      }
    }
  }

  private stopWaitingFor(receiver: Served<T>): void {
    const waitingOn = this.waitingOn;
    if (waitingOn !== undefined && waitingOn.delete(receiver) && waitingOn.size === 0) {
      this.connection.resume();
    }
  }
}

/** A receiver's `drain$` (completed at its close): either way its senders may go on. */
class DrainRelease<T> implements Observer<void> {
  constructor(private readonly receiver: Served<T>) {}

  next(): void {
    this.receiver.release();
  }

  error(): void {
    this.receiver.release();
  }

  complete(): void {
    this.receiver.release();
  }
}

/** A `startTls` upgrade's outcome: a failure has aborted the connection, so only success matters. */
class TlsUpgrade<T> implements Observer<TlsInfo> {
  constructor(private readonly served: Served<T>) {}

  next(tls: TlsInfo): void {
    this.served.tlsStarted(tls);
  }

  error(): void {
    // The connection was aborted with the error: its connectionLost tells the behaviour.
  }

  complete(): void {
    // After its one value.
  }
}

class ServedClose<T> implements Observer<CloseReason> {
  constructor(private readonly served: Served<T>) {}

  next(reason: CloseReason): void {
    this.served.connectionLost(reason);
  }

  error(): void {
    // closed$ never fails.
  }

  complete(): void {
    // closed$ completes right after its one reason.
  }
}

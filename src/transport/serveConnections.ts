import { Observable, Subject, Subscription, type Observer, type OperatorFunction } from 'rxjs';
import { BehaviourError, EncodeError, InvalidFrameError, RxnetError } from '../errors';
import type {
  Behaviour,
  CloseReason,
  Connection,
  ConnectionId,
  Output,
  ServerCommand,
  ServerEvent,
} from '../types';

/**
 * A `write` command could not be carried out: `encode` threw, or without `encode` its data was
 * not bytes. The write is dropped and nobody's connection is closed: its receivers did nothing
 * wrong, and the sender's data may not be the cause either; the server goes on serving.
 */
export interface WriteFailed {
  readonly type: 'writeFailed';
  /** The ids the write was for. */
  readonly to: ConnectionId | readonly ConnectionId[];
  readonly error: EncodeError;
}

/**
 * What {@link serveConnections} emits: the events that reach the end of the behaviour, whose data
 * is of the frame type `T`, and failed writes.
 */
export type ServerOutput<T = unknown> = ServerEvent<T> | WriteFailed;

/**
 * How a server turns bytes into the behaviour's messages and back. Without `decode` the behaviour
 * receives the raw `Buffer` chunks, and without `encode` its `write` data must be an
 * {@link Output}; the types cannot insist on that without getting in the way of generic callers,
 * so it is the caller's part of the contract.
 */
export interface ServeConnectionsOptions<T, O> {
  /** Framing for each connection's bytes, e.g. `lines()`; subscribed once per connection. */
  readonly decode?: OperatorFunction<Buffer, T>;
  /** Turns a `write` command's data into bytes, once per command (not once per receiver). */
  readonly encode?: (data: O) => Output;
}

/**
 * Runs a {@link Behaviour} over a stream of connections: the transport-agnostic heart of a server.
 *
 * ```text
 * connections$: -a---------b------|
 * a.data$:        --x---|
 * events:       -m--d---l-m-------   m=connectionMade d=data l=connectionLost (each with its id)
 * ```
 *
 * Every connection's events are merged into one stream, tagged with the connection's id, and the
 * behaviour is subscribed to it once, so its state (counts, who is connected) lives in one place
 * and never glitches. What the behaviour emits is carried out: `write` to one id or to each of an
 * array of ids (a string is encoded once for all of them), `close` (flush, then FIN) and `abort`;
 * commands for ids that are no longer connected are ignored, as a write to a closed Twisted
 * transport is. Events that reach the end of the pipeline are emitted by the returned Observable,
 * which is handy for logs and tests, and otherwise ignored.
 *
 * Errors stop at the connection: when `decode` fails, that connection is aborted with the error as
 * its close reason and nothing it sent afterwards is delivered; a lost connection ends with a
 * `connectionLost` event, never with an error on the server's stream.
 *
 * The source of connections may be `listen()` over real sockets, or `fromDuplex` over
 * `duplexPair()` halves (the testing kit's virtual network). When it completes, the server keeps
 * serving the open connections and completes once the last has closed. Unsubscribing ends every
 * open connection gracefully.
 *
 * ## Example
 * ```ts
 * import { filter, map } from 'rxjs';
 * import { serveConnections, write, type Behaviour } from 'rxnet';
 *
 * const echo: Behaviour = (events) =>
 *   events.pipe(
 *     filter((event) => event.type === 'data'),
 *     map((event) => write(event.id, event.data)),
 *   );
 * serveConnections(connections$, echo).subscribe();
 * ```
 *
 * @param connections$ The connections to serve; each must have a distinct id.
 * @param behaviour The server's logic, from events to commands.
 * @param options `decode` and `encode` for framed protocols.
 * @returns An Observable that runs the server while subscribed and emits the events that reach the
 * end of the behaviour. Fails only when `connections$` or the behaviour itself fails.
 * @see {@link fromDuplex}
 */
export function serveConnections<T = Buffer, O = Output>(
  connections$: Observable<Connection>,
  behaviour: Behaviour<T, O>,
  options: ServeConnectionsOptions<T, O> = {},
): Observable<ServerOutput<T>> {
  const decode = options.decode;
  const encode = options.encode;
  return new Observable<ServerOutput<T>>((subscriber) => {
    const events = new Subject<ServerEvent<T>>();
    const live = new Map<ConnectionId, Served<T>>();
    const server: ServerState<T> = { events, live, completeIfDrained, current: undefined };
    let sourceDone = false;

    function execute(output: ServerCommand<O> | ServerEvent<T>): void {
      switch (output.type) {
        case 'write':
          write(output.to, output.data);
          break;
        case 'close':
          live.get(output.id)?.connection.end();
          break;
        case 'abort':
          live.get(output.id)?.connection.abort();
          break;
        default:
          subscriber.next(output);
      }
    }

    function write(to: ConnectionId | readonly ConnectionId[], data: O): void {
      let bytes: Output;
      try {
        bytes = encode === undefined ? (data as Output) : encode(data);
      } catch (error: unknown) {
        subscriber.next({
          type: 'writeFailed',
          to,
          error: new EncodeError(undefined, { cause: error }),
        });
        return;
      }
      if (typeof bytes !== 'string' && !(bytes instanceof Uint8Array)) {
        const what = bytes === null ? 'null' : typeof bytes;
        subscriber.next({
          type: 'writeFailed',
          to,
          error: new EncodeError(`A write command's data must be a string or bytes, got ${what}`),
        });
        return;
      }
      if (typeof to === 'number') {
        writeTo(live.get(to), bytes);
        return;
      }
      if (typeof bytes === 'string' && to.length > 1) {
        bytes = Buffer.from(bytes);
      }
      for (const id of to) {
        writeTo(live.get(id), bytes);
      }
    }

    /**
     * A write that finds its receiver at the high-water mark pauses the connection whose event
     * caused it (the sender of a broadcast) until the receiver drains or closes: a burst waits for
     * a fast reader instead of piling into its queue, and only a reader that stays behind for
     * `drainTimeout` is cut off.
     */
    function writeTo(target: Served<T> | undefined, bytes: Output): void {
      if (target !== undefined && !target.connection.write(bytes)) {
        const sender = server.current;
        if (sender !== undefined && sender !== target && isWritable(target.connection)) {
          sender.waitFor(target);
        }
      }
    }

    function accept(connection: Connection): void {
      const served = new Served(server, connection);
      live.set(connection.id, served);
      events.next({
        type: 'connectionMade',
        id: connection.id,
        local: connection.local,
        remote: connection.remote,
      });
      const frames$ =
        decode === undefined
          ? (connection.data$ as Observable<unknown> as Observable<T>)
          : connection.data$.pipe(decode);
      served.start(frames$);
    }

    function completeIfDrained(): void {
      if (sourceDone && live.size === 0) {
        events.complete();
      }
    }

    /**
     * The behaviour is one pipeline for every connection, so its failure ends the server: the
     * connections are ended gracefully (flushed, then FIN: never reset), then the stream fails
     * with a BehaviourError carrying the cause.
     */
    function behaviourFailed(error: unknown): void {
      stopAll();
      subscriber.error(
        error instanceof BehaviourError ? error : new BehaviourError({ cause: error }),
      );
    }

    function stopAll(): void {
      source.unsubscribe();
      for (const served of live.values()) {
        served.stop();
      }
      const connections = [...live.values()];
      live.clear();
      for (const served of connections) {
        served.connection.end();
      }
    }

    // A holder, as a connection can make the behaviour fail before subscribe() returns.
    const source = new Subscription();
    let behaviour$: Observable<ServerCommand<O> | ServerEvent<T>>;
    try {
      behaviour$ = behaviour(events.asObservable());
    } catch (error: unknown) {
      subscriber.error(new BehaviourError({ cause: error }));
      return undefined;
    }
    const behaviourSubscription = behaviour$.subscribe({
      next: execute,
      error: behaviourFailed,
      complete: () => subscriber.complete(),
    });
    source.add(
      connections$.subscribe({
        next: accept,
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          sourceDone = true;
          completeIfDrained();
        },
      }),
    );

    return () => {
      behaviourSubscription.unsubscribe();
      stopAll();
    };
  });
}

/** What a {@link Served} connection reports to its server. */
interface ServerState<T> {
  readonly events: Subject<ServerEvent<T>>;
  readonly live: Map<ConnectionId, Served<T>>;
  completeIfDrained(): void;
  /** The connection whose event the behaviour is handling right now: the cause of its writes. */
  current: Served<T> | undefined;
}

/**
 * One served connection: the observer of its frames, and of its close through a small
 * {@link ServedClose}. Objects with methods rather than closures, as a server holds one per open
 * connection.
 */
class Served<T> implements Observer<T> {
  private frames: Subscription | undefined;
  private closed: Subscription | undefined;

  constructor(
    private readonly server: ServerState<T>,
    readonly connection: Connection,
  ) {}

  start(frames$: Observable<T>): void {
    this.frames = frames$.subscribe(this);
    this.closed = this.connection.closed$.subscribe(new ServedClose(this));
  }

  /** Receivers this connection waits for (see `writeTo`); created on the first. */
  private waitingOn: Set<Served<T>> | undefined;
  /** Senders waiting for this connection to drain, and the one subscription that tells them. */
  private waiters: Set<Served<T>> | undefined;
  private drain: Subscription | undefined;

  next(data: T): void {
    const server = this.server;
    const previous = server.current;
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
    this.connection.abort(asRxnetError(error));
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
    server.completeIfDrained();
  }

  /** Pauses reading this connection until `receiver` drains or closes. */
  waitFor(receiver: Served<T>): void {
    const waitingOn = (this.waitingOn ??= new Set());
    if (waitingOn.has(receiver)) {
      return;
    }
    waitingOn.add(receiver);
    if (waitingOn.size === 1) {
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

  stop(): void {
    this.frames?.unsubscribe();
    this.closed?.unsubscribe();
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

/** A close reason carries an RxnetError; a decoder's foreign error is wrapped, keeping it as cause. */
function asRxnetError(error: unknown): RxnetError {
  if (error instanceof RxnetError) {
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new InvalidFrameError(message, { cause: error });
}

function isWritable(connection: Connection): boolean {
  return connection.state === 'open' || connection.state === 'readClosed';
}

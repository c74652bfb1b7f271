import { Observable, Subject, type Observer, type OperatorFunction, type Subscription } from 'rxjs';
import { InvalidFrameError, RxnetError } from '../errors';
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
 * import { filter, map, merge } from 'rxjs';
 * import { serveConnections, type Behaviour } from 'rxnet';
 *
 * const echo: Behaviour = (events) =>
 *   events.pipe(
 *     filter((event) => event.type === 'data'),
 *     map((event) => ({ type: 'write', to: event.id, data: event.data }) as const),
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
): Observable<ServerEvent<unknown>> {
  const decode = options.decode;
  const encode = options.encode;
  return new Observable<ServerEvent<unknown>>((subscriber) => {
    const events = new Subject<ServerEvent<T>>();
    const live = new Map<ConnectionId, Served<T>>();
    const server: ServerState<T> = { events, live, completeIfDrained };
    let sourceDone = false;

    function execute(output: ServerCommand<O> | ServerEvent<unknown>): void {
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
        for (const id of typeof to === 'number' ? [to] : to) {
          live.get(id)?.connection.abort(asRxnetError(error));
        }
        return;
      }
      if (typeof to === 'number') {
        live.get(to)?.connection.write(bytes);
        return;
      }
      if (typeof bytes === 'string' && to.length > 1) {
        bytes = Buffer.from(bytes);
      }
      for (const id of to) {
        live.get(id)?.connection.write(bytes);
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

    const behaviourSubscription = behaviour(events.asObservable()).subscribe({
      next: execute,
      error: (error: unknown) => subscriber.error(error),
      complete: () => subscriber.complete(),
    });
    const sourceSubscription = connections$.subscribe({
      next: accept,
      error: (error: unknown) => subscriber.error(error),
      complete: () => {
        sourceDone = true;
        completeIfDrained();
      },
    });

    return () => {
      sourceSubscription.unsubscribe();
      behaviourSubscription.unsubscribe();
      for (const served of live.values()) {
        served.stop();
      }
      for (const served of live.values()) {
        served.connection.end();
      }
      live.clear();
    };
  });
}

/** What a {@link Served} connection reports to its server. */
interface ServerState<T> {
  readonly events: Subject<ServerEvent<T>>;
  readonly live: Map<ConnectionId, Served<T>>;
  completeIfDrained(): void;
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

  next(data: T): void {
    this.server.events.next({ type: 'data', id: this.connection.id, data });
  }

  /** A lost connection's own error arrives here too; abort() is then a no-op. */
  error(error: unknown): void {
    this.connection.abort(asRxnetError(error));
  }

  complete(): void {
    // The close, which follows, is reported through closed$.
  }

  connectionLost(reason: CloseReason): void {
    const server = this.server;
    const id = this.connection.id;
    server.live.delete(id);
    this.stop();
    server.events.next({ type: 'connectionLost', id, reason });
    server.completeIfDrained();
  }

  stop(): void {
    this.frames?.unsubscribe();
    this.closed?.unsubscribe();
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

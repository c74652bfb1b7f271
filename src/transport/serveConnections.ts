import {
  Observable,
  Subject,
  Subscription,
  asyncScheduler,
  timer,
  type OperatorFunction,
  type SchedulerLike,
} from 'rxjs';
import { BehaviourError, EncodeError, InvalidCommandError } from '../errors';
import { connectionServed, shutdownPhase } from '../observability/connectionDiagnostics';
import { frameDecoderOf } from '../framing/decoder';
import { CoreConnection } from './connection/core';
import { checkDelay } from './connection/options';
import { FanOutBatch } from './fanOutBatch';
import { Served } from './served';
import {
  DEFAULT_SHUTDOWN_TIMEOUT,
  Shutdown,
  type ShutdownComplete,
  type ShutdownConfig,
  type ShutdownHost,
  type ShutdownProgress,
} from './shutdown';
import type {
  Behaviour,
  Codec,
  Connection,
  ConnectionId,
  ConnectionRefused,
  Output,
  ServerCommand,
  ServerEvent,
  TlsInfo,
} from '../types';

export { DEFAULT_SHUTDOWN_TIMEOUT, type ShutdownComplete, type ShutdownProgress } from './shutdown';

/**
 * A `write` command could not be carried out: `encode` threw, or without `encode` its data was
 * not bytes. The write is dropped and nobody's connection is closed: its receivers did nothing
 * wrong, and the sender's data may not be the cause either; the server goes on serving.
 */
export interface WriteFailed {
  /** Tells it apart from the events in a {@link ServerOutput}. */
  readonly type: 'writeFailed';
  /** The ids the write was for. */
  readonly to: ConnectionId | readonly ConnectionId[];
  /** Why, with the encoder's error as its `cause`. */
  readonly error: EncodeError;
}

/**
 * What {@link serveConnections} emits: the events that reach the end of the behaviour, whose data
 * is of the frame type `T`, failed writes, and a graceful shutdown's progress and report.
 */
export type ServerOutput<T = unknown> =
  ServerEvent<T> | WriteFailed | CommandRejected | ShutdownProgress | ShutdownComplete;

/**
 * The behaviour emitted something that is not a command the server can carry out (types forbid
 * it; JavaScript and casts do not). It is dropped, and the server goes on serving.
 */
export interface CommandRejected {
  /** Tells it apart from the events in a {@link ServerOutput}. */
  readonly type: 'commandRejected';
  /** What the behaviour emitted. */
  readonly command: unknown;
  /** What is wrong with it. */
  readonly error: InvalidCommandError;
}

/**
 * How a server turns bytes into the behaviour's messages and back: `framing` for both directions,
 * or `decode` and `encode` one at a time. Without a decoder the behaviour receives the raw
 * `Buffer` chunks, and without an encoder its `write` data must be an {@link Output}; the types
 * cannot insist on that without getting in the way of generic callers, so it is the caller's part
 * of the contract.
 */
export interface ServeConnectionsOptions<T, O> {
  /**
   * The protocol's framing in both directions, e.g. `lines({ encoding: 'utf8' })`,
   * `netstrings()` or your own {@link Codec}: its `decode` is subscribed once per connection, its
   * `encode` called once per `write` command. Not together with `decode` or `encode` (a
   * `TypeError` at call time).
   */
  readonly framing?: Codec<T, O>;
  /** Framing for each connection's bytes, e.g. `lines()`; subscribed once per connection. */
  readonly decode?: OperatorFunction<Buffer, T>;
  /**
   * Turns a `write` command's data into bytes, once per command (not once per receiver): one
   * part, or several written in order.
   */
  readonly encode?: (data: O) => Output | readonly Output[];
  /**
   * How a behaviour's `startTls` command upgrades a connection, e.g. `(connection) =>
   * startTls(connection, { key, cert })` (`serve` builds it from its `startTls` options). Without
   * it, a `startTls` command aborts its connection with a `StartTlsError`.
   */
  readonly upgradeTls?: ((connection: Connection) => Observable<TlsInfo>) | undefined;
  /**
   * Its first emission begins a graceful shutdown (see {@link serveConnections}); a second one
   * aborts at once whatever is still open. The source of connections should stop on the same
   * trigger (`serve` passes it to `listen` as `stopAccepting`).
   */
  readonly shutdown?: Observable<unknown>;
  /**
   * Milliseconds from the shutdown's start until the connections still open are aborted; 0 up to
   * 2^31−1, or `Infinity` to wait for every connection however long it takes.
   *
   * @defaultValue {@link DEFAULT_SHUTDOWN_TIMEOUT} (10000)
   */
  readonly shutdownTimeout?: number;
  /**
   * How long a shutdown goes on reading and serving before it ends the connections: subscribed
   * when the shutdown begins, over at its first emission or its completion. It should last until
   * what peers sent before the shutdown has been read: `serve` waits for a full event-loop poll
   * phase, which reads everything the kernel had received.
   *
   * @defaultValue `timer(0, scheduler)`: the next tick of the scheduler
   */
  readonly shutdownReadWindow?: Observable<unknown>;
  /** Where the shutdown's deadline and default read window run. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
}

/**
 * Runs a {@link Behaviour} over a stream of connections: the transport-agnostic heart of a server.
 *
 * ```text
 * connections$: -a---------b------|
 * a.data$:        --x---|             | at the peer's FIN
 * events:       -m--d---r-m-------   m=connectionMade d=data r=readConnectionLost (each with its id)
 * ```
 *
 * and `connectionLost` follows once the connection has closed (after `close`, or
 * `halfOpenTimeout`):
 *
 * ```text
 * events:       ...r--l   r=readConnectionLost l=connectionLost
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
 * `duplexPair()` halves (the testing kit's virtual network). It may also emit
 * {@link ConnectionRefused} values, peers turned away before a connection was made (`serve` feeds
 * `listen`'s `onRefused` in): each reaches the behaviour as it is, a `connectionRefused` event
 * without an id. When the source completes, the server keeps serving the open connections and
 * completes once the last has closed. Unsubscribing ends every open connection gracefully (flush,
 * then FIN) without waiting for anything: the hard stop.
 *
 * ## Graceful shutdown
 *
 * The first emission of `shutdown` begins it; here `shutdownTimeout` is 10 frames, connection 1
 * answers our FIN at once and connection 2 never does:
 *
 * ```text
 * shutdown:    ----s
 * readWindow:      ---w               (shutdownReadWindow, subscribed at s)
 * output:      ----g-d(lP)---(kC|)
 * ```
 *
 * `g` = `shuttingDown`, `d` = data from 1 still read in the window, `l` = 1's `connectionLost`
 * (`done`), `P` = `shutdownProgress` (1 open), `k` = 2's `connectionLost` (`aborted` at the
 * deadline), `C` = `shutdownComplete` (1 graceful, 1 aborted).
 *
 * 1. The behaviour gets `{ type: 'shuttingDown', deadline }`: what it writes now (a goodbye) is
 *    flushed before each connection ends.
 * 2. For the read window (`shutdownReadWindow`) the connections are read and served as before, so
 *    what peers sent before the shutdown is handled; no sender waits for a slow receiver meanwhile,
 *    whose queue takes the rest up to `maxPendingWriteBytes`.
 * 3. Then every connection is ended (flush, then FIN; reading goes on, discarding, so the kernel
 *    never answers the close with a RST) and a `shutdownProgress` reports what is still open.
 *    Connections the source still emits are ended at once; replies the behaviour makes after
 *    this point are dropped, as their connections are no longer writable.
 * 4. At the deadline, `shutdownTimeout` after the start, what is still open is aborted.
 * 5. Once every connection has closed, the behaviour's input completes, `shutdownComplete`
 *    reports how many closed gracefully and how many were aborted, and the server completes,
 *    whether or not the source has.
 *
 * A second emission of `shutdown` forces the stop: what is still open is aborted at once, and the
 * report says `forced: true`. The deadline and the read window run on `scheduler`, so
 * `TestScheduler` and the virtual network drive them.
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
 * @param connections$ The connections to serve, each with a distinct id, and the refusals to tell
 * the behaviour about.
 * @param behaviour The server's logic, from events to commands.
 * @param options `framing` (or `decode` and `encode`) for framed protocols; `shutdown`,
 * `shutdownTimeout`, `shutdownReadWindow` and `scheduler` for a graceful shutdown.
 * @throws `TypeError` at call time when `framing` is given with `decode` or `encode`, or for a
 * negative `shutdownTimeout`; `RangeError` for one above 2^31−1 ms (but `Infinity`).
 * @returns An Observable that runs the server while subscribed and emits the events that reach the
 * end of the behaviour. Fails only when `connections$`, the behaviour itself or the `shutdown`
 * trigger fails.
 * @see {@link fromDuplex}
 */
export function serveConnections<T = Buffer, O = Output>(
  connections$: Observable<Connection | ConnectionRefused>,
  behaviour: Behaviour<T, O>,
  options: ServeConnectionsOptions<T, O> = {},
): Observable<ServerOutput<T>> {
  const { decode, encode } = codecOf(options);
  // rxnet's own decoders (and no decoder) are fed each chunk without an operator chain.
  const createDecoder = decode === undefined ? undefined : frameDecoderOf(decode);
  const scheduler = options.scheduler ?? asyncScheduler;
  const shutdownConfig: ShutdownConfig = {
    timeout: checkDelay('shutdownTimeout', options.shutdownTimeout, DEFAULT_SHUTDOWN_TIMEOUT),
    scheduler,
    readWindow: options.shutdownReadWindow ?? timer(0, scheduler),
  };
  const trigger = options.shutdown;
  return new Observable<ServerOutput<T>>((subscriber) => {
    const events = new Subject<ServerEvent<T>>();
    const live = new Map<ConnectionId, Served<T>>();
    // Lines broadcast while one chunk is handled reach each receiver as one write (fanOutBatch.ts).
    const fanOut = new FanOutBatch<Served<T>>((to, data, sender, frames) => {
      for (const id of to) writeTo(live.get(id), data, sender, frames, to.length > 1);
    });
    const directFraming =
      decode === undefined
        ? { createDecoder: undefined, batch: undefined }
        : createDecoder === undefined
          ? undefined
          : { createDecoder, batch: fanOut };
    const server: ShutdownHost<T> = {
      events,
      live,
      connectionClosed,
      current: undefined,
      pausesSenders: true,
      framesOf: (connection) =>
        decode === undefined
          ? (connection.data$ as Observable<unknown> as Observable<T>)
          : fanOut.around(connection.data$).pipe(decode),
      direct: directFraming,
      progress: (progress) => subscriber.next(progress),
      finish,
    };
    let sourceDone = false;
    let shutdown: Shutdown<T> | undefined;
    /** The shutdown is over: the behaviour's completion no longer completes the server. */
    let finishing = false;

    function execute(output: ServerCommand<O> | ServerEvent<T>): void {
      // Checked, not trusted: a JavaScript behaviour or a cast can emit anything, and a throw here
      // would surface as an uncaught exception, not as a failure of that one command.
      if (typeof output !== 'object' || output === null) {
        reject(
          output,
          `expected a command or an event, got ${output === null ? 'null' : typeof output}`,
        );
        return;
      }
      switch (output.type) {
        case 'write':
          // An audience being held has been checked already: skip walking it once per line.
          if (fanOut.isHeld(output.to) || isTarget(output.to)) {
            write(output.to, output.data);
          } else {
            reject(output, 'a write needs `to`: a connection id or an array of ids');
          }
          break;
        case 'close':
          fanOut.flush();
          live.get(output.id)?.connection.end();
          break;
        case 'abort':
          fanOut.flush();
          live.get(output.id)?.connection.abort(output.reason);
          break;
        case 'startTls':
          fanOut.flush();
          live.get(output.id)?.startTls(options.upgradeTls);
          break;
        default:
          subscriber.next(output);
      }
    }

    function reject(command: unknown, reason: string): void {
      subscriber.next({
        type: 'commandRejected',
        command,
        error: new InvalidCommandError(reason),
      });
    }

    function write(to: ConnectionId | readonly ConnectionId[], data: O): void {
      let encoded: unknown = data;
      if (encode !== undefined) {
        try {
          encoded = encode(data);
        } catch (error: unknown) {
          writeFailed(to, new EncodeError(undefined, { cause: error }));
          return;
        }
        // Only an encoder gives parts: without one, an array is data that is not bytes.
        if (isParts(encoded)) {
          writeParts(to, encoded);
          return;
        }
      }
      if (!isOutput(encoded)) {
        writeFailed(to, notBytes('data', encoded));
        return;
      }
      let bytes: Output = encoded;
      if (typeof to === 'number') {
        fanOut.flush();
        writeTo(live.get(to), bytes);
        return;
      }
      if (fanOut.holding) {
        fanOut.add(to, server.current, bytes);
        return;
      }
      if (typeof bytes === 'string' && to.length > 1) {
        bytes = Buffer.from(bytes);
      }
      const held = to.length > 1;
      for (const id of to) {
        writeTo(live.get(id), bytes, server.current, 1, held);
      }
    }

    /** An encoder's several parts (header, payload, delimiter): each receiver gets all, in order. */
    function writeParts(
      to: ConnectionId | readonly ConnectionId[],
      parts: readonly Output[],
    ): void {
      for (const part of parts) {
        if (!isOutput(part)) {
          writeFailed(to, notBytes('encoded part', part));
          return;
        }
      }
      if (typeof to === 'number') {
        fanOut.flush();
        const target = live.get(to);
        let frames = 1;
        for (const part of joinSmall(parts)) {
          writeTo(target, part, server.current, frames);
          frames = 0;
        }
        return;
      }
      if (fanOut.holding) {
        let frames = 1;
        for (const part of parts) {
          fanOut.add(to, server.current, part, frames);
          frames = 0;
        }
        return;
      }
      // A string would be encoded once per receiver; as bytes it is encoded once.
      const shared = joinSmall(to.length > 1 ? parts.map(toBytes) : parts);
      for (const id of to) {
        const target = live.get(id);
        let frames = 1;
        for (const part of shared) {
          writeTo(target, part, server.current, frames);
          frames = 0;
        }
      }
    }

    function writeFailed(to: ConnectionId | readonly ConnectionId[], error: EncodeError): void {
      subscriber.next({ type: 'writeFailed', to, error });
    }

    /**
     * A write that finds its receiver at the high-water mark pauses the connection whose event
     * caused it (the sender of a broadcast, or the receiver itself for a reply) until the receiver
     * drains or closes: a burst waits for a fast reader instead of piling into its queue, and only
     * a reader that stays behind for `drainTimeout` is cut off. The receiver's own reading is not
     * paused for it (`accept` turns that off): a client whose output is full of others' data would
     * otherwise be kept from sending by the senders it is slow to take from, and under a burst a
     * few senders would starve the rest (issue 12's fairness).
     */
    function writeTo(
      target: Served<T> | undefined,
      bytes: Output,
      sender: Served<T> | undefined = server.current,
      frames = 1,
      held = false,
    ): void {
      if (target === undefined) return;
      target.framesOut += frames;
      // A write to many receivers waits for the turn's end (`writeHeld`): one system call per
      // receiver per event-loop iteration, however many chunks it relays (issue 12's trickle).
      const connection = target.connection;
      const accepted =
        held && connection instanceof CoreConnection
          ? connection.writeHeld(bytes)
          : connection.write(bytes);
      if (!accepted) {
        // In a shutdown other senders read on (see `Shutdown`), but a connection that filled its
        // own output still waits for it, as its own reading used to pause: its queue stays bounded.
        if (
          sender !== undefined &&
          (server.pausesSenders || sender === target) &&
          isWritable(target.connection)
        ) {
          sender.waitFor(target);
        }
      }
    }

    function accept(item: Connection | ConnectionRefused): void {
      if (isRefusal(item)) {
        events.next(item);
        return;
      }
      const connection = item;
      const served = new Served(server, connection);
      if (connection instanceof CoreConnection) {
        // Fair reads (issue 12): a busy sender lets the others read before it reads again, and a
        // full output pauses whoever filled it (`writeTo`), not the receiver's own reading.
        connection.yieldsAfterFullRead = true;
        connection.backpressurePausesReading = false;
      }
      live.set(connection.id, served);
      events.next({
        type: 'connectionMade',
        id: connection.id,
        local: connection.local,
        remote: connection.remote,
      });
      connectionServed(connection, served);
      served.start();
      shutdown?.accepted(served);
    }

    function connectionClosed(id: ConnectionId): void {
      if (shutdown !== undefined) {
        shutdown.connectionClosed(id);
      } else {
        completeIfDrained();
      }
    }

    function completeIfDrained(): void {
      if (sourceDone && live.size === 0) {
        events.complete();
      }
    }

    function onTrigger(): void {
      if (shutdown === undefined) {
        shutdown = new Shutdown(server, shutdownConfig);
        shutdownPhase('start', live.size);
        shutdown.begin();
      } else {
        shutdown.force();
      }
    }

    /** Every connection has closed: the behaviour's input ends, then the report, then completion. */
    function finish(report: ShutdownComplete): void {
      shutdownPhase('end', live.size, report.aborted === 0);
      finishing = true;
      triggerSubscription.unsubscribe();
      source.unsubscribe();
      events.complete();
      subscriber.next(report);
      subscriber.complete();
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
      fanOut.flush();
      shutdown?.stop();
      triggerSubscription.unsubscribe();
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

    // Holders, as a connection can make the behaviour fail before subscribe() returns.
    const source = new Subscription();
    const triggerSubscription = new Subscription();
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
      complete: () => {
        if (!finishing) subscriber.complete();
      },
    });
    // Before the source: `serve` shares one trigger with `listen`, and the shutdown must have
    // begun before `listen` stops and completes the source, or a server with no connection
    // left would complete without its shutdown.
    if (trigger !== undefined) {
      triggerSubscription.add(
        trigger.subscribe({
          next: onTrigger,
          error: (error: unknown) => subscriber.error(error),
        }),
      );
    }
    source.add(
      connections$.subscribe({
        next: accept,
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          sourceDone = true;
          if (shutdown === undefined) completeIfDrained();
        },
      }),
    );

    return () => {
      behaviourSubscription.unsubscribe();
      stopAll();
    };
  });
}

/**
 * The decoder and encoder the options give, checked at call time: `framing` or the pair, not both.
 * Internal: `serve` calls it too, so that it throws before anything is subscribed.
 */
export function codecOf<T, O>(
  options: ServeConnectionsOptions<T, O>,
): {
  readonly decode: Codec<T, O>['decode'] | undefined;
  readonly encode: Codec<T, O>['encode'] | undefined;
} {
  const { framing, decode, encode } = options;
  if (framing === undefined) {
    return { decode, encode };
  }
  if (decode !== undefined || encode !== undefined) {
    throw new TypeError(
      '`framing` sets both directions: give it alone, or `decode` and `encode` without it',
    );
  }
  return { decode: framing.decode, encode: framing.encode };
}

/**
 * The parts of one encoded message up to this many bytes (counting a string's characters) are
 * joined and written as one: a message then leaves as one segment, as a peer that reads a reply
 * with a single read expects (openssl's `-starttls smtp` took a line's separately sent CRLF as the
 * start of TLS). A larger payload is not copied; its parts are written in order.
 */
const JOIN_PARTS_MAX_BYTES = 16 * 1024;

function joinSmall(parts: readonly Output[]): readonly Output[] {
  if (parts.length < 2) return parts;
  let total = 0;
  for (const part of parts) {
    total += part.length;
    if (total > JOIN_PARTS_MAX_BYTES) return parts;
  }
  return [
    Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part))),
  ];
}

function isParts(encoded: unknown): encoded is readonly Output[] {
  return Array.isArray(encoded);
}

function isOutput(value: unknown): value is Output {
  return typeof value === 'string' || value instanceof Uint8Array;
}

function toBytes(part: Output): Output {
  return typeof part === 'string' ? Buffer.from(part) : part;
}

function notBytes(what: string, value: unknown): EncodeError {
  const type = value === null ? 'null' : typeof value;
  return new EncodeError(`A write command's ${what} must be a string or bytes, got ${type}`);
}

/** A refusal is an event (it has a `type`); a connection is not. */
function isRefusal(item: Connection | ConnectionRefused): item is ConnectionRefused {
  return (item as { readonly type?: unknown }).type === 'connectionRefused';
}

function isWritable(connection: Connection): boolean {
  return connection.state === 'open' || connection.state === 'readClosed';
}

function isTarget(to: unknown): to is ConnectionId | readonly ConnectionId[] {
  return typeof to === 'number' || (Array.isArray(to) && to.every((id) => typeof id === 'number'));
}

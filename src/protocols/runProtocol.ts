import { merge, Observable, type OperatorFunction, share, Subject, Subscription, take } from 'rxjs';
import { EncodeError } from '../errors';
import { codecOf } from '../transport/serveConnections';
import type { CloseReason, Codec, Connection, ConnectionMade, Output } from '../types';
import { Forwarded, type PerConnection, type ProtocolContext } from './context';
import { asProtocolError, subscribingFor } from './internal';

/** How {@link runProtocol} turns a connection's bytes into frames, and the protocol's output into bytes. */
export interface RunProtocolOptions<T, O> {
  /**
   * The protocol's framing in both directions, e.g. `lines({ encoding: 'utf8' })`, as a server's
   * `framing` option takes it; or give `decode` and `encode` apart, not both ways at once.
   */
  readonly framing?: Codec<T, O>;
  /** Frames the connection's bytes; without it (or `framing`), frames are the raw chunks. */
  readonly decode?: OperatorFunction<Buffer, T>;
  /**
   * Turns one output value into bytes, or into parts written in order without concatenating them
   * (what `encodeLine` and `encodeLengthPrefixedFrame` return); without it, values must be
   * {@link Output}.
   */
  readonly encode?: (data: O) => Output | readonly Output[];
}

/**
 * Runs a per-connection protocol over one {@link Connection}: a client's, or any single one.
 *
 * ```text
 * data$ (lines):  -a--b--|          a='hi'  b='yo'   (| = the peer's FIN)
 * written:        -A--B--           A='HI'  B='YO'
 * connection:     -------(end)      the protocol completed: end(), flush then FIN
 * runProtocol():  ---------------|  completes once the connection has closed
 * ```
 * (with `(conn) => conn.frames$.pipe(map((s) => s.toUpperCase()))`)
 *
 * The same function that {@link protocol} runs once per server connection drives one connection
 * here, so a client and a server are written alike, and a {@link requester}'s protocol runs on
 * either. Frames are `connection.data$` through the framing (or `decode`), shared, so the protocol may subscribe to
 * `frames$` more than once; what the protocol emits is encoded and written; its completion ends
 * the connection (`end()`: flush, then FIN); its error aborts the connection with the error as
 * the close reason (wrapped in {@link ProtocolError} unless it is an {@link RxnetError}), as does
 * an `encode` that throws ({@link EncodeError}, with the cause). `closed$` is the connection's.
 *
 * The returned Observable is cold: subscribing starts the protocol. It emits the messages the
 * protocol {@link forward}s (a client's parsed notifications, say), completes once the connection
 * has closed, whatever the reason (read it from `closed$`), and fails with the protocol's error
 * after aborting. Unsubscribing stops the protocol and ends the connection gracefully, as
 * unsubscribing from `connect()` does.
 *
 * ## Example
 * ```ts
 * import { concat, ignoreElements, of, take, tap } from 'rxjs';
 * import { connectAsync, lines, runProtocol } from 'rxnet';
 *
 * const connection = await connectAsync('tcp:localhost:8007');
 * // Says hello, prints the first reply, and hangs up.
 * runProtocol(
 *   connection,
 *   (conn) => concat(of('hello'), conn.frames$.pipe(take(1), tap(console.log), ignoreElements())),
 *   { framing: lines({ encoding: 'utf8' }) },
 * ).subscribe();
 * ```
 *
 * @param connection The connection to run on; the protocol decides when it ends.
 * @param perConnection The protocol, as for {@link protocol}.
 * @param options `framing`, or `decode` and `encode`.
 * @returns An Observable that runs the protocol while subscribed and emits what it forwards.
 * Fails with the protocol's error ({@link ProtocolError} for a foreign one) or an
 * {@link EncodeError}, after aborting the connection with it.
 * @throws `TypeError` at call time when `framing` is given with `decode` or `encode`.
 * @see {@link protocol}
 */
export function runProtocol<T = Buffer, O = Output, M = never>(
  connection: Connection,
  perConnection: PerConnection<T, O, M>,
  options: RunProtocolOptions<T, O> = {},
): Observable<M> {
  const { decode, encode } = codecOf(options);
  return new Observable<M>((subscriber) => {
    const { id, local, remote } = connection;
    const made: ConnectionMade = { type: 'connectionMade', id, local, remote };
    const decoded$ =
      decode === undefined
        ? (connection.data$ as Observable<unknown> as Observable<T>)
        : connection.data$.pipe(decode);
    const frames$ = untilClosed(connection, decoded$).pipe(share());
    // A socket reports its close a turn after the abort; the protocol is torn down at once, so
    // without this a requester would fail its pending calls as if the close had been clean.
    const failed$ = new Subject<CloseReason>();
    const context: ProtocolContext<T> = {
      id,
      local,
      remote,
      made,
      frames$,
      closed$: merge(failed$, connection.closed$).pipe(take(1)),
    };

    // A holder, as the protocol can fail before the close is watched.
    const watch = new Subscription();

    function fail(error: unknown): void {
      const reason = asProtocolError(error);
      // The abort closes the connection, which would complete this Observable before it fails.
      watch.unsubscribe();
      failed$.next({ type: 'aborted', error: reason });
      connection.abort(reason);
      subscriber.error(reason);
    }

    function write(data: O): void {
      let bytes: Output | readonly Output[];
      try {
        bytes = encode === undefined ? (data as Output) : encode(data);
      } catch (error: unknown) {
        fail(new EncodeError(undefined, { cause: error }));
        return;
      }
      if (typeof bytes === 'string' || bytes instanceof Uint8Array) {
        connection.write(bytes);
      } else {
        for (const part of bytes) connection.write(part);
      }
    }

    let output$: Observable<O | Forwarded<M>>;
    try {
      output$ = perConnection(context);
    } catch (error: unknown) {
      fail(error);
      return undefined;
    }
    subscriber.add(
      subscribingFor(id, () =>
        output$.subscribe({
          next: (value) => {
            if (value instanceof Forwarded) subscriber.next((value as Forwarded<M>).message);
            else write(value);
          },
          error: fail,
          complete: () => connection.end(),
        }),
      ),
    );
    watch.add(connection.closed$.subscribe(() => subscriber.complete()));
    subscriber.add(watch);
    return () => connection.end();
  });
}

/**
 * The frames, ending as they do under `protocol()`: completion is the peer's FIN, an error is bad
 * input; when the connection closes they just stop, and `closed$` (which follows at once) says
 * why. `data$` also ends at the close, with the reason's error or none, and passing that on would
 * tell a requester a reset was a clean end, or make a protocol fail for a loss it did not cause.
 */
function untilClosed<T>(connection: Connection, frames$: Observable<T>): Observable<T> {
  return new Observable<T>((subscriber) =>
    frames$.subscribe({
      next: (frame) => subscriber.next(frame),
      error: (error: unknown) => {
        if (connection.state !== 'closed') subscriber.error(error);
      },
      complete: () => {
        if (connection.state !== 'closed') subscriber.complete();
      },
    }),
  );
}

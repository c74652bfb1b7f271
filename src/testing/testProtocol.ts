import { NEVER, Observable, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { Forwarded, PerConnection, ProtocolContext } from '../protocols/context';
import type { CloseReason, ConnectionMade } from '../types';
import { made as madeEvent } from './events';
import { observableMatcher } from './observableMatcher';

/** The input side of {@link testProtocol}: one connection's frames, and its close, as hot marbles. */
export interface ProtocolInput<T, C extends ConnectionMade = ConnectionMade> {
  /**
   * The connection's frames as a hot marble diagram (`^` marks where the protocol starts; frame 0
   * when absent). `|` is the peer's FIN (`readConnectionLost`); `#` fails `frames$`, as a
   * connection's `data$` fails when it is lost.
   */
  readonly frames: string;
  /** The frame each letter of `frames` stands for. */
  readonly values?: Readonly<Record<string, T>>;
  /** The error `#` in `frames` stands for. */
  readonly error?: unknown;
  /**
   * When the connection closes, as a hot marble diagram with one value (`-----c`): `closed$`
   * emits its reason, then the protocol is unsubscribed, as `protocol()` does at `connectionLost`.
   */
  readonly closed?: string;
  /** The {@link CloseReason} each letter of `closed` stands for. */
  readonly reasons?: Readonly<Record<string, CloseReason>>;
  /**
   * The `connectionMade` event the protocol sees as `conn.made` (and its `id`, `local`, `remote`).
   * @defaultValue `made(1)`; give one with `count` to test a protocol that runs after `countConnections()`.
   */
  readonly made?: C;
  /** An unsubscription diagram (`---!`), to test what happens when the server stops. */
  readonly unsubscribe?: string;
  /** A scheduler to run on; a fresh `new TestScheduler(observableMatcher)` when absent. */
  readonly scheduler?: TestScheduler;
}

/** The assertion of {@link testProtocol}; it runs the whole marble test at once. */
export interface ProtocolExpectation<O, M> {
  /**
   * Asserts the protocol's output: the values it writes, those it forwards (`forward(m)`), and
   * its end: `|` closes the connection, `#` aborts it with the error.
   */
  toEmit(
    marbles: string,
    values?: Readonly<Record<string, O | Forwarded<M>>>,
    error?: unknown,
  ): void;
}

/**
 * Runs a per-connection protocol against frames written as marbles and asserts what it emits:
 * frames in, output out, in virtual time, with no server and no socket.
 *
 * ```text
 * frames:   -a-b-|        a='NICK bob'  b='hi'
 * toEmit:   -x-y-|        x='welcome bob'  y=forward('bob: hi')
 * ```
 *
 * It is {@link testBehaviour} for the function given to `protocol()` or `runProtocol()`: the
 * frames become a `hot()` Observable that is the protocol's `frames$`, the protocol is
 * subscribed at frame 0 (or at `^`), and its output is compared with {@link observableMatcher},
 * so typed errors match by name, code and message. Timers inside it that use the default
 * `asyncScheduler`, or this scheduler, run in virtual time. Errors are compared as the protocol
 * raises them; `protocol()` wraps a foreign one in `ProtocolError` when it aborts the connection.
 *
 * ## Example
 * ```ts
 * import { map } from 'rxjs';
 * import { testProtocol } from 'rxnet/testing';
 *
 * testProtocol((conn) => conn.frames$.pipe(map((s: string) => s.toUpperCase())), {
 *   frames: '-a-b-|',
 *   values: { a: 'hi', b: 'yo' },
 * }).toEmit('-A-B-|', { A: 'HI', B: 'YO' });
 * ```
 *
 * @param perConnection The protocol under test.
 * @param input The frames, their values, the close, and optionally an unsubscription and a scheduler.
 * @returns The assertion, which runs the test when called.
 * @see {@link testBehaviour}
 */
export function testProtocol<T, O, M = never, C extends ConnectionMade = ConnectionMade>(
  perConnection: PerConnection<T, O, M, C>,
  input: ProtocolInput<T, C>,
): ProtocolExpectation<O, M> {
  return {
    toEmit(marbles, values, error) {
      const scheduler = input.scheduler ?? new TestScheduler(observableMatcher);
      scheduler.run(({ hot, expectObservable }) => {
        const frames$ = hot<T>(input.frames, input.values, input.error);
        const closeAt$ =
          input.closed === undefined ? NEVER : hot<CloseReason>(input.closed, input.reasons);
        const made = input.made ?? (madeEvent(1) as C);
        const output$ = new Observable<O | Forwarded<M>>((subscriber) => {
          const closed = new Subject<CloseReason>();
          const context: ProtocolContext<T, C> = {
            id: made.id,
            local: made.local,
            remote: made.remote,
            made,
            frames$,
            closed$: closed.asObservable(),
          };
          const instance = perConnection(context).subscribe(subscriber);
          const close = closeAt$.subscribe((reason) => {
            closed.next(reason);
            closed.complete();
            instance.unsubscribe();
          });
          return () => {
            instance.unsubscribe();
            close.unsubscribe();
          };
        });
        expectObservable(output$, input.unsubscribe).toBe(marbles, values, error);
      });
    },
  };
}

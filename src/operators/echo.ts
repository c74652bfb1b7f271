import { Observable, type OperatorFunction } from 'rxjs';
import type { CloseCommand, ConnectionId, WriteCommand } from '../types';
import { type DataOf, relay, type BehaviourItem } from './internal';

/** Options of {@link echo}. */
export interface EchoOptions {
  /**
   * Whether to close each connection right after echoing its first message, as the echo seed's
   * `loseConnection()` after `write(data)` does; nothing the connection sends after it is echoed.
   * @defaultValue `false`
   */
  readonly thenClose?: boolean;
}

/**
 * Writes each message back to the connection that sent it.
 *
 * ```text
 * source: -a-b----c----f----d-|    a=made(1)  b=data(1,'hi')  c=data(1,'yo')  f=readLost(1)  d=lost(1)
 * echo(): -a-(bw)-(cv)-(fx)-d-|    w=write(1,'hi')  v=write(1,'yo')  x=close(1)
 * ```
 *
 * Twisted's `Echo` protocol, `transport.write(data)` in `dataReceived`, as a `write` command added
 * after each `data` event. When the peer half-closes (`readConnectionLost`: it sent everything it
 * will send), a `close` command follows, and the connection ends once every echo is flushed, so a
 * client that sends a request and then FIN (`nc -N`) gets all of it back. With `{ thenClose: true }` it is the echo seed's server, which answers
 * once and hangs up: the first message of each connection is followed by its `write` and then a
 * `close` command, and the connection's later `data` events are dropped until its `connectionLost`
 * (a closing Twisted transport stops reading, too). The `data` events that are echoed pass through,
 * so a logger after `echo()` still sees what arrived. Fails only when the source fails.
 *
 * ## Example
 * ```ts
 * import { echo, type Behaviour } from 'rxnet';
 *
 * const echoOnceThenHangUp: Behaviour = (events) => events.pipe(echo({ thenClose: true }));
 * ```
 *
 * @param options Whether to close each connection after its first echo.
 * @returns A function that returns an Observable of the source's items, with a `write` command
 * back to the sender after each `data` event (and then a `close` command, with `thenClose`), and
 * a `close` command after each `readConnectionLost`.
 */
export function echo<E extends BehaviourItem>(
  options: EchoOptions = {},
): OperatorFunction<E, E | WriteCommand<DataOf<E>> | CloseCommand> {
  const thenClose = options.thenClose ?? false;
  return (source) =>
    new Observable<E | WriteCommand<DataOf<E>> | CloseCommand>((subscriber) => {
      const closing = new Set<ConnectionId>();
      relay(source, subscriber, (value) => {
        const item: BehaviourItem = value;
        if (item.type === 'data') {
          if (thenClose && closing.has(item.id)) return;
          subscriber.next(value);
          subscriber.next({ type: 'write', to: item.id, data: item.data as DataOf<E> });
          if (thenClose) {
            closing.add(item.id);
            subscriber.next({ type: 'close', id: item.id });
          }
          return;
        }
        subscriber.next(value);
        if (item.type === 'readConnectionLost' && !closing.has(item.id)) {
          closing.add(item.id);
          subscriber.next({ type: 'close', id: item.id });
        } else if (item.type === 'connectionLost') {
          closing.delete(item.id);
        }
      });
      return () => closing.clear();
    });
}

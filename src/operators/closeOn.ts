import { Observable, type OperatorFunction } from 'rxjs';
import type { CloseCommand, ConnectionId } from '../types';
import { type DataOf, relay, type BehaviourItem } from './internal';

/**
 * Closes a connection when it sends a matching message, and delivers nothing more from it.
 *
 * ```text
 * source:                         -a-b-c-d-e-|    a=made(1)  b=data(1,'hi')  c=data(1,'close')
 * closeOn((s) => s === 'close'):   -a-b-x---e-|    d=data(1,'more')  e=lost(1)  x=close(1)
 * ```
 *
 * The matching `data` event is replaced by a `close` command, and every later `data` event from
 * that connection is dropped until its `connectionLost`, which passes through: after the decision
 * to close, no operator downstream sees (and relays) anything the connection sent, even if it was
 * already on its way (Twisted's `LineOnlyReceiver` checks `transport.disconnecting` for the same
 * reason). Other connections are not affected.
 *
 * What counts as a message is up to the stream: the Spread seed compares a whole chunk,
 * `data == "close"`, which misses `close\n` as `nc` sends it, and `close` split across two chunks.
 * Frame the connections first and compare frames, `closeOn((line) => line === 'close')` after
 * `lines()`; on unframed chunks, {@link lineEquals}`('close')` also accepts one trailing `\n` or
 * `\r\n`, so it recognises what `nc` and `telnet` send in one chunk.
 *
 * Fails with whatever `predicate` throws.
 *
 * ## Example
 * ```ts
 * import { broadcast, closeOn, lineEquals, type Behaviour } from 'rxnet';
 *
 * const chat: Behaviour = (events) => events.pipe(closeOn(lineEquals('close')), broadcast());
 * ```
 *
 * @param predicate Whether a message asks to close its connection; also given the connection's id.
 * @returns A function that returns an Observable of the source's items, in which a matching
 * message becomes a `close` command for its connection and that connection's later messages are
 * dropped.
 * @see {@link lineEquals}
 */
export function closeOn<E extends BehaviourItem>(
  predicate: (data: DataOf<E>, id: ConnectionId) => boolean,
): OperatorFunction<E, E | CloseCommand> {
  return (source) =>
    new Observable<E | CloseCommand>((subscriber) => {
      const closing = new Set<ConnectionId>();
      relay(source, subscriber, (value) => {
        const item: BehaviourItem = value;
        if (item.type === 'data') {
          if (closing.size > 0 && closing.has(item.id)) return;
          if (predicate(item.data as DataOf<E>, item.id)) {
            closing.add(item.id);
            subscriber.next({ type: 'close', id: item.id });
            return;
          }
        } else if (item.type === 'connectionLost') {
          closing.delete(item.id);
        }
        subscriber.next(value);
      });
      return () => closing.clear();
    });
}

import { Observable, type OperatorFunction } from 'rxjs';
import type { ConnectionId, WriteCommand } from '../types';
import { type DataOf, relay, type BehaviourItem } from './internal';

/** Options of {@link broadcast}. */
export interface BroadcastOptions {
  /**
   * Whether the sender receives its own message too.
   * @defaultValue `false`
   */
  readonly includeSender?: boolean;
}

/**
 * Relays each message to every other open connection, as one `write` command addressed to all of
 * them.
 *
 * ```text
 * source:      -a-b-c----d-e----|    a=made(1)  b=made(2)  c=data(1,'hi')  d=lost(2)  e=data(1,'yo')
 * broadcast(): -a-b-(cw)-d-e----|    w=write([2],'hi')
 * ```
 *
 * The Spread server's `for client in clients: if client != self: client.transport.write(data)`,
 * with the list of clients derived from the `connectionMade` and `connectionLost` events that pass
 * through. A `close` or `abort` command passing through takes its connection out of the audience at
 * once, before its `connectionLost` arrives. A message with no one to receive it adds no command.
 *
 * One command carries the whole audience (`to` is an array), so the server can fan the same bytes
 * out without a command per receiver. The array is reused, not copied, for as long as the set of
 * open connections and the sender stay the same, so a steady talker costs one command per message,
 * not an array per message; a new sender costs one copy of the array, far less than the writes to
 * every receiver that follow. Do not mutate `to`: later commands share it.
 *
 * Fails only when the source fails.
 *
 * ## Example
 * ```ts
 * import { broadcast, closeOn, countConnections, greet, lineEquals, type Behaviour } from 'rxnet';
 *
 * const spread: Behaviour = (events) =>
 *   events.pipe(
 *     countConnections(),
 *     greet(({ count }) => `欢迎来到Spread Site, 你是第${count}个客户端用户!\n`),
 *     closeOn(lineEquals('close')),
 *     broadcast(),
 *   );
 * ```
 *
 * @param options Whether the sender hears itself.
 * @returns A function that returns an Observable of the source's items, with a `write` command to
 * the other open connections after each `data` event.
 * @see {@link closeOn}
 */
export function broadcast<E extends BehaviourItem>(
  options: BroadcastOptions = {},
): OperatorFunction<E, E | WriteCommand<DataOf<E>>> {
  const includeSender = options.includeSender ?? false;
  return (source) =>
    new Observable<E | WriteCommand<DataOf<E>>>((subscriber) => {
      const open = new Set<ConnectionId>();
      // Not frozen: V8 iterates and copies a frozen array several times slower, and the server
      // walks `to` for every message. `readonly` in the command's type guards it instead.
      let everyone: ConnectionId[] | null = null;
      let others: readonly ConnectionId[] | null = null;
      let othersOf: ConnectionId | null = null;

      function audienceOf(sender: ConnectionId): readonly ConnectionId[] {
        everyone ??= [...open];
        if (includeSender || !open.has(sender)) return everyone;
        if (others === null || othersOf !== sender) {
          // A copy and one splice are plain memory moves, cheaper than walking the set again.
          const ids = everyone.slice();
          ids.splice(ids.indexOf(sender), 1);
          others = ids;
          othersOf = sender;
        }
        return others;
      }

      function changed(): void {
        everyone = null;
        others = null;
      }

      relay(source, subscriber, (value) => {
        subscriber.next(value);
        const item: BehaviourItem = value;
        switch (item.type) {
          case 'data': {
            const to = audienceOf(item.id);
            if (to.length > 0) subscriber.next({ type: 'write', to, data: item.data as DataOf<E> });
            return;
          }
          case 'connectionMade':
            open.add(item.id);
            changed();
            return;
          case 'connectionLost':
          case 'close':
          case 'abort':
            if (open.delete(item.id)) changed();
            return;
          default:
            return;
        }
      });
      return () => {
        open.clear();
        changed();
      };
    });
}

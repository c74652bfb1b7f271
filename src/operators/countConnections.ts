import { Observable, type OperatorFunction } from 'rxjs';
import type { ConnectionId, ConnectionLost, ConnectionMade } from '../types';
import { relay, type BehaviourItem } from './internal';

/** The live number of connections, as {@link countConnections} adds it to lifecycle events. */
export interface ConnectionCount {
  /** How many connections are open once this event has happened (Twisted's `factory.numProtocols`). */
  readonly count: number;
}

/**
 * `E` with a {@link ConnectionCount} on its `connectionMade` and `connectionLost` members; its
 * other members (`data` events, commands) are unchanged.
 */
export type Counted<E> = E extends ConnectionMade | ConnectionLost ? E & ConnectionCount : E;

/**
 * Counts the open connections, and adds the live count to each `connectionMade` and
 * `connectionLost` event.
 *
 * ```text
 * source:             -a-b--c--d-|    a=made(1)  b=made(2)  c=data(2,'x')  d=lost(1)
 * countConnections(): -A-B--c--D-|    A={...a, count: 1}  B={...b, count: 2}  D={...d, count: 1}
 * ```
 *
 * This is the Spread server's `factory.numProtocols`, derived from the one event stream rather than
 * kept in a shared variable, so every later operator (`greet`, a logger) reads the count that holds
 * right after the event it is looking at, and the type of those events says that `count` is there.
 * `data` events and commands pass through as they are: counting costs nothing per message.
 *
 * A `connectionLost` for a connection this subscription never saw made leaves the count as it is,
 * so subscribing in the middle of a server's life cannot drive the count below zero. Fails only
 * when the source fails.
 *
 * ## Example
 * ```ts
 * import { tap } from 'rxjs';
 * import { countConnections, greet, type Behaviour } from 'rxnet';
 *
 * const spread: Behaviour = (events) =>
 *   events.pipe(
 *     countConnections(),
 *     tap((event) => {
 *       if (event.type === 'connectionMade') console.log(`new connect: ${event.count}`);
 *       if (event.type === 'connectionLost') console.log(`lost connect: ${event.count}`);
 *     }),
 *     greet(({ count }) => `欢迎来到Spread Site, 你是第${count}个客户端用户!\n`),
 *   );
 * ```
 *
 * @returns A function that returns an Observable of the source's items, with the live count added
 * to every `connectionMade` and `connectionLost` event.
 * @see {@link greet}
 */
export function countConnections<E extends BehaviourItem>(): OperatorFunction<E, Counted<E>> {
  return (source) =>
    new Observable<Counted<E>>((subscriber) => {
      const live = new Set<ConnectionId>();
      relay(source, subscriber, (value) => {
        const item: BehaviourItem = value;
        // TypeScript cannot narrow the generic `value` through the check made on `item`: hence the casts.
        if (item.type === 'connectionMade') {
          live.add(item.id);
        } else if (item.type === 'connectionLost') {
          live.delete(item.id);
        } else {
          subscriber.next(value as Counted<E>);
          return;
        }
        subscriber.next(withCount(item, live.size) as Counted<E>);
      });
      return () => live.clear();
    });
}

/** The keys, in order, of the `connectionMade` events `serve` makes. */
const MADE_KEYS: readonly string[] = ['type', 'id', 'local', 'remote'];
/** The keys, in order, of the `connectionLost` events `serve` makes. */
const LOST_KEYS: readonly string[] = ['type', 'id', 'reason'];

/**
 * `{ ...event, count }`, built as one literal when the event has exactly the keys `serve` gives it,
 * in the same order: a spread clones the event's shape and then grows it for `count`, two
 * allocations on every connection's accept and close (issue 12's connection rate). Anything else
 * (extra or reordered keys, inherited enumerable ones, symbols) is spread as before. Measured in
 * Node 20: about 25–75 ns per event for the literal against 700–850 ns for the spread.
 */
function withCount(
  event: ConnectionMade | ConnectionLost,
  count: number,
): (ConnectionMade | ConnectionLost) & ConnectionCount {
  if (event.type === 'connectionMade') {
    return hasKeys(event, MADE_KEYS)
      ? { type: event.type, id: event.id, local: event.local, remote: event.remote, count }
      : { ...event, count };
  }
  return hasKeys(event, LOST_KEYS)
    ? { type: event.type, id: event.id, reason: event.reason, count }
    : { ...event, count };
}

/**
 * Whether `value`'s enumerable keys are `keys`, in that order, and it has no symbol keys.
 * `for...in` reads V8's cached key list of the object's shape.
 */
function hasKeys(value: object, keys: readonly string[]): boolean {
  let index = 0;
  for (const key in value) {
    if (key !== keys[index]) return false;
    index += 1;
  }
  // A spread copies enumerable symbol keys too, which `for...in` does not see.
  return index === keys.length && Object.getOwnPropertySymbols(value).length === 0;
}

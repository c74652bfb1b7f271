import { Observable, type OperatorFunction } from 'rxjs';
import type { ConnectionId, ServerCommand, ServerEvent } from '../types';
import { localIdOf, nodeOf } from './entries';

/**
 * Keeps the commands a node carries out itself: those for the connections it holds, with their
 * cluster-wide ids turned back into its local ones. Everything else passes through.
 *
 * ```text
 * commands:   -a-b-c-|   a=write([1:1, 2:1], x)  b=close(2:1)  c=close(1:2)   (node:local)
 * own(1):     -a'--c'-|  a'=write([1], x)  c'=close(2)
 * ```
 *
 * A `write` to several connections keeps the receivers on this node, in order, and is dropped
 * when none is; `close` and `abort` are kept only for this node's connections. Events (and
 * anything that is not a command, which the server then rejects) pass through unchanged.
 *
 * ## Example
 * ```ts
 * log$.pipe(replayLog(), behaviour, ownCommands(node));
 * ```
 *
 * @param node This node's number.
 * @returns An operator over a behaviour's output.
 */
export function ownCommands<T, O>(
  node: number,
): OperatorFunction<ServerCommand<O> | ServerEvent<T>, ServerCommand<O> | ServerEvent<T>> {
  const mine = (id: ConnectionId): boolean => nodeOf(id) === node;
  return (source) =>
    new Observable((subscriber) =>
      source.subscribe({
        next(item) {
          switch (item.type) {
            case 'write': {
              const { to } = item;
              if (typeof to === 'number') {
                if (mine(to)) subscriber.next({ ...item, to: localIdOf(to) });
              } else if (Array.isArray(to)) {
                const local = (to as readonly ConnectionId[]).filter(mine).map(localIdOf);
                if (local.length > 0) subscriber.next({ ...item, to: local });
              } else {
                subscriber.next(item);
              }
              return;
            }
            case 'close':
            case 'abort':
              if (typeof item.id !== 'number') subscriber.next(item);
              else if (mine(item.id)) subscriber.next({ ...item, id: localIdOf(item.id) });
              return;
            default:
              subscriber.next(item);
          }
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    );
}

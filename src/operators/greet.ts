import { Observable, type OperatorFunction } from 'rxjs';
import type { ConnectionMade, Output, WriteCommand } from '../types';
import { relay, type BehaviourItem } from './internal';

/**
 * Writes a greeting to each new connection, right after its `connectionMade` event.
 *
 * ```text
 * source:        -a----b--c----|    a=made(1)  b=data(1,'x')  c=made(2)
 * greet('hi\n'): -(aw)-b--(cv)-|    w=write(1,'hi\n')  v=write(2,'hi\n')
 * ```
 *
 * Twisted's `connectionMade` is where a protocol "sends any greeting or initial message"; here the
 * greeting is a `write` command added to the stream after the event, so the server sends it and a
 * marble spec can see it. Pass a function to greet each connection differently: it receives the
 * `connectionMade` event as it is at this point of the pipeline, so after {@link countConnections}
 * it can read `count` with its type checked.
 *
 * The greeting is the server's message type: bytes by default, or any value its framing encodes
 * (`{ type: 'hello', version: 2 }` with a JSON codec). A function given as `message` is always
 * called for the greeting, never sent as one.
 *
 * Every event passes through unchanged. Fails with whatever the greeting function throws.
 *
 * ## Example
 * ```ts
 * import { countConnections, greet, type Behaviour } from 'rxnet';
 *
 * const welcome: Behaviour = (events) =>
 *   events.pipe(
 *     countConnections(),
 *     greet(({ count }) => `欢迎来到Spread Site, 你是第${count}个客户端用户!\n`),
 *   );
 * ```
 *
 * @param message The greeting, or a function of the `connectionMade` event that returns it.
 * @returns A function that returns an Observable of the source's items, with a `write` command to
 * each new connection after its `connectionMade` event.
 * @see {@link countConnections}
 */
export function greet<E extends BehaviourItem, O = Output>(
  message: O | ((event: Extract<E, ConnectionMade>) => O),
): OperatorFunction<E, E | WriteCommand<O>> {
  return (source) =>
    new Observable<E | WriteCommand<O>>((subscriber) => {
      relay(source, subscriber, (value) => {
        subscriber.next(value);
        const item: BehaviourItem = value;
        if (item.type === 'connectionMade') {
          // `item` is `value`, which is an `E`; TypeScript cannot carry that through the narrowing.
          // With any message type allowed, `O` could be a function too: a function is the greeter.
          const data =
            typeof message === 'function'
              ? (message as (event: Extract<E, ConnectionMade>) => O)(
                  value as Extract<E, ConnectionMade>,
                )
              : message;
          subscriber.next({ type: 'write', to: item.id, data });
        }
      });
    });
}

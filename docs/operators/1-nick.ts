import { concatMap, defer, type OperatorFunction } from 'rxjs';
import {
  write,
  type BehaviourItem,
  type ConnectionId,
  type DataOf,
  type DataReceived,
  type WriteCommand,
} from 'rxnet';

/** A `data` event, tagged with the nickname its connection chose. */
export type Nicked<E> = E extends DataReceived<unknown> ? E & { readonly nick: string } : E;

/**
 * Takes each connection's first message as its nickname: that message is answered with a welcome
 * and goes no further, and the connection's later `data` events pass on tagged with `nick`.
 *
 * ```text
 * source: -a-b--c-d-|    a=made(1)  b=data(1,'ada')  c=data(1,'hi')  d=lost(1)
 * nick(): -a-w--C-d-|    w=write(1,'welcome, ada\n')  C={ ...c, nick: 'ada' }
 * ```
 *
 * Fails with whatever `toName` throws.
 *
 * @param toName Turns a first message into a nickname; it is given the stream's frame type.
 * @returns An operator that passes every other item through unchanged.
 */
export function nick<E extends BehaviourItem>(
  toName: (data: DataOf<E>) => string,
): OperatorFunction<E, Nicked<E> | WriteCommand<string>> {
  return (source) =>
    defer(() => {
      // Made per subscription, so two servers built from one pipeline share no names.
      const names = new Map<ConnectionId, string>();
      return source.pipe(
        concatMap((value): (Nicked<E> | WriteCommand<string>)[] => {
          // TypeScript cannot narrow a generic `E` by its `type`; a copy typed as the union can.
          const item: BehaviourItem = value;
          if (item.type === 'connectionLost') names.delete(item.id);
          if (item.type !== 'data') return [value as Nicked<E>];
          const name = names.get(item.id);
          if (name !== undefined) return [{ ...value, nick: name } as Nicked<E>];
          const chosen = toName(item.data as DataOf<E>);
          names.set(item.id, chosen);
          return [write(item.id, `welcome, ${chosen}\n`)];
        }),
      );
    });
}

import { Observable } from 'rxjs';
import { echo, write, type Behaviour, type BehaviourItem } from 'rxnet';

/**
 * Echoes, and says goodbye (`bye`) to every open connection when the shutdown begins: the
 * behaviour of the graceful-shutdown tests, in memory and on the virtual network.
 */
export const politeEcho: Behaviour<Buffer, string | Buffer> = (events) => {
  const open = new Set<number>();
  return events.pipe(
    echo(),
    (source: Observable<BehaviourItem>) =>
      new Observable<BehaviourItem>((subscriber) =>
        source.subscribe({
          next(item) {
            subscriber.next(item);
            if (item.type === 'connectionMade') open.add(item.id);
            if (item.type === 'connectionLost') open.delete(item.id);
            if (item.type === 'shuttingDown' && open.size > 0) {
              subscriber.next(write([...open], 'bye'));
            }
          },
          error: (error: unknown) => subscriber.error(error),
          complete: () => subscriber.complete(),
        }),
      ),
  ) as ReturnType<Behaviour<Buffer, string | Buffer>>;
};

import { Observable } from 'rxjs';
import type { ClientEvent, Connection } from '../types';

/**
 * A client's lifecycle reduced to its connection: emits the `connected` Connection, completes on
 * `lost`, and fails with the `failed` event's ConnectError. Shared by rxnet's `connect` and the
 * testing kit's `VirtualNetwork.connect`, so both are their `connectEvents` seen from a caller that
 * only wants the connection; not public API. Unsubscribing unsubscribes from `events$`, which ends
 * the connection or cancels the attempt.
 */
export function connectionOf(events$: Observable<ClientEvent>): Observable<Connection> {
  return new Observable<Connection>((subscriber) =>
    events$.subscribe({
      next(event) {
        if (event.type === 'connected') {
          subscriber.next(event.connection);
        } else if (event.type === 'failed') {
          subscriber.error(event.error);
        } else if (event.type === 'lost') {
          subscriber.complete();
        }
      },
    }),
  );
}

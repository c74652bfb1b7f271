import type { Socket } from 'node:net';
import { ReplaySubject, type Subscription } from 'rxjs';
import { serve, type ServeOptions, type ServerNotification } from '../../src/net/serve';
import type { Behaviour } from '../../src/types';
import { LOOPBACK, rawClient } from './sockets';

/** A serve() on loopback that is listening, and every notification it has sent so far. */
export interface Serving<T> {
  readonly port: number;
  readonly notifications: ReplaySubject<ServerNotification<T>>;
}

/**
 * serve() on loopback port 0 and plain clients of it, each kept in the test file's own lists so
 * its afterEach() stops the servers and destroys the sockets with whatever else it tracks.
 */
export function loopbackServing(
  subscriptions: Subscription[],
  sockets: Socket[],
): {
  startServing<T, O>(behaviour: Behaviour<T, O>, options?: ServeOptions<T, O>): Promise<Serving<T>>;
  client(port: number): Promise<Socket>;
} {
  return {
    startServing<T, O>(
      behaviour: Behaviour<T, O>,
      options: ServeOptions<T, O> = {},
    ): Promise<Serving<T>> {
      const notifications = new ReplaySubject<ServerNotification<T>>();
      return new Promise((resolve, reject) => {
        subscriptions.push(
          serve(LOOPBACK, behaviour, options).subscribe({
            next(notification) {
              notifications.next(notification);
              if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
                resolve({ port: notification.address.port, notifications });
              }
            },
            error: reject,
          }),
        );
      });
    },
    async client(port: number): Promise<Socket> {
      const socket = await rawClient(port);
      sockets.push(socket);
      return socket;
    },
  };
}

import { once } from 'node:events';
import { Observable, ReplaySubject, filter, firstValueFrom, map, type Subscription } from 'rxjs';
import { InvalidFrameError, ListenError } from '../../src/errors';
import { serve, type ServerNotification } from '../../src/net/serve';
import { echo } from '../../src/operators/echo';
import type { Behaviour } from '../../src/types';
import { LOOPBACK, rawClient, receiveAll } from '../helpers/sockets';

/** Echoes each chunk to its sender and lets every event through. */
const echoing: Behaviour = (events) => events.pipe(echo());

interface Started {
  readonly port: number;
  readonly notifications: ServerNotification[];
  readonly notifications$: ReplaySubject<ServerNotification>;
  readonly subscription: Subscription;
}

/** Runs serve() and resolves with its port once it listens; notifications are collected. */
function start(run: Observable<ServerNotification>): Promise<Started> {
  const notifications: ServerNotification[] = [];
  const notifications$ = new ReplaySubject<ServerNotification>();
  return new Promise((resolve, reject) => {
    const subscription: Subscription = run.subscribe({
      next(notification) {
        notifications.push(notification);
        notifications$.next(notification);
        if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
          const port = notification.address.port;
          resolve({ port, notifications, notifications$, subscription });
        }
      },
      error: reject,
    });
  });
}

describe('serve', () => {
  describe('notifications', () => {
    it('emits listening with the bound address first, then the events that reach the end, the FIN included', async () => {
      const { port, notifications, notifications$, subscription } = await start(
        serve(LOOPBACK, echoing),
      );
      const client = await rawClient(port);
      client.write('echo me');
      const [reply] = (await once(client, 'data')) as [Buffer];
      expect(reply.toString()).toBe('echo me');
      client.end();
      await firstValueFrom(notifications$.pipe(filter(({ type }) => type === 'connectionLost')));
      subscription.unsubscribe();
      expect(notifications.map((notification) => notification.type)).toEqual([
        'listening',
        'connectionMade',
        'data',
        'readConnectionLost',
        'connectionLost',
      ]);
      // echo() answers the client's FIN with close: the connection ends at once, not after
      // halfOpenTimeout.
      expect(notifications[3]).toEqual({ type: 'readConnectionLost', id: 1 });
      expect(notifications[4]).toEqual({ type: 'connectionLost', id: 1, reason: { type: 'done' } });
      expect(notifications[0]).toEqual({
        type: 'listening',
        address: { _tag: 'TcpAddress', hostname: '127.0.0.1', port, family: 'IPv4' },
      });
    });

    it('fails with ListenError when the endpoint is taken', async () => {
      const { port, subscription } = await start(serve(LOOPBACK, echoing));
      const error: unknown = await firstValueFrom(
        serve(`tcp:${port}:interface=127.0.0.1`, echoing),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ListenError);
      subscription.unsubscribe();
    });
  });

  describe('decode and encode', () => {
    /** Splits on '\n'; the line 'bad' is an error. */
    const lines = (source: Observable<Buffer>): Observable<string> =>
      new Observable<string>((subscriber) => {
        let rest = '';
        return source.subscribe({
          next(chunk) {
            const parts = (rest + chunk.toString()).split('\n');
            rest = parts.pop()!;
            for (const line of parts) {
              if (line === 'bad') {
                subscriber.error(new InvalidFrameError('bad line'));
                return;
              }
              subscriber.next(line);
            }
          },
          error: (error: unknown) => subscriber.error(error),
          complete: () => subscriber.complete(),
        });
      });
    const shout: Behaviour<string, string> = (events) =>
      events.pipe(
        filter((event) => event.type === 'data'),
        map((event) => ({ type: 'write', to: event.id, data: event.data.toUpperCase() }) as const),
      );

    it('frames each connection and aborts only the one whose input is bad', async () => {
      const { port, subscription } = await start(
        serve(LOOPBACK, shout, { decode: lines, encode: (line) => `${line}\n` }),
      );
      const good = await rawClient(port);
      const bad = await rawClient(port);
      bad.on('error', () => undefined);
      const badReceived = receiveAll(bad).catch(() => Buffer.from('reset'));
      bad.write('fine\nbad\nnever\n');
      good.write('hello\n');
      const [reply] = (await once(good, 'data')) as [Buffer];
      expect(reply.toString()).toBe('HELLO\n');
      // The bad connection is reset after its first line's reply, and nothing after 'bad' is answered.
      expect(['FINE\n', 'reset']).toContain((await badReceived).toString());
      good.write('still\n');
      const [again] = (await once(good, 'data')) as [Buffer];
      expect(again.toString()).toBe('STILL\n');
      good.destroy();
      subscription.unsubscribe();
    });
  });
});

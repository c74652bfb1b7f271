import { once } from 'node:events';
import type { Socket } from 'node:net';
import { Observable, firstValueFrom, mergeMap, of, type Subscription } from 'rxjs';
import { WriteBufferFullError } from '../../src/errors';
import { serve, type ServerNotification } from '../../src/net/serve';
import { DEFAULT_WRITE_HIGH_WATER_MARK } from '../../src/transport/fromDuplex';
import type { Behaviour, ConnectionId, ServerCommand, ServerEvent } from '../../src/types';
import { LOOPBACK, rawClient, startListening } from '../helpers/sockets';

const MiB = 1024 * 1024;

/**
 * Writes `chunk` until `limit` bytes are out or the socket stops draining. A stall cannot be
 * awaited as an event (it is the absence of 'drain'), so it is a bounded wait for one.
 */
async function writeUntilStalled(socket: Socket, chunk: Buffer, limit: number): Promise<number> {
  let sent = 0;
  while (sent < limit) {
    sent += chunk.length;
    if (!socket.write(chunk)) {
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        once(socket, 'drain').then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(resolve, 300, false))),
      ]);
      clearTimeout(timer);
      if (!drained) {
        break;
      }
    }
  }
  return sent;
}

describe('backpressure over real sockets', () => {
  describe('writeHighWaterMark', () => {
    it('keeps an echo to a peer that never reads under the mark plus one chunk', async () => {
      const listener = await startListening();
      const peer = await rawClient(listener.port);
      peer.pause();
      const connection = await listener.accepted(0);
      let echoed = 0;
      let worstExcess = -Infinity;
      connection.data$.subscribe({ next: echo, error: () => undefined });
      function echo(chunk: Buffer): void {
        connection.write(chunk);
        echoed += chunk.length;
        // Sampled on every write: how far above the mark, less the chunk that crossed it.
        worstExcess = Math.max(
          worstExcess,
          connection.pendingWriteBytes - chunk.length - DEFAULT_WRITE_HIGH_WATER_MARK,
        );
      }
      const sent = await writeUntilStalled(peer, Buffer.alloc(64 * 1024, 'z'), 50 * MiB);
      expect(echoed).toBeGreaterThan(8 * DEFAULT_WRITE_HIGH_WATER_MARK);
      expect(echoed).toBeLessThan(sent);
      expect(worstExcess).toBeLessThanOrEqual(0);
      expect(connection.pendingWriteBytes).toBeGreaterThan(DEFAULT_WRITE_HIGH_WATER_MARK);
      peer.destroy();
      await firstValueFrom(connection.closed$);
      listener.subscription.unsubscribe();
    });
  });

  describe('maxPendingWriteBytes', () => {
    /** Relays each chunk to every other connection, and lets every event through. */
    const relay: Behaviour = (events) =>
      new Observable<ServerCommand | ServerEvent<unknown>>((subscriber) => {
        const open = new Set<ConnectionId>();
        return events
          .pipe(
            mergeMap((event) => {
              if (event.type === 'connectionMade') {
                open.add(event.id);
              } else if (event.type === 'connectionLost') {
                open.delete(event.id);
              } else if (event.type === 'data') {
                const to = [...open].filter((id) => id !== event.id);
                return of<(ServerCommand | ServerEvent<unknown>)[]>({
                  type: 'write',
                  to,
                  data: event.data,
                });
              }
              return of(event);
            }),
          )
          .subscribe(subscriber);
      });

    it('aborts a slow reader in a broadcast without affecting the others', async () => {
      const limits = { writeHighWaterMark: 64 * 1024, maxPendingWriteBytes: 1 * MiB };
      const events: ServerNotification[] = [];
      let subscription: Subscription | undefined;
      const port = await new Promise<number>((resolve, reject) => {
        subscription = serve(LOOPBACK, relay, limits).subscribe({
          next(notification) {
            if (notification.type === 'listening') {
              resolve(notification.address._tag === 'TcpAddress' ? notification.address.port : 0);
            } else {
              events.push(notification);
            }
          },
          error: reject,
        });
      });
      const producer = await rawClient(port);
      const fast = await rawClient(port);
      const slow = await rawClient(port);
      slow.pause();
      slow.on('error', () => {});
      const total = 24 * MiB;
      const chunk = Buffer.alloc(64 * 1024, 'b');
      let sent = 0;
      let fastReceived = 0;
      let caughtUp: (() => void) | undefined;
      const fastDone = new Promise<void>((resolve) => {
        fast.on('data', (data: Buffer) => {
          fastReceived += data.length;
          if (caughtUp !== undefined && sent - fastReceived <= 128 * 1024) {
            caughtUp();
            caughtUp = undefined;
          }
          if (fastReceived === total) {
            resolve();
          }
        });
      });
      // Paced by the fast reader, so only the slow one can fall behind by the limit.
      while (sent < total) {
        sent += chunk.length;
        producer.write(chunk);
        if (sent - fastReceived > 512 * 1024) {
          await new Promise<void>((resolve) => (caughtUp = resolve));
        }
      }
      await fastDone;
      expect(fastReceived).toBe(total);
      const lost = events.filter((event) => event.type === 'connectionLost');
      expect(lost).toEqual([
        {
          type: 'connectionLost',
          id: 3,
          reason: {
            type: 'aborted',
            error: expect.any(WriteBufferFullError) as WriteBufferFullError,
          },
        },
      ]);
      producer.destroy();
      fast.destroy();
      slow.destroy();
      subscription?.unsubscribe();
    });
  });
});

import { once } from 'node:events';
import type { Socket } from 'node:net';
import { firstValueFrom, type Subscription } from 'rxjs';
import { DrainTimeoutError, WriteBufferFullError } from '../../src/errors';
import { serve, type ServerNotification } from '../../src/net/serve';
import { broadcast } from '../../src/operators/broadcast';
import { DEFAULT_WRITE_HIGH_WATER_MARK } from '../../src/transport/fromDuplex';
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
      // Reading stopped because the output is at the mark (write() is false from exactly the mark).
      expect(connection.pendingWriteBytes).toBeGreaterThanOrEqual(DEFAULT_WRITE_HIGH_WATER_MARK);
      peer.destroy();
      await firstValueFrom(connection.closed$);
      listener.subscription.unsubscribe();
    });
  });

  describe('a broadcast with a reader that stops', () => {
    /*
     * Before, a broadcast wrote on into a reader that had stopped until maxPendingWriteBytes
     * aborted it with WriteBufferFullError, while the others were served on. Now a write that finds
     * a receiver at the mark pauses the sender until the receiver drains or closes: the stopped
     * reader holds about the mark plus one chunk, never maxPendingWriteBytes, the broadcast waits
     * for it, and drainTimeout cuts it off with DrainTimeoutError, after which the others get
     * everything.
     */
    it('pauses the sender, then aborts the stopped reader with DrainTimeoutError, and the fast reader gets everything', async () => {
      const drainTimeout = 300;
      const limits = { writeHighWaterMark: 64 * 1024, maxPendingWriteBytes: 1 * MiB, drainTimeout };
      const events: ServerNotification[] = [];
      let subscription: Subscription | undefined;
      const port = await new Promise<number>((resolve, reject) => {
        subscription = serve(LOOPBACK, (events$) => events$.pipe(broadcast()), limits).subscribe({
          next(notification) {
            if (notification.type === 'listening') {
              resolve(notification.address._tag === 'TcpAddress' ? notification.address.port : 0);
            } else if (notification.type !== 'data') {
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
      producer.on('error', () => {});
      fast.on('error', () => {});
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
      const started = performance.now();
      // Paced by the fast reader, so only the stopped one can fall behind.
      while (sent < total) {
        sent += chunk.length;
        producer.write(chunk);
        if (sent - fastReceived > 512 * 1024) {
          await new Promise<void>((resolve) => (caughtUp = resolve));
        }
      }
      await fastDone;
      expect(fastReceived).toBe(total);
      // The broadcast waited for the stopped reader for drainTimeout before it was cut off.
      expect(performance.now() - started).toBeGreaterThanOrEqual(drainTimeout);
      const lost = events.filter((event) => event.type === 'connectionLost');
      expect(lost).toEqual([
        {
          type: 'connectionLost',
          id: 3,
          reason: {
            type: 'aborted',
            error: expect.any(DrainTimeoutError) as DrainTimeoutError,
          },
        },
      ]);
      const [loss] = lost;
      const error =
        loss?.type === 'connectionLost' && loss.reason.type === 'aborted'
          ? loss.reason.error
          : undefined;
      expect(error).toMatchObject({ code: 'RXNET_ERR_DRAIN_TIMEOUT', timeout: drainTimeout });
      // Never near maxPendingWriteBytes: the mark plus the one chunk that found it there.
      expect((error as DrainTimeoutError).pending).toBeLessThanOrEqual(
        limits.writeHighWaterMark + chunk.length,
      );
      producer.destroy();
      fast.destroy();
      slow.destroy();
      subscription?.unsubscribe();
    });
  });

  describe('maxPendingWriteBytes', () => {
    it('aborts a connection whose writer ignores write() returning false with WriteBufferFullError', async () => {
      const limit = 1 * MiB;
      const listener = await startListening(LOOPBACK, { maxPendingWriteBytes: limit });
      const peer = await rawClient(listener.port);
      peer.pause();
      peer.on('error', () => {});
      const connection = await listener.accepted(0);
      const chunk = Buffer.alloc(64 * 1024, 'w');
      let accepted = 0;
      // In one turn, so nothing leaves for the kernel past the first write.
      while (connection.state === 'open' && accepted < 4 * limit) {
        connection.write(chunk);
        accepted += chunk.length;
      }
      const reason = await firstValueFrom(connection.closed$);
      expect(reason).toEqual({
        type: 'aborted',
        error: expect.any(WriteBufferFullError) as WriteBufferFullError,
      });
      expect(reason.type === 'aborted' ? reason.error : undefined).toMatchObject({
        code: 'RXNET_ERR_WRITE_BUFFER_FULL',
        limit,
      });
      expect(accepted).toBeLessThanOrEqual(limit + 2 * chunk.length);
      peer.destroy();
      listener.subscription.unsubscribe();
    });
  });
});

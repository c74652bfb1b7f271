import { once } from 'node:events';
import { duplexPair } from 'node:stream';
import { NEVER, VirtualTimeScheduler, firstValueFrom, lastValueFrom, of, toArray } from 'rxjs';
import { ConnectionClosedError, ConnectionLostError } from '../../src/errors';
import { fromDuplex } from '../../src/transport/fromDuplex';
import type { CloseReason } from '../../src/types';
import { listenersOf, memoryAddress, readAll, wrappedPair } from '../helpers/duplexConnection';

/*
 * The Connection contract itself (FIN and RST orders, backpressure, timeouts, send) is tested once
 * for every transport in test/conformance/; this file keeps what is particular to wrapping a Duplex.
 */

/** The events a wrapped stream could be listened to on; the teardown tests count them. */
const WATCHED = ['error', 'data', 'end', 'close', 'drain'] as const;

describe('fromDuplex', () => {
  describe('data$', () => {
    it('delivers what the peer writes, and the peer receives what is written', async () => {
      const { connection, peer } = wrappedPair();
      const received = firstValueFrom(connection.data$);
      peer.write('ping');
      expect((await received).toString()).toBe('ping');
      connection.write('pong');
      const [echo] = (await once(peer, 'data')) as [Buffer];
      expect(echo.toString()).toBe('pong');
      connection.abort();
    });

    it('does not read before the first subscriber and keeps bytes while there is none', async () => {
      const { connection, duplex, peer } = wrappedPair();
      peer.write('early');
      await new Promise((resolve) => setImmediate(resolve));
      expect(duplex.readableFlowing).toBe(false);
      expect((await firstValueFrom(connection.data$)).toString()).toBe('early');
      expect(duplex.readableFlowing).toBe(false);
      peer.write('later');
      expect((await firstValueFrom(connection.data$)).toString()).toBe('later');
      connection.abort();
    });

    it('multicasts each chunk to every subscriber', async () => {
      const { connection, peer } = wrappedPair();
      const first = firstValueFrom(connection.data$);
      const second = firstValueFrom(connection.data$);
      peer.write('both');
      expect([(await first).toString(), (await second).toString()]).toEqual(['both', 'both']);
      connection.abort();
    });

    it('is the same Observable on every read', () => {
      const { connection } = wrappedPair();
      expect(connection.data$).toBe(connection.data$);
      connection.abort();
    });

    it('keeps delivering to the other readers when one unsubscribes while it reads', async () => {
      const { connection, duplex, peer } = wrappedPair();
      const first: string[] = [];
      const subscription = connection.data$.subscribe((chunk) => {
        first.push(chunk.toString());
        subscription.unsubscribe();
      });
      const second = connection.data$.pipe(toArray());
      const all = lastValueFrom(second);
      peer.write('one');
      await once(duplex, 'data');
      peer.end('two');
      peer.resume();
      expect(first).toEqual(['one']);
      expect(Buffer.concat(await all).toString()).toBe('onetwo');
      connection.abort();
    });

    it('completes at once for a subscriber after a clean close, and fails after a lost one', async () => {
      const done = wrappedPair();
      done.connection.abort();
      await firstValueFrom(done.connection.closed$);
      await expect(lastValueFrom(done.connection.data$.pipe(toArray()))).resolves.toEqual([]);
      const lost = wrappedPair();
      lost.duplex.destroy(new Error('reset'));
      await firstValueFrom(lost.connection.closed$);
      await expect(lastValueFrom(lost.connection.data$)).rejects.toBeInstanceOf(
        ConnectionLostError,
      );
    });

    it('stops reading when its last reader unsubscribes', async () => {
      const { connection, duplex } = wrappedPair();
      const subscription = connection.data$.subscribe();
      expect(duplex.readableFlowing).toBe(true);
      subscription.unsubscribe();
      expect(duplex.readableFlowing).toBe(false);
      connection.abort();
    });
  });

  describe('closed$', () => {
    it('emits lost with the stream error as cause and fails data$', async () => {
      const { connection, duplex } = wrappedPair();
      const data = lastValueFrom(connection.data$);
      const cause = Object.assign(new Error('reset'), { code: 'ECONNRESET' });
      duplex.destroy(cause);
      const reason = await firstValueFrom(connection.closed$);
      expect(reason).toEqual({
        type: 'lost',
        error: new ConnectionLostError(undefined, { cause }),
      });
      expect(reason.type === 'lost' && reason.error.message).toBe('Connection lost: ECONNRESET');
      expect(reason.type === 'lost' && reason.error.cause).toBe(cause);
      await expect(data).rejects.toBeInstanceOf(ConnectionLostError);
    });

    it('replays the reason to a late subscriber', async () => {
      const { connection } = wrappedPair();
      connection.abort();
      await firstValueFrom(connection.closed$);
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'aborted' });
      await expect(lastValueFrom(connection.data$, { defaultValue: 'empty' })).resolves.toBe(
        'empty',
      );
    });

    it('tells nothing to a subscriber that unsubscribed before the close', async () => {
      const { connection } = wrappedPair();
      const early: CloseReason[] = [];
      connection.closed$.subscribe((reason) => early.push(reason)).unsubscribe();
      connection.abort();
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'aborted' });
      expect(early).toEqual([]);
    });
  });

  describe('closeTimeout', () => {
    it("closes at the peer's FIN and drops the timer when the peer answers in time", async () => {
      const scheduler = new VirtualTimeScheduler();
      const { connection, duplex, peer } = wrappedPair({ closeTimeout: 1000, scheduler });
      connection.end();
      peer.resume();
      await once(duplex, 'finish');
      peer.end();
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
      expect(scheduler.actions).toHaveLength(0);
    });

    it('throws a TypeError when negative', () => {
      expect(() => wrappedPair({ closeTimeout: -1 })).toThrow(TypeError);
    });
  });

  describe('writeHighWaterMark', () => {
    it('holds an echo to a peer that does not read to one chunk above the mark, and resumes on drain', async () => {
      const writeHighWaterMark = 1024;
      const chunkSize = 512;
      const total = 200 * chunkSize;
      const { connection, peer } = wrappedPair({ writeHighWaterMark });
      let maxPending = 0;
      connection.data$.subscribe((chunk) => {
        connection.write(chunk);
        maxPending = Math.max(maxPending, connection.pendingWriteBytes);
      });
      const chunk = Buffer.alloc(chunkSize, 1);
      for (let i = 0; i < total / chunkSize; i += 1) {
        peer.write(chunk);
      }
      // The peer reads nothing yet: let the echo run into its limit.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      expect(maxPending).toBeGreaterThanOrEqual(writeHighWaterMark);
      expect(maxPending).toBeLessThanOrEqual(writeHighWaterMark + chunkSize);
      let echoed = 0;
      peer.on('data', (data: Buffer) => {
        echoed += data.length;
        if (echoed === total) {
          connection.end();
          peer.end();
        }
      });
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
      expect(echoed).toBe(total);
      expect(maxPending).toBeLessThanOrEqual(writeHighWaterMark + chunkSize);
    });
  });

  describe('maxPendingWriteBytes', () => {
    it('throws a TypeError when the limit is below writeHighWaterMark', () => {
      const [duplex] = duplexPair();
      const info = { id: 1, local: memoryAddress('a'), remote: memoryAddress('b') };
      expect(() =>
        fromDuplex(duplex, info, { writeHighWaterMark: 100, maxPendingWriteBytes: 10 }),
      ).toThrow(TypeError);
    });
  });

  describe('send', () => {
    it('reports nothing after it was unsubscribed, when the connection closes later', async () => {
      const { connection } = wrappedPair();
      const errors: unknown[] = [];
      connection
        .send(NEVER)
        .subscribe({ error: (error: unknown) => errors.push(error) })
        .unsubscribe();
      connection.abort();
      await firstValueFrom(connection.closed$);
      expect(errors).toEqual([]);
    });

    it("sends a connection's own data$ back (echo) and completes at the peer's FIN", async () => {
      const { connection, peer } = wrappedPair();
      const sent = lastValueFrom(connection.send(connection.data$), { defaultValue: 'done' });
      const echoed = readAll(peer);
      peer.write('ping');
      peer.end('pong');
      await expect(sent).resolves.toBe('done');
      expect(connection.state).toBe('readClosed');
      connection.end();
      expect((await echoed).toString()).toBe('pingpong');
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
    });

    it('fails with ConnectionClosedError when the connection closes first', async () => {
      const { connection } = wrappedPair();
      const sent = lastValueFrom(connection.send(of(Buffer.alloc(1024 * 1024))));
      connection.abort();
      await expect(sent).rejects.toBeInstanceOf(ConnectionClosedError);
    });

    it('fails at once on a closed connection', async () => {
      const { connection } = wrappedPair();
      connection.abort();
      await expect(lastValueFrom(connection.send(of('x')))).rejects.toBeInstanceOf(
        ConnectionClosedError,
      );
    });
  });

  describe('teardown', () => {
    it.each<[string, (pair: ReturnType<typeof wrappedPair>) => void]>([
      [
        'done',
        ({ connection, peer }) => {
          connection.data$.subscribe();
          peer.resume();
          peer.end();
          connection.end();
        },
      ],
      ['aborted', ({ connection }) => connection.abort()],
      ['lost', ({ duplex }) => duplex.destroy(new Error('reset'))],
    ])('removes every listener it added when the connection closes (%s)', async (_name, close) => {
      const [duplex, peer] = duplexPair();
      const before = listenersOf(duplex);
      const countsBefore = WATCHED.map((name) => duplex.listenerCount(name));
      const connection = fromDuplex(duplex, {
        id: 1,
        local: memoryAddress('a'),
        remote: memoryAddress('b'),
      });
      const added = listenersOf(duplex).filter((listener) => !before.includes(listener));
      // One listener each on error, data, end and close, and none on 'drain': the write path
      // learns of drains from write callbacks.
      expect(WATCHED.map((name, i) => duplex.listenerCount(name) - countsBefore[i]!)).toEqual([
        1, 1, 1, 1, 0,
      ]);
      expect(added).toHaveLength(4);
      close({ connection, duplex, peer });
      const reason: CloseReason = await firstValueFrom(connection.closed$);
      expect(reason.type).toBe(_name);
      // Node's duplexPair adds an 'end' listener of its own when the peer ends: only ours must go.
      expect(listenersOf(duplex).filter((listener) => added.includes(listener))).toEqual([]);
    });
  });
});

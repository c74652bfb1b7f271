import { NEVER, Subject, filter, firstValueFrom, ignoreElements, map, tap } from 'rxjs';
import { serveConnections } from '../../src/transport/serveConnections';
import { FULL_READ, FULL_READS_PER_ITERATION } from '../../src/transport/connection/readPath';
import type { Behaviour, Connection } from '../../src/types';
import { wrappedPair } from '../helpers/duplexConnection';

/**
 * Issue 12's fairness: a served connection that keeps filling Node's whole read buffer lets the
 * other connections read before it reads again, as Twisted's reactor reads each ready socket once
 * per iteration (after FULL_READS_PER_ITERATION full reads, to spare a pause and a resume to
 * clients that send one buffer and wait). Over in-memory duplexes the chunks arrive exactly as the peers wrote them.
 */
describe('serveConnections: fair reads', () => {
  /** Serves two connections and resolves with the order of the first `count` chunks, as `id:bytes`. */
  async function readOrder(
    writeAll: (a: NodeJS.WritableStream, b: NodeJS.WritableStream) => void,
    count: number,
  ): Promise<string[]> {
    const connections = new Subject<Connection>();
    const a = wrappedPair({}, 1);
    const b = wrappedPair({}, 2);
    const order: string[] = [];
    let done: () => void = () => undefined;
    const all = new Promise<void>((resolve) => (done = resolve));
    const recording: Behaviour = (events) =>
      events.pipe(
        tap((event) => {
          if (event.type !== 'data') return;
          order.push(`${event.id}:${event.data.length}`);
          if (order.length === count) done();
        }),
        ignoreElements(),
      );
    const subscription = serveConnections(connections, recording).subscribe();
    connections.next(a.connection);
    connections.next(b.connection);
    writeAll(a.peer, b.peer);
    await all;
    subscription.unsubscribe();
    return order;
  }

  it("reads another client's waiting chunk once a busy sender has filled the read buffer FULL_READS_PER_ITERATION times", async () => {
    const full = Buffer.alloc(FULL_READ, 'a');
    const order = await readOrder((a, b) => {
      for (let i = 0; i <= FULL_READS_PER_ITERATION; i++) a.write(full);
      b.write('b');
    }, FULL_READS_PER_ITERATION + 2);
    expect(order).toEqual([
      ...Array.from({ length: FULL_READS_PER_ITERATION }, () => `1:${FULL_READ}`),
      '2:1',
      `1:${FULL_READ}`,
    ]);
  });

  it('goes on reading a sender whose reads did not fill the buffer', async () => {
    const partial = Buffer.alloc(FULL_READ - 1, 'a');
    const size = FULL_READ - 1;
    const order = await readOrder((a, b) => {
      a.write(partial);
      a.write(partial);
      a.write(partial);
      b.write('b');
    }, 4);
    expect(order).toEqual([`1:${size}`, `1:${size}`, `1:${size}`, '2:1']);
  });

  it("keeps reading a client whose output is full of another's data, and pauses the sender that filled it", async () => {
    const connections = new Subject<Connection>();
    const a = wrappedPair({ writeHighWaterMark: 1024 }, 1);
    const b = wrappedPair({ writeHighWaterMark: 1024 }, 2);
    const received = new Subject<string>();
    const relay: Behaviour = (events) =>
      events.pipe(
        filter((event) => event.type === 'data'),
        tap((event) => received.next(`${event.id}:${event.data.length}`)),
        map((event) => ({ type: 'write', to: event.id === 1 ? 2 : 1, data: event.data }) as const),
      );
    const subscription = serveConnections(connections, relay).subscribe();
    connections.next(a.connection);
    connections.next(b.connection);
    // b's peer never reads: what is relayed to b stays pending, above b's mark.
    const fromA = firstValueFrom(received.pipe(filter((seen) => seen === '1:32768')));
    a.peer.write(Buffer.alloc(32 * 1024, 'a'));
    await fromA;
    expect(b.connection.pendingWriteBytes).toBeGreaterThanOrEqual(1024);
    const fromB = firstValueFrom(received.pipe(filter((seen) => seen === '2:6')));
    b.peer.write('from b');
    await fromB;
    expect(a.duplex.isPaused()).toBe(true);
    subscription.unsubscribe();
  });

  it('still pauses a connection that filled its own output while the server shuts down', async () => {
    const connections = new Subject<Connection>();
    const trigger = new Subject<void>();
    const a = wrappedPair({ writeHighWaterMark: 1024 }, 1);
    const received = new Subject<number>();
    const echoing: Behaviour = (events) =>
      events.pipe(
        filter((event) => event.type === 'data'),
        tap((event) => received.next(event.data.length)),
        map((event) => ({ type: 'write', to: event.id, data: event.data }) as const),
      );
    // The read window never closes: the shutdown stays in its reading phase.
    const subscription = serveConnections(connections, echoing, {
      shutdown: trigger,
      shutdownReadWindow: NEVER,
    }).subscribe();
    connections.next(a.connection);
    trigger.next();
    const echoed = firstValueFrom(received);
    // a's peer never reads: the echo stays pending, above the mark.
    a.peer.write(Buffer.alloc(32 * 1024, 'a'));
    expect(await echoed).toBe(32 * 1024);
    expect(a.connection.pendingWriteBytes).toBeGreaterThanOrEqual(1024);
    expect(a.duplex.isPaused()).toBe(true);
    subscription.unsubscribe();
  });
});

import { Subject, ignoreElements, tap } from 'rxjs';
import { serveConnections } from '../../src/transport/serveConnections';
import { FULL_READ } from '../../src/transport/connection/readPath';
import type { Behaviour, Connection } from '../../src/types';
import { wrappedPair } from '../helpers/duplexConnection';

/**
 * Issue 12's fairness: a served connection whose read filled Node's whole read buffer lets the
 * other connections read before it reads again, as Twisted's reactor reads each ready socket once
 * per iteration. Over in-memory duplexes the chunks arrive exactly as the peers wrote them.
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

  it("reads another client's waiting chunk before a busy sender's next full read buffer", async () => {
    const full = Buffer.alloc(FULL_READ, 'a');
    const order = await readOrder((a, b) => {
      a.write(full);
      a.write(full);
      a.write(full);
      b.write('b');
    }, 4);
    expect(order).toEqual([`1:${FULL_READ}`, '2:1', `1:${FULL_READ}`, `1:${FULL_READ}`]);
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
});

import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { Subject, filter, map, tap } from 'rxjs';
import { CoreConnection } from '../../src/transport/connection/core';
import { fromDuplex } from '../../src/transport/fromDuplex';
import { serveConnections } from '../../src/transport/serveConnections';
import type { Behaviour, Connection } from '../../src/types';
import { wrappedPair } from '../helpers/duplexConnection';

/** Records each chunk that reaches the stream, so a test can tell how many writes were made. */
class RecordingDuplex extends Duplex {
  readonly chunks: string[] = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk.toString());
    callback();
  }

  override _read(): void {
    // Only the write path matters here.
  }
}

/**
 * Issue 12's trickle: the writes held after a connection's first write are joined until the
 * event loop's check phase, not until the next `process.nextTick`, so the writes caused by several
 * callbacks of one iteration (bytes read from several sockets, each relayed to everyone) reach
 * each receiver as one stream write.
 */
describe('the write turn', () => {
  it('joins the writes of separate callbacks of one loop iteration into one stream write', async () => {
    const duplex = new RecordingDuplex();
    const connection = fromDuplex(duplex, {
      id: 1,
      local: { _tag: 'MemoryAddress', name: 'local' },
      remote: { _tag: 'MemoryAddress', name: 'peer' },
    });
    connection.write('a');
    // Each tick stands for another socket's data callback within the same poll phase.
    process.nextTick(() => connection.write('b'));
    process.nextTick(() => process.nextTick(() => connection.write('c')));
    await new Promise((resolve) => setImmediate(resolve));
    expect(duplex.chunks).toEqual(['a', 'bc']);
  });

  it("holds a server's write to several receivers until the check phase even when it is the first", async () => {
    const duplex = new RecordingDuplex();
    const connection = fromDuplex(duplex, {
      id: 1,
      local: { _tag: 'MemoryAddress', name: 'local' },
      remote: { _tag: 'MemoryAddress', name: 'peer' },
    });
    expect(connection).toBeInstanceOf(CoreConnection);
    (connection as CoreConnection).writeHeld('a');
    connection.write('b');
    expect(duplex.chunks).toEqual([]);
    expect(connection.pendingWriteBytes).toBe(2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(duplex.chunks).toEqual(['ab']);
  });

  it("makes serve's write to several receivers in the check phase", async () => {
    const connections = new Subject<Connection>();
    const [a, b, c] = [1, 2, 3].map((id) => wrappedPair({}, id));
    let checkPhase = false;
    const relay: Behaviour = (events) =>
      events.pipe(
        filter((event) => event.type === 'data'),
        // Scheduled before the write below: it runs first in the check phase that writes it.
        tap(() => setImmediate(() => (checkPhase = true))),
        map((event) => ({ type: 'write', to: [2, 3], data: event.data }) as const),
      );
    const subscription = serveConnections(connections, relay).subscribe();
    for (const pair of [a, b, c]) connections.next(pair!.connection);
    const arrived = once(b!.peer, 'data');
    a!.peer.write('news');
    const [chunk] = (await arrived) as [Buffer];
    expect(chunk.toString()).toBe('news');
    expect(checkPhase).toBe(true);
    subscription.unsubscribe();
  });
});

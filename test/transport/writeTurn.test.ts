import { Duplex } from 'node:stream';
import { fromDuplex } from '../../src/transport/fromDuplex';

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
});

import { Duplex } from 'node:stream';
import { firstValueFrom, lastValueFrom, of } from 'rxjs';
import { fromDuplex } from '../../src/transport/fromDuplex';
import type { Connection, MemoryAddress } from '../../src/types';

const address = (name: string): MemoryAddress => ({ _tag: 'MemoryAddress', name });

/** A Duplex that records every chunk that reaches it, and can be told to throw from write(). */
class RecordingDuplex extends Duplex {
  readonly chunks: Buffer[] = [];
  throwOnWrite = false;

  constructor() {
    super({ allowHalfOpen: true });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.chunks.push(chunk);
    callback();
  }

  override _writev(chunks: { chunk: Buffer }[], callback: () => void): void {
    for (const { chunk } of chunks) this.chunks.push(chunk);
    callback();
  }

  override _read(): void {
    // The peer never sends: these tests are about the write path.
  }

  override write(chunk: unknown, ...rest: unknown[]): boolean {
    if (this.throwOnWrite) throw new Error('write failed');
    return (super.write as (chunk: unknown, ...rest: unknown[]) => boolean)(chunk, ...rest);
  }

  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

function wrap(duplex: Duplex, id: number, options = {}): Connection {
  return fromDuplex(
    duplex,
    { id, local: address('local'), remote: address(`peer-${id}`) },
    options,
  );
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('the write path', () => {
  describe('corking', () => {
    it('flushes every other connection when one stream throws at the end of the turn, and loses only that one', async () => {
      const broken = new RecordingDuplex();
      const healthy = new RecordingDuplex();
      const a = wrap(broken, 1);
      const b = wrap(healthy, 2);
      // Two writes each in one turn: the second is held, and the turn's end writes both out.
      a.write('a1');
      broken.throwOnWrite = true;
      b.write('b1');
      a.write('a2');
      b.write('b2');
      await nextTurn();
      expect(healthy.text()).toBe('b1b2');
      const reason = await firstValueFrom(a.closed$);
      expect(reason.type).toBe('lost');
      expect(b.state).toBe('open');

      // The next turn holds and writes out the healthy one again: nothing is stuck.
      b.write('b3');
      b.write('b4');
      await nextTurn();
      expect(healthy.text()).toBe('b1b2b3b4');
    });
  });

  describe('what reaches the stream', () => {
    it('is the first write of a turn at once, then the others joined into one chunk at the turn end', async () => {
      const duplex = new RecordingDuplex();
      const connection = wrap(duplex, 1);
      connection.write('first');
      connection.write('se');
      connection.write(Buffer.from('co'));
      connection.write('nd');
      expect(duplex.chunks.map(String)).toEqual(['first']);
      expect(connection.pendingWriteBytes).toBe(6);
      await nextTurn();
      expect(duplex.chunks.map(String)).toEqual(['first', 'second']);
      expect(connection.pendingWriteBytes).toBe(0);
    });

    it('includes the writes held this turn before the FIN of end()', async () => {
      const duplex = new RecordingDuplex();
      let finished = false;
      duplex.on('finish', () => (finished = true));
      const connection = wrap(duplex, 1);
      connection.write('a');
      connection.write('b');
      connection.end();
      await nextTurn();
      expect(duplex.text()).toBe('ab');
      expect(finished).toBe(true);
    });

    it('is only what was written: no empty marker writes, through backpressure, send() and end()', async () => {
      const duplex = new RecordingDuplex();
      const connection = wrap(duplex, 1, { writeHighWaterMark: 4 });
      connection.write('abcd'); // reaches the mark
      connection.write('ef');
      await nextTurn();
      await new Promise<void>((resolve, reject) =>
        connection
          .send(of('gh', Buffer.from('ij')))
          .subscribe({ complete: resolve, error: reject }),
      );
      connection.end();
      await nextTurn();
      expect(duplex.chunks.map((chunk) => chunk.length).filter((length) => length === 0)).toEqual(
        [],
      );
      expect(duplex.text()).toBe('abcdefghij');
    });
  });

  describe('the drain check', () => {
    /** A stream without _writev that completes a write only when the test releases it, as a slow peer would. */
    function releasedByHand(): { duplex: Duplex; releases: (() => void)[] } {
      const releases: (() => void)[] = [];
      const duplex = new Duplex({
        allowHalfOpen: true,
        read() {},
        write(_chunk, _encoding, callback) {
          releases.push(callback);
        },
      });
      return { duplex, releases };
    }

    /** The callback each `write()` call on the stream was given (`undefined` for none). */
    function recordCallbacks(duplex: Duplex): unknown[] {
      const callbacks: unknown[] = [];
      const write = duplex.write.bind(duplex) as (...args: unknown[]) => boolean;
      duplex.write = ((...args: unknown[]) => {
        callbacks.push(args.find((arg) => typeof arg === 'function'));
        return write(...args);
      }) as Duplex['write'];
      return callbacks;
    }

    it('hands the stream write() and send() output without a callback, so Node schedules no tick for it', async () => {
      const duplex = new RecordingDuplex();
      const callbacks = recordCallbacks(duplex);
      const connection = wrap(duplex, 1);
      connection.write('one');
      await nextTurn();
      connection.write('two');
      connection.write('three');
      await nextTurn();
      connection.send(of('four')).subscribe();
      await nextTurn();
      expect(duplex.text()).toBe('onetwothreefour');
      expect(callbacks).toEqual([undefined, undefined, undefined]);
    });

    it('still sees every completion while blocked: drain$ comes when the first of two queued writes is out', async () => {
      const { duplex, releases } = releasedByHand();
      const connection = wrap(duplex, 1, { writeHighWaterMark: 10 });
      let drains = 0;
      connection.drain$.subscribe(() => (drains += 1));
      expect(connection.write('x'.repeat(8))).toBe(true);
      await nextTurn();
      expect(connection.write('y'.repeat(4))).toBe(false);
      await nextTurn();
      expect(releases).toHaveLength(1);
      // The first write, made before the mark and with no callback, brings the output to 4 bytes.
      releases.shift()!();
      await new Promise(process.nextTick);
      expect(drains).toBe(1);
    });

    it('completes a send() once its own bytes are out, while later writes are still pending', async () => {
      const { duplex, releases } = releasedByHand();
      const connection = wrap(duplex, 1);
      let pendingAtCompletion: number | undefined;
      connection.send(of('aaaa')).subscribe({
        complete: () => (pendingAtCompletion = connection.pendingWriteBytes),
      });
      await nextTurn();
      connection.write('bbbbbb');
      await nextTurn();
      expect(pendingAtCompletion).toBeUndefined();
      releases.shift()!();
      await new Promise(process.nextTick);
      expect(pendingAtCompletion).toBe(6);
    });

    it('completes a send() of non-ASCII text that a throttle held, though a socket counts characters', async () => {
      // A socket takes strings as they are (decodeStrings: false) and counts their characters;
      // the throttle counted the held text in bytes.
      const duplex = new Duplex({
        allowHalfOpen: true,
        decodeStrings: false,
        read() {},
        write: (_chunk, _encoding, callback) => callback(),
      });
      const connection = wrap(duplex, 1, { maxWriteBytesPerSecond: 200 });
      connection.write('x'.repeat(20)); // the whole 100 ms burst
      const completed = lastValueFrom(connection.send(of('é'.repeat(10))), {
        defaultValue: 'completed',
      });
      await expect(completed).resolves.toBe('completed');
    });

    it('gives the stream its own write methods back when the connection closes', async () => {
      const plain = new RecordingDuplex();
      const withOptions = new Duplex({
        allowHalfOpen: true,
        read() {},
        write: (_c, _e, cb) => cb(),
      });
      const ownWrite = withOptions._write;
      for (const [id, duplex] of [plain, withOptions].entries()) {
        const connection = wrap(duplex, id);
        expect(duplex._write).not.toBe(id === 0 ? RecordingDuplex.prototype._write : ownWrite);
        connection.abort();
        await firstValueFrom(connection.closed$);
      }
      expect(plain._write).toBe(RecordingDuplex.prototype._write);
      expect(plain._writev).toBe(RecordingDuplex.prototype._writev);
      expect(withOptions._write).toBe(ownWrite);
    });
  });
});

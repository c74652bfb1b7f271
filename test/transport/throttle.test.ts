import { TestScheduler } from 'rxjs/testing';
import { listen } from '../../src/net/listen';
import { CoreConnection } from '../../src/transport/connection/core';
import { checkConnectionOptions } from '../../src/transport/connection/options';
import type { ConnectionOptions } from '../../src/transport/fromDuplex';
import {
  ByteBucket,
  THROTTLE_BURST_MILLISECONDS,
  ThrottledTransport,
  checkServerThrottle,
  throttled,
} from '../../src/transport/connection/throttle';
import {
  reportFlushed,
  type FlushCallback,
  type Transport,
  type TransportSink,
} from '../../src/transport/connection/transport';
import type { Output } from '../../src/types';

/** Where the throttle's inner transport reports what it was asked to do, at what virtual time. */
class RecordingTransport implements Transport {
  readonly writes: Array<{ at: number; bytes: number; data: Buffer }> = [];
  readonly flow: Array<{ at: number; reading: boolean }> = [];
  ended = false;
  destroyed = false;

  constructor(
    readonly sink: TransportSink,
    private readonly now: () => number,
  ) {}

  // Hands every write on at once, as a kernel with room does.
  get pendingBytes(): number {
    return 0;
  }

  write(data: Output, onFlushed?: FlushCallback): void {
    const bytes = Buffer.from(data);
    this.writes.push({ at: this.now(), bytes: bytes.length, data: bytes });
    onFlushed?.();
    reportFlushed(this.sink, bytes.length);
  }

  cork(): void {}
  uncork(): void {}

  end(onFinished: FlushCallback): void {
    this.ended = true;
    onFinished();
  }

  pauseReading(): void {
    this.flow.push({ at: this.now(), reading: false });
  }

  resumeReading(): void {
    this.flow.push({ at: this.now(), reading: true });
  }

  destroy(): void {
    this.destroyed = true;
  }

  reset(): void {
    this.destroyed = true;
  }

  detach(): void {}
}

class RecordingSink implements TransportSink {
  readonly chunks: Buffer[] = [];
  received(chunk: Buffer): void {
    this.chunks.push(chunk);
  }
  readonly awaitsFlushes = false;
  countFlushed(): void {}
  peerEnded(): void {}
  failed(): void {}
  closed(): void {}
  outputFlushed(): void {}
}

describe('throttle', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  /** A throttled transport over a recording one, with a bucket for each rate given. */
  function throttledPair(rates: { read?: ByteBucket[]; write?: ByteBucket[] }) {
    const sink = new RecordingSink();
    let inner!: RecordingTransport;
    const transport = new ThrottledTransport(
      sink,
      (innerSink) => (inner = new RecordingTransport(innerSink, () => testScheduler.now())),
      rates.read ?? [],
      rates.write ?? [],
      testScheduler,
    );
    return { sink, inner, transport };
  }

  /** A connection whose output goes through the throttle (of `options`) to a recording transport. */
  function throttledConnection(options: Omit<ConnectionOptions, 'scheduler'>): {
    connection: CoreConnection;
    inner: RecordingTransport;
  } {
    const limits = checkConnectionOptions({ ...options, scheduler: testScheduler });
    let inner!: RecordingTransport;
    const connection = new CoreConnection(
      {
        id: 1,
        local: { _tag: 'MemoryAddress', name: 'a' },
        remote: { _tag: 'MemoryAddress', name: 'b' },
      },
      limits,
      undefined,
      throttled(
        limits,
        undefined,
        (sink) => (inner = new RecordingTransport(sink, () => testScheduler.now())),
      ),
    );
    return { connection, inner };
  }

  describe('ByteBucket', () => {
    it(`starts full with ${THROTTLE_BURST_MILLISECONDS} ms of its rate, refills at the rate and never beyond`, () => {
      testScheduler.run(({ flush }) => {
        const bucket = new ByteBucket(10_000, testScheduler);
        expect(bucket.capacity).toBe(1000);
        expect(bucket.available()).toBe(1000);
        bucket.take(1500);
        expect(bucket.available()).toBe(-500);
        expect(bucket.delayUntil(0)).toBe(50);
        testScheduler.schedule(() => expect(bucket.available()).toBe(0), 50);
        testScheduler.schedule(() => expect(bucket.available()).toBe(1000), 5000);
        flush();
      });
    });

    it('waits at least 1 ms, so a timer never spins', () => {
      testScheduler.run(() => {
        expect(new ByteBucket(10_000, testScheduler).delayUntil(0)).toBe(1);
      });
    });
  });

  describe('reading', () => {
    it('pauses when a chunk spends the budget and resumes once the debt is paid', () => {
      testScheduler.run(({ flush }) => {
        const { inner, sink, transport } = throttledPair({
          read: [new ByteBucket(10_000, testScheduler)],
        });
        transport.resumeReading();
        inner.sink.received(Buffer.alloc(600));
        inner.sink.received(Buffer.alloc(600));
        flush();
        // The second chunk is delivered whole (it was read), leaving a debt of 200 bytes: 20 ms.
        expect(sink.chunks.map((chunk) => chunk.length)).toEqual([600, 600]);
        expect(inner.flow).toEqual([
          { at: 0, reading: true },
          { at: 0, reading: false },
          { at: 20, reading: true },
        ]);
      });
    });

    // A 2000-byte chunk at 10 000 bytes/s leaves a debt of 1000 bytes, paid at 100 ms.
    it.each([
      {
        title: 'stays paused after the debt is paid while the connection does not want to read',
        pauseAt: 50,
        resumeAt: 300,
        readingAgainAt: 300,
      },
      {
        title: 'does not resume for the connection while a bucket is still in debt',
        pauseAt: 10,
        resumeAt: 20,
        readingAgainAt: 100,
      },
    ])('$title', ({ pauseAt, resumeAt, readingAgainAt }) => {
      testScheduler.run(({ flush }) => {
        const { inner, transport } = throttledPair({
          read: [new ByteBucket(10_000, testScheduler)],
        });
        transport.resumeReading();
        inner.sink.received(Buffer.alloc(2000));
        testScheduler.schedule(() => transport.pauseReading(), pauseAt);
        testScheduler.schedule(() => transport.resumeReading(), resumeAt);
        flush();
        expect(inner.flow).toEqual([
          { at: 0, reading: true },
          { at: 0, reading: false },
          { at: readingAgainAt, reading: true },
        ]);
      });
    });

    it('holds connections sharing a server bucket to its rate together', () => {
      testScheduler.run(({ flush }) => {
        const server = new ByteBucket(10_000, testScheduler);
        const a = throttledPair({ read: [server] });
        const b = throttledPair({ read: [server] });
        a.transport.resumeReading();
        b.transport.resumeReading();
        a.inner.sink.received(Buffer.alloc(1000));
        // The server's budget is spent: b's chunk puts it 500 bytes in debt, a's 600.
        b.inner.sink.received(Buffer.alloc(500));
        a.inner.sink.received(Buffer.alloc(100));
        flush();
        // b's own timer finds the debt grown by a, and waits on: both read again at 60 ms.
        for (const { inner } of [a, b]) {
          expect(inner.flow).toEqual([
            { at: 0, reading: true },
            { at: 0, reading: false },
            { at: 60, reading: true },
          ]);
        }
      });
    });
  });

  describe('writing', () => {
    it('passes writes within the budget straight on, with their callbacks', () => {
      testScheduler.run(() => {
        const { inner, transport } = throttledPair({
          write: [new ByteBucket(10_000, testScheduler)],
        });
        const flushed = jest.fn();
        transport.write('x'.repeat(400), flushed);
        transport.write(Buffer.alloc(600));
        expect(inner.writes.map((write) => write.bytes)).toEqual([400, 600]);
        expect(flushed).toHaveBeenCalledTimes(1);
        expect(transport.pendingBytes).toBe(0);
      });
    });

    it('holds bytes beyond the budget as pending and hands them on in order, a bucket at a time', () => {
      testScheduler.run(({ flush }) => {
        const { inner, transport } = throttledPair({
          write: [new ByteBucket(10_000, testScheduler)],
        });
        const flushedAt: number[] = [];
        transport.write('a'.repeat(1000));
        transport.write('b'.repeat(2500), () => flushedAt.push(testScheduler.now()));
        transport.write('c'.repeat(10), () => flushedAt.push(testScheduler.now()));
        expect(transport.pendingBytes).toBe(2510);
        testScheduler.schedule(() => expect(transport.pendingBytes).toBe(1510), 100);
        flush();
        expect(inner.writes.map(({ at, bytes }) => [at, bytes])).toEqual([
          [0, 1000],
          [100, 1000],
          [200, 1000],
          [250, 500],
          [251, 10],
        ]);
        expect(Buffer.concat(inner.writes.map((write) => write.data)).toString()).toBe(
          'a'.repeat(1000) + 'b'.repeat(2500) + 'c'.repeat(10),
        );
        // A write's callback comes with its last byte.
        expect(flushedAt).toEqual([250, 251]);
        expect(transport.pendingBytes).toBe(0);
      });
    });

    it('splits strings by bytes, not characters', () => {
      testScheduler.run(({ flush }) => {
        const { inner, transport } = throttledPair({
          write: [new ByteBucket(10, testScheduler)],
        });
        transport.write('é'.repeat(2));
        flush();
        // 10 bytes per second: a bucket holds 1 byte, so each byte of 'éé' goes 100 ms apart.
        expect(inner.writes.map(({ at, bytes }) => [at, bytes])).toEqual([
          [0, 1],
          [100, 1],
          [200, 1],
          [300, 1],
        ]);
        expect(Buffer.concat(inner.writes.map((write) => write.data)).toString()).toBe('éé');
      });
    });

    it('sends FIN only after the held bytes', () => {
      testScheduler.run(({ flush }) => {
        const { inner, transport } = throttledPair({
          write: [new ByteBucket(10_000, testScheduler)],
        });
        const finishedAt: number[] = [];
        transport.write(Buffer.alloc(1500));
        transport.end(() => finishedAt.push(testScheduler.now()));
        expect(inner.ended).toBe(false);
        flush();
        expect(inner.ended).toBe(true);
        expect(finishedAt).toEqual([50]);
      });
    });

    it('drops held bytes when destroyed and tells their callbacks, as Node does', async () => {
      const { inner, transport } = throttledPair({
        write: [new ByteBucket(10_000, testScheduler)],
      });
      const outcomes: unknown[] = [];
      transport.write(Buffer.alloc(1000));
      transport.write(Buffer.alloc(1000), (error) => outcomes.push(error));
      transport.destroy();
      expect(transport.pendingBytes).toBe(0);
      expect(inner.destroyed).toBe(true);
      await new Promise((resolve) => process.nextTick(resolve));
      expect(outcomes).toHaveLength(1);
      expect(outcomes[0]).toBeInstanceOf(Error);
    });
  });

  describe('under a connection', () => {
    it("keeps the connection's backpressure: write() is false at the mark, drain$ when held bytes go on", () => {
      testScheduler.run(({ flush }) => {
        const { connection, inner } = throttledConnection({
          writeHighWaterMark: 1000,
          maxWriteBytesPerSecond: 10_000,
        });
        const drains: number[] = [];
        connection.drain$.subscribe(() => drains.push(testScheduler.now()));
        expect(connection.write(Buffer.alloc(600))).toBe(true);
        expect(connection.write(Buffer.alloc(600))).toBe(true);
        expect(connection.write(Buffer.alloc(600))).toBe(false);
        expect(connection.pendingWriteBytes).toBe(1200);
        flush();
        // At 20 ms the second write goes on (400 bytes were left, 200 more came): below the mark.
        expect(drains).toEqual([20]);
        expect(inner.writes.map(({ at, bytes }) => [at, bytes])).toEqual([
          [0, 600],
          [20, 600],
          [80, 600],
        ]);
        connection.abort();
      });
    });

    it('tells drain$ as soon as the pending output falls below the mark, in the middle of a large write', () => {
      testScheduler.run(({ flush }) => {
        const { connection } = throttledConnection({
          writeHighWaterMark: 1000,
          maxWriteBytesPerSecond: 10_000,
        });
        const drains: number[] = [];
        connection.drain$.subscribe(() => drains.push(testScheduler.now()));
        // 2500 bytes go in pieces of 1000 at 0 and 100 ms, and the last 500 at 150 ms: the output
        // is below the mark (500 bytes) from 100 ms on.
        expect(connection.write(Buffer.alloc(2500))).toBe(false);
        flush();
        expect(drains).toEqual([100]);
        connection.abort();
      });
    });

    it('aborts with WriteBufferFullError past maxPendingWriteBytes, held bytes included', () => {
      testScheduler.run(() => {
        const { connection } = throttledConnection({
          writeHighWaterMark: 1000,
          maxPendingWriteBytes: 2000,
          maxWriteBytesPerSecond: 10_000,
        });
        connection.write(Buffer.alloc(1000));
        connection.write(Buffer.alloc(1500));
        connection.write(Buffer.alloc(1500));
        expect(connection.state).toBe('closing');
        expect(connection.reason).toMatchObject({
          type: 'aborted',
          error: { code: 'RXNET_ERR_WRITE_BUFFER_FULL' },
        });
      });
    });
  });

  describe('throttled', () => {
    it('adds no wrapper when nothing is throttled', () => {
      const make = (sink: TransportSink) => new RecordingTransport(sink, () => 0);
      expect(throttled(checkConnectionOptions({}), undefined, make)).toBe(make);
      expect(
        throttled(checkConnectionOptions({ maxReadBytesPerSecond: 1 }), undefined, make),
      ).not.toBe(make);
      expect(checkServerThrottle({}, testScheduler)).toBeUndefined();
    });
  });

  describe('options', () => {
    it.each([
      ['maxReadBytesPerSecond', 0],
      ['maxReadBytesPerSecond', -1],
      ['maxReadBytesPerSecond', Number.NaN],
      ['maxWriteBytesPerSecond', 0],
      ['maxWriteBytesPerSecond', '1000'],
      ['maxServerReadBytesPerSecond', 0],
      ['maxServerWriteBytesPerSecond', -5],
    ])('throws a TypeError at call time for %s = %p', (name, value) => {
      expect(() => listen('tcp:0:interface=127.0.0.1', { [name]: value })).toThrow(TypeError);
    });

    it('takes Infinity as no limit', () => {
      expect(checkConnectionOptions({ maxReadBytesPerSecond: Infinity }).readBytesPerSecond).toBe(
        Infinity,
      );
    });
  });
});

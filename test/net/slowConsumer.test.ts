import { runSlowConsumer, type SlowConsumerResult } from '../../bench/backpressure.bench';
import { DrainTimeoutError } from '../../src/errors';

const KiB = 1024;
const MiB = 1024 * KiB;

/*
 * The workload, shortened: ten raw senders broadcast 64 KiB chunks through
 * `events.pipe(broadcast())` as fast as their sockets drain, to each other, to a fast reader, to a
 * throttled reader and to a client that never reads (see runSlowConsumer in
 * bench/backpressure.bench.ts, which also runs it longer and repeatedly). The server's pending
 * output is sampled after every write it makes.
 *
 * The bound on pending output. A server write that finds its receiver at the mark pauses the
 * sender whose chunk it was, until that receiver drains (or closes). So once a receiver has reached
 * the mark (with at most mark - 1 bytes before the write that reached it), each sender can put at
 * most one more chunk into it before it is paused, and the sender that reached it is already
 * paused: at most mark - 1 + senders × chunk for a reader, one sender fewer for a sender, which
 * does not receive its own chunks. A chunk is one read of a sender's socket, at most 64 KiB
 * (libuv's read size; the senders write 64 KiB). The server's total is at most the sum over its
 * receivers. Bytes in the kernel's socket buffers and in a paused sender's Node read buffer
 * (up to its 16 KiB high-water mark plus one read) are not pending output and not counted.
 */
describe('a broadcast to readers of different speeds', () => {
  const senders = 10;
  const chunk = 64 * KiB;
  const drainTimeout = 1000;
  let result: SlowConsumerResult;

  beforeAll(async () => {
    result = await runSlowConsumer({
      durationMs: 4000,
      drainTimeout,
      senders,
      chunkBytes: chunk,
      // Far below the ~50 MB/s this one process broadcasts to each receiver on two cores (the
      // issue's 100 MB/s is not), so this reader is the slowest one and paces the senders.
      throttledBytesPerSecond: 25e6,
    });
  }, 30_000);

  it('cuts off neither the fast reader nor the throttled one', () => {
    expect(result.fast.lost).toBeUndefined();
    expect(result.throttled.lost).toBeUndefined();
    expect(result.fast.received).toBeGreaterThan(16 * MiB);
    expect(result.throttled.received).toBeGreaterThan(16 * MiB);
    // The throttled reader fell behind (the senders waited for it), and was still not cut off.
    expect(result.throttled.maxPending).toBeGreaterThanOrEqual(result.highWaterMark);
  });

  it('cuts off none of the senders, which read each other', () => {
    expect(result.senders.filter((sender) => sender.lost !== undefined)).toEqual([]);
    for (const sender of result.senders) {
      expect(sender.received).toBeGreaterThan(16 * MiB);
    }
  });

  it('aborts the client that never reads with DrainTimeoutError once drainTimeout has passed at the mark', () => {
    const { lost, atMarkMs } = result.never;
    expect(lost?.reason).toEqual({
      type: 'aborted',
      error: expect.any(DrainTimeoutError) as DrainTimeoutError,
    });
    const error = lost?.reason.type === 'aborted' ? lost.reason.error : undefined;
    expect(error).toMatchObject({ code: 'RXNET_ERR_DRAIN_TIMEOUT', timeout: drainTimeout });
    expect(atMarkMs).toBeDefined();
    // From the write that first reached the mark; the timer restarts if the kernel takes enough
    // to bring the output below it again, hence the slack above.
    const waited = lost!.atMs - atMarkMs!;
    expect(waited).toBeGreaterThanOrEqual(drainTimeout - 5);
    expect(waited).toBeLessThan(drainTimeout + 500);
  });

  it('keeps each receiver within the mark plus one chunk per sender, and the server within their sum', () => {
    const mark = result.highWaterMark;
    const readerBound = mark - 1 + senders * chunk;
    const senderBound = mark - 1 + (senders - 1) * chunk;
    for (const reader of [result.fast, result.throttled, result.never]) {
      expect(reader.maxPending).toBeLessThanOrEqual(readerBound);
    }
    for (const sender of result.senders) {
      expect(sender.maxPending).toBeLessThanOrEqual(senderBound);
    }
    // 13 receivers: about 8.3 MiB at worst; 0.9 MiB measured.
    expect(result.maxPendingTotal).toBeLessThanOrEqual(3 * readerBound + senders * senderBound);
  });
});

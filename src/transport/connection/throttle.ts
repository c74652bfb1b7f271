import type { SchedulerLike, Subscription } from 'rxjs';
import type { Output } from '../../types';
import { MAX_TIMER_DELAY, checkRate, type ConnectionLimits } from './options';
import type { FlushCallback, Transport, TransportSink } from './transport';

/**
 * Throttling (Twisted's `ThrottlingFactory`, Vert.x's traffic shaping): bytes per second read and
 * written, per connection and per server, done with pause and resume, never with a buffer of its
 * own that could grow.
 *
 * Each limit is a token bucket of bytes that refills at the rate and holds at most
 * {@link THROTTLE_BURST_MILLISECONDS} of it, so a connection that was quiet may send a short burst,
 * not a second's worth. Reading takes what each chunk holds, even into debt (a chunk already read
 * is delivered whole), and pauses until the debt is paid. Writing hands bytes on only as the
 * bucket allows, in pieces, and holds the rest back while counting it as pending, so the
 * connection's own backpressure (`write()` false at the high-water mark, `drain$`,
 * `maxPendingWriteBytes`, `drainTimeout`) bounds it exactly as it bounds a slow peer.
 */

/** How much of its rate, in milliseconds, a full bucket holds: the largest burst. @internal */
export const THROTTLE_BURST_MILLISECONDS = 100;

/** Throttling options of a server, shared by all of its connections together. */
export interface ServerThrottleOptions {
  /**
   * Bytes per second read from all of the server's connections together; `Infinity` is no limit.
   * @defaultValue `Infinity`
   */
  readonly maxServerReadBytesPerSecond?: number;
  /**
   * Bytes per second written to all of the server's connections together; `Infinity` is no limit.
   * @defaultValue `Infinity`
   */
  readonly maxServerWriteBytesPerSecond?: number;
}

/** A byte budget that refills at `bytesPerSecond`, up to {@link THROTTLE_BURST_MILLISECONDS} of it. @internal */
export class ByteBucket {
  readonly capacity: number;
  private readonly perMillisecond: number;
  private tokens: number;
  private last: number;

  constructor(
    bytesPerSecond: number,
    private readonly scheduler: SchedulerLike,
  ) {
    this.perMillisecond = bytesPerSecond / 1000;
    this.capacity = Math.max(1, this.perMillisecond * THROTTLE_BURST_MILLISECONDS);
    this.tokens = this.capacity;
    this.last = scheduler.now();
  }

  /** Bytes that may go now; negative while in debt. */
  available(): number {
    const now = this.scheduler.now();
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.perMillisecond);
      this.last = now;
    }
    return this.tokens;
  }

  take(bytes: number): void {
    this.available();
    this.tokens -= bytes;
  }

  /** Milliseconds until `level` bytes are available (at least 1, so a timer never spins). */
  delayUntil(level: number): number {
    const missing = level - this.available();
    return Math.min(MAX_TIMER_DELAY, Math.max(1, Math.ceil(missing / this.perMillisecond)));
  }
}

/** A server's buckets, shared by its connections. @internal */
export interface SharedThrottle {
  readonly read: ByteBucket | undefined;
  readonly write: ByteBucket | undefined;
}

/**
 * Checks a server's rates at call time; the returned function makes the shared buckets for one
 * run of the server. `undefined` when there is no server limit.
 *
 * @throws TypeError when a rate is not a positive number.
 * @internal
 */
export function checkServerThrottle(
  options: ServerThrottleOptions,
  scheduler: SchedulerLike,
): (() => SharedThrottle) | undefined {
  const read = checkRate('maxServerReadBytesPerSecond', options.maxServerReadBytesPerSecond);
  const write = checkRate('maxServerWriteBytesPerSecond', options.maxServerWriteBytesPerSecond);
  if (read === Infinity && write === Infinity) {
    return undefined;
  }
  return () => ({
    read: read === Infinity ? undefined : new ByteBucket(read, scheduler),
    write: write === Infinity ? undefined : new ByteBucket(write, scheduler),
  });
}

/**
 * `makeTransport` itself when nothing is throttled, so an unthrottled connection has no wrapper at
 * all; else the same transport behind a {@link ThrottledTransport} with the connection's own
 * buckets and the server's.
 *
 * @internal
 */
export function throttled(
  limits: ConnectionLimits,
  shared: SharedThrottle | undefined,
  makeTransport: (sink: TransportSink) => Transport,
): (sink: TransportSink) => Transport {
  const { readBytesPerSecond, writeBytesPerSecond, scheduler } = limits;
  if (readBytesPerSecond === Infinity && writeBytesPerSecond === Infinity && shared === undefined) {
    return makeTransport;
  }
  return (sink) => {
    const reads: ByteBucket[] = [];
    const writes: ByteBucket[] = [];
    if (readBytesPerSecond !== Infinity) reads.push(new ByteBucket(readBytesPerSecond, scheduler));
    if (writeBytesPerSecond !== Infinity)
      writes.push(new ByteBucket(writeBytesPerSecond, scheduler));
    if (shared?.read !== undefined) reads.push(shared.read);
    if (shared?.write !== undefined) writes.push(shared.write);
    return new ThrottledTransport(sink, makeTransport, reads, writes, scheduler);
  };
}

/** A write held back by the write budget: the bytes not yet handed on, and its callback. */
interface HeldWrite {
  data: Output;
  size: number;
  readonly onFlushed: FlushCallback | undefined;
}

const DESTROYED = new Error('The connection closed before this write was handed on');

/**
 * A {@link Transport} in front of another, spending read and write budgets (see the top of this
 * file). Reading runs only while the connection wants it and no read bucket is in debt; written
 * bytes beyond the budget wait here, counted in `pendingBytes`, and go on in order as it refills.
 *
 * @internal
 */
export class ThrottledTransport implements Transport, TransportSink {
  private readonly inner: Transport;
  /** The connection's wish (its last `pauseReading` or `resumeReading`). */
  private wantsRead = false;
  private innerReading = false;
  /** Set while a read bucket is in debt: reading waits for it. */
  private readTimer: Subscription | undefined;
  private readonly held: HeldWrite[] = [];
  private heldBytes = 0;
  private writeTimer: Subscription | undefined;
  /** `end()` came while writes were held: it follows the last of them. */
  private pendingEnd: FlushCallback | undefined;

  constructor(
    private readonly sink: TransportSink,
    makeInner: (sink: TransportSink) => Transport,
    private readonly reads: readonly ByteBucket[],
    private readonly writes: readonly ByteBucket[],
    private readonly scheduler: SchedulerLike,
  ) {
    this.inner = makeInner(this);
  }

  get pendingBytes(): number {
    return this.inner.pendingBytes + this.heldBytes;
  }

  write(data: Output, onFlushed?: FlushCallback): void {
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (this.held.length === 0 && minimum(this.writes) >= size) {
      for (const bucket of this.writes) bucket.take(size);
      this.inner.write(data, onFlushed);
      return;
    }
    this.held.push({ data, size, onFlushed });
    this.heldBytes += size;
    if (this.writeTimer === undefined) this.release();
  }

  cork(): void {
    this.inner.cork();
  }

  uncork(): void {
    this.inner.uncork();
  }

  end(onFinished: FlushCallback): void {
    if (this.held.length === 0) {
      this.inner.end(onFinished);
    } else {
      this.pendingEnd = onFinished;
    }
  }

  pauseReading(): void {
    this.wantsRead = false;
    this.updateReading();
  }

  resumeReading(): void {
    this.wantsRead = true;
    if (this.readTimer === undefined && minimum(this.reads) < 0) this.waitForReadBudget();
    this.updateReading();
  }

  destroy(): void {
    this.dropHeld();
    this.inner.destroy();
  }

  reset(): void {
    this.dropHeld();
    this.inner.reset();
  }

  detach(): void {
    this.dropHeld();
    this.readTimer?.unsubscribe();
    this.readTimer = undefined;
    this.inner.detach();
  }

  /* TransportSink: the inner transport's reports, passed on. */

  received(chunk: Buffer): void {
    for (const bucket of this.reads) bucket.take(chunk.length);
    this.sink.received(chunk);
    if (this.readTimer === undefined && minimum(this.reads) < 0) {
      this.waitForReadBudget();
      this.updateReading();
    }
  }

  peerEnded(): void {
    this.sink.peerEnded();
  }

  failed(error: Error): void {
    this.sink.failed(error);
  }

  countFlushed(bytes: number): void {
    this.sink.countFlushed(bytes);
  }

  get awaitsFlushes(): boolean {
    return this.sink.awaitsFlushes;
  }

  outputFlushed(): void {
    this.sink.outputFlushed();
  }

  closed(): void {
    this.readTimer?.unsubscribe();
    this.readTimer = undefined;
    this.sink.closed();
  }

  private updateReading(): void {
    const wanted = this.wantsRead && this.readTimer === undefined;
    if (wanted !== this.innerReading) {
      this.innerReading = wanted;
      if (wanted) this.inner.resumeReading();
      else this.inner.pauseReading();
    }
  }

  private waitForReadBudget(): void {
    this.readTimer = this.scheduler.schedule(
      () => {
        this.readTimer = undefined;
        // A server's bucket may have been spent again by another connection meanwhile.
        if (minimum(this.reads) < 0) this.waitForReadBudget();
        else this.updateReading();
      },
      maximumDelay(this.reads, 0),
    );
  }

  /** Hands on held writes as the budget allows, splitting the first one if it is larger. */
  private release(): void {
    const held = this.held;
    const writes = this.writes;
    while (held.length > 0) {
      const head = held[0]!;
      const budget = Math.floor(minimum(writes));
      if (budget >= head.size) {
        held.shift();
        this.heldBytes -= head.size;
        for (const bucket of writes) bucket.take(head.size);
        this.inner.write(head.data, head.onFlushed);
        continue;
      }
      // Pieces of at least a full bucket (or the rest of the write), not a trickle of tiny writes.
      const piece = Math.min(head.size, minimumCapacity(writes));
      if (budget < piece) {
        this.writeTimer = this.scheduler.schedule(
          () => {
            this.writeTimer = undefined;
            this.release();
          },
          maximumDelay(writes, piece),
        );
        return;
      }
      const bytes = typeof head.data === 'string' ? Buffer.from(head.data) : head.data;
      head.data = bytes.subarray(budget);
      head.size -= budget;
      this.heldBytes -= budget;
      for (const bucket of writes) bucket.take(budget);
      // The inner transport reports the piece's completion (`outputFlushed`), so pending output that
      // falls below the mark in the middle of one large write is seen then, not at its last byte.
      this.inner.write(bytes.subarray(0, budget));
    }
    const onFinished = this.pendingEnd;
    if (onFinished !== undefined) {
      this.pendingEnd = undefined;
      this.inner.end(onFinished);
    }
  }

  /** Held output goes with the connection; its callbacks hear so later, as Node's do. */
  private dropHeld(): void {
    this.writeTimer?.unsubscribe();
    this.writeTimer = undefined;
    const callbacks = this.held.map((write) => write.onFlushed);
    callbacks.push(this.pendingEnd);
    this.held.length = 0;
    this.heldBytes = 0;
    this.pendingEnd = undefined;
    if (callbacks.length > 1 || callbacks[0] !== undefined) {
      process.nextTick(() => {
        for (const callback of callbacks) callback?.(DESTROYED);
      });
    }
  }
}

function minimum(buckets: readonly ByteBucket[]): number {
  let least = Infinity;
  for (const bucket of buckets) least = Math.min(least, bucket.available());
  return least;
}

function minimumCapacity(buckets: readonly ByteBucket[]): number {
  let least = Infinity;
  for (const bucket of buckets) least = Math.min(least, bucket.capacity);
  return least;
}

function maximumDelay(buckets: readonly ByteBucket[], level: number): number {
  let longest = 1;
  for (const bucket of buckets) longest = Math.max(longest, bucket.delayUntil(level));
  return longest;
}

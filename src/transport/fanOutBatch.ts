import { Observable, Subscriber } from 'rxjs';
import type { ConnectionId, Output } from '../types';

/**
 * The most bytes a batch holds before it is written out, whatever the turn: a behaviour that
 * writes a great deal in one synchronous burst still reaches its receivers (and their
 * backpressure) in steps of this size.
 */
export const FAN_OUT_BATCH_BYTES = 64 * 1024;

/**
 * Writes `data` to each of `to`, on behalf of `sender` (the connection whose event caused it);
 * `frames` is how many `write` commands it joins, for diagnostics.
 */
export type FanOutDelivery<S> = (
  to: readonly ConnectionId[],
  data: Output,
  sender: S | undefined,
  frames: number,
) => void;

/**
 * Consecutive `write` commands to one audience made while one received chunk is handled, joined
 * into one buffer.
 *
 * A line-framed broadcast emits one command per line, each to every other connection: written as
 * they come, that is one `write()` per line per receiver, and the per-receiver work dominates.
 * Held here instead, a line costs one array push. When the chunk has been handled (see
 * {@link FanOutBatch.around}), when the audience or the sender changes, when any other command
 * comes (its bytes or its close must follow these) and at {@link FAN_OUT_BATCH_BYTES}, the lines
 * are joined once and the same buffer is written to every receiver: one write per receiver per
 * chunk, as a chunk-forwarding server makes, and no allocation per receiver. Outside the handling
 * of a chunk (a timer, a `connectionMade`) nothing is held, so every write still happens before
 * the call that caused it returns, as marble tests over memory connections expect. The audience
 * is compared by identity: `broadcast()` reuses its array while the audience stays the same.
 *
 * @internal
 */
export class FanOutBatch<S> {
  /** The audience of the held parts; `undefined` when nothing is held. */
  private audience: readonly ConnectionId[] | undefined;
  private sender: S | undefined;
  private parts: Uint8Array[] = [];
  private bytes = 0;
  private frames = 0;
  /** How many chunks are being handled, nested: writes are held only inside one. */
  depth = 0;

  constructor(private readonly deliver: FanOutDelivery<S>) {}

  /** Whether `to` is the audience now held, so the server can skip checking it again. */
  isHeld(to: unknown): boolean {
    return to !== undefined && to === this.audience;
  }

  /** Whether a write to an audience now is held (inside the handling of a chunk) or made at once. */
  get holding(): boolean {
    return this.depth > 0;
  }

  /**
   * `chunks$`, each of whose chunks is followed, once the subscriber has handled it (decoded it,
   * and the behaviour has answered every frame), by the writes held meanwhile.
   */
  around<C>(chunks$: Observable<C>): Observable<C> {
    return new Observable<C>((subscriber) => {
      chunks$.subscribe(new ChunkHandling(this, subscriber));
    });
  }

  /**
   * Holds `part` for `to`, after what is held for the same audience and sender; `frames` is 1 for
   * a command's first part and 0 for the rest.
   */
  add(to: readonly ConnectionId[], sender: S | undefined, part: Output, frames = 1): void {
    if (to !== this.audience || sender !== this.sender) {
      this.flush();
      this.audience = to;
      this.sender = sender;
    }
    this.frames += frames;
    const bytes = typeof part === 'string' ? Buffer.from(part) : part;
    this.parts.push(bytes);
    this.bytes += bytes.byteLength;
    if (this.bytes >= FAN_OUT_BATCH_BYTES) {
      this.flush();
    }
  }

  /** Writes what is held, joined, to its audience; a no-op when nothing is held. */
  flush(): void {
    const to = this.audience;
    if (to === undefined) {
      return;
    }
    const parts = this.parts;
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts, this.bytes);
    const sender = this.sender;
    const frames = this.frames;
    this.audience = undefined;
    this.sender = undefined;
    this.parts = [];
    this.bytes = 0;
    this.frames = 0;
    this.deliver(to, data, sender, frames);
  }

  /** Forgets what is held: the server stopped. */
  clear(): void {
    this.audience = undefined;
    this.sender = undefined;
    this.parts = [];
    this.bytes = 0;
    this.frames = 0;
  }
}

/**
 * One subscription of {@link FanOutBatch.around}: a `Subscriber` chained to the downstream one
 * (its teardown is part of it), so a server's idle connection holds this one object here rather
 * than an observer and the two wrappers `subscribe()` would put round it.
 */
class ChunkHandling<C> extends Subscriber<C> {
  constructor(
    private readonly batch: { depth: number; flush(): void },
    private readonly out: Subscriber<C>,
  ) {
    super(out);
  }

  protected override _next(chunk: C): void {
    const batch = this.batch;
    batch.depth += 1;
    try {
      this.out.next(chunk);
    } finally {
      batch.depth -= 1;
      batch.flush();
    }
  }
}

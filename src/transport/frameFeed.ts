import type { FrameDecoder, FrameSink } from '../framing/decoder';
import type { CoreConnection } from './connection/core';
import { attachReader, detachReader, type ChunkReader } from './connection/readPath';

/** Where a served connection's frames go: its `Served`, which is their sink and their observer. */
export interface FrameConsumer<T> extends FrameSink<T> {
  /** The decoder failed (bad input), or the connection was lost with an error. */
  error(error: unknown): void;
  /** The frames ended at the peer's FIN, or the connection closed. */
  complete(): void;
}

/** Holds the writes made while one chunk is handled (the server's `FanOutBatch`). */
export interface ChunkBatch {
  depth: number;
  flush(): void;
}

/**
 * A served connection's frames, read without an operator chain: the one object that reads its
 * chunks, feeds them to the framing's decoder and hands the frames to the server.
 *
 * Through `fanOut.around(connection.data$).pipe(decode)` the same work took two Observables, a
 * subscriber per operator, the observer wrappers `subscribe()` adds and a teardown object, each
 * held for as long as the connection is open, and a call through each per chunk. This does what
 * they did, in the same order: a chunk is decoded inside the batch (`batch.depth`), so the writes
 * its frames cause are joined, then the batch is flushed; a decoder's throw stops reading and
 * fails the consumer with the error, so nothing after a bad frame is delivered; at the peer's FIN
 * the decoder's `end()` may emit the rest or throw `TruncatedFrameError`. Only rxnet's own
 * decoders (`frameDecoderOf`) and unframed servers take this path; any other operator is
 * subscribed as before.
 *
 * @internal
 */
export class FrameFeed<T> implements ChunkReader {
  /** Stopped reading: unsubscribed, failed, or ended. The consumer's frames are over. */
  stopped = false;
  /** Made at the first chunk: an idle connection holds none (issue 12's idle memory). */
  private decoder: FrameDecoder<T> | undefined;

  /**
   * @param create The framing's decoder factory; `undefined` for an unframed server, whose
   * chunks are its frames.
   * @param batch The writes to hold while a chunk is decoded; `undefined` for an unframed server.
   */
  constructor(
    private readonly connection: CoreConnection,
    private readonly consumer: FrameConsumer<T>,
    private readonly create: (() => FrameDecoder<T>) | undefined,
    private readonly batch: ChunkBatch | undefined,
  ) {}

  /** Starts reading; after the peer's FIN or a close, the consumer is told at once. */
  start(): void {
    attachReader(this.connection, this);
  }

  next(chunk: Buffer): void {
    if (this.stopped) {
      return;
    }
    const create = this.create;
    if (create === undefined) {
      this.consumer.next(chunk as unknown as T);
      return;
    }
    const batch = this.batch;
    if (batch === undefined) {
      this.decode(create, chunk);
      return;
    }
    batch.depth += 1;
    try {
      this.decode(create, chunk);
    } finally {
      batch.depth -= 1;
      batch.flush();
    }
  }

  error(error: unknown): void {
    if (this.stopped) {
      return;
    }
    this.stopped = true;
    this.decoder = undefined;
    this.consumer.error(error);
  }

  complete(): void {
    if (this.stopped) {
      return;
    }
    const create = this.create;
    if (create !== undefined) {
      try {
        (this.decoder ?? create()).end(this.consumer);
      } catch (error: unknown) {
        this.error(error);
        return;
      }
    }
    this.stopped = true;
    this.decoder = undefined;
    this.consumer.complete();
  }

  /** Stops reading and drops what the decoder held; the consumer is not told. */
  unsubscribe(): void {
    if (this.stopped) {
      return;
    }
    this.stopped = true;
    this.decoder = undefined;
    detachReader(this.connection, this);
  }

  private decode(create: () => FrameDecoder<T>, chunk: Buffer): void {
    try {
      (this.decoder ??= create()).push(chunk, this.consumer);
    } catch (error: unknown) {
      this.unsubscribe();
      this.consumer.error(error);
    }
  }
}

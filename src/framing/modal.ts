import type { OperatorFunction } from 'rxjs';
import { FrameTooLongError, TruncatedFrameError } from '../errors';
import { ChunkQueue } from './ChunkQueue';
import { decodeWith, type FrameDecoder, type FrameSink } from './decoder';
import {
  byteCount,
  DEFAULT_LINE_DELIMITER,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_LINE_BYTES,
  toDelimiter,
  type TruncationOptions,
} from './limits';

/**
 * How {@link modal} reads the next frame: a line; raw bytes, as they arrive (Twisted's
 * `setRawMode`); or exactly `bytes` bytes as one frame (a body whose length a header announced).
 */
export type FramingMode =
  | 'line'
  | 'raw'
  | {
      /** The size of the next frame. */
      readonly bytes: number;
    };

/** A frame from {@link modal}: its bytes, and the mode and state it was read in. */
export interface ModalFrame<S> {
  /** The mode the frame was read in. */
  readonly mode: FramingMode;
  /** The state the frame was read in (before `next` saw it). */
  readonly state: S;
  /** The frame's bytes, without a line's delimiter. */
  readonly data: Buffer;
}

/** Options of {@link modal}. */
export interface ModalOptions<S> extends TruncationOptions {
  /** The state of a new subscription (each subscription starts again from it). */
  readonly seed: S;
  /** The framing to use in a state: a pure function, called before each frame. */
  readonly mode: (state: S) => FramingMode;
  /** The state after a frame, as `scan`'s accumulator; a throw fails the stream at that frame. */
  readonly next: (state: S, frame: Buffer) => S;
  /** What ends a line. @defaultValue {@link DEFAULT_LINE_DELIMITER} */
  readonly delimiter?: string | Uint8Array;
  /** The longest line. @defaultValue {@link DEFAULT_MAX_LINE_BYTES} */
  readonly maxLineBytes?: number;
  /** The largest `{ bytes }` frame. @defaultValue {@link DEFAULT_MAX_FRAME_BYTES} */
  readonly maxFrameBytes?: number;
}

/**
 * Decodes a stream whose framing changes as it goes: lines, then raw bytes, then lines again
 * (Twisted's `LineReceiver` with `setRawMode`/`setLineMode`), driven by a state machine over the
 * frames.
 *
 * ```text
 * source:  -a----b----|    a='SIZE 3\r\nab'  b='cOK\r\n'
 * modal(): -x----(yz)-|    x=line 'SIZE 3'  y={bytes:3} 'abc'  z=line 'OK'
 * ```
 *
 * Where `LineReceiver` has methods a handler calls, this is pure: `mode(state)` picks the framing
 * of the next frame, and `next(state, frame)` gives the state after it, so the switch happens
 * exactly at the frame boundary, even inside one chunk. Bytes already buffered after the switch
 * are decoded in the new mode. Raw frames are the chunks as they arrive (views, never copied).
 *
 * Fails with {@link FrameTooLongError} when a line exceeds `maxLineBytes` or a `{ bytes }` frame
 * exceeds `maxFrameBytes`, with {@link TruncatedFrameError} when the source completes inside a
 * line or a `{ bytes }` frame unless `allowTruncation` is set, and with the error `next` throws.
 *
 * ## Example
 * ```ts
 * import { modal } from 'rxnet';
 *
 * // Header lines up to an empty line, then a body of the announced length, then lines again.
 * type State = { readonly body: number; readonly inBody: boolean };
 * const messages$ = connection.data$.pipe(
 *   modal<State>({
 *     seed: { body: 0, inBody: false },
 *     mode: (s) => (s.inBody ? { bytes: s.body } : 'line'),
 *     next: (s, frame) =>
 *       s.inBody ? { body: 0, inBody: false }
 *       : frame.length === 0 ? { ...s, inBody: s.body > 0 }
 *       : { ...s, body: Number(/^Content-Length: (\d+)$/.exec(frame.toString())?.[1] ?? s.body) },
 *   }),
 * );
 * ```
 *
 * @param options The state machine, line delimiter, limits and truncation; see {@link ModalOptions}.
 * @returns An operator from chunks to {@link ModalFrame}s.
 * @see {@link lines}
 */
export function modal<S>(options: ModalOptions<S>): OperatorFunction<Buffer, ModalFrame<S>> {
  const delimiter = toDelimiter(options.delimiter ?? DEFAULT_LINE_DELIMITER);
  const settings: ModalSettings<S> = {
    seed: options.seed,
    mode: options.mode,
    next: options.next,
    delimiter,
    single: delimiter.length === 1 ? delimiter[0] : -1,
    maxLine: byteCount('maxLineBytes', options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES),
    maxFrame: byteCount('maxFrameBytes', options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES),
    allowTruncation: options.allowTruncation ?? false,
  };
  return decodeWith(() => new ModalDecoder(settings));
}

/** One {@link modal} operator's fixed settings, shared by every subscription's decoder. */
interface ModalSettings<S> {
  readonly seed: S;
  readonly mode: (state: S) => FramingMode;
  readonly next: (state: S, frame: Buffer) => S;
  readonly delimiter: Buffer;
  /** The delimiter's byte when it is one byte long (a faster search), else -1. */
  readonly single: number;
  readonly maxLine: number;
  readonly maxFrame: number;
  readonly allowTruncation: boolean;
}

/**
 * One subscription's state, as {@link delimited}'s decoder keeps it: an object with methods rather
 * than closures, and the queue made only when a frame is first left unfinished.
 */
class ModalDecoder<S> implements FrameDecoder<ModalFrame<S>> {
  private queue: ChunkQueue | undefined;
  private state: S;
  /** In line mode, no delimiter starts before this position of the queue. */
  private searchFrom = 0;

  constructor(private readonly settings: ModalSettings<S>) {
    this.state = settings.seed;
  }

  push(chunk: Buffer, out: FrameSink<ModalFrame<S>>): void {
    let start = 0;
    const queue = this.queue;
    if (queue !== undefined && queue.length > 0) {
      // A line or a { bytes } frame is waiting for the rest of its bytes (raw mode never waits).
      start = this.finish(queue, chunk, out);
      if (start < 0) return;
    }
    // Frames inside the chunk are views of it; the loop avoids the queue, the common case per frame.
    const { mode, next, delimiter, single, maxLine } = this.settings;
    const end = chunk.length;
    while (!out.closed && start < end) {
      const current = mode(this.state);
      let data: Buffer;
      if (current === 'line') {
        const at = single >= 0 ? chunk.indexOf(single, start) : chunk.indexOf(delimiter, start);
        if (at < 0) {
          this.searchFrom = this.wait(chunk, start).partialMatchStart(delimiter, 0);
          if (this.searchFrom > maxLine) throw new FrameTooLongError(maxLine, this.searchFrom);
          return;
        }
        if (at - start > maxLine) throw new FrameTooLongError(maxLine, at - start);
        data = chunk.subarray(start, at);
        start = at + delimiter.length;
      } else if (current === 'raw') {
        data = start === 0 ? chunk : chunk.subarray(start);
        start = end;
      } else {
        const size = this.frameSize(current);
        if (end - start < size) {
          this.wait(chunk, start);
          return;
        }
        // A chunk that is exactly the frame is emitted as it is.
        data = size === end ? chunk : chunk.subarray(start, start + size);
        start += size;
      }
      // `next` runs before the frame is emitted: if it throws, the stream fails without that frame.
      const before = this.state;
      this.state = next(before, data);
      out.next({ mode: current, state: before, data });
    }
  }

  end(out: FrameSink<ModalFrame<S>>): void {
    const queue = this.queue;
    if (queue === undefined || queue.length === 0) return;
    const { mode, maxLine, allowTruncation } = this.settings;
    if (!allowTruncation) throw new TruncatedFrameError(queue.length);
    if (mode(this.state) !== 'line') return;
    // The rest may end in a partial delimiter, which the limit so far gave the benefit of the doubt.
    if (queue.length > maxLine) throw new FrameTooLongError(maxLine, queue.length);
    out.next({ mode: 'line', state: this.state, data: queue.consume(queue.length) });
  }

  /**
   * Feeds `chunk` to the queued, unfinished frame: emits the frame if `chunk` completes it, and
   * returns where the rest of `chunk` starts, or -1 when the frame still waits (`chunk` queued).
   */
  private finish(queue: ChunkQueue, chunk: Buffer, out: FrameSink<ModalFrame<S>>): number {
    const { mode, next, delimiter, single, maxLine } = this.settings;
    const current = mode(this.state);
    const queued = queue.length;
    let data: Buffer;
    let start: number;
    if (current === 'line' && single >= 0 && this.searchFrom === queued) {
      // The queued bytes hold no delimiter, so the line ends at the chunk's first one, if any, and
      // the line is copied once from the queue and the chunk's head, without queueing the chunk.
      const at = chunk.indexOf(single);
      if (at < 0) {
        queue.push(chunk);
        this.searchFrom = queue.length;
        if (this.searchFrom > maxLine) throw new FrameTooLongError(maxLine, this.searchFrom);
        return -1;
      }
      if (queued + at > maxLine) throw new FrameTooLongError(maxLine, queued + at);
      data = queue.takeWith(chunk, at);
      this.searchFrom = 0;
      start = at + 1;
    } else if (current === 'line') {
      queue.push(chunk);
      const at = queue.indexOf(delimiter, this.searchFrom);
      if (at < 0) {
        this.searchFrom = queue.partialMatchStart(delimiter, this.searchFrom);
        if (this.searchFrom > maxLine) throw new FrameTooLongError(maxLine, this.searchFrom);
        return -1;
      }
      if (at > maxLine) throw new FrameTooLongError(maxLine, at);
      data = queue.consume(at);
      queue.skip(delimiter.length);
      this.searchFrom = 0;
      // The frame ended inside this chunk (it was incomplete before it), so what is left is its tail.
      start = chunk.length - queue.length;
      queue.clear();
    } else if (current === 'raw') {
      // Only an impure `mode` gets here: raw mode never leaves bytes queued.
      data = queue.takeWith(chunk, chunk.length);
      start = chunk.length;
    } else {
      const size = this.frameSize(current);
      if (queued + chunk.length < size) {
        queue.push(chunk);
        return -1;
      }
      if (queued < size) {
        data = queue.takeWith(chunk, size - queued);
        start = size - queued;
      } else {
        // Only an impure `mode` gets here: bytes are queued only while fewer than the frame's size.
        queue.push(chunk);
        data = queue.consume(size);
        start = chunk.length - queue.length;
        queue.clear();
      }
    }
    const before = this.state;
    this.state = next(before, data);
    out.next({ mode: current, state: before, data });
    return start;
  }

  /** Queues the chunk from `start`, where a frame it does not finish starts; returns the queue. */
  private wait(chunk: Buffer, start: number): ChunkQueue {
    const queue = (this.queue ??= new ChunkQueue());
    queue.push(start === 0 ? chunk : chunk.subarray(start));
    return queue;
  }

  /** The size of a { bytes } frame; throws if it is not a positive integer or is over the limit. */
  private frameSize(current: { readonly bytes: number }): number {
    const { maxFrame } = this.settings;
    const size = byteCount('bytes', current.bytes, 1);
    if (size > maxFrame) throw new FrameTooLongError(maxFrame, size);
    return size;
  }
}

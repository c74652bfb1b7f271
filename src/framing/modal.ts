import type { OperatorFunction } from 'rxjs';
import { FrameTooLongError, TruncatedFrameError } from '../errors';
import { ChunkQueue } from './ChunkQueue';
import { decodeWith } from './decoder';
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
  const { seed, mode, next } = options;
  const delimiter = toDelimiter(options.delimiter ?? DEFAULT_LINE_DELIMITER);
  const maxLine = byteCount('maxLineBytes', options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
  const maxFrame = byteCount('maxFrameBytes', options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
  const allowTruncation = options.allowTruncation ?? false;
  const single = delimiter.length === 1 ? delimiter[0] : -1;
  /** The size of a { bytes } frame; throws if it is not a positive integer or is over the limit. */
  const frameSize = (current: { readonly bytes: number }): number => {
    const size = byteCount('bytes', current.bytes, 1);
    if (size > maxFrame) throw new FrameTooLongError(maxFrame, size);
    return size;
  };
  return decodeWith(() => {
    const queue = new ChunkQueue();
    let state = seed;
    /** In line mode, no delimiter starts before this position of the queue. */
    let searchFrom = 0;
    return {
      push(chunk, out) {
        let start = 0;
        if (queue.length > 0) {
          // A line or a { bytes } frame is waiting for the rest of its bytes (raw mode never waits).
          queue.push(chunk);
          const current = mode(state);
          let data: Buffer;
          if (current === 'line') {
            const at = queue.indexOf(delimiter, searchFrom);
            if (at < 0) {
              searchFrom = queue.partialMatchStart(delimiter, searchFrom);
              if (searchFrom > maxLine) throw new FrameTooLongError(maxLine, searchFrom);
              return;
            }
            if (at > maxLine) throw new FrameTooLongError(maxLine, at);
            data = queue.consume(at);
            queue.skip(delimiter.length);
            searchFrom = 0;
          } else if (current === 'raw') {
            // Only an impure `mode` gets here: raw mode never leaves bytes queued.
            data = queue.consume(queue.length);
          } else {
            const size = frameSize(current);
            if (queue.length < size) return;
            data = queue.consume(size);
          }
          const before = state;
          state = next(state, data);
          out.next({ mode: current, state: before, data });
          // The frame ended inside this chunk (it was incomplete before it), so what is left is its tail.
          start = chunk.length - queue.length;
          queue.clear();
        }
        // Frames inside the chunk are views of it; the loop avoids the queue, the common case per frame.
        while (!out.closed && start < chunk.length) {
          const current = mode(state);
          let data: Buffer;
          if (current === 'raw') {
            data = start === 0 ? chunk : chunk.subarray(start);
            start = chunk.length;
          } else if (current === 'line') {
            const at = single >= 0 ? chunk.indexOf(single, start) : chunk.indexOf(delimiter, start);
            if (at < 0) {
              queue.push(start === 0 ? chunk : chunk.subarray(start));
              searchFrom = queue.partialMatchStart(delimiter, 0);
              if (searchFrom > maxLine) throw new FrameTooLongError(maxLine, searchFrom);
              return;
            }
            if (at - start > maxLine) throw new FrameTooLongError(maxLine, at - start);
            data = chunk.subarray(start, at);
            start = at + delimiter.length;
          } else {
            const size = frameSize(current);
            if (chunk.length - start < size) {
              queue.push(start === 0 ? chunk : chunk.subarray(start));
              return;
            }
            // A chunk that is exactly the frame is emitted as it is.
            data = size === chunk.length ? chunk : chunk.subarray(start, start + size);
            start += size;
          }
          // `next` runs before the frame is emitted: if it throws, the stream fails without that frame.
          const before = state;
          state = next(state, data);
          out.next({ mode: current, state: before, data });
        }
      },
      end(out) {
        if (queue.length === 0) return;
        if (!allowTruncation) throw new TruncatedFrameError(queue.length);
        if (mode(state) !== 'line') return;
        // The rest may end in a partial delimiter, which the limit so far gave the benefit of the doubt.
        if (queue.length > maxLine) throw new FrameTooLongError(maxLine, queue.length);
        out.next({ mode: 'line', state, data: queue.consume(queue.length) });
      },
    };
  });
}

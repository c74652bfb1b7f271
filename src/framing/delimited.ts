import type { OperatorFunction } from 'rxjs';
import { FrameTooLongError, InvalidFrameError, TruncatedFrameError } from '../errors';
import type { Framing, Output } from '../types';
import { ChunkQueue } from './ChunkQueue';
import { framingOf } from './codec';
import { decodeWith, type FrameDecoder, type FrameSink } from './decoder';
import { encodeWith } from './encoder';
import {
  byteCount,
  DEFAULT_MAX_FRAME_BYTES,
  toBuffer,
  toDelimiter,
  type TruncationOptions,
} from './limits';

/** Options of {@link delimited} and its encoders. */
export interface DelimitedOptions extends TruncationOptions {
  /**
   * The longest frame accepted, delimiter excluded. The decoder fails as soon as the unterminated
   * bytes exceed it, without waiting for a delimiter; the encoder refuses longer frames.
   *
   * @defaultValue {@link DEFAULT_MAX_FRAME_BYTES}
   */
  readonly maxFrameBytes?: number;
}

/**
 * Splits a byte stream into the frames between occurrences of `delimiter`, without the delimiter.
 *
 * ```text
 * source:         -a---b--c----|    a='ab|'  b='c'  c='|d|'
 * delimited('|'): -x------(yz)-|    x='ab'  y='c'  z='d'
 * ```
 *
 * TCP delivers chunks, not messages: one frame may arrive in many chunks, and one chunk may end
 * several frames. A frame inside one chunk is emitted as a view of it (no copy); a frame that
 * spans chunks is copied once. The search resumes where the last one stopped, so a long frame
 * arriving byte by byte costs linear time.
 *
 * Fails with {@link FrameTooLongError} when the bytes before a delimiter (or the unterminated
 * bytes so far) exceed `maxFrameBytes`, and with {@link TruncatedFrameError} when the source
 * completes after an unterminated frame, unless `allowTruncation` is set; nothing after the bad
 * frame is emitted, not even later frames of the same chunk.
 *
 * ## Example
 * ```ts
 * import { delimited } from 'rxnet';
 *
 * const records$ = connection.data$.pipe(delimited('\0', { maxFrameBytes: 4096 }));
 * ```
 *
 * @param delimiter The bytes that end each frame (a string is UTF-8); not empty.
 * @param options Limits and truncation; see {@link DelimitedOptions}.
 * @returns An operator from chunks to frames, which is also the codec of both directions (its
 * `encode` is {@link encodeDelimitedFrame}'s), usable as a server's `framing`.
 * @see {@link lines}, {@link encodeDelimited}
 */
export function delimited(
  delimiter: string | Uint8Array,
  options: DelimitedOptions = {},
): Framing<Buffer> {
  const needle = toDelimiter(delimiter);
  const max = byteCount('maxFrameBytes', options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
  const settings: DelimitedSettings = {
    needle,
    single: needle.length === 1 ? needle[0]! : -1,
    max,
    allowTruncation: options.allowTruncation ?? false,
  };
  const decode = decodeWith<Buffer>(() => new DelimitedDecoder(settings));
  return framingOf(decode, (frame: Output) => frameParts(toBuffer(frame), needle, max));
}

/** One {@link delimited} decoder's fixed settings, shared by every subscription's decoder. */
interface DelimitedSettings {
  readonly needle: Buffer;
  /** The delimiter's byte when it is one byte long (a faster search), else -1. */
  readonly single: number;
  readonly max: number;
  readonly allowTruncation: boolean;
}

/**
 * One subscription's state: an object with methods rather than closures, and the queue made only
 * when a frame is first left unfinished (most connections' chunks end where their frames do).
 */
class DelimitedDecoder implements FrameDecoder<Buffer> {
  private queue: ChunkQueue | undefined;
  /** No delimiter starts before this position of the queue. */
  private searchFrom = 0;

  constructor(private readonly settings: DelimitedSettings) {}

  push(chunk: Buffer, out: FrameSink<Buffer>): void {
    const { needle, single, max } = this.settings;
    let start = 0;
    let queue = this.queue;
    if (queue !== undefined && queue.length > 0) {
      queue.push(chunk);
      const at = queue.indexOf(needle, this.searchFrom);
      if (at < 0) {
        this.searchFrom = queue.partialMatchStart(needle, this.searchFrom);
        if (this.searchFrom > max) throw new FrameTooLongError(max, this.searchFrom);
        return;
      }
      if (at > max) throw new FrameTooLongError(max, at);
      const frame = queue.consume(at);
      queue.skip(needle.length);
      this.searchFrom = 0;
      out.next(frame);
      // The delimiter ended inside this chunk (none ended earlier), so what is left is its tail.
      start = chunk.length - queue.length;
      queue.clear();
    }
    // Frames inside the chunk are views of it; the loop avoids the queue, the common case per frame.
    while (!out.closed) {
      const at = single >= 0 ? chunk.indexOf(single, start) : chunk.indexOf(needle, start);
      if (at < 0) break;
      if (at - start > max) throw new FrameTooLongError(max, at - start);
      out.next(chunk.subarray(start, at));
      start = at + needle.length;
    }
    if (start < chunk.length && !out.closed) {
      queue ??= this.queue = new ChunkQueue();
      queue.push(start === 0 ? chunk : chunk.subarray(start));
      this.searchFrom = queue.partialMatchStart(needle, 0);
      if (this.searchFrom > max) throw new FrameTooLongError(max, this.searchFrom);
    }
  }

  end(out: FrameSink<Buffer>): void {
    const queue = this.queue;
    if (queue === undefined || queue.length === 0) return;
    const { max, allowTruncation } = this.settings;
    if (!allowTruncation) throw new TruncatedFrameError(queue.length);
    // The rest may end in a partial delimiter, which the limit so far gave the benefit of the doubt.
    if (queue.length > max) throw new FrameTooLongError(max, queue.length);
    out.next(queue.consume(queue.length));
  }
}

/**
 * Encodes one frame for {@link delimited}: returns `[frame, delimiter]`, two buffers to write in
 * order, so that nothing is concatenated.
 *
 * @param frame The frame (a string is UTF-8).
 * @param delimiter The delimiter the decoder uses.
 * @param options `maxFrameBytes`, as the decoder has it.
 * @returns The parts to write, in order.
 * @throws {@link FrameTooLongError} when the frame is longer than `maxFrameBytes`, and
 * {@link InvalidFrameError} when the frame contains the delimiter (or would form one with it),
 * since the decoder would not give it back whole.
 */
export function encodeDelimitedFrame(
  frame: Output,
  delimiter: string | Uint8Array,
  options: DelimitedOptions = {},
): readonly Buffer[] {
  return frameParts(
    toBuffer(frame),
    toDelimiter(delimiter),
    options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
  );
}

/**
 * Encodes each frame for {@link delimited}, emitting the frame and the delimiter as separate
 * buffers (see {@link encodeDelimitedFrame}).
 *
 * ```text
 * source:               -a-------b---|    a='ab'  b='c'
 * encodeDelimited('|'): -(xd)----(yd)|    x='ab'  y='c'  d='|'
 * ```
 *
 * Fails with {@link FrameTooLongError} or {@link InvalidFrameError} at the first frame the
 * decoder would refuse.
 *
 * ## Example
 * ```ts
 * import { of } from 'rxjs';
 * import { encodeDelimited } from 'rxnet';
 *
 * connection.send(of('one', 'two').pipe(encodeDelimited('\0'))).subscribe();
 * ```
 *
 * @param delimiter The delimiter the decoder uses.
 * @param options `maxFrameBytes`, as the decoder has it.
 * @returns An operator from frames to the buffers to write.
 */
export function encodeDelimited(
  delimiter: string | Uint8Array,
  options: DelimitedOptions = {},
): OperatorFunction<Output, Buffer> {
  const needle = toDelimiter(delimiter);
  const max = byteCount('maxFrameBytes', options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
  return encodeWith((frame) => frameParts(toBuffer(frame), needle, max));
}

/** Shared by the encoders of {@link delimited} and {@link lines}. */
export function frameParts(frame: Buffer, delimiter: Buffer, max: number): readonly Buffer[] {
  if (frame.length > max) throw new FrameTooLongError(max, frame.length);
  if (frame.indexOf(delimiter) >= 0 || endsInsideDelimiter(frame, delimiter)) {
    throw new InvalidFrameError('frame contains its delimiter');
  }
  return [frame, delimiter];
}

/** Whether `frame + delimiter` holds the delimiter before its end (only self-overlapping ones can). */
function endsInsideDelimiter(frame: Buffer, delimiter: Buffer): boolean {
  for (
    let start = Math.max(0, frame.length - delimiter.length + 1);
    start < frame.length;
    start++
  ) {
    const tail = frame.length - start;
    if (
      frame.compare(delimiter, 0, tail, start) === 0 &&
      delimiter.compare(delimiter, 0, delimiter.length - tail, tail) === 0
    ) {
      return true;
    }
  }
  return false;
}

import type { OperatorFunction } from 'rxjs';
import { FrameTooLongError, InvalidFrameError, TruncatedFrameError } from '../errors';
import type { Framing, Output } from '../types';
import { ChunkQueue } from './ChunkQueue';
import { framingOf } from './codec';
import { decodeWith } from './decoder';
import { encodeWith } from './encoder';
import { byteCount, DEFAULT_MAX_FRAME_BYTES, toBuffer, type TruncationOptions } from './limits';

/** Options of {@link lengthPrefixed} and its encoders. */
export interface LengthPrefixedOptions extends TruncationOptions {
  /**
   * Size of the big-endian unsigned length field: 1, 2 or 4 bytes (Twisted's `Int8StringReceiver`,
   * `Int16StringReceiver`, `Int32StringReceiver`).
   *
   * @defaultValue 4
   */
  readonly prefixBytes?: 1 | 2 | 4;
  /**
   * Size of the fixed header that starts each frame and contains the length field.
   *
   * @defaultValue `lengthOffset + prefixBytes` (the header is just the length)
   */
  readonly headerBytes?: number;
  /**
   * Where in the header the length field starts.
   *
   * @defaultValue 0
   */
  readonly lengthOffset?: number;
  /**
   * Whether the length counts the header too (the frame's total size) rather than only the payload.
   *
   * @defaultValue false
   */
  readonly lengthIncludesHeader?: boolean;
  /**
   * Whether to emit each frame with its header (so that other header fields can be read), rather
   * than the payload alone.
   *
   * @defaultValue false
   */
  readonly includeHeader?: boolean;
  /**
   * The largest length a frame may announce, as its length field counts it. Checked on the length
   * field, before any payload is buffered.
   *
   * @defaultValue {@link DEFAULT_MAX_FRAME_BYTES} (99999, Twisted's `IntNStringReceiver.MAX_LENGTH`)
   */
  readonly maxFrameBytes?: number;
  /**
   * The smallest length a frame may announce, as its length field counts it.
   *
   * @defaultValue 0 (and never less than `headerBytes` when `lengthIncludesHeader`)
   */
  readonly minFrameBytes?: number;
}

interface Layout {
  readonly prefixBytes: number;
  readonly headerBytes: number;
  readonly lengthOffset: number;
  readonly lengthIncludesHeader: boolean;
  readonly max: number;
  readonly min: number;
}

/**
 * Decodes frames that start with a big-endian length (Twisted's `IntNStringReceiver`), optionally
 * inside a fixed header.
 *
 * ```text
 * source:           -a--b----|    a=[0,2,104]  b=[105,0,0]
 * lengthPrefixed(): ----(xy)-|    x='hi'  y=''
 * ```
 * (with `{ prefixBytes: 2 }`)
 *
 * The length is checked against the limits as soon as its field has arrived, before the payload
 * is buffered. For a header such as an IoT gateway's 16-byte one whose first field is the total
 * length, use `{ prefixBytes: 4, headerBytes: 16, lengthIncludesHeader: true, includeHeader: true }`.
 *
 * Fails with {@link FrameTooLongError} when a length exceeds `maxFrameBytes`, with
 * {@link InvalidFrameError} when it is below `minFrameBytes` (or below the header's size when it
 * includes the header), and with {@link TruncatedFrameError} when the source completes inside a
 * frame, unless `allowTruncation` is set (then the partial frame is dropped). Nothing after the
 * bad frame is emitted.
 *
 * ## Example
 * ```ts
 * import { lengthPrefixed } from 'rxnet';
 *
 * const messages$ = connection.data$.pipe(lengthPrefixed({ prefixBytes: 2, maxFrameBytes: 4096 }));
 * ```
 *
 * @param options Layout, limits and truncation; see {@link LengthPrefixedOptions}.
 * @returns An operator from chunks to payloads (or whole frames, with `includeHeader`), which is
 * also the codec of both directions (its `encode` writes a zero-filled header carrying the length,
 * then the payload, as {@link encodeLengthPrefixed} does), usable as a server's `framing`. With
 * `includeHeader` the decoder emits whole frames while `encode` still takes a payload; to set
 * other header fields, write {@link encodeLengthPrefixedFrame}'s parts yourself.
 * @see {@link encodeLengthPrefixed}
 */
export function lengthPrefixed(options: LengthPrefixedOptions = {}): Framing<Buffer> {
  const checked = layout(options);
  const { prefixBytes, headerBytes, lengthOffset, lengthIncludesHeader, max, min } = checked;
  const allowTruncation = options.allowTruncation ?? false;
  const lengthEnd = lengthOffset + prefixBytes;
  // The options are settled here, once, so the per-frame loop only adds offsets.
  /** Where the emitted bytes start in a frame. */
  const emitFrom = (options.includeHeader ?? false) ? 0 : headerBytes;
  /** What to add to the length field's value to get the whole frame's size. */
  const sizeOver = lengthIncludesHeader ? 0 : headerBytes;
  /** Throws the error the limits give for a length outside `[min, max]`. */
  const refuse = (length: number): never => {
    if (length > max) throw new FrameTooLongError(max, length);
    throw new InvalidFrameError(`length ${length} is below the minimum of ${min}`);
  };
  const decode = decodeWith<Buffer>(() => {
    const queue = new ChunkQueue();
    /** Header plus payload bytes of the queued frame, once its length field has been read. */
    let frameBytes = -1;
    return {
      push(chunk, out) {
        let start = 0;
        const queued = queue.length;
        if (queued > 0 && frameBytes >= 0 && queued >= emitFrom) {
          // The header is queued, so the frame's size is known: `chunk` either adds to it or holds
          // its end, and then the frame is copied once from the queue and the chunk's head,
          // without queueing the chunk.
          if (queued + chunk.length < frameBytes) {
            queue.push(chunk);
            return;
          }
          start = frameBytes - queued;
          queue.skip(emitFrom);
          const frame = queue.takeWith(chunk, start);
          frameBytes = -1;
          out.next(frame);
        } else if (queued > 0) {
          queue.push(chunk);
          if (frameBytes < 0) {
            if (queue.length < lengthEnd) return;
            const length = queue.readUIntBE(lengthOffset, prefixBytes);
            if (length > max || length < min) refuse(length);
            frameBytes = length + sizeOver;
          }
          if (queue.length < frameBytes) return;
          queue.skip(emitFrom);
          const frame = queue.consume(frameBytes - emitFrom);
          frameBytes = -1;
          out.next(frame);
          // The frame ended inside this chunk (it was incomplete before it), so what is left is its tail.
          start = chunk.length - queue.length;
          queue.clear();
        }
        // Frames inside the chunk are views of it; the loop avoids the queue, the common case per frame.
        const end = chunk.length;
        while (!out.closed && end - start >= lengthEnd) {
          const length = readLength(chunk, start + lengthOffset, prefixBytes);
          if (length > max || length < min) refuse(length);
          const size = length + sizeOver;
          if (end - start < size) {
            frameBytes = size;
            break;
          }
          // A chunk that is exactly one whole frame, header included, is emitted as it is.
          out.next(
            size === end && emitFrom === 0 ? chunk : chunk.subarray(start + emitFrom, start + size),
          );
          start += size;
        }
        if (start < end && !out.closed) queue.push(start === 0 ? chunk : chunk.subarray(start));
      },
      end() {
        if (queue.length > 0 && !allowTruncation) throw new TruncatedFrameError(queue.length);
      },
    };
  });
  return framingOf(decode, (payload: Output) => frameParts(toBuffer(payload), checked));
}

/**
 * The big-endian length field of `prefixBytes` bytes at `at`, which the caller has checked is in
 * `bytes`: indexing reads it without `readUIntBE`'s width dispatch and bounds checks.
 */
function readLength(bytes: Buffer, at: number, prefixBytes: number): number {
  if (prefixBytes === 4) {
    return bytes[at] * 0x1000000 + ((bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]);
  }
  return prefixBytes === 2 ? (bytes[at] << 8) | bytes[at + 1] : bytes[at];
}

/**
 * Encodes one frame for {@link lengthPrefixed}: returns `[header, payload]`, to write in order
 * without concatenating.
 *
 * @param payload The payload (a string is UTF-8).
 * @param options The decoder's layout and limits.
 * @param header The header's other fields, `headerBytes` long; copied, with the length written
 * into the copy. Zero-filled when omitted.
 * @returns The parts to write, in order.
 * @throws {@link FrameTooLongError} when the length exceeds `maxFrameBytes` or what the length
 * field can hold, {@link InvalidFrameError} when it is below `minFrameBytes`, and `TypeError` when
 * `header` has the wrong size.
 */
export function encodeLengthPrefixedFrame(
  payload: Output,
  options: LengthPrefixedOptions = {},
  header?: Uint8Array,
): readonly Buffer[] {
  return frameParts(toBuffer(payload), layout(options), header);
}

/**
 * Encodes each payload for {@link lengthPrefixed}, emitting a zero-filled header carrying the
 * length, then the payload, as separate buffers (see {@link encodeLengthPrefixedFrame}).
 *
 * ```text
 * source:                 -a--------|    a='hi'
 * encodeLengthPrefixed(): -(hx)-----|    h=[0,2]  x='hi'
 * ```
 * (with `{ prefixBytes: 2 }`)
 *
 * Fails with {@link FrameTooLongError} or {@link InvalidFrameError} at the first payload the
 * decoder would refuse.
 *
 * ## Example
 * ```ts
 * import { of } from 'rxjs';
 * import { encodeLengthPrefixed } from 'rxnet';
 *
 * connection.send(of('hello').pipe(encodeLengthPrefixed({ prefixBytes: 2 }))).subscribe();
 * ```
 *
 * @param options The decoder's layout and limits.
 * @returns An operator from payloads to the buffers to write.
 */
export function encodeLengthPrefixed(
  options: LengthPrefixedOptions = {},
): OperatorFunction<Output, Buffer> {
  const checked = layout(options);
  return encodeWith((payload) => frameParts(toBuffer(payload), checked));
}

function frameParts(payload: Buffer, layout: Layout, fields?: Uint8Array): readonly Buffer[] {
  const { prefixBytes, headerBytes, lengthOffset, lengthIncludesHeader, max, min } = layout;
  const length = lengthIncludesHeader ? headerBytes + payload.length : payload.length;
  const capacity = 2 ** (8 * prefixBytes) - 1;
  if (length > max) throw new FrameTooLongError(max, length);
  if (length > capacity) throw new FrameTooLongError(capacity, length);
  if (length < min) throw new InvalidFrameError(`length ${length} is below the minimum of ${min}`);
  if (fields !== undefined && fields.length !== headerBytes) {
    throw new TypeError(`header must be ${headerBytes} bytes, got ${fields.length}`);
  }
  const header = fields === undefined ? Buffer.alloc(headerBytes) : Buffer.from(fields);
  header.writeUIntBE(length, lengthOffset, prefixBytes);
  return [header, payload];
}

function layout(options: LengthPrefixedOptions): Layout {
  const prefixBytes = options.prefixBytes ?? 4;
  if (prefixBytes !== 1 && prefixBytes !== 2 && prefixBytes !== 4) {
    throw new TypeError(`prefixBytes must be 1, 2 or 4, got ${String(prefixBytes)}`);
  }
  const lengthOffset = byteCount('lengthOffset', options.lengthOffset ?? 0);
  const headerBytes = byteCount(
    'headerBytes',
    options.headerBytes ?? lengthOffset + prefixBytes,
    lengthOffset + prefixBytes,
  );
  const lengthIncludesHeader = options.lengthIncludesHeader ?? false;
  const max = byteCount('maxFrameBytes', options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES);
  // A length that counts the header can never be smaller than the header.
  const min = Math.max(
    byteCount('minFrameBytes', options.minFrameBytes ?? 0),
    lengthIncludesHeader ? headerBytes : 0,
  );
  if (min > max) throw new TypeError(`minFrameBytes (${min}) exceeds maxFrameBytes (${max})`);
  return { prefixBytes, headerBytes, lengthOffset, lengthIncludesHeader, max, min };
}

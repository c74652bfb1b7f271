import type { OperatorFunction } from 'rxjs';
import { FrameTooLongError, InvalidFrameError, TruncatedFrameError } from '../errors';
import type { Framing, Output } from '../types';
import { ChunkQueue } from './ChunkQueue';
import { framingOf } from './codec';
import { decodeWith } from './decoder';
import { encodeWith } from './encoder';
import { byteCount, DEFAULT_MAX_NETSTRING_BYTES, toBuffer, type TruncationOptions } from './limits';

/** Options of {@link netstrings} and its encoders. */
export interface NetstringsOptions extends TruncationOptions {
  /**
   * The longest payload accepted. The decoder checks the length while reading its digits, so a
   * huge or endless length prefix fails before any payload is buffered.
   *
   * @defaultValue {@link DEFAULT_MAX_NETSTRING_BYTES} (99999, Twisted's `NetstringReceiver.MAX_LENGTH`)
   */
  readonly maxFrameBytes?: number;
}

const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const COMMA = 0x2c;
const COMMA_BYTE = Buffer.from(',');

/**
 * Decodes netstrings (`LEN:DATA,`, D. J. Bernstein's format) into their payloads (Twisted's
 * `NetstringReceiver`).
 *
 * ```text
 * source:       -a---b--c-|    a='3:ab'  b='c,0'  c=':,'
 * netstrings(): -----x--y-|    x='abc'  y=''
 * ```
 *
 * The length is a decimal number without leading zeros (`0` itself is fine), as Twisted's
 * `(0|[1-9]\d*)` requires. A payload inside one chunk is emitted as a view of it.
 *
 * Fails with {@link InvalidFrameError} when the length is missing, is not a number, has a leading
 * zero, or the payload is not followed by a comma; with {@link FrameTooLongError} as soon as the
 * digits read so far exceed `maxFrameBytes`; with {@link TruncatedFrameError} when the source
 * completes inside a netstring, unless `allowTruncation` is set (then the partial one is dropped).
 * Nothing after the bad netstring is emitted.
 *
 * ## Example
 * ```ts
 * import { netstrings } from 'rxnet';
 *
 * const messages$ = connection.data$.pipe(netstrings({ maxFrameBytes: 65536 }));
 * ```
 *
 * @param options Limit and truncation; see {@link NetstringsOptions}.
 * @returns An operator from chunks to payloads, which is also the codec of both directions (its
 * `encode` is {@link encodeNetstring}'s), usable as a server's `framing`.
 * @see {@link encodeNetstrings}
 */
export function netstrings(options: NetstringsOptions = {}): Framing<Buffer> {
  const max = byteCount('maxFrameBytes', options.maxFrameBytes ?? DEFAULT_MAX_NETSTRING_BYTES);
  const allowTruncation = options.allowTruncation ?? false;
  /** The length after one more byte of it, `index` being that byte's place; throws on a bad length. */
  const nextLength = (length: number, index: number, byte: number): number => {
    if (byte < ZERO || byte > NINE) {
      throw new InvalidFrameError(
        index === 0 ? 'netstring does not start with a length' : 'netstring length is not a number',
      );
    }
    if (index === 1 && length === 0)
      throw new InvalidFrameError('netstring length has a leading zero');
    const next = length * 10 + byte - ZERO;
    if (next > max) throw new FrameTooLongError(max, next);
    return next;
  };
  const decode = decodeWith<Buffer>(() => {
    const queue = new ChunkQueue();
    /** Digits of the queued netstring's length read so far, and their value. */
    let digits = 0;
    let length = 0;
    /** The queued netstring's length once its colon has been consumed, else -1. */
    let size = -1;
    return {
      push(chunk, out) {
        let start = 0;
        if (queue.length > 0 || size >= 0) {
          queue.push(chunk);
          if (size < 0) {
            for (; digits < queue.length; digits++) {
              const byte = queue.byteAt(digits);
              if (byte === COLON) break;
              length = nextLength(length, digits, byte);
            }
            if (digits === queue.length) return;
            if (digits === 0) throw new InvalidFrameError('netstring does not start with a length');
            queue.skip(digits + 1);
            size = length;
            digits = 0;
            length = 0;
          }
          if (queue.length <= size) return;
          if (queue.byteAt(size) !== COMMA)
            throw new InvalidFrameError('netstring is not terminated by a comma');
          const payload = queue.consume(size);
          queue.skip(1);
          size = -1;
          out.next(payload);
          // The netstring ended inside this chunk (it was incomplete before it), so what is left is its tail.
          start = chunk.length - queue.length;
          queue.clear();
        }
        // Netstrings inside the chunk are views of it; the loop avoids the queue, the common case per frame.
        while (!out.closed && start < chunk.length) {
          let colon = start;
          let value = 0;
          for (; colon < chunk.length && chunk[colon] !== COLON; colon++)
            value = nextLength(value, colon - start, chunk[colon]);
          const comma = colon + 1 + value;
          if (comma >= chunk.length) {
            // Resume from what was read: the queue path goes on from `digits`.
            digits = colon - start;
            length = value;
            queue.push(chunk.subarray(start));
            return;
          }
          if (colon === start)
            throw new InvalidFrameError('netstring does not start with a length');
          if (chunk[comma] !== COMMA)
            throw new InvalidFrameError('netstring is not terminated by a comma');
          out.next(chunk.subarray(colon + 1, comma));
          start = comma + 1;
        }
      },
      end() {
        if ((queue.length > 0 || size >= 0) && !allowTruncation) {
          // Count the consumed `LEN:` too: the caller wants the size of the whole partial netstring.
          throw new TruncatedFrameError(queue.length + (size < 0 ? 0 : `${size}:`.length));
        }
      },
    };
  });
  return framingOf(decode, (payload: Output) => netstringParts(toBuffer(payload), max));
}

/**
 * Encodes one netstring: returns `[length + ':', payload, ',']`, to write in order without
 * concatenating.
 *
 * @param payload The payload (a string is UTF-8).
 * @param options `maxFrameBytes`, as the decoder has it.
 * @returns The parts to write, in order.
 * @throws {@link FrameTooLongError} when the payload is longer than `maxFrameBytes`.
 */
export function encodeNetstring(
  payload: Output,
  options: NetstringsOptions = {},
): readonly Buffer[] {
  return netstringParts(toBuffer(payload), options.maxFrameBytes ?? DEFAULT_MAX_NETSTRING_BYTES);
}

/**
 * Encodes each payload as a netstring, emitting the length, the payload and the comma as separate
 * buffers (see {@link encodeNetstring}).
 *
 * ```text
 * source:             -a----------|    a='abc'
 * encodeNetstrings(): -(lxc)------|    l='3:'  x='abc'  c=','
 * ```
 *
 * Fails with {@link FrameTooLongError} at the first payload longer than `maxFrameBytes`.
 *
 * ## Example
 * ```ts
 * import { of } from 'rxjs';
 * import { encodeNetstrings } from 'rxnet';
 *
 * connection.send(of('hello').pipe(encodeNetstrings())).subscribe();
 * ```
 *
 * @param options `maxFrameBytes`, as the decoder has it.
 * @returns An operator from payloads to the buffers to write.
 */
export function encodeNetstrings(
  options: NetstringsOptions = {},
): OperatorFunction<Output, Buffer> {
  const max = byteCount('maxFrameBytes', options.maxFrameBytes ?? DEFAULT_MAX_NETSTRING_BYTES);
  return encodeWith((payload) => netstringParts(toBuffer(payload), max));
}

function netstringParts(payload: Buffer, max: number): readonly Buffer[] {
  if (payload.length > max) throw new FrameTooLongError(max, payload.length);
  return [Buffer.from(`${payload.length}:`, 'latin1'), payload, COMMA_BYTE];
}

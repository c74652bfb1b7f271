import type { Observable, OperatorFunction } from 'rxjs';
import type { Framing, Output } from '../types';

/**
 * Makes a {@link Framing} from a decoder operator and an encoder: your own wire format, usable as
 * a server's or client's `framing`, piped as an operator, or taken apart as `decode` and `encode`.
 * rxnet's own framings (`lines()`, `lengthPrefixed()` …) are built with it.
 *
 * ```text
 * source:                     -a---b--|     a=[0,0,0,2,104]  b=[105]
 * framingOf(decode, encode):  -----x--|     x={ text: 'hi' }
 * ```
 * (with `decode = pipe(lengthPrefixed(), map((p) => ({ text: p.toString() })))`)
 *
 * The usual way to write a message format is to layer it on a byte framing: decode with the
 * framing and then parse each frame, encode by serialising and then framing.
 *
 * ## Example
 * ```ts
 * import { map, pipe } from 'rxjs';
 * import { framingOf, lengthPrefixed } from 'rxnet';
 *
 * // JSON messages, each in a 4-byte length-prefixed frame of at most 64 KiB.
 * const frames = lengthPrefixed({ maxFrameBytes: 65_536 });
 * const json = framingOf(
 *   pipe(frames, map((payload): unknown => JSON.parse(payload.toString('utf8')))),
 *   (message: unknown) => frames.encode(JSON.stringify(message)),
 * );
 * ```
 *
 * A new function wraps `decode` rather than mutating it, so the operator a framing was built from
 * is never changed behind its back.
 *
 * @param decode The operator from received chunks to messages; it fails with a typed error on
 * bad input, which then becomes the connection's close reason.
 * @param encode Turns one message into the bytes to write, as one part or several.
 * @returns The decoder as an operator, carrying `decode` and `encode`.
 */
export function framingOf<T, O = Output>(
  decode: OperatorFunction<Buffer, T>,
  encode: (value: O) => Output | readonly Output[],
): Framing<T, O> {
  const operator = (source: Observable<Buffer>): Observable<T> => decode(source);
  return Object.assign(operator, { decode, encode });
}

import { map, type OperatorFunction } from 'rxjs';
import type { Framing, Output } from '../types';
import { framingOf } from './codec';
import { delimited, frameParts } from './delimited';
import { newlineLines, newlineParts } from './newlines';
import { encodeWith } from './encoder';
import {
  byteCount,
  DEFAULT_LINE_DELIMITER,
  DEFAULT_MAX_LINE_BYTES,
  toBuffer,
  toDelimiter,
  type TruncationOptions,
} from './limits';

/** Options of {@link lines}, {@link encodeLines} and {@link encodeLine}. */
export interface LinesOptions extends TruncationOptions {
  /**
   * What ends a line. Use `'\n'` for Unix-style text (netcat, most line protocols).
   *
   * @defaultValue {@link DEFAULT_LINE_DELIMITER} (`'\r\n'`, as Twisted's `LineReceiver`)
   */
  readonly delimiter?: string | Uint8Array;
  /**
   * The longest line accepted, delimiter excluded; checked before the delimiter arrives.
   *
   * @defaultValue {@link DEFAULT_MAX_LINE_BYTES} (16384, Twisted's `MAX_LENGTH`)
   */
  readonly maxLineBytes?: number;
  /** Emit each line decoded as a string in this encoding, rather than as a Buffer. */
  readonly encoding?: BufferEncoding;
  /**
   * Accept both `\n` and `\r\n` as line ends, mixed in one stream (netcat, telnet and Windows
   * clients on one server), so no line keeps a stray `\r`. Lines are split at `\n`, and a `\r`
   * just before it is dropped with it; `maxLineBytes` counts the line without either. The encoder
   * still writes `delimiter`, which must then be `'\r\n'` or `'\n'` (a `TypeError` otherwise),
   * and refuses a line with a `\n` in it.
   *
   * @defaultValue false (only `delimiter` ends a line)
   */
  readonly anyNewline?: boolean;
}

/**
 * Splits a byte stream into lines, without the delimiter (Twisted's `LineOnlyReceiver`).
 *
 * ```text
 * source:  -a----b---c--|    a='he'  b='llo\r\nwo'  c='rld\r\n'
 * lines(): ------x---y--|    x='hello'  y='world'
 * ```
 *
 * Lines are Buffers (views of the chunk when a line lies inside one), so binary-safe protocols pay
 * for no decoding; pass `encoding: 'utf8'` to get strings. That is safe per line: a UTF-8
 * character never contains the bytes of an ASCII delimiter, so it cannot be split by one.
 * With `allowTruncation`, the unterminated rest is emitted as a last line when the source completes.
 * With `anyNewline`, `\n` and `\r\n` both end a line, so clients that send either can share a
 * server (`lines({ anyNewline: true })`).
 *
 * Fails with {@link FrameTooLongError} as soon as a line, or the unterminated bytes so far, exceed
 * `maxLineBytes`, and with {@link TruncatedFrameError} when the source completes after an
 * unterminated line unless `allowTruncation` is set. Nothing after the bad line is emitted.
 *
 * ## Example
 * ```ts
 * import { lines } from 'rxnet';
 *
 * connection.data$.pipe(lines({ delimiter: '\n', encoding: 'utf8' })).subscribe((line) => console.log(line));
 * ```
 *
 * @param options Delimiter, limit, encoding and truncation; see {@link LinesOptions}.
 * @returns An operator from chunks to lines, which is also the codec of both directions (its
 * `encode` is {@link encodeLine}'s, with the same options): pipe it, or give it to a server as
 * `framing` (or as `decode` alone).
 * @see {@link encodeLines}, {@link delimited}, {@link modal} (line and raw mode)
 */
export function lines(options?: LinesOptions & { readonly encoding?: undefined }): Framing<Buffer>;
export function lines(
  options: LinesOptions & { readonly encoding: BufferEncoding },
): Framing<string>;
export function lines(options: LinesOptions): Framing<Buffer | string>;
export function lines(options: LinesOptions = {}): Framing<Buffer | string> {
  const split = options.anyNewline
    ? framingOf(
        newlineLines(maxLineBytesOf(options), options.allowTruncation ?? false),
        lineEncoder(options),
      )
    : delimited(options.delimiter ?? DEFAULT_LINE_DELIMITER, {
        maxFrameBytes: maxLineBytesOf(options),
        allowTruncation: options.allowTruncation ?? false,
      });
  const encoding = options.encoding;
  if (encoding === undefined) return split;
  return framingOf(
    (source) =>
      source.pipe(
        split,
        map((line) => line.toString(encoding)),
      ),
    split.encode,
  );
}

/**
 * Encodes one line for {@link lines}: returns `[line, delimiter]`, to write in order without
 * concatenating (Twisted's `sendLine` through `writeSequence`).
 *
 * @param line The line, without delimiter (a string is UTF-8).
 * @param options `delimiter`, `maxLineBytes` and `anyNewline`, as the decoder has them.
 * @returns The parts to write, in order.
 * @throws {@link FrameTooLongError} when the line is longer than `maxLineBytes`, and
 * {@link InvalidFrameError} when it contains the delimiter (with `anyNewline`: a `\n`).
 */
export function encodeLine(line: Output, options: LinesOptions = {}): readonly Buffer[] {
  return lineEncoder(options)(line);
}

/**
 * Encodes each line for {@link lines}, emitting the line and the delimiter as separate buffers.
 *
 * ```text
 * source:        -a-------b---|    a='hi'  b='yo'
 * encodeLines(): -(xd)----(yd)|    x='hi'  y='yo'  d='\r\n'
 * ```
 *
 * Fails with {@link FrameTooLongError} or {@link InvalidFrameError} at the first line the
 * decoder would refuse.
 *
 * ## Example
 * ```ts
 * import { of } from 'rxjs';
 * import { encodeLines } from 'rxnet';
 *
 * connection.send(of('HELLO', 'BYE').pipe(encodeLines({ delimiter: '\n' }))).subscribe();
 * ```
 *
 * @param options `delimiter`, `maxLineBytes` and `anyNewline`, as the decoder has them.
 * @returns An operator from lines to the buffers to write.
 */
export function encodeLines(options: LinesOptions = {}): OperatorFunction<Output, Buffer> {
  return encodeWith(lineEncoder(options));
}

function maxLineBytesOf(options: LinesOptions): number {
  return byteCount('maxLineBytes', options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
}

/** The encoder of one line for `options`, checked once, at call time. */
function lineEncoder(options: LinesOptions): (line: Output) => readonly Buffer[] {
  const delimiter = toDelimiter(options.delimiter ?? DEFAULT_LINE_DELIMITER);
  const max = maxLineBytesOf(options);
  if (!options.anyNewline) return (line) => frameParts(toBuffer(line), delimiter, max);
  if (!delimiter.equals(CRLF) && !delimiter.equals(LF)) {
    throw new TypeError(
      `with anyNewline, the delimiter must be '\\r\\n' or '\\n', got ${JSON.stringify(delimiter.toString())}`,
    );
  }
  return (line) => newlineParts(toBuffer(line), delimiter, max);
}

const CRLF = Buffer.from('\r\n');
const LF = Buffer.from('\n');

import type { OperatorFunction } from 'rxjs';
import { FrameTooLongError, InvalidFrameError, TruncatedFrameError } from '../errors';
import { ChunkQueue } from './ChunkQueue';
import { decodeWith } from './decoder';

const LF = 0x0a;
const CR = 0x0d;
const LF_BYTES = Buffer.from('\n');

/**
 * The decoder of `lines({ anyNewline: true })`: lines end at `\n`, and a `\r` just before it is
 * part of the line end, not of the line, so `\n` and `\r\n` clients can share one stream.
 * Internal: {@link lines} is the public face.
 *
 * `max` counts the line without its line end. A `\r` that ends the buffered bytes may still be the
 * first half of a `\r\n`, so the limit gives it the benefit of the doubt until the next byte.
 */
export function newlineLines(
  max: number,
  allowTruncation: boolean,
): OperatorFunction<Buffer, Buffer> {
  return decodeWith(() => {
    const queue = new ChunkQueue();
    /** The unterminated bytes that surely belong to the line: all but a last `\r`. */
    const pending = (): number => queue.length - (queue.byteAt(queue.length - 1) === CR ? 1 : 0);
    return {
      push(chunk, out) {
        let start = 0;
        if (queue.length > 0) {
          // The queue holds no `\n` (it would have ended a line), so any is in this chunk.
          const searchFrom = queue.length;
          queue.push(chunk);
          const at = queue.indexOf(LF_BYTES, searchFrom);
          if (at < 0) {
            const content = pending();
            if (content > max) throw new FrameTooLongError(max, content);
            return;
          }
          const end = at > 0 && queue.byteAt(at - 1) === CR ? at - 1 : at;
          if (end > max) throw new FrameTooLongError(max, end);
          const line = queue.consume(end);
          queue.skip(at + 1 - end);
          out.next(line);
          // The line ended inside this chunk, so what is left is its tail.
          start = chunk.length - queue.length;
          queue.clear();
        }
        // Lines inside the chunk are views of it; the loop avoids the queue, the common case per line.
        while (!out.closed) {
          const at = chunk.indexOf(LF, start);
          if (at < 0) break;
          const end = at > start && chunk[at - 1] === CR ? at - 1 : at;
          if (end - start > max) throw new FrameTooLongError(max, end - start);
          out.next(chunk.subarray(start, end));
          start = at + 1;
        }
        if (start < chunk.length && !out.closed) {
          queue.push(start === 0 ? chunk : chunk.subarray(start));
          const content = pending();
          if (content > max) throw new FrameTooLongError(max, content);
        }
      },
      end(out) {
        if (queue.length === 0) return;
        if (!allowTruncation) throw new TruncatedFrameError(queue.length);
        // A last `\r` is the start of a line end the peer did not finish.
        const content = pending();
        if (content > max) throw new FrameTooLongError(max, content);
        out.next(queue.consume(content));
      },
    };
  });
}

/**
 * Encodes one line for {@link newlineLines}: `[line, delimiter]`, refusing a line the decoder
 * would not give back whole: one with a `\n`, or, when the delimiter is a bare `\n`, one that
 * ends in `\r` (the decoder would take that `\r` for part of the line end).
 */
export function newlineParts(line: Buffer, delimiter: Buffer, max: number): readonly Buffer[] {
  if (line.length > max) throw new FrameTooLongError(max, line.length);
  if (line.indexOf(LF) >= 0) throw new InvalidFrameError('line contains a newline');
  if (delimiter.length === 1 && line.length > 0 && line[line.length - 1] === CR) {
    throw new InvalidFrameError('line ends with a carriage return');
  }
  return [line, delimiter];
}

/**
 * Returns a predicate for {@link closeOn} and `filter` that recognises one command in an unframed
 * chunk: the chunk is `text`, alone or followed by one `\n` or `\r\n`.
 *
 * ```text
 * lineEquals('close'):  'close' → true   'close\n' → true   'close\r\n' → true
 *                       'close\n\n' → false   ' close' → false   'clo' → false
 * ```
 *
 * `nc` sends a line with its `\n` and `telnet` with `\r\n`, while the Spread seed compares the whole
 * chunk with `data == "close"`; this predicate accepts all three. It does not reassemble a command
 * split across chunks, nor find one among other lines in the same chunk: for that, frame the
 * connection with `lines()` and compare the frames. Chunks are compared byte by byte, without
 * decoding or copying them, so a `Buffer` costs no allocation.
 *
 * ## Example
 * ```ts
 * import { closeOn, lineEquals, type Behaviour } from 'rxnet';
 *
 * const hangUpOnClose: Behaviour = (events) => events.pipe(closeOn(lineEquals('close')));
 * ```
 *
 * @param text The command, without a line ending.
 * @returns A predicate over a chunk (`Uint8Array`, so also `Buffer`) or a string.
 * @see {@link closeOn}
 */
export function lineEquals(text: string): (data: string | Uint8Array) => boolean {
  const lf = `${text}\n`;
  const crlf = `${text}\r\n`;
  const bytes = new TextEncoder().encode(text);
  return (data) => {
    if (typeof data === 'string') return data === text || data === lf || data === crlf;
    return startsWithBytes(data, bytes) && isLineEnd(data, bytes.length);
  };
}

function startsWithBytes(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length || data.length > prefix.length + 2) return false;
  for (let i = 0; i < prefix.length; i++) {
    if (data[i] !== prefix[i]) return false;
  }
  return true;
}

/** Whether `data` ends at `at`, or continues with just `\n` or `\r\n`. */
function isLineEnd(data: Uint8Array, at: number): boolean {
  const rest = data.length - at;
  if (rest === 0) return true;
  if (rest === 1) return data[at] === 0x0a;
  return data[at] === 0x0d && data[at + 1] === 0x0a;
}

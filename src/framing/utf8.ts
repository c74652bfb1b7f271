import { StringDecoder } from 'node:string_decoder';
import { ignoreElements, Observable, type OperatorFunction, tap } from 'rxjs';

/**
 * Decodes a UTF-8 byte stream into text, correctly when a character is split across chunks.
 *
 * ```text
 * source: -a--b--|    a=[0x68,0xc3]  b=[0xa9]
 * utf8(): -x--y--|    x='h'  y='é'
 * ```
 *
 * `chunk.toString()` would turn each half of a split character into U+FFFD; this keeps the
 * incomplete bytes until the rest arrives (node's `StringDecoder`). Chunks that complete no
 * character emit nothing. Bytes that are not UTF-8, and an incomplete character when the source
 * completes, become U+FFFD, as `TextDecoder` does without `fatal`. Use it on unframed text
 * (raw mode, a whole-stream transfer); for lines, `lines({ encoding: 'utf8' })` is enough.
 *
 * ## Example
 * ```ts
 * import { utf8 } from 'rxnet';
 *
 * connection.data$.pipe(utf8()).subscribe((text) => process.stdout.write(text));
 * ```
 *
 * @returns An operator from chunks to strings.
 * @see {@link lines}
 */
export function utf8(): OperatorFunction<Buffer, string> {
  return (source) =>
    new Observable<string>((subscriber) => {
      const decoder = new StringDecoder('utf8');
      // Chained to `subscriber` (not an observer object) so that a synchronous source stops as soon as the consumer goes.
      source
        .pipe(
          tap({
            next: (chunk) => {
              const text = decoder.write(chunk);
              if (text !== '') subscriber.next(text);
            },
            complete: () => {
              const rest = decoder.end();
              if (rest !== '') subscriber.next(rest);
            },
          }),
          ignoreElements(),
        )
        .subscribe(subscriber);
    });
}

import { ignoreElements, Observable, type OperatorFunction, tap } from 'rxjs';
import type { Output } from '../types';

/**
 * Turns a frame encoder into an operator that emits each frame's parts (header, payload,
 * delimiter) as separate buffers, so a connection writes them without a `Buffer.concat`
 * (Twisted's `writeSequence`). Internal: the public encoders are built from it.
 *
 * An encoder that throws (a frame its peer would refuse) fails the output at that frame; the
 * source is chained to `subscriber` as in `decodeWith`, so a synchronous source stops there too.
 */
export function encodeWith(
  encode: (frame: Output) => readonly Buffer[],
): OperatorFunction<Output, Buffer> {
  return (source) =>
    new Observable<Buffer>((subscriber) => {
      source
        .pipe(
          tap((frame) => {
            for (const part of encode(frame)) subscriber.next(part);
          }),
          ignoreElements(),
        )
        .subscribe(subscriber);
    });
}

import { Observable, type OperatorFunction } from 'rxjs';
import type { Output } from '../types';

/**
 * Turns a frame encoder into an operator that emits each frame's parts (header, payload,
 * delimiter) as separate buffers, so a connection writes them without a `Buffer.concat`
 * (Twisted's `writeSequence`). Internal: the public encoders are built from it.
 *
 * An encoder that throws (a frame its peer would refuse) fails the output at that frame.
 */
export function encodeWith(encode: (frame: Output) => readonly Buffer[]): OperatorFunction<Output, Buffer> {
  return (source) =>
    new Observable<Buffer>((subscriber) => {
      let failed = false;
      const subscription = source.subscribe({
        next(frame) {
          if (failed) return;
          let parts: readonly Buffer[];
          try {
            parts = encode(frame);
          } catch (error) {
            failed = true;
            subscriber.error(error);
            return;
          }
          for (const part of parts) subscriber.next(part);
        },
        error(error: unknown) {
          subscriber.error(error);
        },
        complete() {
          subscriber.complete();
        },
      });
      return () => subscription.unsubscribe();
    });
}

import { Observable, type OperatorFunction, type Subscriber } from 'rxjs';

/**
 * One subscription's framing state. Internal: the public decoders are built from it by
 * {@link decodeWith}, and {@link modal} switches between them.
 */
export interface FrameDecoder<T> {
  /**
   * Takes one chunk and emits every frame it completes, stopping as soon as `out` is closed.
   * Throws an `RxnetError` at the first bad frame, having emitted only the frames before it.
   */
  push(chunk: Buffer, out: Subscriber<T>): void;
  /** The source completed: emits what is left if that is allowed, or throws `TruncatedFrameError`. */
  end(out: Subscriber<T>): void;
}

/**
 * Turns a decoder factory into an operator over chunks, with a fresh decoder per subscription.
 *
 * A decoder's error fails the output and unsubscribes from the source, so nothing after the bad
 * frame is delivered; the buffered bytes are dropped with the decoder.
 */
export function decodeWith<T>(create: () => FrameDecoder<T>): OperatorFunction<Buffer, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let decoder: FrameDecoder<T> | null = create();
      const subscription = source.subscribe({
        next(chunk) {
          if (decoder === null) return;
          try {
            decoder.push(chunk, subscriber);
          } catch (error) {
            decoder = null;
            subscriber.error(error);
          }
        },
        error(error: unknown) {
          decoder = null;
          subscriber.error(error);
        },
        complete() {
          if (decoder === null) return;
          try {
            decoder.end(subscriber);
          } catch (error) {
            decoder = null;
            subscriber.error(error);
            return;
          }
          decoder = null;
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        decoder = null;
      };
    });
}

import { Observable, type OperatorFunction, type Subscriber } from 'rxjs';
import { relay } from '../internal/relay';

/**
 * One subscription's framing state. Internal: the public decoders are built from it by
 * {@link decodeWith}.
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
 * {@link relay} subscribes the source with `subscriber` itself, so a synchronous source stops as
 * soon as the consumer goes, and a decoder's throw fails the stream and unsubscribes from the
 * source: nothing after the bad frame is delivered.
 */
export function decodeWith<T>(create: () => FrameDecoder<T>): OperatorFunction<Buffer, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let decoder: FrameDecoder<T> | null = create();
      relay(
        source,
        subscriber,
        (chunk) => decoder?.push(chunk, subscriber),
        () => decoder?.end(subscriber),
      );
      return () => {
        // Drops the buffered bytes with the decoder, even if a caller still holds this subscription.
        decoder = null;
      };
    });
}

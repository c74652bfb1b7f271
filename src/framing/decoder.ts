import { ignoreElements, Observable, type OperatorFunction, type Subscriber, tap } from 'rxjs';

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
 * The source is subscribed with `subscriber` itself at the end of the chain (through `tap` and
 * `ignoreElements`), not with an observer object: an observer's subscription can only be
 * unsubscribed once `subscribe()` returns, so a synchronous source would run to its end after the
 * consumer had gone. `tap` also turns a decoder's throw into `subscriber.error` and unsubscribes
 * from the source, so nothing after the bad frame is delivered.
 */
export function decodeWith<T>(create: () => FrameDecoder<T>): OperatorFunction<Buffer, T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      let decoder: FrameDecoder<T> | null = create();
      source
        .pipe(
          tap({
            next: (chunk) => decoder?.push(chunk, subscriber),
            complete: () => decoder?.end(subscriber),
          }),
          ignoreElements(),
        )
        .subscribe(subscriber);
      return () => {
        // Drops the buffered bytes with the decoder, even if a caller still holds this subscription.
        decoder = null;
      };
    });
}

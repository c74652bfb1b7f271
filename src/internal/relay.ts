import { ignoreElements, type Observable, type Subscriber, tap } from 'rxjs';

/**
 * Calls `next` with each value of `source` (and `complete` when it completes), and forwards the
 * source's error and completion to `subscriber`; the callbacks emit to `subscriber` themselves,
 * zero or more times. Shared by the behaviour operators and the framing decoders; not public API.
 *
 * A plain observer object given to `source.subscribe()` gets a subscription that can only be
 * unsubscribed once `subscribe()` has returned, so a synchronous source would run to its end after
 * the consumer had gone (a `take(3)` downstream). Handing `subscriber` itself to `subscribe()`
 * chains the upstream subscription to it instead, so the source sees `closed` at once; `tap` also
 * routes an error thrown by a callback to `subscriber.error` and unsubscribes from the source, so
 * nothing after a bad frame or a failing user callback is delivered.
 */
export function relay<T, R>(
  source: Observable<T>,
  subscriber: Subscriber<R>,
  next: (value: T) => void,
  complete?: () => void,
): void {
  source
    .pipe(tap(complete === undefined ? { next } : { next, complete }), ignoreElements())
    .subscribe(subscriber);
}

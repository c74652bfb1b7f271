/**
 * Mechanics shared by the behaviour operators. Not re-exported: nothing here is public API.
 *
 * @packageDocumentation
 */
import { ignoreElements, type Observable, type Subscriber, tap } from 'rxjs';
import type { DataReceived, ServerCommand, ServerEvent } from '../types';

/** Anything on a behaviour's mixed stream: an event passing through, or a command added to it. */
export type ServerItem = ServerEvent<unknown> | ServerCommand<unknown>;

/** The type of the data carried by the `data` events among `E`. */
export type DataOf<E> = E extends DataReceived<infer T> ? T : never;

/**
 * Calls `next` with each value of `source`, and forwards the source's error and completion to
 * `subscriber`; `next` emits to `subscriber` itself, zero or more times per value.
 *
 * A plain observer object given to `source.subscribe()` gets a subscription that can only be
 * unsubscribed once `subscribe()` has returned, so a synchronous source would run to its end after
 * the consumer had gone (a `take(3)` downstream). Handing `subscriber` itself to `subscribe()`
 * chains the upstream subscription to it instead, so the source sees `closed` at once; `tap` also
 * routes an error thrown by a user callback inside `next` to `subscriber.error`, as `map` does.
 */
export function relay<T, R>(source: Observable<T>, subscriber: Subscriber<R>, next: (value: T) => void): void {
  source.pipe(tap(next), ignoreElements()).subscribe(subscriber);
}

import { Observable } from 'rxjs';

/**
 * The process signals as a shutdown trigger: each `SIGTERM` or `SIGINT` (or the signals given)
 * is emitted by name, for {@link serve}'s `shutdown` option.
 *
 * ```text
 * signals:            ----T-------I----    T=SIGTERM  I=SIGINT (or a second SIGTERM)
 * shutdownSignals():  ----T-------I----
 * serve's shutdown:       begins  forced
 * ```
 *
 * While it is subscribed, the signals no longer end the process at once (a listener replaces
 * Node's default action): the first begins the graceful shutdown and the next forces it. Once the
 * server has completed, its trigger is unsubscribed and the listeners removed, so the process can
 * exit (nothing else holding it) and a later signal acts as it did before.
 *
 * ## Example
 * ```ts
 * import { serve, shutdownSignals, echo } from 'rxnet';
 *
 * serve('tcp:8007', (events) => events.pipe(echo()), { shutdown: shutdownSignals() }).subscribe(
 *   (notification) => {
 *     if (notification.type === 'shutdownComplete') console.log(notification);
 *   },
 * );
 * ```
 *
 * @param signals The signals to listen for. @defaultValue `['SIGTERM', 'SIGINT']`
 * @returns A hot, never-completing Observable of the signals received while subscribed.
 */
export function shutdownSignals(
  signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'],
): Observable<NodeJS.Signals> {
  return new Observable<NodeJS.Signals>((subscriber) => {
    function onSignal(signal: NodeJS.Signals): void {
      subscriber.next(signal);
    }
    for (const signal of signals) process.on(signal, onSignal);
    return () => {
      for (const signal of signals) process.off(signal, onSignal);
    };
  });
}

import { ConnectionLostError } from '../errors';
import type { ConnectionId, ServerEvent } from '../types';
import { Observable, type OperatorFunction } from 'rxjs';
import type { LogEntry } from './entries';

/**
 * Turns a cluster's log into the events a behaviour sees: the same events, in the same order, on
 * every node that reads the same log.
 *
 * ```text
 * log:     -m-d-h-x-|   m=connectionMade 1 (node 1)  d=data 1  h=heartbeat  x=nodeLost node 1
 * replay:  -m-d---l-|   l=connectionLost 1, reason lost
 * ```
 *
 * Connection events pass through. A `nodeLost` entry, the first for its node, becomes a
 * `connectionLost` for each of that node's connections still open, in ascending id order, with
 * reason `done` when the node left cleanly and `lost` (a {@link ConnectionLostError}) when its
 * heartbeats stopped; every later entry of that node is dropped, as are repeated `nodeLost`
 * entries (several survivors may notice the same loss). Events for a connection the log never
 * opened (its `connectionMade` was trimmed, or it is already lost) are dropped too. `joined` and
 * `heartbeat` entries emit nothing.
 *
 * Pure: no clock, no I/O; the state is rebuilt on each subscription.
 *
 * ## Example
 * ```ts
 * import { from } from 'rxjs';
 * import { decodeEntry, replayLog } from 'rxnet';
 *
 * from(await hub.history()).pipe(map(decodeEntry), replayLog(), behaviour).subscribe(console.log);
 * ```
 *
 * @returns An operator from log entries to server events.
 */
export function replayLog<T>(): OperatorFunction<LogEntry<T>, ServerEvent<T>> {
  return (entries) =>
    new Observable<ServerEvent<T>>((subscriber) => {
      const open = new Map<number, Set<ConnectionId>>();
      const lost = new Set<number>();
      return entries.subscribe({
        next(entry) {
          if (lost.has(entry.node)) return;
          switch (entry.type) {
            case 'event': {
              const { event } = entry;
              let ids = open.get(entry.node);
              if (event.type === 'connectionMade') {
                if (ids === undefined) open.set(entry.node, (ids = new Set()));
                if (ids.has(event.id)) return;
                ids.add(event.id);
              } else if (ids === undefined || !ids.has(event.id)) {
                return;
              } else if (event.type === 'connectionLost') {
                ids.delete(event.id);
              }
              subscriber.next(event);
              return;
            }
            case 'nodeLost': {
              lost.add(entry.node);
              const ids = [...(open.get(entry.node) ?? [])].sort((a, b) => a - b);
              open.delete(entry.node);
              for (const id of ids) {
                subscriber.next({
                  type: 'connectionLost',
                  id,
                  reason: entry.graceful
                    ? { type: 'done' }
                    : {
                        type: 'lost',
                        error: new ConnectionLostError(
                          `Connection lost: node ${entry.node} was lost`,
                        ),
                      },
                });
              }
              return;
            }
            default:
              return;
          }
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
    });
}

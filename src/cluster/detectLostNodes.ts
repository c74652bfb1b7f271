import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike } from 'rxjs';
import type { LogEntry } from './entries';
import { DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_NODE_TIMEOUT } from './hub';

/** Options of {@link detectLostNodes}. */
export interface DetectLostNodesOptions {
  /** The node that watches: never reported. */
  readonly self: number;
  /** How long a node may go unheard. @defaultValue {@link DEFAULT_NODE_TIMEOUT} */
  readonly timeout?: number;
  /** How often to look. @defaultValue {@link DEFAULT_HEARTBEAT_INTERVAL} */
  readonly interval?: number;
  /** Where time comes from. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
}

/**
 * A failure detector over the log: emits the number of each node not heard from for `timeout`.
 *
 * ```text
 * log:      a-b-----------   a=heartbeat node 2  b=heartbeat node 3 (timeout 6, interval 2)
 * detect:   ------2-3-----   (a node that stays unheard is reported again every timeout)
 * ```
 *
 * Every entry a node appends counts as hearing from it; the clock is this node's, read when the
 * entry arrives (the log carries no time), so a late joiner replaying old entries starts every
 * known node's clock at the replay. A node is watched from its first entry until a `nodeLost`
 * entry for it arrives; one that stays unheard after being reported is reported again every
 * `timeout`, in case the report was lost. The caller appends the `nodeLost` entries: this operator
 * only decides.
 *
 * The clock is node-local, so two nodes may decide at different moments; the log orders their
 * reports, and {@link replayLog} acts on the first.
 *
 * @param options `self`, and the `timeout`, `interval` and `scheduler`.
 * @returns An operator from log entries to lost node numbers.
 */
export function detectLostNodes(
  options: DetectLostNodesOptions,
): OperatorFunction<LogEntry, number> {
  const {
    self,
    timeout = DEFAULT_NODE_TIMEOUT,
    interval = DEFAULT_HEARTBEAT_INTERVAL,
    scheduler = asyncScheduler,
  } = options;
  return (entries) =>
    new Observable<number>((subscriber) => {
      const heard = new Map<number, number>();
      const lost = new Set<number>();
      const check = scheduler.schedule(function (this: {
        schedule(state?: unknown, delay?: number): void;
      }) {
        const now = scheduler.now();
        for (const [node, at] of heard) {
          if (now - at >= timeout) {
            heard.set(node, now);
            subscriber.next(node);
          }
        }
        this.schedule(undefined, interval);
      }, interval);
      const subscription = entries.subscribe({
        next(entry) {
          if (entry.type === 'nodeLost') {
            lost.add(entry.node);
            heard.delete(entry.node);
          } else if (entry.node !== self && !lost.has(entry.node)) {
            heard.set(entry.node, scheduler.now());
          }
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      return () => {
        check.unsubscribe();
        subscription.unsubscribe();
      };
    });
}

import { Observable } from 'rxjs';
import { checkClusterName, DEFAULT_CLUSTER, type Hub } from './hub';

/**
 * A {@link Hub} in this process's memory: the default of a clustered server, for several nodes in
 * one process (and for tests). Give the same hub to every node that should form one cluster.
 *
 * Nothing is trimmed, and entries are delivered on a microtask after `append`, never inside it, so
 * a node sees its own events arrive asynchronously exactly as it would through Redis or NATS.
 *
 * ## Example
 * ```ts
 * import { memoryHub, serveClustered } from 'rxnet';
 *
 * const hub = memoryHub();
 * serveClustered('tcp:8007', spread, { hub }).subscribe();
 * serveClustered('tcp:8008', spread, { hub }).subscribe();
 * ```
 *
 * @param cluster The cluster's name. @defaultValue {@link DEFAULT_CLUSTER}
 * @returns A hub whose log lives as long as the object.
 * @throws `TypeError` for a bad cluster name.
 */
export function memoryHub(cluster: string = DEFAULT_CLUSTER): Hub {
  checkClusterName(cluster);
  let log: string[] = [];
  let nodes = 0;
  const readers = new Set<() => void>();
  let closed = false;

  function wake(): void {
    for (const reader of readers) reader();
  }

  return {
    cluster,
    join: () => Promise.resolve(++nodes),
    append(entry) {
      if (closed) return Promise.reject(new Error('The hub is closed'));
      log.push(entry);
      queueMicrotask(wake);
      return Promise.resolve();
    },
    read: () =>
      new Observable<string>((subscriber) => {
        let position = 0;
        const current = log;
        function deliver(): void {
          // A destroyed log is a new one: this reader's cluster is gone.
          if (current !== log) {
            subscriber.complete();
            return;
          }
          while (position < log.length && !subscriber.closed) {
            subscriber.next(log[position++] as string);
          }
        }
        readers.add(deliver);
        queueMicrotask(deliver);
        return () => {
          readers.delete(deliver);
        };
      }),
    history: () => Promise.resolve([...log]),
    destroy() {
      log = [];
      nodes = 0;
      wake();
      return Promise.resolve();
    },
    close() {
      closed = true;
      log = [];
      wake();
      readers.clear();
      return Promise.resolve();
    },
  };
}

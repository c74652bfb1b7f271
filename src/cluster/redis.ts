/**
 * `rxnet/cluster/redis`: a {@link Hub} on a Redis Stream. Needs `ioredis` (an optional peer
 * dependency of rxnet): `npm install ioredis`. Only this entry loads it; `import 'rxnet'` never does.
 *
 * @packageDocumentation
 */
import Redis, { type RedisOptions } from 'ioredis';
import { Observable } from 'rxjs';
import { HubError } from '../errors';
import { checkClusterName, DEFAULT_CLUSTER, DEFAULT_MAX_LOG_ENTRIES, type Hub } from './hub';

/** Options of {@link redisHub}. */
export interface RedisHubOptions {
  /** Where Redis is: `redis://HOST:PORT[/DB]`. @defaultValue `'redis://127.0.0.1:6379'` */
  readonly url?: string;
  /** ioredis's own options, for everything a URL cannot say. */
  readonly redis?: RedisOptions;
  /** The cluster's name: every key is `rxnet:{NAME}:…`. @defaultValue {@link DEFAULT_CLUSTER} */
  readonly cluster?: string;
  /**
   * How many entries the stream keeps (`XADD … MAXLEN ~`, so Redis may keep a few more).
   *
   * @defaultValue {@link DEFAULT_MAX_LOG_ENTRIES}
   */
  readonly maxEntries?: number;
}

/**
 * A {@link Hub} on Redis (5 or later): the log is the stream `rxnet:{NAME}:log`, appended with
 * `XADD` and read with `XREAD BLOCK` on a connection of each reader's own; node numbers come from
 * `INCR rxnet:{NAME}:nodes`. Appends go out on one connection, so Redis applies them in call
 * order. The braces put both keys in one Redis Cluster slot.
 *
 * A reader checks once, when it starts, that nothing was trimmed (`XINFO STREAM`'s
 * `entries-added` against its `length`) and otherwise fails with `HubError` (`trimmed`).
 *
 * ## Example
 * ```ts
 * import { serveClustered } from 'rxnet';
 * import { redisHub } from 'rxnet/cluster/redis';
 *
 * const hub = redisHub({ url: 'redis://10.0.0.5:6379', cluster: 'spread' });
 * serveClustered('tcp:8007', spread, { hub }).subscribe();
 * ```
 *
 * @param options Where Redis is, the cluster's name and the retention.
 * @returns A hub; its connection opens at once, `close()` ends it.
 * @throws `TypeError` for a bad cluster name.
 */
export function redisHub(options: RedisHubOptions = {}): Hub {
  const {
    url = 'redis://127.0.0.1:6379',
    cluster = DEFAULT_CLUSTER,
    maxEntries = DEFAULT_MAX_LOG_ENTRIES,
  } = options;
  checkClusterName(cluster);
  const key = `rxnet:{${cluster}}:log`;
  const nodesKey = `rxnet:{${cluster}}:nodes`;
  // Fail commands at once while Redis is away instead of queueing them for ever.
  const client = new Redis(url, { maxRetriesPerRequest: 2, ...options.redis });
  const readers = new Set<Redis>();
  const failed = (cause: unknown): HubError => new HubError(cluster, 'failed', { cause });

  async function trimmed(reader: Redis): Promise<boolean> {
    try {
      const info = (await reader.call('XINFO', 'STREAM', key)) as unknown[];
      const field = (name: string): unknown => info[info.indexOf(name) + 1];
      return Number(field('entries-added')) > Number(field('length'));
    } catch (error: unknown) {
      // No stream yet: a cluster starting from nothing.
      if (String(error).includes('no such key')) return false;
      throw error;
    }
  }

  return {
    cluster,
    async join() {
      try {
        return await client.incr(nodesKey);
      } catch (error: unknown) {
        throw failed(error);
      }
    },
    async append(entry) {
      try {
        await client.xadd(key, 'MAXLEN', '~', String(maxEntries), '*', 'e', entry);
      } catch (error: unknown) {
        throw failed(error);
      }
    },
    read: () =>
      new Observable<string>((subscriber) => {
        const reader = client.duplicate();
        readers.add(reader);
        let stopped = false;
        const run = async (): Promise<void> => {
          if (await trimmed(reader)) {
            subscriber.error(new HubError(cluster, 'trimmed'));
            return;
          }
          let last = '0';
          while (!stopped) {
            // BLOCK 0 waits for ever; unsubscribing disconnects the reader, which ends the wait.
            const batch = await reader.xread('COUNT', 1000, 'BLOCK', 0, 'STREAMS', key, last);
            for (const [, messages] of batch ?? []) {
              for (const [id, fields] of messages) {
                last = id;
                if (stopped) return;
                subscriber.next(fields[1] ?? '');
              }
            }
          }
        };
        run().catch((error: unknown) => {
          if (!stopped) subscriber.error(failed(error));
        });
        return () => {
          stopped = true;
          readers.delete(reader);
          reader.disconnect();
        };
      }),
    async history() {
      const entries = await client.xrange(key, '-', '+');
      return entries.map(([, fields]) => fields[1] ?? '');
    },
    async destroy() {
      await client.del(key, nodesKey);
    },
    async close() {
      for (const reader of readers) reader.disconnect();
      readers.clear();
      // QUIT waits for the replies to every command sent before it: pending appends land.
      await client.quit();
    },
  };
}

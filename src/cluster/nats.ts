/**
 * `rxnet/cluster/nats`: a {@link Hub} on a NATS JetStream stream. Needs `@nats-io/transport-node`
 * and `@nats-io/jetstream` (optional peer dependencies of rxnet). Only this entry loads them;
 * `import 'rxnet'` never does.
 *
 * @packageDocumentation
 */
import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Observable } from 'rxjs';
import { HubError } from '../errors';
import { checkClusterName, DEFAULT_CLUSTER, DEFAULT_MAX_LOG_ENTRIES, type Hub } from './hub';

/** Options of {@link natsHub}. */
export interface NatsHubOptions {
  /** Where NATS is: `nats://HOST:PORT`, or several. @defaultValue `'nats://127.0.0.1:4222'` */
  readonly servers?: string | readonly string[];
  /** The cluster's name: streams `rxnet_NAME` and `rxnet_NAME_nodes`. @defaultValue {@link DEFAULT_CLUSTER} */
  readonly cluster?: string;
  /** How many entries the stream keeps (`max_msgs`). @defaultValue {@link DEFAULT_MAX_LOG_ENTRIES} */
  readonly maxEntries?: number;
}

/**
 * A {@link Hub} on NATS JetStream: the log is the stream `rxnet_NAME` (subject `rxnet.NAME.log`),
 * appended with JetStream publishes on one connection (so in call order) and read with an ordered
 * consumer from the first message; node numbers are the sequence numbers of publishes to a second
 * stream, `rxnet_NAME_nodes`, which keeps only its last message. Both streams are created on
 * first use, in file storage.
 *
 * A reader checks once, when it starts, that the log's first sequence is still 1, and otherwise
 * fails with `HubError` (`trimmed`).
 *
 * ## Example
 * ```ts
 * import { serveClustered } from 'rxnet';
 * import { natsHub } from 'rxnet/cluster/nats';
 *
 * const hub = natsHub({ servers: 'nats://10.0.0.5:4222', cluster: 'spread' });
 * serveClustered('tcp:8007', spread, { hub }).subscribe();
 * ```
 *
 * @param options Where NATS is, the cluster's name and the retention.
 * @returns A hub; it connects on first use, `close()` drains and ends the connection.
 * @throws `TypeError` for a bad cluster name.
 */
export function natsHub(options: NatsHubOptions = {}): Hub {
  const { servers = 'nats://127.0.0.1:4222', cluster = DEFAULT_CLUSTER } = options;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_LOG_ENTRIES;
  checkClusterName(cluster);
  const stream = `rxnet_${cluster}`;
  const nodesStream = `rxnet_${cluster}_nodes`;
  const subject = `rxnet.${cluster}.log`;
  const nodesSubject = `rxnet.${cluster}.nodes`;
  const failed = (cause: unknown): HubError => new HubError(cluster, 'failed', { cause });

  interface Ready {
    readonly nc: Awaited<ReturnType<typeof connect>>;
    readonly js: JetStreamClient;
    readonly jsm: JetStreamManager;
  }
  let ready: Promise<Ready> | undefined;
  const setUp = (): Promise<Ready> =>
    (ready ??= (async () => {
      const nc = await connect({ servers: [servers].flat() });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [subject], max_msgs: maxEntries });
      await jsm.streams.add({ name: nodesStream, subjects: [nodesSubject], max_msgs: 1 });
      return { nc, js: jetstream(nc), jsm };
    })());
  const stops = new Set<() => void>();

  return {
    cluster,
    async join() {
      try {
        const { js } = await setUp();
        return (await js.publish(nodesSubject, '')).seq;
      } catch (error: unknown) {
        throw failed(error);
      }
    },
    async append(entry) {
      try {
        // After the first call, `ready` is settled: the publishes go out in call order.
        const { js } = await setUp();
        await js.publish(subject, entry);
      } catch (error: unknown) {
        throw failed(error);
      }
    },
    read: () =>
      new Observable<string>((subscriber) => {
        let stopped = false;
        let stopMessages: (() => void) | undefined;
        const stop = (): void => {
          stopped = true;
          stopMessages?.();
        };
        stops.add(stop);
        const run = async (): Promise<void> => {
          const { js, jsm } = await setUp();
          const info = await jsm.streams.info(stream);
          if (info.state.first_seq > 1) {
            subscriber.error(new HubError(cluster, 'trimmed'));
            return;
          }
          const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
          const messages = await consumer.consume();
          stopMessages = () => void messages.close();
          if (stopped) stopMessages();
          for await (const message of messages) {
            if (stopped) return;
            subscriber.next(message.string());
          }
        };
        run().catch((error: unknown) => {
          if (!stopped) subscriber.error(failed(error));
        });
        return () => {
          stops.delete(stop);
          stop();
        };
      }),
    async history() {
      const { js, jsm } = await setUp();
      const count = (await jsm.streams.info(stream)).state.messages;
      const entries: string[] = [];
      if (count === 0) return entries;
      const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
      const messages = await consumer.fetch({ max_messages: count, expires: 5000 });
      for await (const message of messages) entries.push(message.string());
      return entries;
    },
    async destroy() {
      const { jsm } = await setUp();
      for (const name of [stream, nodesStream]) {
        await jsm.streams.delete(name).catch(() => false);
      }
    },
    async close() {
      for (const stop of stops) stop();
      stops.clear();
      if (ready === undefined) return;
      const { nc } = await ready;
      await nc.drain();
    },
  };
}

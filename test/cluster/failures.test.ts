/**
 * How a clustered node fails: HubError (RXNET_ERR_HUB) when its log was trimmed, when the others
 * declared it lost, or when the hub is unreachable; and a frame the log cannot carry.
 */
import { filter, map, type Observable, type Subscription } from 'rxjs';
import {
  encodeEntry,
  HubError,
  memoryHub,
  serveClustered,
  write,
  type Behaviour,
  type ClusterNotification,
  type Hub,
} from 'rxnet';
import { natsHub } from 'rxnet/cluster/nats';
import { redisHub } from 'rxnet/cluster/redis';
import { RawClient, Resources, within } from '../examples/harness';
import { LOOPBACK } from '../helpers/sockets';
import { hubFactory, NATS_URL, REDIS_URL, uniqueCluster } from './harness';

const greeter: Behaviour<Buffer, string> = (events) =>
  events.pipe(
    filter((event) => event.type === 'connectionMade'),
    map((event) => write(event.id, 'hi\n')),
  );

/** The greeter, over frames the log cannot carry. */
const greetBigints = greeter as unknown as Behaviour<bigint, string>;

/** Resolves with the error the node's stream fails with. */
function failure(node$: Observable<ClusterNotification<unknown>>): Promise<unknown> {
  return within(
    new Promise((resolve) => {
      node$.subscribe({ error: resolve });
    }),
    'the node to fail',
    15_000,
  );
}

describe('serveClustered failures', () => {
  const resources = new Resources();
  afterEach(() => resources.disposeAll());

  it.each([
    ['redis', (cluster: string) => redisHub({ url: REDIS_URL, cluster, maxEntries: 10 })],
    ['nats', (cluster: string) => natsHub({ servers: NATS_URL, cluster, maxEntries: 10 })],
  ] as const)(
    'fails with HubError (trimmed) when %s no longer holds the start of the log',
    async (kind, make) => {
      const cluster = uniqueCluster(kind);
      const hub: Hub = make(cluster);
      try {
        // Redis trims whole macro-nodes (MAXLEN ~): enough entries that one goes.
        for (let index = 0; index < 300; index++) {
          await hub.append(encodeEntry({ type: 'heartbeat', node: 1 }));
        }
        const error = await failure(serveClustered(LOOPBACK, greeter, { hub }));
        expect(error).toBeInstanceOf(HubError);
        expect(error).toMatchObject({ code: 'RXNET_ERR_HUB', reason: 'trimmed', cluster });
      } finally {
        await hub.destroy();
        await hub.close();
      }
    },
    30_000,
  );

  it('fails with HubError (fenced) and closes its clients when the others declared it lost', async () => {
    const hub = memoryHub(uniqueCluster('memory'));
    let failedWith: (error: unknown) => void = () => undefined;
    const failed = new Promise<unknown>((resolve) => (failedWith = resolve));
    const port = await within(
      new Promise<number>((resolve, reject) => {
        serveClustered(LOOPBACK, greeter, { hub }).subscribe({
          next: (notification) => {
            if (notification.type === 'listening' && notification.address._tag === 'TcpAddress')
              resolve(notification.address.port);
          },
          error: (error: unknown) => {
            reject(error);
            failedWith(error);
          },
        });
      }),
      'the node to listen',
    );
    const client = await RawClient.connect(resources, port);
    await client.expectText('hi\n');
    // Node 1 is the only node: say, as node 2, that it is gone.
    await hub.append(encodeEntry({ type: 'nodeLost', node: 1, by: 2, graceful: false }));
    const error = await within(failed, 'the fenced node to fail');
    expect(error).toBeInstanceOf(HubError);
    expect(error).toMatchObject({ code: 'RXNET_ERR_HUB', reason: 'fenced' });
    await within(client.closed, 'its client to be closed');
    await hub.close();
  });

  it('fails with HubError (failed), the client error as cause, when Redis cannot be reached', async () => {
    const hub = redisHub({
      url: 'redis://127.0.0.1:1',
      cluster: uniqueCluster('redis'),
      redis: { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true },
    });
    const error = await failure(serveClustered(LOOPBACK, greeter, { hub }));
    expect(error).toBeInstanceOf(HubError);
    expect(error).toMatchObject({ code: 'RXNET_ERR_HUB', reason: 'failed' });
    expect((error as HubError).cause).toBeDefined();
    await hub.close().catch(() => undefined);
  });

  it("emits a refused peer as this node's notification, never through the log", async () => {
    const hubs = hubFactory('memory');
    const hub = hubs.make();
    let sawRefusal: () => void = () => undefined;
    const refusal = new Promise<void>((resolve) => (sawRefusal = resolve));
    let subscription: Subscription | undefined;
    const port = await within(
      new Promise<number>((resolve) => {
        subscription = serveClustered(LOOPBACK, greeter, {
          hub,
          maxConnections: 1,
          whenFull: 'refuse',
        }).subscribe((notification) => {
          if (notification.type === 'connectionRefused') sawRefusal();
          if (notification.type === 'listening' && notification.address._tag === 'TcpAddress')
            resolve(notification.address.port);
        });
      }),
      'the node to listen',
    );
    resources.add({ dispose: async () => subscription?.unsubscribe() });
    const admitted = await RawClient.connect(resources, port);
    await admitted.expectText('hi\n');
    const refused = await RawClient.connect(resources, port);
    await within(refused.closed, 'the refused peer to be closed');
    await within(refusal, 'a connectionRefused notification');
    const history = await hub.history();
    expect(history.some((entry) => entry.includes('connectionRefused'))).toBe(false);
    expect(history.filter((entry) => entry.includes('connectionMade'))).toHaveLength(1);
    subscription?.unsubscribe();
    await hubs.destroy();
  });

  it('aborts a connection whose frame has no JSON form, and logs nothing of it', async () => {
    const hubs = hubFactory('memory');
    const hub = hubs.make();
    let subscription: Subscription | undefined;
    const port = await within(
      new Promise<number>((resolve) => {
        subscription = serveClustered<bigint, string>(LOOPBACK, greetBigints, {
          hub,
          decode: map(() => BigInt(1)),
        }).subscribe((notification) => {
          if (notification.type === 'listening' && notification.address._tag === 'TcpAddress')
            resolve(notification.address.port);
        });
      }),
      'the node to listen',
    );
    resources.add({ dispose: async () => subscription?.unsubscribe() });
    const client = await RawClient.connect(resources, port);
    await client.expectText('hi\n');
    await client.write('anything');
    await within(client.closed, 'the connection to be aborted');
    const history = await hub.history();
    expect(history.some((entry) => entry.includes('"type":"data"'))).toBe(false);
    subscription?.unsubscribe();
    await hubs.destroy();
  });
});

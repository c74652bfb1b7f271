/**
 * Test-only plumbing for clustered servers: the three hubs under unique cluster names, Spread
 * nodes served in this process, and clients that read greetings and relayed lines.
 */
import { memoryHub, serveClustered, type Hub } from 'rxnet';
import { natsHub } from 'rxnet/cluster/nats';
import { redisHub } from 'rxnet/cluster/redis';
import { spreadBehaviour, spreadDecoder } from '../../examples/spread-server';
import { RawClient, within, type Resources } from '../examples/harness';
import { LOOPBACK } from '../helpers/sockets';

export type HubKind = 'memory' | 'redis' | 'nats';

export const REDIS_URL = 'redis://127.0.0.1:6379';
export const NATS_URL = 'nats://127.0.0.1:4222';

/** Heartbeats and the loss bound the tests run with: short, so a crash is seen within seconds. */
export const TEST_HEARTBEAT_INTERVAL = 100;
export const TEST_NODE_TIMEOUT = 1500;

let clusters = 0;

/** A cluster name no other run, test or hub kind uses. */
export function uniqueCluster(kind: HubKind): string {
  return `t${process.pid}_${Date.now().toString(36)}_${kind}_${++clusters}`;
}

/**
 * Makes the hubs of one cluster: one shared object for `memory` (one process), a new connection
 * per node for Redis and NATS (as separate machines would have). `destroy()` deletes the cluster's
 * keys or streams and closes every hub it made.
 */
export function hubFactory(kind: HubKind, cluster = uniqueCluster(kind)) {
  const made: Hub[] = [];
  const shared = kind === 'memory' ? memoryHub(cluster) : undefined;
  const make = (): Hub => {
    if (shared !== undefined) return shared;
    const hub =
      kind === 'redis'
        ? redisHub({ url: REDIS_URL, cluster })
        : natsHub({ servers: NATS_URL, cluster });
    made.push(hub);
    return hub;
  };
  return {
    cluster,
    make,
    async destroy(): Promise<void> {
      // Closing first flushes the nodes' last appends (a stopped node's goodbye), which would
      // otherwise land after the delete and leave a stray log behind.
      for (const hub of made.splice(0)) await hub.close().catch(() => undefined);
      const cleaner = make();
      await cleaner.destroy();
      await cleaner.close();
      made.length = 0;
    },
  };
}

/** A Spread node served in this process, and the lines its behaviour logged. */
export interface SpreadNode {
  readonly port: number;
  readonly node: number;
  readonly log: string[];
  waitForLog(pattern: RegExp, count?: number): Promise<string[]>;
  stop(): void;
}

/** Serves the Spread example's behaviour (lines) as one node of the hub's cluster. */
export function startSpreadNode(
  resources: Resources,
  hub: Hub,
  nodeTimeout = TEST_NODE_TIMEOUT,
): Promise<SpreadNode> {
  const log: string[] = [];
  const waiters = new Set<() => void>();
  const behaviour = spreadBehaviour({
    framing: 'lines',
    log: (line) => {
      log.push(line);
      for (const waiter of [...waiters]) waiter();
    },
  });
  const decode = spreadDecoder('lines');
  return within(
    new Promise<SpreadNode>((resolve, reject) => {
      let node = 0;
      const subscription = serveClustered(LOOPBACK, behaviour, {
        hub,
        ...(decode === undefined ? {} : { decode }),
        halfOpenTimeout: 0,
        heartbeatInterval: TEST_HEARTBEAT_INTERVAL,
        nodeTimeout,
      }).subscribe({
        next(notification) {
          if (notification.type === 'joined') node = notification.node;
          if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
            const port = notification.address.port;
            const self: SpreadNode = {
              port,
              node,
              log,
              waitForLog: (pattern, count = 1) =>
                within(
                  new Promise<string[]>((done) => {
                    const check = (): void => {
                      const found = log.filter((line) => pattern.test(line));
                      if (found.length >= count) {
                        waiters.delete(check);
                        done(found);
                      }
                    };
                    waiters.add(check);
                    check();
                  }),
                  `${count} log lines matching ${pattern} on node ${node}`,
                ),
              stop: () => subscription.unsubscribe(),
            };
            resources.add({ dispose: async () => self.stop() });
            resolve(self);
          }
        },
        error: reject,
      });
    }),
    'a clustered node listening',
  );
}

/** The number in a Spread greeting, `你是第N个客户端用户`. */
export function greetingNumber(text: string): number {
  const match = /第(\d+)个/.exec(text);
  if (match === null) throw new Error(`no greeting in ${JSON.stringify(text)}`);
  return Number(match[1]);
}

/** A Spread client: connects, waits for its greeting, and reads the lines relayed to it. */
export class SpreadClient {
  private constructor(
    readonly raw: RawClient,
    readonly number: number,
  ) {}

  static connect(resources: Resources, port: number): Promise<SpreadClient> {
    return SpreadClient.connectTo(resources, '127.0.0.1', port);
  }

  static async connectTo(resources: Resources, host: string, port: number): Promise<SpreadClient> {
    const raw = await RawClient.connect(resources, port, host);
    const text = await raw.waitForText((received) => received.includes('\n'), 'a greeting');
    return new SpreadClient(raw, greetingNumber(text));
  }

  /** The lines received after the greeting. */
  get lines(): string[] {
    const lines = this.raw.text.split('\n');
    lines.pop();
    return lines.slice(1);
  }

  async waitForLines(count: number): Promise<string[]> {
    await this.raw.waitForText(
      (text) => text.split('\n').length - 2 >= count,
      `${count} relayed lines (client ${this.number})`,
    );
    return this.lines;
  }

  send(line: string): void {
    this.raw.socket.write(`${line}\n`);
  }
}

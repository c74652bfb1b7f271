/**
 * `npm run bench:cluster`: what a hub costs a clustered Spread server, beside the engine's own
 * limit on this machine.
 *
 * - Broadcast latency (p50, p99): a sender writes a line, waits until a receiver has it, and
 *   writes the next; through plain `serve` (no hub) and through each hub on 2 nodes, the receiver
 *   on the other node.
 * - Fan-out: one sender writes lines as fast as it can to RECEIVERS clients, spread over 1 and 2
 *   nodes; deliveries per second = lines × receivers / time until every receiver has every line.
 * - The engine's own limit for the same message size: `redis-benchmark` running `XADD` (pipelined)
 *   and a JetStream client loop of publishes, as appends per second.
 *
 * Not part of `npm test`. Flags: `--quick` (fewer lines), `--only=memory,redis,nats`.
 *
 * @packageDocumentation
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Subscription } from 'rxjs';
import {
  broadcast,
  countConnections,
  encodeEntry,
  greet,
  lines,
  memoryHub,
  serve,
  serveClustered,
  type Behaviour,
  type Hub,
} from 'rxnet';
import { natsHub } from 'rxnet/cluster/nats';
import { redisHub } from 'rxnet/cluster/redis';

const quick = process.argv.includes('--quick');
const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);
const KINDS = (only?.split(',') ?? ['memory', 'redis', 'nats']) as readonly HubKind[];
const LATENCY_ROUNDS = quick ? 200 : 2000;
const FANOUT_LINES = quick ? 500 : 5000;
const RECEIVERS = 20;
/** A Spread line and its log entry are about this long. */
const MESSAGE = 'x'.repeat(64);

type HubKind = 'memory' | 'redis' | 'nats';

const spread: Behaviour<string, string> = (events) =>
  events.pipe(
    countConnections(),
    greet(({ count }) => `${count}`),
    broadcast(),
  );
const framing = lines({ delimiter: '\n', encoding: 'utf8' });

function makeHubs(kind: HubKind, cluster: string): () => Hub {
  if (kind === 'memory') {
    const hub = memoryHub(cluster);
    return () => hub;
  }
  return () =>
    kind === 'redis'
      ? redisHub({ cluster })
      : natsHub({ cluster, servers: 'nats://127.0.0.1:4222' });
}

/** Starts `count` nodes (0: plain serve) and resolves with their ports and a stop function. */
async function startNodes(
  kind: HubKind | 'none',
  count: number,
): Promise<{ ports: number[]; stop: () => Promise<void> }> {
  const subscriptions: Subscription[] = [];
  const hubs: Hub[] = [];
  const ports: number[] = [];
  const make = kind === 'none' ? undefined : makeHubs(kind, `bench_${process.pid}_${Date.now()}`);
  for (let index = 0; index < count; index++) {
    const hub = make?.();
    if (hub !== undefined && !hubs.includes(hub)) hubs.push(hub);
    const server$ =
      hub === undefined
        ? serve('tcp:0:interface=127.0.0.1', spread, { framing })
        : serveClustered('tcp:0:interface=127.0.0.1', spread, { framing, hub });
    const listening = new Promise<number>((resolve, reject) => {
      subscriptions.push(
        server$.subscribe({
          next: (n) => {
            if (n.type === 'listening' && n.address._tag === 'TcpAddress') resolve(n.address.port);
          },
          error: reject,
        }),
      );
    });
    ports.push(await listening);
  }
  return {
    ports,
    async stop() {
      for (const subscription of subscriptions) subscription.unsubscribe();
      for (const hub of hubs) {
        await hub.close();
        const cleaner = make?.();
        if (cleaner !== undefined && cleaner !== hub) {
          await cleaner.destroy();
          await cleaner.close();
        } else if (cleaner !== undefined) {
          await cleaner.destroy();
        }
      }
    },
  };
}

/** A client that counts the lines it receives after its greeting. */
class Client {
  received = 0;
  private buffered = '';
  private greeted = false;
  private waiter: (() => void) | undefined;
  private target = 0;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (text: string) => {
      const parts = (this.buffered + text).split('\n');
      this.buffered = parts.pop() ?? '';
      for (let index = 0; index < parts.length; index++) {
        if (!this.greeted) this.greeted = true;
        else this.received++;
      }
      if (this.waiter !== undefined && this.received >= this.target) {
        const waiter = this.waiter;
        this.waiter = undefined;
        waiter();
      }
    });
  }

  static async connect(port: number): Promise<Client> {
    const socket = netConnect({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    const client = new Client(socket);
    await client.until(0);
    return client;
  }

  /** Resolves once `count` lines have arrived after the greeting (and the greeting itself). */
  until(count: number): Promise<void> {
    if (this.greeted && this.received >= count) return Promise.resolve();
    this.target = count;
    return new Promise((resolve) => {
      this.waiter = () => {
        if (this.greeted) resolve();
        else void this.until(count).then(resolve);
      };
    });
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function latency(kind: HubKind | 'none'): Promise<{ p50: number; p99: number }> {
  const nodes = await startNodes(kind, kind === 'none' ? 1 : 2);
  try {
    const sender = await Client.connect(nodes.ports[0]!);
    const receiver = await Client.connect(nodes.ports[nodes.ports.length - 1]!);
    const times: number[] = [];
    for (let round = 1; round <= LATENCY_ROUNDS; round++) {
      const start = performance.now();
      sender.socket.write(`${MESSAGE}\n`);
      await receiver.until(round);
      times.push(performance.now() - start);
    }
    sender.socket.destroy();
    receiver.socket.destroy();
    times.sort((a, b) => a - b);
    return { p50: percentile(times, 50), p99: percentile(times, 99) };
  } finally {
    await nodes.stop();
  }
}

async function fanOut(kind: HubKind | 'none', count: number): Promise<number> {
  const nodes = await startNodes(kind, count);
  try {
    const receivers: Client[] = [];
    for (let index = 0; index < RECEIVERS; index++) {
      receivers.push(await Client.connect(nodes.ports[index % nodes.ports.length]!));
    }
    const sender = await Client.connect(nodes.ports[0]!);
    const start = performance.now();
    const chunk = `${MESSAGE}\n`.repeat(100);
    for (let sent = 0; sent < FANOUT_LINES; sent += 100) {
      if (!sender.socket.write(chunk)) await once(sender.socket, 'drain');
    }
    await Promise.all(receivers.map((receiver) => receiver.until(FANOUT_LINES)));
    const seconds = (performance.now() - start) / 1000;
    for (const client of [...receivers, sender]) client.socket.destroy();
    return (FANOUT_LINES * RECEIVERS) / seconds;
  } finally {
    await nodes.stop();
  }
}

/** The engine's appends per second with the same entry size. */
async function engineLimit(kind: HubKind): Promise<string> {
  const entry = encodeEntry({
    type: 'event',
    node: 1,
    event: { type: 'data', id: 2 ** 32 + 1, data: MESSAGE },
  });
  if (kind === 'memory') return 'n/a (in process)';
  if (kind === 'redis') {
    const key = `bench_${process.pid}_xadd`;
    try {
      const out = execFileSync(
        'redis-benchmark',
        [
          '-n',
          quick ? '20000' : '200000',
          '-P',
          '16',
          '-q',
          'XADD',
          key,
          'MAXLEN',
          '~',
          '100000',
          '*',
          'e',
          entry,
        ],
        { encoding: 'utf8' },
      );
      execFileSync('redis-cli', ['DEL', key]);
      const match = /([\d.]+) requests per second/.exec(out);
      return match === null
        ? out.trim()
        : `${Math.round(Number(match[1]))} XADD/s (redis-benchmark -P 16)`;
    } catch (error: unknown) {
      return `not run: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
    }
  }
  // JetStream: one client publishing with up to 256 acks outstanding.
  const hub = natsHub({ cluster: `bench_${process.pid}_pub`, servers: 'nats://127.0.0.1:4222' });
  try {
    const total = quick ? 5000 : 50000;
    await hub.append(entry);
    const start = performance.now();
    let pending: Promise<void>[] = [];
    for (let index = 0; index < total; index++) {
      pending.push(hub.append(entry));
      if (pending.length >= 256) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    const perSecond = total / ((performance.now() - start) / 1000);
    return `${Math.round(perSecond)} publishes/s (JetStream client loop, 256 in flight)`;
  } finally {
    await hub.destroy();
    await hub.close();
  }
}

async function main(): Promise<void> {
  const rows: string[] = [];
  process.stderr.write('plain latency…\n');
  const plain = await latency('none');
  process.stderr.write('plain fan-out…\n');
  const plainOne = await fanOut('none', 1);
  rows.push(
    `| none (serve) | ${plain.p50.toFixed(3)} | ${plain.p99.toFixed(3)} | – | ${Math.round(plainOne)} | – | – |`,
  );
  for (const kind of KINDS) {
    process.stderr.write(`${kind}…\n`);
    const added = await latency(kind);
    const one = await fanOut(kind, 1);
    const two = await fanOut(kind, 2);
    const limit = await engineLimit(kind);
    rows.push(
      `| ${kind} | ${added.p50.toFixed(3)} | ${added.p99.toFixed(3)} | +${(added.p50 - plain.p50).toFixed(3)} / +${(added.p99 - plain.p99).toFixed(3)} | ${Math.round(one)} | ${Math.round(two)} | ${limit} |`,
    );
  }
  console.log(
    [
      `Clustered Spread, ${MESSAGE.length}-byte lines, ${RECEIVERS} receivers, ${LATENCY_ROUNDS} latency rounds, ${FANOUT_LINES} fan-out lines`,
      '',
      '| hub | broadcast p50 ms | p99 ms | added by the hub (p50 / p99) | fan-out deliveries/s, 1 node | 2 nodes | engine limit |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
    ].join('\n'),
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);

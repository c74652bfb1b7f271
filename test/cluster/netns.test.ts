/**
 * The Spread example clustered as separate machines: each node in a network namespace of its own,
 * Redis and NATS in another, reached over veth links (the traffic never leaves this machine). The
 * test reaches each node over one more veth link from the root namespace.
 *
 * Needs root and `ip netns` (CI runs as root); skipped, saying why, where namespaces cannot be made.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_NODE_TIMEOUT } from 'rxnet';
import { Child, Resources, within } from '../examples/harness';
import { SpreadClient, uniqueCluster } from './harness';

const START_TIMEOUT_MS = 120_000;
/** As in processes.test.ts: the bound, plus two seconds for the round trip and scheduling. */
const LOSS_BOUND_MS = DEFAULT_NODE_TIMEOUT + DEFAULT_HEARTBEAT_INTERVAL + 2000;
const TS_NODE_BIN = require.resolve('ts-node/dist/bin.js');

/** A short tag for this run: namespace and interface names (at most 15 characters) carry it. */
const tag = `x${(process.pid % 10000).toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
/** Second octet of this run's subnets, so two runs on one machine would rarely collide. */
const octet = 100 + (process.pid % 100);

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

/** Why namespaces cannot be made here, or undefined when they can. */
function whyNoNamespaces(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    ip('netns', 'add', `${tag}probe`);
    ip('netns', 'del', `${tag}probe`);
    return undefined;
  } catch (error: unknown) {
    return `ip netns add failed: ${error instanceof Error ? error.message : String(error)}`;
  }
}

const unavailable = whyNoNamespaces();
if (unavailable !== undefined) {
  console.warn(
    `test/cluster/netns.test.ts skipped: network namespaces cannot be made (${unavailable})`,
  );
}
const describeWithNamespaces = unavailable === undefined ? describe : describe.skip;

/**
 * The topology: namespace `hub` holds Redis and NATS; namespace `nN` holds node N, linked to the
 * hub (10.O.N.0/24, the hub at .1) and to the root namespace (10.O.(100+N).0/24, the node at .2).
 */
class Topology {
  readonly hub = `${tag}hub`;
  readonly namespaces: string[] = [];

  constructor(readonly nodes: number) {}

  create(): void {
    ip('netns', 'add', this.hub);
    this.namespaces.push(this.hub);
    ip('-n', this.hub, 'link', 'set', 'lo', 'up');
    for (let n = 1; n <= this.nodes; n++) {
      const ns = this.node(n);
      ip('netns', 'add', ns);
      this.namespaces.push(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      // node <-> hub
      ip(
        'link',
        'add',
        `${tag}h${n}`,
        'netns',
        this.hub,
        'type',
        'veth',
        'peer',
        'name',
        `${tag}u${n}`,
        'netns',
        ns,
      );
      ip('-n', this.hub, 'addr', 'add', `10.${octet}.${n}.1/24`, 'dev', `${tag}h${n}`);
      ip('-n', ns, 'addr', 'add', `10.${octet}.${n}.2/24`, 'dev', `${tag}u${n}`);
      ip('-n', this.hub, 'link', 'set', `${tag}h${n}`, 'up');
      ip('-n', ns, 'link', 'set', `${tag}u${n}`, 'up');
      // root (the test's clients) <-> node
      ip('link', 'add', `${tag}r${n}`, 'type', 'veth', 'peer', 'name', `${tag}c${n}`, 'netns', ns);
      ip('addr', 'add', `10.${octet}.${100 + n}.1/24`, 'dev', `${tag}r${n}`);
      ip('-n', ns, 'addr', 'add', `10.${octet}.${100 + n}.2/24`, 'dev', `${tag}c${n}`);
      ip('link', 'set', `${tag}r${n}`, 'up');
      ip('-n', ns, 'link', 'set', `${tag}c${n}`, 'up');
    }
  }

  node(n: number): string {
    return `${tag}n${n}`;
  }

  /** Where node N reaches the hub's namespace. */
  hubAddress(n: number): string {
    return `10.${octet}.${n}.1`;
  }

  /** Where the test reaches node N. */
  nodeAddress(n: number): string {
    return `10.${octet}.${100 + n}.2`;
  }

  destroy(): void {
    // Deleting a namespace deletes the veth ends in it, and so their peers.
    for (const ns of this.namespaces.splice(0).reverse()) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // Already gone.
      }
    }
  }
}

jest.setTimeout(420_000);

describeWithNamespaces('spread-server on three network namespaces, as separate machines', () => {
  const resources = new Resources();
  const topology = new Topology(3);
  let natsStore: string;

  beforeAll(() => {
    topology.create();
    natsStore = mkdtempSync(join(tmpdir(), 'rxnet-netns-nats-'));
  });

  afterAll(() => {
    topology.destroy();
    rmSync(natsStore, { recursive: true, force: true });
  });

  afterEach(() => resources.disposeAll());

  /** Runs `command` inside namespace `ns`; `ip netns exec` execs it, so the pid is its own. */
  function inNamespace(ns: string, command: string, args: readonly string[]): Child {
    return resources.add(new Child('ip', ['netns', 'exec', ns, command, ...args]));
  }

  async function startHub(kind: 'redis' | 'nats'): Promise<void> {
    if (kind === 'redis') {
      const redis = inNamespace(topology.hub, 'redis-server', [
        '--port',
        '6379',
        '--bind',
        '0.0.0.0',
        '--protected-mode',
        'no',
        '--save',
        '',
        '--appendonly',
        'no',
      ]);
      await redis.waitForLine(/Ready to accept connections/, 30_000);
    } else {
      const nats = inNamespace(topology.hub, 'nats-server', [
        '-a',
        '0.0.0.0',
        '-p',
        '4222',
        '-js',
        '-sd',
        join(natsStore, String(Date.now())),
      ]);
      // nats-server logs on stderr, which Child collects but cannot await.
      await within(
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (!/Server is ready/.test(nats.stderr)) return;
            nats.process.stderr!.off('data', check);
            resolve();
          };
          nats.process.stderr!.on('data', check);
          check();
        }),
        'nats-server to be ready',
        30_000,
      );
    }
  }

  it.each(['redis', 'nats'] as const)(
    'numbers, relays and loses a SIGKILLed node over veth links through %s',
    async (kind) => {
      await startHub(kind);
      const cluster = uniqueCluster(kind);
      const nodes = [1, 2, 3].map((n) => {
        const url = `${kind}://${topology.hubAddress(n)}:${kind === 'redis' ? 6379 : 4222}`;
        const child = inNamespace(topology.node(n), process.execPath, [
          TS_NODE_BIN,
          'examples/spread-server.ts',
          'tcp:0',
          '--framing',
          'lines',
          '--hub',
          url,
          '--cluster',
          cluster,
        ]);
        return { n, child };
      });
      const ports = await Promise.all(
        nodes.map(async ({ child }) => {
          const match = await child.waitForLine(/^listening on [^:]+:(\d+)$/, START_TIMEOUT_MS);
          return Number(match[1]);
        }),
      );
      const connect = (index: number): Promise<SpreadClient> =>
        SpreadClient.connectTo(resources, topology.nodeAddress(index + 1), ports[index]!);

      const first = await connect(0);
      const second = await connect(1);
      const third = await connect(2);
      const fourth = await connect(2);
      expect([first, second, third, fourth].map((client) => client.number)).toEqual([1, 2, 3, 4]);
      first.send('across machines');
      for (const client of [second, third, fourth]) {
        expect(await client.waitForLines(1)).toEqual(['across machines']);
      }

      const killedAt = Date.now();
      await nodes[2]!.child.kill('SIGKILL');
      await Promise.all(
        nodes
          .slice(0, 2)
          .map(({ child }) => child.waitForLines(/^lost connect: [23]$/, 2, LOSS_BOUND_MS + 5000)),
      );
      expect(Date.now() - killedAt).toBeLessThanOrEqual(LOSS_BOUND_MS);
      expect((await connect(1)).number).toBe(3);
    },
  );
});

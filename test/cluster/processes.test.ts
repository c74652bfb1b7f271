/**
 * The Spread example as separate processes, clustered through Redis and through NATS: a node
 * killed with SIGKILL says nothing, and the others must notice by its silence.
 */
import { DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_NODE_TIMEOUT } from 'rxnet';
import { Resources, spawnExample, type Child } from '../examples/harness';
import { hubFactory, NATS_URL, REDIS_URL, SpreadClient } from './harness';

/** ts-node compiles each program as it starts; on a loaded machine that takes a while. */
const START_TIMEOUT_MS = 120_000;
/**
 * The promise of serveClustered: a node's connections are lost everywhere within nodeTimeout +
 * heartbeatInterval of its last entry; this allows two more seconds for the hub's round trip and
 * the processes' scheduling on a loaded machine.
 */
const LOSS_BOUND_MS = DEFAULT_NODE_TIMEOUT + DEFAULT_HEARTBEAT_INTERVAL + 2000;

jest.setTimeout(480_000);

describe.each([
  ['redis', REDIS_URL],
  ['nats', NATS_URL],
] as const)('spread-server --hub %s, as three processes', (kind, url) => {
  const resources = new Resources();
  let hubs: ReturnType<typeof hubFactory>;

  beforeEach(() => {
    hubs = hubFactory(kind);
  });

  afterEach(async () => {
    await resources.disposeAll();
    await hubs.destroy();
  });

  async function startNodes(count: number): Promise<{ child: Child; port: number }[]> {
    const children = Array.from({ length: count }, () =>
      spawnExample(resources, 'spread-server', [
        'tcp:0:interface=127.0.0.1',
        '--framing',
        'lines',
        '--hub',
        url,
        '--cluster',
        hubs.cluster,
      ]),
    );
    return Promise.all(
      children.map(async (child) => {
        const match = await child.waitForLine(
          /^listening on 127\.0\.0\.1:(\d+)$/,
          START_TIMEOUT_MS,
        );
        return { child, port: Number(match[1]) };
      }),
    );
  }

  it("shows a SIGKILLed node's clients as lost on the others within the bound, and keeps numbering right", async () => {
    const [a, b, c] = (await startNodes(3)) as [
      { child: Child; port: number },
      { child: Child; port: number },
      { child: Child; port: number },
    ];
    const first = await SpreadClient.connect(resources, a.port);
    const second = await SpreadClient.connect(resources, b.port);
    const third = await SpreadClient.connect(resources, c.port);
    const fourth = await SpreadClient.connect(resources, c.port);
    expect([first, second, third, fourth].map((client) => client.number)).toEqual([1, 2, 3, 4]);

    const killedAt = Date.now();
    await c.child.kill('SIGKILL');
    await Promise.all(
      [a, b].map((node) =>
        node.child.waitForLines(/^lost connect: [23]$/, 2, LOSS_BOUND_MS + 5000),
      ),
    );
    const elapsed = Date.now() - killedAt;
    expect(elapsed).toBeLessThanOrEqual(LOSS_BOUND_MS);
    for (const node of [a, b]) {
      expect(node.child.lines.filter((line) => line.startsWith('lost connect'))).toEqual([
        'lost connect: 3',
        'lost connect: 2',
      ]);
    }

    // Two clients are left, so the next one anywhere is the third.
    const fifth = await SpreadClient.connect(resources, b.port);
    expect(fifth.number).toBe(3);
    first.send('after the crash');
    expect(await second.waitForLines(1)).toEqual(['after the crash']);
    expect(await fifth.waitForLines(1)).toEqual(['after the crash']);
  });
});

describe('spread-server --workers', () => {
  const resources = new Resources();
  let hubs: ReturnType<typeof hubFactory>;

  beforeEach(() => {
    hubs = hubFactory('redis');
  });

  afterEach(async () => {
    await resources.disposeAll();
    await hubs.destroy();
  });

  it('runs N nodes sharing one listening socket, numbering and relaying as one server', async () => {
    const primary = spawnExample(resources, 'spread-server', [
      'tcp:0:interface=127.0.0.1',
      '--framing',
      'lines',
      '--hub',
      REDIS_URL,
      '--cluster',
      hubs.cluster,
      '--workers',
      '2',
    ]);
    // Three programs compile under ts-node one after the other: allow for each.
    await primary.waitForLine(/^2 workers listening$/, 3 * START_TIMEOUT_MS);
    const ports = new Set(
      (await primary.waitForLines(/^listening on /, 2)).map((line) => line.split(':').pop()),
    );
    expect(ports.size).toBe(1);
    expect(await primary.waitForLines(/^joined cluster /, 2)).toEqual(
      expect.arrayContaining([
        `joined cluster ${hubs.cluster} as node 1`,
        `joined cluster ${hubs.cluster} as node 2`,
      ]),
    );
    const port = Number([...ports][0]);
    const clients: SpreadClient[] = [];
    for (let index = 0; index < 4; index++) {
      clients.push(await SpreadClient.connect(resources, port));
    }
    expect(clients.map((client) => client.number)).toEqual([1, 2, 3, 4]);
    clients[0]!.send('to everyone');
    for (const client of clients.slice(1)) {
      expect(await client.waitForLines(1)).toEqual(['to everyone']);
    }
    // SIGTERM stops the workers with the primary.
    expect((await primary.kill('SIGTERM')).code).toBe(0);
  });
});

/**
 * The Spread server on three nodes behaves as one, through each hub: real sockets on loopback, a
 * real Redis and a real NATS JetStream, a cluster name of its own per test, deleted afterwards.
 */
import { checkDeterminism } from 'rxnet';
import { spreadBehaviour } from '../../examples/spread-server';
import { Resources, within } from '../examples/harness';
import {
  hubFactory,
  SpreadClient,
  startSpreadNode,
  type HubKind,
  type SpreadNode,
} from './harness';

jest.setTimeout(90_000);

describe.each<HubKind>(['memory', 'redis', 'nats'])('serveClustered with the %s hub', (kind) => {
  const resources = new Resources();
  let hubs: ReturnType<typeof hubFactory>;
  let nodes: SpreadNode[];

  beforeEach(async () => {
    hubs = hubFactory(kind);
    nodes = [];
    for (let index = 0; index < 3; index++) {
      nodes.push(await startSpreadNode(resources, hubs.make()));
    }
  });

  afterEach(async () => {
    await resources.disposeAll();
    await hubs.destroy();
  });

  it('tells the Nth client anywhere that it is the Nth', async () => {
    const numbers: number[] = [];
    for (let index = 0; index < 6; index++) {
      const client = await SpreadClient.connect(resources, nodes[index % 3]!.port);
      numbers.push(client.number);
    }
    expect(numbers).toEqual([1, 2, 3, 4, 5, 6]);
    // At once on every node: still unique, and dense.
    const together = await Promise.all(
      [0, 1, 2, 0, 1, 2].map((index) => SpreadClient.connect(resources, nodes[index]!.port)),
    );
    expect(together.map((client) => client.number).sort((a, b) => a - b)).toEqual([
      7, 8, 9, 10, 11, 12,
    ]);
  });

  it('relays each line to every other client on every node once, in one order, never to its sender', async () => {
    const clients: SpreadClient[] = [];
    for (let index = 0; index < 6; index++) {
      clients.push(await SpreadClient.connect(resources, nodes[index % 3]!.port));
    }
    const [a, b] = [clients[0]!, clients[4]!]; // on node 1 and node 2
    for (let index = 1; index <= 5; index++) {
      a.send(`a${index}`);
      b.send(`b${index}`);
    }
    const received = await Promise.all(
      clients.map((client) => client.waitForLines(client === a || client === b ? 5 : 10)),
    );
    const order = received[1]!;
    expect([...order].sort()).toEqual(['a1', 'a2', 'a3', 'a4', 'a5', 'b1', 'b2', 'b3', 'b4', 'b5']);
    for (const [index, client] of clients.entries()) {
      const own = client === a ? /^a/ : client === b ? /^b/ : /^$/;
      expect(received[index]).toEqual(order.filter((line) => !own.test(line)));
    }
    // Nothing more arrives: exactly once.
    for (const client of clients) await client.raw.write('');
    const counts = clients.map((client) => client.lines.length);
    expect(counts).toEqual([5, 10, 10, 10, 5, 10]);
  });

  it('closes only the client that sends close, and everybody sees it go', async () => {
    const clients: SpreadClient[] = [];
    for (let index = 0; index < 3; index++) {
      clients.push(await SpreadClient.connect(resources, nodes[index]!.port));
    }
    const [first, second, third] = clients as [SpreadClient, SpreadClient, SpreadClient];
    second.send('close');
    await within(second.raw.closed, 'the closing client to be closed');
    for (const node of nodes) await node.waitForLog(/^lost connect: 2$/);
    first.send('still here');
    expect(await third.waitForLines(1)).toEqual(['still here']);
    expect(first.raw.isClosed).toBe(false);
    expect(third.raw.isClosed).toBe(false);
    expect(second.lines).toEqual([]);
  });

  it('shows the clients of a node that stops as lost at once, and numbers on', async () => {
    // Survivors whose failure detector would wait a minute: only the node's goodbye can do it.
    const patient = [
      await startSpreadNode(resources, hubs.make(), 60_000),
      await startSpreadNode(resources, hubs.make(), 60_000),
    ];
    const leaving = nodes[0]!;
    const stays = await SpreadClient.connect(resources, patient[0]!.port);
    const goes = await SpreadClient.connect(resources, leaving.port);
    leaving.stop();
    for (const node of patient) await node.waitForLog(/^lost connect: 1$/);
    await within(goes.raw.closed, "the stopped node's client to be closed");
    expect((await SpreadClient.connect(resources, patient[1]!.port)).number).toBe(2);
    expect(stays.raw.isClosed).toBe(false);
  });

  it('catches a late node up: its clients get the next numbers and the same relays', async () => {
    const early = [];
    for (let index = 0; index < 3; index++) {
      early.push(await SpreadClient.connect(resources, nodes[index]!.port));
    }
    early[0]!.send('before');
    await early[1]!.waitForLines(1);
    const late = await startSpreadNode(resources, hubs.make());
    // The late node replayed the log: it counted the three clients it never held.
    await late.waitForLog(/^new connect: 3$/);
    const newcomer = await SpreadClient.connect(resources, late.port);
    expect(newcomer.number).toBe(4);
    newcomer.send('hello from the late node');
    expect(await early[2]!.waitForLines(2)).toEqual(['before', 'hello from the late node']);
    early[1]!.send('welcome');
    expect(await newcomer.waitForLines(1)).toEqual(['welcome']);
  });

  it('records a log that gives the same commands on every run (checkDeterminism)', async () => {
    const clients = [];
    for (let index = 0; index < 3; index++) {
      clients.push(await SpreadClient.connect(resources, nodes[index]!.port));
    }
    clients[0]!.send('one');
    // The two lines enter the log through different nodes: `close` is sent once `one` is in it,
    // or the hub may order it first and the relay would come after the close.
    await clients[2]!.waitForLines(1);
    clients[2]!.send('close');
    await within(clients[2]!.raw.closed, 'the closing client to be closed');
    await clients[1]!.waitForLines(1);
    const history = await hubs.make().history();
    const quiet = spreadBehaviour({ framing: 'lines', log: () => undefined });
    const report = checkDeterminism(quiet, history);
    expect(report.deterministic).toBe(true);
    // Three greetings, the relay of `one`, the close.
    expect(report.commands.map((command) => command.type)).toEqual([
      'write',
      'write',
      'write',
      'write',
      'close',
    ]);
  });
});

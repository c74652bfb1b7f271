/**
 * Cluster names keep clusters on one Redis or one NATS apart, and a destroyed cluster's name
 * starts again from nothing.
 */
import { Resources } from '../examples/harness';
import { hubFactory, SpreadClient, startSpreadNode, type HubKind } from './harness';

jest.setTimeout(60_000);

describe.each<HubKind>(['redis', 'nats'])('cluster names on one %s', (kind) => {
  const resources = new Resources();
  const factories: ReturnType<typeof hubFactory>[] = [];

  afterEach(async () => {
    await resources.disposeAll();
    for (const factory of factories.splice(0)) await factory.destroy();
  });

  function cluster(name?: string): ReturnType<typeof hubFactory> {
    const factory = hubFactory(kind, name);
    factories.push(factory);
    return factory;
  }

  it('keeps two clusters apart: each counts and relays only its own clients', async () => {
    const [one, two] = [cluster(), cluster()];
    const [nodeOne, nodeTwo] = [
      await startSpreadNode(resources, one.make()),
      await startSpreadNode(resources, two.make()),
    ];
    const a1 = await SpreadClient.connect(resources, nodeOne.port);
    const a2 = await SpreadClient.connect(resources, nodeOne.port);
    const b1 = await SpreadClient.connect(resources, nodeTwo.port);
    expect([a1.number, a2.number, b1.number]).toEqual([1, 2, 1]);
    a1.send('only for cluster one');
    b1.send('only for cluster two');
    expect(await a2.waitForLines(1)).toEqual(['only for cluster one']);
    const b2 = await SpreadClient.connect(resources, nodeTwo.port);
    expect(b2.number).toBe(2);
    b2.send('second');
    expect(await b1.waitForLines(1)).toEqual(['second']);
    expect(a2.lines).toEqual(['only for cluster one']);
  });

  it('starts a destroyed cluster afresh under the same name', async () => {
    const first = cluster();
    const node = await startSpreadNode(resources, first.make());
    await SpreadClient.connect(resources, node.port);
    expect((await SpreadClient.connect(resources, node.port)).number).toBe(2);
    await resources.disposeAll();
    await first.destroy();

    const again = cluster(first.cluster);
    const fresh = await startSpreadNode(resources, again.make());
    expect(fresh.node).toBe(1);
    expect((await SpreadClient.connect(resources, fresh.port)).number).toBe(1);
  });
});

/**
 * The gateway on several nodes: hubBus's mapping of the bus onto the hub's log (over the memory
 * hub); two gateways of examples/iot-gateway.ts in this process on the machine's Redis
 * (127.0.0.1:6379) and NATS (127.0.0.1:4222), each test on a cluster name of its own, sharing one
 * store, with an app on one node and its relayer on the other; and two gateway processes as
 * `npm run gateway` starts them, on Redis and PostgreSQL.
 */
import { firstValueFrom } from 'rxjs';
import { memoryHub, type Hub } from 'rxnet';
import { natsHub } from 'rxnet/cluster/nats';
import { redisHub } from 'rxnet/cluster/redis';
import type { HubFlag } from '../../../examples/cluster';
import { type SbmpPeer, app, bindHome, relayer } from '../../../bench/iot-clients';
import { start, type GatewayHandle } from '../../../examples/iot-gateway';
import type { GatewayBusMessage } from '../../../examples/iot/gateway';
import { hubBus } from '../../../examples/iot/hubBus';
import { memoryStore } from '../../../examples/iot/memoryStore';
import { Cmd, Status } from '../../../examples/iot/sbmp';
import type { Store } from '../../../examples/iot/store';
import { Resources, spawnExample, within } from '../harness';

jest.setTimeout(30_000);

function message(seq: number): GatewayBusMessage {
  return { frame: { commandId: Cmd.ControlDevice, status: 0, seq }, from: 'h/1', fromSock: 'a:1' };
}

describe('hubBus', () => {
  it('delivers a message to the node that holds its address, and to no other', async () => {
    const hub = memoryHub('bus-test');
    const a = hubBus(hub);
    const b = hubBus(hub);
    await Promise.all([a.ready, b.ready]);
    b.subscribe('g/7');
    const atA: unknown[] = [];
    a.messages$.subscribe((delivery) => atA.push(delivery));
    const atB = firstValueFrom(b.messages$);

    a.publish('g/8', message(1));
    a.publish('g/7', message(2));

    expect(await atB).toEqual({ address: 'g/7', message: message(2) });
    expect(atA).toEqual([]);
    a.close();
    b.close();
  });

  it('starts a node at its own start marker: what was published before is not carried out again', async () => {
    const hub = memoryHub('bus-history');
    const early = hubBus(hub);
    await early.ready;
    early.publish('g/1', message(1));
    const late = hubBus(hub);
    late.subscribe('g/1');
    const received = firstValueFrom(late.messages$);
    await late.ready;

    early.publish('g/1', message(2));

    expect(await received).toEqual({ address: 'g/1', message: message(2) });
    early.close();
    late.close();
  });

  it('holds an address until it is unsubscribed as often as it was subscribed', async () => {
    const bus = hubBus(memoryHub('bus-count'));
    await bus.ready;
    bus.subscribe('h/3');
    bus.subscribe('h/3');
    bus.unsubscribe('h/3');
    const received = firstValueFrom(bus.messages$);

    bus.publish('h/3', message(5));

    expect(await received).toEqual({ address: 'h/3', message: message(5) });
    bus.close();
  });
});

/** The machine's engines, and how a test deletes what its cluster stored. */
const engines: [string, HubFlag, (cluster: string) => Hub][] = [
  ['Redis', 'redis://127.0.0.1:6379', (cluster) => redisHub({ cluster })],
  [
    'NATS',
    'nats://127.0.0.1:4222',
    (cluster) => natsHub({ cluster, servers: 'nats://127.0.0.1:4222' }),
  ],
];

describe.each(engines)('two gateway nodes on %s', (_name, flag, hubOf) => {
  let cluster: string;
  let store: Store;
  const handles: GatewayHandle[] = [];
  const peers: SbmpPeer[] = [];
  let test = 0;

  beforeEach(async () => {
    test += 1;
    cluster = `iot-two-${_name}-${process.pid}-${test}`;
    store = memoryStore();
    await store.open();
  });

  afterEach(async () => {
    for (const peer of peers.splice(0)) peer.socket.destroy();
    for (const handle of handles.splice(0)) await handle.stop();
    await store.close();
    const hub = hubOf(cluster);
    await hub.destroy();
    await hub.close();
  });

  async function node(nodeId: string): Promise<GatewayHandle> {
    const handle = await start({
      endpoint: 'tcp:0:interface=127.0.0.1',
      tls: false,
      store,
      hub: flag,
      cluster,
      nodeId,
      log: () => undefined,
    });
    handles.push(handle);
    return handle;
  }

  /** Controls the lamp until the reply is not "relayer offline" (presence crosses the hub). */
  async function control(phone: SbmpPeer, devCode: string, value: number) {
    for (;;) {
      const reply = await phone.request(Cmd.ControlDevice, {
        dev_model: 'light',
        dev_code: devCode,
        dev_key_seq: 0,
        value,
      });
      if (reply.status !== Status.RelayerOffline) return reply;
    }
  }

  it('an app on node A controls a device whose relayer is on node B', async () => {
    const a = await node('a');
    const b = await node('b');
    const box = await relayer(b.address.port, 'two-box-1');
    peers.push(box);
    const { peer: phone } = await app(a.address.port, 'two-user-1', true);
    peers.push(phone);
    await bindHome(phone, 'two-box-1', 'two-lamp-1');
    const forwarded: number[] = [];
    const answer = box.onRequest!;
    box.onRequest = (frame) => {
      forwarded.push(frame.commandId);
      answer(frame);
    };

    const reply = await within(control(phone, 'two-lamp-1', 1), 'the control reply', 15_000);

    expect({ status: reply.status, body: reply.body }).toEqual({
      status: Status.Ok,
      body: { value: 1 },
    });
    expect(forwarded).toContain(Cmd.ControlDevice);
  });

  it('follows a relayer that moves from node B to node A', async () => {
    const a = await node('a');
    const b = await node('b');
    const before = await relayer(b.address.port, 'two-box-2');
    peers.push(before);
    const { peer: phone } = await app(a.address.port, 'two-user-2', true);
    peers.push(phone);
    await bindHome(phone, 'two-box-2', 'two-lamp-2');
    expect((await within(control(phone, 'two-lamp-2', 1), 'the first reply', 15_000)).status).toBe(
      Status.Ok,
    );

    before.close();
    await within(before.closed, 'the relayer to leave node B');
    const after = await relayer(a.address.port, 'two-box-2');
    peers.push(after);
    const reply = await within(control(phone, 'two-lamp-2', 0), 'the second reply', 15_000);

    expect({ status: reply.status, body: reply.body }).toEqual({
      status: Status.Ok,
      body: { value: 0 },
    });
  });
});

describe('two gateway processes on Redis and PostgreSQL', () => {
  const resources = new Resources();
  const peers: SbmpPeer[] = [];
  const cluster = `iot-procs-${process.pid}`;
  afterEach(async () => {
    for (const peer of peers.splice(0)) peer.socket.destroy();
    await resources.disposeAll();
    const hub = redisHub({ cluster });
    await hub.destroy();
    await hub.close();
  });

  it('an app on one process controls a device whose relayer is on the other', async () => {
    const run = `${process.pid}-${Date.now().toString(36)}`;
    const ports = await Promise.all(
      ['a', 'b'].map(async (nodeId) => {
        const child = spawnExample(resources, 'iot-gateway', [
          'tcp:0:interface=127.0.0.1',
          '--tls',
          'off',
          '--db',
          'postgres://postgres@127.0.0.1:5432/test',
          '--hub',
          'redis://127.0.0.1:6379',
          '--cluster',
          cluster,
          '--node-id',
          nodeId,
        ]);
        const [, port] = await child.waitForLine(/^listening on 127\.0\.0\.1:(\d+)$/, 30_000);
        return Number(port);
      }),
    );
    const box = await relayer(ports[1]!, `procs-box-${run}`);
    peers.push(box);
    const { peer: phone } = await app(ports[0]!, `procs-user-${run}`, true);
    peers.push(phone);
    await bindHome(phone, `procs-box-${run}`, `procs-lamp-${run}`);

    let reply;
    do {
      reply = await within(
        phone.request(Cmd.ControlDevice, {
          dev_model: 'light',
          dev_code: `procs-lamp-${run}`,
          dev_key_seq: 0,
          value: 1,
        }),
        'a control reply',
      );
    } while (reply.status === Status.RelayerOffline);

    expect({ status: reply.status, body: reply.body }).toEqual({
      status: Status.Ok,
      body: { value: 1 },
    });
  }, 90_000);
});

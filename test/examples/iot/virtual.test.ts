/**
 * The gateway on rxnet's virtual network (PROTOCOL.md §9.8): the real server code
 * (`serveConnections`, `fromDuplex`, the SBMP framing) with 1 gateway, 2 relayers and 3 apps for
 * 10 virtual minutes. Relayer R1 sends an EventDev every 5 s and a HeartBeat every 60 s; R2 logs
 * in and then goes silent, so the gateway drops it 300 s later and tells the apps of its accounts.
 */
import { filter, map, merge, of, type Observable, type Subscription, tap, timer } from 'rxjs';
import { runProtocol, serveConnections, type ProtocolContext } from 'rxnet';
import { VirtualNetwork } from 'rxnet/testing';
import { gateway } from '../../../examples/iot/gateway';
import { Cmd, sbmp, type SbmpFrame } from '../../../examples/iot/sbmp';
import { appLogin, relayerLogin, request, runUntil, StoreCalls, testStore } from './gatewayHarness';

const MINUTE = 60_000;

describe('the gateway on a virtual network', () => {
  const subscriptions: Subscription[] = [];
  afterEach(() => subscriptions.splice(0).forEach((s) => s.unsubscribe()));

  it('serves 2 relayers and 3 apps for 10 minutes, drops the silent relayer at 300 s and tells its apps', async () => {
    const net = new VirtualNetwork({ latency: 10 });
    const scheduler = net.scheduler;
    const calls = new StoreCalls();
    const { store } = testStore(calls);
    await store.open();
    const alice = await store.addAccount({ userName: 'alice', password: 'pw-alice' });
    const bob = await store.addAccount({ userName: 'bob', password: 'pw-bob' });
    if (!alice.ok || !bob.ok) throw new Error('accounts');
    const aliceHome = alice.value.apartment.id;
    await store.bindRelayer(alice.value.accountId, aliceHome, 'R1', 'hall');
    await store.bindRelayer(alice.value.accountId, aliceHome, 'R2', 'garage');
    await store.bindRelayer(bob.value.accountId, bob.value.apartment.id, 'R2', 'shared box');
    await store.addDevice(alice.value.accountId, {
      apartmentId: aliceHome,
      devModel: 'light',
      devCode: 'D1',
      name: 'lamp',
    });

    const log: string[] = [];
    subscriptions.push(
      serveConnections(
        net.listen('gateway'),
        gateway({
          store,
          scheduler,
          nodeId: 'gw',
          log: (line) => log.push(`${net.now()} ${line}`),
        }),
        { framing: sbmp() },
      ).subscribe(),
    );

    /** What each peer read, stamped with the virtual time. */
    const read = new Map<string, { at: number; frame: SbmpFrame }[]>();
    const closedAt = new Map<string, number>();

    /** A peer: logs in, then sends what `then` gives; answers the gateway's requests with 0. */
    function peer(name: string, login: SbmpFrame, then: Observable<SbmpFrame>): void {
      read.set(name, []);
      subscriptions.push(
        net.connect('gateway').subscribe((connection) => {
          runProtocol(
            connection,
            (conn: ProtocolContext<SbmpFrame>) => {
              const frames = conn.frames$.pipe(
                tap((frame) => read.get(name)!.push({ at: net.now(), frame })),
              );
              const answers = frames.pipe(
                filter((frame) => frame.commandId === Cmd.ControlDevice),
                map((frame) => ({
                  commandId: (frame.commandId | 0x80000000) >>> 0,
                  status: 0,
                  seq: frame.seq,
                  body: { value: 1 },
                })),
              );
              return merge(of(login), then, answers);
            },
            { framing: sbmp() },
          ).subscribe({ complete: () => closedAt.set(name, net.now()) });
        }),
      );
    }

    const every = (period: number, make: (n: number) => SbmpFrame) =>
      timer(period, period, scheduler).pipe(map((n) => make(n + 1)));
    const heartbeats = every(MINUTE, () => request(Cmd.HeartBeat));

    peer(
      'R1',
      relayerLogin('R1'),
      merge(
        heartbeats,
        every(5_000, (n) =>
          request(Cmd.EventDev, { dev_code: 'D1', dev_key_seq: 0, value: n % 2 }),
        ),
      ),
    );
    peer('R2', relayerLogin('R2'), of());
    net.at(1_000, () => {
      peer(
        'alice-1',
        appLogin('alice', 'pw-alice', 'phone-1'),
        merge(
          heartbeats,
          timer(119_000, scheduler).pipe(
            map(() => request(Cmd.ControlDevice, { dev_code: 'D1', value: 1 }, 77)),
          ),
        ),
      );
      peer('alice-2', appLogin('alice', 'pw-alice', 'phone-2'), heartbeats);
      peer('bob', appLogin('bob', 'pw-bob', 'phone-b'), heartbeats);
    });

    await runUntil(scheduler, calls, 10 * MINUTE);

    // R2 logged in at 30 (one trip to connect, one for its login) and was dropped 300 s later.
    expect(log).toContain('300030 #2 closed: timed out (idle for 300000 ms)');
    expect(closedAt.get('R2')).toBe(300_040);
    expect([...closedAt.keys()]).toEqual(['R2']);

    const of_ = (name: string, id: number) =>
      read.get(name)!.filter(({ frame }) => frame.commandId === id);
    // Every app of an account bound to R2 hears that it went offline, a trip after the drop.
    for (const app of ['alice-1', 'alice-2', 'bob']) {
      expect(
        of_(app, Cmd.RelayerStatusNotify).map(({ at, frame }) => [at, frame.body]),
      ).toContainEqual([300_040, { relayer_id: 2, sb_code: 'R2', online: false }]);
    }
    // R1's events: one every 5 s from 5020 on, each value different from the last, so every one
    // reaches both of Alice's phones and none reaches Bob's.
    const events = of_('alice-1', Cmd.EventDev);
    expect(events).toHaveLength(119);
    expect(events[0]).toMatchObject({
      at: 5_040,
      frame: { body: { name: 'lamp', is_alarm: 'False' } },
    });
    expect(of_('alice-2', Cmd.EventDev)).toHaveLength(119);
    expect(of_('bob', Cmd.EventDev)).toHaveLength(0);
    // Alice's control, sent at 120 020 (119 s after her connection), went to R1 and back: four trips.
    expect(of_('alice-1', (Cmd.ControlDevice | 0x80000000) >>> 0)).toEqual([
      { at: 120_060, frame: { commandId: 0x80060001, status: 0, seq: 77, body: { value: 1 } } },
    ]);
    expect(log.filter((line) => line.includes('dropped'))).toEqual([]);
    // R1 had each event acked and each heartbeat answered.
    expect(of_('R1', (Cmd.EventDev | 0x80000000) >>> 0)).toHaveLength(119);
    expect(of_('R1', (Cmd.HeartBeat | 0x80000000) >>> 0)).toHaveLength(9);
  });
});

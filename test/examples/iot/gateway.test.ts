/**
 * The gateway behaviour (PROTOCOL.md §9.8, pure pipeline): sessions, heartbeat, timeouts, control
 * routing, fan-out and bad input, in virtual time with the real memory store.
 */
import { VirtualTimeScheduler } from 'rxjs';
import { readLost } from 'rxnet/testing';
import { MemoryMedium, memoryBus } from '../../../examples/iot/bus';
import type { GatewayOptions } from '../../../examples/iot/gateway';
import { Cmd, Status, type SbmpFrame } from '../../../examples/iot/sbmp';
import {
  appLogin,
  GatewayHarness,
  relayerLogin,
  request,
  response,
  runUntil,
  StoreCalls,
  testStore,
} from './gatewayHarness';

/** Replies to concurrent requests may come in any order: compare them by seq. */
const bySeq = (frames: SbmpFrame[]) => [...frames].sort((x, y) => x.seq - y.seq);

const ok = (frame: SbmpFrame, body?: SbmpFrame['body']) => response(frame, Status.Ok, body);

/**
 * Alice has a Home apartment with relayers R1 and R2 bound and a light D1 served by R1 first;
 * Bob has an apartment of his own. One gateway node serves them.
 */
async function world(options: Partial<GatewayOptions> = {}) {
  const scheduler = new VirtualTimeScheduler();
  const calls = new StoreCalls();
  const { store, fail } = testStore(calls);
  await store.open();
  const alice = await store.addAccount({ userName: 'alice', password: 'pw-alice' });
  const bob = await store.addAccount({ userName: 'bob', password: 'pw-bob' });
  if (!alice.ok || !bob.ok) throw new Error('accounts');
  const apartmentId = alice.value.apartment.id;
  const r1 = await store.bindRelayer(alice.value.accountId, apartmentId, 'R1', 'hall');
  const r2 = await store.bindRelayer(alice.value.accountId, apartmentId, 'R2', 'kitchen');
  if (!r1.ok || !r2.ok) throw new Error('relayers');
  const device = await store.addDevice(alice.value.accountId, {
    apartmentId,
    devModel: 'light',
    devCode: 'D1',
    relayerId: r1.value.relayerId,
    name: 'lamp',
  });
  if (!device.ok) throw new Error('device');
  const gw = new GatewayHarness(scheduler, calls, { store, ...options });
  return {
    gw,
    scheduler,
    calls,
    store,
    fail,
    aliceId: alice.value.accountId,
    bobId: bob.value.accountId,
    apartmentId,
    bobApartmentId: bob.value.apartment.id,
    r1: r1.value.relayerId,
    r2: r2.value.relayerId,
    deviceId: device.value.devId,
    run: (until: number) => runUntil(scheduler, calls, until),
    now: () => scheduler.now(),
  };
}
type World = Awaited<ReturnType<typeof world>>;

async function login(w: World, id: number, frame: SbmpFrame, gw = w.gw): Promise<SbmpFrame[]> {
  gw.connect(id);
  gw.send(id, frame);
  await w.run(w.now());
  return gw.take(id);
}

/** {@link world} with relayer R1 logged in on connection 1 and Alice's phone on connection 2. */
async function relayerAndApp(options: Partial<GatewayOptions> = {}): Promise<World> {
  const w = await world(options);
  await login(w, 1, relayerLogin('R1'));
  await login(w, 2, appLogin('alice', 'pw-alice', 'phone-1'));
  return w;
}

/** Another gateway node on `w`'s scheduler and store, joined to the others on `medium`. */
function node(w: World, medium: MemoryMedium, nodeId: string): GatewayHarness {
  return new GatewayHarness(w.scheduler, w.calls, {
    store: w.store,
    bus: memoryBus({ medium }),
    nodeId,
  });
}

const control = (value: number, devCode = 'D1') =>
  request(Cmd.ControlDevice, { dev_model: 'light', dev_code: devCode, dev_key_seq: 0, value });

describe('gateway', () => {
  describe('login', () => {
    it('logs a relayer in by sb_code, as the book (auto-registered, no secret)', async () => {
      const w = await world();
      const frame = relayerLogin('R1', 7);
      expect(await login(w, 1, frame)).toEqual([ok(frame, { result: 0 })]);
    });

    it('logs an app in by user name and password and lists its apartments', async () => {
      const w = await world();
      const frame = appLogin('alice', 'pw-alice', 'phone-1');
      expect(await login(w, 1, frame)).toEqual([
        ok(frame, { result: 0, apartments: [{ id: w.apartmentId }] }),
      ]);
    });

    it('refuses a wrong password with status 14 and the book body', async () => {
      const w = await world();
      const frame = appLogin('alice', 'wrong', 'phone-1');
      expect(await login(w, 1, frame)).toEqual([
        response(frame, Status.LoginFailed, { result: 1, error: 'authentication fail' }),
      ]);
    });

    it('refuses a relayer not in knownRelayers', async () => {
      const w = await world({ knownRelayers: (code) => code === 'R2' });
      const frame = relayerLogin('R1');
      expect((await login(w, 1, frame))[0]?.status).toBe(Status.LoginFailed);
    });

    it('answers a request pipelined after Authorize as logged in', async () => {
      const w = await world();
      const auth = relayerLogin('R1');
      const beat = request(Cmd.HeartBeat);
      w.gw.connect(1);
      w.gw.send(1, auth);
      w.gw.send(1, beat);
      await w.run(0);
      expect(w.gw.take(1)).toEqual([ok(auth, { result: 0 }), ok(beat)]);
    });

    it('answers 13 before login, HeartBeat included, and AddAccount is served', async () => {
      const w = await world();
      w.gw.connect(1);
      const beat = request(Cmd.HeartBeat);
      const query = request(Cmd.QueryAccount);
      const add = request(Cmd.AddAccount, {
        user_name: 'carol',
        password: 'pw',
        email: 'c@x',
        mobile_phone: '1',
      });
      w.gw.send(1, beat);
      w.gw.send(1, query);
      w.gw.send(1, add);
      await w.run(0);
      const [a, b, c] = w.gw.take(1);
      expect(a).toEqual(response(beat, Status.Unauthenticated, { error: 'un-authenticated' }));
      expect(b).toEqual(response(query, Status.Unauthenticated, { error: 'un-authenticated' }));
      expect(c).toMatchObject({ commandId: 0x80020005, status: Status.Ok, seq: add.seq });
    });
  });

  describe('heartbeat and timeouts', () => {
    it('answers HeartBeat with a bare reply of the same seq, and id 0 with nothing', async () => {
      const w = await world();
      await login(w, 1, relayerLogin('R1'));
      const beat = request(Cmd.HeartBeat, undefined, 1);
      w.gw.send(1, beat);
      w.gw.send(1, request(Cmd.KeepAlive));
      await w.run(0);
      expect(w.gw.take(1)).toEqual([{ commandId: 0x80000002, status: 0, seq: 1 }]);
    });

    it('closes a connection idle for exactly idleTimeout after its last frame', async () => {
      const w = await world();
      await login(w, 1, relayerLogin('R1'));
      await w.run(100_000);
      w.gw.send(1, request(Cmd.HeartBeat));
      await w.run(399_999);
      expect(w.gw.closed).toEqual([]);
      await w.run(400_000);
      expect(w.gw.closed).toEqual([{ at: 400_000, id: 1 }]);
      expect(w.gw.logs).toContain('400000 #1 closed: timed out (idle for 300000 ms)');
    });

    it('does not count refused frames as activity, and closes an unauthenticated connection at authTimeout', async () => {
      const w = await world();
      w.gw.connect(1);
      await w.run(20_000);
      w.gw.send(1, request(Cmd.HeartBeat));
      await w.run(29_999);
      expect(w.gw.closed).toEqual([]);
      await w.run(30_000);
      expect(w.gw.closed).toEqual([{ at: 30_000, id: 1 }]);
    });

    it('counts id 0 and, in rxnet mode, an unknown command as activity; book mode only processed commands', async () => {
      for (const [mode, closedAt] of [
        ['rxnet', 400_000],
        ['book', 350_000],
      ] as const) {
        const w = await world({ mode });
        await login(w, 1, relayerLogin('R1'));
        await w.run(50_000);
        w.gw.send(1, request(Cmd.KeepAlive));
        await w.run(100_000);
        w.gw.send(1, request(0x00099999));
        await w.run(500_000);
        expect(w.gw.closed).toEqual([{ at: closedAt, id: 1 }]);
      }
    });

    it('in book mode, waits 300 s for a login', async () => {
      const w = await world({ mode: 'book' });
      w.gw.connect(1);
      await w.run(299_999);
      expect(w.gw.closed).toEqual([]);
      await w.run(300_000);
      expect(w.gw.closed).toEqual([{ at: 300_000, id: 1 }]);
    });
  });

  describe('control', () => {
    it('forwards ControlDevice to the relayer with its own seq and answers the app with its seq', async () => {
      const w = await relayerAndApp();
      const ask = control(1);
      w.gw.send(2, ask);
      await w.run(0);
      const [sent] = w.gw.take(1);
      expect(sent).toEqual({ commandId: Cmd.ControlDevice, status: 0, seq: 1, body: ask.body });
      w.gw.send(1, response(sent!, Status.Ok, { value: 1 }));
      await w.run(0);
      expect(w.gw.take(2)).toEqual([ok(ask, { value: 1 })]);
    });

    it('answers 18 when the relayer does not reply within relayerTimeout, and drops the late reply', async () => {
      const w = await relayerAndApp();
      await login(w, 3, relayerLogin('R2'));
      w.gw.lose(3);
      await w.run(0);
      w.gw.take(2); // R2's coming and going
      const ask = control(1);
      w.gw.send(2, ask);
      await w.run(29_999);
      const [sent] = w.gw.take(1);
      expect(w.gw.take(2)).toEqual([]);
      await w.run(30_000);
      expect(w.gw.takeTimed(2)).toEqual([
        {
          at: 30_000,
          frame: response(ask, Status.RelayerTimeout, { error: 'relayer resp timeout' }),
        },
      ]);
      w.gw.send(1, response(sent!, Status.Ok));
      await w.run(30_001);
      expect(w.gw.take(2)).toEqual([]);
      expect(w.gw.logs.some((line) => line.includes('matches no request: dropped'))).toBe(true);
    });

    it('answers 8 at once when no relayer of the device is online', async () => {
      const w = await world();
      await login(w, 2, appLogin('alice', 'pw-alice', 'phone-1'));
      const ask = control(1);
      w.gw.send(2, ask);
      await w.run(0);
      expect(w.gw.take(2)).toEqual([
        response(ask, Status.RelayerOffline, { error: 'relayer offline' }),
      ]);
    });

    it('in book mode, waits for an offline relayer and answers 18 (§10)', async () => {
      const w = await world({ mode: 'book' });
      await login(w, 2, appLogin('alice', 'pw-alice', 'phone-1'));
      const ask = control(1);
      w.gw.send(2, ask);
      await w.run(60_000);
      expect(w.gw.takeTimed(2)).toEqual([
        {
          at: 60_000,
          frame: response(ask, Status.RelayerTimeout, { error: 'relayer resp timeout' }),
        },
      ]);
    });

    it('fails over to the next relayer, which becomes the main one', async () => {
      const w = await world();
      await login(w, 1, relayerLogin('R1'));
      await login(w, 3, relayerLogin('R2'));
      await login(w, 2, appLogin('alice', 'pw-alice', 'phone-1'));
      const ask = control(1);
      w.gw.send(2, ask);
      await w.run(0);
      const [first] = w.gw.take(1);
      w.gw.send(1, response(first!, Status.ControlFailed, { error: 'control failed' }));
      await w.run(0);
      const [second] = w.gw.take(3);
      expect(second).toMatchObject({ commandId: Cmd.ControlDevice, body: ask.body });
      w.gw.send(3, response(second!, Status.Ok, { value: 1 }));
      await w.run(0);
      expect(w.gw.take(2)).toEqual([ok(ask, { value: 1 })]);
      const [route] = await w.store.resolveDevice(w.aliceId, 'D1');
      expect(route?.relayerIds[0]).toBe(w.r2);
      // The next control goes to R2 first.
      w.gw.send(2, control(0));
      await w.run(0);
      expect(w.gw.take(3)).toHaveLength(1);
      expect(w.gw.take(1)).toEqual([]);
    });

    it('keeps apart two apps that use the same seq', async () => {
      const w = await relayerAndApp();
      await login(w, 3, appLogin('alice', 'pw-alice', 'phone-2'));
      const one = request(Cmd.ControlDevice, { dev_code: 'D1', value: 1 }, 5);
      const two = request(Cmd.ControlDevice, { dev_code: 'D1', value: 2 }, 5);
      w.gw.send(2, one);
      w.gw.send(3, two);
      await w.run(0);
      const sent = w.gw.take(1);
      expect(sent.map((f) => [f.seq, f.body?.['value']])).toEqual([
        [1, 1],
        [2, 2],
      ]);
      // Answered in the other order.
      w.gw.send(1, ok(sent[1]!, { value: 2 }));
      w.gw.send(1, ok(sent[0]!, { value: 1 }));
      await w.run(0);
      expect(w.gw.take(2)).toEqual([ok(one, { value: 1 })]);
      expect(w.gw.take(3)).toEqual([ok(two, { value: 2 })]);
    });

    it('answers the last failure when every relayer fails', async () => {
      const w = await relayerAndApp();
      const ask = control(1);
      w.gw.send(2, ask);
      await w.run(0);
      const [sent] = w.gw.take(1);
      w.gw.send(1, response(sent!, Status.ControlFailed, { error: 'jammed' }));
      await w.run(0);
      expect(w.gw.take(2)).toEqual([response(ask, Status.ControlFailed, { error: 'jammed' })]);
    });

    it('answers 10 for a device the account does not have, and 4 without dev_code', async () => {
      const w = await world();
      await login(w, 2, appLogin('bob', 'pw-bob', 'phone-b'));
      const ask = control(1);
      const bare = request(Cmd.ControlDevice, { value: 1 });
      w.gw.send(2, ask);
      w.gw.send(2, bare);
      await w.run(0);
      expect(bySeq(w.gw.take(2))).toEqual(
        bySeq([
          response(ask, Status.NoDevice, { error: 'no device' }),
          response(bare, Status.MissingParameter, { error: 'missing parameter' }),
        ]),
      );
    });

    it('keeps maxInflightPerRelayer on the wire, queues maxQueuedPerRelayer, and answers 17 beyond', async () => {
      const w = await relayerAndApp({ maxInflightPerRelayer: 1, maxQueuedPerRelayer: 1 });
      const asks = [control(1), control(2), control(3)];
      for (const ask of asks) w.gw.send(2, ask);
      await w.run(0);
      const sent = w.gw.take(1);
      expect(sent).toHaveLength(1);
      expect(w.gw.take(2)).toEqual([
        response(asks[2]!, Status.ServerBusy, { error: 'server busy' }),
      ]);
      w.gw.send(1, ok(sent[0]!));
      await w.run(0);
      expect(w.gw.take(1)).toHaveLength(1);
      expect(w.gw.take(2)).toEqual([ok(asks[0]!)]);
    });

    it('forwards QueryRelayerStatus to the named relayer, and 4 without relayer_id', async () => {
      const w = await relayerAndApp();
      const ask = request(Cmd.QueryRelayerStatus, { relayer_id: w.r1 });
      const bare = request(Cmd.QueryRelayerStatus, {});
      w.gw.send(2, ask);
      w.gw.send(2, bare);
      await w.run(0);
      expect(w.gw.take(2)).toEqual([
        response(bare, Status.MissingParameter, { error: 'missing parameter' }),
      ]);
      const [sent] = w.gw.take(1);
      w.gw.send(1, ok(sent!, { online: 1 }));
      await w.run(0);
      expect(w.gw.take(2)).toEqual([ok(ask, { online: 1 })]);
    });
  });

  describe('events', () => {
    const event = (value: number, devCode = 'D1') =>
      request(Cmd.EventDev, { dev_code: devCode, dev_key_seq: 0, value });

    it('acks an EventDev and sends one notify to every phone of the account, none to another account', async () => {
      const w = await relayerAndApp();
      await login(w, 3, appLogin('alice', 'pw-alice', 'phone-2'));
      await login(w, 4, appLogin('bob', 'pw-bob', 'phone-b'));
      const before = w.gw.commands.length;
      const ev = event(1);
      w.gw.send(1, ev);
      await w.run(0);
      expect(w.gw.take(1)).toEqual([ok(ev)]);
      const notify = {
        commandId: Cmd.EventDev,
        status: 0,
        seq: expect.any(Number) as number,
        body: {
          dev_code: 'D1',
          dev_key_seq: 0,
          value: 1,
          name: 'lamp',
          dev_model: 'light',
          is_alarm: 'False',
        },
      };
      expect(w.gw.take(2)).toEqual([notify]);
      expect(w.gw.take(3)).toEqual([notify]);
      expect(w.gw.take(4)).toEqual([]);
      // One write command for both phones: one encoding, as broadcast() does.
      const writes = w.gw.commands.slice(before).filter((c) => c.type === 'write');
      expect(writes.map((c) => c.type === 'write' && c.to)).toEqual([1, [2, 3]]);
    });

    it('does not fan out a repeat of the same value within 10 s, and does after', async () => {
      const w = await relayerAndApp();
      w.gw.send(1, event(1));
      await w.run(5_000);
      w.gw.send(1, event(1));
      await w.run(9_999);
      w.gw.send(1, event(1));
      await w.run(10_000);
      w.gw.send(1, event(1));
      await w.run(10_000);
      expect(w.gw.takeTimed(2).map(({ at }) => at)).toEqual([0, 10_000]);
      expect(w.gw.take(1).map((f) => f.status)).toEqual([0, 0, 0, 0]);
    });

    it('acks an event of an unknown device and drops it', async () => {
      const w = await relayerAndApp();
      const ev = event(1, 'nope');
      w.gw.send(1, ev);
      await w.run(0);
      expect(w.gw.take(1)).toEqual([ok(ev)]);
      expect(w.gw.take(2)).toEqual([]);
    });

    it('marks an event while armed as an alarm and logs it; book mode forwards alarms only', async () => {
      const w = await relayerAndApp({ mode: 'book' });
      w.gw.send(1, event(1));
      await w.run(0);
      expect(w.gw.take(2)).toEqual([]);
      await w.store.setArm(w.aliceId, w.apartmentId, 2);
      w.gw.send(1, event(2));
      await w.run(0);
      expect(w.gw.take(2)).toMatchObject([
        { commandId: Cmd.EventDev, body: { value: 2, is_alarm: 'True' } },
      ]);
      expect(await w.store.listAlarms(w.aliceId, 1)).toHaveLength(1);
    });

    it('tells the apps of a bound account when its relayer logs in and when it goes', async () => {
      const w = await world();
      await login(w, 2, appLogin('alice', 'pw-alice', 'phone-1'));
      await login(w, 4, appLogin('bob', 'pw-bob', 'phone-b'));
      await login(w, 1, relayerLogin('R1'));
      w.gw.lose(1);
      await w.run(0);
      expect(w.gw.take(2)).toMatchObject([
        {
          commandId: Cmd.RelayerStatusNotify,
          body: { relayer_id: w.r1, sb_code: 'R1', online: true },
        },
        {
          commandId: Cmd.RelayerStatusNotify,
          body: { relayer_id: w.r1, sb_code: 'R1', online: false },
        },
      ]);
      expect(w.gw.take(4)).toEqual([]);
    });
  });

  describe('takeover', () => {
    it('closes the older session of a relayer that logs in again, and routes to the new one', async () => {
      const w = await world();
      await login(w, 1, relayerLogin('R1'));
      await login(w, 3, relayerLogin('R1'));
      expect(w.gw.closed).toEqual([{ at: 0, id: 1 }]);
      await login(w, 2, appLogin('alice', 'pw-alice', 'phone-1'));
      w.gw.send(2, control(1));
      await w.run(0);
      expect(w.gw.take(3)).toHaveLength(1);
      expect(w.gw.take(1)).toEqual([]);
    });

    it('closes the older session of a phone that logs in again', async () => {
      const w = await world();
      await login(w, 1, appLogin('alice', 'pw-alice', 'phone-1'));
      await login(w, 2, appLogin('alice', 'pw-alice', 'phone-1'));
      expect(w.gw.closed).toEqual([{ at: 0, id: 1 }]);
    });

    it('re-registers a connection that logs in again as another relayer', async () => {
      const w = await relayerAndApp();
      w.gw.take(2);
      w.gw.send(1, relayerLogin('R2'));
      await w.run(0);
      expect(w.gw.take(2)).toMatchObject([
        { commandId: Cmd.RelayerStatusNotify, body: { sb_code: 'R1', online: false } },
        { commandId: Cmd.RelayerStatusNotify, body: { sb_code: 'R2', online: true } },
      ]);
    });

    it('in book mode, leaves the older session open', async () => {
      const w = await world({ mode: 'book' });
      await login(w, 1, relayerLogin('R1'));
      await login(w, 3, relayerLogin('R1'));
      expect(w.gw.closed).toEqual([]);
    });
  });

  describe('bad input', () => {
    it('answers an unknown command 19; book mode answers nothing', async () => {
      const w = await world();
      const b = await world({ mode: 'book' });
      for (const x of [w, b]) await login(x, 1, relayerLogin('R1'));
      const odd = request(0x00099999);
      w.gw.send(1, odd);
      b.gw.send(1, odd);
      await w.run(0);
      await b.run(0);
      expect(w.gw.take(1)).toEqual([
        response(odd, Status.UnknownCommand, { error: 'unknown command' }),
      ]);
      expect(b.gw.take(1)).toEqual([]);
    });

    it('answers a malformed body 4 and keeps the connection', async () => {
      const w = await world();
      await login(w, 1, relayerLogin('R1'));
      const bad: SbmpFrame = { commandId: Cmd.HeartBeat, status: 0, seq: 3, malformed: true };
      const beat = request(Cmd.HeartBeat);
      w.gw.send(1, bad);
      w.gw.send(1, beat);
      await w.run(0);
      expect(w.gw.take(1)).toEqual([
        {
          commandId: 0x80000002,
          status: Status.MissingParameter,
          seq: 3,
          body: { error: 'malformed body' },
        },
        ok(beat),
      ]);
      expect(w.gw.closed).toEqual([]);
    });

    it('answers 3 when the store fails, and goes on serving', async () => {
      const w = await world();
      await login(w, 1, appLogin('alice', 'pw-alice', 'phone-1'));
      w.fail(true);
      const query = request(Cmd.QueryAccount);
      w.gw.send(1, query);
      await w.run(0);
      expect(w.gw.take(1)).toEqual([
        response(query, Status.DatabaseError, { error: 'database exception' }),
      ]);
      w.fail(false);
      const again = request(Cmd.QueryAccount);
      w.gw.send(1, again);
      w.gw.send(1, request(Cmd.HeartBeat));
      await w.run(0);
      // The HeartBeat needs no store, so its reply comes first.
      expect(w.gw.take(1).map((f) => [f.seq === again.seq, f.status])).toEqual([
        [false, 0],
        [true, 0],
      ]);
    });

    it('answers a login 3 when the store fails', async () => {
      const w = await world();
      w.fail(true);
      const frame = appLogin('alice', 'pw-alice', 'phone-1');
      expect(await login(w, 1, frame)).toEqual([
        response(frame, Status.DatabaseError, { error: 'database exception' }),
      ]);
    });

    it('answers what was asked before the peer half-closed, then closes', async () => {
      const w = await world();
      await login(w, 1, appLogin('alice', 'pw-alice', 'phone-1'));
      const query = request(Cmd.QueryAccount);
      w.gw.send(1, query);
      w.gw.events.next(readLost(1));
      expect(w.gw.closed).toEqual([]);
      await w.run(0);
      expect(w.gw.take(1)).toMatchObject([{ seq: query.seq, status: Status.Ok }]);
      expect(w.gw.closed).toEqual([{ at: 0, id: 1 }]);
    });

    it('answers 17 past maxPendingStoreCommands', async () => {
      const w = await world({ maxPendingStoreCommands: 1 });
      await login(w, 1, appLogin('alice', 'pw-alice', 'phone-1'));
      const first = request(Cmd.QueryAccount);
      const second = request(Cmd.QueryAccount);
      w.gw.send(1, first);
      w.gw.send(1, second);
      await w.run(0);
      expect(w.gw.take(1).map((f) => [f.seq, f.status])).toEqual([
        [second.seq, Status.ServerBusy],
        [first.seq, Status.Ok],
      ]);
    });
  });

  describe('two nodes', () => {
    it('routes control from an app on node A to a relayer on node B over a shared memory bus', async () => {
      const w = await world();
      w.gw.stop();
      const medium = new MemoryMedium();
      const a = node(w, medium, 'A');
      const b = node(w, medium, 'B');
      await login(w, 1, relayerLogin('R1'), b);
      await login(w, 1, appLogin('alice', 'pw-alice', 'phone-1'), a);
      const ask = control(1);
      a.send(1, ask);
      await w.run(0);
      const [sent] = b.take(1);
      expect(sent).toMatchObject({ commandId: Cmd.ControlDevice, seq: 1, body: ask.body });
      b.send(1, ok(sent!, { value: 1 }));
      await w.run(0);
      expect(a.take(1)).toEqual([ok(ask, { value: 1 })]);
      // Events cross too: the relayer on B, the phone on A.
      const ev = request(Cmd.EventDev, { dev_code: 'D1', value: 1 });
      b.send(1, ev);
      await w.run(0);
      expect(a.take(1)).toMatchObject([{ commandId: Cmd.EventDev, body: { name: 'lamp' } }]);
      a.stop();
      b.stop();
    });

    it('learns who a node started earlier holds, and a login on one node takes over the other', async () => {
      const w = await world();
      w.gw.stop();
      const medium = new MemoryMedium();
      const a = node(w, medium, 'A');
      await login(w, 1, relayerLogin('R1'), a);
      const b = node(w, medium, 'B');
      await login(w, 1, appLogin('alice', 'pw-alice', 'phone-1'), b);
      // B heard of R1 from A's answer to its hello: the control is sent, not answered 8.
      b.send(1, control(1));
      await w.run(0);
      expect(a.take(1)).toHaveLength(1);
      await login(w, 2, relayerLogin('R1'), b);
      expect(a.closed).toEqual([{ at: 0, id: 1 }]);
      expect(b.closed).toEqual([]);
      a.stop();
      b.stop();
    });
  });
});

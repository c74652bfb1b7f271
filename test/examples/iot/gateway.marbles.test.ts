/**
 * The gateway's synchronous paths as marbles (PROTOCOL.md §9.8): what it answers without the
 * store, and its login timeout, frame by frame in virtual time. Paths through the store are
 * async (its Promises settle outside the marble run) and are tested in gateway.test.ts.
 */
import { TestScheduler } from 'rxjs/testing';
import { close, data, made, observableMatcher, testBehaviour, write } from 'rxnet/testing';
import {
  armedAndOn,
  gateway,
  gatewaySettings,
  type GatewayOptions,
} from '../../../examples/iot/gateway';
import { memoryStore } from '../../../examples/iot/memoryStore';
import { Cmd, type SbmpFrame } from '../../../examples/iot/sbmp';
import type { DeviceRow } from '../../../examples/iot/store';

const frame = (commandId: number, seq: number, extra: Partial<SbmpFrame> = {}): SbmpFrame => ({
  commandId,
  status: 0,
  seq,
  ...extra,
});

function marbles(options: Partial<GatewayOptions> = {}) {
  const scheduler = new TestScheduler(observableMatcher);
  return {
    scheduler,
    behaviour: gateway({ store: memoryStore(), scheduler, nodeId: 'm', ...options }),
  };
}

describe('gateway (marbles)', () => {
  it('answers 13 before login, 4 for a malformed body, 19 for an unknown id, and nothing for id 0', () => {
    const { scheduler, behaviour } = marbles();
    testBehaviour(behaviour, {
      scheduler,
      events: '-m-a-b-c-d-',
      values: {
        m: made(1),
        a: data(1, frame(Cmd.HeartBeat, 1)),
        b: data(1, frame(Cmd.QueryAccount, 2, { malformed: true })),
        c: data(1, frame(0x00099999, 3)),
        d: data(1, frame(Cmd.KeepAlive, 4)),
      },
    }).toEmitCommands('---x-y-z 29993ms c', {
      x: write(1, frame(0x80000002, 1, { status: 13, body: { error: 'un-authenticated' } })),
      y: write(1, frame(0x80010003, 2, { status: 4, body: { error: 'malformed body' } })),
      z: write(1, frame(0x80099999, 3, { status: 19, body: { error: 'unknown command' } })),
      c: close(1),
    });
  });

  it('closes a connection that has not logged in at exactly authTimeout, refused frames or not', () => {
    const { scheduler, behaviour } = marbles();
    testBehaviour(behaviour, {
      scheduler,
      events: '-m 19999ms a',
      values: { m: made(1), a: data(1, frame(Cmd.HeartBeat, 1)) },
    }).toEmitCommands('- 20000ms x 9999ms c', {
      x: write(1, frame(0x80000002, 1, { status: 13, body: { error: 'un-authenticated' } })),
      c: close(1),
    });
  });

  it('in book mode, ignores the † commands and unknown ids without a reply, and waits 300 s for a login', () => {
    const { scheduler, behaviour } = marbles({ mode: 'book' });
    testBehaviour(behaviour, {
      scheduler,
      events: '-m-a-b-',
      values: {
        m: made(1),
        a: data(1, frame(Cmd.PasswordRestore, 1, { body: { email: 'a@b' } })),
        b: data(1, frame(0x00099999, 2)),
      },
    }).toEmitCommands('- 300000ms c', { c: close(1) });
  });
});

describe('gatewaySettings', () => {
  it('applies the §9.5 defaults, and the book mode login timeout', () => {
    const store = memoryStore();
    expect(gatewaySettings({ store })).toMatchObject({
      mode: 'rxnet',
      idleTimeout: 300_000,
      authTimeout: 30_000,
      relayerTimeout: 30_000,
      maxInflightPerRelayer: 100,
      maxQueuedPerRelayer: 1000,
      bufferedStateWindow: 10_000,
      maxPendingStoreCommands: 101,
    });
    expect(gatewaySettings({ store, mode: 'book' }).authTimeout).toBe(300_000);
    expect(gatewaySettings({ store, idleTimeout: 0 }).idleTimeout).toBe(Infinity);
  });

  it('throws a TypeError for a bad option', () => {
    const store = memoryStore();
    expect(() => gateway({ store, idleTimeout: -1 })).toThrow(TypeError);
    expect(() => gateway({ store, maxInflightPerRelayer: 0 })).toThrow(TypeError);
    expect(() => gateway({ store, mode: 'fast' as 'book' })).toThrow(TypeError);
  });
});

describe('armedAndOn', () => {
  const device = {} as DeviceRow;
  it.each([
    [2, 1, true],
    [2, '1', true],
    [2, true, true],
    [2, 0, false],
    [2, '0', false],
    [1, 1, false],
  ])('armState %p, value %p: %p', (armState, value, alarm) => {
    expect(armedAndOn({ device, value, keySeq: 0, armState })).toBe(alarm);
  });
});

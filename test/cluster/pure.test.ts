import { from, map, Observable, toArray, firstValueFrom } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  broadcast,
  checkDeterminism,
  clusterId,
  closeOn,
  ConnectionLostError,
  countConnections,
  decodeEntry,
  detectLostNodes,
  encodeEntry,
  EncodeError,
  greet,
  IdleTimeoutError,
  localIdOf,
  nodeOf,
  NODE_ID_SPAN,
  ownCommands,
  replayLog,
  write as writeCommand,
  type Behaviour,
  type ClusterEvent,
  type LogEntry,
  type ServerCommand,
  type ServerEvent,
} from 'rxnet';
import { close, data, lost, made, observableMatcher, write } from 'rxnet/testing';

/** The quickstart's Spread behaviour: the one the cluster tests serve. */
const spread: Behaviour<string, string> = (events) =>
  events.pipe(
    countConnections(),
    greet(({ count }) => `you are ${count}\n`),
    closeOn((line) => line === 'close'),
    broadcast(),
  );

const id = clusterId;
const ev = <T>(node: number, event: ClusterEvent<T>): LogEntry<T> => ({
  type: 'event',
  node,
  event,
});

describe('cluster ids', () => {
  it('names the node and the local id, as safe integers up to the last node', () => {
    expect(id(3, 7)).toBe(3 * NODE_ID_SPAN + 7);
    expect(nodeOf(id(3, 7))).toBe(3);
    expect(localIdOf(id(3, 7))).toBe(7);
    const last = Math.floor(Number.MAX_SAFE_INTEGER / NODE_ID_SPAN) - 1;
    expect(Number.isSafeInteger(id(last, NODE_ID_SPAN - 1))).toBe(true);
    expect(() => id(last + 1, 1)).toThrow(RangeError);
    expect(() => id(0, 1)).toThrow(RangeError);
    expect(() => id(1, NODE_ID_SPAN)).toThrow(RangeError);
  });
});

describe('encodeEntry / decodeEntry', () => {
  it('carries strings, bytes and JSON data through the log', () => {
    for (const payload of ['héllo', Buffer.from([0, 255, 10]), { kind: 'x', n: [1, 2] }]) {
      const entry = ev(1, data(id(1, 1), payload));
      expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
    }
  });

  it('revives a close reason with its error class, code and fields', () => {
    const reason = { type: 'timedOut', error: new IdleTimeoutError(500, 'read') } as const;
    const back = decodeEntry(encodeEntry(ev(2, lost(id(2, 1), reason))));
    const event = (back as { event: ServerEvent }).event as { reason: typeof reason };
    expect(event.reason.error).toBeInstanceOf(IdleTimeoutError);
    expect(event.reason.error).toMatchObject({
      name: 'IdleTimeoutError',
      code: 'RXNET_ERR_IDLE_TIMEOUT',
      timeout: 500,
      kind: 'read',
      message: reason.error.message,
    });
    const lostBack = decodeEntry(
      encodeEntry(ev(2, lost(id(2, 1), { type: 'lost', error: new ConnectionLostError() }))),
    ) as { event: { reason: { error: unknown } } };
    expect(lostBack.event.reason.error).toBeInstanceOf(ConnectionLostError);
  });

  it('refuses a payload with no JSON form with EncodeError', () => {
    expect(() => encodeEntry(ev(1, data(id(1, 1), BigInt(1))))).toThrow(EncodeError);
    expect(() => encodeEntry(ev(1, data(id(1, 1), undefined)))).toThrow(EncodeError);
  });
});

describe('replayLog', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('passes connection events through and turns a nodeLost into connectionLost for its open connections', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const reason = () =>
        ({
          type: 'lost',
          error: new ConnectionLostError('Connection lost: node 1 was lost'),
        }) as const;
      const values = {
        a: ev(1, made(id(1, 2))),
        b: ev(1, made(id(1, 1))),
        h: { type: 'heartbeat', node: 1 } as LogEntry,
        c: ev(2, made(id(2, 1))),
        x: { type: 'nodeLost', node: 1, by: 2, graceful: false } as LogEntry,
        y: { type: 'nodeLost', node: 1, by: 3, graceful: false } as LogEntry,
        z: ev(1, data(id(1, 1), 'late')),
      };
      const events = {
        A: made(id(1, 2)),
        B: made(id(1, 1)),
        C: made(id(2, 1)),
        L: lost(id(1, 1), reason()),
        M: lost(id(1, 2), reason()),
      };
      const log = cold<LogEntry>('  -a-b-h-c-x-y-z-|', values);
      const subs = '      ^--------------!';
      const expected = '  -A-B---C-(LM)--|';
      expectObservable(log.pipe(replayLog())).toBe(expected, events);
      expectSubscriptions(log.subscriptions).toBe(subs);
    });
  });

  it('loses a node that left with reason done, and drops events of connections it never saw made', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const values = {
        d: ev(1, data(id(1, 9), 'orphan')),
        a: ev(1, made(id(1, 1))),
        x: { type: 'nodeLost', node: 1, by: 1, graceful: true } as LogEntry,
      };
      const events = { A: made(id(1, 1)), L: lost(id(1, 1)) };
      expectObservable(cold<LogEntry>('-d-a-x-|', values).pipe(replayLog())).toBe(
        '---A-L-|',
        events,
      );
    });
  });

  it('passes on an error and stops on unsubscribe', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const log = cold<LogEntry>('--#');
      expectObservable(log.pipe(replayLog())).toBe('--#');
      const never = cold<LogEntry>('-');
      expectObservable(never.pipe(replayLog()), '^--!').toBe('-');
      expectSubscriptions(never.subscriptions).toBe('^--!');
    });
  });
});

describe('ownCommands', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('keeps the commands for its own connections, with local ids, and passes events on', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const values = {
        a: writeCommand([id(1, 1), id(2, 1), id(1, 3)], 'x') as ServerCommand<string>,
        b: close(id(2, 1)),
        c: close(id(1, 2)),
        d: write(id(2, 5), 'y'),
        e: made(id(2, 5)) as ServerEvent<string>,
        A: write([1, 3], 'x'),
        C: close(2),
      };
      const commands = cold('-a-b-c-d-e-|', values);
      expectObservable(commands.pipe(ownCommands(1))).toBe('-A---C---e-|', values);
    });
  });
});

describe('detectLostNodes', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('reports a node unheard for the timeout, again every timeout, and never itself', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const values = {
        a: { type: 'heartbeat', node: 2 } as LogEntry,
        b: { type: 'heartbeat', node: 3 } as LogEntry,
        s: { type: 'heartbeat', node: 1 } as LogEntry,
      };
      const log = hot('a-b-s---------------', values);
      const detect = log.pipe(detectLostNodes({ self: 1, timeout: 6, interval: 2 }));
      expectObservable(detect, '^------------!').toBe('------2-3---2-', { 2: 2, 3: 3 });
    });
  });

  it('stops watching a node once the log says it is lost', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const values = {
        a: { type: 'heartbeat', node: 2 } as LogEntry,
        x: { type: 'nodeLost', node: 2, by: 3, graceful: false } as LogEntry,
      };
      const log = hot('a---x--------------', values);
      const detect = log.pipe(detectLostNodes({ self: 1, timeout: 6, interval: 2 }));
      expectObservable(detect, '^-------------!').toBe('--------------');
    });
  });
});

describe('the pure path, log to commands for own connections', () => {
  it('gives each node the same greetings and broadcasts, and each carries out only its own', async () => {
    const log: LogEntry<string>[] = [
      ev(1, made(id(1, 1))),
      ev(2, made(id(2, 1))),
      ev(1, made(id(1, 2))),
      ev(2, data(id(2, 1), 'hi')),
      ev(1, data(id(1, 2), 'close')),
    ];
    const run = (node: number) =>
      firstValueFrom(
        from(log).pipe(
          replayLog<string>(),
          spread,
          ownCommands<string, string>(node),
          toArray(),
          map((items) => items.filter((item) => ['write', 'close'].includes(item.type))),
        ),
      );
    expect(await run(1)).toEqual([
      write(1, 'you are 1\n'),
      write(2, 'you are 3\n'),
      write([1, 2], 'hi'),
      close(2),
    ]);
    expect(await run(2)).toEqual([write(1, 'you are 2\n')]);
  });
});

describe('checkDeterminism', () => {
  const log = [
    encodeEntry(ev(1, made(id(1, 1)))),
    encodeEntry(ev(2, made(id(2, 1)))),
    encodeEntry(ev(2, data(id(2, 1), 'hi'))),
  ];

  it('finds the Spread behaviour deterministic over a recorded log', () => {
    const report = checkDeterminism(spread, log);
    expect(report.deterministic).toBe(true);
    expect(report.commands).toHaveLength(3);
  });

  it('finds where a behaviour that draws random numbers differs', () => {
    let calls = 0;
    const random: Behaviour<string, string> = (events) =>
      new Observable((subscriber) => {
        const run = calls++;
        return events.subscribe((event) => {
          if (event.type === 'connectionMade') subscriber.next(writeCommand(event.id, `${run}`));
        });
      });
    const report = checkDeterminism(random, log, 3);
    expect(report.deterministic).toBe(false);
    expect(report.difference).toEqual({
      run: 1,
      index: 0,
      expected: JSON.stringify(writeCommand(id(1, 1), '0')),
      actual: JSON.stringify(writeCommand(id(1, 1), '1')),
    });
  });
});

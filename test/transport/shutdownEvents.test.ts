/**
 * The server-level events, `connectionRefused` and `shuttingDown`, carry no id: every built-in
 * behaviour operator passes them on untouched, in place, and adds nothing for them.
 */
import { filter, type OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  broadcast,
  closeOn,
  countConnections,
  echo,
  greet,
  isConnectionEvent,
  protocol,
  ProxyProtocolError,
  type BehaviourItem,
  type ConnectionRefused,
  type ShuttingDown,
} from 'rxnet';
import { data, lost, made, observableMatcher } from 'rxnet/testing';

const refused: ConnectionRefused = {
  type: 'connectionRefused',
  remote: { _tag: 'TcpAddress', hostname: '127.0.0.1', port: 50000, family: 'IPv4' },
  error: new ProxyProtocolError('not a PROXY header'),
};
const shuttingDown: ShuttingDown = { type: 'shuttingDown', deadline: 10_000 };

type Op = OperatorFunction<BehaviourItem, unknown>;
const operators: [string, Op][] = [
  ['countConnections()', countConnections() as Op],
  ['greet()', greet(() => 'hello') as Op],
  ['closeOn()', closeOn((line) => line === 'close') as Op],
  ['broadcast()', broadcast() as Op],
  ['echo()', echo() as Op],
  ['echo({ thenClose: true })', echo({ thenClose: true }) as Op],
  ['protocol()', protocol<BehaviourItem, unknown>(({ frames$ }) => frames$) as Op],
];

describe('behaviour operators', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it.each(operators)(
    '%s passes connectionRefused and shuttingDown through untouched, in place, adding nothing',
    (_, op) => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const values = {
          m: made(1),
          n: made(2),
          r: refused,
          d: data(1, 'hi'),
          s: shuttingDown,
          l: lost(1),
        };
        const events = hot<BehaviourItem>('     -m-n-r-d-s-l-|', values);
        const withoutThem = hot<BehaviourItem>('-m-n---d---l-|', values);
        const subs = '                         ^------------!';
        const serverLevel = '                  -----r---s---|';
        const output = events.pipe(op);
        expectObservable(
          output.pipe(filter((item) => item === refused || item === shuttingDown)),
        ).toBe(serverLevel, values);
        // Everything else is what the operator makes of the same events without them.
        expectObservable(
          output.pipe(filter((item) => item !== refused && item !== shuttingDown)),
        ).toEqual(withoutThem.pipe(op));
        // Once per expectation above.
        expectSubscriptions(events.subscriptions).toBe([subs, subs]);
      });
    },
  );

  it('keeps server-level events out of isConnectionEvent', () => {
    expect(isConnectionEvent(refused)).toBe(false);
    expect(isConnectionEvent(shuttingDown)).toBe(false);
    expect(isConnectionEvent(made(1))).toBe(true);
  });
});

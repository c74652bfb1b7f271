import { filter, map, mergeMap, type Observable, throwError, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ConnectionLostError } from '../../src/errors';
import { broadcast } from '../../src/operators/broadcast';
import { closeOn } from '../../src/operators/closeOn';
import { countConnections } from '../../src/operators/countConnections';
import { echo } from '../../src/operators/echo';
import { greet } from '../../src/operators/greet';
import { close, data, lost, made, write } from '../../src/testing/events';
import { observableMatcher } from '../../src/testing/observableMatcher';
import { isServerCommand, onlyCommands, testBehaviour } from '../../src/testing/testBehaviour';
import type { Behaviour, ServerEvent } from '../../src/types';

type Event = ServerEvent<string>;

const echoBehaviour: Behaviour<string, string> = (events) => events.pipe(echo());

const spreadBehaviour: Behaviour<string, string> = (events) =>
  events.pipe(
    countConnections(),
    greet((event) => `welcome, you are number ${event.count}\n`),
    closeOn((line) => line === 'close'),
    broadcast(),
  );

describe('testBehaviour', () => {
  describe('toEmitCommands', () => {
    it('passes when the commands match, ignoring pass-through events', () => {
      testBehaviour(echoBehaviour, {
        events: '-m-d-l-',
        values: { m: made(1), d: data(1, 'hi'), l: lost(1) },
      }).toEmitCommands('---w---', { w: write(1, 'hi') });
    });

    it('fails when a command differs', () => {
      expect(() =>
        testBehaviour(echoBehaviour, {
          events: '-m-d-',
          values: { m: made(1), d: data(1, 'hi') },
        }).toEmitCommands('---w-', { w: write(1, 'ho') }),
      ).toThrow();
    });

    it('fails when a command comes at another frame', () => {
      expect(() =>
        testBehaviour(echoBehaviour, {
          events: '-m-d-',
          values: { m: made(1), d: data(1, 'hi') },
        }).toEmitCommands('----w', { w: write(1, 'hi') }),
      ).toThrow();
    });

    it('runs a whole Spread behaviour: greetings, relays and close', () => {
      testBehaviour(spreadBehaviour, {
        events: '-a-b-c-d-e-f-',
        values: {
          a: made(1),
          b: made(2),
          c: data(1, 'hello'),
          d: data(2, 'close'),
          e: data(2, 'ignored'),
          f: lost(2),
        },
      }).toEmitCommands('-g-h-w-x-----', {
        g: write(1, 'welcome, you are number 1\n'),
        h: write(2, 'welcome, you are number 2\n'),
        w: write([2], 'hello'),
        x: close(2),
      });
    });

    it('compares a typed error by name, code and message', () => {
      const failing: Behaviour<string, string> = (events) =>
        events.pipe(
          mergeMap(() => throwError(() => new ConnectionLostError('gone', { cause: 1 }))),
        );
      testBehaviour(failing, { events: '--m', values: { m: made(1) } }).toEmitCommands(
        '--#',
        undefined,
        new ConnectionLostError('gone'),
      );
    });

    it('runs timers of the default scheduler in virtual time', () => {
      const later: Behaviour<string, string> = (events) =>
        events.pipe(
          filter((event) => event.type === 'connectionMade'),
          mergeMap((event) => timer(5000).pipe(map(() => write(event.id, 'late')))),
        );
      testBehaviour(later, { events: 'm', values: { m: made(1) } }).toEmitCommands('5000ms w', {
        w: write(1, 'late'),
      });
    });
  });

  describe('toEmit', () => {
    it('asserts events and commands together', () => {
      testBehaviour(echoBehaviour, {
        events: '-m-d-',
        values: { m: made(1), d: data(1, 'hi') },
      }).toEmit('-m-(dw)', { m: made(1), d: data(1, 'hi'), w: write(1, 'hi') });
    });
  });

  describe('unsubscribe', () => {
    it('stops the behaviour at the unsubscription marble', () => {
      testBehaviour(echoBehaviour, {
        events: '-a-b-c-',
        values: { a: data(1, 'one'), b: data(1, 'two'), c: data(1, 'three') },
        unsubscribe: '----!',
      }).toEmitCommands('-x-y-', { x: write(1, 'one'), y: write(1, 'two') });
    });
  });

  describe('scheduler', () => {
    it('runs on the scheduler it is given', () => {
      const assertions: string[] = [];
      const scheduler = new TestScheduler((actual, expected) => {
        assertions.push('called');
        observableMatcher(actual, expected);
      });
      testBehaviour(echoBehaviour, {
        events: 'd',
        values: { d: data(1, 'x') },
        scheduler,
      }).toEmitCommands('w', {
        w: write(1, 'x'),
      });
      expect(assertions).toEqual(['called']);
    });
  });
});

describe('onlyCommands', () => {
  it('keeps write, close and abort and drops events', () => {
    new TestScheduler(observableMatcher).run(({ cold, expectObservable }) => {
      const output: Observable<
        Event | ReturnType<typeof write<string>> | ReturnType<typeof close>
      > = cold('-m-d-w-c-l-|', {
        m: made(1),
        d: data(1, 'x'),
        w: write(1, 'x'),
        c: close(1),
        l: lost(1),
      });
      expectObservable(output.pipe(onlyCommands())).toBe('-----w-c---|', {
        w: write(1, 'x'),
        c: close(1),
      });
    });
  });
});

describe('isServerCommand', () => {
  it('tells commands from events', () => {
    expect(
      [
        made(1),
        data(1, 'x'),
        lost(1),
        write(1, 'x'),
        close(1),
        { type: 'abort', id: 1 } as const,
      ].map(isServerCommand),
    ).toEqual([false, false, false, true, true, true]);
  });
});

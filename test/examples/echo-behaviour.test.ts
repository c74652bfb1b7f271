import { filter } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { Address, ServerCommand, ServerEvent } from 'rxnet';
import { close, data, lost, made, observableMatcher, readLost, write } from 'rxnet/testing';
import { echoBehaviour, type EchoBehaviourOptions } from '../../examples/echo-server';

type Item = ServerCommand | ServerEvent<unknown>;
const isCommand = (item: Item): item is ServerCommand =>
  item.type === 'write' || item.type === 'close' || item.type === 'abort';

const HOST: Address = { _tag: 'TcpAddress', hostname: '127.0.0.1', port: 8888, family: 'IPv4' };
const PEER: Address = { _tag: 'TcpAddress', hostname: '127.0.0.1', port: 50000, family: 'IPv4' };
/** connectionMade with TCP addresses, so the seed's Host and Peer lines have something to print. */
const madeTcp = (id: number): ServerEvent<never> => ({ ...made(id), local: HOST, remote: PEER });

let testScheduler: TestScheduler;
beforeEach(() => {
  testScheduler = new TestScheduler(observableMatcher);
});

/** Runs the behaviour on hot marbles; asserts its commands and returns what it logged. */
function expectCommands(
  options: Omit<EchoBehaviourOptions, 'log'>,
  events: string,
  eventValues: Record<string, ServerEvent<Buffer | string>>,
  commands: string,
  commandValues: Record<string, ServerCommand>,
): string[] {
  const logged: string[] = [];
  testScheduler.run(({ hot, expectObservable }) => {
    const behaviour = echoBehaviour({ ...options, log: (line) => logged.push(line) });
    expectObservable(behaviour(hot(events, eventValues)).pipe(filter(isCommand))).toBe(
      commands,
      commandValues,
    );
  });
  return logged;
}

describe('echoBehaviour', () => {
  describe('framing: raw (the seed)', () => {
    it('echoes the first chunk, closes, ignores what follows, and prints the seed lines', () => {
      const logged = expectCommands(
        {},
        'a-b-c-d-',
        { a: madeTcp(1), b: data(1, 'hi'), c: data(1, 'late'), d: readLost(1) },
        '--(wx)--',
        { w: write(1, 'hi'), x: close(1) },
      );
      expect(logged).toEqual([
        '> New connection made,from client!',
        '> Now conn=1',
        '> Data from client: hi',
        ">Host:  IPv4Address(type='TCP', host='127.0.0.1', port=8888)",
        ">Peer:  IPv4Address(type='TCP', host='127.0.0.1', port=50000)",
      ]);
    });

    it('closes a connection whose client sends FIN before any data', () => {
      expectCommands({}, 'a-b-', { a: madeTcp(1), b: readLost(1) }, '--x-', { x: close(1) });
    });
  });

  describe('framing: lines', () => {
    it('echoes each line with a newline and closes at the FIN, after the last line', () => {
      expectCommands(
        { framing: 'lines' },
        'a-b-c-d-',
        { a: madeTcp(1), b: data(1, 'one'), c: data(1, 'last, unterminated'), d: readLost(1) },
        '--v-w-x-',
        { v: write(1, 'one\n'), w: write(1, 'last, unterminated\n'), x: close(1) },
      );
    });
  });

  describe('persistent', () => {
    it('echoes every chunk and closes only at the FIN, logging byte counts instead of the data', () => {
      const logged = expectCommands(
        { persistent: true },
        'a-b-c-d-e-',
        {
          a: madeTcp(1),
          b: data(1, Buffer.from('one')),
          c: data(1, Buffer.from('three')),
          d: readLost(1),
          e: lost(1),
        },
        '--v-w-x---',
        { v: write(1, Buffer.from('one')), w: write(1, Buffer.from('three')), x: close(1) },
      );
      expect(logged).toEqual([
        '> New connection made,from client!',
        '> Now conn=1',
        '> Client finished sending after 8 bytes',
        '> Connection closed: done',
      ]);
    });

    it('keeps the connections apart', () => {
      expectCommands(
        { persistent: true },
        'ab-c-d-e-',
        {
          a: madeTcp(1),
          b: madeTcp(2),
          c: data(2, Buffer.from('two')),
          d: readLost(1),
          e: data(2, Buffer.from('more')),
        },
        '---w-x-y-',
        { w: write(2, Buffer.from('two')), x: close(1), y: write(2, Buffer.from('more')) },
      );
    });
  });
});

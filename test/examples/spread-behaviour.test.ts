import { filter, from, lastValueFrom, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { ServerCommand, ServerEvent } from 'rxnet';
import { close, data, lost, made, observableMatcher, readLost, write } from 'rxnet/testing';
import {
  SPREAD_HALF_OPEN_TIMEOUT,
  spreadBehaviour,
  spreadDecoder,
  spreadGreeting,
  type SpreadBehaviourOptions,
} from '../../examples/spread-server';

type Item = ServerCommand | ServerEvent<unknown>;
const isCommand = (item: Item): item is ServerCommand =>
  item.type === 'write' || item.type === 'close' || item.type === 'abort';

let testScheduler: TestScheduler;
beforeEach(() => {
  testScheduler = new TestScheduler(observableMatcher);
});

/** Runs the behaviour on hot marbles; asserts its commands and returns what it logged. */
function expectCommands(
  options: Omit<SpreadBehaviourOptions, 'log'>,
  events: string,
  eventValues: Record<string, ServerEvent<string>>,
  commands: string,
  commandValues: Record<string, ServerCommand>,
): string[] {
  const logged: string[] = [];
  testScheduler.run(({ hot, expectObservable }) => {
    const behaviour = spreadBehaviour({ ...options, log: (line) => logged.push(line) });
    expectObservable(behaviour(hot(events, eventValues)).pipe(filter(isCommand))).toBe(
      commands,
      commandValues,
    );
  });
  return logged;
}

describe('spreadBehaviour', () => {
  describe('default mode', () => {
    it('greets each connection with the live count and logs the count', () => {
      const logged = expectCommands(
        {},
        '-a-b-c-d-',
        { a: made(1), b: made(2), c: lost(1), d: made(3) },
        '-x-y---z-',
        {
          x: write(1, spreadGreeting(1)),
          y: write(2, spreadGreeting(2)),
          z: write(3, spreadGreeting(2)),
        },
      );
      expect(logged).toEqual([
        'new connect: 1',
        'new connect: 2',
        'lost connect: 1',
        'new connect: 2',
      ]);
      expect(spreadGreeting(1)).toBe('欢迎来到Spread Site, 你是第1个客户端用户!\n');
    });

    it('relays data to every other connection in one write, not to the sender, and prints it', () => {
      const logged = expectCommands(
        {},
        'abc-d-e-',
        { a: made(1), b: made(2), c: made(3), d: data(2, 'hi\n'), e: data(3, 'yo') },
        'xyz-w-v-',
        {
          x: write(1, spreadGreeting(1)),
          y: write(2, spreadGreeting(2)),
          z: write(3, spreadGreeting(3)),
          w: write([1, 3], 'hi\n'),
          v: write([1, 2], 'yo'),
        },
      );
      expect(logged.slice(3)).toEqual(['hi', 'yo']);
    });

    it('closes only the connection that sends close, with or without a line ending, and relays nothing after it', () => {
      const logged = expectCommands(
        {},
        'ab-c-d-e-f-',
        {
          a: made(1),
          b: made(2),
          c: data(1, 'close\n'),
          d: data(1, 'late'),
          e: lost(1),
          f: data(2, 'still here'),
        },
        'xy-c-------',
        { x: write(1, spreadGreeting(1)), y: write(2, spreadGreeting(2)), c: close(1) },
      );
      expect(logged).toEqual(['new connect: 1', 'new connect: 2', 'lost connect: 1', 'still here']);
    });

    it('treats a close split across chunks as data, as raw chunks are compared one by one', () => {
      expectCommands(
        {},
        'ab-c-d-',
        { a: made(1), b: made(2), c: data(1, 'clo'), d: data(1, 'se') },
        'xy-c-d-',
        {
          x: write(1, spreadGreeting(1)),
          y: write(2, spreadGreeting(2)),
          c: write([2], 'clo'),
          d: write([2], 'se'),
        },
      );
    });
  });

  describe("the client's FIN", () => {
    it.each(['broadcast', 'book'] as const)(
      'is no command in %s mode: the server option ends the connection, as the seed has no code for it',
      (mode) => {
        // start() serves with halfOpenTimeout: SPREAD_HALF_OPEN_TIMEOUT, so the pipeline stays the seed's.
        expect(SPREAD_HALF_OPEN_TIMEOUT).toBe(0);
        const logged = expectCommands(
          { mode },
          'ab-c-d-',
          { a: made(1), b: made(2), c: readLost(2), d: lost(2) },
          'xy-----',
          { x: write(1, spreadGreeting(1)), y: write(2, spreadGreeting(2)) },
        );
        expect(logged).toEqual(['new connect: 1', 'new connect: 2', 'lost connect: 1']);
      },
    );
  });

  describe('mode: book', () => {
    it('forwards an exact close to every other connection and closes the sender', () => {
      const logged = expectCommands(
        { mode: 'book' },
        'abc-d-e-',
        { a: made(1), b: made(2), c: made(3), d: data(2, 'close'), e: lost(2) },
        'xyz-(cw)-',
        {
          x: write(1, spreadGreeting(1)),
          y: write(2, spreadGreeting(2)),
          z: write(3, spreadGreeting(3)),
          c: close(2),
          w: write([1, 3], 'close'),
        },
      );
      expect(logged).toEqual([
        'new connect: 1',
        'new connect: 2',
        'new connect: 3',
        'lost connect: 2',
      ]);
    });

    it('prints other data, close with a newline included, without relaying or closing', () => {
      const logged = expectCommands(
        { mode: 'book' },
        'ab-c-d-',
        { a: made(1), b: made(2), c: data(1, 'hello'), d: data(1, 'close\n') },
        'xy-----',
        { x: write(1, spreadGreeting(1)), y: write(2, spreadGreeting(2)) },
      );
      expect(logged.slice(2)).toEqual(['hello', 'close\n']);
    });

    it('recognises close in a Buffer chunk', () => {
      const logged: string[] = [];
      testScheduler.run(({ hot, expectObservable }) => {
        const events = hot<ServerEvent<Buffer>>('ab-c-', {
          a: made(1),
          b: made(2),
          c: data(1, Buffer.from('close')),
        });
        expectObservable(
          spreadBehaviour({ mode: 'book', log: (line) => logged.push(line) })(events).pipe(
            filter(isCommand),
          ),
        ).toBe('xy-(cw)-', {
          x: write(1, spreadGreeting(1)),
          y: write(2, spreadGreeting(2)),
          c: close(1),
          w: write([2], Buffer.from('close')),
        });
      });
    });
  });

  describe('framing: lines', () => {
    it('relays each line with a newline and closes on the line close', () => {
      const logged = expectCommands(
        { framing: 'lines' },
        'ab-c-d-e-',
        { a: made(1), b: made(2), c: data(1, 'one'), d: data(2, 'close'), e: data(2, 'after') },
        'xy-c-d---',
        {
          x: write(1, spreadGreeting(1)),
          y: write(2, spreadGreeting(2)),
          c: write([2], 'one\n'),
          d: close(2),
        },
      );
      expect(logged.slice(2)).toEqual(['one']);
    });
  });
});

describe('spreadDecoder', () => {
  describe('lines', () => {
    it('finds close as a line however it is chunked, with \\n or \\r\\n', async () => {
      const decode = spreadDecoder('lines')!;
      const input = 'hello\r\nclo';
      const chunks = [Buffer.from(input), Buffer.from('se\nlast')];
      await expect(lastValueFrom(from(chunks).pipe(decode, toArray()))).resolves.toEqual([
        'hello',
        'close',
        'last',
      ]);
    });
  });

  describe('raw', () => {
    it('is no decoder at all', () => {
      expect(spreadDecoder('raw')).toBeUndefined();
    });
  });
});

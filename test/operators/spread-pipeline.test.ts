import { tap } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  broadcast,
  closeOn,
  countConnections,
  greet,
  lineEquals,
  type Behaviour,
} from 'rxnet';
import { close, data, lost, made, observableMatcher, onlyCommands, write } from 'rxnet/testing';

const welcome = (n: number): string => `欢迎来到Spread Site, 你是第${n}个客户端用户!\n`;

/** The Spread seed server as a pipeline; `log` stands in for its `print` statements. */
function spread(log: string[]): Behaviour<string, string> {
  return (events) =>
    events.pipe(
      countConnections(),
      tap((event) => {
        if (event.type === 'connectionMade') log.push(`new connect: ${event.count}`);
        if (event.type === 'connectionLost') log.push(`lost connect: ${event.count}`);
      }),
      greet(({ count }) => welcome(count)),
      closeOn(lineEquals('close')),
      tap((item) => {
        if (item.type === 'data') log.push(item.data);
      }),
      broadcast(),
    );
}

describe('the Spread server pipeline', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('countConnections, greet, closeOn, broadcast', () => {
    it('greets, relays to every other client, closes on close, and counts down on disconnect', () => {
      const log: string[] = [];
      testScheduler.run(({ cold, expectObservable }) => {
        const inputs = {
          a: made(1),
          b: made(2),
          c: made(3),
          d: data(1, 'hello'),
          e: data(2, 'close\n'),
          f: data(2, 'sent after close'),
          g: lost(2),
          h: data(3, 'hi'),
          i: made(4),
          j: data(4, 'new here'),
        };
        const outputs = {
          A: write(1, welcome(1)),
          B: write(2, welcome(2)),
          C: write(3, welcome(3)),
          D: write([2, 3], 'hello'),
          E: close(2),
          H: write([1], 'hi'),
          I: write(4, welcome(3)),
          J: write([1, 3], 'new here'),
        };
        const events = cold(' -a-b-c-d-e-f-g-h-i-j-|', inputs);
        const expected = '   -A-B-C-D-E-----H-I-J-|';

        expectObservable(spread(log)(events).pipe(onlyCommands())).toBe(expected, outputs);
      });

      expect(log).toEqual([
        'new connect: 1',
        'new connect: 2',
        'new connect: 3',
        'hello',
        'lost connect: 2',
        'hi',
        'new connect: 3',
        'new here',
      ]);
    });

    it('greets a client after its predecessors left with the live count, as the seed does', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const inputs = { a: made(1), b: lost(1), c: made(2) };
        const outputs = { A: write(1, welcome(1)), C: write(2, welcome(1)) };
        expectObservable(spread([])(cold('abc|', inputs)).pipe(onlyCommands())).toBe('A-C|', outputs);
      });
    });

    it('closes only the client that sent close, and relays nothing it sends after', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const inputs = {
          a: made(1),
          b: made(2),
          c: made(3),
          d: data(1, 'close\r\n'),
          e: data(1, 'close'),
          f: data(1, 'sent after close'),
          g: data(2, 'still here'),
        };
        const outputs = {
          A: write(1, welcome(1)),
          B: write(2, welcome(2)),
          C: write(3, welcome(3)),
          x: close(1),
          G: write([3], 'still here'),
        };
        const events = cold(' -(abc)-d-e-f-g-|', inputs);
        const expected = '   -(ABC)-x-----G-|';

        expectObservable(spread([])(events).pipe(onlyCommands())).toBe(expected, outputs);
      });
    });

    it('relays a close split across chunks, which only line framing upstream can recognise', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const inputs = {
          a: made(1),
          b: made(2),
          c: data(1, 'clo'),
          d: data(1, 'se\n'),
        };
        const outputs = {
          A: write(1, welcome(1)),
          B: write(2, welcome(2)),
          C: write([2], 'clo'),
          D: write([2], 'se\n'),
        };
        const events = cold(' ab-c-d-|', inputs);
        const expected = '   AB-C-D-|';

        expectObservable(spread([])(events).pipe(onlyCommands())).toBe(expected, outputs);
      });
    });
  });
});

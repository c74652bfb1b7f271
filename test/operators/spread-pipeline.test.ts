import fc from 'fast-check';
import { from, tap } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  broadcast,
  closeOn,
  countConnections,
  greet,
  lineEquals,
  type Behaviour,
  type ConnectionId,
  type ServerCommand,
  type ServerEvent,
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

/** The seed's Spreader, written imperatively as Twisted runs it: the reference for the pipeline. */
function seedModel(events: readonly ServerEvent<string>[]): ServerCommand<string>[] {
  const commands: ServerCommand<string>[] = [];
  const clients: ConnectionId[] = [];
  const closing = new Set<ConnectionId>();
  for (const event of events) {
    if (event.type === 'connectionMade') {
      clients.push(event.id);
      commands.push(write(event.id, welcome(clients.length + closing.size)));
    } else if (event.type === 'connectionLost') {
      if (closing.delete(event.id)) continue;
      clients.splice(clients.indexOf(event.id), 1);
    } else if (event.type === 'data' && !closing.has(event.id)) {
      if (['close', 'close\n', 'close\r\n'].includes(event.data)) {
        closing.add(event.id);
        clients.splice(clients.indexOf(event.id), 1);
        commands.push(close(event.id));
      } else {
        const others = clients.filter((id) => id !== event.id);
        if (others.length > 0) commands.push(write(others, event.data));
      }
    }
  }
  return commands;
}

/** Random valid event streams: ids are made before they send, and are lost at most once. */
const eventStreams = fc
  .array(
    fc.tuple(
      fc.nat(5),
      fc.constantFrom('made', 'data', 'close', 'lost'),
      fc.constantFrom('hi', 'close\n', 'close\r\n', 'close\r', 'x'),
    ),
    { maxLength: 60 },
  )
  .map((steps) => {
    const events: ServerEvent<string>[] = [];
    const open = new Set<ConnectionId>();
    let nextId = 1;
    for (const [pick, action, text] of steps) {
      const ids = [...open];
      const id = ids[pick % Math.max(ids.length, 1)];
      if (action === 'made' || id === undefined) {
        open.add(nextId);
        events.push(made(nextId++));
      } else if (action === 'lost') {
        open.delete(id);
        events.push(lost(id));
      } else {
        events.push(data(id, action === 'close' ? 'close' : text));
      }
    }
    return events;
  });

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
        expectObservable(spread([])(cold('abc|', inputs)).pipe(onlyCommands())).toBe(
          'A-C|',
          outputs,
        );
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

    it('gives the same commands as the seed, run imperatively, for any sequence of events', () => {
      fc.assert(
        fc.property(eventStreams, (events) => {
          const commands: ServerCommand<string>[] = [];
          spread([])(from(events))
            .pipe(onlyCommands())
            .subscribe((command) => commands.push(command));
          expect(commands).toEqual(seedModel(events));
        }),
        { numRuns: 500 },
      );
    });
  });
});

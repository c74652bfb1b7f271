import { from, tap } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  countConnections,
  echo,
  type Behaviour,
  type ServerCommand,
  type ServerEvent,
} from 'rxnet';
import { close, data, lost, made, observableMatcher, onlyCommands, write } from 'rxnet/testing';

/** The echo seed server as a pipeline; `log` stands in for its `print` statements. */
function echoServer(log: string[]): Behaviour<string, string> {
  return (events) =>
    events.pipe(
      countConnections(),
      tap((event) => {
        if (event.type === 'connectionMade') log.push(`> Now conn=${event.count}`);
      }),
      echo({ thenClose: true }),
      tap((item) => {
        if (item.type === 'data') log.push(`> Data from client: ${item.data}`);
        if (item.type === 'connectionLost') log.push(`> Now conn=${item.count}`);
      }),
    );
}

describe('the echo server pipeline', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('countConnections, echo({ thenClose: true })', () => {
    it('echoes the first message of each client, then closes it, and counts it out when it is gone', () => {
      const log: string[] = [];
      testScheduler.run(({ cold, expectObservable }) => {
        const hello = '> To Server:Hello server';
        const inputs = {
          a: made(1),
          b: made(2),
          c: data(2, hello),
          d: data(1, hello),
          e: data(1, 'late'),
          f: lost(2),
          g: lost(1),
        };
        const outputs = {
          C: write(2, hello),
          x: close(2),
          D: write(1, hello),
          y: close(1),
        };
        const events = cold(' -a-b-c----d----e-f-g-|', inputs);
        const expected = '   -----(Cx)-(Dy)-------|';

        expectObservable(echoServer(log)(events).pipe(onlyCommands())).toBe(expected, outputs);
      });

      expect(log).toEqual([
        '> Now conn=1',
        '> Now conn=2',
        '> Data from client: > To Server:Hello server',
        '> Data from client: > To Server:Hello server',
        '> Now conn=1',
        '> Now conn=0',
      ]);
    });

    it('answers ten clients that connect at once, each once, and counts up to ten and back to zero', () => {
      const log: string[] = [];
      const ids = Array.from({ length: 10 }, (_, i) => i + 1);
      const events = new Array<ServerEvent<string>>().concat(
        ids.map(made),
        ids.map((id) => data(id, `hello from ${id}`)),
        ids.map((id) => lost(id)),
      );
      const commands: ServerCommand<string>[] = [];

      echoServer(log)(from(events))
        .pipe(onlyCommands())
        .subscribe((command) => commands.push(command));

      expect(commands).toEqual(ids.flatMap((id) => [write(id, `hello from ${id}`), close(id)]));
      const counts = log
        .filter((line) => line.startsWith('> Now conn='))
        .map((line) => Number(line.slice('> Now conn='.length)));
      expect(counts).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    });
  });
});

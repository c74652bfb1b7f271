import { map, scan, takeWhile, type Observable } from 'rxjs';
import { ProtocolError, protocol, type Behaviour, type ProtocolContext } from 'rxnet';
import { abort, close, data, made, testBehaviour, testProtocol, write } from 'rxnet/testing';

/** Adds up the numbers one connection sends, answering each with its total; `bye` hangs up. */
function tally(conn: ProtocolContext<string>): Observable<string> {
  return conn.frames$.pipe(
    takeWhile((line) => line !== 'bye'),
    map((line) => {
      const n = Number(line);
      if (line === '' || !Number.isFinite(n)) throw new Error(`not a number: ${line}`);
      return n;
    }),
    scan((total, n) => total + n, 0),
    map((total) => `total ${total}`),
  );
}

describe('tally, one connection', () => {
  it('answers each number with the total so far, and completes at bye', () => {
    testProtocol(tally, {
      frames: '-a-b-c-d-',
      values: { a: '2', b: '3', c: 'bye', d: '4' },
    }).toEmit('-x-y-|', { x: 'total 2', y: 'total 5' });
  });

  it('fails at a line that is not a number', () => {
    testProtocol(tally, {
      frames: '-a-b-',
      values: { a: '2', b: 'two' },
    }).toEmit('-x-#', { x: 'total 2' }, new Error('not a number: two'));
  });
});

const tallies: Behaviour<string, string> = (events) => events.pipe(protocol(tally));

describe('tallies, a server', () => {
  it('keeps a total per connection, closes at bye, and aborts only the one that fails', () => {
    testBehaviour(tallies, {
      events: '-m-n-a-b-c-d-e-',
      values: {
        m: made(1),
        n: made(2),
        a: data(1, '2'),
        b: data(2, '10'),
        c: data(1, '3'),
        d: data(2, 'ten'),
        e: data(1, 'bye'),
      },
    }).toEmitCommands('-----w-x-y-z-c-', {
      w: write(1, 'total 2'),
      x: write(2, 'total 10'),
      y: write(1, 'total 5'),
      z: abort(2, new ProtocolError({ cause: new Error('not a number: ten') })),
      c: close(1),
    });
  });
});

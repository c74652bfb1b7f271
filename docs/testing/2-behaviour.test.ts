import { broadcast, closeOn, countConnections, greet, type Behaviour } from 'rxnet';
import { close, data, lost, made, testBehaviour, write } from 'rxnet/testing';

/** The Spread server: number and greet each client, close on `close`, relay the rest to the others. */
const spread: Behaviour<string, string> = (events) =>
  events.pipe(
    countConnections(),
    greet((event) => `you are number ${event.count}\n`),
    closeOn((line) => line === 'close'),
    broadcast(),
  );

describe('spread', () => {
  it('greets, relays to the others, and closes a client that sends close', () => {
    testBehaviour(spread, {
      events: '-a-b-c-d-e-f-',
      values: {
        a: made(1),
        b: made(2),
        c: data(1, 'hi all'),
        d: data(2, 'close'),
        e: data(2, 'too late'),
        f: lost(2),
      },
    }).toEmitCommands('-w-x-y-z-----', {
      w: write(1, 'you are number 1\n'),
      x: write(2, 'you are number 2\n'),
      y: write([2], 'hi all'),
      z: close(2),
    });
  });
});

import { testProtocol } from 'rxnet/testing';
import { calculator } from './3-calculator';

describe('calculator', () => {
  it('answers in the order asked, even when a later answer is ready first', () => {
    testProtocol(calculator(), {
      frames: '-a-b-------',
      values: { a: 'wait 5', b: 'add 1 2' },
    }).toEmit('------(xy)-', { x: 'waited 5', y: '3' });
  });

  it('answers a request it cannot do, or that takes too long, with an error, and goes on', () => {
    testProtocol(calculator(), {
      frames: '-a-b 2000ms c',
      values: { a: 'mul 2 3', b: 'wait 5000', c: 'add 2 2' },
    }).toEmit('-x- 1000ms y 1000ms z', {
      x: 'error: cannot mul 2 3',
      y: 'error: Request timed out after 1000 ms',
      z: '4',
    });
  });
});

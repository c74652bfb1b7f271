import { TestScheduler } from 'rxjs/testing';
import { greet } from 'rxnet';
import { made, observableMatcher, write } from 'rxnet/testing';

describe('greet', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('writes the greeting right after each connectionMade', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const events = hot('-a----b-', { a: made(1), b: made(2) });
      expectObservable(events.pipe(greet('hello\n'))).toBe('-(aw)-(bx)', {
        a: made(1),
        w: write(1, 'hello\n'),
        b: made(2),
        x: write(2, 'hello\n'),
      });
    });
  });
});

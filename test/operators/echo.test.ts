import { Observable, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { echo, type ServerEvent } from 'rxnet';
import { close, data, lost, made, observableMatcher, readLost, write } from 'rxnet/testing';

describe('echo', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('()', () => {
    it('writes each message back to the connection that sent it', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = {
          a: made(1),
          b: data(1, 'hi'),
          c: data(1, 'yo'),
          d: lost(1),
          w: write(1, 'hi'),
          v: write(1, 'yo'),
        };
        const e1 = cold(' -a-b----c----d-|', values);
        const e1subs = '  ^--------------!';
        const expected = '-a-(bw)-(cv)-d-|';

        expectObservable(e1.pipe(echo())).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('closes a connection once its peer has sent FIN, as the marble diagram shows', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: made(1),
          b: data(1, 'hi'),
          c: data(1, 'yo'),
          f: readLost(1),
          d: lost(1),
          w: write(1, 'hi'),
          v: write(1, 'yo'),
          x: close(1),
        };
        const e1 = cold(' -a-b----c----f----d-|', values);
        const expected = '-a-(bw)-(cv)-(fx)-d-|';

        expectObservable(e1.pipe(echo())).toBe(expected, values);
      });
    });

    it('closes each half-closed connection once, even after thenClose closed it', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = { b: data(1, 'hi'), f: readLost(1), w: write(1, 'hi'), x: close(1) };
        const e1 = cold(' b----f|', values);
        const expected = '(bwx)f|';
        expectObservable(e1.pipe(echo({ thenClose: true }))).toBe(expected, values);
      });
    });

    it('answers each connection on its own', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: data(1, 'one'),
          b: data(2, 'two'),
          w: write(1, 'one'),
          v: write(2, 'two'),
        };
        expectObservable(cold('a---b---|', values).pipe(echo())).toBe('(aw)(bv)|', values);
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<ServerEvent<string>>(' |');
        const e1subs = '  (^!)';
        const expected = '|';

        expectObservable(e1.pipe(echo())).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<ServerEvent<string>>(' -');
        const e1subs = '  ^';
        const expected = '-';

        expectObservable(e1.pipe(echo())).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = { b: data(1, 'hi'), w: write(1, 'hi') };
        const e1 = cold(' -b----#', values, new Error('boom'));
        const e1subs = '  ^-----!';
        const expected = '-(bw)-#';

        expectObservable(e1.pipe(echo())).toBe(expected, values, new Error('boom'));
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const values = { a: data(1, 'hi'), b: data(1, 'yo'), w: write(1, 'hi') };
        const e1 = hot('  -a----b-|', values);
        const unsub = '   -----!   ';
        const e1subs = '  ^----!   ';
        const expected = '-(aw)    ';

        expectObservable(e1.pipe(echo()), unsub).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops listening to a synchronous source when unsubscribed', () => {
      const sideEffects: number[] = [];
      const synchronousObservable = new Observable<ServerEvent<string>>((subscriber) => {
        for (let i = 1; !subscriber.closed && i <= 10; i++) {
          sideEffects.push(i);
          subscriber.next(data(1, `${i}`));
        }
      });

      // Each message gives two values, itself and its echo: three values end inside the second.
      synchronousObservable.pipe(echo(), take(3)).subscribe(() => {
        /* noop */
      });

      expect(sideEffects).toEqual([1, 2]);
    });
  });

  describe('({ thenClose })', () => {
    it('echoes the first message of a connection, closes it, and drops what it sends after', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: made(1),
          b: data(1, 'hi'),
          c: data(1, 'more'),
          d: lost(1),
          w: write(1, 'hi'),
          x: close(1),
        };
        const e1 = cold(' -a-b-----c-d-|', values);
        const expected = '-a-(bwx)---d-|';

        expectObservable(e1.pipe(echo({ thenClose: true }))).toBe(expected, values);
      });
    });

    it('answers every connection once, however they interleave', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: data(1, 'one'),
          b: data(2, 'two'),
          c: data(1, 'again'),
          w: write(1, 'one'),
          x: close(1),
          v: write(2, 'two'),
          y: close(2),
        };
        expectObservable(cold('a----b----c|', values).pipe(echo({ thenClose: true }))).toBe(
          '(awx)(bvy)-|',
          values,
        );
      });
    });

    it('echoes a reused id again once its connectionLost has passed', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: data(1, 'one'),
          b: lost(1),
          c: data(1, 'two'),
          w: write(1, 'one'),
          v: write(1, 'two'),
          x: close(1),
        };
        expectObservable(cold('a----bc----|', values).pipe(echo({ thenClose: true }))).toBe(
          '(awx)b(cvx)|',
          values,
        );
      });
    });
  });
});

import { Observable, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { closeOn, type ServerEvent } from 'rxnet';
import { close, data, lost, made, observableMatcher } from 'rxnet/testing';

const isClose = (s: string): boolean => s === 'close';

describe('closeOn', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('(predicate)', () => {
    it('replaces the matching message with a close command and drops what its connection sends after', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = {
          a: made(1),
          b: data(1, 'hi'),
          c: data(1, 'close'),
          d: data(1, 'more'),
          e: lost(1),
          x: close(1),
        };
        const e1 = cold(' -a-b-c-d-e-|', values);
        const e1subs = '  ^----------!';
        const expected = '-a-b-x---e-|';

        expectObservable(e1.pipe(closeOn(isClose))).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('leaves the other connections alone', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: data(1, 'close'),
          b: data(2, 'hi'),
          c: data(1, 'hi'),
          d: data(2, 'close'),
          x: close(1),
          y: close(2),
        };
        const e1 = cold(' abcd|', values);
        const expected = 'xb-y|';

        expectObservable(e1.pipe(closeOn(isClose))).toBe(expected, values);
      });
    });

    it('closes a connection once, however many matching messages follow', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = { a: data(1, 'close'), b: data(1, 'close'), x: close(1) };
        expectObservable(cold('ab|', values).pipe(closeOn(isClose))).toBe('x-|', values);
      });
    });

    it('delivers again from an id once its connectionLost has passed', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: data(1, 'close'),
          b: lost(1),
          c: made(1),
          d: data(1, 'hi'),
          x: close(1),
        };
        expectObservable(cold('abcd|', values).pipe(closeOn(isClose))).toBe('xbcd|', values);
      });
    });

    it('gives the predicate the id of the sending connection', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = { a: data(1, 'bye'), b: data(2, 'bye'), x: close(2) };
        const closed = cold('ab|', values).pipe(closeOn((_data, id) => id === 2));
        expectObservable(closed).toBe('ax|', values);
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<ServerEvent<string>>(' |');
        const e1subs = '  (^!)';
        const expected = '|';

        expectObservable(e1.pipe(closeOn(isClose))).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<ServerEvent<string>>(' -');
        const e1subs = '  ^';
        const expected = '-';

        expectObservable(e1.pipe(closeOn(isClose))).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = { a: data(1, 'close'), x: close(1) };
        const e1 = cold(' -a-#', values, new Error('boom'));
        const e1subs = '  ^--!';
        const expected = '-x-#';

        expectObservable(e1.pipe(closeOn(isClose))).toBe(expected, values, new Error('boom'));
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('fails with the error the predicate throws', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = { a: made(1), b: data(1, 'hi') };
        const e1 = cold(' -a-b-|', values);
        const e1subs = '  ^--! ';
        const expected = '-a-# ';

        const failing = closeOn<ServerEvent<string>>(() => {
          throw new Error('bad predicate');
        });
        expectObservable(e1.pipe(failing)).toBe(expected, values, new Error('bad predicate'));
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const values = { a: data(1, 'hi'), b: data(1, 'close'), c: data(2, 'close'), x: close(1) };
        const e1 = hot('  -a-b-c-|', values);
        const unsub = '   ----!   ';
        const e1subs = '  ^---!   ';
        const expected = '-a-x    ';

        expectObservable(e1.pipe(closeOn(isClose)), unsub).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops listening to a synchronous source when unsubscribed', () => {
      const sideEffects: number[] = [];
      const synchronousObservable = new Observable<ServerEvent<string>>((subscriber) => {
        for (let i = 1; !subscriber.closed && i <= 10; i++) {
          sideEffects.push(i);
          subscriber.next(data(i, 'close'));
        }
      });

      synchronousObservable.pipe(closeOn(isClose), take(3)).subscribe(() => {
        /* noop */
      });

      expect(sideEffects).toEqual([1, 2, 3]);
    });
  });
});

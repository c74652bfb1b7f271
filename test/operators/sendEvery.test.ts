import { map, Observable, queueScheduler, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { sendEvery } from 'rxnet';
import { observableMatcher } from 'rxnet/testing';

const describeMessage = (index: number, now: number, value: string): string =>
  `${value}${index}@${now}`;

describe('sendEvery', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('(period, message, { count })', () => {
    it('emits count messages per source value, one period apart, from index 0 and the scheduler time', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions, time }) => {
        const period = time('---|');
        const e1 = cold(' -a-----------b------|');
        const e1subs = '  ^-------------------!';
        const expected = '-x--y--z-----u--v--w|';
        const values = { x: 'a0@1', y: 'a1@4', z: 'a2@7', u: 'b0@13', v: 'b1@16', w: 'b2@19' };

        const result = e1.pipe(
          sendEvery(period, describeMessage, { count: 3, scheduler: testScheduler }),
        );
        expectObservable(result).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('ends the current series when the next source value arrives', () => {
      testScheduler.run(({ cold, expectObservable, time }) => {
        const period = time('---|');
        const e1 = cold(' a----b-|');
        const expected = 'x--y-u--v--(w|)';
        const values = { x: 'a0@0', y: 'a1@3', u: 'b0@5', v: 'b1@8', w: 'b2@11' };

        expectObservable(
          e1.pipe(sendEvery(period, describeMessage, { count: 3, scheduler: testScheduler })),
        ).toBe(expected, values);
      });
    });

    it('completes with the source when count is 0', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        expectObservable(
          cold('-a-|').pipe(sendEvery(5, describeMessage, { count: 0, scheduler: testScheduler })),
        ).toBe('---|');
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<string>(' |');
        const e1subs = '  (^!)';
        const expected = '|';

        expectObservable(e1.pipe(sendEvery(5, describeMessage, { scheduler: testScheduler }))).toBe(
          expected,
        );
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<string>(' -');
        const e1subs = '  ^';
        const expected = '-';

        expectObservable(e1.pipe(sendEvery(5, describeMessage, { scheduler: testScheduler }))).toBe(
          expected,
        );
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source, ending the series', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions, time }) => {
        const period = time('--|');
        const e1 = cold(' a----#', undefined, new Error('boom'));
        const e1subs = '  ^----!';
        const expected = 'x-y-z#';

        const result = e1.pipe(sendEvery(period, describeMessage, { scheduler: testScheduler }));
        expectObservable(result).toBe(
          expected,
          { x: 'a0@0', y: 'a1@2', z: 'a2@4' },
          new Error('boom'),
        );
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('fails with the error the message function throws', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions, time }) => {
        const period = time('--|');
        const e1 = cold(' a------|');
        const e1subs = '  ^---!   ';
        const expected = 'x-y-#   ';

        const result = e1.pipe(
          sendEvery(
            period,
            (index, now, value: string) => {
              if (index === 2) throw new Error('no third message');
              return describeMessage(index, now, value);
            },
            { scheduler: testScheduler },
          ),
        );
        expectObservable(result).toBe(
          expected,
          { x: 'a0@0', y: 'a1@2' },
          new Error('no third message'),
        );
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source and the series when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions, time }) => {
        const period = time('--|');
        const e1 = hot('  -a-----|');
        const unsub = '   ------!   ';
        const e1subs = '  ^-----!   ';
        const expected = '-x-y-z    ';

        const result = e1.pipe(sendEvery(period, describeMessage, { scheduler: testScheduler }));
        expectObservable(result, unsub).toBe(expected, { x: 'a0@1', y: 'a1@3', z: 'a2@5' });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops listening to a synchronous source when unsubscribed', () => {
      const sideEffects: number[] = [];
      const synchronousObservable = new Observable<number>((subscriber) => {
        for (let i = 1; !subscriber.closed && i <= 10; i++) {
          sideEffects.push(i);
          subscriber.next(i);
        }
      });

      // Outside of a running action the queueScheduler runs a timer of 0 at once, so the first
      // message, and the take(1) it satisfies, happen inside the source's loop.
      synchronousObservable
        .pipe(
          map(String),
          sendEvery(5, describeMessage, { count: 1, scheduler: queueScheduler }),
          take(1),
        )
        .subscribe(() => {
          /* noop */
        });

      expect(sideEffects).toEqual([1]);
    });
  });

  describe('(period, message, { delay })', () => {
    it('waits delay before the first message of each series', () => {
      testScheduler.run(({ cold, expectObservable, time }) => {
        const period = time('--|');
        const delay = time('-----|');
        const e1 = cold(' a--------|');
        const expected = '-----x-y-(z|)';

        const result = e1.pipe(
          sendEvery(period, describeMessage, { count: 3, delay, scheduler: testScheduler }),
        );
        expectObservable(result).toBe(expected, { x: 'a0@5', y: 'a1@7', z: 'a2@9' });
      });
    });
  });

  describe('(invalid options)', () => {
    it.each([
      ['a period of 0', () => sendEvery(0, describeMessage)],
      ['a negative period', () => sendEvery(-1, describeMessage)],
      ['an infinite period', () => sendEvery(Infinity, describeMessage)],
      ['a NaN period', () => sendEvery(NaN, describeMessage)],
      ['a negative delay', () => sendEvery(5, describeMessage, { delay: -1 })],
      ['a fractional count', () => sendEvery(5, describeMessage, { count: 1.5 })],
      ['a negative count', () => sendEvery(5, describeMessage, { count: -1 })],
    ])('throws a TypeError at call time for %s', (_name, call) => {
      expect(call).toThrow(TypeError);
    });
  });
});

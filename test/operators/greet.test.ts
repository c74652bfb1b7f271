import { Observable, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { countConnections, greet, type ServerEvent } from 'rxnet';
import { data, made, observableMatcher, write } from 'rxnet/testing';

describe('greet', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('(message)', () => {
    it('writes the greeting to each new connection right after its connectionMade', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = {
          a: made(1),
          b: data(1, 'x'),
          c: made(2),
          w: write(1, 'hi\n'),
          v: write(2, 'hi\n'),
        };
        const e1 = cold(' -a----b--c----|', values);
        const e1subs = '  ^-------------!';
        const expected = '-(aw)-b--(cv)-|';

        expectObservable(e1.pipe(greet('hi\n'))).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('writes a structured greeting, for the server to encode', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: made(1),
          w: write(1, { kind: 'hello', version: 2 }),
        };
        const e1 = cold(' -a---|', values);
        const expected = '-(aw)|';

        expectObservable(e1.pipe(greet({ kind: 'hello', version: 2 }))).toBe(expected, values);
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<ServerEvent<string>>(' |');
        const e1subs = '  (^!)';
        const expected = '|';

        expectObservable(e1.pipe(greet('hi'))).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<ServerEvent<string>>(' -');
        const e1subs = '  ^';
        const expected = '-';

        expectObservable(e1.pipe(greet('hi'))).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = { a: made(1), w: write(1, 'hi') };
        const e1 = cold(' -a----#', values, new Error('boom'));
        const e1subs = '  ^-----!';
        const expected = '-(aw)-#';

        expectObservable(e1.pipe(greet('hi'))).toBe(expected, values, new Error('boom'));
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const values = { a: made(1), b: made(2), c: made(3), w: write(1, 'hi'), v: write(2, 'hi') };
        const e1 = hot('  -a----b----c-|', values);
        const unsub = '   ---------!    ';
        const e1subs = '  ^--------!    ';
        const expected = '-(aw)-(bv)    ';

        expectObservable(e1.pipe(greet('hi')), unsub).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops listening to a synchronous source when unsubscribed', () => {
      const sideEffects: number[] = [];
      const synchronousObservable = new Observable<ServerEvent<string>>((subscriber) => {
        for (let i = 1; !subscriber.closed && i <= 10; i++) {
          sideEffects.push(i);
          subscriber.next(made(i));
        }
      });

      // Each connection gives two values, its event and its greeting: three values end inside the second.
      synchronousObservable.pipe(greet('hi'), take(3)).subscribe(() => {
        /* noop */
      });

      expect(sideEffects).toEqual([1, 2]);
    });
  });

  describe('(event => message)', () => {
    it('greets each connection with its live count after countConnections', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: made(1),
          b: made(2),
          A: { ...made(1), count: 1 },
          B: { ...made(2), count: 2 },
          w: write(1, 'you are number 1'),
          v: write(2, 'you are number 2'),
        };
        const e1 = cold(' -a----b----|', values);
        const expected = '-(Aw)-(Bv)-|';

        const greeted = e1.pipe(
          countConnections(),
          greet(({ count }) => `you are number ${count}`),
        );
        expectObservable(greeted).toBe(expected, values);
      });
    });

    it('fails with the error the greeting function throws', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = { a: made(1), b: made(2), w: write(1, 'hi 1') };
        const e1 = cold(' -a----b-|', values);
        const e1subs = '  ^-----! ';
        const expected = '-(aw)-(b#)';

        const greeted = e1.pipe(
          greet(({ id }) => {
            if (id === 2) throw new Error('no greeting for 2');
            return `hi ${id}`;
          }),
        );
        expectObservable(greeted).toBe(expected, values, new Error('no greeting for 2'));
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });
  });
});

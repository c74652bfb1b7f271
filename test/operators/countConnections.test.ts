import { from, Observable, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { countConnections, type ServerEvent } from 'rxnet';
import { close, data, lost, made, observableMatcher, write } from 'rxnet/testing';

describe('countConnections', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('()', () => {
    it('adds the live count to connectionMade and connectionLost events', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = {
          a: made(1),
          b: made(2),
          c: data(2, 'x'),
          d: lost(1),
          A: { ...made(1), count: 1 },
          B: { ...made(2), count: 2 },
          D: { ...lost(1), count: 1 },
        };
        const e1 = cold(' -a-b--c--d-|', values);
        const e1subs = '  ^----------!';
        const expected = '-A-B--c--D-|';

        expectObservable(e1.pipe(countConnections())).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('gives each counted event exactly the keys of the event, in its order, then count', () => {
      const tag = Symbol('tag');
      const events = [
        made(1),
        { id: 2, type: 'connectionMade' as const, local: made(2).local, remote: made(2).remote },
        { ...made(3), note: 'extra' },
        { ...made(4), [tag]: 'symbol' },
        lost(1, { type: 'done' }),
        { ...lost(3, { type: 'done' }), note: 'extra' },
      ];
      const seen: object[] = [];
      from(events)
        .pipe(countConnections())
        .subscribe((value) => seen.push(value));
      expect(seen.map((value) => Reflect.ownKeys(value))).toEqual([
        ['type', 'id', 'local', 'remote', 'count'],
        ['id', 'type', 'local', 'remote', 'count'],
        ['type', 'id', 'local', 'remote', 'note', 'count'],
        ['type', 'id', 'local', 'remote', 'count', tag],
        ['type', 'id', 'reason', 'count'],
        ['type', 'id', 'reason', 'note', 'count'],
      ]);
      expect(seen[3]).toEqual({ ...made(4), [tag]: 'symbol', count: 4 });
      expect(seen.map((value) => (value as { count: number }).count)).toEqual([1, 2, 3, 4, 3, 2]);
    });

    it('passes data events and commands through as the same objects', () => {
      const event = data(1, 'x');
      const command = write(1, 'y');
      const seen: unknown[] = [];
      from<Array<ServerEvent<string> | typeof command>>([event, command])
        .pipe(countConnections())
        .subscribe((value) => seen.push(value));
      expect(seen[0]).toBe(event);
      expect(seen[1]).toBe(command);
    });

    it('counts down to zero and up again as connections come and go', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: made(1),
          b: lost(1),
          c: made(2),
          A: { ...made(1), count: 1 },
          B: { ...lost(1), count: 0 },
          C: { ...made(2), count: 1 },
        };
        expectObservable(cold('abc|', values).pipe(countConnections())).toBe('ABC|', values);
      });
    });

    it('leaves the count unchanged on a connectionLost it never saw made', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: made(1),
          b: lost(7),
          A: { ...made(1), count: 1 },
          B: { ...lost(7), count: 1 },
        };
        expectObservable(cold('ab|', values).pipe(countConnections())).toBe('AB|', values);
      });
    });

    it('ignores commands, even a close, until the connectionLost arrives', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: made(1),
          c: close(1),
          d: lost(1),
          A: { ...made(1), count: 1 },
          D: { ...lost(1), count: 0 },
        };
        expectObservable(cold('acd|', values).pipe(countConnections())).toBe('AcD|', values);
      });
    });

    it('keeps a separate count for each subscription', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = { a: made(1), A: { ...made(1), count: 1 } };
        const counted = cold('a|', values).pipe(countConnections());
        expectObservable(counted).toBe('A|', values);
        expectObservable(counted).toBe('A|', values);
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<ServerEvent<string>>(' |');
        const e1subs = '  (^!)';
        const expected = '|';

        expectObservable(e1.pipe(countConnections())).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<ServerEvent<string>>(' -');
        const e1subs = '  ^';
        const expected = '-';

        expectObservable(e1.pipe(countConnections())).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = { a: made(1), A: { ...made(1), count: 1 } };
        const e1 = cold(' -a-#', values, new Error('boom'));
        const e1subs = '  ^--!';
        const expected = '-A-#';

        expectObservable(e1.pipe(countConnections())).toBe(expected, values, new Error('boom'));
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const values = {
          a: made(1),
          b: made(2),
          c: made(3),
          A: { ...made(1), count: 1 },
          B: { ...made(2), count: 2 },
        };
        const e1 = hot('  -a-b-c-|', values);
        const unsub = '   ----!   ';
        const e1subs = '  ^---!   ';
        const expected = '-A-B    ';

        expectObservable(e1.pipe(countConnections()), unsub).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops listening to a synchronous source when unsubscribed', () => {
      const sideEffects: number[] = [];
      const synchronousObservable = new Observable<ServerEvent<string>>((subscriber) => {
        // The loop checks `closed` at each step: the take(3) below must close it after the third.
        for (let i = 1; !subscriber.closed && i <= 10; i++) {
          sideEffects.push(i);
          subscriber.next(made(i));
        }
      });

      synchronousObservable.pipe(countConnections(), take(3)).subscribe(() => {
        /* noop */
      });

      expect(sideEffects).toEqual([1, 2, 3]);
    });
  });
});

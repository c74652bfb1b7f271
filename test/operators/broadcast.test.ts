import { Observable, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { broadcast, type ServerCommand, type ServerEvent, type WriteCommand } from 'rxnet';
import { abort, close, data, lost, made, observableMatcher, write } from 'rxnet/testing';

type Item = ServerEvent<string> | ServerCommand<string>;

describe('broadcast', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('()', () => {
    it('relays each message to every other open connection in one write command', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = {
          a: made(1),
          b: made(2),
          c: data(1, 'hi'),
          d: lost(2),
          e: data(1, 'yo'),
          w: write([2], 'hi'),
        };
        const e1 = cold(' -a-b-c----d-e----|', values);
        const e1subs = '  ^----------------!';
        const expected = '-a-b-(cw)-d-e----|';

        expectObservable(e1.pipe(broadcast())).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('addresses all the others, in the order they connected, and not the sender', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: made(1),
          b: made(2),
          c: made(3),
          d: data(2, 'x'),
          e: data(3, 'y'),
          w: write([1, 3], 'x'),
          v: write([1, 2], 'y'),
        };
        expectObservable(cold('abcd---e---|', values).pipe(broadcast())).toBe(
          'abc(dw)(ev)|',
          values,
        );
      });
    });

    it('stops addressing a connection as soon as a close or abort command for it passes', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: made(1),
          b: made(2),
          c: made(3),
          x: close(2),
          y: abort(3),
          d: data(1, 'hi'),
          w: write([3], 'hi'),
        };
        expectObservable(cold('abcxd---y|', values).pipe(broadcast())).toBe('abcx(dw)y|', values);
      });
    });

    it('adds no command when no one else is connected', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = { a: made(1), b: data(1, 'alone'), c: lost(1), d: data(1, 'gone') };
        expectObservable(cold('abcd|', values).pipe(broadcast())).toBe('abcd|', values);
      });
    });

    it('reuses one array of receivers while the sender and the open set stay the same', () => {
      const commands: WriteCommand<string>[] = [];
      const events: Item[] = [
        made(1),
        made(2),
        made(3),
        data(1, 'a'),
        data(1, 'b'),
        data(2, 'c'),
        data(1, 'd'),
        lost(3),
        data(1, 'e'),
      ];
      new Observable<Item>((subscriber) => events.forEach((event) => subscriber.next(event)))
        .pipe(broadcast())
        .subscribe((item) => {
          if (item.type === 'write') commands.push(item as WriteCommand<string>);
        });

      const [a, b, c, d, e] = commands.map((command) => command.to);
      expect([a, b, c, d, e]).toEqual([[2, 3], [2, 3], [1, 3], [2, 3], [2]]);
      expect(b).toBe(a);
      expect(d).not.toBe(a);
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<ServerEvent<string>>(' |');
        const e1subs = '  (^!)';
        const expected = '|';

        expectObservable(e1.pipe(broadcast())).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<ServerEvent<string>>(' -');
        const e1subs = '  ^';
        const expected = '-';

        expectObservable(e1.pipe(broadcast())).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = { a: made(1), b: made(2), c: data(2, 'hi'), w: write([1], 'hi') };
        const e1 = cold(' -a-b-c----#', values, new Error('boom'));
        const e1subs = '  ^---------!';
        const expected = '-a-b-(cw)-#';

        expectObservable(e1.pipe(broadcast())).toBe(expected, values, new Error('boom'));
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const values = { a: made(1), b: made(2), c: data(2, 'hi'), d: data(1, 'yo') };
        const e1 = hot('  -a-b-c-d-|', values);
        const unsub = '   ----!     ';
        const e1subs = '  ^---!     ';
        const expected = '-a-b      ';

        expectObservable(e1.pipe(broadcast()), unsub).toBe(expected, values);
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

      synchronousObservable.pipe(broadcast(), take(3)).subscribe(() => {
        /* noop */
      });

      expect(sideEffects).toEqual([1, 2, 3]);
    });
  });

  describe('({ includeSender })', () => {
    it('relays each message to every open connection, the sender included', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = {
          a: made(1),
          b: made(2),
          c: data(1, 'hi'),
          d: lost(2),
          e: data(1, 'yo'),
          w: write([1, 2], 'hi'),
          v: write([1], 'yo'),
        };
        const e1 = cold(' -a-b-c----d-e----|', values);
        const expected = '-a-b-(cw)-d-(ev)-|';

        expectObservable(e1.pipe(broadcast({ includeSender: true }))).toBe(expected, values);
      });
    });

    it('reuses the array of receivers across senders', () => {
      const receivers: unknown[] = [];
      const events: Item[] = [made(1), made(2), data(1, 'a'), data(2, 'b')];
      new Observable<Item>((subscriber) => events.forEach((event) => subscriber.next(event)))
        .pipe(broadcast({ includeSender: true }))
        .subscribe((item) => {
          if (item.type === 'write') receivers.push(item.to);
        });

      expect(receivers).toEqual([
        [1, 2],
        [1, 2],
      ]);
      expect(receivers[1]).toBe(receivers[0]);
    });
  });
});

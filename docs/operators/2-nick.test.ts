import { Observable, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import type { ServerEvent } from 'rxnet';
import { data, lost, made, observableMatcher, write } from 'rxnet/testing';
import { nick } from './1-nick';

describe('nick', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('welcomes a connection by its first message and tags its later data with it', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const values = {
        a: made(1),
        b: data(1, 'ada'),
        c: data(1, 'hi'),
        d: lost(1),
        w: write(1, 'welcome, ada\n'),
        C: { ...data(1, 'hi'), nick: 'ada' },
      };
      const source = cold('-a-b--c-d-|', values);
      expectObservable(source.pipe(nick((line: string) => line))).toBe('-a-w--C-d-|', values);
      expectSubscriptions(source.subscriptions).toBe('^---------!');
    });
  });

  it('forgets a name when its connection is lost', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const values = {
        b: data(1, 'ada'),
        d: lost(1),
        e: data(1, 'bob'),
        w: write(1, 'welcome, ada\n'),
        x: write(1, 'welcome, bob\n'),
      };
      const source = cold('-b-d-e-|', values);
      expectObservable(source.pipe(nick((line: string) => line))).toBe('-w-d-x-|', values);
    });
  });

  it('fails with the error toName throws', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-|', { a: made(1), b: data(1, '') });
      const named = source.pipe(
        nick((line: string) => {
          if (line === '') throw new Error('empty nickname');
          return line;
        }),
      );
      expectObservable(named).toBe('-a-#', { a: made(1) }, new Error('empty nickname'));
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('stops the source when unsubscribed early', () => {
    testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-c-|', { a: made(1), b: made(2), c: made(3) });
      expectObservable(source.pipe(nick(String)), '----!').toBe('-a-b', {
        a: made(1),
        b: made(2),
      });
      expectSubscriptions(source.subscriptions).toBe('^---!');
    });
  });

  it('stops a synchronous source when unsubscribed', () => {
    const emitted: number[] = [];
    const source = new Observable<ServerEvent<string>>((subscriber) => {
      for (let id = 1; !subscriber.closed && id <= 10; id++) {
        emitted.push(id);
        subscriber.next(made(id));
      }
    });
    source.pipe(nick(String), take(2)).subscribe();
    expect(emitted).toEqual([1, 2]);
  });
});

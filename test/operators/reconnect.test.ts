import { Observable, VirtualAction, VirtualTimeScheduler, defer, of, take, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ConnectError } from '../../src/errors';
import { reconnect } from '../../src/operators/reconnect';
import { observableMatcher } from '../../src/testing/observableMatcher';
import type { ClientEvent, Connection } from '../../src/types';

/** Exact delays: initialDelay 1 frame, doubling, no jitter. */
const exact = { initialDelay: 1, factor: 2, jitter: 0 } as const;

const endpoint = 'tcp:127.0.0.1:1';

/** connectEvents' values: c=connecting f=failed o=connected l=lost. */
const events: Record<'c' | 'f' | 'o' | 'l', ClientEvent<string>> = {
  c: { type: 'connecting', endpoint },
  f: {
    type: 'failed',
    error: new ConnectError(endpoint, {
      cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }),
    }),
  },
  o: { type: 'connected', connection: { id: 1 } as unknown as Connection },
  l: { type: 'lost', reason: { type: 'done' } },
};

describe('reconnect', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('backoff', () => {
    it('resubscribes after an error, the delay reset by each value that is not a ClientEvent', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('  -a-#');
        const subs = [
          '                     ^--!',
          '                     -----^--!',
          '                     ----------^-!',
        ];
        const unsub = '        ^-----------!';
        const expected = '     -a----a----a-';
        expectObservable(source.pipe(reconnect(exact)), unsub).toBe(expected);
        expectSubscriptions(source.subscriptions).toBe(subs);
      });
    });

    it('multiplies the delay by factor after each failure in a row, then gives up with the error', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const error = new ConnectError('tcp:localhost:1');
        const source = cold('  --#', undefined, error);
        const subs = [
          '                     ^-!',
          '                     ----^-!',
          '                     ----------^-!',
          '                     --------------------^-!',
        ];
        const expected = '     ----------------------#';
        expectObservable(source.pipe(reconnect({ ...exact, maxRetries: 3 }))).toBe(
          expected,
          undefined,
          error,
        );
        expectSubscriptions(source.subscriptions).toBe(subs);
      });
    });

    it('caps the delay at maxDelay', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('  #');
        const config = { initialDelay: 1, factor: 10, jitter: 0, maxDelay: 5, maxRetries: 2 };
        expectObservable(source.pipe(reconnect(config))).toBe('----------#');
        expectSubscriptions(source.subscriptions).toBe(['(^!)', '-----(^!)', '----------(^!)']);
      });
    });

    it('treats completion as a lost connection and completes when it gives up', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('  -a|');
        const config = { ...exact, maxRetries: 1, resetWhen: () => false };
        expectObservable(source.pipe(reconnect(config))).toBe('-a---a|');
        expectSubscriptions(source.subscriptions).toBe(['^-!', '----^-!']);
      });
    });

    it('resets only on values that resetWhen accepts', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const source = cold('  -c-#');
        const connected = (value: string) => value === 'o';
        const config = { ...exact, maxRetries: 1, resetWhen: connected };
        expectObservable(source.pipe(reconnect(config))).toBe('-c----c-#');
      });
    });

    it('uses Twisted defaults: the first retry after initialDelay times e', () => {
      const scheduler = new VirtualTimeScheduler();
      const subscribedAt: number[] = [];
      const source = defer(() => {
        subscribedAt.push(scheduler.now());
        return throwError(() => new Error('refused'));
      });
      source
        .pipe(reconnect({ jitter: 0, maxRetries: 3, scheduler }))
        .subscribe({ error: () => {} });
      scheduler.flush();
      const delays = subscribedAt.slice(1).map((at, index) => at - subscribedAt[index]!);
      // Twisted 22.4's ReconnectingClientFactory(jitter=0).retry() delays, in milliseconds.
      const twisted = [2718.2818284590453, 7389.05609893065, 20085.536923187665];
      delays.forEach((delay, index) => expect(delay).toBeCloseTo(twisted[index]!, 6));
      expect(delays).toHaveLength(3);
    });

    it('draws the jitter like Python normalvariate from the injected random source', () => {
      const scheduler = new VirtualTimeScheduler();
      const sequence = [0.75, 0.5, 0.1, 0.9, 0.3, 0.2, 0.6, 0.05];
      let draws = 0;
      const random = () => sequence[draws++ % sequence.length]!;
      const subscribedAt: number[] = [];
      const source = defer(() => {
        subscribedAt.push(scheduler.now());
        return throwError(() => new Error('refused'));
      });
      source.pipe(reconnect({ maxRetries: 4, scheduler, random })).subscribe({ error: () => {} });
      scheduler.flush();
      const delays = subscribedAt.slice(1).map((at, index) => at - subscribedAt[index]!);
      // Twisted 22.4's retry() delays with random.random replaced by the same sequence and jitter
      // set to 0.11962656472 (22.4 itself ships the newer CODATA value 0.119626565582).
      const twisted = [2997.208388127572, 7729.256585397166, 21464.170344247814, 64332.59139997863];
      expect(delays).toHaveLength(4);
      delays.forEach((delay, index) => expect(delay).toBeCloseTo(twisted[index]!, 6));
    });
  });

  describe('against connectEvents', () => {
    it('gives up on a refused endpoint after maxRetries, as the marble diagram shows', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('  cf|', events);
        // Bounded, so that a reconnect that never gives up fails this test instead of hanging it.
        const unsub = '        ^ 100ms !';
        const expected = '     cf--cf----cf|';
        const output = source.pipe(reconnect({ ...exact, maxRetries: 2 }));
        expectObservable(output, unsub).toBe(expected, events);
        expectSubscriptions(source.subscriptions).toBe(['^-!', '----^-!', '----------^-!']);
      });
    });

    it('makes exactly maxRetries + 1 attempts against a refused endpoint, 2 s then 4 s apart, then completes', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        // Each attempt: connecting, then failed, then completion, like connectEvents on a refused port.
        const source = cold('  cf|', events);
        const config = { maxRetries: 2, initialDelay: 1000, factor: 2, jitter: 0 };
        // Bounded, so that a reconnect that never gives up fails this test instead of hanging it.
        const unsub = '        ^ 100s !';
        const expected = '     cf 2000ms cf 4000ms cf|';
        expectObservable(source.pipe(reconnect(config)), unsub).toBe(expected, events);
        expectSubscriptions(source.subscriptions).toBe([
          '                     ^-!',
          '                     2002ms ^-!',
          '                     6004ms ^-!',
        ]);
      });
    });

    it('resets the retry count and the delay on a connected event', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const refused = cold('cf|', events);
        const connected = cold('co-l|', events);
        const attempts = [refused, refused, connected, refused, refused, refused];
        let attempt = 0;
        const source = defer(() => attempts[attempt++]!);
        const config = { maxRetries: 2, initialDelay: 1000, factor: 2, jitter: 0 };
        const unsub = '        ^ 100s !';
        // Two refusals, a connection that resets, then two more refusals before it gives up.
        const expected = '     cf 2000ms cf 4000ms co-l 2000ms cf 4000ms cf|';
        expectObservable(source.pipe(reconnect(config)), unsub).toBe(expected, events);
        expectSubscriptions(refused.subscriptions).toBe([
          '^-!',
          '2002ms ^-!',
          '8008ms ^-!',
          '12010ms ^-!',
        ]);
        expectSubscriptions(connected.subscriptions).toBe('6004ms ^---!');
      });
    });

    it('waits Twisted default delays against a refused endpoint: 1 s times e, e^2, e^3', () => {
      // 100 virtual seconds at most, so that a reconnect that never gives up fails instead of hanging.
      const scheduler = new VirtualTimeScheduler(VirtualAction, 100_000);
      const subscribedAt: number[] = [];
      const received: string[] = [];
      let completed = false;
      const source = defer(() => {
        subscribedAt.push(scheduler.now());
        return of(events.c, events.f);
      });
      source.pipe(reconnect({ jitter: 0, maxRetries: 3, scheduler })).subscribe({
        next: (event) => received.push(event.type),
        complete: () => (completed = true),
      });
      scheduler.flush();
      const delays = subscribedAt.slice(1).map((at, index) => at - subscribedAt[index]!);
      // Twisted 22.4's ReconnectingClientFactory(jitter=0).retry() delays, in milliseconds.
      const twisted = [2718.2818284590453, 7389.05609893065, 20085.536923187665];
      expect(delays).toHaveLength(3);
      delays.forEach((delay, index) => expect(delay).toBeCloseTo(twisted[index]!, 6));
      expect(received).toEqual([
        'connecting',
        'failed',
        'connecting',
        'failed',
        'connecting',
        'failed',
        'connecting',
        'failed',
      ]);
      expect(completed).toBe(true);
    });
  });

  describe('checklist', () => {
    it('mirrors an empty source until it gives up', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('  |');
        expectObservable(source.pipe(reconnect({ ...exact, maxRetries: 2 }))).toBe('------|');
        expectSubscriptions(source.subscriptions).toBe(['(^!)', '--(^!)', '------(^!)']);
      });
    });

    it('mirrors a source that never ends', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('  -');
        expectObservable(source.pipe(reconnect(exact))).toBe('-');
        expectSubscriptions(source.subscriptions).toBe('^');
      });
    });

    it('fails with the error thrown by resetWhen', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('  -a-b');
        const resetWhen = (value: string) => {
          if (value === 'b') {
            throw new Error('boom');
          }
          return true;
        };
        expectObservable(source.pipe(reconnect({ ...exact, resetWhen }))).toBe(
          '-a-#',
          undefined,
          new Error('boom'),
        );
        expectSubscriptions(source.subscriptions).toBe('^--!');
      });
    });

    it('cancels a pending retry on unsubscribe', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const source = cold('  -#');
        expectObservable(source.pipe(reconnect(exact)), '^--!').toBe('---');
        expectSubscriptions(source.subscriptions).toBe('^!');
      });
    });

    it('stops a synchronous source on unsubscribe', () => {
      const sideEffects: number[] = [];
      const source = new Observable<number>((subscriber) => {
        for (let i = 0; !subscriber.closed && i < 10; i += 1) {
          sideEffects.push(i);
          subscriber.next(i);
        }
      });
      source.pipe(reconnect(), take(3)).subscribe();
      expect(sideEffects).toEqual([0, 1, 2]);
    });

    it('throws a TypeError at call time for a factor below 1', () => {
      expect(() => reconnect({ factor: 0.5 })).toThrow(TypeError);
    });
  });
});

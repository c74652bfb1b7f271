import fc from 'fast-check';
import {
  defer,
  EMPTY,
  finalize,
  lastValueFrom,
  map,
  mergeMap,
  Observable,
  of,
  take,
  throwError,
  timer,
  toArray,
} from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  DEFAULT_MAX_QUEUED_REQUESTS,
  DEFAULT_REQUEST_TIMEOUT,
  DEFAULT_RESPOND_CONCURRENCY,
  RequestQueueFullError,
  RequestTimeoutError,
  respond,
} from 'rxnet';
import { observableMatcher } from 'rxnet/testing';

describe('respond', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  /** A handler whose reply to `x` is `X`, after the time `delays[x]` gives. */
  const after =
    (delays: Readonly<Record<string, number>>) =>
    (request: string): Observable<string> =>
      timer(delays[request] ?? 0).pipe(map(() => request.toUpperCase()));

  describe("(handler) in 'request' order", () => {
    it('replies in request order, holding a reply that is ready early', () => {
      testScheduler.run(({ cold, time, expectObservable, expectSubscriptions }) => {
        const delays = { a: time('----|'), b: time('-|'), c: time('-----|') };
        const e1 = cold(' -a-b-c------|');
        const e1subs = '  ^-----------!';
        const expected = '-----(AB)-C-|';

        expectObservable(e1.pipe(respond(after(delays)))).toBe(expected, {
          A: 'A',
          B: 'B',
          C: 'C',
        });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<string>(' |');
        const e1subs = '  (^!)';
        const expected = '|';

        expectObservable(e1.pipe(respond(after({})))).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<string>(' -');
        const e1subs = '  ^';
        const expected = '-';

        expectObservable(e1.pipe(respond(after({})))).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source at once, dropping pending replies', () => {
      testScheduler.run(({ cold, time, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a-b-#', undefined, new Error('lost'));
        const e1subs = '  ^----!';
        const expected = '-A---#';

        expectObservable(e1.pipe(respond(after({ b: time('---|') })))).toBe(
          expected,
          { A: 'A' },
          new Error('lost'),
        );
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('fails with the error the handler throws', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a-b-c-|');
        const e1subs = '  ^--!';
        const expected = '-A-#';
        const handler = (request: string): string => {
          if (request === 'b') throw new Error('bad request');
          return request.toUpperCase();
        };

        expectObservable(e1.pipe(respond(handler))).toBe(
          expected,
          { A: 'A' },
          new Error('bad request'),
        );
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source and every running handler when unsubscribed early', () => {
      testScheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
        const reply = cold('---(x|)');
        const e1 = hot('  -a-b-c-|');
        const unsub = '   -----!  ';
        const e1subs = '  ^----!  ';
        const expected = '----x-  ';

        expectObservable(e1.pipe(respond(() => reply)), unsub).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
        expectSubscriptions(reply.subscriptions).toBe(['-^--!', '---^-!']);
      });
    });

    it('stops listening to a synchronous source when unsubscribed', () => {
      const sideEffects: number[] = [];
      const synchronousObservable = new Observable<number>((subscriber) => {
        for (let i = 0; !subscriber.closed && i < 10; i++) {
          sideEffects.push(i);
          subscriber.next(i);
        }
      });

      synchronousObservable
        .pipe(
          respond((n) => n * 10),
          take(3),
        )
        .subscribe(() => {
          /* noop */
        });

      expect(sideEffects).toEqual([0, 1, 2]);
    });

    it('completes once the source has completed and the last reply is out', () => {
      testScheduler.run(({ cold, time, expectObservable }) => {
        const e1 = cold(' -a|');
        const expected = '------(A|)';
        expectObservable(e1.pipe(respond(after({ a: time('-----|') })))).toBe(expected, {
          A: 'A',
        });
      });
    });
  });

  describe("order: 'completion'", () => {
    it('emits each reply as soon as it is ready', () => {
      testScheduler.run(({ cold, time, expectObservable }) => {
        const delays = { a: time('----|'), b: time('-|'), c: time('-----|') };
        const e1 = cold(' -a-b-c------|');
        const expected = '----BA----C-|';

        expectObservable(e1.pipe(respond(after(delays), { order: 'completion' }))).toBe(expected, {
          A: 'A',
          B: 'B',
          C: 'C',
        });
      });
    });
  });

  describe('concurrency', () => {
    it('handles one request at a time with concurrency 1', () => {
      testScheduler.run(({ cold, time, expectObservable }) => {
        const two = time('--|');
        const e1 = cold(' (abc)--|');
        const expected = '--A-B-C|';
        expectObservable(
          e1.pipe(respond(after({ a: two, b: two, c: two }), { concurrency: 1 })),
        ).toBe(expected, { A: 'A', B: 'B', C: 'C' });
      });
    });

    it("keeps a finished request's slot until its reply is out, so at most `concurrency` replies wait", () => {
      testScheduler.run(({ cold, time, expectObservable }) => {
        // a is slow; b finishes at once but waits for a; c may start only when a and b are out.
        const delays = { a: time('-----|'), b: time('|'), c: time('----|') };
        const e1 = cold(' (abc)---|');
        const expected = '-----(AB)(C|)';
        expectObservable(e1.pipe(respond(after(delays), { concurrency: 2 }))).toBe(expected, {
          A: 'A',
          B: 'B',
          C: 'C',
        });
      });
    });

    it('fails with RequestQueueFullError when more than maxQueued requests wait', () => {
      testScheduler.run(({ cold, time, expectObservable }) => {
        const e1 = cold(' abcd-|');
        const expected = '---#';
        const slow = time('-----|');
        expectObservable(
          e1.pipe(respond(after({ a: slow, b: slow, c: slow }), { concurrency: 1, maxQueued: 2 })),
        ).toBe(expected, undefined, new RequestQueueFullError(2));
      });
    });
  });

  describe('timeout', () => {
    it('fails with RequestTimeoutError when a handler runs past the timeout', () => {
      testScheduler.run(({ cold, time, expectObservable }) => {
        const e1 = cold(' -a-b----|');
        const expected = '-A----#';
        const timeout = time('---|');
        expectObservable(e1.pipe(respond(after({ b: time('-----|') }), { timeout }))).toBe(
          expected,
          { A: 'A' },
          new RequestTimeoutError(timeout),
        );
      });
    });

    it('counts from the start of the handler, not from the arrival of the request', () => {
      testScheduler.run(({ cold, time, expectObservable }) => {
        const two = time('--|');
        const e1 = cold(' (ab)---|');
        const expected = '--A-B--|';
        expectObservable(
          e1.pipe(respond(after({ a: two, b: two }), { concurrency: 1, timeout: time('---|') })),
        ).toBe(expected, { A: 'A', B: 'B' });
      });
    });

    it('runs on the scheduler it is given', () => {
      testScheduler.run(({ cold, time, expectObservable }) => {
        const e1 = cold(' -a-|');
        const expected = '---#';
        const timeout = time('--|');
        expectObservable(
          e1.pipe(respond(() => new Observable<string>(), { timeout, scheduler: testScheduler })),
        ).toBe(expected, undefined, new RequestTimeoutError(timeout));
      });
    });

    it('is off with 0', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const e1 = cold(' -a-|');
        expectObservable(e1.pipe(respond(() => new Observable<string>(), { timeout: 0 }))).toBe(
          '----',
        );
      });
    });
  });

  describe('onError', () => {
    it('turns a failed request into its reply, in its place, and goes on', () => {
      testScheduler.run(({ cold, time, expectObservable }) => {
        const e1 = cold(' -a-b-c----|');
        const expected = '-A--x-----(C|)';
        const handler = (request: string): Observable<string> =>
          request === 'b'
            ? timer(time('-|')).pipe(mergeMap(() => throwError(() => new Error('no b'))))
            : after({ a: 0, c: time('-----|') })(request);
        expectObservable(
          e1.pipe(
            respond(handler, {
              onError: (error, request) => `${request} failed: ${(error as Error).message}`,
            }),
          ),
        ).toBe(expected, { A: 'A', C: 'C', x: 'b failed: no b' });
      });
    });

    it('turns a timeout into a reply', () => {
      testScheduler.run(({ cold, time, expectObservable }) => {
        const e1 = cold(' -a-b---|');
        const expected = '-A----x|';
        expectObservable(
          e1.pipe(
            respond(after({ b: time('-----|') }), {
              timeout: time('---|'),
              onError: (error) => (error instanceof RequestTimeoutError ? 'timeout' : 'other'),
            }),
          ),
        ).toBe(expected, { A: 'A', x: 'timeout' });
      });
    });

    it('fails with what onError throws', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const e1 = cold(' -a-|');
        expectObservable(
          e1.pipe(
            respond(
              () => {
                throw new Error('first');
              },
              {
                onError: () => {
                  throw new Error('second');
                },
              },
            ),
          ),
        ).toBe('-#', undefined, new Error('second'));
      });
    });
  });

  describe('handler results', () => {
    it('sends every value of an Observable, and nothing for EMPTY', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const e1 = cold(' -a-n-b-|');
        const expected = '-(xy)z-|';
        const handler = (request: string): Observable<string> =>
          request === 'n' ? EMPTY : request === 'a' ? of('x', 'y') : of('z');
        expectObservable(e1.pipe(respond(handler))).toBe(expected);
      });
    });

    it('sends an array or a string as one reply', async () => {
      const replies = await lastValueFrom(
        of(1, 2).pipe(
          respond((n) => [n, n]),
          toArray(),
        ),
      );
      expect(replies).toEqual([
        [1, 1],
        [2, 2],
      ]);
    });

    it("sends a Promise's value, in request order", async () => {
      const replies = await lastValueFrom(
        of(30, 1, 10).pipe(
          respond(
            (ms: number) => new Promise<number>((resolve) => setTimeout(() => resolve(ms), ms)),
          ),
          toArray(),
        ),
      );
      expect(replies).toEqual([30, 1, 10]);
    });

    it('fails with the reason of a rejected Promise', async () => {
      await expect(
        lastValueFrom(of(1).pipe(respond(() => Promise.reject(new Error('rejected'))))),
      ).rejects.toThrow('rejected');
    });

    it("gives the handler each request's index", () => {
      testScheduler.run(({ cold, expectObservable }) => {
        expectObservable(cold('-a-b-|').pipe(respond((r, i) => `${r}${i}`))).toBe('-x-y-|', {
          x: 'a0',
          y: 'b1',
        });
      });
    });
  });

  describe('options', () => {
    it('has named defaults', () => {
      expect(DEFAULT_RESPOND_CONCURRENCY).toBe(16);
      expect(DEFAULT_MAX_QUEUED_REQUESTS).toBe(1024);
      expect(DEFAULT_REQUEST_TIMEOUT).toBe(30_000);
    });

    it('throws a TypeError at call time for bad options', () => {
      const h = (): string => 'x';
      expect(() => respond(h, { concurrency: 0 })).toThrow(TypeError);
      expect(() => respond(h, { concurrency: 1.5 })).toThrow(TypeError);
      expect(() => respond(h, { maxQueued: -1 })).toThrow(TypeError);
      expect(() => respond(h, { timeout: -1 })).toThrow(TypeError);
      expect(() => respond(h, { timeout: 2 ** 31 })).toThrow(RangeError);
      expect(() => respond(h, { order: 'random' as 'request' })).toThrow(TypeError);
    });
  });

  describe('properties', () => {
    interface Plan {
      readonly gap: number;
      readonly delay: number;
      readonly fails: boolean;
    }
    const plans = fc.array(fc.record({ gap: fc.nat(3), delay: fc.nat(12), fails: fc.boolean() }), {
      minLength: 1,
      maxLength: 25,
    });

    it('answers every request exactly once, with its own reply or its own error, within the concurrency', () => {
      fc.assert(
        fc.property(
          plans,
          fc.integer({ min: 1, max: 5 }),
          fc.constantFrom<'request' | 'completion'>('request', 'completion'),
          fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
          (requests: readonly Plan[], concurrency, order, timeout) => {
            const scheduler = new TestScheduler(observableMatcher);
            scheduler.run(({ flush }) => {
              let active = 0;
              let maxActive = 0;
              const replies: string[] = [];
              let completed = false;
              const source = defer(() =>
                of(...requests.map((_, i) => i)).pipe(
                  mergeMap((i) =>
                    timer(requests.slice(0, i + 1).reduce((t, p) => t + p.gap, 0)).pipe(
                      map(() => i),
                    ),
                  ),
                ),
              );
              const handler = (i: number): Observable<string> => {
                const plan = requests[i]!;
                return defer(() => {
                  active++;
                  maxActive = Math.max(maxActive, active);
                  return timer(plan.delay).pipe(
                    mergeMap(() =>
                      plan.fails ? throwError(() => new Error(`fail ${i}`)) : of(`ok ${i}`),
                    ),
                    finalize(() => active--),
                  );
                });
              };
              source
                .pipe(
                  respond(handler, {
                    concurrency,
                    order,
                    timeout: timeout ?? 0,
                    onError: (error, i) =>
                      error instanceof RequestTimeoutError
                        ? `timeout ${i}`
                        : `error ${i}: ${(error as Error).message}`,
                  }),
                )
                .subscribe({ next: (r) => replies.push(r), complete: () => (completed = true) });
              flush();

              const expected = requests.map((plan, i) =>
                timeout !== undefined && plan.delay >= timeout
                  ? `timeout ${i}`
                  : plan.fails
                    ? `error ${i}: fail ${i}`
                    : `ok ${i}`,
              );
              expect(completed).toBe(true);
              expect(maxActive).toBeLessThanOrEqual(concurrency);
              if (order === 'request') expect(replies).toEqual(expected);
              else expect([...replies].sort()).toEqual([...expected].sort());
            });
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});

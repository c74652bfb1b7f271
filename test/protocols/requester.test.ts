import fc from 'fast-check';
import {
  lastValueFrom,
  map,
  mergeMap,
  NEVER,
  type Observable,
  Subject,
  type Subscription,
  timer,
} from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  ConnectionClosedError,
  ConnectionLostError,
  DEFAULT_MAX_IN_FLIGHT,
  encodeLengthPrefixedFrame,
  lengthPrefixed,
  lines,
  protocol,
  RequestQueueFullError,
  RequestTimeoutError,
  requester,
  respond,
  runProtocol,
  serve,
  connectAsync,
  type Behaviour,
  type CloseReason,
  type ProtocolContext,
  type RequesterOptions,
} from 'rxnet';
import { made, memoryConnection, observableMatcher } from 'rxnet/testing';
import { LOOPBACK } from '../helpers/sockets';

/** A per-connection context over given frames and close, for driving a requester's protocol. */
function contextOf<T>(
  frames$: Observable<T>,
  closed$: Observable<CloseReason> = NEVER,
): ProtocolContext<T> {
  const made1 = made(1);
  return { id: 1, local: made1.local, remote: made1.remote, made: made1, frames$, closed$ };
}

/** Requests and replies are strings; a reply is its request in upper case. */
const byId: RequesterOptions<string, string>['correlate'] = {
  requestId: (request) => request,
  replyId: (reply) => reply.toLowerCase(),
};

const DONE: CloseReason = { type: 'done' };
const closedBeforeReply = (reason: CloseReason, detail = reason.type): ConnectionClosedError =>
  new ConnectionClosedError(`Connection closed (${detail}) before the reply arrived`, {
    cause: reason,
  });

describe('requester', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('correlate by id', () => {
    it('pipelines the requests and gives each the reply that carries its id, in any order', () => {
      testScheduler.run(({ hot, cold, expectObservable }) => {
        const rpc = requester<string, string>({ correlate: byId });
        const frames = hot('----B-A---');
        expectObservable(rpc.protocol(contextOf(frames))).toBe('ab--------');
        expectObservable(rpc.request('a')).toBe('------(A|)');
        expectObservable(cold('-(x|)').pipe(mergeMap(() => rpc.request('b')))).toBe('----(B|)');
      });
    });

    it('drops a reply whose id matches no pending request', () => {
      testScheduler.run(({ hot, expectObservable }) => {
        const rpc = requester<string, string>({ correlate: byId });
        const frames = hot('--ZA-');
        expectObservable(rpc.protocol(contextOf(frames))).toBe('a----');
        expectObservable(rpc.request('a')).toBe('---(A|)');
      });
    });

    it('fails a request whose id is already pending with a TypeError, and only that one', () => {
      testScheduler.run(({ hot, expectObservable }) => {
        const rpc = requester<string, string>({ correlate: byId });
        const frames = hot('--A-');
        expectObservable(rpc.protocol(contextOf(frames))).toBe('a---');
        expectObservable(rpc.request('a')).toBe('--(A|)');
        expectObservable(rpc.request('a')).toBe(
          '#',
          undefined,
          new TypeError('requester: a request with id a is pending'),
        );
      });
    });
  });

  describe("correlate: 'order'", () => {
    it('gives the first reply to the oldest request on the wire', () => {
      testScheduler.run(({ hot, cold, expectObservable }) => {
        const rpc = requester<string, string>();
        const frames = hot('---xy-');
        expectObservable(rpc.protocol(contextOf(frames))).toBe('ab----');
        expectObservable(rpc.request('a')).toBe('---(x|)');
        expectObservable(cold('-(x|)').pipe(mergeMap(() => rpc.request('b')))).toBe('----(y|)');
      });
    });

    it('drops the late reply of a timed-out request, so the next request still gets its own', () => {
      testScheduler.run(({ hot, cold, time, expectObservable }) => {
        const timeout = time('---|');
        const rpc = requester<string, string>({ timeout });
        const frames = hot('----xy-');
        expectObservable(rpc.protocol(contextOf(frames))).toBe('a--b---');
        expectObservable(rpc.request('a')).toBe(
          '---#',
          undefined,
          new RequestTimeoutError(timeout),
        );
        expectObservable(cold('---(x|)').pipe(mergeMap(() => rpc.request('b')))).toBe('-----(y|)');
      });
    });
  });

  describe('maxInFlight', () => {
    it('holds later requests back until a reply frees a place, in order', () => {
      testScheduler.run(({ hot, expectObservable }) => {
        const rpc = requester<string, string>({ maxInFlight: 1 });
        const frames = hot('--x--y--z-');
        expectObservable(rpc.protocol(contextOf(frames))).toBe('a-b--c----');
        expectObservable(rpc.request('a')).toBe('--(x|)');
        expectObservable(rpc.request('b')).toBe('-----(y|)');
        expectObservable(rpc.request('c')).toBe('--------(z|)');
      });
    });

    it('frees the place of a request that timed out', () => {
      testScheduler.run(({ hot, time, expectObservable }) => {
        const timeout = time('--|');
        const rpc = requester<string, string>({ maxInFlight: 1, timeout, correlate: byId });
        const frames = hot('---B-');
        expectObservable(rpc.protocol(contextOf(frames))).toBe('a-b--');
        expectObservable(rpc.request('a')).toBe('--#', undefined, new RequestTimeoutError(timeout));
        // b waits in the queue, so its own timeout started at 0 too, and its reply comes at 3.
        expectObservable(rpc.request('b')).toBe('--#', undefined, new RequestTimeoutError(timeout));
      });
    });

    it('fails with RequestQueueFullError past maxQueued, and only that request', () => {
      testScheduler.run(({ hot, expectObservable }) => {
        const rpc = requester<string, string>({ maxInFlight: 1, maxQueued: 1 });
        const frames = hot('--xy-');
        expectObservable(rpc.protocol(contextOf(frames))).toBe('a-b--');
        expectObservable(rpc.request('a')).toBe('--(x|)');
        expectObservable(rpc.request('b')).toBe('---(y|)');
        expectObservable(rpc.request('c')).toBe('#', undefined, new RequestQueueFullError(1));
      });
    });

    it('has a named default', () => {
      expect(DEFAULT_MAX_IN_FLIGHT).toBe(16);
    });
  });

  describe('timeout', () => {
    it('fails a request that is still queued when its time is up, and never sends it', () => {
      testScheduler.run(({ hot, cold, time, expectObservable }) => {
        const timeout = time('---|');
        const rpc = requester<string, string>({ timeout });
        const frames = hot('-----');
        expectObservable(rpc.request('a')).toBe(
          '---#',
          undefined,
          new RequestTimeoutError(timeout),
        );
        // The protocol starts after the timeout: nothing is left to send.
        expectObservable(
          cold('----(x|)').pipe(mergeMap(() => rpc.protocol(contextOf(frames)))),
        ).toBe('-----');
      });
    });

    it('is off with 0', () => {
      testScheduler.run(({ hot, expectObservable }) => {
        const rpc = requester<string, string>({ timeout: 0 });
        expectObservable(rpc.protocol(contextOf(hot('-')))).toBe('a');
        expectObservable(rpc.request('a')).toBe('-');
      });
    });
  });

  describe('when the connection closes', () => {
    it("fails every pending request with ConnectionClosedError at the peer's FIN, and completes", () => {
      testScheduler.run(({ hot, expectObservable }) => {
        const rpc = requester<string, string>({ maxInFlight: 1 });
        const frames = hot('--|');
        expectObservable(rpc.protocol(contextOf(frames))).toBe('a-|');
        expectObservable(rpc.request('a')).toBe('--#', undefined, closedBeforeReply(DONE));
        expectObservable(rpc.request('queued')).toBe('--#', undefined, closedBeforeReply(DONE));
      });
    });

    it('carries the close reason as cause', () => {
      testScheduler.run(({ hot, expectObservable, flush }) => {
        const lostReason: CloseReason = {
          type: 'lost',
          error: new ConnectionLostError(undefined, { cause: { code: 'ECONNRESET' } }),
        };
        const rpc = requester<string, string>();
        const closed = hot<CloseReason>('---c', { c: lostReason });
        expectObservable(rpc.protocol(contextOf(hot('-'), closed))).toBe('a---');
        let error: unknown;
        rpc.request('a').subscribe({ error: (e: unknown) => (error = e) });
        flush();
        expect(error).toBeInstanceOf(ConnectionClosedError);
        expect((error as ConnectionClosedError).cause).toBe(lostReason);
        expect((error as Error).message).toBe(
          'Connection closed (lost: Connection lost: ECONNRESET) before the reply arrived',
        );
      });
    });

    it('fails pending requests with the reason of a failed frame stream', () => {
      testScheduler.run(({ hot, expectObservable }) => {
        const lostError = new ConnectionLostError();
        const rpc = requester<string, string>();
        const frames = hot<string>('--#', undefined, lostError);
        expectObservable(rpc.protocol(contextOf(frames))).toBe('a-#', undefined, lostError);
        expectObservable(rpc.request('a')).toBe(
          '--#',
          undefined,
          new ConnectionClosedError(
            'Connection closed (lost: Connection lost) before the reply arrived',
            { cause: { type: 'lost', error: lostError } },
          ),
        );
      });
    });

    it('fails later requests at once', () => {
      testScheduler.run(({ hot, cold, expectObservable }) => {
        const rpc = requester<string, string>();
        expectObservable(rpc.protocol(contextOf(hot('-|')))).toBe('-|');
        expectObservable(cold('--(x|)').pipe(mergeMap(() => rpc.request('late')))).toBe(
          '--#',
          undefined,
          new ConnectionClosedError('Connection is closed (done)'),
        );
      });
    });
  });

  describe('close()', () => {
    it('fails the pending requests and completes the protocol, which ends the connection', () => {
      testScheduler.run(({ hot, cold, expectObservable }) => {
        const rpc = requester<string, string>();
        expectObservable(rpc.protocol(contextOf(hot('-')))).toBe('a-|');
        expectObservable(rpc.request('a')).toBe('--#', undefined, closedBeforeReply(DONE));
        expectObservable(cold('--(x|)').pipe(map(() => rpc.close()))).toBe('--(x|)', {
          x: undefined,
        });
      });
    });
  });

  describe('request()', () => {
    it('sends nothing until subscribed, and queues requests made before the protocol runs', () => {
      testScheduler.run(({ hot, cold, expectObservable }) => {
        const rpc = requester<string, string>();
        const unsent = rpc.request('never');
        expect(unsent).toBeDefined();
        const frames = hot('---x');
        expectObservable(rpc.request('early')).toBe('---(x|)');
        expectObservable(cold('--(x|)').pipe(mergeMap(() => rpc.protocol(contextOf(frames))))).toBe(
          '--e-',
          { e: 'early' },
        );
      });
    });

    it('never sends a request that was cancelled while queued', () => {
      testScheduler.run(({ hot, expectObservable }) => {
        const rpc = requester<string, string>({ maxInFlight: 1 });
        expectObservable(rpc.protocol(contextOf(hot('---x-')))).toBe('a----');
        expectObservable(rpc.request('a')).toBe('---(x|)');
        expectObservable(rpc.request('b'), '-!').toBe('--');
      });
    });

    it('drops the reply of a sent request that was cancelled, and keeps the order', () => {
      testScheduler.run(({ hot, expectObservable }) => {
        const rpc = requester<string, string>();
        expectObservable(rpc.protocol(contextOf(hot('---xy')))).toBe('(ab)-');
        expectObservable(rpc.request('a'), '-!').toBe('--');
        expectObservable(rpc.request('b')).toBe('----(y|)');
      });
    });

    it('runs its protocol on one connection only', () => {
      testScheduler.run(({ hot, expectObservable }) => {
        const rpc = requester<string, string>();
        expectObservable(rpc.protocol(contextOf(hot('-')))).toBe('-');
        expectObservable(rpc.protocol(contextOf(hot('-')))).toBe(
          '#',
          undefined,
          new TypeError('requester: its protocol runs on one connection, once'),
        );
      });
    });

    it('throws a TypeError at call time for bad options', () => {
      expect(() => requester({ maxInFlight: 0 })).toThrow(TypeError);
      expect(() => requester({ maxQueued: -1 })).toThrow(TypeError);
      expect(() => requester({ timeout: -5 })).toThrow(TypeError);
      expect(() => requester({ correlate: 'fifo' as 'order' })).toThrow(TypeError);
    });
  });

  describe('requestAsync()', () => {
    it('resolves with the reply', async () => {
      const frames = new Subject<string>();
      const rpc = requester<string, string>();
      rpc.protocol(contextOf(frames)).subscribe((request) => frames.next(request.toUpperCase()));
      await expect(rpc.requestAsync('hi')).resolves.toBe('HI');
    });

    it('rejects with the typed error', async () => {
      const rpc = requester<string, string>();
      rpc.protocol(contextOf(new Subject<string>())).subscribe();
      rpc.close();
      await expect(rpc.requestAsync('hi')).rejects.toBeInstanceOf(ConnectionClosedError);
    });

    it("rejects with the signal's reason when aborted, and drops the reply", async () => {
      const frames = new Subject<string>();
      const rpc = requester<string, string>();
      const sent: string[] = [];
      rpc.protocol(contextOf(frames)).subscribe((request) => sent.push(request));
      const controller = new AbortController();
      const pending = rpc.requestAsync('slow', { signal: controller.signal });
      controller.abort(new Error('no longer needed'));
      await expect(pending).rejects.toThrow('no longer needed');
      frames.next('SLOW');
      const next = rpc.requestAsync('next');
      frames.next('NEXT');
      await expect(next).resolves.toBe('NEXT');
      expect(sent).toEqual(['slow', 'next']);
    });

    it('rejects at once with an aborted signal', async () => {
      const rpc = requester<string, string>();
      const controller = new AbortController();
      controller.abort(new Error('already'));
      await expect(rpc.requestAsync('x', { signal: controller.signal })).rejects.toThrow('already');
    });
  });

  describe('over a connection', () => {
    it('runs on a memoryConnection, and fails pending requests with the reason when the peer resets', async () => {
      const conn = memoryConnection();
      const rpc = requester<string, string>({ timeout: 0 });
      const run = lastValueFrom(
        runProtocol(conn, rpc.protocol, {
          decode: lines({ delimiter: '\n', encoding: 'utf8' }),
          encode: (line: string) => `${line}\n`,
        }),
        { defaultValue: 'closed' },
      );
      const first = rpc.requestAsync('one');
      const second = rpc.requestAsync('two');
      expect(conn.writtenText).toBe('one\ntwo\n');
      conn.receive('ONE\n');
      await expect(first).resolves.toBe('ONE');
      conn.closeFromPeer('reset');
      const error: unknown = await second.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectionClosedError);
      expect((error as ConnectionClosedError).cause).toMatchObject({
        type: 'lost',
        error: { code: 'RXNET_ERR_CONNECTION_LOST' },
      });
      await run;
    });

    it('talks JSON-RPC over lengthPrefixed to a respond() server on a real socket', async () => {
      interface Call {
        readonly id: number;
        readonly method: 'add' | 'slow' | 'fail';
        readonly params: readonly number[];
      }
      interface Reply {
        readonly id: number;
        readonly result?: number;
        readonly error?: string;
      }
      const decodeJson =
        <T>() =>
        (bytes: Observable<Buffer>): Observable<T> =>
          bytes.pipe(
            lengthPrefixed({ prefixBytes: 4 }),
            map((frame) => JSON.parse(frame.toString('utf8')) as T),
          );
      const encodeJson = (message: unknown): readonly Buffer[] =>
        encodeLengthPrefixedFrame(JSON.stringify(message), { prefixBytes: 4 });

      const handle = (call: Call): Reply | Observable<Reply> => {
        switch (call.method) {
          case 'add':
            return { id: call.id, result: call.params.reduce((a, b) => a + b, 0) };
          case 'slow':
            return timer(call.params[0]!).pipe(
              map(() => ({ id: call.id, result: call.params[0]! })),
            );
          default:
            throw new Error('no such method');
        }
      };
      const server: Behaviour<Call, Reply> = (events) =>
        events.pipe(
          protocol((conn) =>
            conn.frames$.pipe(
              respond(handle, {
                order: 'completion',
                timeout: 200,
                onError: (error, call) => ({
                  id: call.id,
                  error: error instanceof RequestTimeoutError ? error.code : String(error),
                }),
              }),
            ),
          ),
        );
      let subscription: Subscription | undefined;
      const port = await new Promise<number>((resolve, reject) => {
        subscription = serve(LOOPBACK, server, {
          decode: decodeJson<Call>(),
          encode: (reply) => Buffer.concat(encodeJson(reply)),
        }).subscribe({
          next(notification) {
            if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
              resolve(notification.address.port);
            }
          },
          error: reject,
        });
      });
      try {
        const connection = await connectAsync(`tcp:127.0.0.1:${port}`);
        const rpc = requester<Call, Reply>({
          correlate: { requestId: (call) => call.id, replyId: (reply) => reply.id },
          timeout: 2000,
        });
        const run = lastValueFrom(
          runProtocol(connection, rpc.protocol, {
            decode: decodeJson<Reply>(),
            encode: encodeJson,
          }),
          { defaultValue: 'closed' },
        );
        const order: number[] = [];
        const ask = (call: Call): Promise<Reply> =>
          rpc.requestAsync(call).then((reply) => {
            order.push(reply.id);
            return reply;
          });
        const replies = await Promise.all([
          ask({ id: 1, method: 'slow', params: [60] }),
          ask({ id: 2, method: 'add', params: [1, 2, 3] }),
          ask({ id: 3, method: 'fail', params: [] }),
          ask({ id: 4, method: 'slow', params: [500] }),
        ]);
        expect(replies).toEqual([
          { id: 1, result: 60 },
          { id: 2, result: 6 },
          { id: 3, error: 'Error: no such method' },
          { id: 4, error: 'RXNET_ERR_REQUEST_TIMEOUT' },
        ]);
        // Correlated by id, the quick replies overtake the slow one.
        expect(order.indexOf(2)).toBeLessThan(order.indexOf(1));
        rpc.close();
        await run;
        expect(await lastValueFrom(connection.closed$)).toEqual({ type: 'done' });
      } finally {
        subscription?.unsubscribe();
      }
    });
  });

  describe('properties', () => {
    interface Plan {
      readonly at: number;
      readonly delay: number;
      readonly dropped: boolean;
    }
    const plans = fc.array(
      fc.record({ at: fc.nat(30), delay: fc.nat(15), dropped: fc.boolean() }),
      { minLength: 1, maxLength: 25 },
    );

    it('settles every request exactly once, with its own reply or one typed error', () => {
      fc.assert(
        fc.property(
          plans,
          fc.constantFrom<'order' | 'id'>('order', 'id'),
          fc.integer({ min: 1, max: 4 }),
          fc.integer({ min: 0, max: 30 }),
          fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }),
          fc.integer({ min: 10, max: 60 }),
          fc.constantFrom<'fin' | 'lost'>('fin', 'lost'),
          (
            requests: readonly Plan[],
            correlation,
            maxInFlight,
            maxQueued,
            timeout,
            closeAt,
            how,
          ) => {
            const scheduler = new TestScheduler(observableMatcher);
            scheduler.run(({ flush }) => {
              const frames = new Subject<string>();
              const closed = new Subject<CloseReason>();
              const rpc = requester<string, string>({
                correlate: correlation === 'order' ? 'order' : byId,
                maxInFlight,
                maxQueued,
                timeout: timeout ?? 0,
                scheduler,
              });
              const outcomes = requests.map(() => [] as string[]);
              const askedAt: number[] = [];
              const delivered = new Map<number, number>();
              let unsettledSent = 0;
              let maxUnsettledSent = 0;
              const settledAt = new Map<number, number>();
              const sentIds = new Set<number>();
              let lastReply = 0;
              let isClosed = false;

              // The server: replies to each request after its delay (in order when correlated by
              // order; by id it may also drop a reply), until the connection closes.
              rpc.protocol(contextOf(frames, closed)).subscribe((request) => {
                const i = Number(request.slice(1));
                sentIds.add(i);
                unsettledSent = [...sentIds].filter((id) => !settledAt.has(id)).length;
                maxUnsettledSent = Math.max(maxUnsettledSent, unsettledSent);
                const plan = requests[i]!;
                if (correlation === 'id' && plan.dropped) return;
                let at = scheduler.now() + plan.delay;
                if (correlation === 'order') at = lastReply = Math.max(lastReply, at);
                scheduler.schedule(() => {
                  if (isClosed) return;
                  delivered.set(i, scheduler.now());
                  frames.next(`R${i}`);
                }, at - scheduler.now());
              });
              requests.forEach((plan, i) =>
                scheduler.schedule(() => {
                  askedAt[i] = scheduler.now();
                  rpc.request(`r${i}`).subscribe({
                    next: (reply) => outcomes[i]!.push(`reply ${reply}`),
                    error: (error: unknown) => {
                      settledAt.set(i, scheduler.now());
                      outcomes[i]!.push(
                        `error ${(error as { code?: string }).code ?? String(error)}`,
                      );
                    },
                    complete: () => {
                      settledAt.set(i, scheduler.now());
                      outcomes[i]!.push('complete');
                    },
                  });
                }, plan.at),
              );
              scheduler.schedule(() => {
                isClosed = true;
                if (how === 'fin') frames.complete();
                else closed.next({ type: 'lost', error: new ConnectionLostError() });
              }, closeAt);
              flush();

              expect(maxUnsettledSent).toBeLessThanOrEqual(maxInFlight);
              outcomes.forEach((outcome, i) => {
                const [first, ...rest] = outcome;
                if (first?.startsWith('reply')) {
                  // Its own reply, delivered by the server, then completion: nothing else.
                  expect(outcome).toEqual([`reply R${i}`, 'complete']);
                  expect(settledAt.get(i)).toBe(delivered.get(i));
                } else {
                  expect(rest).toEqual([]);
                  expect([
                    'error RXNET_ERR_REQUEST_TIMEOUT',
                    'error RXNET_ERR_CONNECTION_CLOSED',
                    'error RXNET_ERR_REQUEST_QUEUE_FULL',
                  ]).toContain(first);
                  if (first === 'error RXNET_ERR_REQUEST_TIMEOUT') {
                    expect(settledAt.get(i)! - askedAt[i]!).toBe(timeout);
                  }
                  if (first === 'error RXNET_ERR_CONNECTION_CLOSED') {
                    // Failed by the close, so its reply had not come before it.
                    expect(settledAt.get(i)).toBeGreaterThanOrEqual(Math.min(closeAt, askedAt[i]!));
                    if (delivered.has(i)) expect(delivered.get(i)).toBeGreaterThanOrEqual(closeAt);
                  }
                }
              });
            });
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});

import {
  asyncScheduler,
  concatWith,
  ignoreElements,
  NEVER,
  Observable,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
  tap,
} from 'rxjs';
import { RequestQueueFullError, RequestTimeoutError } from '../errors';
import {
  type OpenRequest,
  requestEnded,
  requestStarted,
  type RequestOutcome,
} from '../observability/requestDiagnostics';
import { checkCount, checkTimeout, connectionSubscribing, resultOf } from './internal';
import {
  DEFAULT_MAX_QUEUED_REQUESTS,
  DEFAULT_REQUEST_TIMEOUT,
  DEFAULT_RESPOND_CONCURRENCY,
} from './limits';

/**
 * In which order {@link respond} emits replies: `request` keeps the order of the requests (for
 * protocols that match replies to requests by position); `completion` emits each reply as soon as
 * it is ready (for protocols whose replies carry the request's id).
 */
export type RespondOrder = 'request' | 'completion';

/** Options of {@link respond}. */
export interface RespondOptions<Req, Res> {
  /**
   * How many requests are handled at once; more wait in arrival order. In `request` order a
   * request holds its slot until its replies are out, so at most this many requests' replies are
   * ever buffered.
   * @defaultValue {@link DEFAULT_RESPOND_CONCURRENCY} (16)
   */
  readonly concurrency?: number;
  /**
   * How many requests may wait for a slot; one more fails the stream with
   * {@link RequestQueueFullError}, so a peer that floods cannot grow memory without bound.
   * @defaultValue {@link DEFAULT_MAX_QUEUED_REQUESTS} (1024)
   */
  readonly maxQueued?: number;
  /**
   * Milliseconds a handler may run, from its start until it completes; then it is unsubscribed and
   * the request fails with {@link RequestTimeoutError}. 0 or `Infinity`: no limit.
   * @defaultValue {@link DEFAULT_REQUEST_TIMEOUT} (30000)
   */
  readonly timeout?: number;
  /** @defaultValue `'request'` */
  readonly order?: RespondOrder;
  /**
   * Turns a failed request (the handler threw, rejected or failed, or timed out) into its reply,
   * in the request's place; without it, the first failure fails the stream (and so closes the
   * connection with it as the reason). What it throws fails the stream.
   */
  readonly onError?: (error: unknown, request: Req) => Res;
  /**
   * Where the timeouts run; a `TestScheduler` makes them virtual.
   * @defaultValue `asyncScheduler`
   */
  readonly scheduler?: SchedulerLike;
}

/**
 * Answers each request with the reply its handler gives: a value, a Promise or an Observable.
 *
 * ```text
 * source:    -a-b-c------|    handler: a takes 4 frames, b 1, c 5
 * respond(): -----(AB)-C-|    A, B, C: their replies, in request order
 * ```
 *
 * The server half of a request/response protocol, for a per-connection {@link protocol}'s
 * `frames$`: `conn.frames$.pipe(respond(handle))`. Up to `concurrency` requests run at once;
 * later ones wait (at most `maxQueued`). In `request` order a reply that is ready early waits for
 * the replies before it, so a pipelining client gets them in the order it asked (Redis, HTTP/1.1);
 * in `completion` order each comes out when ready, for protocols whose replies carry the request's
 * id (JSON-RPC): the handler builds the reply, id included.
 *
 * A handler returning a value or a Promise gives one reply; an Observable gives its values, and
 * the request is done when it completes (`EMPTY` answers a notification with nothing). Only
 * Observables and thenables are unwrapped: an array or a string is one reply. The timeout runs on
 * `scheduler`, never on a Promise, so a marble spec tests it in virtual time.
 *
 * While something subscribes to `rxnet:request:start` or `rxnet:request:end` (see
 * {@link DIAGNOSTICS_CHANNELS}), each request publishes a {@link RequestMessage} when it arrives
 * and again when its handler is done, with its outcome (a failure that `onError` answers is still
 * an `error` or a `timeout`); `rxnet/otel` makes a `SERVER` span of it.
 *
 * Fails with {@link RequestTimeoutError} when a handler runs past `timeout`, with the handler's
 * error, and with {@link RequestQueueFullError} past `maxQueued`; the first two become replies
 * when `onError` is given. Completes once the source has completed and every reply is out.
 * Throws a `TypeError` at call time for a `concurrency` below 1, a negative `maxQueued` or
 * `timeout`, or an unknown `order`.
 *
 * ## Example
 * ```ts
 * import { respond, protocol, type Behaviour } from 'rxnet';
 *
 * interface Call { id: number; method: string; params: number[] }
 * interface Reply { id: number; result?: unknown; error?: string }
 * declare function compute(call: Call): Promise<unknown>;
 *
 * const rpc: Behaviour<Call, Reply> = (events) =>
 *   events.pipe(
 *     protocol((conn) =>
 *       conn.frames$.pipe(
 *         respond(async (call: Call): Promise<Reply> => ({ id: call.id, result: await compute(call) }), {
 *           order: 'completion',
 *           timeout: 5000,
 *           onError: (error, call) => ({ id: call.id, error: String(error) }),
 *         }),
 *       ),
 *     ),
 *   );
 * ```
 *
 * @param handler Makes the reply to a request; also given the request's index (from 0).
 * @param options Concurrency, queue bound, timeout, order, error replies and the scheduler.
 * @returns A function that returns an Observable of the replies.
 * @see {@link requester} for the client half.
 */
export function respond<Req, Res>(
  handler: (request: Req, index: number) => Res | PromiseLike<Res> | Observable<Res>,
  options: RespondOptions<Req, Res> = {},
): OperatorFunction<Req, Res> {
  const concurrency = checkCount(
    'respond: concurrency',
    options.concurrency,
    DEFAULT_RESPOND_CONCURRENCY,
    1,
  );
  const maxQueued = checkCount(
    'respond: maxQueued',
    options.maxQueued,
    DEFAULT_MAX_QUEUED_REQUESTS,
    0,
  );
  const timeout = checkTimeout('respond: timeout', options.timeout, DEFAULT_REQUEST_TIMEOUT);
  const order = options.order ?? 'request';
  if (order !== 'request' && order !== 'completion') {
    throw new TypeError(`respond: order must be 'request' or 'completion', got ${String(order)}`);
  }
  const inOrder = order === 'request';
  const { onError, scheduler = asyncScheduler } = options;

  return (source) =>
    new Observable<Res>((subscriber) => {
      // Under protocol() or runProtocol(), the connection whose protocol is subscribing.
      const connection = connectionSubscribing();
      /** Started and not yet done; in request order, not yet delivered: the head emits, the rest buffer. */
      const jobs: Job<Req, Res>[] = [];
      const waiting: Job<Req, Res>[] = [];
      let index = 0;
      let sourceDone = false;
      let pumping = false;

      function onRequest(request: Req): void {
        const message = requestStarted('responder', connection, request);
        if (waiting.length >= maxQueued && jobs.length >= concurrency) {
          const error = new RequestQueueFullError(maxQueued);
          if (message !== undefined) requestEnded(message, 'error', error);
          subscriber.error(error);
          return;
        }
        waiting.push(new Job(request, index++, message));
        pump();
      }

      /** Starts waiting requests while there are free slots; a loop, as a synchronous handler re-enters. */
      function pump(): void {
        if (pumping) return;
        pumping = true;
        try {
          while (jobs.length < concurrency && waiting.length > 0 && !subscriber.closed) {
            start(waiting.shift()!);
          }
        } finally {
          pumping = false;
        }
        if (sourceDone && jobs.length === 0 && waiting.length === 0) subscriber.complete();
      }

      function start(job: Job<Req, Res>): void {
        jobs.push(job);
        if (timeout !== Infinity) {
          job.timer = scheduler.schedule(
            () => fail(job, new RequestTimeoutError(timeout)),
            timeout,
          );
        }
        let reply$: Observable<Res>;
        try {
          reply$ = resultOf(handler(job.request, job.index));
        } catch (error: unknown) {
          fail(job, error);
          return;
        }
        const subscription = reply$.subscribe({
          next: (reply) => deliver(job, reply),
          error: (error: unknown) => fail(job, error),
          complete: () => done(job),
        });
        if (job.finished) subscription.unsubscribe();
        else job.subscription = subscription;
      }

      function deliver(job: Job<Req, Res>, reply: Res): void {
        if (!inOrder || (jobs[0] === job && job.buffer === undefined)) subscriber.next(reply);
        else (job.buffer ??= []).push(reply);
      }

      function fail(job: Job<Req, Res>, error: unknown): void {
        if (job.finished) return;
        job.stop();
        job.report(error instanceof RequestTimeoutError ? 'timeout' : 'error', error);
        if (onError === undefined) {
          subscriber.error(error);
          return;
        }
        let reply: Res;
        try {
          reply = onError(error, job.request);
        } catch (thrown: unknown) {
          subscriber.error(thrown);
          return;
        }
        deliver(job, reply);
        done(job);
      }

      function done(job: Job<Req, Res>): void {
        job.stop();
        job.report('ok');
        if (!inOrder) {
          jobs.splice(jobs.indexOf(job), 1);
        } else if (jobs[0] === job) {
          jobs.shift();
          flushHead();
        }
        pump();
      }

      /** The head of request order moved on: the next requests' buffered replies go out, in order. */
      function flushHead(): void {
        while (jobs.length > 0 && !subscriber.closed) {
          const head = jobs[0]!;
          const buffer = head.buffer;
          if (buffer !== undefined) {
            // Emitting may make the head reply again: that reply joins the buffer, still in order.
            for (let i = 0; i < buffer.length && !subscriber.closed; i++)
              subscriber.next(buffer[i]!);
            head.buffer = undefined;
          }
          if (!head.finished) return;
          jobs.shift();
        }
      }

      source
        .pipe(
          tap({
            next: onRequest,
            complete: () => {
              sourceDone = true;
              pump();
            },
          }),
          ignoreElements(),
          // The source's completion is not ours: in-flight replies still have to come out.
          concatWith(NEVER),
        )
        .subscribe(subscriber);

      return () => {
        for (const job of jobs) {
          job.stop();
          job.report('cancelled');
        }
        for (const job of waiting) job.report('cancelled');
        jobs.length = 0;
        waiting.length = 0;
      };
    });
}

/** One request being handled: its reply's subscription, its timer, and replies that wait their turn. */
class Job<Req, Res> {
  subscription: Subscription | undefined;
  timer: Subscription | undefined;
  buffer: Res[] | undefined;
  finished = false;

  constructor(
    readonly request: Req,
    readonly index: number,
    /** Its `rxnet:request:*` message while unreported, when someone subscribes to those channels. */
    private message: OpenRequest | undefined,
  ) {}

  /** Publishes how the request ended, the first time only. */
  report(outcome: RequestOutcome, error?: unknown): void {
    const message = this.message;
    if (message === undefined) return;
    this.message = undefined;
    requestEnded(message, outcome, error);
  }

  stop(): void {
    this.finished = true;
    this.timer?.unsubscribe();
    this.timer = undefined;
    this.subscription?.unsubscribe();
    this.subscription = undefined;
  }
}

import {
  asyncScheduler,
  Observable,
  type SchedulerLike,
  type Subscriber,
  type Subscription,
} from 'rxjs';
import { ConnectionClosedError, RequestQueueFullError, RequestTimeoutError } from '../errors';
import {
  type OpenRequest,
  requestEnded,
  requestStarted,
  type RequestOutcome,
} from '../observability/requestDiagnostics';
import type { CloseReason, ConnectionId } from '../types';
import type { ProtocolContext } from './context';
import { checkCount, checkTimeout, closeReasonOf, describeReason } from './internal';
import {
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_QUEUED_REQUESTS,
  DEFAULT_REQUEST_TIMEOUT,
} from './limits';

/**
 * How a requester matches a reply to its request: `'order'`, the first reply answers the oldest
 * request on the wire (Redis, HTTP/1.1 pipelining); or by an id read from each (JSON-RPC). Ids
 * are compared as `Map` keys: use numbers or strings.
 */
export type Correlation<Req, Res> =
  | 'order'
  | {
      /** The id a request carries. */
      readonly requestId: (request: Req) => unknown;
      /** The id of the request a reply answers. */
      readonly replyId: (reply: Res) => unknown;
    };

/** Options of {@link requester}. */
export interface RequesterOptions<Req, Res> {
  /** @defaultValue `'order'` */
  readonly correlate?: Correlation<Req, Res>;
  /**
   * How many requests are on the wire at once, waiting for their replies (pipelining depth).
   * Later requests wait their turn rather than fail; a request that timed out frees its place.
   * @defaultValue {@link DEFAULT_MAX_IN_FLIGHT} (16)
   */
  readonly maxInFlight?: number;
  /**
   * How many requests may wait for a place on the wire (or for the connection); one more fails
   * at once with {@link RequestQueueFullError}.
   * @defaultValue {@link DEFAULT_MAX_QUEUED_REQUESTS} (1024)
   */
  readonly maxQueued?: number;
  /**
   * Milliseconds from a request to its reply, waiting included; then it fails with
   * {@link RequestTimeoutError}. 0 or `Infinity`: no limit.
   * @defaultValue {@link DEFAULT_REQUEST_TIMEOUT} (30000)
   */
  readonly timeout?: number;
  /**
   * Where the timeouts run; a `TestScheduler` makes them virtual.
   * @defaultValue `asyncScheduler`
   */
  readonly scheduler?: SchedulerLike;
}

/** Options of {@link Requester.requestAsync}. */
export interface RequestAsyncOptions {
  /** Cancels the request: it rejects with `signal.reason`, and its reply is ignored. */
  readonly signal?: AbortSignal;
}

/** The client half of a request/response protocol over one connection; made by {@link requester}. */
export interface Requester<Req, Res> {
  /**
   * The per-connection protocol that carries the requests and reads the replies: run it with
   * `runProtocol(connection, rpc.protocol, { decode, encode })`, or inside `protocol()` on a
   * server. It runs on one connection, once; when that connection's frames end or it closes,
   * the requester is closed.
   */
  readonly protocol: (conn: ProtocolContext<Res>) => Observable<Req>;
  /**
   * Sends `request` once subscribed (cold), and emits its reply, then completes. Fails with
   * {@link RequestTimeoutError}, {@link RequestQueueFullError}, or {@link ConnectionClosedError}
   * (its `cause` is the connection's {@link CloseReason}) when the connection closes first or
   * had closed. Unsubscribing cancels it: unsent, it is never sent; sent, its reply is dropped.
   */
  request(request: Req): Observable<Res>;
  /** {@link Requester.request} as a Promise, for `await`; `signal` cancels it. */
  requestAsync(request: Req, options?: RequestAsyncOptions): Promise<Res>;
  /**
   * Closes the requester: every pending request fails with {@link ConnectionClosedError} (cause
   * `{ type: 'done' }`), later ones fail at once, and the protocol completes, which ends the
   * connection gracefully.
   */
  close(): void;
}

/**
 * Makes the client half of a request/response protocol: `request()` sends a request over one
 * connection and gives its reply, with pipelining, correlation by order or by id, a bound on the
 * requests in flight, and a timeout per request.
 *
 * ```text
 * request(a), request(b):  ab--------    (at frame 0 and 1)
 * protocol output:         ab--------    the requests, written in order
 * frames$ (replies):       ----B-A---    with correlate by id
 * request(a):              ------(A|)
 * request(b):              ----(B|)
 * ```
 *
 * The requests go out through {@link Requester.protocol}, a per-connection protocol, so the
 * requester runs on a client's connection (`runProtocol`), on a server's (`protocol()`), or on
 * marbles (`testProtocol`). Up to `maxInFlight` requests are on the wire at once; later ones
 * queue, in order, up to `maxQueued`. Each reply settles exactly one request: the oldest sent
 * one (`'order'`), or the one whose id it carries; a reply that matches nothing (its request
 * timed out, or was cancelled) is dropped. When the connection's frames end (the peer's FIN) or
 * it closes, every pending request fails with {@link ConnectionClosedError}, whose `cause` is the
 * {@link CloseReason}.
 *
 * While something subscribes to `rxnet:request:start` or `rxnet:request:end` (see
 * {@link DIAGNOSTICS_CHANNELS}), each request publishes a {@link RequestMessage} at its start and
 * again at its end, with its outcome; `rxnet/otel` makes a `CLIENT` span of it.
 *
 * Fails a request, never the others, with {@link RequestTimeoutError} after `timeout`, or with
 * {@link RequestQueueFullError} past `maxQueued`; with a `TypeError` when its id is already
 * pending. Throws a `TypeError` at call time for a `maxInFlight` below 1 or a negative
 * `maxQueued` or `timeout`.
 *
 * ## Example
 * ```ts
 * import { map } from 'rxjs';
 * import { connectAsync, encodeLengthPrefixedFrame, lengthPrefixed, requester, runProtocol } from 'rxnet';
 *
 * interface Reply { id: number; result?: unknown; error?: string }
 * const connection = await connectAsync('tcp:localhost:7000');
 * const rpc = requester<object, Reply>({
 *   correlate: { requestId: (req) => (req as { id: number }).id, replyId: (reply) => reply.id },
 *   timeout: 5000,
 * });
 * runProtocol(connection, rpc.protocol, {
 *   decode: (bytes) => bytes.pipe(lengthPrefixed(), map((frame) => JSON.parse(frame.toString()) as Reply)),
 *   encode: (req) => encodeLengthPrefixedFrame(JSON.stringify(req)),
 * }).subscribe();
 * const reply = await rpc.requestAsync({ id: 1, method: 'add', params: [1, 2] });
 * ```
 *
 * @param options Correlation, limits, timeout and scheduler.
 * @returns A {@link Requester}.
 * @see {@link respond} for the server half.
 */
export function requester<Req, Res>(options: RequesterOptions<Req, Res> = {}): Requester<Req, Res> {
  const correlate = options.correlate ?? 'order';
  if (correlate !== 'order' && (typeof correlate !== 'object' || correlate === null)) {
    throw new TypeError(`requester: correlate must be 'order' or { requestId, replyId }`);
  }
  return new Client<Req, Res>(
    correlate,
    checkCount('requester: maxInFlight', options.maxInFlight, DEFAULT_MAX_IN_FLIGHT, 1),
    checkCount('requester: maxQueued', options.maxQueued, DEFAULT_MAX_QUEUED_REQUESTS, 0),
    checkTimeout('requester: timeout', options.timeout, DEFAULT_REQUEST_TIMEOUT),
    options.scheduler ?? asyncScheduler,
  );
}

/** One request: who waits for it, its timer, and where it is. */
class Call<Req, Res> {
  timer: Subscription | undefined;
  /** Written to the connection. */
  sent = false;
  /** Counts toward maxInFlight: sent, its reply not in, not timed out. */
  counted = false;
  /** Its caller has its answer (a reply or an error), or went away. */
  settled = false;

  constructor(
    readonly request: Req,
    readonly key: unknown,
    public subscriber: Subscriber<Res> | undefined,
    /** Its `rxnet:request:*` message, when someone subscribes to those channels. */
    readonly message: OpenRequest | undefined,
  ) {}

  /** Settles the call, and publishes how; returns whoever still waits for it. */
  settle(outcome: RequestOutcome, error?: unknown): Subscriber<Res> | undefined {
    this.settled = true;
    this.timer?.unsubscribe();
    this.timer = undefined;
    if (this.message !== undefined) requestEnded(this.message, outcome, error);
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    return subscriber;
  }
}

class Client<Req, Res> implements Requester<Req, Res> {
  private output: Subscriber<Req> | undefined;
  private attached = false;
  /** The connection its protocol runs on, once it runs: for the diagnostics messages. */
  private connection: ConnectionId | undefined;
  /** Set once closed: why. */
  private reason: CloseReason | undefined;
  /** Not yet sent, in order. */
  private readonly queue: Call<Req, Res>[] = [];
  /** By order: sent, reply not in yet (cancelled and timed-out ones stay, to drop their reply). */
  private readonly sent: Call<Req, Res>[] = [];
  /** By id: every pending call, sent or not. */
  private readonly byId = new Map<unknown, Call<Req, Res>>();
  private inFlight = 0;
  private pumping = false;

  constructor(
    private readonly correlate: Correlation<Req, Res>,
    private readonly maxInFlight: number,
    private readonly maxQueued: number,
    private readonly timeout: number,
    private readonly scheduler: SchedulerLike,
  ) {}

  readonly protocol = (conn: ProtocolContext<Res>): Observable<Req> =>
    new Observable<Req>((output) => {
      if (this.attached) {
        output.error(new TypeError('requester: its protocol runs on one connection, once'));
        return undefined;
      }
      this.attached = true;
      if (this.reason !== undefined) {
        output.complete();
        return undefined;
      }
      this.output = output;
      this.connection = conn.id;
      const closed = conn.closed$.subscribe((reason) => this.shutdown(reason));
      const frames = conn.frames$.subscribe({
        next: (reply) => this.reply(reply),
        error: (error: unknown) => {
          this.shutdown(closeReasonOf(error));
          output.error(error);
        },
        complete: () => {
          this.shutdown({ type: 'done' });
          output.complete();
        },
      });
      this.pump();
      return () => {
        frames.unsubscribe();
        closed.unsubscribe();
        this.shutdown({ type: 'done' });
      };
    });

  request(request: Req): Observable<Res> {
    return new Observable<Res>((subscriber) => {
      const message = requestStarted('requester', this.connection, request);
      /** Fails the request before it is queued. */
      const refuse = (error: unknown): undefined => {
        if (message !== undefined) requestEnded(message, 'error', error);
        subscriber.error(error);
        return undefined;
      };
      const reason = this.reason;
      if (reason !== undefined) {
        return refuse(
          new ConnectionClosedError(`Connection is closed (${describeReason(reason)})`, {
            cause: reason,
          }),
        );
      }
      const byId = this.correlate !== 'order';
      let key: unknown;
      if (this.correlate !== 'order') {
        try {
          key = this.correlate.requestId(request);
        } catch (error: unknown) {
          return refuse(error);
        }
        if (this.byId.has(key)) {
          return refuse(new TypeError(`requester: a request with id ${String(key)} is pending`));
        }
      }
      if (this.queue.length >= this.maxQueued && !this.canSend()) {
        return refuse(new RequestQueueFullError(this.maxQueued));
      }
      const call = new Call<Req, Res>(request, key, subscriber, message);
      if (this.timeout !== Infinity) {
        call.timer = this.scheduler.schedule(() => this.timedOut(call), this.timeout);
      }
      this.queue.push(call);
      if (byId) this.byId.set(key, call);
      this.pump();
      return () => this.cancel(call);
    });
  }

  requestAsync(request: Req, options: RequestAsyncOptions = {}): Promise<Res> {
    const { signal } = options;
    return new Promise<Res>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        subscription.unsubscribe();
        reject(signal?.reason);
      };
      const subscription = this.request(request).subscribe({
        next: resolve,
        error: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
        complete: () => signal?.removeEventListener('abort', onAbort),
      });
      if (!subscription.closed) signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  close(): void {
    const output = this.output;
    this.shutdown({ type: 'done' });
    output?.complete();
  }

  private canSend(): boolean {
    return this.output !== undefined && this.queue.length === 0 && this.inFlight < this.maxInFlight;
  }

  /** Sends waiting requests while there is room; a loop, as a synchronous reply re-enters. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (
        this.output !== undefined &&
        this.inFlight < this.maxInFlight &&
        this.queue.length > 0
      ) {
        const call = this.queue.shift()!;
        // Queued before the protocol ran, it learns its connection now.
        if (call.message !== undefined) call.message.connection ??= this.connection!;
        call.sent = true;
        call.counted = true;
        this.inFlight++;
        if (this.correlate === 'order') this.sent.push(call);
        this.output.next(call.request);
      }
    } finally {
      this.pumping = false;
    }
  }

  private reply(reply: Res): void {
    let call: Call<Req, Res> | undefined;
    if (this.correlate === 'order') {
      call = this.sent.shift();
    } else {
      let key: unknown;
      try {
        key = this.correlate.replyId(reply);
      } catch (error: unknown) {
        const output = this.output;
        this.shutdown(closeReasonOf(error));
        output?.error(error);
        return;
      }
      call = this.byId.get(key);
      if (call === undefined || !call.sent) return;
      this.byId.delete(key);
    }
    if (call === undefined) return;
    if (call.counted) {
      call.counted = false;
      this.inFlight--;
    }
    if (!call.settled) {
      const subscriber = call.settle('ok');
      subscriber?.next(reply);
      subscriber?.complete();
    }
    this.pump();
  }

  private timedOut(call: Call<Req, Res>): void {
    if (call.settled) return;
    const error = new RequestTimeoutError(this.timeout);
    const subscriber = call.settle('timeout', error);
    if (!call.sent) {
      this.unqueue(call);
    } else {
      if (call.counted) {
        call.counted = false;
        this.inFlight--;
      }
      // By id, a late reply finds nothing and is dropped; by order, the call keeps its place.
      if (this.correlate !== 'order') this.byId.delete(call.key);
    }
    subscriber?.error(error);
    this.pump();
  }

  private cancel(call: Call<Req, Res>): void {
    if (call.settled) return;
    call.settle('cancelled');
    // Sent, it stays in flight until its reply arrives, which is then dropped.
    if (!call.sent) this.unqueue(call);
  }

  private unqueue(call: Call<Req, Res>): void {
    const at = this.queue.indexOf(call);
    if (at >= 0) this.queue.splice(at, 1);
    if (this.correlate !== 'order') this.byId.delete(call.key);
  }

  /** Closes once: every pending request fails with the reason. */
  private shutdown(reason: CloseReason): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.output = undefined;
    const pending = [...this.queue, ...this.sent, ...this.byId.values()];
    this.queue.length = 0;
    this.sent.length = 0;
    this.byId.clear();
    this.inFlight = 0;
    const message = `Connection closed (${describeReason(reason)}) before the reply arrived`;
    for (const call of pending) {
      if (call.settled) continue;
      const error = new ConnectionClosedError(message, { cause: reason });
      call.settle('error', error)?.error(error);
    }
  }
}

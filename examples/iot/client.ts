/**
 * What the IoT emulators (examples/iot-relayer.ts, examples/iot-app.ts) share: an SBMP requester
 * with the seq rule of §9.2, the session every peer runs on one connection (log in, heartbeat,
 * answer the gateway's requests, run a script), and the client lifecycle with optional reconnect.
 *
 * A session is a per-connection protocol, so it runs on a real connection (`runProtocol` over
 * `connectEvents`) and on the testing kit's virtual network alike; every timer (heartbeats, the
 * dead-server rule, request timeouts, reconnect backoff) runs on the injected scheduler.
 *
 * @packageDocumentation
 */
import {
  asyncScheduler,
  catchError,
  concatMap,
  defer,
  EMPTY,
  finalize,
  ignoreElements,
  last,
  map,
  merge,
  type Observable,
  of,
  type SchedulerLike,
  startWith,
  Subject,
  switchMap,
  takeUntil,
  takeWhile,
  tap,
  timer,
} from 'rxjs';
import {
  requester,
  runProtocol,
  sendEvery,
  type ClientEvent,
  type CloseReason,
  type PerConnection,
  type Requester,
} from 'rxnet';
import { describe, reconnecting, type Log, type ReconnectOption } from '../cli';
import {
  Cmd,
  isResponse,
  replyTo,
  sbmp,
  Status,
  type SbmpBody,
  type SbmpFrame,
  type SbmpOptions,
} from './sbmp';

/** Where the emulators connect by default: the gateway's plain port (§9.1). */
export const DEFAULT_IOT_CLIENT_ENDPOINT = 'tcp:localhost:9630';
/** Seconds between two heartbeats: at most half the gateway's 300 s idle timeout (§9.5). */
export const DEFAULT_HEARTBEAT_SECONDS = 60;
/**
 * Milliseconds a request waits for its reply: more than the gateway's 30 s relayer timeout, so a
 * forwarded control gets its status 18 rather than timing out here first.
 */
export const DEFAULT_IOT_REQUEST_TIMEOUT_MS = 35_000;
/** Requests on the wire at once; the gateway allows 100 forwarded controls per relayer. */
export const DEFAULT_IOT_MAX_IN_FLIGHT = 100;

/** The largest seq; the next one is 1 again (§3). */
const MAX_SEQ = 0x7fffffff;
/** A reply key no request has, for frames that are not responses, so the requester drops them. */
const NOT_A_REPLY = Symbol('not a reply');

/**
 * The server sent nothing for two heartbeat intervals (§9.5's client rule): the session gives up on
 * the connection, and a reconnecting client tries again.
 */
export class ServerSilentError extends Error {
  override readonly name = 'ServerSilentError';
  readonly code = 'ERR_IOT_SERVER_SILENT';
  constructor(readonly silentMs: number) {
    super(`no frame from the gateway for ${silentMs} ms`);
  }
}

/** A login (Authorize) was refused: the session cannot go on. */
export class LoginFailedError extends Error {
  override readonly name = 'LoginFailedError';
  readonly code = 'ERR_IOT_LOGIN_FAILED';
  constructor(
    readonly status: number,
    readonly body: SbmpBody | undefined,
  ) {
    super(
      `login refused with status ${status}${body === undefined ? '' : ` ${JSON.stringify(body)}`}`,
    );
  }
}

/** What happened in an emulator, for its log and for tests. */
export type IotClientEvent =
  | ClientEvent
  | { readonly type: 'loggedIn'; readonly reply: SbmpFrame }
  /** A request of ours and its reply (`step` names it: the command, or a script's step). */
  | {
      readonly type: 'reply';
      readonly step: string;
      readonly request: SbmpFrame;
      readonly reply: SbmpFrame;
    }
  /** A request from the gateway, and what we answered. */
  | { readonly type: 'answered'; readonly request: SbmpFrame; readonly reply: SbmpFrame }
  /** A frame from the gateway that asks for no answer (an event notify, a late reply). */
  | { readonly type: 'notified'; readonly frame: SbmpFrame }
  /** The session failed (a refused login, a request that timed out, a silent server). */
  | { readonly type: 'error'; readonly error: unknown };

/** Where an emulator reports what happened. */
export type IotReport = (event: IotClientEvent) => void;

/** Options of {@link SbmpPeer}. */
export interface SbmpPeerOptions {
  /** @defaultValue {@link DEFAULT_IOT_REQUEST_TIMEOUT_MS} */
  readonly requestTimeout?: number;
  /** @defaultValue {@link DEFAULT_IOT_MAX_IN_FLIGHT} */
  readonly maxInFlight?: number;
  /** @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
}

/**
 * One connection's requests: each gets the next seq (1…0x7fffffff, then 1 again, per connection
 * as §9.2 allows) and is settled by the response carrying that seq. Frames that are not responses
 * (the gateway's own requests) never settle one, even when their seq happens to match.
 */
export class SbmpPeer {
  private seq = 0;
  /** The seqs of the requests waiting for their replies. */
  private readonly pending = new Set<number>();
  private readonly rpc: Requester<SbmpFrame, SbmpFrame>;

  constructor(options: SbmpPeerOptions = {}) {
    this.rpc = requester<SbmpFrame, SbmpFrame>({
      correlate: {
        requestId: (frame) => frame.seq,
        replyId: (frame) => (isResponse(frame) ? frame.seq : NOT_A_REPLY),
      },
      timeout: options.requestTimeout ?? DEFAULT_IOT_REQUEST_TIMEOUT_MS,
      maxInFlight: options.maxInFlight ?? DEFAULT_IOT_MAX_IN_FLIGHT,
      scheduler: options.scheduler ?? asyncScheduler,
    });
  }

  /** The requester's protocol: run it on the connection (the session does). */
  get protocol(): Requester<SbmpFrame, SbmpFrame>['protocol'] {
    return this.rpc.protocol;
  }

  /** Sends a request when subscribed, and emits its reply. */
  request(commandId: number, body?: SbmpBody): Observable<SbmpFrame> {
    return defer(() => this.send(this.frame(commandId, body)));
  }

  /** Sends a frame made by {@link SbmpPeer.frame} when subscribed, and emits its reply. */
  send(request: SbmpFrame): Observable<SbmpFrame> {
    return defer(() => {
      this.pending.add(request.seq);
      return this.rpc.request(request).pipe(finalize(() => this.pending.delete(request.seq)));
    });
  }

  /** Whether a response settles one of our requests (else it is late, or was never asked for). */
  awaits(frame: SbmpFrame): boolean {
    return isResponse(frame) && this.pending.has(frame.seq);
  }

  /** Builds the next request frame, taking a seq. */
  frame(commandId: number, body?: SbmpBody): SbmpFrame {
    this.seq = this.seq >= MAX_SEQ ? 1 : this.seq + 1;
    return body === undefined
      ? { commandId, status: 0, seq: this.seq }
      : { commandId, status: 0, seq: this.seq, body };
  }

  /** Fails what is pending and ends the requester's protocol. */
  close(): void {
    this.rpc.close();
  }
}

/** Sends a request, reports it with its reply under `step`, and emits the reply. */
export function step(
  peer: SbmpPeer,
  report: IotReport,
  name: string,
  commandId: number,
  body?: SbmpBody,
): Observable<SbmpFrame> {
  return defer(() => {
    const request = peer.frame(commandId, body);
    return peer
      .send(request)
      .pipe(tap((reply) => report({ type: 'reply', step: name, request, reply })));
  });
}

/** Sends Authorize and emits the reply when it is a success; fails with {@link LoginFailedError} otherwise. */
export function authorize(
  peer: SbmpPeer,
  report: IotReport,
  body: SbmpBody,
): Observable<SbmpFrame> {
  return step(peer, report, 'Authorize', Cmd.Authorize, body).pipe(
    map((reply) => {
      if (reply.status !== Status.Ok || reply.body?.['result'] !== 0) {
        throw new LoginFailedError(reply.status, reply.body);
      }
      report({ type: 'loggedIn', reply });
      return reply;
    }),
  );
}

/** What a session does on its connection. */
export interface SbmpSessionConfig extends SbmpPeerOptions {
  /**
   * Logs in: emits once the session is logged in (heartbeats start then), e.g. {@link authorize};
   * it may send other requests first (the app's AddAccount).
   */
  readonly login: (peer: SbmpPeer) => Observable<unknown>;
  /**
   * Runs after the login. When it completes the session ends: pending work is dropped and the
   * connection closed with FIN. One that never completes (a relayer, an app that listens) runs
   * until the connection closes.
   */
  readonly script: (peer: SbmpPeer) => Observable<unknown>;
  /**
   * Answers a request from the gateway (a frame with bit 31 clear); `undefined` asks for no
   * answer (an event notify), and the frame is reported as `notified`.
   */
  readonly answer?: (request: SbmpFrame) => { status: number; body?: SbmpBody } | undefined;
  /** Seconds between heartbeats; `Infinity` sends none. @defaultValue {@link DEFAULT_HEARTBEAT_SECONDS} */
  readonly heartbeat?: number;
  /**
   * Gives up on a gateway that sent nothing for two heartbeat intervals (§9.5, client side).
   * @defaultValue true
   */
  readonly deadServerRule?: boolean;
  readonly report: IotReport;
  /** Called when the script has completed, before the connection is closed. */
  readonly onFinished?: () => void;
}

/**
 * One emulator session on one connection: log in, send a HeartBeat every `heartbeat` seconds,
 * answer the gateway's requests, report its notifies and late replies, and run the script.
 *
 * Fails (and so aborts the connection) when the login is refused, when a request times out, and
 * with {@link ServerSilentError} under the dead-server rule.
 */
export function sbmpSession(config: SbmpSessionConfig): PerConnection<SbmpFrame, SbmpFrame> {
  const { report, answer } = config;
  const scheduler = config.scheduler ?? asyncScheduler;
  const heartbeatMs = (config.heartbeat ?? DEFAULT_HEARTBEAT_SECONDS) * 1000;
  return (conn) =>
    defer(() => {
      const peer = new SbmpPeer(config);
      const done = new Subject<void>();
      const incoming = conn.frames$.pipe(
        concatMap((frame): Observable<SbmpFrame> => {
          if (peer.awaits(frame)) return EMPTY;
          const wanted = isResponse(frame) ? undefined : answer?.(frame);
          if (wanted === undefined) {
            // A notify, or a response that settles nothing (late, or unasked for: §9.6 drops it).
            report({ type: 'notified', frame });
            return EMPTY;
          }
          const reply = replyTo(frame, wanted.status, wanted.body);
          report({ type: 'answered', request: frame, reply });
          return of(reply);
        }),
      );
      const silent =
        Number.isFinite(heartbeatMs) && (config.deadServerRule ?? true)
          ? conn.frames$.pipe(
              startWith(undefined),
              switchMap(() => timer(2 * heartbeatMs, scheduler)),
              map((): never => {
                throw new ServerSilentError(2 * heartbeatMs);
              }),
            )
          : EMPTY;
      const heartbeats = Number.isFinite(heartbeatMs)
        ? of(undefined).pipe(
            sendEvery(heartbeatMs, () => undefined, { delay: heartbeatMs, scheduler }),
            concatMap(() => step(peer, report, 'HeartBeat', Cmd.HeartBeat)),
          )
        : EMPTY;
      const work = config.login(peer).pipe(
        last(),
        switchMap(() =>
          merge(
            heartbeats.pipe(takeUntil(done)),
            config.script(peer).pipe(
              ignoreElements(),
              tap({
                complete: () => {
                  config.onFinished?.();
                  done.next();
                },
              }),
            ),
          ),
        ),
        tap({ complete: () => peer.close() }),
      );
      // `incoming` first: it sees each reply while its request is still pending.
      return merge(
        incoming.pipe(takeUntil(done)),
        peer.protocol(conn),
        silent.pipe(takeUntil(done)),
        work.pipe(ignoreElements()),
      ).pipe(
        catchError((error: unknown) => {
          report({ type: 'error', error });
          throw error;
        }),
      );
    });
}

/** What `start()` of the app and the relayer take besides their own options. */
export interface IotStartOptions {
  /** A Twisted client endpoint description. @defaultValue {@link DEFAULT_IOT_CLIENT_ENDPOINT} */
  readonly endpoint?: string;
  /** Where each step is printed. @defaultValue stdout */
  readonly log?: Log;
  /** Also given every step as it is, for tests. */
  readonly report?: IotReport;
}

/** Options of {@link runSbmpClient}. */
export interface SbmpClientOptions extends SbmpOptions {
  /**
   * Reconnect when the connection fails or is lost: `true` for Twisted's backoff, or its settings.
   * @defaultValue false
   */
  readonly reconnect?: ReconnectOption;
  /** Where the backoff runs. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
}

/**
 * Runs `session` on each connection of a client's lifecycle, reporting each step, and emits the
 * exit code when the client is done: 0 when a session's script completed (its connection then
 * closes), or when the gateway closed the connection cleanly; 1 when a connection failed, was
 * lost or its session failed, and `reconnect` is off. Unsubscribing stops the client.
 *
 * @param attempt One connection attempt's lifecycle: `() => connectEvents(endpoint)`, or a
 * virtual network's `connectEvents`.
 * @param session The session to run on each connection, from {@link sbmpSession}; `finished`
 * marks the script done.
 */
export function runSbmpClient(
  attempt: () => Observable<ClientEvent>,
  session: (finished: () => void) => PerConnection<SbmpFrame, SbmpFrame>,
  report: IotReport,
  options: SbmpClientOptions = {},
): Observable<number> {
  const scheduler = options.scheduler ?? asyncScheduler;
  const framing = sbmp(options);
  const lifecycle = reconnecting(attempt, options.reconnect, scheduler);
  return defer(() => {
    let finished = false;
    let failed = false;
    return lifecycle.pipe(
      takeWhile((event) => !(finished && (event.type === 'lost' || event.type === 'failed')), true),
      tap((event) => report(event)),
      switchMap((event) => {
        if (event.type !== 'connected') return of(event);
        failed = false;
        return runProtocol(
          event.connection,
          session(() => (finished = true)),
          { framing },
        ).pipe(
          // Reported by the session; the connection is aborted and its loss follows.
          catchError(() => {
            failed = true;
            return EMPTY;
          }),
        );
      }),
      last(undefined, undefined),
      map((event) => {
        if (finished && !failed) return 0;
        if (event === undefined || failed) return 1;
        return event.type === 'lost' && cleanly(event.reason) ? 0 : 1;
      }),
    );
  });
}

function cleanly(reason: CloseReason): boolean {
  return reason.type === 'done';
}

/** One line for the log: what happened, with frames as `id/status/seq body`. */
export function describeIotEvent(event: IotClientEvent): string {
  switch (event.type) {
    case 'connecting':
      return 'connecting';
    case 'connected':
      return 'connected';
    case 'failed':
      return `connection failed: ${describe(event.error)}`;
    case 'lost':
      return `connection closed: ${describeClose(event.reason)}`;
    case 'loggedIn':
      return `logged in: ${describeFrame(event.reply)}`;
    case 'reply':
      return `${event.step}: ${describeFrame(event.reply)}`;
    case 'answered':
      return `answered ${describeFrame(event.request)} with ${describeFrame(event.reply)}`;
    case 'notified':
      return `received ${describeFrame(event.frame)}`;
    default:
      return `error: ${describe(event.error)}`;
  }
}

function describeClose(reason: CloseReason): string {
  if (reason.type === 'done') return 'cleanly';
  return reason.error === undefined ? reason.type : `${reason.type}, ${describe(reason.error)}`;
}

/** A frame as `0x80060001 status 0 seq 9 {"value":1}`. */
export function describeFrame(frame: SbmpFrame): string {
  const id = `0x${frame.commandId.toString(16).padStart(8, '0')}`;
  const body =
    frame.malformed === true
      ? ' (malformed)'
      : frame.body === undefined
        ? ''
        : ` ${JSON.stringify(frame.body)}`;
  return `${id} status ${frame.status} seq ${frame.seq}${body}`;
}

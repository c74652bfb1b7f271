/**
 * One connection of the IoT gateway (PROTOCOL.md §9.4–§9.6): its login state, idle timer,
 * dispatch of requests, and, for a relayer, the requests the gateway sends it. A per-connection
 * protocol (rxnet's `protocol()`): whatever it remembers goes away with the connection. What the
 * sessions share (who is logged in where, the bus, the store) is the {@link GatewayNode}'s.
 *
 * @packageDocumentation
 */
import {
  concatMap,
  defer,
  EMPTY,
  from,
  ignoreElements,
  Observable,
  Subject,
  Subscription,
  type Subscriber,
} from 'rxjs';
import {
  ConnectionClosedError,
  RequestQueueFullError,
  RequestTimeoutError,
  requester,
  type CloseReason,
  type ProtocolContext,
  type Requester,
} from 'rxnet';
import { ERROR_TEXT, storeCommands, type AppIdentity } from './handlers';
import type { GatewayNode } from './node';
import { Cmd, isResponse, replyTo, Status, type SbmpBody, type SbmpFrame } from './sbmp';

/** Who a connection is (§9.4): nobody yet, a relayer, or an app (a phone of an account). */
export type Role =
  | { readonly kind: 'new' }
  | { readonly kind: 'relayer'; readonly relayerId: number; readonly sbCode: string }
  | { readonly kind: 'app'; readonly accountId: number; readonly clientId: number };

/** The commands a book server ignores (§4 †): a class, but not in its dispatch table. */
const NOT_IN_BOOK: ReadonlySet<number> = new Set([
  Cmd.QueryAlarm,
  Cmd.QueryRelayerStatus,
  Cmd.PasswordRestore,
]);

/** The largest seq; the next one is 1 again (§3). */
const MAX_SEQ = 0x7fffffff;

/** A string or number field as a string (a `dev_code` may come as either); undefined otherwise. */
export function textField(body: SbmpBody | undefined, key: string): string | undefined {
  const value = body?.[key];
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** An integer field (numbers or numeric strings, as Python clients send either); undefined otherwise. */
export function intField(body: SbmpBody | undefined, key: string): number | undefined {
  const value = body?.[key];
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) ? n : undefined;
}

/** The status a failed relayer request is answered with: 18, 17, 8, or 9 for anything else. */
export function failureReply(error: unknown): { status: number; body: SbmpBody } {
  if (error instanceof RequestTimeoutError)
    return { status: Status.RelayerTimeout, body: { error: ERROR_TEXT.relayerTimeout } };
  if (error instanceof RequestQueueFullError)
    return { status: Status.ServerBusy, body: { error: ERROR_TEXT.serverBusy } };
  if (error instanceof ConnectionClosedError)
    return { status: Status.RelayerOffline, body: { error: ERROR_TEXT.relayerOffline } };
  return { status: Status.ControlFailed, body: { error: ERROR_TEXT.controlFailed } };
}

/** The requests the gateway sends one relayer connection, with its own seq (§9.7). */
interface RelayerRpc {
  readonly requester: Requester<SbmpFrame, SbmpFrame>;
  readonly replies: Subject<SbmpFrame>;
  readonly closed: Subject<CloseReason>;
  /** The seqs awaiting a reply, so a reply to none of them is logged rather than silently lost. */
  readonly waiting: Set<number>;
}

/**
 * One connection's session. An object with methods rather than a pipeline of closures: a gateway
 * holds thousands, and the node calls into them (takeover, a relayer's requests, replies).
 */
export class Session {
  role: Role = { kind: 'new' };
  /** Work started for this connection and not answered yet (store commands, controls, events). */
  private pending = 0;
  private framesEnded = false;
  private output: Subscriber<SbmpFrame> | undefined;
  private readonly subscriptions = new Subscription();
  /** The idle timer: it fires at `deadline`, or, when activity moved it, re-arms for the rest. */
  private timer: Subscription | undefined;
  private lastActivity: number;
  private seq = 0;
  private rpc: RelayerRpc | undefined;
  /**
   * A relayer's last value of each device key and when it was fanned out (§9.7: a repeat within
   * 10 s is not). Kept with the connection, so it goes away with it.
   */
  readonly lastEvents = new Map<string, { value: unknown; at: number }>();
  /** Control requests of this app waiting for a relayer's reply through the bus. */
  readonly controls = new Set<{ cancel(): void }>();

  constructor(
    private readonly node: GatewayNode,
    private readonly conn: ProtocolContext<SbmpFrame>,
  ) {
    this.lastActivity = node.scheduler.now();
  }

  /** The connection's id on this server. */
  get id(): number {
    return this.conn.id;
  }

  /** Whether the session has ended (its connection closed or is closing). */
  get ended(): boolean {
    return this.output === undefined;
  }

  /** The session as the protocol's output: the frames to write to this connection. */
  run(): Observable<SbmpFrame> {
    return new Observable<SbmpFrame>((subscriber) => {
      this.output = subscriber;
      this.arm();
      this.subscriptions.add(
        this.conn.frames$.pipe(concatMap((frame) => this.dispatch(frame))).subscribe({
          error: (error: unknown) => subscriber.error(error),
          complete: () => {
            // The peer's FIN: what it asked is still answered, then the connection closes.
            this.framesEnded = true;
            this.endIfDone();
          },
        }),
      );
      return () => {
        this.output = undefined;
        this.timer?.unsubscribe();
        this.subscriptions.unsubscribe();
        this.node.release(this);
        this.rpc?.requester.close();
      };
    });
  }

  /** Writes a frame to this connection (dropped once the session has ended). */
  write(frame: SbmpFrame): void {
    this.output?.next(frame);
  }

  /** Answers `request`. */
  reply(request: SbmpFrame, status: number, body?: SbmpBody): void {
    this.write(replyTo(request, status, body));
  }

  /** Ends the session gracefully: the connection is flushed, then closed (takeover, timeout). */
  close(why: string): void {
    if (this.output === undefined) return;
    this.node.log(`#${this.id} closed: ${why}`);
    this.output.complete();
  }

  /** Counts work in progress for this connection; the returned function marks it done. */
  begin(): () => void {
    this.pending++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.pending--;
      this.endIfDone();
    };
  }

  /**
   * Sends a request to this relayer with the session's own seq and gives its reply; fails with
   * `RequestTimeoutError` after `relayerTimeout`, `RequestQueueFullError` when
   * `maxQueuedPerRelayer` wait, or `ConnectionClosedError` when the relayer goes away.
   */
  request(frame: SbmpFrame): Observable<SbmpFrame> {
    return defer(() => {
      const rpc = this.startRpc();
      const seq = this.nextSeq();
      const request: SbmpFrame =
        frame.body === undefined
          ? { commandId: frame.commandId, status: 0, seq }
          : { commandId: frame.commandId, status: 0, seq, body: frame.body };
      rpc.waiting.add(seq);
      return new Observable<SbmpFrame>((subscriber) => {
        const subscription = rpc.requester.request(request).subscribe(subscriber);
        return () => {
          subscription.unsubscribe();
          rpc.waiting.delete(seq);
        };
      });
    });
  }

  private nextSeq(): number {
    this.seq = this.seq >= MAX_SEQ ? 1 : this.seq + 1;
    return this.seq;
  }

  private startRpc(): RelayerRpc {
    if (this.rpc !== undefined) return this.rpc;
    const node = this.node;
    const rpc: RelayerRpc = {
      requester: requester<SbmpFrame, SbmpFrame>({
        correlate: { requestId: (frame) => frame.seq, replyId: (frame) => frame.seq },
        maxInFlight: node.settings.maxInflightPerRelayer,
        maxQueued: node.settings.maxQueuedPerRelayer,
        timeout: node.settings.relayerTimeout,
        scheduler: node.scheduler,
      }),
      replies: new Subject<SbmpFrame>(),
      closed: new Subject<CloseReason>(),
      waiting: new Set<number>(),
    };
    this.rpc = rpc;
    const context: ProtocolContext<SbmpFrame> = {
      ...this.conn,
      frames$: rpc.replies.asObservable(),
      closed$: rpc.closed.asObservable(),
    };
    this.subscriptions.add(rpc.requester.protocol(context).subscribe((frame) => this.write(frame)));
    return rpc;
  }

  private endIfDone(): void {
    if (this.framesEnded && this.pending === 0) this.output?.complete();
  }

  /** Activity that resets the idle timer (§9.5); before login in rxnet mode nothing does. */
  private touch(): void {
    if (this.role.kind === 'new' && this.node.settings.mode === 'rxnet') return;
    this.lastActivity = this.node.scheduler.now();
  }

  /** What rxnet mode counts as activity and the book does not: a frame it did not process. */
  private touchIfRxnet(): void {
    if (this.node.settings.mode === 'rxnet') this.touch();
  }

  private timeout(): number {
    const { authTimeout, idleTimeout } = this.node.settings;
    return this.role.kind === 'new' ? authTimeout : idleTimeout;
  }

  /**
   * Arms the idle timer from the last activity. One timer per session, not one per frame: when
   * it fires early (activity moved the deadline), it re-arms for the rest, as Twisted's
   * `TimeoutMixin` does with `resetTimeout`.
   */
  private arm(): void {
    this.timer?.unsubscribe();
    const timeout = this.timeout();
    if (timeout === Infinity) return;
    const due = this.lastActivity + timeout - this.node.scheduler.now();
    this.timer = this.node.scheduler.schedule(
      () => {
        const left = this.lastActivity + this.timeout() - this.node.scheduler.now();
        if (left > 0) this.arm();
        else
          this.close(
            `timed out (${this.role.kind === 'new' ? 'no login' : 'idle'} for ${this.timeout()} ms)`,
          );
      },
      Math.max(0, due),
    );
  }

  /** Logged in: the idle timeout replaces the login timeout, counted from now. */
  loggedIn(role: Role): void {
    this.role = role;
    this.lastActivity = this.node.scheduler.now();
    this.arm();
  }

  /**
   * Handles one frame. Returns at once, except for Authorize, whose result the frames after it
   * wait for: a client that pipelines its login and its first request is answered as logged in.
   */
  private dispatch(frame: SbmpFrame): Observable<never> {
    if (isResponse(frame)) {
      this.response(frame);
      return EMPTY;
    }
    if (frame.malformed === true) {
      this.reply(frame, Status.MissingParameter, { error: ERROR_TEXT.malformedBody });
      return EMPTY;
    }
    const { mode } = this.node.settings;
    const id = frame.commandId;
    if (mode === 'book' && NOT_IN_BOOK.has(id)) return this.unknown(frame);
    switch (id) {
      case Cmd.KeepAlive:
        this.touch();
        return EMPTY;
      case Cmd.Authorize:
        this.touch();
        return from(this.node.authorize(this, frame)).pipe(ignoreElements());
      case Cmd.HeartBeat:
        if (this.role.kind === 'new') return this.refuse(frame);
        this.touch();
        this.reply(frame, Status.Ok);
        return EMPTY;
      case Cmd.ControlDevice:
      case Cmd.QueryDevice:
      case Cmd.QueryRelayerStatus:
        if (this.role.kind !== 'app') return this.refuse(frame);
        this.touch();
        this.node.control(this, this.role, frame);
        return EMPTY;
      case Cmd.EventDev:
        if (this.role.kind !== 'relayer') return this.refuse(frame);
        this.touch();
        this.node.event(this, this.role, frame);
        return EMPTY;
      default:
        return this.storeCommand(frame);
    }
  }

  private storeCommand(frame: SbmpFrame): Observable<never> {
    const command = storeCommands.get(frame.commandId);
    const { mode } = this.node.settings;
    if (command === undefined || (mode === 'book' && !command.inBook)) return this.unknown(frame);
    let who: AppIdentity | undefined;
    if (this.role.kind === 'app')
      who = { accountId: this.role.accountId, clientId: this.role.clientId };
    if (command.auth && who === undefined) return this.refuse(frame);
    this.touch();
    this.node.storeCommand(this, frame, command, who);
    return EMPTY;
  }

  /** Status 13; the refused frame does not count as activity (§6). */
  private refuse(frame: SbmpFrame): Observable<never> {
    this.reply(frame, Status.Unauthenticated, { error: ERROR_TEXT.unauthenticated });
    return EMPTY;
  }

  /** An id the gateway does not serve: 19 (§9.6), or, as the book, a log line and no reply. */
  private unknown(frame: SbmpFrame): Observable<never> {
    const hex = `0x${frame.commandId.toString(16).padStart(8, '0')}`;
    if (this.node.settings.mode === 'book') {
      this.node.log(`#${this.id} unknown command ${hex} ignored`);
      return EMPTY;
    }
    this.touch();
    this.reply(frame, Status.UnknownCommand, { error: ERROR_TEXT.unknownCommand });
    return EMPTY;
  }

  /** A response from the peer: a relayer's reply to the gateway's request, or stray (dropped). */
  private response(frame: SbmpFrame): void {
    const rpc = this.rpc;
    if (rpc !== undefined && rpc.waiting.has(frame.seq)) {
      this.touch();
      rpc.replies.next(frame);
      return;
    }
    this.touchIfRxnet();
    const hex = `0x${(frame.commandId >>> 0).toString(16).padStart(8, '0')}`;
    this.node.log(`#${this.id} response ${hex} seq ${frame.seq} matches no request: dropped`);
  }
}

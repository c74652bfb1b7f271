/**
 * The IoT gateway as an rxnet behaviour (PROTOCOL.md §6, §9.4–§9.7): sessions, heartbeat and
 * idle rules, control forwarded to relayers with seq mapping, event fan-out, takeover, and
 * routing between nodes over a bus.
 *
 * The pieces: each connection is a {@link Session} (examples/iot/session.ts), a per-connection
 * protocol run by rxnet's `protocol()`; what they share on one node is a {@link GatewayNode}
 * (examples/iot/node.ts); nodes meet on a {@link GatewayBus} (examples/iot/bus.ts in memory,
 * examples/iot/hubBus.ts over Redis or NATS).
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import { asyncScheduler, defer, finalize, merge, type Observable, type SchedulerLike } from 'rxjs';
import { protocol, type Behaviour, type ProtocolContext } from 'rxnet';
import { memoryBus } from './bus';
import { GatewayNode } from './node';
import type { SbmpFrame } from './sbmp';
import { Session } from './session';
import type { DeviceRow, Store } from './store';

/** `rxnet`: the §9 profile (the defaults). `book`: every behaviour a book peer could observe. */
export type GatewayMode = 'rxnet' | 'book';

/** How the gateway's nodes reach each other (§9.7): one process needs none. */
export interface GatewayBus {
  /** Sends a message to an address: `g/<relayer_id>`, `h/<client_id>` or `o` (presence). */
  publish(address: string, message: GatewayBusMessage): void;
  /** The messages for the addresses this node holds. */
  readonly messages$: Observable<{ address: string; message: GatewayBusMessage }>;
  /** Starts and stops delivery to this node for an address it now holds or no longer holds. */
  subscribe(address: string): void;
  unsubscribe(address: string): void;
}

/**
 * What travels between nodes: the SBMP frame, and who sent it (§9.7: `{from, fromSock}`).
 *
 * - A control request to `g/<relayer_id>` carries a seq the app's node chose (unique on that
 *   node); the relayer's node answers on `from` (`h/<client_id>`) with a response frame of the same
 *   seq and the same `fromSock` (`<node>/<connection>`), which the app's node matches.
 * - A notify to `h/<client_id>` (an event, a relayer's status) is a request frame, written as is.
 * - Presence on `o` is a frame with id 0 and a body `{presence: 'relayer', node, relayer_id,
 *   online}`, `{presence: 'client', node, client_id, account_id, online}`, or `{presence:
 *   'hello', node}` from a node that starts, which the others answer with what they hold.
 */
export interface GatewayBusMessage {
  readonly frame: SbmpFrame;
  /** The sender's address (`h/<client_id>` for a request from an app). */
  readonly from: string;
  /** The node and connection that sent it, so the reply reaches that one session. */
  readonly fromSock: string;
}

export interface GatewayOptions {
  readonly store: Store;
  /** The bus to other nodes; default: an in-memory bus (one node, as the book's single node). */
  readonly bus?: GatewayBus;
  readonly mode?: GatewayMode;
  /** The clock of every timer; default `asyncScheduler`. Tests pass a TestScheduler. */
  readonly scheduler?: SchedulerLike;
  /** Default 300 000 ms (the book's `time_heartbeat`). */
  readonly idleTimeout?: number;
  /** Default 30 000 ms (300 000 in book mode). */
  readonly authTimeout?: number;
  /** Default 30 000 ms (`timeout_relayer_control`). */
  readonly relayerTimeout?: number;
  /** Default 100 (`maxcmd_relayer_control`). */
  readonly maxInflightPerRelayer?: number;
  /** Default 1000; a full queue answers 17. */
  readonly maxQueuedPerRelayer?: number;
  /** Default 10 000 ms (`timeout_buffered_state`). */
  readonly bufferedStateWindow?: number;
  /** Where debug lines go (late responses, dropped events); default nowhere. */
  readonly log?: (line: string) => void;
  /** This node's name on the bus; default a random one (two processes must differ). */
  readonly nodeId?: string;
  /**
   * Which relayers may log in (`--known-relayers`): `sb_code` and the optional `secret`
   * extension; default every one, auto-registered as in the book.
   */
  readonly knownRelayers?: (sbCode: string, secret: string | undefined) => boolean;
  /** Default 101; more store-backed commands at once are answered 17 (§6). */
  readonly maxPendingStoreCommands?: number;
  /** Which events are alarms (book mode forwards only those); default {@link armedAndOn}. */
  readonly isAlarm?: (event: AlarmInput) => boolean;
}

/** Default `idleTimeout`: the book's `time_heartbeat`, 300 s. */
export const DEFAULT_GATEWAY_IDLE_TIMEOUT = 300_000;
/** Default `authTimeout` in rxnet mode: 30 s to log in. */
export const DEFAULT_GATEWAY_AUTH_TIMEOUT = 30_000;
/** `authTimeout` in book mode: the book had only its idle timer, 300 s. */
export const BOOK_GATEWAY_AUTH_TIMEOUT = 300_000;
/** Default `relayerTimeout`: the book's `timeout_relayer_control`, 30 s. */
export const DEFAULT_RELAYER_TIMEOUT = 30_000;
/** Default `maxInflightPerRelayer`: the book's `maxcmd_relayer_control`. */
export const DEFAULT_MAX_INFLIGHT_PER_RELAYER = 100;
/** Default `maxQueuedPerRelayer`. */
export const DEFAULT_MAX_QUEUED_PER_RELAYER = 1000;
/** Default `bufferedStateWindow`: the book's `timeout_buffered_state`, 10 s. */
export const DEFAULT_BUFFERED_STATE_WINDOW = 10_000;
/** Default `maxPendingStoreCommands`: the book's thread pool, `count_connection / 100` = 101. */
export const DEFAULT_MAX_PENDING_STORE_COMMANDS = 101;

/** What the alarm rule sees of an event (§9.7). */
export interface AlarmInput {
  readonly device: DeviceRow;
  /** The event's `value`, as the relayer sent it. */
  readonly value: unknown;
  readonly keySeq: number;
  /** The apartment's arm state: 1 off, 2 on. */
  readonly armState: number;
}

/**
 * The default alarm rule. The book decides by each key's alarm type (20: always an alarm, 10: an
 * alarm while the apartment is armed), which the store does not keep; so every key is taken as
 * type 10: an event is an alarm when its apartment is armed (`arm_state` 2) and its value is
 * "on" (a non-zero number, `true`, or a non-empty string other than "0").
 */
export function armedAndOn({ value, armState }: AlarmInput): boolean {
  if (armState !== 2) return false;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') return value !== '' && value !== '0';
  return value === true;
}

/** The options with their defaults applied: what the node and its sessions read. */
export interface GatewaySettings {
  readonly store: Store;
  readonly bus: GatewayBus;
  readonly mode: GatewayMode;
  readonly scheduler: SchedulerLike;
  readonly nodeId: string;
  /** `Infinity` when off. */
  readonly idleTimeout: number;
  /** `Infinity` when off. */
  readonly authTimeout: number;
  readonly relayerTimeout: number;
  readonly maxInflightPerRelayer: number;
  readonly maxQueuedPerRelayer: number;
  readonly bufferedStateWindow: number;
  readonly maxPendingStoreCommands: number;
  readonly knownRelayers: (sbCode: string, secret: string | undefined) => boolean;
  readonly isAlarm: (event: AlarmInput) => boolean;
  readonly log: (line: string) => void;
}

function timeoutOf(name: string, value: number | undefined, fallback: number): number {
  const ms = value ?? fallback;
  if (typeof ms !== 'number' || !(ms >= 0)) {
    throw new TypeError(`gateway: ${name} must be 0 (off) or more milliseconds, got ${String(ms)}`);
  }
  return ms === 0 ? Infinity : ms;
}

function countOf(name: string, value: number | undefined, fallback: number): number {
  const n = value ?? fallback;
  if (!(n === Infinity || (Number.isInteger(n) && n >= 1))) {
    throw new TypeError(`gateway: ${name} must be a whole number of at least 1, got ${String(n)}`);
  }
  return n;
}

/** Applies the defaults; throws a `TypeError` for a bad option. */
export function gatewaySettings(options: GatewayOptions): GatewaySettings {
  const mode = options.mode ?? 'rxnet';
  if (mode !== 'rxnet' && mode !== 'book') {
    throw new TypeError(`gateway: mode must be 'rxnet' or 'book', got ${String(mode)}`);
  }
  const relayerTimeout = timeoutOf(
    'relayerTimeout',
    options.relayerTimeout,
    DEFAULT_RELAYER_TIMEOUT,
  );
  return {
    store: options.store,
    bus: options.bus ?? memoryBus(),
    mode,
    scheduler: options.scheduler ?? asyncScheduler,
    nodeId: options.nodeId ?? randomUUID().slice(0, 8),
    idleTimeout: timeoutOf('idleTimeout', options.idleTimeout, DEFAULT_GATEWAY_IDLE_TIMEOUT),
    authTimeout: timeoutOf(
      'authTimeout',
      options.authTimeout,
      mode === 'book' ? BOOK_GATEWAY_AUTH_TIMEOUT : DEFAULT_GATEWAY_AUTH_TIMEOUT,
    ),
    relayerTimeout,
    maxInflightPerRelayer: countOf(
      'maxInflightPerRelayer',
      options.maxInflightPerRelayer,
      DEFAULT_MAX_INFLIGHT_PER_RELAYER,
    ),
    maxQueuedPerRelayer: countOf(
      'maxQueuedPerRelayer',
      options.maxQueuedPerRelayer,
      DEFAULT_MAX_QUEUED_PER_RELAYER,
    ),
    bufferedStateWindow: options.bufferedStateWindow ?? DEFAULT_BUFFERED_STATE_WINDOW,
    maxPendingStoreCommands: countOf(
      'maxPendingStoreCommands',
      options.maxPendingStoreCommands,
      DEFAULT_MAX_PENDING_STORE_COMMANDS,
    ),
    knownRelayers: options.knownRelayers ?? (() => true),
    isAlarm: options.isAlarm ?? armedAndOn,
    log: options.log ?? (() => undefined),
  };
}

/**
 * The gateway behaviour, to run with `serve(endpoint, gateway(options), { framing: sbmp() })`.
 *
 * Each subscription is one node: its own sessions and bus subscriptions, made when subscribed and
 * let go when unsubscribed. Each connection is a session run by `protocol()`: its replies are
 * written to it, its end (a timeout, a takeover, the peer's FIN once answered) closes it
 * gracefully; what a session sends to other connections (an event to every phone of an account)
 * is one `write` command to all of them.
 *
 * An idle or login timeout closes the connection gracefully (flush, then FIN), so its close
 * reason is `done`; the log says `#ID closed: timed out (idle for 300000 ms)`. rxnet's
 * `timedOut` close reason belongs to the connection's own `idleTimeout`, which counts bytes
 * rather than frames and aborts rather than ends.
 *
 * Throws a `TypeError` for a bad option.
 */
export function gateway(options: GatewayOptions): Behaviour<SbmpFrame, SbmpFrame> {
  const template = gatewaySettings(options);
  return (events) =>
    defer(() => {
      // A default bus per node, so two subscriptions of one gateway() are two separate nodes.
      const settings = options.bus === undefined ? { ...template, bus: memoryBus() } : template;
      const node = new GatewayNode(settings);
      node.start();
      const sessions$ = events.pipe(
        protocol((conn: ProtocolContext<SbmpFrame>) => new Session(node, conn).run()),
        finalize(() => node.stop()),
      );
      return merge(sessions$, node.outbox);
    });
}

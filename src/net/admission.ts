import type { Socket } from 'node:net';
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { ConnectionLimitError, type ConnectionLimit } from '../errors';
import { DEFAULT_CLOSE_TIMEOUT } from '../transport/connection/options';
import type { Output } from '../types';
import type { ServerCounters } from './serverCounters';

/**
 * What a server does with a peer that arrives while `maxConnections` are open.
 *
 * - `'wait'`: hold it, accepted but paused and unread, in a first-in first-out queue of at most
 *   `maxWaitingConnections`, and admit the oldest when a connection closes. Its bytes wait in the
 *   kernel's buffers, so it loses none and its sending is held back by TCP's own flow control.
 *   Beyond the queue's bound it is refused.
 * - `'refuse'`: close it at once, after writing `refusalMessage` if there is one.
 *
 * Why not leave it in the kernel's backlog, as Pekko does by not asking for more: Node cannot.
 * libuv accepts every pending connection as soon as the listening socket is readable, and Node's
 * own `server.maxConnections` accepts and then closes. `'wait'` is the closest honest equivalent:
 * the peer's connect succeeds, as it would from the backlog, and it is served once there is room.
 * Each waiting peer costs a file descriptor, hence the bound.
 */
export type WhenFull = 'wait' | 'refuse';

/** @defaultValue `'wait'` (see {@link WhenFull}) */
export const DEFAULT_WHEN_FULL: WhenFull = 'wait';

/**
 * How many peers may wait for a slot when `maxConnections` are open (`whenFull: 'wait'`); more are
 * refused. The size of the backlog Node's default `listen()` asks the kernel for.
 *
 * @defaultValue 511
 */
export const DEFAULT_MAX_WAITING_CONNECTIONS = 511;

/**
 * A per-peer accept rate: at most `connections` per `perMilliseconds`, as a token bucket. A peer
 * may open `connections` at once, then one more each `perMilliseconds / connections` ms; unused
 * allowance builds up again to `connections`, never beyond.
 */
export interface PeerAcceptRate {
  /** The burst, and the connections allowed per window: a positive integer. */
  readonly connections: number;
  /** The window, in milliseconds: positive. */
  readonly perMilliseconds: number;
}

/**
 * Limits on who a server admits (Twisted's `LimitTotalConnectionsFactory` and
 * `LimitConnectionsByPeer`), checked as each socket is accepted, before any byte is read from it.
 * Every refusal is a `connectionRefused` event with a {@link ConnectionLimitError} and is counted
 * in `counters`; a refused peer is closed at once, or after `refusalMessage`.
 *
 * A peer is its IP address (`::ffff:` IPv4-mapped addresses count as IPv4). Behind a `haproxy:`
 * endpoint the limits see the proxy, as they run before the PROXY header is read. Unix-socket
 * peers have no address: the per-peer limits do not apply to them.
 */
export interface AdmissionOptions {
  /** The most connections open at once (handshakes included). @defaultValue `Infinity` */
  readonly maxConnections?: number;
  /** What happens to a peer past `maxConnections`. @defaultValue {@link DEFAULT_WHEN_FULL} (`'wait'`) */
  readonly whenFull?: WhenFull;
  /** With `whenFull: 'wait'`, the longest queue. @defaultValue {@link DEFAULT_MAX_WAITING_CONNECTIONS} */
  readonly maxWaitingConnections?: number;
  /**
   * Written to every peer refused by a limit before it is closed ("server busy"). Without it the
   * socket is closed at once; with it, rxnet sends it and FIN, reads and drops what the peer sends
   * (so the close is not a RST that would discard the message), and closes when the peer answers
   * with its FIN, or after `closeTimeout` but at most {@link DEFAULT_CLOSE_TIMEOUT} ms.
   * @defaultValue none
   */
  readonly refusalMessage?: Output;
  /** The most connections (and waiting peers) from one peer at once. @defaultValue `Infinity` */
  readonly maxConnectionsPerPeer?: number;
  /**
   * Counts IPv6 peers by their /64 prefix, the block one host or customer usually gets, so a peer
   * cannot escape the per-peer limits by hopping between its addresses. @defaultValue `false`
   */
  readonly groupIPv6PeersBy64?: boolean;
  /**
   * How fast one peer may open connections; a connection beyond it is refused with limit
   * `peerAcceptRate`. Every connection the peer opens takes from its allowance, admitted or not.
   * A peer idle for `perMilliseconds` has its full allowance again and is forgotten, so memory
   * holds only peers seen within the last window, and at most 65536 of them (the longest idle
   * first makes room, starting afresh if it returns). Time comes from `scheduler`.
   * @defaultValue none (no rate limit)
   */
  readonly peerAcceptRate?: PeerAcceptRate;
  /** Updated with what the server accepts, holds and refuses. @defaultValue none */
  readonly counters?: ServerCounters;
}

/** {@link AdmissionOptions} checked, with the defaults applied; `undefined` when nothing is asked. @internal */
export interface AdmissionLimits {
  readonly maxConnections: number;
  readonly whenFull: WhenFull;
  readonly maxWaiting: number;
  readonly refusalMessage: Output | undefined;
  readonly maxPerPeer: number;
  readonly by64: boolean;
  readonly rate: PeerAcceptRate | undefined;
  readonly counters: ServerCounters | undefined;
  readonly scheduler: SchedulerLike;
  readonly refusalLinger: number;
}

/** What listen needs from the admission control. @internal */
export interface Admission {
  /**
   * Decides for a freshly accepted (paused) socket: calls `admitted` now or once a slot frees, or
   * `refused` with the limit that turned it away (after closing the socket).
   */
  offer(
    socket: Socket,
    admitted: (socket: Socket) => void,
    refused: (socket: Socket, error: ConnectionLimitError) => void,
  ): void;
  /** An admitted socket's connection (or handshake) ended: its slot is free. */
  release(socket: Socket): void;
  /** The server stops accepting: sockets still waiting are refused with limit `shutdown`. */
  stop(): void;
}

/**
 * Applies the defaults and rejects bad limits at call time.
 *
 * @throws TypeError for a limit that is not a positive integer (or `Infinity`), a `whenFull` other
 * than `'wait'` or `'refuse'`, or a rate whose `connections` or `perMilliseconds` is not positive.
 * @internal
 */
export function checkAdmissionOptions(
  options: AdmissionOptions & {
    readonly scheduler?: SchedulerLike;
    readonly closeTimeout?: number;
  },
): AdmissionLimits | undefined {
  const maxConnections = checkCount('maxConnections', options.maxConnections);
  const maxPerPeer = checkCount('maxConnectionsPerPeer', options.maxConnectionsPerPeer);
  const whenFull = options.whenFull ?? DEFAULT_WHEN_FULL;
  if (whenFull !== 'wait' && whenFull !== 'refuse') {
    throw new TypeError(`whenFull must be 'wait' or 'refuse', got ${String(whenFull)}`);
  }
  const maxWaiting = options.maxWaitingConnections ?? DEFAULT_MAX_WAITING_CONNECTIONS;
  if (!(Number.isInteger(maxWaiting) && maxWaiting >= 0)) {
    throw new TypeError(`maxWaitingConnections must be an integer 0 or more, got ${maxWaiting}`);
  }
  const rate = options.peerAcceptRate;
  if (rate !== undefined) {
    if (!(Number.isInteger(rate.connections) && rate.connections > 0)) {
      throw new TypeError(
        `peerAcceptRate.connections must be a positive integer, got ${rate.connections}`,
      );
    }
    if (!(rate.perMilliseconds > 0 && rate.perMilliseconds < Infinity)) {
      throw new TypeError(
        `peerAcceptRate.perMilliseconds must be positive, got ${rate.perMilliseconds}`,
      );
    }
  }
  if (
    maxConnections === Infinity &&
    maxPerPeer === Infinity &&
    rate === undefined &&
    options.counters === undefined
  ) {
    return undefined;
  }
  return {
    maxConnections,
    whenFull,
    maxWaiting,
    refusalMessage: options.refusalMessage,
    maxPerPeer,
    by64: options.groupIPv6PeersBy64 ?? false,
    rate,
    counters: options.counters,
    scheduler: options.scheduler ?? asyncScheduler,
    refusalLinger: Math.min(options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT, DEFAULT_CLOSE_TIMEOUT),
  };
}

/** The admission control the limits ask for, or `undefined` when they set none (no cost). @internal */
export function admissionOf(limits: AdmissionLimits | undefined): Admission | undefined {
  return limits === undefined ? undefined : new AdmissionControl(limits);
}

/** A count limit: a positive integer, or `Infinity` (the default) for none. */
function checkCount(name: string, value: number | undefined): number {
  const count = value ?? Infinity;
  if (count !== Infinity && !(Number.isInteger(count) && count > 0)) {
    throw new TypeError(`${name} must be a positive integer or Infinity, got ${String(count)}`);
  }
  return count;
}

/** Where a waiting socket's listeners find their admission control (module-level listeners, as in ws). */
const kWaiting = Symbol('rxnet.waiting');
type WaitingSocket = Socket & { [kWaiting]?: AdmissionControl | undefined };

function onWaitingClose(this: WaitingSocket): void {
  this[kWaiting]?.dropWaiting(this);
}

function ignore(): void {}

class AdmissionControl implements Admission {
  /** Admitted sockets not yet released, with their peer: makes `release` idempotent. */
  private readonly admittedPeers = new Map<Socket, string | undefined>();
  /** First in, first out: a Map keeps insertion order and deletes in O(1). */
  private readonly waiting = new Map<Socket, WaitingPeer>();
  /** Admitted and waiting sockets per peer, only while the peer has some. */
  private readonly perPeer = new Map<string, number>();
  private readonly rates: PeerRates | undefined;
  private readonly tracksPeers: boolean;
  private stopped = false;

  constructor(private readonly limits: AdmissionLimits) {
    this.rates =
      limits.rate === undefined ? undefined : new PeerRates(limits.rate, limits.scheduler);
    this.tracksPeers = limits.maxPerPeer !== Infinity || limits.rate !== undefined;
  }

  offer(
    socket: Socket,
    admitted: (socket: Socket) => void,
    refused: (socket: Socket, error: ConnectionLimitError) => void,
  ): void {
    const { limits } = this;
    const counters = limits.counters;
    if (counters !== undefined) counters.accepted += 1;
    const peer = this.tracksPeers ? peerKeyOf(socket.remoteAddress, limits.by64) : undefined;
    let limit: ConnectionLimit | undefined;
    if (this.stopped) {
      limit = 'shutdown';
    } else if (peer !== undefined && this.rates !== undefined && !this.rates.take(peer)) {
      limit = 'peerAcceptRate';
    } else if (peer !== undefined && (this.perPeer.get(peer) ?? 0) >= limits.maxPerPeer) {
      limit = 'maxConnectionsPerPeer';
    } else if (this.admittedPeers.size < limits.maxConnections) {
      this.hold(peer);
      this.admit(socket, peer, admitted);
      return;
    } else if (limits.whenFull === 'wait' && this.waiting.size < limits.maxWaiting) {
      this.hold(peer);
      this.wait(socket, { peer, admitted, refused });
      return;
    } else {
      limit = 'maxConnections';
    }
    this.refuse(socket, limit, refused);
  }

  release(socket: Socket): void {
    const admittedPeers = this.admittedPeers;
    if (!admittedPeers.has(socket)) return;
    const peer = admittedPeers.get(socket);
    admittedPeers.delete(socket);
    this.unhold(peer);
    if (this.limits.counters !== undefined) this.limits.counters.open -= 1;
    // The oldest waiting peer takes the slot; one that has gone makes room for the next.
    while (
      !this.stopped &&
      this.waiting.size > 0 &&
      admittedPeers.size < this.limits.maxConnections
    ) {
      const [next, waiter] = this.waiting.entries().next().value as [Socket, WaitingPeer];
      this.unwait(next);
      if (next.destroyed) {
        this.unhold(waiter.peer);
        continue;
      }
      this.admit(next, waiter.peer, waiter.admitted);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const [socket, waiter] of [...this.waiting]) {
      this.unwait(socket);
      this.unhold(waiter.peer);
      this.refuse(socket, 'shutdown', waiter.refused);
    }
    this.rates?.clear();
  }

  /** A waiting socket closed (its peer's reset surfaced, or something destroyed it). */
  dropWaiting(socket: Socket): void {
    const waiter = this.waiting.get(socket);
    if (waiter === undefined) return;
    this.unwait(socket);
    this.unhold(waiter.peer);
  }

  private admit(
    socket: Socket,
    peer: string | undefined,
    admitted: (socket: Socket) => void,
  ): void {
    this.admittedPeers.set(socket, peer);
    if (this.limits.counters !== undefined) this.limits.counters.open += 1;
    admitted(socket);
  }

  private wait(socket: WaitingSocket, waiter: WaitingPeer): void {
    this.waiting.set(socket, waiter);
    if (this.limits.counters !== undefined) this.limits.counters.waiting += 1;
    // Nothing is read from it, so it rarely fails; if it does, it must not crash the process.
    socket[kWaiting] = this;
    socket.on('error', ignore);
    socket.on('close', onWaitingClose);
  }

  private unwait(socket: WaitingSocket): void {
    this.waiting.delete(socket);
    if (this.limits.counters !== undefined) this.limits.counters.waiting -= 1;
    socket[kWaiting] = undefined;
    socket.off('error', ignore);
    socket.off('close', onWaitingClose);
  }

  private hold(peer: string | undefined): void {
    if (peer !== undefined && this.limits.maxPerPeer !== Infinity) {
      this.perPeer.set(peer, (this.perPeer.get(peer) ?? 0) + 1);
    }
  }

  private unhold(peer: string | undefined): void {
    if (peer === undefined || this.limits.maxPerPeer === Infinity) return;
    const count = (this.perPeer.get(peer) ?? 1) - 1;
    if (count === 0) this.perPeer.delete(peer);
    else this.perPeer.set(peer, count);
  }

  private refuse(
    socket: Socket,
    limit: ConnectionLimit,
    refused: (socket: Socket, error: ConnectionLimitError) => void,
  ): void {
    // Node looks the peer's address up only while the socket is open, and keeps it once looked up.
    void socket.remotePort;
    closeRefused(socket, this.limits);
    refused(socket, new ConnectionLimitError(limit));
  }
}

interface WaitingPeer {
  readonly peer: string | undefined;
  readonly admitted: (socket: Socket) => void;
  readonly refused: (socket: Socket, error: ConnectionLimitError) => void;
}

/** Closes a refused socket: at once, or after the refusal message and a FIN (see `refusalMessage`). */
function closeRefused(socket: Socket, limits: AdmissionLimits): void {
  socket.on('error', ignore);
  const message = limits.refusalMessage;
  if (message === undefined) {
    socket.destroy();
    return;
  }
  socket.end(message);
  // Read and drop what it sends, so that the close is a FIN and not a RST, and see its FIN (then
  // the socket closes by itself, both sides having ended).
  socket.on('data', ignore);
  socket.resume();
  const timer = limits.scheduler.schedule(() => socket.destroy(), limits.refusalLinger);
  socket.once('close', () => timer.unsubscribe());
}

/** The most peers whose accept rate is remembered at once. */
const MAX_RATE_PEERS = 65_536;

/**
 * Per-peer token buckets for `peerAcceptRate`. The Map is kept in order of last use (a used entry
 * is moved to the end), so idle peers are at its front and are forgotten in amortised O(1): a
 * bucket left alone for `perMilliseconds` is full again, the same as no bucket at all.
 *
 * @internal
 */
export class PeerRates {
  private readonly buckets = new Map<string, { tokens: number; last: number }>();
  private readonly perMillisecond: number;

  constructor(
    private readonly rate: PeerAcceptRate,
    private readonly scheduler: SchedulerLike,
    private readonly maxPeers = MAX_RATE_PEERS,
  ) {
    this.perMillisecond = rate.connections / rate.perMilliseconds;
  }

  /** The peers remembered now. */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one connection from the peer's allowance: `false` when it has none left. */
  take(peer: string): boolean {
    const now = this.scheduler.now();
    const buckets = this.buckets;
    for (const [oldest, bucket] of buckets) {
      if (now - bucket.last < this.rate.perMilliseconds && buckets.size < this.maxPeers) break;
      buckets.delete(oldest);
    }
    const bucket = buckets.get(peer);
    let tokens = this.rate.connections;
    if (bucket !== undefined) {
      tokens = Math.min(tokens, bucket.tokens + (now - bucket.last) * this.perMillisecond);
      buckets.delete(peer);
    }
    const allowed = tokens >= 1;
    buckets.set(peer, { tokens: allowed ? tokens - 1 : tokens, last: now });
    return allowed;
  }

  clear(): void {
    this.buckets.clear();
  }
}

/**
 * The key a peer is counted under: its IPv4 address (also when IPv4-mapped), its IPv6 address, or
 * with `by64` its IPv6 /64 prefix. `undefined` for a peer without an address (a Unix socket).
 *
 * @internal
 */
export function peerKeyOf(address: string | undefined, by64: boolean): string | undefined {
  if (address === undefined || address === '') return undefined;
  if (!address.includes(':')) return address;
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7);
  const zone = lower.indexOf('%');
  const plain = zone === -1 ? lower : lower.slice(0, zone);
  if (!by64) return plain;
  const halves = plain.split('::');
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length < 2 || halves[1] === '' ? [] : halves[1]!.split(':');
  // An embedded IPv4 address (::ffff:1.2.3.4 was handled above; 64:ff9b::1.2.3.4) is two groups.
  const tailGroups = tail.reduce((sum, group) => sum + (group.includes('.') ? 2 : 1), 0);
  const groups = [
    ...head,
    ...new Array<string>(Math.max(0, 8 - head.length - tailGroups)).fill('0'),
    ...tail,
  ];
  return `${groups
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}

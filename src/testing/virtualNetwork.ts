import { Duplex } from 'node:stream';
import { Observable, Subscription, VirtualTimeScheduler, type Subscriber } from 'rxjs';
import { ConnectError, ListenError } from '../errors';
import { connectionOf } from '../internal/connectionOf';
import {
  DEFAULT_CLIENT_HALF_OPEN_TIMEOUT,
  checkConnectionOptions,
  fromDuplex,
  type ConnectionOptions,
} from '../transport/fromDuplex';
import type { ClientEvent, Connection, ConnectionId, MemoryAddress } from '../types';

/**
 * How many scheduler steps one {@link VirtualNetwork.run} may take before it gives up, because
 * something keeps scheduling work at the same instant.
 *
 * @defaultValue 1000000
 */
export const DEFAULT_MAX_STEPS = 1_000_000;

/** Options of {@link VirtualNetwork}. */
export interface VirtualNetworkOptions {
  /** The clock; pass it on to everything timed (`sendEvery`, `reconnect`, idle timeouts). @defaultValue a new `VirtualTimeScheduler` */
  readonly scheduler?: VirtualTimeScheduler;
  /** One-way delay of every new link, in virtual milliseconds. @defaultValue 0 */
  readonly latency?: number;
  /** @defaultValue {@link DEFAULT_MAX_STEPS} */
  readonly maxSteps?: number;
}

/** Options of {@link VirtualNetwork.connect} and {@link VirtualNetwork.connectEvents}. */
export interface VirtualConnectOptions extends ConnectionOptions {
  /** This connection's one-way delay, in virtual milliseconds. @defaultValue the network's `latency` */
  readonly latency?: number;
}

/**
 * One connection on the wire between a client and a server, for injecting faults.
 */
export interface VirtualLink {
  /** The name the server listens on. */
  readonly server: string;
  /** The connection's id on the server's side (as in the server's events). */
  readonly serverId: ConnectionId;
  /** The connection's id on the client's side. */
  readonly clientId: ConnectionId;
  /** One-way delay, in virtual milliseconds; bytes already on the wire keep their arrival time. */
  latency: number;
  /**
   * Breaks the connection now: both ends fail with a Node-style error of this code, and each
   * `Connection` closes as `lost`. Bytes on the wire are lost.
   */
  reset(code?: string): void;
}

/**
 * An in-memory network in virtual time: `listen`, `connect` and `connectEvents` produce real rxnet
 * connections (`fromDuplex` over in-memory Duplex pairs), so `serveConnections`, `reconnect`, the
 * behaviour operators and a client written against `connectEvents` run unchanged, and a minute of a
 * chat server runs in milliseconds.
 *
 * Two clocks must agree. Virtual time advances synchronously when the scheduler flushes, but
 * Node streams deliver bytes on `process.nextTick` and in microtasks. {@link VirtualNetwork.run}
 * therefore steps the scheduler to the next instant that has work, runs that instant's work, and
 * then awaits a macrotask turn (`setImmediate`), which lets every stream callback settle before
 * time moves on. Bytes travel through the scheduler too (after the link's latency), so what happens
 * when is decided by the scheduler alone and every run is the same.
 *
 * Wire model: a write reaches the peer after the latency, in order; `end()` sends FIN; `abort()`
 * (`resetAndDestroy()`) makes the peer fail with `ECONNRESET`; a connect to a name nobody listens
 * on fails with {@link ConnectError} (cause `ECONNREFUSED`) after one round trip.
 *
 * ## Example
 * ```ts
 * import { serveConnections, echo } from 'rxnet';
 * import { VirtualNetwork } from 'rxnet/testing';
 *
 * const net = new VirtualNetwork();
 * serveConnections(net.listen('echo'), (events) => events.pipe(echo())).subscribe();
 * net.connect('echo').subscribe((conn) => conn.write('hi'));
 * await net.run(1000);
 * ```
 */
export class VirtualNetwork {
  /** The network's clock. Give it to every timed operator of the scenario. */
  readonly scheduler: VirtualTimeScheduler;
  /** One-way delay of links created from now on, in virtual milliseconds. */
  latency: number;
  /** Every connection made so far, in the order they were made. */
  readonly links: VirtualLink[] = [];

  private readonly listeners = new Map<string, Listener>();
  private readonly maxSteps: number;
  private nextClientId = 1;

  constructor(options: VirtualNetworkOptions = {}) {
    this.scheduler = options.scheduler ?? new VirtualTimeScheduler();
    this.latency = options.latency ?? 0;
    this.maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  }

  /** The virtual time, in milliseconds. */
  now(): number {
    return this.scheduler.now();
  }

  /**
   * Listens on `name`: subscribing binds it and emits each accepted {@link Connection}, with ids
   * from 1 upwards; unsubscribing unbinds it and ends the connections it accepted. Fails with
   * {@link ListenError} (cause `EADDRINUSE`) when the name is taken.
   *
   * @param name The server's address on this network.
   * @param options Passed to `fromDuplex`; the idle timeout runs on the network's scheduler.
   * @throws TypeError or RangeError at call time for bad connection options, as `listen` does.
   */
  listen(name: string, options: ConnectionOptions = {}): Observable<Connection> {
    checkConnectionOptions(options);
    return new Observable<Connection>((subscriber) => {
      if (this.listeners.has(name)) {
        subscriber.error(
          new ListenError(name, { cause: nodeError('EADDRINUSE', `listen EADDRINUSE ${name}`) }),
        );
        return undefined;
      }
      const listener: Listener = { subscriber, options, nextId: 1, accepted: new Set() };
      this.listeners.set(name, listener);
      return () => {
        if (this.listeners.get(name) === listener) {
          this.listeners.delete(name);
        }
        for (const connection of listener.accepted) {
          connection.end();
        }
        listener.accepted.clear();
      };
    });
  }

  /**
   * Connects to `name`: emits the {@link Connection} after one round trip, completes when it
   * closes, and ends it gracefully on unsubscribe. Fails with {@link ConnectError} (cause
   * `ECONNREFUSED`) when nobody listens on `name` when the connection attempt arrives.
   *
   * It is {@link VirtualNetwork.connectEvents} reduced to the connection, as rxnet's `connect` is
   * its `connectEvents`.
   *
   * @param name The server's address on this network.
   * @param options The link's latency and the options passed to `fromDuplex`.
   */
  connect(name: string, options: VirtualConnectOptions = {}): Observable<Connection> {
    return connectionOf(this.connectEvents(name, options));
  }

  /**
   * One connection attempt's whole life as {@link ClientEvent}s, as rxnet's `connectEvents` gives
   * them for a real endpoint, so a client written against that lifecycle runs here unchanged.
   *
   * ```text
   * connectEvents(name): c-o--------l|    c=connecting  o=connected (one round trip)  l=lost
   * nobody listens:      c-f|             f=failed (ConnectError, cause ECONNREFUSED)
   * ```
   *
   * `connecting` comes at once, carrying the server's address as the client will see it
   * (`{ _tag: 'MemoryAddress', name }`, the connection's `remote`): a virtual name has no host,
   * port or timeout to parse. `failed` and `lost` are values, never an error notification, and
   * the stream completes after either. Unsubscribing cancels a pending attempt, or ends an open
   * connection gracefully (also one the server has accepted while the handshake is under way).
   *
   * @param name The server's address on this network.
   * @param options The link's latency and the options passed to `fromDuplex`.
   * @returns A cold Observable: each subscription is one attempt, which is what lets `reconnect`
   * retry it.
   * @throws TypeError or RangeError at call time for bad connection options, as `connectEvents` does.
   */
  connectEvents(
    name: string,
    options: VirtualConnectOptions = {},
  ): Observable<ClientEvent<MemoryAddress>> {
    checkConnectionOptions(options);
    return new Observable<ClientEvent<MemoryAddress>>((subscriber) => {
      const latency = options.latency ?? this.latency;
      // Set once the server has accepted, so an unsubscribe during the handshake still ends it.
      let client: Connection | undefined;
      let closedSub: Subscription | undefined;
      // The attempt's trip to the server, then the answer's trip back: both cancelled together.
      const trips = new Subscription();
      subscriber.next({ type: 'connecting', endpoint: { _tag: 'MemoryAddress', name } });
      trips.add(
        this.scheduler.schedule(() => {
          const listener = this.listeners.get(name);
          if (listener === undefined) {
            trips.add(
              this.scheduler.schedule(() => {
                const cause = nodeError('ECONNREFUSED', `connect ECONNREFUSED ${name}`);
                subscriber.next({ type: 'failed', error: new ConnectError(name, { cause }) });
                subscriber.complete();
              }, latency),
            );
            return;
          }
          const accepted = this.accept(name, listener, latency, options);
          client = accepted;
          trips.add(
            this.scheduler.schedule(() => {
              subscriber.next({ type: 'connected', connection: accepted });
              closedSub = accepted.closed$.subscribe((reason) => {
                subscriber.next({ type: 'lost', reason });
                subscriber.complete();
              });
            }, latency),
          );
        }, latency),
      );
      return () => {
        trips.unsubscribe();
        closedSub?.unsubscribe();
        client?.end();
      };
    });
  }

  /**
   * Runs `work` at virtual time `time` (milliseconds since the network's start): the place to
   * inject a fault or start a client in the middle of a scenario. Work due at the same instant runs
   * in the order it was scheduled, so an `at(t)` made before a connect whose handshake ends at `t`
   * runs before the connection exists.
   */
  at(time: number, work: () => void): Subscription {
    const delay = time - this.scheduler.now();
    if (delay < 0) {
      throw new RangeError(`Virtual time ${time} is in the past (now ${this.scheduler.now()})`);
    }
    return this.scheduler.schedule(work, delay);
  }

  /**
   * Advances virtual time to `until`, running every scheduled action on the way and letting stream
   * I/O settle (one `setImmediate` turn) after each instant, then leaves the clock at `until`.
   *
   * @param until The virtual time to stop at, in milliseconds since the network's start.
   * @returns A Promise that resolves at `until`, or rejects with what a scheduled action threw.
   */
  async run(until: number): Promise<void> {
    const scheduler = this.scheduler;
    if (until < scheduler.now()) {
      throw new RangeError(`Cannot run back to ${until}: the time is already ${scheduler.now()}`);
    }
    const maxFrames = scheduler.maxFrames;
    try {
      await settle();
      for (let steps = 0; ; steps += 1) {
        const next = scheduler.actions[0];
        if (next === undefined || next.delay > until) {
          break;
        }
        if (steps >= this.maxSteps) {
          throw new Error(
            `VirtualNetwork.run: more than ${this.maxSteps} steps before ${until} ms`,
          );
        }
        scheduler.maxFrames = next.delay;
        scheduler.flush();
        await settle();
      }
    } finally {
      scheduler.maxFrames = maxFrames;
    }
    scheduler.frame = until;
  }

  private accept(
    name: string,
    listener: Listener,
    latency: number,
    options: VirtualConnectOptions,
  ): Connection {
    const serverId = listener.nextId++;
    const clientId = this.nextClientId++;
    const serverAddress: MemoryAddress = { _tag: 'MemoryAddress', name };
    const clientAddress: MemoryAddress = { _tag: 'MemoryAddress', name: `client-${clientId}` };
    const link = new Link(this.scheduler, name, serverId, clientId, latency);
    this.links.push(link);
    const { latency: _latency, ...clientOptions } = options;
    const server = fromDuplex(
      link.serverSocket,
      { id: serverId, local: serverAddress, remote: clientAddress },
      {
        ...listener.options,
        scheduler: listener.options.scheduler ?? this.scheduler,
      },
    );
    const client = fromDuplex(
      link.clientSocket,
      { id: clientId, local: clientAddress, remote: serverAddress },
      {
        ...clientOptions,
        // An option given as undefined takes the default, as everywhere else.
        scheduler: clientOptions.scheduler ?? this.scheduler,
        halfOpenTimeout: clientOptions.halfOpenTimeout ?? DEFAULT_CLIENT_HALF_OPEN_TIMEOUT,
      },
    );
    listener.accepted.add(server);
    server.closed$.subscribe(() => listener.accepted.delete(server));
    listener.subscriber.next(server);
    return client;
  }
}

interface Listener {
  readonly subscriber: Subscriber<Connection>;
  readonly options: ConnectionOptions;
  nextId: number;
  readonly accepted: Set<Connection>;
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function nodeError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

class Link implements VirtualLink {
  readonly serverSocket: VirtualSocket;
  readonly clientSocket: VirtualSocket;

  constructor(
    scheduler: VirtualTimeScheduler,
    readonly server: string,
    readonly serverId: ConnectionId,
    readonly clientId: ConnectionId,
    public latency: number,
  ) {
    this.serverSocket = new VirtualSocket(scheduler, this);
    this.clientSocket = new VirtualSocket(scheduler, this);
    this.serverSocket.peer = this.clientSocket;
    this.clientSocket.peer = this.serverSocket;
  }

  reset(code = 'ECONNRESET'): void {
    this.serverSocket.breakWith(code);
    this.clientSocket.breakWith(code);
  }
}

/**
 * Bytes a link holds (on the wire plus unread at the receiver) before a writer must wait, like a
 * kernel's socket buffers.
 */
const WIRE_WINDOW_BYTES = 64 * 1024;

/**
 * One end of a link: a Duplex whose writes arrive at its peer through the scheduler. Like a kernel
 * socket, it accepts writes at once until the window is full, then holds them until the peer
 * reads, so pending output grows and backpressure behaves as on a real socket.
 */
class VirtualSocket extends Duplex {
  peer!: VirtualSocket;
  /** Virtual time of the last scheduled arrival, so a lowered latency cannot reorder bytes. */
  private lastArrival = 0;
  /** Bytes written but not yet arrived: with the peer's unread bytes, what fills the window. */
  private inFlight = 0;
  private heldWrite: (() => void) | undefined;
  private finSent = false;
  /** Set when the peer's FIN arrives; a Readable refuses pushes after `push(null)`. */
  private finReceived = false;
  private broken = false;

  constructor(
    private readonly scheduler: VirtualTimeScheduler,
    private readonly link: Link,
  ) {
    // As listen() and connect() make their sockets: the connection decides what a peer's FIN ends.
    super({ allowHalfOpen: true });
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.inFlight += chunk.length;
    this.transmit(() => {
      this.inFlight -= chunk.length;
      if (this.peer.accepts()) {
        this.peer.push(chunk);
      }
    });
    if (this.inFlight + this.peer.readableLength >= WIRE_WINDOW_BYTES) {
      this.heldWrite = () => callback();
    } else {
      callback();
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.sendFin();
    callback();
  }

  override _read(): void {
    this.peer.resumeWrites();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Closing a socket without a reset still tells the peer, with a FIN.
    if (!this.broken) {
      this.sendFin();
    }
    callback(error);
  }

  /** Like `net.Socket.resetAndDestroy()`: the peer fails with ECONNRESET after the latency. */
  resetAndDestroy(): this {
    this.broken = true;
    const peer = this.peer;
    this.transmit(() => peer.breakWith('ECONNRESET'));
    this.destroy();
    return this;
  }

  breakWith(code: string): void {
    if (this.destroyed) {
      return;
    }
    this.broken = true;
    this.destroy(nodeError(code, `read ${code}`));
  }

  private accepts(): boolean {
    return !this.destroyed && !this.finReceived && !this.broken;
  }

  private resumeWrites(): void {
    const held = this.heldWrite;
    this.heldWrite = undefined;
    held?.();
  }

  private sendFin(): void {
    if (this.finSent) {
      return;
    }
    this.finSent = true;
    const peer = this.peer;
    this.transmit(() => {
      if (peer.accepts()) {
        peer.finReceived = true;
        peer.push(null);
      }
    });
  }

  private transmit(arrive: () => void): void {
    const now = this.scheduler.now();
    const arrival = Math.max(now + this.link.latency, this.lastArrival);
    this.lastArrival = arrival;
    this.scheduler.schedule(arrive, arrival - now);
  }
}

/**
 * rxnet's `node:diagnostics_channel` events, as undici publishes its own: named channels that
 * cost one `hasSubscribers` check when nobody listens, so a server pays nothing for them until an
 * exporter, a tracer or a debugging session subscribes.
 *
 * The channels and their messages are the contract; docs/diagnostics.md documents each one.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { RxnetError } from '../errors';
import type { Address, CloseReason, Connection, ConnectionId } from '../types';
import type { RefusalReason } from '../net/serverCounters';

/** Which side of a connection rxnet is on: accepted by `listen`/`serve`, or made by `connect`. */
export type DiagnosticsRole = 'server' | 'client';

/**
 * A connection's traffic so far, read live: each figure is a getter over counters the connection
 * keeps anyway, so reading it costs nothing until a subscriber does, and it stays readable (and
 * final) after the close.
 */
export interface ConnectionTraffic {
  /** Bytes read from the socket (TLS records included: what crossed the wire). */
  readonly bytesRead: number;
  /** Bytes written to the socket (TLS records included). */
  readonly bytesWritten: number;
  /**
   * Messages the server's decoder delivered to the behaviour (raw chunks without a decoder);
   * 0 for a connection that `serve`/`serveConnections` does not run.
   */
  readonly framesIn: number;
  /**
   * `write` commands the server carried out on this connection (one per command and receiver,
   * however many parts its encoder made); 0 for a connection that `serveConnections` does not run.
   */
  readonly framesOut: number;
  /**
   * How often reading paused for backpressure: the connection's own output reached
   * `writeHighWaterMark`, or, under `serve`, a receiver of what it sent was full.
   */
  readonly backpressurePauses: number;
  /** Output accepted by `write()` and not yet handed to the kernel, now; 0 once closed. */
  readonly pendingWriteBytes: number;
}

/**
 * Published on `rxnet:connection:opened` when a connection is made: after its PROXY header and
 * TLS handshake, just before `listen` emits it or `connect` reports it connected.
 */
export interface ConnectionOpenedMessage {
  /** The connection's id, as its events carry it (ids are per server: match on `connection`). */
  readonly id: ConnectionId;
  /** Accepted by a server, or made by `connect`. */
  readonly role: DiagnosticsRole;
  /** This end's address. */
  readonly local: Address;
  /** The peer's address (from the PROXY header, when there was one). */
  readonly remote: Address;
  /** Whether it runs over TLS from the start (a later `startTls` is not counted). */
  readonly tls: boolean;
  /** `performance.now()` when it opened. */
  readonly openedAt: number;
  /** The connection itself, the key to match its close by. Observe it; do not write to it. */
  readonly connection: Connection;
  /** Its traffic, live: a metrics exporter reads it at each scrape. */
  readonly traffic: ConnectionTraffic;
  /** For a server's connection: where the server listens (see {@link ServerListeningMessage}). */
  readonly server?: Address;
}

/**
 * Published on `rxnet:connection:closed` once per connection, when it has closed. Only for a
 * connection opened while `rxnet:connection:opened` or this channel had a subscriber: what a
 * connection needs for this message is set up when it opens, and only then if someone listens.
 */
export interface ConnectionClosedMessage {
  /** The connection's id. */
  readonly id: ConnectionId;
  /** Accepted by a server, or made by `connect`. */
  readonly role: DiagnosticsRole;
  /** The peer's address. */
  readonly remote: Address;
  /** Why it closed: `done`, `lost`, `aborted` (with the error that caused it, if any) or `timedOut`. */
  readonly reason: CloseReason;
  /** Bytes read from the socket over its lifetime. */
  readonly bytesRead: number;
  /** Bytes written to the socket over its lifetime. */
  readonly bytesWritten: number;
  /** Messages delivered to the server's behaviour (see {@link ConnectionTraffic.framesIn}). */
  readonly framesIn: number;
  /** `write` commands carried out on it (see {@link ConnectionTraffic.framesOut}). */
  readonly framesOut: number;
  /** Pauses of reading for backpressure (see {@link ConnectionTraffic.backpressurePauses}). */
  readonly backpressurePauses: number;
  /** Milliseconds from opened to closed. */
  readonly lifetime: number;
  /** The same object the opened message carried. */
  readonly connection: Connection;
  /** For a server's connection: where the server listens. */
  readonly server?: Address;
}

/**
 * Published on `rxnet:connection:frameError` when a server's decoder fails on a connection's
 * input (a frame over its limit, a malformed frame, a frame cut short by the peer's FIN), just
 * before the connection is aborted with the error as its close reason.
 */
export interface FrameErrorMessage {
  /** The connection's id. */
  readonly id: ConnectionId;
  /** The peer's address. */
  readonly remote: Address;
  /** The decoder's typed error; its `code` says which limit or rule was broken. */
  readonly error: RxnetError;
  /**
   * Where the server listens, when the connection's opening was published (somebody subscribed to
   * the opened or closed channel then).
   */
  readonly server?: Address;
}

/**
 * Published on `rxnet:server:refused` when a server turns a peer away before its connection is
 * made: a limit, a bad PROXY header, a failed TLS handshake, a handshake timeout. The same
 * refusal is counted in `ServerCounters` and reaches the behaviour as a `connectionRefused` event.
 */
export interface ConnectionRefusedMessage {
  /** The peer's address (as accepted: a refused peer's PROXY header is not trusted). */
  readonly remote: Address;
  /** Which limit or step refused it. */
  readonly reason: RefusalReason;
  /** The typed error the refusal carries. */
  readonly error: RxnetError;
  /** Where the server listens; absent for a refusal before the server was bound. */
  readonly server?: Address;
}

/**
 * Published on `rxnet:server:listening` when a server (`listen`, `serve`) has bound its endpoint:
 * the address that tells its connections and refusals apart from those of the process's other
 * servers (their messages' `server`).
 */
export interface ServerListeningMessage {
  /** The bound address, with the real port when port 0 was asked for. */
  readonly server: Address;
}

/**
 * Published on `rxnet:server:shutdown` twice per graceful shutdown of `serve`/`serveConnections`:
 * when it begins (its trigger's first emission), and when it ends (every connection closed).
 */
export interface ShutdownMessage {
  /** `start` when the shutdown begins, `end` once every connection has closed. */
  readonly phase: 'start' | 'end';
  /** Connections still open when the phase was reached (so 0 at `end`). */
  readonly connections: number;
  /** At `end`: whether every connection closed without being aborted (none at the deadline). */
  readonly graceful?: boolean;
}

/** Which side of a request/response exchange published a request message. */
export type RequestSide = 'requester' | 'responder';

/**
 * Published on `rxnet:request:start` when a request is sent (`requester`) or received for handling
 * (`respond`). The same object is published again on `rxnet:request:end`, with `outcome` (and
 * `error`) set, so a subscriber can keep per-request state on it (a span, a start time).
 */
export interface RequestMessage {
  /** `requester` for a request `requester()` sends, `responder` for one `respond()` handles. */
  readonly side: RequestSide;
  /**
   * The connection the request travels on, when it is known: a requester's once the request is
   * sent (a request made before its protocol ran has none at its start), `respond()`'s when it
   * runs under `protocol()` or `runProtocol()`.
   */
  readonly connection?: ConnectionId;
  /** The request value itself; subscribers must not change it. */
  readonly request: unknown;
  /** `performance.now()` at the start. */
  readonly startedAt: number;
  /** Set at `end`. */
  outcome?: 'ok' | 'error' | 'timeout' | 'cancelled';
  /** Set at `end` when `outcome` is `error` or `timeout`. */
  error?: unknown;
}

/**
 * The names of rxnet's `node:diagnostics_channel` channels, one constant each so that a typo is
 * a compile error. Subscribe with `diagnostics_channel.subscribe(name, listener)`; docs/diagnostics.md
 * says when each is published and what its message holds.
 *
 * ## Example
 * ```ts
 * import diagnosticsChannel from 'node:diagnostics_channel';
 * import { DIAGNOSTICS_CHANNELS, type ConnectionClosedMessage } from 'rxnet';
 *
 * diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.connectionClosed, (message) => {
 *   const { remote, reason, bytesRead, lifetime } = message as ConnectionClosedMessage;
 *   console.log(remote, reason.type, bytesRead, 'bytes in', lifetime, 'ms');
 * });
 * ```
 */
export const DIAGNOSTICS_CHANNELS = {
  /** A connection was made: {@link ConnectionOpenedMessage}. */
  connectionOpened: 'rxnet:connection:opened',
  /** A connection closed: {@link ConnectionClosedMessage}. */
  connectionClosed: 'rxnet:connection:closed',
  /** A server's decoder failed on a connection's input: {@link FrameErrorMessage}. */
  frameError: 'rxnet:connection:frameError',
  /** A server turned a peer away: {@link ConnectionRefusedMessage}. */
  refused: 'rxnet:server:refused',
  /** A server has bound its endpoint: {@link ServerListeningMessage}. */
  serverListening: 'rxnet:server:listening',
  /** A server's graceful shutdown began or ended: {@link ShutdownMessage}. */
  shutdown: 'rxnet:server:shutdown',
  /** A request was sent or received for handling: `RequestMessage`. */
  requestStart: 'rxnet:request:start',
  /** A request ended: the same `RequestMessage`, with its outcome. */
  requestEnd: 'rxnet:request:end',
} as const;

/** The channels themselves, created once so publishers only test `hasSubscribers`. @internal */
export const channels = {
  connectionOpened: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.connectionOpened),
  connectionClosed: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.connectionClosed),
  frameError: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.frameError),
  refused: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.refused),
  serverListening: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.serverListening),
  shutdown: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.shutdown),
  requestStart: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.requestStart),
  requestEnd: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.requestEnd),
} as const;

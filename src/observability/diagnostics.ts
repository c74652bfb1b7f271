/**
 * rxnet's `node:diagnostics_channel` events, as undici publishes its own: named channels that
 * cost one `hasSubscribers` check when nobody listens, so a server pays nothing for them until an
 * exporter, a tracer or a debugging session subscribes.
 *
 * The channels and their messages are the contract; docs/diagnostics.md documents each one.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { RxnetError } from '../errors';
import type { Address, CloseReason, ConnectionId } from '../types';
import type { RefusalReason } from '../net/serverCounters';

/** Which side of a connection rxnet is on. */
export type DiagnosticsRole = 'server' | 'client';

/** Published on `rxnet:connection:opened` when a connection is made (after TLS and PROXY). */
export interface ConnectionOpenedMessage {
  /** The connection's id, as its events carry it. */
  readonly id: ConnectionId;
  /** Accepted by a server, or made by `connect`. */
  readonly role: DiagnosticsRole;
  readonly local: Address;
  readonly remote: Address;
  /** Whether it runs over TLS. */
  readonly tls: boolean;
  /** `performance.now()` when it opened, so a subscriber can compute its lifetime. */
  readonly openedAt: number;
}

/** Published on `rxnet:connection:closed` once per connection, when it has closed. */
export interface ConnectionClosedMessage {
  readonly id: ConnectionId;
  readonly role: DiagnosticsRole;
  readonly remote: Address;
  /** Why it closed. */
  readonly reason: CloseReason;
  /** Bytes read from and written to the socket over its lifetime. */
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Milliseconds from opened to closed. */
  readonly lifetime: number;
}

/** Published on `rxnet:connection:frameError` when a decoder fails on a connection's input. */
export interface FrameErrorMessage {
  readonly id: ConnectionId;
  readonly remote: Address;
  /** The decoder's typed error; its `code` says which limit or rule was broken. */
  readonly error: RxnetError;
}

/** Published on `rxnet:server:refused` when a limit, PROXY or TLS turns a peer away. */
export interface ConnectionRefusedMessage {
  readonly remote: Address;
  readonly reason: RefusalReason;
  readonly error: RxnetError;
}

/** Published on `rxnet:server:shutdown` when a server starts and ends a graceful shutdown. */
export interface ShutdownMessage {
  readonly phase: 'start' | 'end';
  /** Connections still open when the phase was reached. */
  readonly connections: number;
  /** At `end`: whether every connection closed before the deadline. */
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
  readonly side: RequestSide;
  /** The connection the request travels on, when it is known. */
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

/** The channel names, one constant each so that a typo is a compile error. */
export const DIAGNOSTICS_CHANNELS = {
  connectionOpened: 'rxnet:connection:opened',
  connectionClosed: 'rxnet:connection:closed',
  frameError: 'rxnet:connection:frameError',
  refused: 'rxnet:server:refused',
  shutdown: 'rxnet:server:shutdown',
  requestStart: 'rxnet:request:start',
  requestEnd: 'rxnet:request:end',
} as const;

/** The channels themselves, created once so publishers only test `hasSubscribers`. */
export const channels = {
  connectionOpened: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.connectionOpened),
  connectionClosed: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.connectionClosed),
  frameError: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.frameError),
  refused: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.refused),
  shutdown: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.shutdown),
  requestStart: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.requestStart),
  requestEnd: diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.requestEnd),
} as const;

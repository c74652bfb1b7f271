/**
 * Publishing the connection and server channels of `diagnostics.ts`. Internal: the channels and
 * their messages are the public contract. Every entry point first reads `hasSubscribers`, so a
 * process nobody observes pays a few property reads per connection, the frame counters' increments
 * (kept by `Served` whether or not anyone listens), and nothing per chunk.
 *
 * @packageDocumentation
 */
import type { RxnetError } from '../errors';
import { refusalReasonOf } from '../net/serverCounters';
import type { CoreConnection, CloseHook } from '../transport/connection/core';
import type { Address, CloseReason, Connection, ConnectionRefused } from '../types';
import {
  channels,
  type ConnectionClosedMessage,
  type ConnectionOpenedMessage,
  type ConnectionTraffic,
  type DiagnosticsRole,
  type ShutdownMessage,
} from './diagnostics';

/** The byte counts a `net.Socket` keeps (read structurally: only src/net imports node:net). */
export interface ByteCounts {
  readonly bytesRead: number;
  readonly bytesWritten: number;
}

/** What `serveConnections` counts for each connection it runs (its `Served`). */
export interface FrameCounts {
  readonly framesIn: number;
  readonly framesOut: number;
  /** Times this sender paused for a full receiver. */
  readonly pauses: number;
}

/** The observed connections, so that `serveConnections` can lend one its frame counts. */
const observed = new WeakMap<Connection, ObservedConnection>();

/**
 * One connection opened while somebody listened: its traffic, read live, and the hook that
 * publishes its close. One object per connection, and only then.
 */
class ObservedConnection implements ConnectionTraffic, CloseHook {
  frames: FrameCounts | undefined;
  readonly openedAt = performance.now();

  constructor(
    readonly connection: CoreConnection,
    readonly role: DiagnosticsRole,
    private readonly socket: ByteCounts,
    readonly server: Address | undefined,
  ) {}

  get bytesRead(): number {
    return this.socket.bytesRead;
  }

  get bytesWritten(): number {
    return this.socket.bytesWritten;
  }

  get framesIn(): number {
    return this.frames?.framesIn ?? 0;
  }

  get framesOut(): number {
    return this.frames?.framesOut ?? 0;
  }

  get backpressurePauses(): number {
    return this.connection.backpressurePauses + (this.frames?.pauses ?? 0);
  }

  get pendingWriteBytes(): number {
    return this.connection.pendingWriteBytes;
  }

  connectionClosed(reason: CloseReason): void {
    if (!channels.connectionClosed.hasSubscribers) return;
    const { connection, server } = this;
    const message: ConnectionClosedMessage = {
      id: connection.id,
      role: this.role,
      remote: connection.remote,
      reason,
      bytesRead: this.bytesRead,
      bytesWritten: this.bytesWritten,
      framesIn: this.framesIn,
      framesOut: this.framesOut,
      backpressurePauses: this.backpressurePauses,
      lifetime: performance.now() - this.openedAt,
      connection,
      ...(server === undefined ? {} : { server }),
    };
    channels.connectionClosed.publish(message);
  }
}

/**
 * A connection was made (`listen` after its handshakes, `connect` once connected): publishes
 * `opened` and arranges for `closed`, when either channel has a subscriber.
 *
 * @param socket The socket under the connection, whose byte counts are the wire's.
 * @param server For a server's connection, where the server listens.
 */
export function connectionOpened(
  connection: Connection,
  role: DiagnosticsRole,
  socket: ByteCounts,
  server?: Address,
): void {
  if (!channels.connectionOpened.hasSubscribers && !channels.connectionClosed.hasSubscribers) {
    return;
  }
  // listen and connect build every connection with fromDuplex: always the core's.
  const core = connection as CoreConnection;
  const record = new ObservedConnection(core, role, socket, server);
  observed.set(connection, record);
  if (channels.connectionOpened.hasSubscribers) {
    const message: ConnectionOpenedMessage = {
      id: core.id,
      role,
      local: core.local,
      remote: core.remote,
      tls: core.tls !== undefined,
      openedAt: record.openedAt,
      connection,
      traffic: record,
      ...(server === undefined ? {} : { server }),
    };
    channels.connectionOpened.publish(message);
  }
  core.watchClose(record);
}

/** `serveConnections` runs `connection`: its frame counts join the connection's traffic. */
export function connectionServed(connection: Connection, frames: FrameCounts): void {
  if (!channels.connectionOpened.hasSubscribers && !channels.connectionClosed.hasSubscribers) {
    return;
  }
  const record = observed.get(connection);
  if (record !== undefined) record.frames = frames;
}

/** A server's decoder failed on `connection`'s input. */
export function frameError(connection: Connection, error: RxnetError): void {
  if (channels.frameError.hasSubscribers) {
    const server = observed.get(connection)?.server;
    channels.frameError.publish({
      id: connection.id,
      remote: connection.remote,
      error,
      ...(server === undefined ? {} : { server }),
    });
  }
}

/** A server (listening at `server`, once bound) turned a peer away before its connection was made. */
export function connectionRefused(
  remote: Address,
  error: ConnectionRefused['error'],
  server: Address | undefined,
): void {
  if (channels.refused.hasSubscribers) {
    const reason = refusalReasonOf(error);
    channels.refused.publish(
      server === undefined ? { remote, reason, error } : { remote, reason, error, server },
    );
  }
}

/** A server has bound its endpoint. */
export function serverListening(server: Address): void {
  if (channels.serverListening.hasSubscribers) channels.serverListening.publish({ server });
}

/** A server's graceful shutdown began (`start`) or ended (`end`, with whether nothing was aborted). */
export function shutdownPhase(
  phase: ShutdownMessage['phase'],
  connections: number,
  graceful?: boolean,
): void {
  if (!channels.shutdown.hasSubscribers) return;
  channels.shutdown.publish(
    graceful === undefined ? { phase, connections } : { phase, connections, graceful },
  );
}

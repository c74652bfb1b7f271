import type { Socket } from 'node:net';
import { ConnectionLimitError } from '../errors';

/**
 * Limits on who a server admits (Twisted's `LimitTotalConnectionsFactory` and
 * `LimitConnectionsByPeer`). Every refusal is a `connectionRefused` event with a
 * {@link ConnectionLimitError}.
 */
export interface AdmissionOptions {
  /** The most connections open at once. @defaultValue `Infinity` */
  readonly maxConnections?: number;
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

/** The admission control the options ask for, or `undefined` when they set no limit (no cost). @internal */
export function admissionOf(options: AdmissionOptions): Admission | undefined {
  if (options.maxConnections === undefined || options.maxConnections === Infinity) {
    return undefined;
  }
  // SKELETON: the limits work replaces this with the real admission control.
  void ConnectionLimitError;
  return undefined;
}

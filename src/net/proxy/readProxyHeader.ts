import type { Socket } from 'node:net';
import { HandshakeTimeoutError, ProxyProtocolError } from '../../errors';
import type { TcpAddress, UnixAddress } from '../../types';

/** What a PROXY header says: the original client and the address it dialled; absent for LOCAL and UNKNOWN. */
export interface ProxyHeader {
  readonly source: TcpAddress | UnixAddress;
  readonly destination: TcpAddress | UnixAddress;
}

/**
 * Reads a PROXY protocol header (v1 or v2) from the start of a paused socket, within `timeout` ms.
 * Bytes after the header are pushed back (`unshift`) and the socket is left paused.
 *
 * @internal
 */
export function readProxyHeader(
  socket: Socket,
  timeout: number,
  done: (
    error: ProxyProtocolError | HandshakeTimeoutError | undefined,
    header: ProxyHeader | undefined,
  ) => void,
): void {
  // SKELETON: the PROXY protocol work replaces this.
  void socket;
  void timeout;
  done(new ProxyProtocolError('PROXY protocol is not implemented yet'), undefined);
  void HandshakeTimeoutError;
}

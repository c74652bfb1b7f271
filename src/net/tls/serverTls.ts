import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Observable } from 'rxjs';
import { HandshakeTimeoutError, TlsError } from '../../errors';
import type { TlsServerEndpoint } from '../endpoints';

/** TLS options of `listen` and `serve`, beside (or instead of) the key files of an `ssl:` endpoint. */
export interface TlsListenOptions {
  /** Each emission re-reads the endpoint's key and certificate files: new connections get them. */
  readonly reloadTls?: Observable<unknown>;
}

/** A server's TLS side: makes each accepted socket a TLSSocket. @internal */
export interface ServerTls {
  /** Wraps a paused socket and runs the handshake within `timeout` ms. */
  accept(
    socket: Socket,
    timeout: number,
    done: (error: TlsError | HandshakeTimeoutError | undefined, secure: TLSSocket | undefined) => void,
  ): void;
  /** Stops reloading. */
  stop(): void;
}

/**
 * Reads the endpoint's files and builds the secure context. Throws (a ListenError's cause) when a
 * file cannot be read or does not hold a key or certificate.
 *
 * @internal
 */
export function serverTlsOf(endpoint: TlsServerEndpoint, options: TlsListenOptions): ServerTls {
  // SKELETON: the TLS work replaces this.
  void endpoint;
  void options;
  void HandshakeTimeoutError;
  throw new TlsError('TLS is not implemented yet');
}

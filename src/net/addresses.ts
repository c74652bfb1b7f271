import type { AddressInfo, Server, Socket } from 'node:net';
import type { ConnectionInfo } from '../transport/fromDuplex';
import type { Address, ConnectionId, TcpAddress } from '../types';
import type { ClientEndpoint, ServerEndpoint } from './endpoints';

/** A bound server's address: with port 0, the port the kernel chose. */
export function serverAddress(server: Server, endpoint: ServerEndpoint): Address {
  const address = server.address();
  if (address === null || typeof address === 'string' || endpoint.type === 'unix') {
    return {
      _tag: 'UnixAddress',
      path: endpoint.type === 'unix' ? endpoint.path : String(address),
    };
  }
  return tcpAddress(address);
}

/** Both ends of a connected socket, as `{ local, remote }` for `fromDuplex`. */
export function socketAddresses(
  socket: Socket,
  endpoint: ServerEndpoint | ClientEndpoint,
  side: 'server' | 'client',
): { local: Address; remote: Address } {
  if (endpoint.type === 'unix') {
    // Only the listening end of a Unix socket has a name; the other is unnamed, as in Twisted.
    const named: Address = { _tag: 'UnixAddress', path: endpoint.path };
    const unnamed: Address = { _tag: 'UnixAddress', path: '' };
    return side === 'server'
      ? { local: named, remote: unnamed }
      : { local: unnamed, remote: named };
  }
  return {
    local: tcpAddress({
      address: socket.localAddress ?? '',
      port: socket.localPort ?? 0,
      family: socket.localFamily ?? 'IPv4',
    }),
    remote: tcpAddress({
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      family: socket.remoteFamily ?? 'IPv4',
    }),
  };
}

/** The unnamed end of a Unix socket connection; one object for all of them. */
const UNNAMED_UNIX: Address = Object.freeze({ _tag: 'UnixAddress', path: '' });

/**
 * The address every connection accepted by `server` has as its local end, or `undefined` when it
 * differs between connections: a server bound to a wildcard (`0.0.0.0`, `::`) answers on whichever
 * local address the peer dialled. Computed once per server, so its connections share one object.
 */
export function sharedLocalAddress(server: Server, endpoint: ServerEndpoint): Address | undefined {
  const local = serverAddress(server, endpoint);
  if (local._tag === 'TcpAddress' && (local.hostname === '0.0.0.0' || local.hostname === '::')) {
    return undefined;
  }
  return local;
}

/**
 * Who an accepted connection is, for `fromDuplex`, at the least cost per connection: the local
 * address is the server's shared one when there is one, and the peer's is built on first read (many
 * servers never read it). Node keeps a socket's peer address once looked up, even after the socket
 * closes, but forgets its local one; so the peer is looked up now and the local address, when it
 * is not shared, is built now.
 */
export function acceptedInfo(
  id: ConnectionId,
  socket: Socket,
  endpoint: ServerEndpoint,
  sharedLocal: Address | undefined,
): ConnectionInfo {
  if (endpoint.type === 'unix') {
    return {
      id,
      local: sharedLocal ?? { _tag: 'UnixAddress', path: endpoint.path },
      remote: UNNAMED_UNIX,
    };
  }
  return new AcceptedTcpInfo(
    id,
    socket,
    sharedLocal ?? socketAddresses(socket, endpoint, 'server').local,
  );
}

class AcceptedTcpInfo implements ConnectionInfo {
  private peer: TcpAddress | undefined;

  constructor(
    readonly id: ConnectionId,
    private readonly socket: Socket,
    readonly local: Address,
  ) {
    // Makes Node look up, and keep, the peer's address while the socket is open.
    void socket.remotePort;
  }

  get remote(): TcpAddress {
    const socket = this.socket;
    return (this.peer ??= tcpAddress({
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      family: socket.remoteFamily ?? 'IPv4',
    }));
  }
}

function tcpAddress(address: AddressInfo): TcpAddress {
  return {
    _tag: 'TcpAddress',
    hostname: address.address,
    port: address.port,
    family: address.family === 'IPv6' ? 'IPv6' : 'IPv4',
  };
}

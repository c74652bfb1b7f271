import type { AddressInfo, Server, Socket } from 'node:net';
import type { Address, TcpAddress } from '../types';
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

function tcpAddress(address: AddressInfo): TcpAddress {
  return {
    _tag: 'TcpAddress',
    hostname: address.address,
    port: address.port,
    family: address.family === 'IPv6' ? 'IPv6' : 'IPv4',
  };
}

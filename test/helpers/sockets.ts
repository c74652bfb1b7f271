import { once } from 'node:events';
import { connect as netConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { ReplaySubject, firstValueFrom, skip, type Subscription } from 'rxjs';
import { listen, type ListenOptions } from '../../src/net/listen';
import type { ServerEndpoint } from '../../src/net/endpoints';
import type { Address, Connection } from '../../src/types';

/** Loopback, IPv4, a port the kernel picks. */
export const LOOPBACK = 'tcp:0:interface=127.0.0.1';

/** A running listen() and what it has accepted so far. */
export interface Listener {
  readonly address: Address;
  readonly port: number;
  readonly connections: ReplaySubject<Connection>;
  /** Resolves with the n-th accepted connection (from 0). */
  accepted(index: number): Promise<Connection>;
  readonly subscription: Subscription;
}

export function startListening(
  endpoint: string | ServerEndpoint = LOOPBACK,
  options: ListenOptions = {},
): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const connections = new ReplaySubject<Connection>();
    const subscription: Subscription = listen(endpoint, {
      ...options,
      onListening(address) {
        resolve({
          address,
          port: address._tag === 'TcpAddress' ? address.port : 0,
          connections,
          accepted: (index) => firstValueFrom(connections.pipe(skip(index))),
          subscription,
        });
      },
    }).subscribe({ next: (connection) => connections.next(connection), error: reject });
  });
}

/**
 * A port that was just free: bound on loopback, then closed (and waited for), so connecting to it
 * is refused.
 */
export async function refusedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** A plain Node client on 127.0.0.1, connected. */
export async function rawClient(port: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  return socket;
}

/** A plain Node client on a Unix socket, connected. */
export async function rawUnixClient(path: string): Promise<Socket> {
  const socket = netConnect({ path });
  await once(socket, 'connect');
  return socket;
}

/** Resolves with everything a socket receives until its peer's FIN. */
export function receiveAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

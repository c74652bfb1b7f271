/**
 * The connection contract over a connection upgraded by `startTls`: accepted in plain text by
 * `listen`, then upgraded in place (server role) while Node's TLS client takes over the peer's
 * socket. Every case runs after the upgrade, so the swapped transport must keep the whole
 * contract (half-close with close_notify, resets, backpressure, timeouts) that the plain one had.
 */
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { VirtualTimeScheduler, firstValueFrom, type Subscription } from 'rxjs';
import { startTls } from '../../src/index';
import { makeCerts } from '../helpers/certs';
import { startListening } from '../helpers/sockets';
import {
  describeConnectionContract,
  peerSocketHarness,
  recordPeer,
  type MakeHarness,
} from './connectionContract';

const certs = makeCerts();
afterAll(() => certs.remove());

const upgradedHarness: MakeHarness = async (options) => {
  const scheduler = new VirtualTimeScheduler();
  let raw: Socket | undefined;
  let subscription: Subscription | undefined;
  try {
    const listener = await startListening('tcp:port=0:interface=127.0.0.1', {
      ...options,
      scheduler,
    });
    subscription = listener.subscription;
    raw = netConnect({ host: '127.0.0.1', port: listener.port, allowHalfOpen: true });
    await once(raw, 'connect');
    const tcp = raw;
    tcp.on('error', () => undefined);
    const connection = await listener.accepted(0);
    const upgraded = firstValueFrom(
      startTls(connection, {
        key: certs.read(certs.server.key),
        cert: certs.read(certs.server.cert),
      }),
    );
    const socket = tlsConnect({
      socket: tcp,
      servername: 'localhost',
      ca: certs.read(certs.ca.cert),
    });
    const record = recordPeer(socket);
    await once(socket, 'secureConnect');
    await upgraded;
    const listening = subscription;
    return peerSocketHarness({
      connection,
      peer: socket,
      tcp,
      record,
      scheduler,
      release: () => listening.unsubscribe(),
    });
  } catch (error: unknown) {
    raw?.destroy();
    subscription?.unsubscribe();
    throw error;
  }
};

describeConnectionContract(
  'tcp upgraded by startTls (server role, Node TLS peer)',
  upgradedHarness,
);

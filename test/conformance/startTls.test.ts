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
  advanceScheduler,
  describeConnectionContract,
  nextTurn,
  until,
  type Harness,
  type MakeHarness,
  type PeerSaw,
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
    const chunks: Buffer[] = [];
    let saw: PeerSaw | undefined;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => (saw ??= 'eof'));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET') {
        saw ??= 'reset';
      }
    });
    await once(socket, 'secureConnect');
    await upgraded;
    const listening = subscription;
    const h: Harness = {
      connection,
      peerWrite: (data) => void socket.write(data),
      peerEnd: () => void socket.end(),
      peerReset: () => void tcp.resetAndDestroy(),
      peerPauseReading: () => void socket.pause(),
      peerResumeReading: () => void socket.resume(),
      received: () => Buffer.concat(chunks),
      peerSaw: () => saw,
      advance: async (ms) => {
        advanceScheduler(scheduler, ms);
        await nextTurn();
      },
      settle: nextTurn,
      close: async () => {
        if (connection.state !== 'closed') {
          connection.abort();
          await until(h, () => connection.state === 'closed', 'the connection to close');
        }
        socket.destroy();
        tcp.destroy();
        listening.unsubscribe();
      },
    };
    return h;
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

import type { Duplex } from 'node:stream';
import { VirtualNetwork } from '../../src/testing/virtualNetwork';
import type { ConnectionOptions } from '../../src/transport/fromDuplex';
import type { Connection } from '../../src/types';
import { describeConnectionContract, recordPeer, until, type Harness } from './connectionContract';

/** The peer never acts on its own: no timeouts, no limits that a case could trip. */
const PASSIVE_PEER: ConnectionOptions = {
  halfOpenTimeout: Infinity,
  closeTimeout: Infinity,
  drainTimeout: Infinity,
};

/**
 * The server side of a virtual-network link, with the client side as the peer. The network offers
 * the peer only as an rxnet Connection, whose data$ discards what arrives after its own end(), so
 * what the peer reads is taken from the link's client socket itself (what reached it on the wire).
 * Time is the network's scheduler, advanced with `run`.
 */
async function virtualHarness(options: ConnectionOptions): Promise<Harness> {
  const net = new VirtualNetwork();
  let server: Connection | undefined;
  let peer: Connection | undefined;
  const listening = net.listen('conformance', options).subscribe((accepted) => (server = accepted));
  const connecting = net.connect('conformance', PASSIVE_PEER).subscribe({
    next: (connected) => (peer = connected),
    error: () => undefined,
  });
  try {
    await net.run(net.now());
  } catch (error: unknown) {
    listening.unsubscribe();
    connecting.unsubscribe();
    throw error;
  }
  const connection = server!;
  const client = peer!;
  const socket = (net.links[0] as unknown as { readonly clientSocket: Duplex }).clientSocket;
  const record = recordPeer(socket);
  // The peer reads all the time (discarding through its Connection) unless paused.
  client.data$.subscribe({ error: () => undefined });
  const settle = (): Promise<void> => net.run(net.now());
  // Node's resume() reads once on the next tick, even if paused meanwhile: let it happen now.
  await settle();
  const h: Harness = {
    connection,
    peerWrite: (data) => void client.write(data),
    peerEnd: () => client.end(),
    peerReset: () => client.abort(),
    peerPauseReading: () => client.pause(),
    peerResumeReading: () => client.resume(),
    received: record.received,
    peerSaw: record.peerSaw,
    advance: (ms) => net.run(net.now() + ms),
    settle,
    close: async () => {
      connection.abort();
      client.abort();
      await until(h, () => connection.state === 'closed', 'the connection to close');
      connecting.unsubscribe();
      listening.unsubscribe();
    },
  };
  return h;
}

describeConnectionContract('VirtualNetwork (server side, client as peer)', virtualHarness);

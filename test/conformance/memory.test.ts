import { VirtualTimeScheduler } from 'rxjs';
import { memoryConnection } from '../../src/testing/memoryConnection';
import type { ConnectionOptions } from '../../src/transport/fromDuplex';
import {
  advanceScheduler,
  describeConnectionContract,
  nextTurn,
  type Harness,
} from './connectionContract';

/**
 * memoryConnection, with the test as its scripted peer: `manualFlush` holds output until the peer
 * reads (which it does on each settle, unless paused), and `peerAnswersFin: false` leaves the
 * peer's FIN to the case, as on a socket.
 */
async function memoryHarness(options: ConnectionOptions): Promise<Harness> {
  const scheduler = new VirtualTimeScheduler();
  const connection = memoryConnection({
    ...options,
    scheduler,
    manualFlush: true,
    peerAnswersFin: false,
  });
  let reading = true;
  const settle = async (): Promise<void> => {
    if (reading) {
      connection.flush();
    }
    await nextTurn();
  };
  return Promise.resolve({
    connection,
    peerWrite: (data) => connection.receive(data),
    peerEnd: () => connection.closeFromPeer('clean'),
    peerReset: () => connection.closeFromPeer('reset'),
    peerPauseReading: () => (reading = false),
    peerResumeReading: () => (reading = true),
    received: () => connection.written,
    peerSaw: () => {
      if (connection.closedBy === 'abort') {
        return 'reset';
      }
      // The FIN goes out once end()'s output is flushed; any other close ends the stream too.
      const finSent = connection.closedBy === 'end' && connection.pendingWriteBytes === 0;
      return finSent || connection.state === 'closed' ? 'eof' : undefined;
    },
    advance: async (ms) => {
      advanceScheduler(scheduler, ms);
      await settle();
    },
    settle,
    close: async () => {
      connection.abort();
      await settle();
    },
  });
}

describeConnectionContract('memoryConnection (scripted peer)', memoryHarness);

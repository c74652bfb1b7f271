/**
 * A graceful shutdown driven by the testing kit's VirtualNetwork, in virtual time: goodbyes, FINs,
 * a client that never answers the FIN aborted at the deadline, a late connection ended at once.
 */
import { Subject } from 'rxjs';
import { describeCloseReason, serveConnections, type ServerOutput } from 'rxnet';
import { VirtualNetwork } from 'rxnet/testing';
import { politeEcho } from '../helpers/politeEcho';

describe('serveConnections', () => {
  describe('shutdown on a virtual network', () => {
    it('says goodbye, ends every connection, aborts at the deadline and reports, in virtual time', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      const log: string[] = [];
      const say = (line: string): void => {
        log.push(`${net.now()} ${line}`);
      };
      const trigger = new Subject<void>();
      let report: ServerOutput | undefined;
      let completedAt: number | undefined;
      serveConnections(
        // The server waits for a FIN as long as it takes: only the deadline closes a client
        // that never sends one.
        net.listen('echo', { closeTimeout: Infinity, scheduler: net.scheduler }),
        politeEcho,
        { shutdown: trigger, shutdownTimeout: 2000, scheduler: net.scheduler },
      ).subscribe({
        next: (item) => {
          if (item.type === 'shutdownComplete') report = item;
        },
        complete: () => {
          completedAt = net.now();
        },
      });

      function client(label: string, options: { halfOpenTimeout?: number } = {}): void {
        net.connect('echo', options).subscribe((connection) => {
          say(`${label} connected`);
          if (label === 'a') connection.write('hi');
          connection.data$.subscribe({
            next: (chunk) => say(`${label} < ${chunk.toString()}`),
            complete: () => say(`${label} FIN`),
            error: () => undefined,
          });
          connection.closed$.subscribe((reason) =>
            say(`${label} closed ${describeCloseReason(reason)}`),
          );
        });
      }
      client('a');
      // b keeps its side open after the server's FIN, and never closes it.
      client('b', { halfOpenTimeout: Infinity });
      net.at(1000, () => trigger.next());
      net.at(1500, () => client('c'));
      await net.run(5000);

      expect(log).toEqual([
        '20 a connected',
        '20 b connected',
        '40 a < hi',
        '1010 a < bye',
        '1010 b < bye',
        '1010 a FIN',
        '1010 b FIN',
        '1010 a closed done',
        '1520 c connected',
        '1520 c FIN',
        '1520 c closed done',
        // b is aborted at 3000 on the server's side; after our FIN an abort can only close the
        // socket, not reset it, so b hears nothing more until it writes.
      ]);
      expect(report).toEqual({
        type: 'shutdownComplete',
        graceful: 2,
        aborted: 1,
        droppedBytes: 0,
        forced: false,
      });
      expect(completedAt).toBe(3000);
    });
  });
});

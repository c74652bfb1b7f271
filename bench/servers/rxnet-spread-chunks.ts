/**
 * The Spread server with rxnet and no framing: `countConnections()`, `greet(...)` and `broadcast()`
 * over raw chunks, each received chunk written as it is to every other client. The rxnet side of
 * the trickle workload (many clients, one byte each now and then, every byte relayed), beside
 * `raw-spread-chunks.ts` and `twisted_spread.py`, which forward chunks the same way.
 *
 * Run on its own: `npx ts-node bench/servers/rxnet-spread-chunks.ts tcp:PORT [--time-limit=SECONDS]`.
 */
import { broadcast, countConnections, greet, serve, type Output } from 'rxnet';
import { greeting, parseServerArgs, reportListening, startHarness } from './harness';

const args = parseServerArgs(process.argv.slice(2), 'rxnet-spread-chunks');
startHarness(args);

serve<Buffer, Output>(
  args.endpoint,
  (events) =>
    events.pipe(
      countConnections(),
      greet(({ count }) => greeting(count)),
      broadcast(),
    ),
  { noDelay: true },
).subscribe(function onNotification(notification) {
  if (notification.type === 'listening') {
    reportListening(notification.address._tag === 'TcpAddress' ? notification.address : null);
  }
});

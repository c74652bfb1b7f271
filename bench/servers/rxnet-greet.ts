/**
 * The connection-rate server with rxnet: the Spread server's greeting as a behaviour,
 * `countConnections()` then `greet(...)`.
 *
 * Run on its own: `npx ts-node bench/servers/rxnet-greet.ts tcp:PORT [--time-limit=SECONDS]`.
 */
import { countConnections, greet, serve } from 'rxnet';
import { greeting, parseServerArgs, reportListening, startHarness } from './harness';

const args = parseServerArgs(process.argv.slice(2), 'rxnet-greet');
startHarness(args);

serve(
  args.endpoint,
  (events) =>
    events.pipe(
      countConnections(),
      greet(({ count }) => greeting(count)),
    ),
  {
    noDelay: true,
    // The load generator ends each connection with a FIN; the raw and Twisted servers close at
    // once (Node's allowHalfOpen: false, Twisted without IHalfCloseableProtocol), so rxnet must
    // too, rather than keep the connection writable for DEFAULT_HALF_OPEN_TIMEOUT.
    halfOpenTimeout: 0,
  },
).subscribe(function onNotification(notification) {
  if (notification.type === 'listening') {
    reportListening(notification.address._tag === 'TcpAddress' ? notification.address : null);
  }
});

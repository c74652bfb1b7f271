/**
 * The Spread server with rxnet: lines in, `countConnections()`, `greet(...)` and `broadcast()`,
 * lines out (the seed's pipeline without its `close` handling). The lines broadcast while one
 * received chunk is handled are joined once and written to each receiver as one buffer, so a chunk
 * of many small lines costs each receiver one `write()`, as the chunk-forwarding raw server's does,
 * where the naive raw server makes one `write()` per line per receiver.
 *
 * Run on its own: `npx ts-node bench/servers/rxnet-spread.ts tcp:PORT [--time-limit=SECONDS]`.
 */
import { broadcast, countConnections, greet, lines, serve, type Output } from 'rxnet';
import { greetingText, parseServerArgs, reportListening, startHarness } from './harness';

const args = parseServerArgs(process.argv.slice(2), 'rxnet-spread');
startHarness(args);

serve<Buffer, Output>(
  args.endpoint,
  (events) =>
    events.pipe(
      countConnections(),
      greet(({ count }) => greetingText(count)),
      broadcast(),
    ),
  {
    noDelay: true,
    // Both directions: every write is a line, the greeting included. The encoder runs once per
    // broadcast, not per receiver, and gives the line and its delimiter as two parts, unjoined.
    framing: lines({ delimiter: '\n' }),
  },
).subscribe(function onNotification(notification) {
  if (notification.type === 'listening') {
    reportListening(notification.address._tag === 'TcpAddress' ? notification.address : null);
  }
});

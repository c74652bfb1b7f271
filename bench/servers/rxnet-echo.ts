/**
 * Echo with rxnet, as a user would write it: `listen`, then send each connection's own `data$`
 * back to it (`conn.send(conn.data$)`, which is backpressured). The rxnet side of the echo and
 * idle-memory workloads; `rxnet-serve-echo.ts` is the same server written as a behaviour.
 *
 * Run on its own: `npx ts-node bench/servers/rxnet-echo.ts tcp:PORT [--time-limit=SECONDS]`.
 */
import { listen, type Connection } from 'rxnet';
import { parseServerArgs, reportListening, startHarness } from './harness';

const args = parseServerArgs(process.argv.slice(2), 'rxnet-echo');
startHarness(args);

function ignoreError(): void {
  // send() fails when the peer goes first, which the load generator does at the end of a run.
}

listen(args.endpoint, {
  noDelay: true,
  onListening: (address) => reportListening(address._tag === 'TcpAddress' ? address : null),
}).subscribe(function onConnection(connection: Connection) {
  connection.send(connection.data$).subscribe({ error: ignoreError });
});

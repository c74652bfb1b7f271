/**
 * Echo with rxnet as a behaviour: `serve(endpoint, echo())`. Against `rxnet-echo.ts` (listen plus
 * `conn.send(conn.data$)`) it shows what the shared event stream and command execution cost.
 *
 * Run on its own: `npx ts-node bench/servers/rxnet-serve-echo.ts tcp:PORT [--time-limit=SECONDS]`.
 */
import { echo, serve } from 'rxnet';
import { parseServerArgs, reportListening, startHarness } from './harness';

const args = parseServerArgs(process.argv.slice(2), 'rxnet-serve-echo');
startHarness(args);

serve(args.endpoint, (events) => events.pipe(echo()), { noDelay: true }).subscribe(
  function onNotification(notification) {
    if (notification.type === 'listening') {
      reportListening(notification.address._tag === 'TcpAddress' ? notification.address : null);
    }
  },
);

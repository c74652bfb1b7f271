/**
 * `rxnet-serve-echo.ts` with every diagnostics channel subscribed: rxnet's Prometheus exporter
 * (`rxnet/metrics`) runs on a registry of its own, scraped once a second as a busy Prometheus
 * would. Against `rxnet-serve-echo.ts` it shows what observing a server costs
 * (`bench/diagnostics.bench.ts`).
 *
 * Run on its own: `npx ts-node bench/servers/rxnet-serve-echo-observed.ts tcp:PORT [--time-limit=SECONDS]`.
 */
import { Registry } from 'prom-client';
import { echo, serve } from 'rxnet';
import { rxnetMetrics } from 'rxnet/metrics';
import { parseServerArgs, reportListening, startHarness } from './harness';

const args = parseServerArgs(process.argv.slice(2), 'rxnet-serve-echo-observed');
startHarness(args);

const registry = new Registry();
rxnetMetrics({ register: registry });
setInterval(function scrape() {
  void registry.metrics();
}, 1000).unref();

serve(args.endpoint, (events) => events.pipe(echo()), { noDelay: true }).subscribe(
  function onNotification(notification) {
    if (notification.type === 'listening') {
      reportListening(notification.address._tag === 'TcpAddress' ? notification.address : null);
    }
  },
);

import { createServer, get } from 'node:http';
import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { Subject } from 'rxjs';
import { echo, serve } from 'rxnet';
import { rxnetMetrics } from 'rxnet/metrics';

it('serves Prometheus metrics at /metrics', async () => {
  // Started first, so it sees every connection; prom-client's global registry by default.
  const metrics = rxnetMetrics({ register: new Registry() });
  const http = createServer(async (_request, response) => {
    response.setHeader('Content-Type', metrics.registry.contentType);
    response.end(await metrics.registry.metrics());
  }).listen(0, '127.0.0.1');

  const shutdown = new Subject<void>();
  let server = ''; // the series' `server` label: where the server listens
  let connected: () => void;
  const made = new Promise<void>((resolve) => (connected = resolve));
  const stopped = new Promise<void>((resolve) => {
    serve('tcp:0:interface=127.0.0.1', (events) => events.pipe(echo()), { shutdown }).subscribe({
      next: (n) => {
        if (n.type === 'listening' && n.address._tag === 'TcpAddress') {
          server = `127.0.0.1:${n.address.port}`;
          connect(n.address.port, '127.0.0.1').on('error', () => {});
        }
        if (n.type === 'connectionMade') connected();
      },
      complete: resolve,
    });
  });
  await made;

  const { port } = http.address() as { port: number };
  const page = await new Promise<string>((resolve) =>
    get(`http://127.0.0.1:${port}/metrics`, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve(text));
    }),
  );
  shutdown.next();
  await stopped;
  http.close();
  metrics.stop();
  expect(page).toContain(`rxnet_connections_open{role="server",server="${server}"} 1`);
  expect(page).toContain(`rxnet_connections_accepted_total{server="${server}"} 1`);
});

import diagnosticsChannel from 'node:diagnostics_channel';
import { connect } from 'node:net';
import { Subject } from 'rxjs';
import { DIAGNOSTICS_CHANNELS, echo, serve, type ShutdownMessage } from 'rxnet';

it('reports a graceful shutdown as it starts and ends', async () => {
  const phases: ShutdownMessage[] = [];
  function onShutdown(message: unknown): void {
    phases.push(message as ShutdownMessage);
  }
  diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.shutdown, onShutdown);

  // Shut down as soon as a client is connected; the client answers the server's FIN with its own.
  const shutdown = new Subject<void>();
  const stopped = new Promise<void>((resolve) => {
    serve('tcp:0:interface=127.0.0.1', (events) => events.pipe(echo()), { shutdown }).subscribe({
      next: (n) => {
        if (n.type === 'listening' && n.address._tag === 'TcpAddress') {
          const client = connect(n.address.port, '127.0.0.1');
          client.on('end', () => client.end());
        }
        if (n.type === 'connectionMade') shutdown.next();
      },
      complete: resolve,
    });
  });
  await stopped;

  diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.shutdown, onShutdown);
  expect(phases).toEqual([
    { phase: 'start', connections: 1 },
    { phase: 'end', connections: 0, graceful: true },
  ]);
});

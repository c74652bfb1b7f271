import diagnosticsChannel from 'node:diagnostics_channel';
import { connect } from 'node:net';
import { Subject } from 'rxjs';
import {
  DIAGNOSTICS_CHANNELS,
  echo,
  lines,
  serve,
  type ConnectionClosedMessage,
  type ConnectionOpenedMessage,
} from 'rxnet';

it('logs each connection as it opens and closes', async () => {
  const log: string[] = [];
  function onOpened(message: unknown): void {
    const { id, role, remote } = message as ConnectionOpenedMessage;
    log.push(`${role} ${id} opened from ${remote._tag}`);
  }
  function onClosed(message: unknown): void {
    const { id, reason, bytesRead, bytesWritten, framesIn } = message as ConnectionClosedMessage;
    log.push(`${id} ${reason.type}: ${bytesRead} B in, ${bytesWritten} B out, ${framesIn} lines`);
  }
  diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.connectionOpened, onOpened);
  diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.connectionClosed, onClosed);

  // A line echo server, and a client that sends two lines and hangs up.
  const shutdown = new Subject<void>();
  const framing = lines({ delimiter: '\n', encoding: 'utf8' });
  const stopped = new Promise<void>((resolve) => {
    serve('tcp:0:interface=127.0.0.1', (events) => events.pipe(echo()), {
      framing,
      shutdown,
    }).subscribe({
      next: (n) => {
        if (n.type === 'listening' && n.address._tag === 'TcpAddress') {
          const client = connect(n.address.port, '127.0.0.1', () => client.end('one\ntwo\n'));
          client.resume();
        }
        if (n.type === 'connectionLost') shutdown.next(); // done: stop the server
      },
      complete: resolve,
    });
  });
  await stopped;

  diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.connectionOpened, onOpened);
  diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.connectionClosed, onClosed);
  expect(log).toEqual(['server 1 opened from TcpAddress', '1 done: 8 B in, 8 B out, 2 lines']);
});

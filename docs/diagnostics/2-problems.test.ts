import diagnosticsChannel from 'node:diagnostics_channel';
import { connect, type Socket } from 'node:net';
import { Subject } from 'rxjs';
import {
  DIAGNOSTICS_CHANNELS,
  echo,
  lines,
  serve,
  type ConnectionRefusedMessage,
  type FrameErrorMessage,
} from 'rxnet';

it('counts refusals by reason and frame errors by code', async () => {
  const problems = new Map<string, number>();
  const count = (key: string): void => {
    problems.set(key, (problems.get(key) ?? 0) + 1);
  };
  function onRefused(message: unknown): void {
    count(`refused: ${(message as ConnectionRefusedMessage).reason}`);
  }
  function onFrameError(message: unknown): void {
    count(`frame error: ${(message as FrameErrorMessage).error.code}`);
  }
  diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.refused, onRefused);
  diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.frameError, onFrameError);

  // One connection at a time, lines of at most 8 bytes.
  const shutdown = new Subject<void>();
  const framing = lines({ delimiter: '\n', encoding: 'utf8', maxLineBytes: 8 });
  const options = { framing, shutdown, maxConnections: 1, whenFull: 'refuse' as const };
  const stopped = new Promise<void>((resolve) => {
    let first: Socket;
    serve('tcp:0:interface=127.0.0.1', (events) => events.pipe(echo()), options).subscribe({
      next: (n) => {
        if (n.type === 'listening' && n.address._tag === 'TcpAddress') {
          const port = n.address.port;
          first = connect(port, '127.0.0.1', () =>
            connect(port, '127.0.0.1').on('error', () => {}),
          );
          first.on('error', () => {});
        }
        if (n.type === 'connectionRefused') first.write('a line far too long\n');
        if (n.type === 'connectionLost') shutdown.next(); // done: stop the server
      },
      complete: resolve,
    });
  });
  await stopped;

  diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.refused, onRefused);
  diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.frameError, onFrameError);
  expect(Object.fromEntries(problems)).toEqual({
    'refused: maxConnections': 1,
    'frame error: RXNET_ERR_FRAME_TOO_LONG': 1,
  });
});

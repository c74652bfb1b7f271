import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { lastValueFrom, Subject } from 'rxjs';
import { connectAsync, lines, protocol, requester, respond, runProtocol, serve } from 'rxnet';
import { instrumentOpenTelemetry } from 'rxnet/otel';

it('traces a connection and a request at each end', async () => {
  // In production: the SDK you register, with an exporter to your collector.
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const instrumentation = instrumentOpenTelemetry({ tracerProvider });

  // An upper-casing server, and a client that asks it one thing and hangs up.
  const framing = lines({ delimiter: '\n', encoding: 'utf8' });
  const shutdown = new Subject<void>();
  const server$ = serve(
    'tcp:0:interface=127.0.0.1',
    (events) =>
      events.pipe(protocol((conn) => conn.frames$.pipe(respond((line) => line.toUpperCase())))),
    { framing, shutdown },
  );
  let listening: (port: number) => void;
  const port = new Promise<number>((resolve) => (listening = resolve));
  const stopped = new Promise<void>((resolve) =>
    server$.subscribe({
      next: (n) => {
        if (n.type === 'listening' && n.address._tag === 'TcpAddress') listening(n.address.port);
      },
      complete: resolve,
    }),
  );
  const connection = await connectAsync(`tcp:127.0.0.1:${await port}`);
  const rpc = requester<string, string>();
  const client = runProtocol(connection, rpc.protocol, {
    decode: framing,
    encode: (line: string) => `${line}\n`,
  });
  const clientDone = lastValueFrom(client, { defaultValue: undefined });
  expect(await rpc.requestAsync('hello')).toBe('HELLO');
  rpc.close();
  await clientDone;
  shutdown.next(); // a graceful shutdown: the server completes once its connections have closed
  await stopped;
  instrumentation.stop();
  const spans = exporter.getFinishedSpans().map((span) => [span.name, span.attributes]);
  expect(spans).toEqual(
    expect.arrayContaining([
      ['rxnet.request', expect.objectContaining({ 'rxnet.request.side': 'requester' })],
      ['rxnet.request', expect.objectContaining({ 'rxnet.request.side': 'responder' })],
      [
        'rxnet.connection',
        expect.objectContaining({
          'rxnet.connection.role': 'client',
          'rxnet.connection.close_reason': 'done',
        }),
      ],
      [
        'rxnet.connection',
        expect.objectContaining({
          'rxnet.connection.role': 'server',
          'network.peer.address': '127.0.0.1',
          'rxnet.connection.bytes_read': 'hello\n'.length,
        }),
      ],
    ]),
  );
});

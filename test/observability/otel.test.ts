import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type ContextManager,
} from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { lastValueFrom, map, NEVER, type Observable, type Subscription, timer } from 'rxjs';
import {
  connectAsync,
  lines,
  protocol,
  RequestTimeoutError,
  requester,
  respond,
  runProtocol,
  serve,
  type Behaviour,
  type Connection,
  type ConnectionId,
  type ServeOptions,
} from 'rxnet';
import { instrumentOpenTelemetry, type OpenTelemetryInstrumentation } from 'rxnet/otel';
import { LOOPBACK, rawClient, rawUnixClient } from '../helpers/sockets';

/** A processor that lets a test await spans as they end (the exporter keeps them too). */
class EndedSpans implements SpanProcessor {
  private readonly waiters: { test: () => boolean; resolve: () => void }[] = [];
  constructor(private readonly exporter: InMemorySpanExporter) {}
  onStart(): void {}
  onEnd(): void {
    // SimpleSpanProcessor, registered first, has exported the span already.
    for (const waiter of [...this.waiters]) {
      if (waiter.test()) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }
  /** Resolves with the finished spans once `count` of them match. */
  async until(
    count: number,
    match: (span: ReadableSpan) => boolean = () => true,
  ): Promise<ReadableSpan[]> {
    const matching = (): ReadableSpan[] => this.exporter.getFinishedSpans().filter(match);
    if (matching().length < count) {
      await new Promise<void>((resolve) =>
        this.waiters.push({ test: () => matching().length >= count, resolve }),
      );
    }
    return matching();
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A context manager for synchronous code, enough to see which context a span starts under. */
class StackContextManager implements ContextManager {
  private current: Context = ROOT_CONTEXT;
  active(): Context {
    return this.current;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const outer = this.current;
    this.current = ctx;
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.current = outer;
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.current = ROOT_CONTEXT;
    return this;
  }
}

const LINES = lines({ delimiter: '\n', encoding: 'utf8' });
const encodeLine = (line: string): string => `${line}\n`;

/** Answers `x` with `X` a tick later; `never` never (the respond timeout answers it). */
function upperCase(line: string): Observable<string> {
  if (line === 'never') return NEVER;
  return timer(1).pipe(map(() => line.toUpperCase()));
}

interface Server {
  readonly port: number;
  /** The ids of the connections the server's protocol ran on, in order. */
  readonly served: ConnectionId[];
}

let exporter: InMemorySpanExporter;
let spans: EndedSpans;
let provider: BasicTracerProvider;
let instrumentation: OpenTelemetryInstrumentation | undefined;
const subscriptions: Subscription[] = [];
const connections: Connection[] = [];

beforeEach(() => {
  exporter = new InMemorySpanExporter();
  spans = new EndedSpans(exporter);
  provider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter), spans],
  });
});

afterEach(async () => {
  instrumentation?.stop();
  instrumentation = undefined;
  for (const connection of connections.splice(0)) connection.abort();
  for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
  await provider.shutdown();
});

/** Serves `respond(upperCase)` over lines on loopback. */
async function startServer(
  options: ServeOptions<string, string> = {},
  timeout = 2000,
): Promise<Server> {
  const served: ConnectionId[] = [];
  const behaviour: Behaviour<string, string> = (events) =>
    events.pipe(
      protocol((conn) => {
        served.push(conn.id);
        return conn.frames$.pipe(respond(upperCase, { timeout, onError: () => 'timed out' }));
      }),
    );
  const port = await new Promise<number>((resolve, reject) => {
    subscriptions.push(
      serve(LOOPBACK, behaviour, { framing: LINES, ...options }).subscribe({
        next(notification) {
          if (notification.type === 'listening' && notification.address._tag === 'TcpAddress')
            resolve(notification.address.port);
        },
        error: reject,
      }),
    );
  });
  return { port, served };
}

/** Connects to `port` and runs a requester on the connection. */
async function startClient(port: number, timeout = 5000) {
  const connection = await connectAsync(`tcp:127.0.0.1:${port}`);
  connections.push(connection);
  const rpc = requester<string, string>({ timeout });
  const run = lastValueFrom(
    runProtocol(connection, rpc.protocol, { decode: LINES, encode: encodeLine }),
    { defaultValue: 'closed' },
  );
  return { connection, rpc, run };
}

const named =
  (name: string, kind?: SpanKind) =>
  (span: ReadableSpan): boolean =>
    span.name === name && (kind === undefined || span.kind === kind);

const portOf = (connection: Connection): number =>
  connection.local._tag === 'TcpAddress' ? connection.local.port : -1;

describe('instrumentOpenTelemetry', () => {
  it('makes a span for each end of a connection, from opened to closed, with its peer, id and bytes', async () => {
    instrumentation = instrumentOpenTelemetry({ tracerProvider: provider });
    const server = await startServer();
    const { connection, rpc, run } = await startClient(server.port);
    await expect(rpc.requestAsync('hi')).resolves.toBe('HI');
    rpc.close();
    await run;

    const [serverSpan] = await spans.until(1, named('rxnet.connection', SpanKind.SERVER));
    const [clientSpan] = await spans.until(1, named('rxnet.connection', SpanKind.CLIENT));
    expect(serverSpan!.ended).toBe(true);
    expect(serverSpan!.attributes).toEqual({
      'network.transport': 'tcp',
      'network.peer.address': '127.0.0.1',
      'network.peer.port': portOf(connection),
      'network.local.address': '127.0.0.1',
      'network.local.port': server.port,
      'rxnet.connection.id': server.served[0],
      'rxnet.connection.role': 'server',
      'rxnet.connection.tls': false,
      'rxnet.connection.close_reason': 'done',
      'rxnet.connection.bytes_read': 'hi\n'.length,
      'rxnet.connection.bytes_written': 'HI\n'.length,
      'rxnet.connection.frames_in': 1,
      'rxnet.connection.frames_out': 1,
    });
    expect(serverSpan!.status.code).toBe(SpanStatusCode.UNSET);
    expect(clientSpan!.attributes).toMatchObject({
      'network.peer.address': '127.0.0.1',
      'network.peer.port': server.port,
      'rxnet.connection.id': connection.id,
      'rxnet.connection.role': 'client',
      'rxnet.connection.close_reason': 'done',
      'rxnet.connection.bytes_read': 'HI\n'.length,
      'rxnet.connection.bytes_written': 'hi\n'.length,
    });
  });

  it('makes a client span for a request and a server span for its handling, under the active context', async () => {
    const contextManager = new StackContextManager();
    context.setGlobalContextManager(contextManager);
    try {
      instrumentation = instrumentOpenTelemetry({ tracerProvider: provider });
      const server = await startServer();
      const { connection, rpc, run } = await startClient(server.port);
      const parent = provider.getTracer('test').startSpan('parent');
      const reply = context.with(trace.setSpan(context.active(), parent), () =>
        rpc.requestAsync('hello'),
      );
      await expect(reply).resolves.toBe('HELLO');
      parent.end();
      rpc.close();
      await run;

      const [client] = await spans.until(1, named('rxnet.request', SpanKind.CLIENT));
      const [handled] = await spans.until(1, named('rxnet.request', SpanKind.SERVER));
      expect(client!.attributes).toEqual({
        'rxnet.request.side': 'requester',
        'rxnet.connection.id': connection.id,
        'rxnet.request.outcome': 'ok',
      });
      expect(client!.status.code).toBe(SpanStatusCode.UNSET);
      expect(client!.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(handled!.attributes).toEqual({
        'rxnet.request.side': 'responder',
        'rxnet.connection.id': server.served[0],
        'rxnet.request.outcome': 'ok',
      });
    } finally {
      context.disable();
    }
  });

  it('marks a request that times out as an error, on both sides', async () => {
    instrumentation = instrumentOpenTelemetry({ tracerProvider: provider });
    const server = await startServer({}, 200);
    const { rpc, run } = await startClient(server.port, 50);
    await expect(rpc.requestAsync('never')).rejects.toBeInstanceOf(RequestTimeoutError);
    const [client] = await spans.until(1, named('rxnet.request', SpanKind.CLIENT));
    expect(client!.attributes).toMatchObject({ 'rxnet.request.outcome': 'timeout' });
    expect(client!.status).toEqual({
      code: SpanStatusCode.ERROR,
      message: 'Request timed out after 50 ms',
    });
    expect(client!.events.map((event) => event.name)).toEqual(['exception']);

    // The server's own timeout (200 ms) answers it; the client has dropped it.
    const [handled] = await spans.until(1, named('rxnet.request', SpanKind.SERVER));
    expect(handled!.attributes).toMatchObject({ 'rxnet.request.outcome': 'timeout' });
    expect(handled!.status.code).toBe(SpanStatusCode.ERROR);
    rpc.close();
    await run;
  });

  it('marks a connection lost to a reset as an error, and a frame error as an event of an aborted one', async () => {
    instrumentation = instrumentOpenTelemetry({ tracerProvider: provider });
    const server = await startServer({
      framing: lines({ delimiter: '\n', encoding: 'utf8', maxLineBytes: 8 }),
    });

    const reset = await rawClient(server.port);
    reset.write('hi\n');
    await once(reset, 'data');
    reset.resetAndDestroy();
    const [lost] = await spans.until(1, named('rxnet.connection', SpanKind.SERVER));
    expect(lost!.attributes['rxnet.connection.close_reason']).toBe('lost');
    expect(lost!.status.code).toBe(SpanStatusCode.ERROR);
    expect(lost!.events.map((event) => event.name)).toEqual(['exception']);

    const talker = await rawClient(server.port);
    talker.on('error', () => undefined);
    talker.write('far too long a line\n');
    const spansNow = await spans.until(2, named('rxnet.connection', SpanKind.SERVER));
    const aborted = spansNow[1]!;
    expect(aborted.attributes['rxnet.connection.close_reason']).toBe('aborted');
    expect(aborted.status.code).toBe(SpanStatusCode.ERROR);
    expect(aborted.events.map((event) => [event.name, event.attributes?.['error.type']])).toEqual([
      ['rxnet.frame_error', 'RXNET_ERR_FRAME_TOO_LONG'],
      ['exception', undefined],
    ]);
    talker.destroy();
  });

  it('leaves the status of a connection aborted without a reason, or timed out, unset', async () => {
    instrumentation = instrumentOpenTelemetry({ tracerProvider: provider });
    const server = await startServer({ idleTimeout: 50 });
    const aborted = await connectAsync(`tcp:127.0.0.1:${server.port}`);
    aborted.abort();
    const [client] = await spans.until(1, named('rxnet.connection', SpanKind.CLIENT));
    expect(client!.attributes['rxnet.connection.close_reason']).toBe('aborted');
    expect(client!.status.code).toBe(SpanStatusCode.UNSET);

    const idle = await startClient(server.port);
    const timedOut = await spans.until(1, (span) => {
      return span.attributes['rxnet.connection.close_reason'] === 'timedOut';
    });
    expect(timedOut[0]!.kind).toBe(SpanKind.SERVER);
    expect(timedOut[0]!.status.code).toBe(SpanStatusCode.UNSET);
    await idle.run;
  });

  it('names a Unix socket by its path, with transport unix', async () => {
    instrumentation = instrumentOpenTelemetry({ tracerProvider: provider });
    const path = join(mkdtempSync(join(tmpdir(), 'rxnet-otel-')), 'server.sock');
    const behaviour: Behaviour = (events) => events;
    await new Promise<void>((resolve, reject) => {
      subscriptions.push(
        serve(`unix:${path}`, behaviour).subscribe({
          next: (n) => n.type === 'listening' && resolve(),
          error: reject,
        }),
      );
    });
    const socket = await rawUnixClient(path);
    socket.end();
    const [span] = await spans.until(1, named('rxnet.connection', SpanKind.SERVER));
    expect(span!.attributes).toMatchObject({
      'network.transport': 'unix',
      'network.local.address': path,
    });
    expect(span!.attributes['network.peer.port']).toBeUndefined();
  });

  it('stops making spans at stop(), ending those still open', async () => {
    instrumentation = instrumentOpenTelemetry({ tracerProvider: provider });
    const server = await startServer();
    const { rpc, run } = await startClient(server.port);
    await rpc.requestAsync('one');
    instrumentation.stop();
    const open = exporter.getFinishedSpans().filter(named('rxnet.connection'));
    expect(open.map((span) => span.attributes['rxnet.instrumentation.stopped'])).toEqual([
      true,
      true,
    ]);
    await rpc.requestAsync('two');
    rpc.close();
    await run;
    const second = await startClient(server.port);
    await second.rpc.requestAsync('three');
    second.rpc.close();
    await second.run;
    // Only the first request's spans, and the two connection spans that stop() ended.
    expect(exporter.getFinishedSpans()).toHaveLength(4);
  });

  it('makes its spans through the global provider when given none: none before an SDK registers one', async () => {
    instrumentation = instrumentOpenTelemetry();
    const server = await startServer();
    try {
      const before = await startClient(server.port);
      await before.rpc.requestAsync('unseen');
      expect(exporter.getFinishedSpans()).toEqual([]);
      trace.setGlobalTracerProvider(provider);
      await before.rpc.requestAsync('seen');
      expect((await spans.until(2, named('rxnet.request'))).map((span) => span.attributes)).toEqual(
        [
          expect.objectContaining({ 'rxnet.request.side': 'responder' }),
          expect.objectContaining({ 'rxnet.request.side': 'requester' }),
        ],
      );
      before.rpc.close();
      await before.run;
    } finally {
      trace.disable();
    }
  });
});

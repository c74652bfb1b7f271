/**
 * OpenTelemetry spans for rxnet's connections and requests, made from its `diagnostics_channel`
 * events: the `rxnet/otel` entry. `@opentelemetry/api` is an optional peer dependency of rxnet,
 * loaded by this entry alone; `import 'rxnet'` never loads it.
 *
 * @packageDocumentation
 * @module rxnet/otel
 */
import {
  context,
  type Attributes,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Address, CloseReason, Connection } from '../types';
import {
  DIAGNOSTICS_CHANNELS,
  type ConnectionClosedMessage,
  type ConnectionOpenedMessage,
  type FrameErrorMessage,
  type RequestMessage,
} from './diagnostics';

/** The instrumentation scope name the spans are reported under. */
export const OTEL_TRACER_NAME = 'rxnet';

/** Options of {@link instrumentOpenTelemetry}. */
export interface OpenTelemetryOptions {
  /**
   * Where the tracer comes from, when `tracer` is not given.
   * @defaultValue the global provider (`trace.getTracerProvider()`), a no-op until an SDK registers one
   */
  readonly tracerProvider?: TracerProvider;
  /** The tracer to make the spans with; overrides `tracerProvider`. */
  readonly tracer?: Tracer;
}

/** What {@link instrumentOpenTelemetry} returns. */
export interface OpenTelemetryInstrumentation {
  /**
   * Unsubscribes from the channels and ends every span still open, marked
   * `rxnet.instrumentation.stopped`, so that none is left unexported. Calling it again does nothing.
   */
  stop(): void;
}

/**
 * Makes OpenTelemetry spans for rxnet's connections and request/response exchanges, from the
 * `rxnet:*` diagnostics channels (see docs/diagnostics.md).
 *
 * - **A span per connection** (`rxnet.connection`, kind `SERVER` for a connection a server
 *   accepted, `CLIENT` for one `connect` made), from opened to closed. Attributes:
 *   `network.transport`, `network.peer.address`, `network.peer.port`, `network.local.address`,
 *   `network.local.port`, `rxnet.connection.id`, `rxnet.connection.role`, `rxnet.connection.tls`;
 *   at the close `rxnet.connection.close_reason` (`done`, `lost`, `aborted`, `timedOut`),
 *   `rxnet.connection.bytes_read`, `rxnet.connection.bytes_written`,
 *   `rxnet.connection.frames_in` and `rxnet.connection.frames_out`. A connection `lost`, or
 *   `aborted` with an error, ends with status `ERROR` and the error recorded as an exception; a
 *   decoder's error is an `rxnet.frame_error` event on it.
 * - **A span per request** (`rxnet.request`): kind `CLIENT` for `requester()`, `SERVER` for
 *   `respond()`, a child of the context active where the request started. Attributes:
 *   `rxnet.request.side`, `rxnet.connection.id` (when known) and `rxnet.request.outcome` (`ok`,
 *   `error`, `timeout`, `cancelled`); `error` and `timeout` end with status `ERROR`.
 *
 * Connection ids are per server, so a span carries its id as an attribute, never as a key.
 * Without a registered SDK (and no `tracer` or `tracerProvider`), `@opentelemetry/api` makes
 * no-op spans; without any subscriber the channels cost rxnet nothing, and without this entry
 * rxnet never loads `@opentelemetry/api`. Only connections opened after this call get a span.
 *
 * ## Example
 * ```ts
 * import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
 * import { instrumentOpenTelemetry } from 'rxnet/otel';
 *
 * const tracerProvider = new BasicTracerProvider({
 *   spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())],
 * });
 * const instrumentation = instrumentOpenTelemetry({ tracerProvider });
 * // … serve and connect as usual; at exit:
 * instrumentation.stop();
 * ```
 *
 * @param options The tracer, or the provider to get one from.
 * @returns A handle whose `stop()` ends the instrumentation.
 */
export function instrumentOpenTelemetry(
  options: OpenTelemetryOptions = {},
): OpenTelemetryInstrumentation {
  const tracer =
    options.tracer ??
    (options.tracerProvider ?? trace.getTracerProvider()).getTracer(OTEL_TRACER_NAME);
  // Maps, not WeakMaps: stop() ends what is still open.
  const connections = new Map<Connection, Span>();
  // A frame error names its connection by id (per server) and by its `remote` object.
  const byRemote = new WeakMap<Address, Span>();
  const requests = new Map<RequestMessage, Span>();

  const onOpened = (message: unknown): void => {
    const opened = message as ConnectionOpenedMessage;
    const span = tracer.startSpan(
      'rxnet.connection',
      {
        kind: opened.role === 'server' ? SpanKind.SERVER : SpanKind.CLIENT,
        attributes: {
          ...addressAttributes('network.peer', opened.remote),
          ...addressAttributes('network.local', opened.local),
          'network.transport': transportOf(opened.remote),
          'rxnet.connection.id': opened.id,
          'rxnet.connection.role': opened.role,
          'rxnet.connection.tls': opened.tls,
        },
      },
      context.active(),
    );
    connections.set(opened.connection, span);
    byRemote.set(opened.connection.remote, span);
  };

  const onClosed = (message: unknown): void => {
    const closed = message as ConnectionClosedMessage;
    const span = connections.get(closed.connection);
    if (span === undefined) return;
    connections.delete(closed.connection);
    span.setAttributes({
      'rxnet.connection.close_reason': closed.reason.type,
      'rxnet.connection.bytes_read': closed.bytesRead,
      'rxnet.connection.bytes_written': closed.bytesWritten,
      'rxnet.connection.frames_in': closed.framesIn,
      'rxnet.connection.frames_out': closed.framesOut,
    });
    const error = failureOf(closed.reason);
    if (error !== undefined) fail(span, error);
    span.end();
  };

  const onFrameError = (message: unknown): void => {
    const { remote, error } = message as FrameErrorMessage;
    byRemote.get(remote)?.addEvent('rxnet.frame_error', {
      'error.type': error.code,
      'exception.message': error.message,
    });
  };

  const onRequestStart = (message: unknown): void => {
    const request = message as RequestMessage;
    const attributes: Attributes = { 'rxnet.request.side': request.side };
    if (request.connection !== undefined) attributes['rxnet.connection.id'] = request.connection;
    const span = tracer.startSpan(
      'rxnet.request',
      { kind: request.side === 'requester' ? SpanKind.CLIENT : SpanKind.SERVER, attributes },
      context.active(),
    );
    requests.set(request, span);
  };

  const onRequestEnd = (message: unknown): void => {
    const request = message as RequestMessage;
    const span = requests.get(request);
    if (span === undefined) return;
    requests.delete(request);
    // A request queued before its connection was known learns it when sent.
    if (request.connection !== undefined)
      span.setAttribute('rxnet.connection.id', request.connection);
    if (request.outcome !== undefined) span.setAttribute('rxnet.request.outcome', request.outcome);
    if (request.outcome === 'error' || request.outcome === 'timeout') fail(span, request.error);
    span.end();
  };

  const subscriptions: [string, (message: unknown) => void][] = [
    [DIAGNOSTICS_CHANNELS.connectionOpened, onOpened],
    [DIAGNOSTICS_CHANNELS.connectionClosed, onClosed],
    [DIAGNOSTICS_CHANNELS.frameError, onFrameError],
    [DIAGNOSTICS_CHANNELS.requestStart, onRequestStart],
    [DIAGNOSTICS_CHANNELS.requestEnd, onRequestEnd],
  ];
  for (const [name, listener] of subscriptions) diagnosticsChannel.subscribe(name, listener);

  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      for (const [name, listener] of subscriptions) diagnosticsChannel.unsubscribe(name, listener);
      for (const span of [...connections.values(), ...requests.values()]) {
        span.setAttribute('rxnet.instrumentation.stopped', true);
        span.end();
      }
      connections.clear();
      requests.clear();
    },
  };
}

/** `network.peer.address` and `.port` (or the local ones) for an address that has them. */
function addressAttributes(prefix: string, address: Address): Attributes {
  switch (address._tag) {
    case 'TcpAddress':
      return { [`${prefix}.address`]: address.hostname, [`${prefix}.port`]: address.port };
    case 'UnixAddress':
      return address.path === '' ? {} : { [`${prefix}.address`]: address.path };
    case 'MemoryAddress':
      return { [`${prefix}.address`]: address.name };
  }
}

/** OpenTelemetry's `network.transport` for an address. */
function transportOf(address: Address): string {
  switch (address._tag) {
    case 'TcpAddress':
      return 'tcp';
    case 'UnixAddress':
      return 'unix';
    case 'MemoryAddress':
      return 'inproc';
  }
}

/** The error a close reason counts as a failure for: a loss, or an abort for a reason. */
function failureOf(reason: CloseReason): Error | undefined {
  if (reason.type === 'lost') return reason.error;
  if (reason.type === 'aborted') return reason.error;
  return undefined;
}

/** Marks a span failed, recording the error as an exception when it is one. */
function fail(span: Span, error: unknown): void {
  if (error instanceof Error) {
    span.recordException(error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
  } else {
    span.setStatus({ code: SpanStatusCode.ERROR, message: String(error) });
  }
}

/**
 * `rxnet/metrics`: rxnet's figures as Prometheus metrics, on `prom-client` (an optional peer
 * dependency of rxnet): `npm install prom-client`. Only this entry loads it; `import 'rxnet'`
 * never does.
 *
 * @packageDocumentation
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { Counter, Gauge, Histogram, register as globalRegistry, type Registry } from 'prom-client';
import {
  DIAGNOSTICS_CHANNELS,
  type ConnectionClosedMessage,
  type ConnectionOpenedMessage,
  type ConnectionRefusedMessage,
  type ConnectionTraffic,
  type DiagnosticsRole,
  type FrameErrorMessage,
} from './diagnostics';
import type { Connection } from '../types';

/**
 * The connection-lifetime histogram's buckets, in seconds: from 10 ms (a refused or failed
 * exchange) to a day (a long-lived session), as connections live far longer than the requests
 * prom-client's default buckets (5 ms to 10 s) are made for.
 */
export const DEFAULT_LIFETIME_BUCKETS: readonly number[] = [
  0.01, 0.1, 1, 10, 60, 300, 1800, 3600, 21600, 86400,
];

/** Options of {@link rxnetMetrics}. */
export interface RxnetMetricsOptions {
  /** Where the metrics are registered. @defaultValue prom-client's global `register` */
  readonly register?: Registry;
  /** Put before every metric's name. @defaultValue `'rxnet_'` */
  readonly prefix?: string;
  /** The lifetime histogram's buckets, in seconds. @defaultValue {@link DEFAULT_LIFETIME_BUCKETS} */
  readonly lifetimeBuckets?: readonly number[];
}

/** A running exporter: its metrics stay registered until {@link RxnetMetrics.stop}. */
export interface RxnetMetrics {
  /** The registry the metrics are in: serve `await registry.metrics()` at `/metrics`. */
  readonly registry: Registry;
  /** Unsubscribes from rxnet's channels and removes the metrics from the registry. */
  stop(): void;
}

/** The figures of one open connection already added to the counters. */
class Reported {
  bytesRead = 0;
  bytesWritten = 0;
  framesIn = 0;
  framesOut = 0;
  backpressurePauses = 0;

  constructor(
    readonly role: DiagnosticsRole,
    readonly traffic: ConnectionTraffic,
  ) {}
}

/** The traffic figures kept as counters, each with its metric's name and help. */
const TRAFFIC = [
  ['bytesRead', 'bytes_received_total', 'Bytes read from connections’ sockets.'],
  ['bytesWritten', 'bytes_sent_total', 'Bytes written to connections’ sockets.'],
  ['framesIn', 'frames_received_total', 'Messages decoded and delivered to server behaviours.'],
  ['framesOut', 'frames_sent_total', 'Write commands carried out, per receiving connection.'],
  [
    'backpressurePauses',
    'backpressure_pauses_total',
    'Times reading a connection paused for backpressure.',
  ],
] as const;

/**
 * Exports rxnet's connections as Prometheus metrics, by subscribing to its `diagnostics_channel`
 * events (see docs/diagnostics.md): the servers and clients of the whole process, told apart by
 * a `role` label (`server` or `client`). Start it before the servers; a connection opened before
 * it is not counted.
 *
 * | metric (after the prefix)            | type      | labels         |
 * | ------------------------------------ | --------- | -------------- |
 * | `connections_open`                   | gauge     | `role`         |
 * | `connections_accepted_total`         | counter   |                |
 * | `connections_refused_total`          | counter   | `reason`       |
 * | `connections_closed_total`           | counter   | `role, reason` |
 * | `bytes_received_total`, `bytes_sent_total`   | counter | `role`   |
 * | `frames_received_total`, `frames_sent_total` | counter | `role`   |
 * | `decode_errors_total`                | counter   | `code`         |
 * | `pending_write_bytes`                | gauge     | `role`         |
 * | `backpressure_pauses_total`          | counter   | `role`         |
 * | `connection_lifetime_seconds`        | histogram | `role`         |
 *
 * The byte, frame and pause counters and the pending-bytes gauge are read from the open
 * connections at each scrape, so a long-lived connection's traffic shows as it happens rather
 * than at its close; nothing is counted per chunk. `reason` of a close is its `CloseReason`'s
 * type (`done`, `lost`, `aborted`, `timedOut`); of a refusal, the limit or step that refused it.
 *
 * ## Example
 * ```ts
 * import { createServer } from 'node:http';
 * import { serve, echo } from 'rxnet';
 * import { rxnetMetrics } from 'rxnet/metrics';
 *
 * const { registry } = rxnetMetrics();
 * createServer(async (request, response) => {
 *   response.setHeader('Content-Type', registry.contentType);
 *   response.end(await registry.metrics());
 * }).listen(9464);
 * serve('tcp:8007', (events) => events.pipe(echo())).subscribe();
 * ```
 *
 * @param options The registry, the names' prefix and the lifetime buckets.
 * @returns The running exporter; `stop()` ends it.
 * @throws Error from prom-client when the registry already holds a metric of the same name (a
 * second exporter with the same prefix).
 */
export function rxnetMetrics(options: RxnetMetricsOptions = {}): RxnetMetrics {
  const registry = options.register ?? globalRegistry;
  const prefix = options.prefix ?? 'rxnet_';
  const registers = [registry];
  const open = new Map<Connection, Reported>();
  const names: string[] = [];
  const name = (suffix: string): string => {
    names.push(prefix + suffix);
    return prefix + suffix;
  };

  const openGauge = new Gauge({
    name: name('connections_open'),
    help: 'Connections open now.',
    labelNames: ['role'],
    registers,
  });
  const accepted = new Counter({
    name: name('connections_accepted_total'),
    help: 'Connections servers accepted and made (after their PROXY header and TLS handshake).',
    registers,
  });
  const refused = new Counter({
    name: name('connections_refused_total'),
    help: 'Peers servers turned away before a connection was made, by the limit or step.',
    labelNames: ['reason'],
    registers,
  });
  const closed = new Counter({
    name: name('connections_closed_total'),
    help: 'Connections closed, by the type of their close reason.',
    labelNames: ['role', 'reason'],
    registers,
  });
  const decodeErrors = new Counter({
    name: name('decode_errors_total'),
    help: "Connections whose input a server's decoder refused, by the error's code.",
    labelNames: ['code'],
    registers,
  });
  const lifetime = new Histogram({
    name: name('connection_lifetime_seconds'),
    help: 'How long connections stayed open.',
    labelNames: ['role'],
    buckets: [...(options.lifetimeBuckets ?? DEFAULT_LIFETIME_BUCKETS)],
    registers,
  });
  const traffic = TRAFFIC.map(
    ([field, suffix, help]) =>
      [
        field,
        new Counter({
          name: name(suffix),
          help,
          labelNames: ['role'],
          registers,
          collect() {
            for (const reported of open.values()) report(this, reported, field, undefined);
          },
        }),
      ] as const,
  );
  new Gauge({
    name: name('pending_write_bytes'),
    help: 'Output accepted by open connections and not yet handed to the kernel.',
    labelNames: ['role'],
    registers,
    collect() {
      let server = 0;
      let client = 0;
      for (const { role, traffic: now } of open.values()) {
        if (role === 'server') server += now.pendingWriteBytes;
        else client += now.pendingWriteBytes;
      }
      this.set({ role: 'server' }, server);
      this.set({ role: 'client' }, client);
    },
  });

  // Both roles from the start, so a scrape before the first connection reads 0, not nothing.
  for (const role of ['server', 'client'] as const) {
    openGauge.set({ role }, 0);
    for (const [, counter] of traffic) counter.inc({ role }, 0);
  }

  function onOpened(message: unknown): void {
    const { connection, role, traffic: now } = message as ConnectionOpenedMessage;
    open.set(connection, new Reported(role, now));
    openGauge.inc({ role });
    if (role === 'server') accepted.inc();
  }
  function onClosed(message: unknown): void {
    const closedMessage = message as ConnectionClosedMessage;
    const reported = open.get(closedMessage.connection);
    if (reported === undefined) return; // Opened before the exporter started.
    open.delete(closedMessage.connection);
    for (const [field, counter] of traffic) report(counter, reported, field, closedMessage);
    const { role } = reported;
    openGauge.dec({ role });
    closed.inc({ role, reason: closedMessage.reason.type });
    lifetime.observe({ role }, closedMessage.lifetime / 1000);
  }
  function onRefused(message: unknown): void {
    refused.inc({ reason: (message as ConnectionRefusedMessage).reason });
  }
  function onFrameError(message: unknown): void {
    decodeErrors.inc({ code: (message as FrameErrorMessage).error.code });
  }

  const subscriptions = [
    [DIAGNOSTICS_CHANNELS.connectionOpened, onOpened],
    [DIAGNOSTICS_CHANNELS.connectionClosed, onClosed],
    [DIAGNOSTICS_CHANNELS.refused, onRefused],
    [DIAGNOSTICS_CHANNELS.frameError, onFrameError],
  ] as const;
  for (const [channel, listener] of subscriptions) diagnosticsChannel.subscribe(channel, listener);

  return {
    registry,
    stop(): void {
      for (const [channel, listener] of subscriptions) {
        diagnosticsChannel.unsubscribe(channel, listener);
      }
      open.clear();
      for (const metric of names) registry.removeSingleMetric(metric);
    },
  };
}

/** Adds to `counter` what `reported`'s connection did since the last time: now, or at its close. */
function report(
  counter: Counter<string>,
  reported: Reported,
  field: (typeof TRAFFIC)[number][0],
  closed: ConnectionClosedMessage | undefined,
): void {
  const now = (closed ?? reported.traffic)[field];
  const delta = now - reported[field];
  if (delta > 0) {
    counter.inc({ role: reported.role }, delta);
    reported[field] = now;
  }
}

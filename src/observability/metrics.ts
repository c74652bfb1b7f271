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
  type ServerListeningMessage,
} from './diagnostics';
import { describeAddress } from '../internal/describeAddress';
import type { Address, Connection } from '../types';

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

/** The labels of a connection's series: its role, and the server it belongs to (`''` for a client). */
type ConnectionLabels = {
  readonly role: DiagnosticsRole;
  readonly server: string;
};

/** The figures of one open connection already added to the counters. */
class Reported {
  bytesRead = 0;
  bytesWritten = 0;
  framesIn = 0;
  framesOut = 0;
  backpressurePauses = 0;

  constructor(
    readonly labels: ConnectionLabels,
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
 * events (see docs/diagnostics.md): every server and client of the process, told apart by the
 * labels `role` (`server` or `client`) and `server` (where the server listens, `HOST:PORT` or a
 * Unix socket's path; `''` for a client's connections). Start it before the servers; a connection
 * opened before it is not counted.
 *
 * | metric (after the prefix)                    | type      | labels                   |
 * | -------------------------------------------- | --------- | ------------------------ |
 * | `connections_open`                           | gauge     | `role, server`           |
 * | `connections_accepted_total`                 | counter   | `server`                 |
 * | `connections_refused_total`                  | counter   | `server, reason`         |
 * | `connections_closed_total`                   | counter   | `role, server, reason`   |
 * | `bytes_received_total`, `bytes_sent_total`   | counter   | `role, server`           |
 * | `frames_received_total`, `frames_sent_total` | counter   | `role, server`           |
 * | `decode_errors_total`                        | counter   | `server, code`           |
 * | `pending_write_bytes`                        | gauge     | `role, server`           |
 * | `backpressure_pauses_total`                  | counter   | `role, server`           |
 * | `connection_lifetime_seconds`                | histogram | `role, server`           |
 *
 * The byte, frame and pause counters and the pending-bytes gauge are read from the open
 * connections at each scrape, so a long-lived connection's traffic shows as it happens rather
 * than at its close; nothing is counted per chunk. `reason` of a close is its `CloseReason`'s
 * type (`done`, `lost`, `aborted`, `timedOut`); of a refusal, the limit or step that refused it.
 * A server's series exist from its bind (`rxnet:server:listening`), reading 0.
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
  /** Every role and server seen, by `role server`: their series read 0 rather than vanish. */
  const known = new Map<string, ConnectionLabels>();
  const names: string[] = [];
  const name = (suffix: string): string => {
    names.push(prefix + suffix);
    return prefix + suffix;
  };

  const openGauge = new Gauge({
    name: name('connections_open'),
    help: 'Connections open now.',
    labelNames: ['role', 'server'],
    registers,
  });
  const accepted = new Counter({
    name: name('connections_accepted_total'),
    help: 'Connections servers accepted and made (after their PROXY header and TLS handshake).',
    labelNames: ['server'],
    registers,
  });
  const refused = new Counter({
    name: name('connections_refused_total'),
    help: 'Peers servers turned away before a connection was made, by the limit or step.',
    labelNames: ['server', 'reason'],
    registers,
  });
  const closed = new Counter({
    name: name('connections_closed_total'),
    help: 'Connections closed, by the type of their close reason.',
    labelNames: ['role', 'server', 'reason'],
    registers,
  });
  const decodeErrors = new Counter({
    name: name('decode_errors_total'),
    help: "Connections whose input a server's decoder refused, by the error's code.",
    labelNames: ['server', 'code'],
    registers,
  });
  const lifetime = new Histogram({
    name: name('connection_lifetime_seconds'),
    help: 'How long connections stayed open.',
    labelNames: ['role', 'server'],
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
          labelNames: ['role', 'server'],
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
    labelNames: ['role', 'server'],
    registers,
    collect() {
      const sums = new Map<ConnectionLabels, number>();
      for (const labels of known.values()) sums.set(labels, 0);
      for (const { labels, traffic: now } of open.values()) {
        sums.set(labels, (sums.get(labels) ?? 0) + now.pendingWriteBytes);
      }
      for (const [labels, sum] of sums) this.set(labels, sum);
    },
  });

  /** The one labels object of a role and server, its series made to read 0 the first time. */
  function labelsOf(role: DiagnosticsRole, server: Address | undefined): ConnectionLabels {
    const text = serverLabel(server);
    const key = `${role} ${text}`;
    let labels = known.get(key);
    if (labels === undefined) {
      labels = { role, server: text };
      known.set(key, labels);
      openGauge.set(labels, 0);
      for (const [, counter] of traffic) counter.inc(labels, 0);
      if (role === 'server') accepted.inc({ server: text }, 0);
    }
    return labels;
  }
  // Clients from the start, and each server from its bind, so a scrape reads 0, not nothing.
  labelsOf('client', undefined);

  function onListening(message: unknown): void {
    labelsOf('server', (message as ServerListeningMessage).server);
  }
  function onOpened(message: unknown): void {
    const { connection, role, traffic: now, server } = message as ConnectionOpenedMessage;
    const labels = labelsOf(role, server);
    open.set(connection, new Reported(labels, now));
    openGauge.inc(labels);
    if (role === 'server') accepted.inc({ server: labels.server });
  }
  function onClosed(message: unknown): void {
    const closedMessage = message as ConnectionClosedMessage;
    const reported = open.get(closedMessage.connection);
    if (reported === undefined) return; // Opened before the exporter started.
    open.delete(closedMessage.connection);
    for (const [field, counter] of traffic) report(counter, reported, field, closedMessage);
    const { labels } = reported;
    openGauge.dec(labels);
    closed.inc({ ...labels, reason: closedMessage.reason.type });
    lifetime.observe(labels, closedMessage.lifetime / 1000);
  }
  function onRefused(message: unknown): void {
    const { reason, server } = message as ConnectionRefusedMessage;
    refused.inc({ server: serverLabel(server), reason });
  }
  function onFrameError(message: unknown): void {
    const { error, server } = message as FrameErrorMessage;
    decodeErrors.inc({ server: serverLabel(server), code: error.code });
  }

  const subscriptions = [
    [DIAGNOSTICS_CHANNELS.serverListening, onListening],
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

/**
 * A server's `server` label: `HOST:PORT` (`[HOST]:PORT` for IPv6), a Unix socket's path, or a
 * memory address's name; `''` for none (a client's connection).
 */
function serverLabel(address: Address | undefined): string {
  return address === undefined ? '' : describeAddress(address);
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
    counter.inc(reported.labels, delta);
    reported[field] = now;
  }
}

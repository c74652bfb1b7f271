import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { filter, firstValueFrom, type ReplaySubject, type Subscription } from 'rxjs';
import { DEFAULT_LIFETIME_BUCKETS, rxnetMetrics, type RxnetMetrics } from 'rxnet/metrics';
import { DIAGNOSTICS_CHANNELS } from '../../src/observability/diagnostics';
import { lines } from '../../src/framing/lines';
import { connect } from '../../src/net/connect';
import type { ServerNotification } from '../../src/net/serve';
import { echo } from '../../src/operators/echo';
import type { Behaviour } from '../../src/types';
import { LOOPBACK, startListening } from '../helpers/sockets';
import { loopbackServing } from '../helpers/serving';

const subscriptions: Subscription[] = [];
const sockets: Socket[] = [];
let metrics: RxnetMetrics | undefined;

afterEach(() => {
  metrics?.stop();
  metrics = undefined;
  for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
  for (const socket of sockets.splice(0)) socket.destroy();
});

/** One sample of a scrape: a series' name, its labels and its value. */
interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The registry's text output, read the way Prometheus reads it. */
async function scrape(registry: Registry): Promise<Samples> {
  const samples: Sample[] = [];
  for (const line of (await registry.metrics()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line)!;
    const labels: Record<string, string> = {};
    for (const [, label, value] of (match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) {
      labels[label!] = value!;
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return new Samples(samples);
}

class Samples {
  constructor(readonly all: readonly Sample[]) {}

  /** The value of the series with exactly these labels, or `undefined` when there is none. */
  get(name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
    const wanted = JSON.stringify(Object.entries(labels).sort());
    return this.all.find(
      (sample) =>
        sample.name === name && JSON.stringify(Object.entries(sample.labels).sort()) === wanted,
    )?.value;
  }
}

const { startServing, client } = loopbackServing(subscriptions, sockets);

function seen<T>(
  notifications: ReplaySubject<ServerNotification<T>>,
  type: string,
): Promise<unknown> {
  return firstValueFrom(notifications.pipe(filter((notification) => notification.type === type)));
}

const echoLines: Behaviour<string, string> = (events) => events.pipe(echo());

describe('rxnetMetrics', () => {
  it('counts a served connection: open, its bytes and frames while it is open, then its close by reason and its lifetime', async () => {
    const registry = new Registry();
    metrics = rxnetMetrics({ register: registry });
    const { port, notifications } = await startServing(echoLines, {
      framing: lines({ encoding: 'utf8' }),
    });
    const server = `127.0.0.1:${port}`;
    // Its series exist from the bind.
    const before = await scrape(registry);
    expect(before.get('rxnet_connections_open', { role: 'server', server })).toBe(0);
    expect(before.get('rxnet_connections_accepted_total', { server })).toBe(0);
    const socket = await client(port);
    socket.write('hi\r\n');
    await once(socket, 'data');
    const during = await scrape(registry);
    expect(during.get('rxnet_connections_open', { role: 'server', server })).toBe(1);
    expect(during.get('rxnet_connections_accepted_total', { server })).toBe(1);
    expect(during.get('rxnet_bytes_received_total', { role: 'server', server })).toBe(4);
    expect(during.get('rxnet_bytes_sent_total', { role: 'server', server })).toBe(4);
    expect(during.get('rxnet_frames_received_total', { role: 'server', server })).toBe(1);
    expect(during.get('rxnet_frames_sent_total', { role: 'server', server })).toBe(1);
    expect(during.get('rxnet_pending_write_bytes', { role: 'server', server })).toBe(0);

    socket.end('bye\r\n');
    await seen(notifications, 'connectionLost');
    const after = await scrape(registry);
    expect(after.get('rxnet_connections_open', { role: 'server', server })).toBe(0);
    expect(
      after.get('rxnet_connections_closed_total', { role: 'server', reason: 'done', server }),
    ).toBe(1);
    // Counted live and at the close, never twice.
    expect(after.get('rxnet_bytes_received_total', { role: 'server', server })).toBe(9);
    expect(after.get('rxnet_frames_received_total', { role: 'server', server })).toBe(2);
    expect(after.get('rxnet_frames_sent_total', { role: 'server', server })).toBe(2);
    expect(after.get('rxnet_connection_lifetime_seconds_count', { role: 'server', server })).toBe(
      1,
    );
    expect(
      after.get('rxnet_connection_lifetime_seconds_bucket', { le: '+Inf', role: 'server', server }),
    ).toBe(1);
  });

  it('counts refusals by their limit and decode errors by their code', async () => {
    const registry = new Registry();
    metrics = rxnetMetrics({ register: registry });
    const { port, notifications } = await startServing(echoLines, {
      framing: lines({ encoding: 'utf8', maxLineBytes: 4 }),
      maxConnections: 1,
      whenFull: 'refuse',
    });
    const server = `127.0.0.1:${port}`;
    const first = await client(port);
    first.on('error', () => undefined);
    await seen(notifications, 'connectionMade');
    await client(port);
    await seen(notifications, 'connectionRefused');
    first.write('far too long\r\n');
    await seen(notifications, 'connectionLost');
    const samples = await scrape(registry);
    expect(
      samples.get('rxnet_connections_refused_total', { reason: 'maxConnections', server }),
    ).toBe(1);
    expect(
      samples.get('rxnet_decode_errors_total', { code: 'RXNET_ERR_FRAME_TOO_LONG', server }),
    ).toBe(1);
    expect(
      samples.get('rxnet_connections_closed_total', { role: 'server', reason: 'aborted', server }),
    ).toBe(1);
    expect(samples.get('rxnet_connections_accepted_total', { server })).toBe(1);
  });

  it('reads pending write bytes and backpressure pauses from the open connections at each scrape', async () => {
    const registry = new Registry();
    metrics = rxnetMetrics({ register: registry });
    const listener = await startListening(LOOPBACK, { writeHighWaterMark: 1024 });
    subscriptions.push(listener.subscription);
    const server = `127.0.0.1:${listener.port}`;
    await client(listener.port); // never reads
    const connection = await listener.accepted(0);
    connection.write(Buffer.alloc(8 * 1024 * 1024));
    const samples = await scrape(registry);
    expect(samples.get('rxnet_pending_write_bytes', { role: 'server', server })).toBeGreaterThan(0);
    expect(samples.get('rxnet_backpressure_pauses_total', { role: 'server', server })).toBe(1);
    connection.abort();
    await firstValueFrom(connection.closed$);
    const after = await scrape(registry);
    expect(after.get('rxnet_pending_write_bytes', { role: 'server', server })).toBe(0);
    expect(after.get('rxnet_backpressure_pauses_total', { role: 'server', server })).toBe(1);
  });

  it('tells the servers of one process apart by their server label', async () => {
    const registry = new Registry();
    metrics = rxnetMetrics({ register: registry });
    const one = await startServing(echoLines, { framing: lines({ encoding: 'utf8' }) });
    const two = await startServing(echoLines, { framing: lines({ encoding: 'utf8' }) });
    await client(two.port);
    await seen(two.notifications, 'connectionMade');
    const samples = await scrape(registry);
    const open = (port: number): number | undefined =>
      samples.get('rxnet_connections_open', { role: 'server', server: `127.0.0.1:${port}` });
    expect([open(one.port), open(two.port)]).toEqual([0, 1]);
  });

  it('counts client connections made by connect under role client', async () => {
    const registry = new Registry();
    metrics = rxnetMetrics({ register: registry });
    const server = createServer((peer) => peer.end('hello'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as { port: number };
      expect(
        (await scrape(registry)).get('rxnet_connections_open', { role: 'client', server: '' }),
      ).toBe(0);
      const connection = await firstValueFrom(connect(`tcp:127.0.0.1:${port}`));
      expect(
        (await scrape(registry)).get('rxnet_connections_open', { role: 'client', server: '' }),
      ).toBe(1);
      connection.data$.subscribe({ complete: () => connection.end() });
      await firstValueFrom(connection.closed$);
      const samples = await scrape(registry);
      expect(samples.get('rxnet_connections_open', { role: 'client', server: '' })).toBe(0);
      expect(samples.get('rxnet_bytes_received_total', { role: 'client', server: '' })).toBe(5);
      expect(
        samples.get('rxnet_connections_closed_total', {
          role: 'client',
          reason: 'done',
          server: '',
        }),
      ).toBe(1);
      expect(
        samples.all.filter((sample) => sample.name === 'rxnet_connections_accepted_total'),
      ).toEqual([]);
    } finally {
      server.close();
    }
  });

  describe('prefix', () => {
    it('names every metric with the prefix', async () => {
      const registry = new Registry();
      metrics = rxnetMetrics({ register: registry, prefix: 'edge_' });
      const names = (await registry.getMetricsAsJSON()).map((metric) => metric.name);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) expect(name).toMatch(/^edge_/);
    });

    it("defaults to 'rxnet_' on prom-client's global registry", async () => {
      metrics = rxnetMetrics();
      const names = (await metrics.registry.getMetricsAsJSON()).map((metric) => metric.name);
      expect(names).toEqual(
        expect.arrayContaining(['rxnet_connections_open', 'rxnet_connection_lifetime_seconds']),
      );
    });
  });

  describe('lifetimeBuckets', () => {
    it('defaults to DEFAULT_LIFETIME_BUCKETS, 10 ms to a day, and takes others', async () => {
      const registry = new Registry();
      metrics = rxnetMetrics({ register: registry });
      expect(DEFAULT_LIFETIME_BUCKETS[0]).toBe(0.01);
      expect(DEFAULT_LIFETIME_BUCKETS[DEFAULT_LIFETIME_BUCKETS.length - 1]).toBe(86400);
      metrics.stop();
      metrics = rxnetMetrics({ register: registry, lifetimeBuckets: [1, 2] });
      const [histogram] = (await registry.getMetricsAsJSON()).filter(
        (metric) => metric.name === 'rxnet_connection_lifetime_seconds',
      );
      expect(histogram).toMatchObject({ type: 'histogram' });
      expect(
        (
          metrics.registry.getSingleMetric('rxnet_connection_lifetime_seconds') as unknown as {
            upperBounds: number[];
          }
        ).upperBounds,
      ).toEqual([1, 2]);
    });
  });

  describe('a second exporter', () => {
    it('throws while the first still holds the names in that registry', () => {
      const registry = new Registry();
      metrics = rxnetMetrics({ register: registry });
      expect(() => rxnetMetrics({ register: registry })).toThrow(/already been registered/);
    });
  });

  describe('stop', () => {
    it('unsubscribes from every channel and removes its metrics, so another exporter can start', async () => {
      const registry = new Registry();
      rxnetMetrics({ register: registry }).stop();
      expect((await registry.metrics()).trim()).toBe('');
      for (const name of Object.values(DIAGNOSTICS_CHANNELS)) {
        expect(diagnosticsChannel.hasSubscribers(name)).toBe(false);
      }
      metrics = rxnetMetrics({ register: registry });
      expect(await registry.metrics()).toContain('rxnet_connections_open');
    });
  });
});

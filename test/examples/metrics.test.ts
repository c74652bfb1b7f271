/**
 * `npm run demo -- --metrics PORT`: the Spread server with rxnet's Prometheus metrics served at
 * `/metrics` over HTTP, scraped here as Prometheus would.
 */
import { get } from 'node:http';
import { UsageError } from '../../examples/cli';
import { DEFAULT_METRICS_HOST } from '../../examples/metrics/serveMetrics';
import { parseSpreadServerArgs, spreadGreeting, start } from '../../examples/spread-server';
import { RawClient, Resources, spawnExample, stopping, within } from './harness';

const resources = new Resources();
afterEach(() => resources.disposeAll());

/** GETs `path` from 127.0.0.1:`port`, resolving with the status and the body. */
function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

/** One sample's value from a Prometheus text page, by its exact `name{labels}`. */
function sample(page: string, series: string): number | undefined {
  const line = page.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A log that keeps its lines, and resolves waiters for a line. */
function recordingLog(): {
  log: (line: string) => void;
  lines: string[];
  next(line: string): Promise<void>;
} {
  const lines: string[] = [];
  const waiters: [string, () => void][] = [];
  return {
    lines,
    log(line) {
      lines.push(line);
      for (const waiter of waiters.filter(([wanted]) => wanted === line)) waiter[1]();
    },
    next(line) {
      if (lines.includes(line)) return Promise.resolve();
      return new Promise((resolve) => waiters.push([line, resolve]));
    },
  };
}

describe('spread-server --metrics', () => {
  it('serves rxnet_ metrics at /metrics beside the Spread server, and they change as a client connects and leaves', async () => {
    const { log, lines, next } = recordingLog();
    const server = stopping(
      resources,
      await start({
        endpoint: 'tcp:0:interface=127.0.0.1',
        metrics: { host: '127.0.0.1', port: 0 },
        log,
      }),
    );
    const metricsPort = server.metrics!.port;
    const at = `server="127.0.0.1:${server.address.port}"`;
    expect(metricsPort).toBeGreaterThan(0);
    expect(lines).toContain(`metrics on http://127.0.0.1:${metricsPort}/metrics`);

    const before = await httpGet(metricsPort, '/metrics');
    expect(before.status).toBe(200);
    expect(sample(before.body, `rxnet_connections_open{role="server",${at}}`)).toBe(0);
    expect(sample(before.body, `rxnet_connections_accepted_total{${at}}`)).toBe(0);

    const client = await RawClient.connect(resources, server.address.port);
    await client.expectText(spreadGreeting(1));
    const during = (await httpGet(metricsPort, '/metrics')).body;
    expect(sample(during, `rxnet_connections_open{role="server",${at}}`)).toBe(1);
    expect(sample(during, `rxnet_connections_accepted_total{${at}}`)).toBe(1);
    expect(sample(during, `rxnet_bytes_sent_total{role="server",${at}}`)).toBe(
      Buffer.byteLength(spreadGreeting(1)),
    );

    client.socket.end();
    await within(next('lost connect: 0'), 'the server to see the client leave');
    const after = (await httpGet(metricsPort, '/metrics')).body;
    expect(sample(after, `rxnet_connections_open{role="server",${at}}`)).toBe(0);
    expect(sample(after, `rxnet_connections_closed_total{role="server",${at},reason="done"}`)).toBe(
      1,
    );
    expect(sample(after, `rxnet_connection_lifetime_seconds_count{role="server",${at}}`)).toBe(1);
  });

  it('answers 404 for any other path', async () => {
    const server = stopping(
      resources,
      await start({
        endpoint: 'tcp:0:interface=127.0.0.1',
        metrics: { host: '127.0.0.1', port: 0 },
        log: () => undefined,
      }),
    );
    expect((await httpGet(server.metrics!.port, '/')).status).toBe(404);
  });

  it('runs as `npm run demo -- --metrics HOST:PORT`, printing the real port', async () => {
    const child = spawnExample(resources, 'spread-server', [
      'tcp:0:interface=127.0.0.1',
      '--metrics',
      '127.0.0.1:0',
    ]);
    const [, port] = await child.waitForLine(
      /^metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics$/,
      30000,
    );
    const [, serverPort] = await child.waitForLine(/^listening on 127\.0\.0\.1:(\d+)$/, 30000);
    const client = await RawClient.connect(resources, Number(serverPort));
    await client.expectText(spreadGreeting(1));
    const page = (await httpGet(Number(port), '/metrics')).body;
    const at = `server="127.0.0.1:${serverPort}"`;
    expect(sample(page, `rxnet_connections_open{role="server",${at}}`)).toBe(1);
  }, 60000);

  describe('the flag', () => {
    it('serves on every interface when only a PORT is given', () => {
      expect(parseSpreadServerArgs(['--metrics', '9464']).metrics?.host).toBeUndefined();
      expect(DEFAULT_METRICS_HOST).toBe('0.0.0.0');
    });

    it('takes PORT or HOST:PORT, port 0 included', () => {
      expect(parseSpreadServerArgs(['--metrics', '9464']).metrics).toEqual({ port: 9464 });
      expect(parseSpreadServerArgs(['--metrics', '127.0.0.1:0']).metrics).toEqual({
        host: '127.0.0.1',
        port: 0,
      });
      expect(parseSpreadServerArgs(['--metrics=[::1]:0']).metrics).toEqual({
        host: '::1',
        port: 0,
      });
    });

    it.each([
      [['--metrics', 'web']],
      [['--metrics', '70000']],
      [['--metrics', '0', '--workers', '2']],
    ])('refuses %j with a UsageError', (argv) => {
      expect(() => parseSpreadServerArgs(argv)).toThrow(UsageError);
    });
  });
});

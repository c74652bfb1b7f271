/**
 * `--metrics [HOST:]PORT` for the example servers: rxnet's Prometheus metrics (`rxnet/metrics`)
 * served at `/metrics` over `node:http`, beside the TCP server.
 *
 * @packageDocumentation
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { rxnetMetrics } from 'rxnet/metrics';
import { UsageError, type Log } from '../cli';

/** Where `/metrics` listens without a HOST: every interface, so a Prometheus on another host can scrape it. */
export const DEFAULT_METRICS_HOST = '0.0.0.0';

/** Where `/metrics` is served. */
export interface MetricsListen {
  /** @defaultValue {@link DEFAULT_METRICS_HOST} */
  readonly host?: string;
  /** 0 for a port the kernel picks (the real one is printed). */
  readonly port: number;
}

/** A running `/metrics` endpoint. */
export interface MetricsHandle {
  /** The address it listens on, with the real port. */
  readonly host: string;
  readonly port: number;
  /** Closes the HTTP server and stops the exporter. */
  stop(): Promise<void>;
}

/** Parses `--metrics`'s value, `PORT` or `HOST:PORT`; throws {@link UsageError} when it is wrong. */
export function parseMetricsFlag(text: string): MetricsListen {
  const match = /^(?:(.+):)?(\d{1,5})$/.exec(text);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || port > 65535) {
    throw new UsageError(`--metrics must be PORT or HOST:PORT (port 0 to 65535), got ${text}`);
  }
  return match[1] === undefined ? { port } : { host: match[1].replace(/^\[|\]$/g, ''), port };
}

/**
 * Starts rxnet's metrics exporter on a registry of its own and serves it at `/metrics`; anything
 * else is 404. Start it before the TCP server, so every connection is counted. Prints
 * `metrics on http://HOST:PORT/metrics` once it listens.
 */
export async function serveMetrics(listen: MetricsListen, log: Log): Promise<MetricsHandle> {
  const registry = new Registry();
  const metrics = rxnetMetrics({ register: registry });
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500).end(String(error)),
    );
  });
  server.listen(listen.port, listen.host ?? DEFAULT_METRICS_HOST);
  try {
    await once(server, 'listening');
  } catch (error) {
    metrics.stop();
    throw error;
  }
  const { address: host, port } = server.address() as AddressInfo;
  log(`metrics on http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`);
  return {
    host,
    port,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      metrics.stop();
    },
  };
}

/**
 * The IoT message gateway of the book's closing project (PROTOCOL.md; docs/gateway.md walks
 * through it): relayers and phone apps connect, log in, send heartbeats; an app's ControlDevice is
 * forwarded to the relayer that serves the device and its reply mapped back; a relayer's events
 * are fanned out to its owners' apps.
 *
 * One gateway behaviour serves both endpoints, as the book's one factory serves its ports 9630
 * and 9631: the plain and the TLS listener are merged into one stream of connections for
 * `serveConnections`. Several processes form one gateway with `--hub`, the scale-out hub as the
 * bus between nodes.
 *
 * Run: `npm run gateway` (`npx ts-node examples/iot-gateway.ts [ENDPOINT] [options]`); the
 * endpoint defaults to `tcp:9630` and the TLS endpoint to `ssl:9631` with the development
 * certificate examples/iot/server.pem (self-signed for `localhost`, for development only).
 *
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { map, merge, share, type Observable } from 'rxjs';
import {
  describeCloseReason,
  listen,
  serveConnections,
  type Address,
  type Connection,
  type ConnectionRefused,
  type TcpAddress,
} from 'rxnet';
import {
  consoleLog,
  describe,
  describeAddress,
  describeShutdown,
  GracefulStop,
  oneOf,
  parseCommandLine,
  positiveNumber,
  runMain,
  UsageError,
  type ExampleHandle,
  type Log,
} from './cli';
import { openHub, type HubFlag } from './cluster';
import { gateway, type GatewayMode } from './iot/gateway';
import { hubBus, type HubBus } from './iot/hubBus';
import {
  parseMetricsFlag,
  serveMetrics,
  type MetricsHandle,
  type MetricsListen,
} from './metrics/serveMetrics';
import { sbmp, BOOK_MAX_SBMP_FRAME_BYTES, DEFAULT_MAX_SBMP_FRAME_BYTES } from './iot/sbmp';
import type { Store } from './iot/store';

/** The book's plain port. */
export const DEFAULT_GATEWAY_ENDPOINT = 'tcp:9630';

/**
 * The development key and self-signed certificate (one PEM file) for `localhost`, 127.0.0.1 and
 * ::1, valid until 2126. Its private key is public: never use it outside development.
 */
export const DEV_CERTIFICATE = join(__dirname, 'iot', 'server.pem');

/** The book's TLS port, with {@link DEV_CERTIFICATE}. */
export const DEFAULT_GATEWAY_TLS_ENDPOINT = `ssl:9631:privateKey=${DEV_CERTIFICATE}`;

/**
 * The most connections each endpoint serves at once (the book's `count_connection`); one more is
 * closed at once, as in the book.
 *
 * @defaultValue 10100
 */
export const DEFAULT_GATEWAY_MAX_CONNECTIONS = 10_100;

/** The cluster name of `--hub` when `--cluster` is not given. */
export const DEFAULT_GATEWAY_CLUSTER = 'iot-gateway';

/**
 * Where the TLS listener's connection ids start: the plain listener numbers its connections from
 * 1 and so does the TLS one, and one behaviour needs one id per connection.
 */
const TLS_ID_BASE = 2 ** 31;

/** Options of {@link start}. */
export interface GatewayProgramOptions {
  /** The plain endpoint. @defaultValue {@link DEFAULT_GATEWAY_ENDPOINT} */
  readonly endpoint?: string;
  /** The TLS endpoint, or `false` for none. @defaultValue {@link DEFAULT_GATEWAY_TLS_ENDPOINT} */
  readonly tls?: string | false;
  /** @defaultValue `'rxnet'` */
  readonly mode?: GatewayMode;
  /**
   * `memory` (the embedded store), `FILE.json` (the embedded store saved to that file), or a
   * `postgres://` URL. Ignored when `store` is given. @defaultValue `'memory'`
   */
  readonly db?: string;
  /**
   * A store to use as it is, already open, instead of `db`: the caller's to close (in-process
   * nodes sharing one store in tests).
   */
  readonly store?: Store;
  /** The bus to other nodes; without it the gateway is one node. */
  readonly hub?: HubFlag;
  /** The cluster name on that hub. @defaultValue {@link DEFAULT_GATEWAY_CLUSTER} */
  readonly cluster?: string;
  /** This node's name in logs and on the bus. @defaultValue the process id */
  readonly nodeId?: string;
  /** Per endpoint. @defaultValue {@link DEFAULT_GATEWAY_MAX_CONNECTIONS} */
  readonly maxConnections?: number;
  /**
   * A file of the relayers that may log in (§9.4): one `SB_CODE` per line, optionally followed by
   * a secret the relayer must send as `secret` in its Authorize; blank lines and `#` comments are
   * skipped. Without it every relayer may log in and is registered on first login, as in the book.
   */
  readonly knownRelayers?: string;
  /** Serve rxnet's Prometheus metrics at `/metrics` there (`--metrics`). @defaultValue none */
  readonly metrics?: MetricsListen;
  /** How long a stop lets connections finish. @defaultValue rxnet's `DEFAULT_SHUTDOWN_TIMEOUT` */
  readonly shutdownTimeout?: number;
  /** @defaultValue stdout */
  readonly log?: Log;
}

/** A running gateway. */
export interface GatewayHandle extends ExampleHandle {
  /** The plain endpoint's address (the real port when it was asked for port 0). */
  readonly address: TcpAddress;
  /** The TLS endpoint's address, unless TLS is off. */
  readonly tlsAddress: TcpAddress | undefined;
  /** The `/metrics` endpoint, when `metrics` was given. */
  readonly metrics: MetricsHandle | undefined;
}

/** Opens the store `--db` names; the implementations are loaded only when asked for. */
export async function openStore(db: string): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(db)) {
    const { postgresStore } = await import('./iot/postgresStore');
    return postgresStore(db);
  }
  const { memoryStore } = await import('./iot/memoryStore');
  return db === 'memory' ? memoryStore() : memoryStore({ file: db });
}

/**
 * Reads a `--known-relayers` file into the gateway's check: `SB_CODE [SECRET]` per line. A relayer
 * listed without a secret may log in without one; one listed with a secret must send it.
 */
export async function readKnownRelayers(
  file: string,
): Promise<(sbCode: string, secret: string | undefined) => boolean> {
  const known = new Map<string, string | undefined>();
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const text = line.trim();
    if (text === '' || text.startsWith('#')) continue;
    const [sbCode, secret] = text.split(/\s+/);
    known.set(sbCode!, secret);
  }
  return (sbCode, secret) =>
    known.has(sbCode) && (known.get(sbCode) === undefined || known.get(sbCode) === secret);
}

/**
 * The same connection under another id: both listeners number their connections from 1, and
 * `serveConnections` needs each id once. Everything else is the connection's own (methods are
 * bound to it, so its private state is untouched).
 */
function renumbered(connection: Connection, id: number): Connection {
  return new Proxy(connection, {
    get(target, property) {
      if (property === 'id') return id;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

/** Starts the gateway and resolves once every endpoint listens. */
export async function start(options: GatewayProgramOptions = {}): Promise<GatewayHandle> {
  const {
    endpoint = DEFAULT_GATEWAY_ENDPOINT,
    tls = DEFAULT_GATEWAY_TLS_ENDPOINT,
    mode = 'rxnet',
    db = 'memory',
    maxConnections = DEFAULT_GATEWAY_MAX_CONNECTIONS,
    log = consoleLog,
  } = options;
  const nodeId = options.nodeId ?? String(process.pid);
  const knownRelayers =
    options.knownRelayers === undefined
      ? undefined
      : await readKnownRelayers(options.knownRelayers);
  // First, so that the exporter sees every connection the gateway makes.
  const metrics =
    options.metrics === undefined ? undefined : await serveMetrics(options.metrics, log);
  const ownStore = options.store === undefined;
  const store = options.store ?? (await openStore(db));
  const closeStore = (): Promise<void> => (ownStore ? store.close() : Promise.resolve());
  let bus: HubBus | undefined;
  let closeHub: (() => Promise<void>) | undefined;
  try {
    if (ownStore) await store.open();
    if (options.hub !== undefined && options.hub !== 'memory') {
      const hub = await openHub(options.hub, options.cluster ?? DEFAULT_GATEWAY_CLUSTER);
      closeHub = () => hub.close();
      bus = hubBus(hub, { log });
      await bus.ready;
      log(`node ${nodeId} on ${options.hub} (cluster ${hub.cluster})`);
    }
  } catch (error: unknown) {
    bus?.close();
    await closeHub?.().catch(() => undefined);
    await closeStore().catch(() => undefined);
    await metrics?.stop();
    throw error;
  }

  const graceful = new GracefulStop();
  // One subscription to the stop for the listeners and the server: the server's shutdown has
  // begun when the listeners stop accepting.
  const trigger = graceful.trigger.pipe(share());
  const listening = new Map<string, TcpAddress>();
  const endpoints = tls === false ? [endpoint] : [endpoint, tls];
  let resolveListening!: () => void;
  let rejectListening!: (error: unknown) => void;
  const allListening = new Promise<void>((resolve, reject) => {
    resolveListening = resolve;
    rejectListening = reject;
  });

  function listener(description: string): Observable<Connection> {
    return listen(description, {
      // The book closes a connection beyond count_connection at once: no queue.
      maxConnections,
      whenFull: 'refuse',
      stopAccepting: trigger,
      onListening(address: Address) {
        if (address._tag !== 'TcpAddress') {
          rejectListening(new TypeError(`the gateway serves TCP endpoints, not ${description}`));
          return;
        }
        log(
          `listening on ${address.hostname}:${address.port}${description === tls ? ' (TLS)' : ''}`,
        );
        listening.set(description, address);
        if (listening.size === endpoints.length) resolveListening();
      },
      onRefused(refusal: ConnectionRefused) {
        log(`refused ${describe(refusal.error)}`);
      },
    });
  }

  const connections$ =
    tls === false
      ? listener(endpoint)
      : merge(
          listener(endpoint),
          listener(tls).pipe(
            map((connection) => renumbered(connection, TLS_ID_BASE + connection.id)),
          ),
        );
  const behaviour = gateway({
    store,
    mode,
    ...(bus === undefined ? {} : { bus }),
    nodeId,
    ...(knownRelayers === undefined ? {} : { knownRelayers }),
    log: (line) => log(`[${nodeId}] ${line}`),
  });
  const server = serveConnections(connections$, behaviour, {
    framing: sbmp({
      maxFrameBytes: mode === 'book' ? BOOK_MAX_SBMP_FRAME_BYTES : DEFAULT_MAX_SBMP_FRAME_BYTES,
    }),
    shutdown: trigger,
    ...(options.shutdownTimeout === undefined ? {} : { shutdownTimeout: options.shutdownTimeout }),
  });

  let cleanedUp: Promise<void> | undefined;
  const cleanUp = (): Promise<void> =>
    (cleanedUp ??= (async () => {
      bus?.close();
      await closeHub?.().catch(() => undefined);
      await closeStore().catch(() => undefined);
      await metrics?.stop().catch(() => undefined);
      graceful.end();
    })());
  const subscription = server.subscribe({
    next(notification) {
      switch (notification.type) {
        case 'connectionMade':
          log(
            `#${notification.id} connected from ${describeAddress(notification.remote)}${notification.id >= TLS_ID_BASE ? ' (TLS)' : ''}`,
          );
          return;
        case 'connectionLost':
          log(`#${notification.id} closed: ${describeCloseReason(notification.reason)}`);
          return;
        case 'shutdownComplete':
          log(describeShutdown(notification));
          return;
        default:
          return;
      }
    },
    error(error: unknown) {
      rejectListening(error);
      log(`gateway failed: ${describe(error)}`);
      void cleanUp();
    },
    complete() {
      void cleanUp();
    },
  });
  try {
    await allListening;
  } catch (error: unknown) {
    subscription.unsubscribe();
    await cleanUp();
    throw error;
  }
  return {
    address: listening.get(endpoint)!,
    tlsAddress: tls === false ? undefined : listening.get(tls),
    metrics,
    stop: graceful.stop,
    force: graceful.force,
  };
}

/** The usage line printed, with exit code 2, for bad arguments. */
export const USAGE =
  'usage: iot-gateway [ENDPOINT (default tcp:9630)] [--tls ENDPOINT|off] [--mode rxnet|book] [--db memory|FILE.json|postgres://...] [--hub redis://HOST:PORT|nats://HOST:PORT] [--cluster NAME] [--node-id ID] [--known-relayers FILE] [--max-connections N] [--metrics [HOST:]PORT]';

/** The option list `--help` prints under {@link USAGE}. */
export const HELP = `The book's IoT message gateway: relayers and apps log in over SBMP (16-byte header, JSON body);
apps control devices through their relayers and hear of their events.

  ENDPOINT               the plain endpoint, e.g. tcp:9630:interface=127.0.0.1 (default tcp:9630)
  --tls ENDPOINT         the TLS endpoint (default ssl:9631 with examples/iot/server.pem,
                         a self-signed certificate for localhost: for development only)
  --tls off              no TLS endpoint
  --mode rxnet           the rxnet profile: fixes the book's defects (the default)
  --mode book            every behaviour a book peer could observe
  --db memory            the embedded store, in memory (the default)
  --db FILE.json         the embedded store, saved to FILE.json on each change
  --db postgres://...    PostgreSQL; the schema is created on start
  --hub redis://HOST:PORT   join other gateway nodes through Redis
  --hub nats://HOST:PORT    ... or through NATS JetStream
  --cluster NAME         the gateway's name on that hub (default ${DEFAULT_GATEWAY_CLUSTER})
  --node-id ID           this node's name in its log (default the process id)
  --known-relayers FILE  only the relayers listed there may log in: SB_CODE [SECRET] per line
                         (default: any relayer, registered on first login, as in the book)
  --max-connections N    per endpoint; more are closed at once (default ${DEFAULT_GATEWAY_MAX_CONNECTIONS})
  --metrics [HOST:]PORT  serve rxnet's Prometheus metrics at http://HOST:PORT/metrics
                         (HOST defaults to 0.0.0.0; port 0 picks one and prints it)
  -h, --help             print this help and exit`;

/** Parses the command line of `iot-gateway`; throws {@link UsageError} when it is wrong. */
export function parseGatewayArgs(argv: readonly string[]): GatewayProgramOptions {
  const { endpoint, values } = parseCommandLine(argv, {
    tls: { type: 'string' },
    mode: { type: 'string' },
    db: { type: 'string' },
    hub: { type: 'string' },
    cluster: { type: 'string' },
    'node-id': { type: 'string' },
    'max-connections': { type: 'string' },
    'known-relayers': { type: 'string' },
    metrics: { type: 'string' },
  });
  const mode = oneOf('mode', values.mode, ['rxnet', 'book'] as const);
  const { hub, cluster, db } = values;
  if (hub !== undefined && !/^(redis|nats):\/\/\S+$/.test(hub)) {
    throw new UsageError(`--hub must be redis://HOST:PORT or nats://HOST:PORT, got ${hub}`);
  }
  if (cluster !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(cluster)) {
    throw new UsageError(`--cluster must be 1 to 64 letters, digits, '_' or '-', got ${cluster}`);
  }
  if (db !== undefined && !/^(memory|postgres(ql)?:\/\/\S+|\S+\.json)$/.test(db)) {
    throw new UsageError(`--db must be memory, FILE.json or postgres://..., got ${db}`);
  }
  const maxConnections = positiveNumber('max-connections', values['max-connections'], true);
  const tls = values.tls === undefined ? undefined : values.tls === 'off' ? false : values.tls;
  return {
    endpoint: endpoint ?? DEFAULT_GATEWAY_ENDPOINT,
    ...(tls === undefined ? {} : { tls }),
    ...(mode === undefined ? {} : { mode }),
    ...(db === undefined ? {} : { db }),
    ...(hub === undefined ? {} : { hub: hub as HubFlag }),
    ...(cluster === undefined ? {} : { cluster }),
    ...(values['node-id'] === undefined ? {} : { nodeId: values['node-id'] }),
    ...(maxConnections === undefined ? {} : { maxConnections }),
    ...(values['known-relayers'] === undefined ? {} : { knownRelayers: values['known-relayers'] }),
    ...(values.metrics === undefined ? {} : { metrics: parseMetricsFlag(values.metrics) }),
  };
}

if (require.main === module) runMain(USAGE, parseGatewayArgs, start, HELP);

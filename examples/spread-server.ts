/**
 * The Spread server of the Twisted seed, as one pipeline of rxnet operators.
 *
 * It counts connections, greets each client with its number, prints `new connect: N` and
 * `lost connect: N`, closes a client that sends `close`, and relays everything else a client sends
 * to every other client (and prints it). `--mode book` reproduces the book's complete original
 * byte for byte instead: an exact `close` chunk is forwarded to the other clients before the
 * sender is closed, and other data is only printed. `--framing lines` splits input into lines
 * first, so `close` is a line however TCP chunks it.
 *
 * Run: `npx ts-node examples/spread-server.ts [ENDPOINT] [--mode broadcast|book] [--framing raw|lines]`
 * (`npm run demo`); the endpoint defaults to `tcp:8007`. `--metrics PORT` also serves rxnet's
 * Prometheus metrics at `http://HOST:PORT/metrics`.
 *
 * @packageDocumentation
 */
import { filter, map, type Observable, type OperatorFunction, tap } from 'rxjs';
import {
  broadcast,
  closeOn,
  countConnections,
  greet,
  lineEquals,
  type Behaviour,
  type Output,
  type ServerEvent,
  type TcpAddress,
} from 'rxnet';
import {
  consoleLog,
  oneOf,
  parseCommandLine,
  runMain,
  UsageError,
  type ExampleHandle,
  type Log,
} from './cli';
import {
  CLUSTER_HELP,
  CLUSTER_OPTIONS,
  forkWorkers,
  openHub,
  parseClusterFlags,
  serveClusteredExample,
  type ClusterFlags,
} from './cluster';
import { lineDecoder, serveExample, type ExampleFraming } from './serve';
import {
  parseMetricsFlag,
  serveMetrics,
  type MetricsHandle,
  type MetricsListen,
} from './metrics/serveMetrics';

/** The endpoint the seed listens on: `TCP4ServerEndpoint(reactor, 8007)`. */
export const DEFAULT_SPREAD_ENDPOINT = 'tcp:8007';

/**
 * How long a Spread connection stays writable after the client's FIN: not at all, as in the
 * Twisted original, whose connection ends (after flushing) when the client closes its side. A
 * relay has no reply in the making for a client that has stopped talking.
 *
 * @defaultValue 0
 */
export const SPREAD_HALF_OPEN_TIMEOUT = 0;

/**
 * `broadcast` (the default): other data is relayed to every other client. `book`: the book's
 * original, which forwards only an exact `close` chunk and prints everything else.
 */
export type SpreadMode = 'broadcast' | 'book';

/** `raw`: compare and relay chunks as they arrive (the seed). `lines`: frame with `lines()` first. */
export type SpreadFraming = ExampleFraming;

/** What a Spread client receives the moment it connects, `count` being the number of open connections. */
export function spreadGreeting(count: number): string {
  return `欢迎来到Spread Site, 你是第${count}个客户端用户!\n`;
}

/** Options of {@link spreadBehaviour}. */
export interface SpreadBehaviourOptions {
  /** @defaultValue `'broadcast'` */
  readonly mode?: SpreadMode;
  /**
   * How the data events are framed, which decides how `close` is recognised and how relayed data
   * is written. Pair `'lines'` with {@link spreadDecoder}`('lines')` as the server's `decode`.
   *
   * @defaultValue `'raw'`
   */
  readonly framing?: SpreadFraming;
  /** Where `new connect: N`, `lost connect: N` and the received data are printed. @defaultValue stdout */
  readonly log?: Log;
}

/** A Spread server's data: chunks (`raw` framing) or lines (`lines` framing). */
export type SpreadData = Buffer | string;

/**
 * The Spread server's logic, events in and commands out, with no socket: what `start()` serves
 * and what the marble tests check.
 *
 * How `close` is recognised:
 * - `raw` framing (the default) compares each chunk, as the seed's `data == "close"` does, but also
 *   accepts one trailing `\n` or `\r\n` ({@link lineEquals}), which is how `nc` and `telnet` send
 *   it. A `close` split across chunks, or sharing a chunk with other bytes, is ordinary data.
 * - `lines` framing compares whole lines, so `close` is recognised however it was chunked; every
 *   other line is relayed followed by `\n`.
 * - `book` mode compares the chunk with `close` exactly, newline not allowed, like the original.
 *
 * In `book` mode the commands for an exact `close` are `close` for the sender, then a `write` of
 * `close` to every other client: each connection's bytes are the original's, which writes first and
 * closes after (the order of commands to different connections is not visible on any wire).
 */
export function spreadBehaviour(
  options: SpreadBehaviourOptions = {},
): Behaviour<SpreadData, Output> {
  const { mode = 'broadcast', framing = 'raw', log = consoleLog } = options;
  return (events) => {
    const greeted = events.pipe(
      countConnections(),
      tap((event) => {
        if (event.type === 'connectionMade') log(`new connect: ${event.count}`);
        else if (event.type === 'connectionLost') log(`lost connect: ${event.count}`);
      }),
      greet(({ count }) => spreadGreeting(count)),
    );
    return mode === 'book' ? book(greeted, log) : relay(greeted, framing, log);
  };
}

/** Anything on the Spread pipeline after `greet`: an event, or the greeting's `write`. */
type Item<T> =
  | ServerEvent<T>
  | { readonly type: 'write'; readonly to: number | readonly number[]; readonly data: Output };

function relay<E extends Item<SpreadData>>(
  greeted: Observable<E>,
  framing: SpreadFraming,
  log: Log,
) {
  const printed = greeted.pipe(
    closeOn(lineEquals('close')),
    tap((item) => {
      if (item.type === 'data')
        log(framing === 'lines' ? String(item.data) : withoutLineEnd(item.data));
    }),
  );
  // The decoder took each line's delimiter off; the other clients get the line back with one.
  const relayed =
    framing === 'lines'
      ? printed.pipe(
          map((item) =>
            item.type === 'data' ? { ...item, data: `${String(item.data)}\n` } : item,
          ),
        )
      : printed;
  return relayed.pipe(broadcast());
}

const CLOSE = Buffer.from('close');

/** The book's test, `data == "close"`: the whole chunk and nothing else, compared without copying. */
function isExactClose(data: SpreadData): boolean {
  return typeof data === 'string' ? data === 'close' : CLOSE.equals(data);
}

function book<E extends Item<SpreadData>>(greeted: Observable<E>, log: Log) {
  return greeted.pipe(
    tap((item) => {
      if (item.type === 'data' && !isExactClose(item.data)) log(String(item.data));
    }),
    // The original only prints other data: drop it, so that only an exact `close` reaches broadcast.
    filter((item) => item.type !== 'data' || isExactClose(item.data)),
    broadcast(),
    closeOn(isExactClose),
  );
}

/** A chunk as text, without the one line ending `nc` or `telnet` adds, so a typed line prints once. */
function withoutLineEnd(data: SpreadData): string {
  const text = String(data);
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

/**
 * The per-connection decoder for a framing: nothing for `raw`; for `lines`, rxnet's `lines()` on
 * `\n`, with a `\r` before it dropped (telnet), and an unterminated last line delivered at EOF
 * (`printf close | nc -N`).
 */
export function spreadDecoder(
  framing: SpreadFraming,
): OperatorFunction<Buffer, SpreadData> | undefined {
  return framing === 'raw' ? undefined : lineDecoder();
}

/** Options of {@link start}. */
export interface SpreadServerOptions extends SpreadBehaviourOptions, ClusterFlags {
  /** A Twisted server endpoint description. @defaultValue {@link DEFAULT_SPREAD_ENDPOINT} */
  readonly endpoint?: string;
  /** Shorthand for `tcp:PORT`; ignored when `endpoint` is given. */
  readonly port?: number;
  /** Serve rxnet's Prometheus metrics at `/metrics` there (`--metrics`). @defaultValue none */
  readonly metrics?: MetricsListen;
}

/** A running Spread server. */
export interface SpreadServerHandle extends ExampleHandle {
  /** Where it listens; the real port when it was asked for port 0. */
  readonly address: TcpAddress;
  /** The `/metrics` endpoint, when `metrics` was given. */
  readonly metrics?: MetricsHandle;
}

/** Starts a Spread server and resolves once it listens. */
export async function start(options: SpreadServerOptions = {}): Promise<SpreadServerHandle> {
  const { framing = 'raw', log = consoleLog } = options;
  const endpoint =
    options.endpoint ??
    (options.port === undefined ? DEFAULT_SPREAD_ENDPOINT : `tcp:${options.port}`);
  const workers = forkWorkers(options.workers, log);
  if (workers !== undefined) return workers;
  // First, so that the exporter sees every connection the server makes.
  const metrics =
    options.metrics === undefined ? undefined : await serveMetrics(options.metrics, log);
  try {
    const server = await startSpread(endpoint, options, framing, log);
    if (metrics === undefined) return server;
    return {
      ...server,
      metrics,
      stop: async () => {
        await server.stop();
        await metrics.stop();
      },
    };
  } catch (error) {
    await metrics?.stop();
    throw error;
  }
}

async function startSpread(
  endpoint: string,
  options: SpreadServerOptions,
  framing: SpreadFraming,
  log: Log,
): Promise<SpreadServerHandle> {
  const serveOptions = {
    decode: spreadDecoder(framing),
    log,
    // Twisted's transport (the seed's Spreader is not an IHalfCloseableProtocol) loses the
    // connection at the client's FIN; rxnet would keep it writable for DEFAULT_HALF_OPEN_TIMEOUT.
    // The option, not a behaviour operator, so the pipeline stays the seed's line for line.
    halfOpenTimeout: SPREAD_HALF_OPEN_TIMEOUT,
  };
  const behaviour = spreadBehaviour({ ...options, framing, log });
  if (options.hub === undefined && options.cluster === undefined) {
    return serveExample(endpoint, behaviour, serveOptions);
  }
  const hub = await openHub(options.hub ?? 'memory', options.cluster);
  return serveClusteredExample(endpoint, behaviour, { ...serveOptions, hub });
}

/** The usage line printed, with exit code 2, for bad arguments. */
export const USAGE =
  'usage: spread-server [ENDPOINT (default tcp:8007)] [--mode broadcast|book] [--framing raw|lines] [--hub memory|redis://HOST:PORT|nats://HOST:PORT] [--cluster NAME] [--workers N] [--metrics [HOST:]PORT]';

/** Parses the command line of `spread-server`; throws {@link UsageError} when it is wrong. */
export function parseSpreadServerArgs(argv: readonly string[]): SpreadServerOptions {
  const { endpoint, values } = parseCommandLine(argv, {
    mode: { type: 'string' },
    framing: { type: 'string' },
    metrics: { type: 'string' },
    ...CLUSTER_OPTIONS,
  });
  const mode = oneOf('mode', values.mode, ['broadcast', 'book'] as const);
  const framing = oneOf('framing', values.framing, ['raw', 'lines'] as const);
  if (mode === 'book' && framing === 'lines')
    throw new UsageError(
      '--mode book compares raw chunks; it cannot be combined with --framing lines',
    );
  const cluster = parseClusterFlags(values);
  if (values.metrics !== undefined && cluster.workers !== undefined && cluster.workers > 1)
    throw new UsageError('--metrics serves one process; it cannot be combined with --workers');
  return {
    endpoint: endpoint ?? DEFAULT_SPREAD_ENDPOINT,
    ...(mode === undefined ? {} : { mode }),
    ...(framing === undefined ? {} : { framing }),
    ...cluster,
    ...(values.metrics === undefined ? {} : { metrics: parseMetricsFlag(values.metrics) }),
  };
}

/** The option list `--help` prints under {@link USAGE}. */
export const HELP = `Greets each client with its number and relays what it sends to the other clients;
a client that sends "close" is closed.

  ENDPOINT           a Twisted server endpoint, e.g. tcp:8007:interface=127.0.0.1
  --mode broadcast   relay every message to the other clients (the default)
  --mode book        the book's original: forward only an exact "close", print the rest
  --framing raw      compare and relay chunks as TCP delivers them (the default)
  --framing lines    split the input into lines first (not with --mode book)
${CLUSTER_HELP}
  --metrics [HOST:]PORT  serve rxnet's Prometheus metrics at http://HOST:PORT/metrics
                     (HOST defaults to 0.0.0.0; port 0 picks one and prints it)
  -h, --help         print this help and exit`;

if (require.main === module) runMain(USAGE, parseSpreadServerArgs, start, HELP);

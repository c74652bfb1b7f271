/**
 * The echo server of the Twisted seed: counts connections, prints what each client sends and both
 * ends' addresses, echoes the data, then closes the connection. `--framing lines` makes it a line
 * echo instead: each line comes back as soon as it is complete, and the connection stays open, so
 * `nc 127.0.0.1 8888` is an interactive echo however TCP chunks what you type. `--persistent`
 * echoes every chunk, not only the first: a bulk echo that closes once the client has half-closed
 * (sent FIN) and everything it sent has been echoed and flushed.
 *
 * Both `--framing lines` and `--persistent` answer the client's FIN (rxnet's `readConnectionLost`,
 * which {@link echo} answers with `close`), so a client that sends and then shuts down its side
 * (`nc -N`, `shutdown(SHUT_WR)`) still gets all of it back: `close` flushes before our FIN.
 *
 * Run: `npx ts-node examples/echo-server.ts [ENDPOINT] [--framing raw|lines] [--persistent]`
 * (`npm run example:echo-server`); the endpoint defaults to `tcp:8888`.
 *
 * @packageDocumentation
 */
import { defer, map, tap } from 'rxjs';
import {
  countConnections,
  describeCloseReason,
  echo,
  type Address,
  type Behaviour,
  type ConnectionId,
  type Output,
} from 'rxnet';
import { consoleLog, oneOf, parseCommandLine, runMain, UsageError, type Log } from './cli';
import {
  lineDecoder,
  serveExample,
  twistedRepr,
  type ExampleFraming,
  type ServerHandle,
} from './serve';

/** The endpoint the seed listens on: `serverFromString(reactor, 'tcp:8888')`. */
export const DEFAULT_ECHO_ENDPOINT = 'tcp:8888';

/** Options of {@link echoBehaviour}. */
export interface EchoBehaviourOptions {
  /** Where the seed's `print` lines go. @defaultValue stdout */
  readonly log?: Log;
  /**
   * `raw`: the seed, one chunk echoed and the connection closed. `lines`: every line echoed (with
   * `\n`), the connection left open. Pair `'lines'` with {@link lineDecoder} as the server's `decode`.
   *
   * @defaultValue `'raw'`
   */
  readonly framing?: ExampleFraming;
  /**
   * With `raw` framing: echo every chunk, and close only once the client has half-closed and the
   * echo is flushed, instead of closing after the first chunk. Logs the connection's byte count
   * rather than each chunk, as a bulk transfer would flood the log. (`lines` framing always
   * echoes every line.)
   *
   * @defaultValue `false`
   */
  readonly persistent?: boolean;
}

/**
 * The echo server's logic, events in and commands out: on each connection it logs
 * `> New connection made,from client!` and `> Now conn=N`; on its first data it logs
 * `> Data from client: DATA`, writes the data back, logs `>Host:  ADDRESS` and `>Peer:  ADDRESS`
 * (Twisted's `repr` of `getHost()` and `getPeer()`), and closes the connection. Anything the
 * client sends after that first chunk is ignored, as the seed's closing transport ignores it.
 *
 * `persistent` echoes every chunk and closes at the client's FIN (`readConnectionLost`), once the
 * echo is flushed; it logs `> Client finished sending after N bytes` there, and
 * `> Connection closed: REASON` when the connection is gone (REASON from `describeCloseReason`:
 * `done`, `lost: ECONNRESET`, …).
 */
export function echoBehaviour(
  options: EchoBehaviourOptions = {},
): Behaviour<Buffer | string, Output> {
  const { log = consoleLog, framing = 'raw', persistent = false } = options;
  if (persistent && framing === 'raw') return persistentEcho(log);
  return (events) =>
    defer(() => {
      // The data events do not carry addresses; remember them from connectionMade, per server.
      const ends = new Map<ConnectionId, { readonly local: Address; readonly remote: Address }>();
      return events.pipe(
        countConnections(),
        tap((event) => {
          if (event.type === 'connectionMade') {
            ends.set(event.id, event);
            logConnection(log, event.count);
          } else if (event.type === 'connectionLost') {
            ends.delete(event.id);
          }
        }),
        framing === 'lines'
          ? (source) =>
              source.pipe(
                echo(),
                map((item) =>
                  item.type === 'write' ? { ...item, data: `${String(item.data)}\n` } : item,
                ),
              )
          : echo({ thenClose: true }),
        tap((item) => {
          if (item.type !== 'data') return;
          log(`> Data from client: ${String(item.data)}`);
          const end = ends.get(item.id);
          if (end === undefined) return;
          log(`>Host:  ${twistedRepr(end.local)}`);
          log(`>Peer:  ${twistedRepr(end.remote)}`);
        }),
      );
    });
}

function logConnection(log: Log, count: number): void {
  log('> New connection made,from client!');
  log(`> Now conn=${count}`);
}

/**
 * `--persistent`: rxnet's {@link echo} as it is. It writes each chunk back and answers the
 * client's FIN (`readConnectionLost`) with `close`, which flushes every pending echo before our
 * FIN: nothing is lost however long the echo takes to drain.
 */
function persistentEcho(log: Log): Behaviour<Buffer | string, Output> {
  return (events) =>
    defer(() => {
      const received = new Map<ConnectionId, number>();
      return events.pipe(
        countConnections(),
        echo(),
        tap((item) => {
          switch (item.type) {
            case 'connectionMade':
              received.set(item.id, 0);
              logConnection(log, item.count);
              break;
            case 'data':
              received.set(item.id, (received.get(item.id) ?? 0) + item.data.length);
              break;
            case 'readConnectionLost':
              log(`> Client finished sending after ${received.get(item.id) ?? 0} bytes`);
              break;
            case 'connectionLost':
              received.delete(item.id);
              log(`> Connection closed: ${describeCloseReason(item.reason)}`);
              break;
            default:
          }
        }),
      );
    });
}

/** Options of {@link start}. */
export interface EchoServerOptions extends EchoBehaviourOptions {
  /** A Twisted server endpoint description. @defaultValue {@link DEFAULT_ECHO_ENDPOINT} */
  readonly endpoint?: string;
  /** Shorthand for `tcp:PORT`; ignored when `endpoint` is given. */
  readonly port?: number;
}

/** Starts the echo server and resolves once it listens. */
export function start(options: EchoServerOptions = {}): Promise<ServerHandle> {
  const { log = consoleLog, framing = 'raw', persistent = false } = options;
  const endpoint =
    options.endpoint ??
    (options.port === undefined ? DEFAULT_ECHO_ENDPOINT : `tcp:${options.port}`);
  return serveExample(endpoint, echoBehaviour({ log, framing, persistent }), {
    decode: framing === 'lines' ? lineDecoder() : undefined,
    log,
  });
}

/** The usage line printed, with exit code 2, for bad arguments. */
export const USAGE =
  'usage: echo-server [ENDPOINT (default tcp:8888)] [--framing raw|lines] [--persistent]';

/** The option list `--help` prints under {@link USAGE}. */
export const HELP = `Echoes what each client sends; by default the first chunk only, then closes.

  ENDPOINT           a Twisted server endpoint, e.g. tcp:8888:interface=127.0.0.1
  --framing raw      echo chunks as TCP delivers them (the seed; the default)
  --framing lines    echo each line, keep the connection open until the client closes its side
  --persistent       echo every chunk; close once the client has sent FIN and all is echoed
  -h, --help         print this help and exit`;

/** Parses the command line of `echo-server`; throws `UsageError` when it is wrong. */
export function parseEchoServerArgs(argv: readonly string[]): EchoServerOptions {
  const { endpoint, values } = parseCommandLine(argv, {
    framing: { type: 'string' },
    persistent: { type: 'boolean' },
  });
  const framing = oneOf('framing', values.framing, ['raw', 'lines'] as const);
  if (values.persistent === true && framing === 'lines')
    throw new UsageError('--framing lines always echoes every line; drop --persistent');
  return {
    endpoint: endpoint ?? DEFAULT_ECHO_ENDPOINT,
    ...(framing === undefined ? {} : { framing }),
    ...(values.persistent === true ? { persistent: true } : {}),
  };
}

if (require.main === module) runMain(USAGE, parseEchoServerArgs, start, HELP);

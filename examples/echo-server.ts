/**
 * The echo server of the Twisted seed: counts connections, prints what each client sends and both
 * ends' addresses, echoes the data, then closes the connection. `--framing lines` makes it a line
 * echo instead: each line comes back as soon as it is complete, and the connection stays open, so
 * `nc 127.0.0.1 8888` is an interactive echo however TCP chunks what you type.
 *
 * Run: `npx ts-node examples/echo-server.ts [ENDPOINT] [--framing raw|lines]`
 * (`npm run example:echo-server`); the endpoint defaults to `tcp:8888`.
 *
 * @packageDocumentation
 */
import { defer, map, tap } from 'rxjs';
import {
  countConnections,
  echo,
  type Address,
  type Behaviour,
  type ConnectionId,
  type Output,
} from 'rxnet';
import { consoleLog, oneOf, parseCommandLine, runMain, type Log } from './cli';
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
}

/**
 * The echo server's logic, events in and commands out: on each connection it logs
 * `> New connection made,from client!` and `> Now conn=N`; on its first data it logs
 * `> Data from client: DATA`, writes the data back, logs `>Host:  ADDRESS` and `>Peer:  ADDRESS`
 * (Twisted's `repr` of `getHost()` and `getPeer()`), and closes the connection. Anything the
 * client sends after that first chunk is ignored, as the seed's closing transport ignores it.
 */
export function echoBehaviour(
  options: EchoBehaviourOptions = {},
): Behaviour<Buffer | string, Output> {
  const { log = consoleLog, framing = 'raw' } = options;
  return (events) =>
    defer(() => {
      // The data events do not carry addresses; remember them from connectionMade, per server.
      const ends = new Map<ConnectionId, { readonly local: Address; readonly remote: Address }>();
      return events.pipe(
        countConnections(),
        tap((event) => {
          if (event.type === 'connectionMade') {
            ends.set(event.id, event);
            log('> New connection made,from client!');
            log(`> Now conn=${event.count}`);
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

/** Options of {@link start}. */
export interface EchoServerOptions extends EchoBehaviourOptions {
  /** A Twisted server endpoint description. @defaultValue {@link DEFAULT_ECHO_ENDPOINT} */
  readonly endpoint?: string;
  /** Shorthand for `tcp:PORT`; ignored when `endpoint` is given. */
  readonly port?: number;
}

/** Starts the echo server and resolves once it listens. */
export function start(options: EchoServerOptions = {}): Promise<ServerHandle> {
  const { log = consoleLog, framing = 'raw' } = options;
  const endpoint =
    options.endpoint ??
    (options.port === undefined ? DEFAULT_ECHO_ENDPOINT : `tcp:${options.port}`);
  return serveExample(
    endpoint,
    echoBehaviour({ log, framing }),
    framing === 'lines' ? lineDecoder() : undefined,
    log,
  );
}

/** The usage line printed, with exit code 2, for bad arguments. */
export const USAGE = 'usage: echo-server [ENDPOINT (default tcp:8888)] [--framing raw|lines]';

/** Parses the command line of `echo-server`; throws `UsageError` when it is wrong. */
export function parseEchoServerArgs(argv: readonly string[]): EchoServerOptions {
  const { endpoint, values } = parseCommandLine(argv, { framing: { type: 'string' } });
  const framing = oneOf('framing', values.framing, ['raw', 'lines'] as const);
  return {
    endpoint: endpoint ?? DEFAULT_ECHO_ENDPOINT,
    ...(framing === undefined ? {} : { framing }),
  };
}

if (require.main === module) runMain(USAGE, parseEchoServerArgs, start);

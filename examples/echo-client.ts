/**
 * The echo client of the Twisted seed: opens 10 connections, each sends `> To Server:Hello server`
 * and prints the reply as `> From Server:REPLY`.
 *
 * It exits 0 once all 10 replies arrived, and 1, saying which connections failed, when any
 * connection failed or 10 seconds passed. (The seed stops its reactor at the first reply; this
 * waits for all of them, which is evidently what the ten connections are for.) The seed's
 * `Protocol` is {@link echoProtocol}, which rxnet's `runProtocol` runs on each connection.
 *
 * Run: `npx ts-node examples/echo-client.ts [ENDPOINT]` (`npm run example:echo-client`); the
 * endpoint defaults to `tcp:localhost:8888`.
 *
 * @packageDocumentation
 */
import {
  asyncScheduler,
  catchError,
  lastValueFrom,
  map,
  mergeMap,
  merge,
  type Observable,
  of,
  range,
  type SchedulerLike,
  switchMap,
  take,
  takeUntil,
  timer,
  toArray,
  defaultIfEmpty,
  Subject,
} from 'rxjs';
import { connect, forward, runProtocol, type Connection, type PerConnection } from 'rxnet';
import {
  consoleLog,
  describe,
  parseCommandLine,
  runMain,
  type ExampleHandle,
  type Log,
} from './cli';

/** The endpoint the seed connects to: `clientFromString(reactor, 'tcp:localhost:8888')`. */
export const DEFAULT_ECHO_CLIENT_ENDPOINT = 'tcp:localhost:8888';
/** How many connections the seed opens. */
export const ECHO_CONNECTIONS = 10;
/** What each connection sends. */
export const ECHO_MESSAGE = '> To Server:Hello server';
/** How long the whole run may take before it counts as failed, in milliseconds. */
export const ECHO_TIMEOUT_MS = 10_000;

/** What happened to one of the connections: its reply, or why there was none. */
export type EchoOutcome =
  | { readonly index: number; readonly reply: string }
  | { readonly index: number; readonly error: string };

/**
 * The seed's `Protocol`, as a per-connection protocol: writes `message` and forwards the first
 * chunk it gets back, as text; then it is done, which ends the connection.
 */
export function echoProtocol(message = ECHO_MESSAGE): PerConnection<Buffer, string, string> {
  return (conn) =>
    merge(
      conn.frames$.pipe(
        take(1),
        map((chunk) => forward(chunk.toString('utf8'))),
      ),
      // Subscribed after frames$, so the reply cannot arrive before anything is reading.
      of(message),
    );
}

/**
 * Runs {@link echoProtocol} on a connection and emits the reply; the seed's `connectionMade`
 * write and `dataReceived` print. Completes without a value when the connection closes first.
 */
export function askEcho(connection: Connection, message = ECHO_MESSAGE): Observable<string> {
  return runProtocol(connection, echoProtocol(message)).pipe(take(1));
}

/** Options of {@link echoClient} and {@link start}. */
export interface EchoClientOptions {
  /** A Twisted client endpoint description. @defaultValue {@link DEFAULT_ECHO_CLIENT_ENDPOINT} */
  readonly endpoint?: string;
  /** Shorthand for `tcp:localhost:PORT`; ignored when `endpoint` is given. */
  readonly port?: number;
  /** @defaultValue {@link ECHO_CONNECTIONS} */
  readonly connections?: number;
  /** @defaultValue {@link ECHO_TIMEOUT_MS} */
  readonly timeoutMs?: number;
  /** Where the deadline's timer runs. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
  /** Where `> From Server:...` and failures are printed. @defaultValue stdout */
  readonly log?: Log;
}

/**
 * Opens the connections at once and emits one {@link EchoOutcome} per connection that finished
 * before the deadline (a reply, a refused connection, a close without reply), in the order they
 * finished; connections still waiting at the deadline are cut off and emit nothing.
 */
export function echoClient(options: EchoClientOptions = {}): Observable<EchoOutcome> {
  const endpoint =
    options.endpoint ??
    (options.port === undefined ? DEFAULT_ECHO_CLIENT_ENDPOINT : `tcp:localhost:${options.port}`);
  const total = options.connections ?? ECHO_CONNECTIONS;
  const deadline = timer(options.timeoutMs ?? ECHO_TIMEOUT_MS, options.scheduler ?? asyncScheduler);
  return range(1, total).pipe(
    mergeMap((index) =>
      connect(endpoint).pipe(
        switchMap((connection) => askEcho(connection)),
        take(1),
        map((reply): EchoOutcome => ({ index, reply })),
        defaultIfEmpty<EchoOutcome, EchoOutcome>({ index, error: 'closed without a reply' }),
        catchError((error: unknown) => of<EchoOutcome>({ index, error: describe(error) })),
      ),
    ),
    takeUntil(deadline),
  );
}

/** Runs {@link echoClient}, printing each reply; `done` resolves with the exit code (0: all replied). */
export async function start(options: EchoClientOptions = {}): Promise<ExampleHandle> {
  const { log = consoleLog } = options;
  const total = options.connections ?? ECHO_CONNECTIONS;
  const stopped = new Subject<void>();
  const done = lastValueFrom(
    echoClient(options).pipe(
      map((outcome) => {
        if ('reply' in outcome) log(`> From Server:${outcome.reply}`);
        else log(`> Connection ${outcome.index} failed: ${outcome.error}`);
        return outcome;
      }),
      takeUntil(stopped),
      toArray(),
      map((outcomes) => {
        const replies = outcomes.filter((outcome) => 'reply' in outcome).length;
        if (replies === total) return 0;
        const waiting = total - outcomes.length;
        log(
          `> ${replies} of ${total} connections replied` +
            (waiting > 0
              ? `; ${waiting} still waiting after ${(options.timeoutMs ?? ECHO_TIMEOUT_MS) / 1000} s`
              : ''),
        );
        return 1;
      }),
    ),
  );
  return {
    done,
    stop: async () => {
      stopped.next();
      await done;
    },
  };
}

/** The usage line printed, with exit code 2, for bad arguments. */
export const USAGE = 'usage: echo-client [ENDPOINT (default tcp:localhost:8888)]';

/** Parses the command line of `echo-client`; throws `UsageError` when it is wrong. */
export function parseEchoClientArgs(argv: readonly string[]): EchoClientOptions {
  const { endpoint } = parseCommandLine(argv, {});
  return { endpoint: endpoint ?? DEFAULT_ECHO_CLIENT_ENDPOINT };
}

/** The option list `--help` prints under {@link USAGE}. */
export const HELP = `Opens ${ECHO_CONNECTIONS} connections, sends "${ECHO_MESSAGE}" on each and prints the replies;
exits 0 once all replied, 1 if any failed or ${ECHO_TIMEOUT_MS / 1000} s passed.

  ENDPOINT           a Twisted client endpoint, e.g. tcp:localhost:8888
  -h, --help         print this help and exit`;

if (require.main === module) runMain(USAGE, parseEchoClientArgs, start, HELP);

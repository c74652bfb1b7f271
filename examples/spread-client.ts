/**
 * The Spread client of the Twisted seed: connects, logs its lifecycle, prints what it receives,
 * and sends `hello, I'm NAME TIMESTAMP` every 5 seconds while connected.
 *
 * The seed's sending thread becomes {@link spreadSender}, a `sendEvery` pipeline whose clock is an
 * injected scheduler; its `Protocol` becomes {@link spreadProtocol}, a per-connection protocol that
 * rxnet's `runProtocol` runs on each connection; and `ClientFactory`'s callbacks become rxnet's
 * `connectEvents` lifecycle stream, optionally piped through `reconnect` (Twisted's
 * `ReconnectingClientFactory` backoff).
 * The whole client is {@link spreadClient}, a function of where its lifecycle comes from: `start()`
 * gives it rxnet's `connectEvents` for a TCP endpoint, and the tests the testing kit's
 * `VirtualNetwork.connectEvents`.
 *
 * Run: `npx ts-node examples/spread-client.ts [ENDPOINT] [--every SECONDS] [--count N] [--name NAME] [--reconnect]`
 * (`npm run example:spread-client`); the endpoint defaults to `tcp:localhost:8007`.
 *
 * @packageDocumentation
 */
import { basename } from 'node:path';
import {
  asyncScheduler,
  defer,
  ignoreElements,
  last,
  map,
  merge,
  type Observable,
  of,
  type OperatorFunction,
  type SchedulerLike,
  Subject,
  switchMap,
  takeUntil,
  takeWhile,
  tap,
} from 'rxjs';
import {
  connectEvents,
  runProtocol,
  sendEvery,
  type ClientEvent,
  type CloseReason,
  type Connection,
  type PerConnection,
} from 'rxnet';
import {
  consoleLog,
  describe,
  formatTimestamp,
  parseCommandLine,
  positiveNumber,
  reconnecting,
  runMain,
  runUntilStopped,
  type ExampleHandle,
  type Log,
  type ReconnectOption,
} from './cli';

/** Where the seed connects: port 8007 on this host. */
export const DEFAULT_SPREAD_CLIENT_ENDPOINT = 'tcp:localhost:8007';
/** Seconds between two messages, as the seed's `time.sleep(5)`. */
export const DEFAULT_SPREAD_EVERY_SECONDS = 5;
/** The name in the messages when none is given: this program's name, as the seed uses `sys.argv[0]`. */
export const DEFAULT_SPREAD_CLIENT_NAME = 'spread-client';

/** Options of {@link spreadSender}. */
export interface SpreadSenderOptions {
  /** @defaultValue {@link DEFAULT_SPREAD_CLIENT_NAME} */
  readonly name?: string;
  /** Seconds between messages. @defaultValue {@link DEFAULT_SPREAD_EVERY_SECONDS} */
  readonly every?: number;
  /** Messages per connection; unlimited when absent. */
  readonly count?: number;
  /** The clock: where the timer runs and where the timestamps come from. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
}

/** The seed's message: `hello, I'm NAME TIMESTAMP`, the time as `%Y-%m-%d %H:%M:%S` local time. */
export function helloMessage(name: string, now: number): string {
  return `hello, I'm ${name} ${formatTimestamp(now)}`;
}

/**
 * The seed's sending thread as an operator: for each connection it emits {@link helloMessage}s,
 * the first at once and then one every `every` seconds, until the next connection (or `count`).
 * The seed's thread checks `connected` and sleeps; here a connection starts the series and the
 * connection's end stops it, so nothing is sent while disconnected.
 */
export function spreadSender<T>(options: SpreadSenderOptions = {}): OperatorFunction<T, string> {
  const name = options.name ?? DEFAULT_SPREAD_CLIENT_NAME;
  const every = options.every ?? DEFAULT_SPREAD_EVERY_SECONDS;
  return sendEvery(every * 1000, (_index, now) => helloMessage(name, now), {
    ...(options.count === undefined ? {} : { count: options.count }),
    scheduler: options.scheduler ?? asyncScheduler,
  });
}

/** Options of {@link spreadClient}. */
export interface SpreadClientConfig extends SpreadSenderOptions {
  /**
   * Reconnect when the connection fails or is lost: `true` for Twisted's `ReconnectingClientFactory`
   * backoff, or its delays, factor, jitter (and `random`, its source) and retry limit. The retry
   * timers run on `scheduler`. @defaultValue `false`
   */
  readonly reconnect?: ReconnectOption;
  /** Where the lifecycle and the received data are printed. @defaultValue stdout */
  readonly log?: Log;
}

/** Options of {@link start}. */
export interface SpreadClientOptions extends SpreadClientConfig {
  /** A Twisted client endpoint description. @defaultValue {@link DEFAULT_SPREAD_CLIENT_ENDPOINT} */
  readonly endpoint?: string;
  /** Shorthand for `tcp:localhost:PORT`; ignored when `endpoint` is given. */
  readonly port?: number;
}

/** A close reason in words, like Twisted's `Failure` printout (`Connection was closed cleanly.`). */
export function describeReason(reason: CloseReason): string {
  switch (reason.type) {
    case 'done':
      return 'Connection was closed cleanly.';
    case 'lost':
      return `Connection to the other side was lost in a non-clean fashion: ${describe(reason.error.cause ?? reason.error)}`;
    case 'aborted':
      return reason.error === undefined
        ? 'Connection was aborted.'
        : `Connection was aborted: ${describe(reason.error)}`;
    default:
      return `Connection timed out: ${describe(reason.error)}`;
  }
}

/**
 * The seed's `Protocol` for one connection, as a per-connection protocol: prints each chunk it
 * receives, and writes the {@link spreadSender} messages. With a `count`, it completes once the
 * last message is written, which ends the connection (flush, then FIN); `onFinished` is called
 * first. Without one it runs until the connection closes.
 */
export function spreadProtocol(
  options: SpreadSenderOptions,
  log: Log,
  onFinished: () => void = () => undefined,
): PerConnection<Buffer, string> {
  return (conn) =>
    defer(() => {
      // The messages decide when the session is over: printing stops with the last one.
      const finished = new Subject<void>();
      return merge(
        conn.frames$.pipe(
          tap((chunk) => log(withoutLineEnd(chunk.toString('utf8')))),
          ignoreElements(),
          takeUntil(finished),
        ),
        of(conn).pipe(
          spreadSender(options),
          tap({
            complete: () => {
              onFinished();
              finished.next();
            },
          }),
        ),
      );
    });
}

/**
 * One connection's session: {@link spreadProtocol} run on it with rxnet's `runProtocol`.
 * Completes when the connection has closed (the lifecycle stream reports why).
 */
export function spreadSession(
  connection: Connection,
  options: SpreadSenderOptions,
  log: Log,
  onFinished: () => void = () => undefined,
): Observable<never> {
  return runProtocol(connection, spreadProtocol(options, log, onFinished));
}

function withoutLineEnd(text: string): string {
  return text.endsWith('\n') ? text.slice(0, text.endsWith('\r\n') ? -2 : -1) : text;
}

/**
 * The whole Spread client as a function of its connection attempts: logs each step of the
 * lifecycle as the seed's `ClientFactory` prints it, runs a {@link spreadSession} on each
 * connection, and with `reconnect` retries with Twisted's backoff, the delay reset once connected.
 *
 * `attempt` is called for each connection attempt, every retry included, and returns that
 * attempt's lifecycle, as rxnet's `connectEvents(endpoint)` or a `VirtualNetwork`'s
 * `connectEvents(name)` does; nothing here knows which, so the same client runs over TCP and on
 * the virtual network, and on a marble stream in a unit test.
 *
 * @param attempt Makes one connection attempt: `() => connectEvents(endpoint)`, or
 * `() => net.connectEvents(name)` on a `VirtualNetwork`.
 * @param options The messages (name, interval, count), the clock they and the retries run on, the
 * backoff, and the log.
 * @returns An Observable that emits the exit code and completes when the client finishes by
 * itself: 0 after `count` messages were sent (the connection is then closed) or when the server
 * closed the connection cleanly; 1 when the connection failed or was lost uncleanly and `reconnect`
 * is off. Unsubscribing stops the client: it cancels an attempt or a pending retry, or ends the
 * connection.
 */
export function spreadClient(
  attempt: () => Observable<ClientEvent>,
  options: SpreadClientConfig = {},
): Observable<number> {
  const { log = consoleLog } = options;
  const scheduler = options.scheduler ?? asyncScheduler;
  const lifecycle = reconnecting(attempt, options.reconnect, scheduler);
  return defer(() => {
    // Per subscription, so that each run of the client counts its own messages.
    let finished = false;
    return lifecycle.pipe(
      // Once the last message has gone, the end of the connection ends the client: no reconnect.
      takeWhile((event) => !(finished && (event.type === 'lost' || event.type === 'failed')), true),
      tap((event) => log(describeEvent(event))),
      switchMap((event) => {
        if (event.type !== 'connected') return of(event);
        return spreadSession(event.connection, { ...options, scheduler }, log, () => {
          finished = true;
        });
      }),
      last(undefined, undefined),
      map((event) => {
        if (finished || event === undefined) return 0;
        return event.type === 'lost' && event.reason.type === 'done' ? 0 : 1;
      }),
    );
  });
}

/**
 * Starts the client on a real endpoint: {@link spreadClient} over rxnet's `connectEvents`. `done`
 * resolves with the exit code (see {@link spreadClient}), or 0 once `stop()` has stopped it.
 */
export async function start(options: SpreadClientOptions = {}): Promise<ExampleHandle> {
  const endpoint =
    options.endpoint ??
    (options.port === undefined ? DEFAULT_SPREAD_CLIENT_ENDPOINT : `tcp:localhost:${options.port}`);
  // Parsed here, so a bad description fails start() (a usage error) rather than the first attempt.
  const events$ = connectEvents(endpoint);
  return runUntilStopped(spreadClient(() => events$, options));
}

function describeEvent(event: ClientEvent): string {
  switch (event.type) {
    case 'connecting':
      return 'Start to Connect...';
    case 'connected':
      return 'Connected...';
    case 'lost':
      return `Lost connection. Reason: ${describeReason(event.reason)}`;
    default:
      return `Connection is failed, Reason: ${describe(event.error)}`;
  }
}

/** The usage line printed, with exit code 2, for bad arguments. */
export const USAGE =
  'usage: spread-client [ENDPOINT (default tcp:localhost:8007)] [--every SECONDS] [--count N] [--name NAME] [--reconnect]';

/** Parses the command line of `spread-client`; throws `UsageError` when it is wrong. */
export function parseSpreadClientArgs(argv: readonly string[]): SpreadClientOptions {
  const { endpoint, values } = parseCommandLine(argv, {
    every: { type: 'string' },
    count: { type: 'string' },
    name: { type: 'string' },
    reconnect: { type: 'boolean' },
  });
  const every = positiveNumber('every', values.every);
  const count = positiveNumber('count', values.count, true);
  return {
    endpoint: endpoint ?? DEFAULT_SPREAD_CLIENT_ENDPOINT,
    name:
      values.name ??
      (process.argv[1] === undefined ? DEFAULT_SPREAD_CLIENT_NAME : basename(process.argv[1])),
    ...(every === undefined ? {} : { every }),
    ...(count === undefined ? {} : { count }),
    ...(values.reconnect === true ? { reconnect: true } : {}),
  };
}

/** The option list `--help` prints under {@link USAGE}. */
export const HELP = `Connects to a Spread server, prints what it receives, and sends "hello, I'm NAME TIME"
at once and then every few seconds.

  ENDPOINT           a Twisted client endpoint, e.g. tcp:localhost:8007
  --every SECONDS    time between messages (default ${DEFAULT_SPREAD_EVERY_SECONDS})
  --count N          stop after N messages, close the connection and exit 0
  --name NAME        the name in the messages (default: this script's file name)
  --reconnect        try again with Twisted's ReconnectingClientFactory backoff when the
                     connection fails or is lost
  -h, --help         print this help and exit`;

if (require.main === module) runMain(USAGE, parseSpreadClientArgs, start, HELP);

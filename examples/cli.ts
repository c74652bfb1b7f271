/**
 * What the example programs share when they run standalone: argument parsing with a usage line,
 * the injectable log, local timestamps, a clean stop on SIGINT/SIGTERM, and serving a framed
 * behaviour with a log of its connections.
 *
 * Not part of rxnet's API: it is the small amount of process plumbing every example would
 * otherwise repeat.
 *
 * @packageDocumentation
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  defer,
  lastValueFrom,
  Subject,
  Subscription,
  takeUntil,
  type Observable,
  type SchedulerLike,
} from 'rxjs';
import {
  describeCloseReason,
  InvalidEndpointError,
  reconnect,
  serve,
  type Address,
  type Behaviour,
  type ClientEvent,
  type ReconnectConfig,
  type ServeOptions,
  type ShutdownComplete,
  type TcpAddress,
} from 'rxnet';

/** Where an example prints its lifecycle lines; tests pass a function that records them. */
export type Log = (line: string) => void;

/** Prints one line to stdout, the default {@link Log} of every example. */
export const consoleLog: Log = (line) => {
  process.stdout.write(`${line}\n`);
};

/** What `start()` of every example returns: enough for a test or `main` to stop it. */
export interface ExampleHandle {
  /**
   * Stops listening or connecting and closes every connection; resolves once all are closed. A
   * server shuts down gracefully (rxnet's `shutdown` option): what clients already sent is
   * served, output is flushed and each connection closed with FIN, and what is still open at the
   * deadline is aborted. Calling it again waits for the same stop.
   */
  stop(): Promise<void>;
  /** Aborts at once what a graceful {@link ExampleHandle.stop} still waits for; a second signal calls it. */
  force?(): void;
  /**
   * For examples that finish on their own (the clients): resolves with the process exit code.
   * Servers leave it undefined and run until stopped.
   */
  readonly done?: Promise<number>;
}

/**
 * A client example's `reconnect` option: off (`false`, the default), Twisted's
 * `ReconnectingClientFactory` backoff (`true`), or its delays, factor, jitter and retry limit.
 */
export type ReconnectOption =
  boolean | Omit<ReconnectConfig<ClientEvent>, 'resetWhen' | 'scheduler'>;

/**
 * A client's connection attempts, each a new `attempt()`, tried again with backoff on `scheduler`
 * when `option` asks for it; a connection resets the backoff.
 */
export function reconnecting(
  attempt: () => Observable<ClientEvent>,
  option: ReconnectOption | undefined,
  scheduler: SchedulerLike,
): Observable<ClientEvent> {
  const attempts = defer(attempt);
  if (option === undefined || option === false) return attempts;
  return attempts.pipe(
    reconnect<ClientEvent>({
      ...(option === true ? {} : option),
      resetWhen: (event) => event.type === 'connected',
      scheduler,
    }),
  );
}

/**
 * A client example's handle: runs `program` (it emits exit codes) until it completes or `stop()`
 * is called. `done` resolves with the last code, or 0 when stopped first (SIGINT, SIGTERM: a
 * clean exit).
 */
export function runUntilStopped(program: Observable<number>): ExampleHandle {
  const stopped = new Subject<void>();
  const done = lastValueFrom(program.pipe(takeUntil(stopped)), { defaultValue: 0 });
  return {
    done,
    stop: async () => {
      stopped.next();
      await done;
    },
  };
}

/** The command line was wrong; `main` prints the usage line and exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The exit code for bad arguments, as in BSD's `EX_USAGE` convention used by most CLIs: 2. */
export const EXIT_USAGE = 2;

/**
 * `--help` (or `-h`) was given: `main` prints the usage line and the option list on stdout and
 * exits 0. Thrown by {@link parseCommandLine}, so every example accepts it without declaring it.
 */
export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
}

/** The option every example accepts on top of its own. */
const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * Parses `argv` with `node:util`'s strict `parseArgs`, allowing at most one positional argument
 * (the endpoint description); any unknown option or extra argument becomes a {@link UsageError},
 * and `--help`/`-h` a {@link HelpRequested}, whatever else is on the line.
 */
export function parseCommandLine<O extends NonNullable<ParseArgsConfig['options']>>(
  argv: readonly string[],
  options: O,
): {
  endpoint: string | undefined;
  values: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true }>>['values'];
} {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...options, ...HELP_OPTION },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // `--help` next to a mistake still asks for help: the mistake is what help is for.
    if (argv.includes('--help') || argv.includes('-h')) throw new HelpRequested();
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { help, ...values } = parsed.values as typeof parsed.values & { help?: boolean };
  if (help === true) throw new HelpRequested();
  if (parsed.positionals.length > 1) {
    throw new UsageError(`expected one endpoint, got ${parsed.positionals.length} arguments`);
  }
  return {
    endpoint: parsed.positionals[0],
    values: values as ReturnType<
      typeof parseArgs<{ options: O; allowPositionals: true }>
    >['values'],
  };
}

/** Parses a positive number of seconds or a count, or throws a {@link UsageError} naming the option. */
export function positiveNumber(
  option: string,
  text: string | undefined,
  integer = false,
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new UsageError(
      `--${option} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** Checks that `text` is one of `choices`, or throws a {@link UsageError} naming the option. */
export function oneOf<C extends string>(
  option: string,
  text: string | undefined,
  choices: readonly C[],
): C | undefined {
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(
      `--${option} must be one of ${choices.join(', ')}, got ${JSON.stringify(text)}`,
    );
  }
  return text as C;
}

/**
 * Formats a time as `%Y-%m-%d %H:%M:%S` in local time: the seed prints Python's `datetime.now()`,
 * and this is that format without the microseconds, which would only make the output noisier.
 */
export function formatTimestamp(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number): string => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ` +
    `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
  );
}

/**
 * Runs an example as a program: parses the arguments, starts it, stops it cleanly on SIGINT or
 * SIGTERM (exit 0), and exits with the example's own code when it finishes by itself.
 *
 * `--help` prints `usage` and `help` (the options, one per line) on stdout and exits 0. Bad
 * arguments, including an endpoint rxnet cannot parse, print `usage` to stderr and exit 2.
 */
export function runMain<A>(
  usage: string,
  parse: (argv: readonly string[]) => A,
  start: (args: A) => Promise<ExampleHandle>,
  help = '',
): void {
  let args: A;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    if (error instanceof HelpRequested) {
      process.stdout.write(helpText(usage, help));
      process.exit(0);
    }
    exitWithUsage(usage, error);
    return;
  }
  let handle: ExampleHandle | undefined;
  let stopping = false;
  const finish = (code: number): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.exit(code);
  };
  // Registered before starting, so a signal during start-up also ends the process with code 0.
  // The first signal stops gracefully; the next one forces the stop (or exits, if nothing can be
  // forced), as a second Ctrl-C does in most servers.
  function onSignal(signal: NodeJS.Signals): void {
    if (stopping) {
      process.stderr.write(`${signal}: forcing the stop\n`);
      if (handle?.force === undefined) finish(0);
      else handle.force();
      return;
    }
    stopping = true;
    process.stderr.write(`${signal}: stopping\n`);
    if (handle === undefined) {
      finish(0);
      return;
    }
    handle.stop().then(
      () => finish(0),
      (error: unknown) => {
        process.stderr.write(`error while stopping: ${describe(error)}\n`);
        finish(1);
      },
    );
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  start(args).then(
    (started) => {
      handle = started;
      started.done?.then(finish, (error: unknown) => {
        process.stderr.write(`${describe(error)}\n`);
        finish(1);
      });
    },
    (error: unknown) => {
      if (error instanceof InvalidEndpointError || error instanceof UsageError) {
        exitWithUsage(usage, error);
        return;
      }
      process.stderr.write(`${describe(error)}\n`);
      finish(1);
    },
  );
}

/** What `--help` prints: the usage line, then the option list, if any. */
export function helpText(usage: string, help: string): string {
  return help === '' ? `${usage}\n` : `${usage}\n\n${help.trimEnd()}\n`;
}

function exitWithUsage(usage: string, error: unknown): void {
  process.stderr.write(`${describe(error)}\n${usage}\n`);
  process.exit(EXIT_USAGE);
}

/**
 * An error's message with its code, and its cause's code when the message lacks it, for one line
 * on stderr: `RXNET_ERR_CONNECT: Could not connect to tcp:localhost:8007: ECONNREFUSED`.
 */
export function describe(error: unknown): string {
  // Duck-typed rather than `instanceof Error`: Node's own errors come from another realm under jest.
  if (typeof error !== 'object' || error === null || !('message' in error)) return String(error);
  const { message, code, cause } = error as { message: unknown; code?: unknown; cause?: unknown };
  let text = String(message);
  const causeCode =
    typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  if (typeof causeCode === 'string' && !text.includes(causeCode)) text += `: ${causeCode}`;
  return typeof code === 'string' ? `${code}: ${text}` : text;
}

/** A running server started by {@link serveLogged}. */
export interface LoggedServer extends ExampleHandle {
  readonly address: TcpAddress;
}

/**
 * A server's graceful stop, shared by the example servers: `trigger` is given to `serve` as its
 * `shutdown`; `stop()` emits it once and resolves when the server has ended; `force()` emits it
 * (again), which aborts what the shutdown still waits for.
 */
export class GracefulStop {
  readonly trigger = new Subject<void>();
  readonly ended: Promise<void>;
  private requested = false;
  private resolveEnded!: () => void;

  constructor() {
    this.ended = new Promise<void>((resolve) => {
      this.resolveEnded = resolve;
    });
  }

  readonly stop = (): Promise<void> => {
    if (!this.requested) {
      this.requested = true;
      this.trigger.next();
    }
    return this.ended;
  };

  readonly force = (): void => {
    if (!this.requested) {
      this.requested = true;
      this.trigger.next();
    }
    this.trigger.next();
  };

  /** The server completed, failed, or was unsubscribed. */
  end(): void {
    this.resolveEnded();
  }
}

/** `shutdown: 3 closed gracefully, 1 aborted (120 bytes dropped)`, and `, forced` after a second signal. */
export function describeShutdown(report: ShutdownComplete): string {
  const dropped = report.droppedBytes > 0 ? ` (${report.droppedBytes} bytes dropped)` : '';
  const forced = report.forced ? ', forced' : '';
  return `shutdown: ${report.graceful} closed gracefully, ${report.aborted} aborted${dropped}${forced}`;
}

/**
 * Serves `behaviour` with rxnet's `serve()` and its options (a `framing` codec, connection
 * limits), and resolves once it listens. Logs `listening on HOST:PORT`, then
 * `#ID connected from HOST:PORT` and `#ID closed: REASON` (rxnet's `describeCloseReason`) for each
 * connection, any write the server could not carry out, and the shutdown's report. `stop()` shuts
 * the server down gracefully ({@link GracefulStop}); `force()` aborts what it still waits for.
 *
 * Rejects with `InvalidEndpointError` for a bad description, `ListenError` when binding fails,
 * and a `TypeError` for an endpoint that is not TCP.
 */
export function serveLogged<T, O>(
  endpoint: string,
  behaviour: Behaviour<T, O>,
  options: ServeOptions<T, O>,
  log: Log,
): Promise<LoggedServer> {
  return new Promise<LoggedServer>((resolve, reject) => {
    const server = new Subscription();
    const graceful = new GracefulStop();
    server.add(() => graceful.end());
    server.add(
      serve(endpoint, behaviour, { ...options, shutdown: graceful.trigger }).subscribe({
        next(notification) {
          switch (notification.type) {
            case 'listening': {
              const { address } = notification;
              if (address._tag !== 'TcpAddress') {
                reject(new TypeError(`the examples serve TCP endpoints, not ${endpoint}`));
                server.unsubscribe();
                return;
              }
              log(`listening on ${describeAddress(address)}`);
              resolve({ address, stop: graceful.stop, force: graceful.force });
              return;
            }
            case 'connectionMade':
              log(`#${notification.id} connected from ${describeAddress(notification.remote)}`);
              return;
            case 'connectionLost':
              log(`#${notification.id} closed: ${describeCloseReason(notification.reason)}`);
              return;
            case 'writeFailed':
            case 'commandRejected':
              log(`${notification.type}: ${describe(notification.error)}`);
              return;
            case 'shutdownComplete':
              log(describeShutdown(notification));
              return;
            default:
              return;
          }
        },
        error(error: unknown) {
          reject(error);
          log(`server failed: ${describe(error)}`);
          graceful.end();
        },
        complete() {
          graceful.end();
        },
      }),
    );
  });
}

/** `127.0.0.1:8007`, `[::1]:8007`, or a Unix socket's path: how the examples log an address. */
export function describeAddress(address: Address): string {
  switch (address._tag) {
    case 'TcpAddress':
      return address.family === 'IPv6'
        ? `[${address.hostname}]:${address.port}`
        : `${address.hostname}:${address.port}`;
    case 'UnixAddress':
      return address.path;
    default:
      return address.name;
  }
}

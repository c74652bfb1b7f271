/**
 * What every benchmark server shares, so that the rxnet and the raw `net` variant of a workload
 * differ only in the code under test: argument parsing, the time limit, the "listening" line the
 * runner waits for, and the memory report the idle-memory workload asks for.
 *
 * Usage of every server: `npx ts-node bench/servers/<name>.ts tcp:PORT[:interface=HOST][:backlog=N] [--time-limit=SECONDS]`.
 *
 * @packageDocumentation
 */

/** How long a server started by hand lives, so a forgotten one does not hold its port forever. */
export const DEFAULT_TIME_LIMIT_SECONDS = 120;

/** A server's command line, parsed. */
export interface ServerArgs {
  /** The endpoint as given, for rxnet's own endpoint parser. */
  readonly endpoint: string;
  /** The port, host and backlog parsed from `tcp:PORT[:interface=HOST][:backlog=N]`, for the raw servers. */
  readonly port: number;
  readonly host: string;
  /** Node's default (511) unless the endpoint says otherwise. */
  readonly backlog: number;
  readonly timeLimitSeconds: number;
}

/** One line of JSON a server prints on stdout; the runner reads these. */
export type ServerReport =
  | { readonly event: 'listening'; readonly port: number; readonly pid: number }
  | {
      readonly event: 'memory';
      readonly rss: number;
      readonly heapTotal: number;
      readonly heapUsed: number;
      readonly external: number;
    };

/**
 * Parses `tcp:PORT[:interface=HOST]` and `--time-limit=SECONDS`; exits with a usage message on
 * anything else, since a benchmark server has no one to report a typed error to.
 */
export function parseServerArgs(argv: readonly string[], name: string): ServerArgs {
  let endpoint: string | undefined;
  let timeLimitSeconds = DEFAULT_TIME_LIMIT_SECONDS;
  for (const arg of argv) {
    if (arg.startsWith('--time-limit='))
      timeLimitSeconds = Number(arg.slice('--time-limit='.length));
    else endpoint ??= arg;
  }
  const match = /^tcp:(\d+)((?::[a-zA-Z]+=[^:]+)*)$/.exec(endpoint ?? '');
  if (endpoint === undefined || match === null || !(timeLimitSeconds > 0)) {
    process.stderr.write(
      `usage: npx ts-node bench/servers/${name}.ts tcp:PORT[:interface=HOST] [--time-limit=SECONDS]\n`,
    );
    process.exit(2);
  }
  // Loopback unless told otherwise, for rxnet too (whose bare `tcp:PORT` means every interface).
  const host = /:interface=([^:]+)/.exec(match[2] ?? '')?.[1] ?? '127.0.0.1';
  if (!endpoint.includes(':interface=')) endpoint = `${endpoint}:interface=${host}`;
  const backlog = Number(/:backlog=(\d+)/.exec(match[2] ?? '')?.[1] ?? 511);
  return { endpoint, port: Number(match[1]), host, backlog, timeLimitSeconds };
}

/** Prints one report line; the runner parses stdout line by line. */
export function report(line: ServerReport): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

/** Reports the bound port: from `server.address()` (raw) or rxnet's `Address`. */
export function reportListening(address: { readonly port?: number } | string | null): void {
  const port = typeof address === 'object' && address !== null ? address.port : undefined;
  report({ event: 'listening', port: port ?? Number.NaN, pid: process.pid });
}

/** The greeting line of the seed's Spread server, in English, without its newline (for line-framed servers). */
export function greetingText(count: number): string {
  return `Welcome to Spread Site, you are client number ${count}!`;
}

/** The greeting as bytes on the wire: the same in every variant. */
export function greeting(count: number): string {
  return `${greetingText(count)}\n`;
}

/**
 * Arms the time limit and the memory probe. On SIGUSR2 the server collects garbage (when started
 * with `--expose-gc`) and reports its memory, so the idle workload compares live memory rather
 * than whatever the collector has not got round to yet.
 */
export function startHarness(args: ServerArgs): void {
  // unref: a server that has closed its socket should not stay alive just for this timer.
  setTimeout(function onTimeLimit() {
    process.exit(0);
  }, args.timeLimitSeconds * 1000).unref();
  process.on('SIGUSR2', function onMemoryProbe() {
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const { rss, heapTotal, heapUsed, external } = process.memoryUsage();
    report({ event: 'memory', rss, heapTotal, heapUsed, external });
  });
  process.on('SIGTERM', function onTerminate() {
    process.exit(0);
  });
}

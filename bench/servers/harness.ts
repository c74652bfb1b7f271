/**
 * What every benchmark server shares, so that the rxnet and the raw `net` variant of a workload
 * differ only in the code under test: argument parsing, the time limit, the "listening" line the
 * runner waits for, and the memory report the idle-memory workload asks for.
 *
 * Usage of every server: `npx ts-node bench/servers/<name>.ts tcp:PORT[:interface=HOST][:backlog=N] [--time-limit=SECONDS] [--app-heap-mb=N]`.
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
  /** Megabytes of live JavaScript objects to hold for the server's life (see {@link holdApplicationHeap}); 0 by default. */
  readonly appHeapMb: number;
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
  let appHeapMb = 0;
  for (const arg of argv) {
    if (arg.startsWith('--time-limit='))
      timeLimitSeconds = Number(arg.slice('--time-limit='.length));
    else if (arg.startsWith('--app-heap-mb='))
      appHeapMb = Number(arg.slice('--app-heap-mb='.length));
    else endpoint ??= arg;
  }
  const match = /^tcp:(\d+)((?::[a-zA-Z]+=[^:]+)*)$/.exec(endpoint ?? '');
  if (endpoint === undefined || match === null || !(timeLimitSeconds > 0) || !(appHeapMb >= 0)) {
    process.stderr.write(
      `usage: npx ts-node bench/servers/${name}.ts tcp:PORT[:interface=HOST] [--time-limit=SECONDS] [--app-heap-mb=N]\n`,
    );
    process.exit(2);
  }
  // Loopback unless told otherwise, for rxnet too (whose bare `tcp:PORT` means every interface).
  const host = /:interface=([^:]+)/.exec(match[2] ?? '')?.[1] ?? '127.0.0.1';
  if (!endpoint.includes(':interface=')) endpoint = `${endpoint}:interface=${host}`;
  const backlog = Number(/:backlog=(\d+)/.exec(match[2] ?? '')?.[1] ?? 511);
  return { endpoint, port: Number(match[1]), host, backlog, timeLimitSeconds, appHeapMb };
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
  if (args.appHeapMb > 0) retained.push(holdApplicationHeap(args.appHeapMb));
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

/** What {@link holdApplicationHeap} built: referenced here so that it lives as long as the server. */
const retained: unknown[] = [];

/**
 * Holds about `megabytes` of small live objects, as a real server's code, caches and sessions do.
 *
 * Why a benchmark needs this: V8 starts incremental marking only once the old generation holds
 * more than 8 MB, and a bare `net` echo server holds about 7 MB, so it never runs a mark-compact
 * however much it allocates. A server that loads more code (rxnet and RxJS add about 3 MB) crosses
 * that line, and under an echo of hundreds of MB/s V8 then counts the read buffers allocated since
 * the last mark-compact against the old generation's limit and marks again and again. Every
 * application of any size is over the line, so the echo workload also runs both servers holding
 * the same application heap: the comparison a user's server is in. Sized by `heapUsed`, so it is
 * the same for every server, whatever each object costs on this V8.
 */
export function holdApplicationHeap(megabytes: number): unknown[] {
  const held: unknown[] = [];
  const start = process.memoryUsage().heapUsed;
  const goal = megabytes * 1024 * 1024;
  while (process.memoryUsage().heapUsed - start < goal) {
    const batch: { id: number; name: string; seen: number }[] = [];
    for (let i = 0; i < 10_000; i++) {
      const id = held.length * 10_000 + i;
      batch.push({ id, name: `session-${id}`, seen: 0 });
    }
    held.push(batch);
  }
  return held;
}

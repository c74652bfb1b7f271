/**
 * The client of `examples/rpc-server.ts`: pipelines 1000 requests on one connection, checks that
 * every reply carries its request's id and echoes the request, prints a summary and exits 0; or
 * exits 1 saying which request went wrong (or that the connection failed).
 *
 * The client half is rxnet's `requester()`: `requestAsync()` sends a request and resolves with
 * the reply that carries its id, keeping up to `--in-flight` requests on the wire at once. Its
 * protocol runs on the connection with `runProtocol()` and {@link rpcClientFraming}, the server's
 * frames seen from this side.
 *
 * Run: `npx ts-node examples/rpc-client.ts [ENDPOINT] [--count N] [--in-flight N]`
 * (`npm run example:rpc-client`); the endpoint defaults to `tcp:localhost:7000`.
 *
 * @packageDocumentation
 */
import { performance } from 'node:perf_hooks';
import { isDeepStrictEqual } from 'node:util';
import { lastValueFrom, map } from 'rxjs';
import {
  clientFromString,
  connectAsync,
  encodeLengthPrefixedFrame,
  lengthPrefixed,
  requester,
  runProtocol,
  type Codec,
} from 'rxnet';
import {
  consoleLog,
  describe,
  parseCommandLine,
  positiveNumber,
  runMain,
  type ExampleHandle,
  type Log,
} from './cli';
import { RPC_FRAME, type RpcReply, type RpcRequest } from './rpc-server';

/** Where the client connects by default. */
export const DEFAULT_RPC_CLIENT_ENDPOINT = 'tcp:localhost:7000';
/** How many requests a run sends. */
export const DEFAULT_RPC_COUNT = 1000;
/** How many requests are on the wire at once, waiting for their replies. */
export const DEFAULT_RPC_IN_FLIGHT = 100;
/** How long one request may wait for its reply, in milliseconds. */
export const RPC_TIMEOUT_MS = 10_000;

/** The `n`-th request of a run: its id, and a body with something in it worth echoing. */
export function rpcRequest(n: number): RpcRequest {
  return { id: n, method: 'echo', params: { text: `request ${n}`, squares: [n, n * n] } };
}

/**
 * The server's wire format from the client's side: replies in, parsed from their JSON frames;
 * requests out, as JSON frames. A reply that is not JSON fails the connection: the server broke
 * the protocol.
 */
export const rpcClientFraming: Codec<RpcReply, RpcRequest> = {
  decode: (bytes) =>
    bytes.pipe(
      lengthPrefixed(RPC_FRAME),
      map((frame) => JSON.parse(frame.toString('utf8')) as RpcReply),
    ),
  encode: (request) => encodeLengthPrefixedFrame(JSON.stringify(request), RPC_FRAME),
};

/** What became of one request: its reply, or the error it failed with. */
export type RpcOutcome = { readonly reply: RpcReply } | { readonly error: unknown };

/**
 * Checks one request's outcome: `undefined` when the reply is `ok`, carries the request's id and
 * echoes the request; otherwise what is wrong, in words.
 */
export function checkReply(request: RpcRequest, outcome: RpcOutcome): string | undefined {
  const what = `request ${String(request.id)}`;
  if ('error' in outcome) return `${what} failed: ${describe(outcome.error)}`;
  const { reply } = outcome;
  if (!reply.ok) return `${what} was refused: ${reply.error}`;
  if (reply.id !== request.id) return `${what} got the reply of ${String(reply.id)}`;
  if (!isDeepStrictEqual(reply.echo, request)) {
    return `${what} got ${JSON.stringify(reply.echo)} back, not ${JSON.stringify(request)}`;
  }
  return undefined;
}

/** Options of {@link rpcRun} and {@link start}. */
export interface RpcClientOptions {
  /** A Twisted client endpoint description. @defaultValue {@link DEFAULT_RPC_CLIENT_ENDPOINT} */
  readonly endpoint?: string;
  /** @defaultValue {@link DEFAULT_RPC_COUNT} */
  readonly count?: number;
  /** @defaultValue {@link DEFAULT_RPC_IN_FLIGHT} */
  readonly inFlight?: number;
  /** @defaultValue {@link RPC_TIMEOUT_MS} */
  readonly timeoutMs?: number;
  /** Where the summary, or what went wrong, is printed. @defaultValue stdout */
  readonly log?: Log;
}

/**
 * Connects, sends the requests (all at once: the requester keeps `inFlight` of them on the wire
 * and queues the rest), checks every reply, closes the connection, and resolves with the exit
 * code: 0 when every reply was right, 1 otherwise (or when the connection failed), having logged
 * the summary or the first problem and how many there were. `signal` stops it early (exit 0).
 */
export async function rpcRun(
  options: RpcClientOptions = {},
  signal?: AbortSignal,
): Promise<number> {
  const { log = consoleLog } = options;
  const endpoint = options.endpoint ?? DEFAULT_RPC_CLIENT_ENDPOINT;
  const count = options.count ?? DEFAULT_RPC_COUNT;
  const inFlight = options.inFlight ?? DEFAULT_RPC_IN_FLIGHT;
  let connection;
  try {
    // Small pipelined requests: Nagle's algorithm would hold each back for the server's ACK.
    connection = await connectAsync(endpoint, {
      noDelay: true,
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (error: unknown) {
    if (signal?.aborted === true) return 0;
    log(`rpc-client: ${describe(error)}`);
    return 1;
  }
  const rpc = requester<RpcRequest, RpcReply>({
    correlate: { requestId: (request) => request.id, replyId: (reply) => reply.id },
    maxInFlight: inFlight,
    maxQueued: count,
    timeout: options.timeoutMs ?? RPC_TIMEOUT_MS,
  });
  const onAbort = (): void => rpc.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  // Completes once the connection has closed; fails when the server broke the protocol.
  const running = lastValueFrom(
    runProtocol(connection, rpc.protocol, { framing: rpcClientFraming }),
    { defaultValue: undefined },
  ).then(
    () => undefined,
    (error: unknown) => error,
  );

  const started = performance.now();
  const requests = Array.from({ length: count }, (_, i) => rpcRequest(i + 1));
  const outcomes = await Promise.all(
    requests.map((request) =>
      rpc.requestAsync(request).then(
        (reply): RpcOutcome => ({ reply }),
        (error: unknown): RpcOutcome => ({ error }),
      ),
    ),
  );
  const elapsed = performance.now() - started;
  rpc.close();
  const broken = await running;
  signal?.removeEventListener('abort', onAbort);
  if (signal?.aborted === true) return 0;

  const problems = requests
    .map((request, i) => checkReply(request, outcomes[i]!))
    .filter((problem): problem is string => problem !== undefined);
  if (problems.length > 0 || broken !== undefined) {
    const first = problems[0] ?? `the connection failed: ${describe(broken)}`;
    log(`rpc-client: ${problems.length} of ${count} replies were wrong; the first: ${first}`);
    return 1;
  }
  const rate = Math.round((count / elapsed) * 1000);
  log(
    `${count} requests, ${count} replies checked in ${Math.round(elapsed)} ms ` +
      `(${rate}/s, up to ${inFlight} in flight)`,
  );
  return 0;
}

/** Starts {@link rpcRun}; `done` resolves with its exit code, and `stop()` ends it early. */
export async function start(options: RpcClientOptions = {}): Promise<ExampleHandle> {
  // Parsed here, so a bad description fails start() (a usage error) rather than the run.
  clientFromString(options.endpoint ?? DEFAULT_RPC_CLIENT_ENDPOINT);
  const stopping = new AbortController();
  const done = rpcRun(options, stopping.signal);
  return {
    done,
    stop: async () => {
      stopping.abort();
      await done;
    },
  };
}

/** The usage line printed, with exit code 2, for bad arguments. */
export const USAGE =
  'usage: rpc-client [ENDPOINT (default tcp:localhost:7000)] [--count N] [--in-flight N]';

/** The option list `--help` prints under {@link USAGE}. */
export const HELP = `Sends numbered JSON requests to an rpc-server over one connection, pipelined, checks that
each reply has the request's id and echoes it, prints a summary and exits 0; exits 1 saying
what went wrong otherwise.

  ENDPOINT           a Twisted client endpoint, e.g. tcp:localhost:7000
  --count N          how many requests to send (default ${DEFAULT_RPC_COUNT})
  --in-flight N      how many may wait for their replies at once (default ${DEFAULT_RPC_IN_FLIGHT})
  -h, --help         print this help and exit`;

/** Parses the command line of `rpc-client`; throws `UsageError` when it is wrong. */
export function parseRpcClientArgs(argv: readonly string[]): RpcClientOptions {
  const { endpoint, values } = parseCommandLine(argv, {
    count: { type: 'string' },
    'in-flight': { type: 'string' },
  });
  const count = positiveNumber('count', values.count, true);
  const inFlight = positiveNumber('in-flight', values['in-flight'], true);
  return {
    endpoint: endpoint ?? DEFAULT_RPC_CLIENT_ENDPOINT,
    ...(count === undefined ? {} : { count }),
    ...(inFlight === undefined ? {} : { inFlight }),
  };
}

if (require.main === module) runMain(USAGE, parseRpcClientArgs, start, HELP);

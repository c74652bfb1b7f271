/**
 * A request/response server: each frame is a 4-byte big-endian length and a JSON body carrying a
 * request `id`; the reply is `{ "id": …, "ok": true, "echo": body }`. A frame whose body is not
 * JSON, or has no `id`, gets `{ "id": null, "ok": false, "error": … }`, and the connection stays
 * usable.
 *
 * Each connection runs {@link rpcProtocol}, a per-connection protocol whose frames go through
 * rxnet's `respond()`: it handles requests as they come, up to its concurrency, and turns a
 * request that fails into its error reply with `onError`, so one bad frame fails only itself. A
 * frame that is not well formed (longer than the limit, or cut short by the close) is a framing
 * error: it aborts that connection and no other. {@link rpcFraming} is the wire format, both ways.
 *
 * Run: `npx ts-node examples/rpc-server.ts [ENDPOINT]` (`npm run example:rpc-server`); the
 * endpoint defaults to `tcp:7000`. `examples/rpc-client.ts` is its client.
 *
 * @packageDocumentation
 */
import {
  encodeLengthPrefixedFrame,
  lengthPrefixed,
  protocol,
  respond,
  type Behaviour,
  type Codec,
  type LengthPrefixedOptions,
  type PerConnection,
} from 'rxnet';
import {
  consoleLog,
  parseCommandLine,
  runMain,
  serveLogged,
  type Log,
  type LoggedServer,
} from './cli';

/** Where the server listens by default. */
export const DEFAULT_RPC_ENDPOINT = 'tcp:7000';

/**
 * The frame layout, shared by the server and the client: a 4-byte big-endian length before each
 * JSON body, at most 99999 bytes (rxnet's `DEFAULT_MAX_FRAME_BYTES`, Twisted's `MAX_LENGTH`).
 */
export const RPC_FRAME: LengthPrefixedOptions = { prefixBytes: 4 };

/** A request id: what the reply carries back so the client can match them. */
export type RpcId = number | string;

/** A request: any JSON object with an `id`; the rest is the client's business. */
export interface RpcRequest {
  readonly id: RpcId;
  readonly [field: string]: unknown;
}

/** A reply: the request echoed, or why there is none (`id` is `null` when it could not be read). */
export type RpcReply =
  | { readonly id: RpcId; readonly ok: true; readonly echo: RpcRequest }
  | { readonly id: RpcId | null; readonly ok: false; readonly error: string };

/** A frame's body that is not a request: bad JSON, or JSON without an `id`. */
export class BadRequestError extends Error {
  override readonly name = 'BadRequestError';
}

/**
 * Reads a request from a frame's body.
 *
 * @throws {@link BadRequestError} when the body is not JSON, or not an object with a number or
 * string `id`.
 */
export function parseRequest(body: Buffer): RpcRequest {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error: unknown) {
    throw new BadRequestError(`invalid JSON: ${(error as Error).message}`);
  }
  const id = (value as { id?: unknown } | null)?.id;
  if (typeof value !== 'object' || Array.isArray(value) || !isId(id)) {
    throw new BadRequestError('a request is a JSON object with a number or string "id"');
  }
  return value as RpcRequest;
}

function isId(id: unknown): id is RpcId {
  return (typeof id === 'number' && Number.isFinite(id)) || typeof id === 'string';
}

/**
 * One connection of the server: answers each frame with its reply. A frame that is not a request
 * gets an error reply in its place, and the next frame is answered as usual.
 *
 * ```text
 * frames: -a-b-c-|    a='{"id":1}'  b='{"id":'  c='{"id":2,"x":[]}'
 * output: -A-B-C-|    A={ id: 1, ok: true, echo: { id: 1 } }  B={ id: null, ok: false, error: 'invalid JSON: …' }
 *                     C={ id: 2, ok: true, echo: { id: 2, x: [] } }
 * ```
 */
export const rpcProtocol: PerConnection<Buffer, RpcReply> = (conn) =>
  conn.frames$.pipe(
    respond(
      (frame): RpcReply => {
        const request = parseRequest(frame);
        return { id: request.id, ok: true, echo: request };
      },
      {
        // Each reply carries its request's id, so none need wait for the ones before it.
        order: 'completion',
        onError: (error): RpcReply => ({
          id: null,
          ok: false,
          error: error instanceof Error ? error.message : String(error),
        }),
      },
    ),
  );

/** The server's logic: {@link rpcProtocol} on every connection. */
export const rpcServer: Behaviour<Buffer, RpcReply> = (events) =>
  events.pipe(protocol(rpcProtocol));

/**
 * The server's framing: frames in as they are (the body is parsed by the protocol, so bad JSON is
 * a reply, not a broken connection), replies out as JSON in frames of the same layout.
 */
export const rpcFraming: Codec<Buffer, RpcReply> = {
  decode: lengthPrefixed(RPC_FRAME),
  encode: (reply) => encodeLengthPrefixedFrame(JSON.stringify(reply), RPC_FRAME),
};

/** Options of {@link start}. */
export interface RpcServerOptions {
  /** A Twisted server endpoint description. @defaultValue {@link DEFAULT_RPC_ENDPOINT} */
  readonly endpoint?: string;
  /** Where `listening on …` and each connection's arrival and close are printed. @defaultValue stdout */
  readonly log?: Log;
}

/**
 * Serves {@link rpcServer} with {@link rpcFraming} and resolves once it listens, logging
 * `listening on HOST:PORT` and each connection. Rejects with `InvalidEndpointError` for a bad
 * description and `ListenError` when binding fails.
 */
export function start(options: RpcServerOptions = {}): Promise<LoggedServer> {
  const { endpoint = DEFAULT_RPC_ENDPOINT, log = consoleLog } = options;
  // Small replies to pipelined requests: Nagle's algorithm would hold each back for an ACK.
  return serveLogged(endpoint, rpcServer, { framing: rpcFraming, noDelay: true }, log);
}

/** The usage line printed, with exit code 2, for bad arguments. */
export const USAGE = 'usage: rpc-server [ENDPOINT (default tcp:7000)]';

/** The option list `--help` prints under {@link USAGE}. */
export const HELP = `Answers requests framed as a 4-byte big-endian length and a JSON body with an "id":
the reply is {"id": ..., "ok": true, "echo": body}, or {"id": null, "ok": false, "error": ...}
for a body that is not such JSON.

  ENDPOINT           a Twisted server endpoint, e.g. tcp:7000 or tcp:7000:interface=127.0.0.1
  -h, --help         print this help and exit`;

/** Parses the command line of `rpc-server`; throws `UsageError` when it is wrong. */
export function parseRpcServerArgs(argv: readonly string[]): RpcServerOptions {
  const { endpoint } = parseCommandLine(argv, {});
  return { endpoint: endpoint ?? DEFAULT_RPC_ENDPOINT };
}

if (require.main === module) runMain(USAGE, parseRpcServerArgs, start, HELP);

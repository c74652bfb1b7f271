/**
 * How the example servers run a behaviour on a real endpoint: rxnet's `serve`, with the bound
 * address, and a `stop()` that shuts the server down gracefully and waits for it.
 *
 * @packageDocumentation
 */
import { type OperatorFunction } from 'rxjs';
import {
  lines,
  serve,
  type Address,
  type Behaviour,
  type ConnectionOptions,
  type Output,
  type TcpAddress,
} from 'rxnet';
import { describeShutdown, GracefulStop, type ExampleHandle, type Log } from './cli';

/** How an example server frames what it reads: `raw` chunks as TCP delivers them, or `lines`. */
export type ExampleFraming = 'raw' | 'lines';

/**
 * The examples' `--framing lines` decoder: UTF-8 lines ending in `\n` or `\r\n` (`anyNewline`), so
 * `nc`, `nc -C` and telnet work alike; a last line without its `\n` still counts when the peer closes.
 */
export function lineDecoder(): OperatorFunction<Buffer, string> {
  return lines({ anyNewline: true, delimiter: '\n', encoding: 'utf8', allowTruncation: true });
}

/** A running example server. */
export interface ServerHandle extends ExampleHandle {
  readonly address: TcpAddress;
}

/** Formats an address the way Twisted's `repr(transport.getHost())` does, e.g. `IPv4Address(type='TCP', host='127.0.0.1', port=8888)`. */
export function twistedRepr(address: Address): string {
  switch (address._tag) {
    case 'TcpAddress':
      return `${address.family}Address(type='TCP', host='${address.hostname}', port=${address.port})`;
    case 'UnixAddress':
      return `UNIXAddress('${address.path}')`;
    default:
      return `MemoryAddress('${address.name}')`;
  }
}

/** How {@link serveExample} runs a behaviour: its framing, its log, and the connections' limits. */
export interface ServeExampleOptions extends ConnectionOptions {
  /** The per-connection decoder; without it the behaviour receives raw chunks. */
  readonly decode?: OperatorFunction<Buffer, Buffer | string> | undefined;
  readonly log: Log;
  /** How long `stop()` lets connections finish. @defaultValue rxnet's `DEFAULT_SHUTDOWN_TIMEOUT` */
  readonly shutdownTimeout?: number;
}

/**
 * Serves `behaviour` on `endpoint` and resolves once it listens, logging `listening on HOST:PORT`,
 * and the shutdown's report when it stops. The connection options (`halfOpenTimeout`, …) go to
 * `serve`. `stop()` shuts down gracefully (what clients sent is served, output flushed, FIN; the
 * rest aborted at `shutdownTimeout`), `force()` aborts at once. Rejects with
 * `InvalidEndpointError` for a bad description and `ListenError` when binding fails.
 */
export function serveExample(
  endpoint: string,
  behaviour: Behaviour<Buffer | string, Output>,
  options: ServeExampleOptions,
): Promise<ServerHandle> {
  const { decode, log, ...serveOptions } = options;
  return new Promise<ServerHandle>((resolve, reject) => {
    const graceful = new GracefulStop();
    let listening = false;
    const server$ = serve(endpoint, behaviour, {
      ...serveOptions,
      ...(decode === undefined ? {} : { decode }),
      shutdown: graceful.trigger,
    });
    // Declared last, used only from callbacks that run after subscribe() has returned.
    const subscription = server$.subscribe({
      next(notification) {
        if (notification.type === 'shutdownComplete') {
          log(describeShutdown(notification));
          return;
        }
        if (notification.type !== 'listening') return;
        const { address } = notification;
        if (address._tag !== 'TcpAddress') {
          reject(new TypeError(`the examples serve TCP endpoints, not ${twistedRepr(address)}`));
          subscription.unsubscribe();
          graceful.end();
          return;
        }
        listening = true;
        log(
          `listening on ${address.family === 'IPv6' ? `[${address.hostname}]` : address.hostname}:${address.port}`,
        );
        resolve({ address, stop: graceful.stop, force: graceful.force });
      },
      error(error: unknown) {
        if (!listening) reject(error);
        else log(`server failed: ${error instanceof Error ? error.message : String(error)}`);
        graceful.end();
      },
      complete: () => graceful.end(),
    });
  });
}

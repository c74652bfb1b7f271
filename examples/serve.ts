/**
 * How the example servers run a behaviour on a real endpoint: `listen` + `serveConnections`,
 * with the bound address, and a `stop()` that waits for the connections to close.
 *
 * @packageDocumentation
 */
import { firstValueFrom, type OperatorFunction, tap } from 'rxjs';
import {
  lines,
  listen,
  serveConnections,
  type Address,
  type Behaviour,
  type Connection,
  type ConnectionId,
  type ConnectionOptions,
  type Output,
  type TcpAddress,
} from 'rxnet';
import type { ExampleHandle, Log } from './cli';

/**
 * How long `stop()` lets connections close gracefully before it aborts the rest. A peer that does
 * not answer our FIN is closed by rxnet's own `closeTimeout`; this covers one that stops reading,
 * so its pending output can never be flushed.
 */
export const STOP_GRACE_MS = 1000;

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
}

/**
 * Serves `behaviour` on `endpoint` and resolves once it listens, logging `listening on HOST:PORT`.
 * The connection options (`halfOpenTimeout`, …) go to `listen`. Rejects with
 * `InvalidEndpointError` for a bad description and `ListenError` when binding fails.
 */
export function serveExample(
  endpoint: string,
  behaviour: Behaviour<Buffer | string, Output>,
  options: ServeExampleOptions,
): Promise<ServerHandle> {
  const { decode, log, ...connectionOptions } = options;
  return new Promise<ServerHandle>((resolve, reject) => {
    const byId = new Map<ConnectionId, Connection>();
    let listening = false;

    async function stop(): Promise<void> {
      subscription.unsubscribe();
      const closing = [...byId.values()];
      const grace = setTimeout(
        () => closing.forEach((connection) => connection.abort()),
        STOP_GRACE_MS,
      );
      await Promise.all(closing.map((connection) => firstValueFrom(connection.closed$)));
      clearTimeout(grace);
    }

    const connections$ = listen(endpoint, {
      ...connectionOptions,
      onListening(address) {
        if (address._tag !== 'TcpAddress') {
          reject(new TypeError(`the examples serve TCP endpoints, not ${twistedRepr(address)}`));
          subscription.unsubscribe();
          return;
        }
        listening = true;
        log(
          `listening on ${address.family === 'IPv6' ? `[${address.hostname}]` : address.hostname}:${address.port}`,
        );
        resolve({ address, stop });
      },
    }).pipe(
      tap((connection) => {
        byId.set(connection.id, connection);
        connection.closed$.subscribe(() => {
          byId.delete(connection.id);
        });
      }),
    );
    const serveOptions = decode === undefined ? {} : { decode };
    // Declared last, used only from callbacks that run after subscribe() has returned.
    const subscription = serveConnections(connections$, behaviour, serveOptions).subscribe({
      error(error: unknown) {
        if (!listening) reject(error);
        else log(`server failed: ${error instanceof Error ? error.message : String(error)}`);
      },
    });
  });
}

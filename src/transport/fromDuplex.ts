import type { Duplex } from 'node:stream';
import type { Connection } from '../types';
import { CoreConnection, type ConnectionInfo } from './connection/core';
import { DuplexTransport } from './connection/duplexTransport';
import {
  checkConnectionOptions,
  type ConnectionLimits,
  type ConnectionOptions,
} from './connection/options';
import { throttled, type SharedThrottle } from './connection/throttle';

export {
  DEFAULT_WRITE_HIGH_WATER_MARK,
  DEFAULT_MAX_PENDING_WRITE_BYTES,
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_HALF_OPEN_TIMEOUT,
  DEFAULT_CLIENT_HALF_OPEN_TIMEOUT,
  checkConnectionOptions,
  type ConnectionLimits,
  type ConnectionOptions,
} from './connection/options';
export type { ConnectionInfo } from './connection/core';

/**
 * Wraps any Node `Duplex` (a `net.Socket`, one half of `stream.duplexPair()`) as a {@link Connection}.
 *
 * The stream becomes a `CoreConnection`, the one implementation of the `Connection`
 * contract that the server, the client, the virtual network and the testing kit's
 * `memoryConnection` all share, so:
 *
 * - an `error` listener is attached synchronously, before anything else, so a reset can never crash
 *   the process; every listener is a named module-level function (no closure per connection),
 *   removed again when the connection closes;
 * - reading starts when `data$` gets its first subscriber and pauses while it has none, while
 *   `pause()` holds it, and while pending output is at or above `writeHighWaterMark`, so an echo to
 *   a peer that does not read holds at most one chunk more than the high-water mark;
 * - output that stays at or above the mark for `drainTimeout` aborts the connection with
 *   {@link DrainTimeoutError}, and output above `maxPendingWriteBytes` at once with
 *   {@link WriteBufferFullError}: one slow reader cannot exhaust the process's memory, while a
 *   burst that a fast reader drains in time is not cut off;
 * - the writes of one event-loop iteration after the first are held and joined into one write in
 *   its check phase (`setImmediate`), so many small messages cost one stream write per connection
 *   rather than one per message, while a lone write (an echo) goes out at once;
 * - the peer's FIN completes `data$` and leaves the connection writable (a half-close), until
 *   `end()`, or `halfOpenTimeout` after which it ends by itself, so replies to a request followed
 *   by FIN (`nc -N`, `shutdown(SHUT_WR)`) are not lost;
 * - `end()` flushes, sends FIN and stops delivering data; the connection closes as `done` when the
 *   peer's FIN arrives, or `closeTimeout` after the flush for a peer that never answers one (an
 *   interactive `nc`);
 * - `send(source)` pulls an AsyncIterable (a `Readable`) only while the output is below the mark;
 *   an Observable cannot be paused, so it is bounded by `maxPendingWriteBytes` and `drainTimeout`;
 * - `maxReadBytesPerSecond` and `maxWriteBytesPerSecond` throttle it by pausing reading and
 *   holding written bytes back as pending output, so the points above bound it unchanged;
 * - `abort()` drops pending output and resets: `resetAndDestroy()` where the stream has it, so a
 *   TCP peer sees a RST; `destroy()` otherwise, and after `end()` (the kernel cannot reset a
 *   socket whose FIN is queued).
 *
 * The stream must allow half-open use (`allowHalfOpen: true`; `duplexPair()` halves do); a
 * `net.Socket` made with Node's default `allowHalfOpen: false` ends itself at the peer's FIN.
 *
 * ## Example
 * ```ts
 * import { duplexPair } from 'node:stream';
 * import { fromDuplex } from 'rxnet';
 *
 * const [left, right] = duplexPair();
 * const a = fromDuplex(left, { id: 1, local: { _tag: 'MemoryAddress', name: 'a' }, remote: { _tag: 'MemoryAddress', name: 'b' } });
 * a.data$.subscribe((chunk) => a.write(chunk)); // echo
 * right.write('hello');
 * ```
 *
 * @param duplex The stream to wrap. rxnet owns it from now on: do not read from it or listen to it.
 * @param info The connection's id and addresses.
 * @param options Buffer limits and timeouts, in milliseconds.
 * @returns A live {@link Connection}.
 * @throws TypeError when `maxPendingWriteBytes` is below `writeHighWaterMark`, or a limit is not a
 * positive number; RangeError when a finite timeout exceeds 2^31−1 ms.
 * @see {@link serveConnections}
 */
export function fromDuplex(
  duplex: Duplex,
  info: ConnectionInfo,
  options: ConnectionOptions = {},
): Connection {
  const limits = checkConnectionOptions(options);
  return new CoreConnection(
    info,
    limits,
    undefined,
    throttled(limits, undefined, (sink) => new DuplexTransport(duplex, sink)),
  );
}

/**
 * `fromDuplex` for a server: the limits are checked once per server rather than once per
 * connection, and the connection is in `live` until it closes (a Set kept without a subscription
 * per connection). `shared` is the server's throttle, spent by all of its connections.
 *
 * @internal
 */
export function fromServerDuplex(
  duplex: Duplex,
  info: ConnectionInfo,
  limits: ConnectionLimits,
  live: Set<Connection>,
  shared?: SharedThrottle,
): Connection {
  return new CoreConnection(
    info,
    limits,
    live,
    throttled(limits, shared, (sink) => new DuplexTransport(duplex, sink)),
  );
}

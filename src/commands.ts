/**
 * Constructors for the commands a behaviour emits: `write(to, data)`, `close(id)`, `abort(id)` and
 * `startTls(id)`.
 *
 * A command written as an object literal widens its `type` to `string` once it leaves a `map`
 * callback, so production code needed `as const` to make it a {@link ServerCommand}; these return
 * the precise command type. The testing kit (`rxnet/testing`) re-exports the same functions, so a
 * spec builds its expected commands exactly as the behaviour does.
 *
 * ## Example
 * ```ts
 * import { filter, map } from 'rxjs';
 * import { write, type Behaviour } from 'rxnet';
 *
 * const echoLines: Behaviour<string, string> = (events) =>
 *   events.pipe(
 *     filter((event) => event.type === 'data'),
 *     map((event) => write(event.id, `${event.data}\n`)),
 *   );
 * ```
 *
 * @packageDocumentation
 */
import type { RxnetError } from './errors';
import type {
  AbortCommand,
  CloseCommand,
  ConnectionId,
  ServerEvent,
  StartTlsCommand,
  WriteCommand,
} from './types';

/**
 * A `write` command: send `data` to one connection, or to several at once (one command, encoded
 * once, however many receivers).
 *
 * @param to The receiver's id, or the ids of every receiver.
 * @param data What to write: bytes, or the behaviour's message type when the server has an encoder.
 * @returns `{ type: 'write', to, data }`.
 */
export function write<O>(to: ConnectionId | readonly ConnectionId[], data: O): WriteCommand<O> {
  return { type: 'write', to, data };
}

/**
 * A `close` command: flush connection `id`'s pending output, then close it (Twisted's
 * `loseConnection()`).
 *
 * @param id The connection to close.
 * @returns `{ type: 'close', id }`.
 */
export function close(id: ConnectionId): CloseCommand {
  return { type: 'close', id };
}

/**
 * An `abort` command: drop connection `id`'s pending output and reset it (Twisted's
 * `abortConnection()`).
 *
 * @param id The connection to abort.
 * @param reason Why: the connection then closes with `{ type: 'aborted', error: reason }`.
 * @returns `{ type: 'abort', id }`, with `reason` when one is given.
 */
export function abort(id: ConnectionId, reason?: RxnetError): AbortCommand {
  return reason === undefined ? { type: 'abort', id } : { type: 'abort', id, reason };
}

/**
 * A `startTls` command: upgrade connection `id` to TLS with the server's `startTls` options, once
 * what was written before it has gone out in plain text. The behaviour then sees `tlsStarted`, or
 * the connection's `connectionLost` if the handshake failed. `'rxnet'`'s `startTls` is this
 * function when given an id, and upgrades a `Connection` when given one.
 *
 * @param id The connection to upgrade.
 * @returns `{ type: 'startTls', id }`.
 */
export function startTls(id: ConnectionId): StartTlsCommand {
  return { type: 'startTls', id };
}

/** The events that belong to one connection: every {@link ServerEvent} that carries an `id`. */
export type ConnectionEvent<T = Buffer> = Extract<
  ServerEvent<T>,
  {
    /** The connection the event belongs to. */
    readonly id: ConnectionId;
  }
>;

/**
 * Whether an event belongs to one connection (`connectionMade`, `data`, `readConnectionLost`,
 * `connectionLost`, `tlsStarted`) rather than to the server (`connectionRefused`, `shuttingDown`). A type guard,
 * for pipelines that group by `event.id`.
 *
 * ## Example
 * ```ts
 * events.pipe(filter(isConnectionEvent), groupBy((event) => event.id));
 * ```
 */
export function isConnectionEvent<T>(event: ServerEvent<T>): event is ConnectionEvent<T> {
  return 'id' in event;
}

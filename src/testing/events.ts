/**
 * Small factories for the values of marble specs over a behaviour's mixed stream: events in,
 * commands out, connections as plain ids (`made(1)`, `data(1, 'hi')`, `write([2, 3], 'hi')`).
 *
 * The events carry {@link MemoryAddress}es named after the connection, so two calls with the same
 * arguments are deep-equal and a spec can build its expected values the same way as its input.
 *
 * ## Example
 * ```ts
 * import { TestScheduler } from 'rxjs/testing';
 * import { broadcast } from 'rxnet';
 * import { data, made, observableMatcher, write } from 'rxnet/testing';
 *
 * new TestScheduler(observableMatcher).run(({ cold, expectObservable }) => {
 *   const source = cold('ab-c|', { a: made(1), b: made(2), c: data(1, 'hi') });
 *   expectObservable(source.pipe(broadcast())).toBe('ab-(cw|)', {
 *     a: made(1), b: made(2), c: data(1, 'hi'), w: write([2], 'hi'),
 *   });
 * });
 * ```
 *
 * @packageDocumentation
 */
import type {
  CloseReason,
  ConnectionId,
  ConnectionLost,
  ConnectionMade,
  DataReceived,
  MemoryAddress,
  ReadConnectionLost,
} from '../types';

/** The server's end of every connection {@link made} describes. */
const SERVER_ADDRESS: MemoryAddress = { _tag: 'MemoryAddress', name: 'server' };

/** A `connectionMade` event for connection `id`, whose peer is named `client-<id>`. */
export function made(id: ConnectionId): ConnectionMade {
  return {
    type: 'connectionMade',
    id,
    local: SERVER_ADDRESS,
    remote: { _tag: 'MemoryAddress', name: `client-${id}` },
  };
}

/** A `data` event: connection `id` sent `value` (a chunk, or a frame once framed). */
export function data<T>(id: ConnectionId, value: T): DataReceived<T> {
  return { type: 'data', id, data: value };
}

/** A `readConnectionLost` event: connection `id`'s peer sent FIN (and can still be written to). */
export function readLost(id: ConnectionId): ReadConnectionLost {
  return { type: 'readConnectionLost', id };
}

/** A `connectionLost` event for connection `id`; the reason defaults to an orderly close. */
export function lost(id: ConnectionId, reason: CloseReason = { type: 'done' }): ConnectionLost {
  return { type: 'connectionLost', id, reason };
}

/**
 * The command constructors are the library's own (`rxnet` exports them for production code), so a
 * spec builds its expected commands exactly as the behaviour under test does.
 */
export { write, close, abort, startTls } from '../commands';

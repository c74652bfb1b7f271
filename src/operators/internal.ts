/**
 * Mechanics shared by the behaviour operators. Not re-exported: nothing here is public API.
 *
 * @packageDocumentation
 */
import type { DataReceived, ServerCommand, ServerEvent } from '../types';

/** Anything on a behaviour's mixed stream: an event passing through, or a command added to it. */
export type ServerItem = ServerEvent<unknown> | ServerCommand<unknown>;

/** The type of the data carried by the `data` events among `E`. */
export type DataOf<E> = E extends DataReceived<infer T> ? T : never;

export { relay } from '../internal/relay';

/**
 * The cluster's log: what one entry says, how a connection id names its node, and the JSON text
 * an entry travels as through a hub.
 *
 * @packageDocumentation
 */
import {
  ConnectionLostError,
  DrainTimeoutError,
  EncodeError,
  FrameTooLongError,
  IdleTimeoutError,
  InvalidFrameError,
  ProtocolError,
  TruncatedFrameError,
  WriteBufferFullError,
  type RxnetError,
} from '../errors';
import type {
  CloseReason,
  ConnectionLost,
  ConnectionMade,
  DataReceived,
  ReadConnectionLost,
} from '../types';

/**
 * How many local ids each node has: a clustered connection's id is `node * NODE_ID_SPAN + local`,
 * so the node that holds it is `Math.floor(id / NODE_ID_SPAN)`. Ids stay safe integers up to node
 * 2^21 - 1 (about two million joins of one cluster), each with 2^32 - 1 connections.
 *
 * @defaultValue 2^32
 */
export const NODE_ID_SPAN = 2 ** 32;

/** The highest node number whose ids are all safe integers. */
export const MAX_NODE = Math.floor(Number.MAX_SAFE_INTEGER / NODE_ID_SPAN) - 1;

/** The cluster-wide id of node `node`'s local connection `local`. */
export function clusterId(node: number, local: number): number {
  if (!Number.isSafeInteger(node) || node < 1 || node > MAX_NODE) {
    throw new RangeError(`A node number must be an integer from 1 to ${MAX_NODE}, got ${node}`);
  }
  if (!Number.isSafeInteger(local) || local < 0 || local >= NODE_ID_SPAN) {
    throw new RangeError(`A local connection id must be below 2^32, got ${local}`);
  }
  return node * NODE_ID_SPAN + local;
}

/** The node that holds the connection with cluster-wide id `id`. */
export function nodeOf(id: number): number {
  return Math.floor(id / NODE_ID_SPAN);
}

/** The connection's id on the node that holds it. */
export function localIdOf(id: number): number {
  return id % NODE_ID_SPAN;
}

/** The connection events that go through the log; server-level events stay on their node. */
export type ClusterEvent<T = unknown> =
  ConnectionMade | DataReceived<T> | ReadConnectionLost | ConnectionLost;

/**
 * One entry of the cluster's log, appended by `node`:
 *
 * - `event`: a connection event of one of its connections, the id cluster-wide;
 * - `joined`: the node started (its first entry);
 * - `heartbeat`: the node is alive (the failure detector's input; no event follows from it);
 * - `nodeLost`: `by` declared `node` gone: every node turns it into `connectionLost` for that
 *   node's open connections and ignores whatever the node appends later. `graceful` when the node
 *   said so itself on a clean stop (reason `done`), otherwise its heartbeats stopped (`lost`).
 */
export type LogEntry<T = unknown> =
  | {
      /** A connection event. */
      readonly type: 'event';
      /** The node that holds the connection. */
      readonly node: number;
      /** The event, its id cluster-wide. */
      readonly event: ClusterEvent<T>;
    }
  | {
      /** The node started. */
      readonly type: 'joined';
      /** The node that started. */
      readonly node: number;
    }
  | {
      /** The node is alive. */
      readonly type: 'heartbeat';
      /** The node that is alive. */
      readonly node: number;
    }
  | {
      /** A node is gone. */
      readonly type: 'nodeLost';
      /** The node that is gone. */
      readonly node: number;
      /** The node that said so (`node` itself when it left cleanly). */
      readonly by: number;
      /** The node left cleanly: its connections are lost with reason `done`, not `lost`. */
      readonly graceful: boolean;
    };

/** The JSON form of a data event's payload: text, bytes as base64, or any other JSON value. */
type WireData = { readonly s: string } | { readonly b: string } | { readonly j: unknown };

/** The JSON form of a close reason's error: its code, message and own fields (never `cause`). */
interface WireError {
  readonly code: string;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

/**
 * An entry as JSON text. A data event's payload is a string, bytes (a `Uint8Array`, read back as
 * a `Buffer`) or a JSON value (read back as plain data: a class instance loses its prototype, a
 * `Date` becomes a string). A close reason's error keeps its code, message and own fields, not its
 * `cause` or stack.
 *
 * @throws {@link EncodeError} when the payload has no JSON form (a `BigInt`, a cycle, `undefined`).
 */
export function encodeEntry(entry: LogEntry): string {
  if (entry.type !== 'event') return JSON.stringify(entry);
  const { event } = entry;
  let wire: unknown = event;
  if (event.type === 'data') {
    wire = { ...event, data: wireData(event.data) };
  } else if (event.type === 'connectionLost') {
    wire = { ...event, reason: wireReason(event.reason) };
  }
  try {
    const text = JSON.stringify({ ...entry, event: wire });
    if (typeof text === 'string') return text;
  } catch (error: unknown) {
    throw new EncodeError('A data event has no JSON form for the cluster log', { cause: error });
  }
  throw new EncodeError('A data event has no JSON form for the cluster log');
}

/** Reads back what {@link encodeEntry} wrote. @throws `SyntaxError` for text that is not JSON. */
export function decodeEntry<T = unknown>(text: string): LogEntry<T> {
  const entry = JSON.parse(text) as LogEntry<unknown>;
  if (entry.type !== 'event') return entry as LogEntry<T>;
  const event = entry.event as unknown as Record<string, unknown>;
  if (event.type === 'data') {
    return {
      ...entry,
      event: { ...event, data: fromWireData(event.data as WireData) },
    } as LogEntry<T>;
  }
  if (event.type === 'connectionLost') {
    return {
      ...entry,
      event: { ...event, reason: fromWireReason(event.reason as WireReason) },
    } as LogEntry<T>;
  }
  return entry as LogEntry<T>;
}

function wireData(data: unknown): WireData {
  if (typeof data === 'string') return { s: data };
  if (data instanceof Uint8Array) {
    return { b: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') };
  }
  if (data === undefined || typeof data === 'function' || typeof data === 'symbol') {
    throw new EncodeError(
      `A data event's ${typeof data} payload has no JSON form for the cluster log`,
    );
  }
  return { j: data };
}

function fromWireData(wire: WireData): unknown {
  if ('s' in wire) return wire.s;
  if ('b' in wire) return Buffer.from(wire.b, 'base64');
  return wire.j;
}

interface WireReason {
  readonly type: CloseReason['type'];
  readonly error?: WireError;
}

function wireReason(reason: CloseReason): WireReason {
  if (!('error' in reason) || reason.error === undefined) return { type: reason.type };
  const { error } = reason;
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(error)) {
    if (key !== 'code' && key !== 'cause' && typeof value !== 'object') fields[key] = value;
  }
  return { type: reason.type, error: { code: error.code, message: error.message, fields } };
}

/**
 * rxnet's errors that can close a connection, by code: revived with their own prototype, so
 * `instanceof`, `name` and the structured fields work on every node. Any other code comes back
 * as a {@link ConnectionLostError} carrying the original message.
 */
const REVIVABLE: Readonly<Record<string, { readonly prototype: RxnetError }>> = {
  RXNET_ERR_CONNECTION_LOST: ConnectionLostError,
  RXNET_ERR_IDLE_TIMEOUT: IdleTimeoutError,
  RXNET_ERR_DRAIN_TIMEOUT: DrainTimeoutError,
  RXNET_ERR_WRITE_BUFFER_FULL: WriteBufferFullError,
  RXNET_ERR_FRAME_TOO_LONG: FrameTooLongError,
  RXNET_ERR_INVALID_FRAME: InvalidFrameError,
  RXNET_ERR_TRUNCATED_FRAME: TruncatedFrameError,
  RXNET_ERR_PROTOCOL: ProtocolError,
  RXNET_ERR_ENCODE: EncodeError,
};

function reviveError(wire: WireError): RxnetError {
  const constructor = REVIVABLE[wire.code];
  if (constructor === undefined) return new ConnectionLostError(wire.message);
  // Not the constructor: each takes its own arguments, and the fields travelled already made.
  const error = Object.create(constructor.prototype) as RxnetError;
  Object.assign(error, wire.fields);
  Object.defineProperties(error, {
    code: { value: wire.code, enumerable: true },
    message: { value: wire.message, writable: true, configurable: true },
    stack: { value: `${error.name}: ${wire.message}`, writable: true, configurable: true },
  });
  return error;
}

function fromWireReason(wire: WireReason): CloseReason {
  switch (wire.type) {
    case 'done':
      return { type: 'done' };
    case 'aborted':
      return wire.error === undefined
        ? { type: 'aborted' }
        : { type: 'aborted', error: reviveError(wire.error) };
    case 'timedOut':
      return {
        type: 'timedOut',
        error: (wire.error === undefined
          ? new IdleTimeoutError(0)
          : reviveError(wire.error)) as IdleTimeoutError,
      };
    default:
      return {
        type: 'lost',
        error: (wire.error === undefined
          ? new ConnectionLostError()
          : reviveError(wire.error)) as ConnectionLostError,
      };
  }
}

/**
 * Every error rxnet raises is an {@link RxnetError} with a literal `code`, so callers can branch on
 * `err.code` without string-matching messages (the convention of ws's `WS_ERR_*` and undici's
 * `UND_ERR_*`). Each subclass carries the structured fields a handler needs and, where a Node error
 * was the trigger, that error as `cause`.
 *
 * @packageDocumentation
 */

/** Every code an {@link RxnetError} can carry. Documented under "Error codes" in the README. */
export type RxnetErrorCode =
  | 'RXNET_ERR_FRAME_TOO_LONG'
  | 'RXNET_ERR_INVALID_FRAME'
  | 'RXNET_ERR_TRUNCATED_FRAME'
  | 'RXNET_ERR_CONNECTION_LOST'
  | 'RXNET_ERR_CONNECTION_CLOSED'
  | 'RXNET_ERR_CONNECT'
  | 'RXNET_ERR_LISTEN'
  | 'RXNET_ERR_INVALID_ENDPOINT'
  | 'RXNET_ERR_IDLE_TIMEOUT'
  | 'RXNET_ERR_WRITE_BUFFER_FULL';

/** Options every rxnet error accepts: the underlying error, if any. */
export interface RxnetErrorOptions {
  readonly cause?: unknown;
}

/** The base class of every error rxnet raises. */
export abstract class RxnetError extends Error {
  abstract readonly code: RxnetErrorCode;

  constructor(message: string, options?: RxnetErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/**
 * A frame, or the unterminated bytes of one, is longer than the decoder allows; or an encoder was
 * asked to write a frame its peer's decoder would refuse (Twisted's `StringTooLongError`).
 */
export class FrameTooLongError extends RxnetError {
  readonly code = 'RXNET_ERR_FRAME_TOO_LONG';

  constructor(
    /** The configured maximum, in bytes. */
    readonly limit: number,
    /** How many bytes the frame has or announces; at least `limit + 1`. */
    readonly received: number,
    options?: RxnetErrorOptions,
  ) {
    super(`Frame of ${received} bytes exceeds the limit of ${limit} bytes`, options);
  }
}

/** The bytes do not follow the framing format (a netstring without its comma, a bad length). */
export class InvalidFrameError extends RxnetError {
  readonly code = 'RXNET_ERR_INVALID_FRAME';

  constructor(
    /** What is wrong, for humans; stable enough to log, not to parse. */
    readonly reason: string,
    options?: RxnetErrorOptions,
  ) {
    super(`Invalid frame: ${reason}`, options);
  }
}

/** The stream ended in the middle of a frame, and truncation was not allowed. */
export class TruncatedFrameError extends RxnetError {
  readonly code = 'RXNET_ERR_TRUNCATED_FRAME';

  constructor(
    /** How many bytes of the unfinished frame had arrived. */
    readonly buffered: number,
    options?: RxnetErrorOptions,
  ) {
    super(`Stream ended inside a frame, with ${buffered} bytes buffered`, options);
  }
}

/** The connection ended uncleanly: a reset, a network error. `cause` is Node's error. */
export class ConnectionLostError extends RxnetError {
  readonly code = 'RXNET_ERR_CONNECTION_LOST';

  constructor(message = 'Connection lost', options?: RxnetErrorOptions) {
    super(message, options);
  }
}

/** An operation needed an open connection, and it was already closed. */
export class ConnectionClosedError extends RxnetError {
  readonly code = 'RXNET_ERR_CONNECTION_CLOSED';

  constructor(message = 'Connection is closed', options?: RxnetErrorOptions) {
    super(message, options);
  }
}

/** A client could not connect: refused, timed out, or the host name did not resolve. */
export class ConnectError extends RxnetError {
  readonly code = 'RXNET_ERR_CONNECT';

  constructor(
    /** The endpoint, as the user described it. */
    readonly endpoint: string,
    options?: RxnetErrorOptions,
  ) {
    super(`Could not connect to ${endpoint}${describeCause(options?.cause)}`, options);
  }
}

/** A server could not bind its endpoint (EADDRINUSE, EACCES, …). */
export class ListenError extends RxnetError {
  readonly code = 'RXNET_ERR_LISTEN';

  constructor(
    /** The endpoint, as the user described it. */
    readonly endpoint: string,
    options?: RxnetErrorOptions,
  ) {
    super(`Could not listen on ${endpoint}${describeCause(options?.cause)}`, options);
  }
}

/** An endpoint description string does not follow Twisted's endpoint grammar. */
export class InvalidEndpointError extends RxnetError {
  readonly code = 'RXNET_ERR_INVALID_ENDPOINT';

  constructor(
    /** The description that was given. */
    readonly description: string,
    /** What is wrong with it. */
    readonly reason: string,
    options?: RxnetErrorOptions,
  ) {
    super(`Invalid endpoint ${JSON.stringify(description)}: ${reason}`, options);
  }
}

/** A connection, or a connect attempt, saw no activity for longer than its timeout allows. */
export class IdleTimeoutError extends RxnetError {
  readonly code = 'RXNET_ERR_IDLE_TIMEOUT';

  constructor(
    /** The timeout, in milliseconds. */
    readonly timeout: number,
    options?: RxnetErrorOptions,
  ) {
    super(`No activity for ${timeout} ms`, options);
  }
}

/**
 * A connection's pending output grew past its hard limit, because the peer reads more slowly than
 * it is written to. The connection is aborted so that one slow reader cannot exhaust memory.
 */
export class WriteBufferFullError extends RxnetError {
  readonly code = 'RXNET_ERR_WRITE_BUFFER_FULL';

  constructor(
    /** The configured maximum of pending output, in bytes. */
    readonly limit: number,
    /** The pending output, in bytes, including the write that overflowed. */
    readonly pending: number,
    options?: RxnetErrorOptions,
  ) {
    super(`Pending output of ${pending} bytes exceeds the limit of ${limit} bytes`, options);
  }
}

function describeCause(cause: unknown): string {
  // Duck-typed: Node's own errors come from another realm under jest's vm, where `instanceof Error` is false.
  if (typeof cause !== 'object' || cause === null) {
    return '';
  }
  const { code, message } = cause as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    return `: ${code}`;
  }
  return typeof message === 'string' ? `: ${message}` : '';
}

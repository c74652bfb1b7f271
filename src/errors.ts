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
  | 'RXNET_ERR_CONNECT_TIMEOUT'
  | 'RXNET_ERR_IDLE_TIMEOUT'
  | 'RXNET_ERR_DRAIN_TIMEOUT'
  | 'RXNET_ERR_WRITE_BUFFER_FULL'
  | 'RXNET_ERR_ENCODE'
  | 'RXNET_ERR_BEHAVIOUR'
  | 'RXNET_ERR_INVALID_COMMAND'
  | 'RXNET_ERR_PROTOCOL'
  | 'RXNET_ERR_REQUEST_TIMEOUT'
  | 'RXNET_ERR_REQUEST_QUEUE_FULL'
  | 'RXNET_ERR_CONNECTION_LIMIT'
  | 'RXNET_ERR_PROXY_PROTOCOL'
  | 'RXNET_ERR_TLS'
  | 'RXNET_ERR_HANDSHAKE_TIMEOUT'
  | 'RXNET_ERR_STARTTLS'
  | 'RXNET_ERR_HUB';

/** Options every rxnet error accepts: the underlying error, if any. */
export interface RxnetErrorOptions {
  /** The error that led to this one (Node's socket error, a decoder's failure), kept as `cause`. */
  readonly cause?: unknown;
}

/**
 * The base class of every error rxnet raises.
 *
 * Each subclass returns its `name` as a literal rather than reading `constructor.name`, which
 * minifiers rename: a bundled `FrameTooLongError` is still named `FrameTooLongError` in logs.
 */
export abstract class RxnetError extends Error {
  /** What went wrong, as a literal that stays stable across releases: branch on it, not on the message. */
  abstract readonly code: RxnetErrorCode;

  constructor(message: string, options?: RxnetErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }

  /** The class's name as a literal, so it survives minification (see above). */
  abstract override get name(): string;
}

/**
 * A frame, or the unterminated bytes of one, is longer than the decoder allows; or an encoder was
 * asked to write a frame its peer's decoder would refuse (Twisted's `StringTooLongError`).
 */
export class FrameTooLongError extends RxnetError {
  override get name(): 'FrameTooLongError' {
    return 'FrameTooLongError';
  }

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
  override get name(): 'InvalidFrameError' {
    return 'InvalidFrameError';
  }

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
  override get name(): 'TruncatedFrameError' {
    return 'TruncatedFrameError';
  }

  readonly code = 'RXNET_ERR_TRUNCATED_FRAME';

  constructor(
    /** How many bytes of the unfinished frame had arrived. */
    readonly buffered: number,
    options?: RxnetErrorOptions,
  ) {
    super(`Stream ended inside a frame, with ${buffered} bytes buffered`, options);
  }
}

/**
 * The connection ended uncleanly: a reset, a network error. `cause` is Node's error, and the
 * default message names its code: `Connection lost: ECONNRESET`.
 */
export class ConnectionLostError extends RxnetError {
  override get name(): 'ConnectionLostError' {
    return 'ConnectionLostError';
  }

  readonly code = 'RXNET_ERR_CONNECTION_LOST';

  constructor(message?: string, options?: RxnetErrorOptions) {
    super(message ?? `Connection lost${describeCode(options?.cause)}`, options);
  }
}

/** An operation needed an open connection, and it was already closed. */
export class ConnectionClosedError extends RxnetError {
  override get name(): 'ConnectionClosedError' {
    return 'ConnectionClosedError';
  }

  readonly code = 'RXNET_ERR_CONNECTION_CLOSED';

  constructor(message = 'Connection is closed', options?: RxnetErrorOptions) {
    super(message, options);
  }
}

/**
 * A client could not connect: refused, timed out, or the host name did not resolve. `cause` says
 * which: Node's error (`ECONNREFUSED`, `ENOTFOUND`), or a {@link ConnectTimeoutError}.
 */
export class ConnectError extends RxnetError {
  override get name(): 'ConnectError' {
    return 'ConnectError';
  }

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
  override get name(): 'ListenError' {
    return 'ListenError';
  }

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
  override get name(): 'InvalidEndpointError' {
    return 'InvalidEndpointError';
  }

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

/**
 * The connect attempt did not complete within its connect timeout. It is the `cause` of the
 * {@link ConnectError} the attempt fails with, whose message then reads
 * `Could not connect to tcp:host:port: timed out after 30000 ms`.
 */
export class ConnectTimeoutError extends RxnetError {
  override get name(): 'ConnectTimeoutError' {
    return 'ConnectTimeoutError';
  }

  readonly code = 'RXNET_ERR_CONNECT_TIMEOUT';

  constructor(
    /** The connect timeout, in milliseconds. */
    readonly timeout: number,
    options?: RxnetErrorOptions,
  ) {
    super(`Connect attempt timed out after ${timeout} ms`, options);
  }
}

/** Which inactivity an {@link IdleTimeoutError} measured. */
export type IdleTimeoutKind = 'idle' | 'read' | 'write';

const IDLE_MESSAGES: Readonly<Record<IdleTimeoutKind, string>> = {
  idle: 'No activity',
  read: 'Nothing received',
  write: 'Nothing written',
};

/**
 * An open connection was inactive for longer than its timeout allows: no activity at all (`idle`),
 * nothing received (`read`) or nothing written (`write`).
 */
export class IdleTimeoutError extends RxnetError {
  override get name(): 'IdleTimeoutError' {
    return 'IdleTimeoutError';
  }

  readonly code = 'RXNET_ERR_IDLE_TIMEOUT';

  constructor(
    /** The timeout, in milliseconds. */
    readonly timeout: number,
    /** What was missing for that long: any activity, received bytes, or written bytes. */
    readonly kind: IdleTimeoutKind = 'idle',
    options?: RxnetErrorOptions,
  ) {
    super(`${IDLE_MESSAGES[kind]} for ${timeout} ms`, options);
  }
}

/**
 * A connection's pending output stayed at or above the high-water mark for longer than
 * `drainTimeout`: the peer reads too slowly.
 */
export class DrainTimeoutError extends RxnetError {
  override get name(): 'DrainTimeoutError' {
    return 'DrainTimeoutError';
  }

  readonly code = 'RXNET_ERR_DRAIN_TIMEOUT';

  constructor(
    /** The drain timeout, in milliseconds. */
    readonly timeout: number,
    /** The pending output when the timeout passed, in bytes. */
    readonly pending: number,
    options?: RxnetErrorOptions,
  ) {
    super(
      `Pending output of ${pending} bytes did not drain below the high-water mark within ${timeout} ms`,
      options,
    );
  }
}

/**
 * A connection's pending output grew past its hard limit, because the peer reads more slowly than
 * it is written to. The connection is aborted so that one slow reader cannot exhaust memory.
 */
export class WriteBufferFullError extends RxnetError {
  override get name(): 'WriteBufferFullError' {
    return 'WriteBufferFullError';
  }

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

/**
 * A write command's data could not be turned into bytes: `encode` threw (the error is `cause`), or,
 * with no `encode`, the data was not a string or a Uint8Array.
 */
export class EncodeError extends RxnetError {
  override get name(): 'EncodeError' {
    return 'EncodeError';
  }

  readonly code = 'RXNET_ERR_ENCODE';

  constructor(message?: string, options?: RxnetErrorOptions) {
    super(message ?? `Could not encode the data to write${describeCause(options?.cause)}`, options);
  }
}

/** A server-wide behaviour threw or failed, and the server stopped. `cause` is the error. */
export class BehaviourError extends RxnetError {
  override get name(): 'BehaviourError' {
    return 'BehaviourError';
  }

  readonly code = 'RXNET_ERR_BEHAVIOUR';

  constructor(options?: RxnetErrorOptions) {
    super(`Behaviour failed${describeCauseMessage(options?.cause)}`, options);
  }
}

/**
 * A behaviour emitted something that is not a command the server can carry out: not an object, a
 * `write` whose `to` is not an id or a list of ids. Types forbid it; JavaScript and casts do not.
 * The server drops it, reports it, and goes on.
 */
export class InvalidCommandError extends RxnetError {
  override get name(): 'InvalidCommandError' {
    return 'InvalidCommandError';
  }

  readonly code = 'RXNET_ERR_INVALID_COMMAND';

  constructor(
    /** What is wrong with it, for humans. */
    readonly reason: string,
    options?: RxnetErrorOptions,
  ) {
    super(`Invalid command: ${reason}`, options);
  }
}

/**
 * One connection's protocol (the function given to `protocol()` or `runProtocol()`) threw or
 * failed with an error that is not an {@link RxnetError}; `cause` is that error. The connection is
 * aborted with it as its close reason, and nothing else stops.
 */
export class ProtocolError extends RxnetError {
  override get name(): 'ProtocolError' {
    return 'ProtocolError';
  }

  readonly code = 'RXNET_ERR_PROTOCOL';

  constructor(options?: RxnetErrorOptions) {
    super(`Protocol failed${describeCauseMessage(options?.cause)}`, options);
  }
}

/** A request got no (complete) reply within its timeout: `respond()`'s handler, or a requester's request. */
export class RequestTimeoutError extends RxnetError {
  override get name(): 'RequestTimeoutError' {
    return 'RequestTimeoutError';
  }

  readonly code = 'RXNET_ERR_REQUEST_TIMEOUT';

  constructor(
    /** The timeout, in milliseconds. */
    readonly timeout: number,
    options?: RxnetErrorOptions,
  ) {
    super(`Request timed out after ${timeout} ms`, options);
  }
}

/**
 * More requests waited for a free slot than `maxQueued` allows: a peer that sends requests faster
 * than they are handled, or a client that asks faster than its connection answers.
 */
export class RequestQueueFullError extends RxnetError {
  override get name(): 'RequestQueueFullError' {
    return 'RequestQueueFullError';
  }

  readonly code = 'RXNET_ERR_REQUEST_QUEUE_FULL';

  constructor(
    /** The configured maximum of waiting requests. */
    readonly limit: number,
    options?: RxnetErrorOptions,
  ) {
    super(`More than ${limit} requests are waiting`, options);
  }
}

/**
 * Which limit refused a connection: the server's total, the peer's share, the peer's accept rate,
 * or the server shutting down (connections that were waiting for a slot when it stopped).
 */
export type ConnectionLimit =
  'maxConnections' | 'maxConnectionsPerPeer' | 'peerAcceptRate' | 'shutdown';

/**
 * A server refused a connection because of a limit (Twisted's `LimitTotalConnectionsFactory` and
 * `LimitConnectionsByPeer`). It is the `error` of a `connectionRefused` event; the peer is closed
 * (after the optional refusal message), and no connection is made.
 */
export class ConnectionLimitError extends RxnetError {
  override get name(): 'ConnectionLimitError' {
    return 'ConnectionLimitError';
  }

  readonly code = 'RXNET_ERR_CONNECTION_LIMIT';

  constructor(
    /** The limit that refused the connection. */
    readonly limit: ConnectionLimit,
    message?: string,
    options?: RxnetErrorOptions,
  ) {
    super(message ?? `Connection refused: ${limit} reached`, options);
  }
}

/**
 * A connection to a `haproxy:` endpoint did not start with a valid PROXY protocol header (v1 or
 * v2). The connection is closed before anything else is read from it.
 */
export class ProxyProtocolError extends RxnetError {
  override get name(): 'ProxyProtocolError' {
    return 'ProxyProtocolError';
  }

  readonly code = 'RXNET_ERR_PROXY_PROTOCOL';

  constructor(message: string, options?: RxnetErrorOptions) {
    super(message, options);
  }
}

/**
 * A TLS handshake failed: a plain-text client on a TLS port, a certificate the other side does not
 * trust (unknown issuer, expired, wrong name), no protocol version or cipher in common. `cause` is
 * Node's error; `reason` is OpenSSL's code for it, such as `CERT_HAS_EXPIRED`.
 */
export class TlsError extends RxnetError {
  override get name(): 'TlsError' {
    return 'TlsError';
  }

  readonly code = 'RXNET_ERR_TLS';

  /** OpenSSL's or Node's code for the failure, when it has one (`ERR_SSL_WRONG_VERSION_NUMBER`). */
  readonly reason: string | undefined;

  constructor(message?: string, options?: RxnetErrorOptions) {
    super(message ?? `TLS handshake failed${describeCause(options?.cause)}`, options);
    const code =
      typeof options?.cause === 'object' && options.cause !== null
        ? (options.cause as { code?: unknown }).code
        : undefined;
    this.reason = typeof code === 'string' ? code : undefined;
  }
}

/**
 * What happens before a connection is made (reading a PROXY header, a TLS handshake) did not finish
 * within `handshakeTimeout`: a slowloris on the handshake. The socket is destroyed.
 */
export class HandshakeTimeoutError extends RxnetError {
  override get name(): 'HandshakeTimeoutError' {
    return 'HandshakeTimeoutError';
  }

  readonly code = 'RXNET_ERR_HANDSHAKE_TIMEOUT';

  constructor(
    /** The step that did not finish. */
    readonly stage: 'proxy' | 'tls',
    /** The timeout, in milliseconds. */
    readonly timeout: number,
  ) {
    super(
      `The ${stage === 'tls' ? 'TLS handshake' : 'PROXY header'} did not finish within ${timeout} ms`,
    );
  }
}

/**
 * Why a clustered server's hub failed it: `failed`, the hub (Redis, NATS) refused a command or
 * its connection was lost (`cause`: the client's error); `trimmed`, the retained log no longer
 * starts at the cluster's first entry, so a joining node cannot compute the state the others
 * have; `fenced`, the others declared this node lost (its heartbeats stopped reaching them) and
 * already closed its connections in their view.
 */
export type HubFailure = 'failed' | 'trimmed' | 'fenced';

/** A clustered server cannot go on with its cluster: see {@link HubFailure}. */
export class HubError extends RxnetError {
  override get name(): 'HubError' {
    return 'HubError';
  }

  readonly code = 'RXNET_ERR_HUB';

  constructor(
    /** The cluster's name. */
    readonly cluster: string,
    /** What went wrong. */
    readonly reason: HubFailure,
    options?: RxnetErrorOptions,
  ) {
    super(
      `Cluster ${cluster}: ${HUB_MESSAGES[reason]}${describeCauseMessage(options?.cause)}`,
      options,
    );
  }
}

const HUB_MESSAGES: Readonly<Record<HubFailure, string>> = {
  failed: 'the hub failed',
  trimmed: 'the retained log was trimmed, so this node cannot catch up',
  fenced: 'the other nodes declared this node lost',
};

/**
 * Why a connection cannot be upgraded by `startTls`: `unsupported`, it is not rxnet's own connection
 * over a TCP or Unix socket (`memoryConnection()`, the virtual network, `fromDuplex` over another
 * stream), or its socket is behind another layer (a throttle, a `wiretap`);
 * `alreadySecure`, it is over TLS already, or an upgrade of it is under way; `notOpen`, its state
 * is not `open` (the peer's FIN came, or it is ending or closed); `notConfigured`, a behaviour
 * emitted a `startTls` command on a server given no `startTls` options.
 */
export type StartTlsRefusal = 'unsupported' | 'alreadySecure' | 'notOpen' | 'notConfigured';

/**
 * `startTls` was asked to upgrade a connection it cannot upgrade (see {@link StartTlsRefusal}).
 * The connection is aborted with it, as one whose protocol expected TLS cannot go on in plain text.
 */
export class StartTlsError extends RxnetError {
  override get name(): 'StartTlsError' {
    return 'StartTlsError';
  }

  readonly code = 'RXNET_ERR_STARTTLS';

  constructor(
    /** Why the connection cannot be upgraded. */
    readonly reason: StartTlsRefusal,
    options?: RxnetErrorOptions,
  ) {
    super(`Cannot start TLS: ${START_TLS_MESSAGES[reason]}`, options);
  }
}

const START_TLS_MESSAGES: Readonly<Record<StartTlsRefusal, string>> = {
  unsupported: 'the connection is not over a TCP or Unix socket',
  alreadySecure: 'the connection is over TLS already, or being upgraded',
  notOpen: 'the connection is not open',
  notConfigured: 'the server was given no startTls options',
};

/** `: CODE` for a cause with a string `code`, else nothing. */
function describeCode(cause: unknown): string {
  const code =
    typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? `: ${code}` : '';
}

/** `: message` for a cause with one (or a thrown string), else its code, else nothing. */
function describeCauseMessage(cause: unknown): string {
  if (typeof cause === 'string') {
    return `: ${cause}`;
  }
  const message =
    typeof cause === 'object' && cause !== null
      ? (cause as { message?: unknown }).message
      : undefined;
  return typeof message === 'string' && message !== '' ? `: ${message}` : describeCode(cause);
}

function describeCause(cause: unknown): string {
  // Duck-typed: Node's own errors come from another realm under jest's vm, where `instanceof Error` is false.
  if (typeof cause !== 'object' || cause === null) {
    return '';
  }
  const { code, message, timeout } = cause as {
    code?: unknown;
    message?: unknown;
    timeout?: unknown;
  };
  if (code === 'RXNET_ERR_CONNECT_TIMEOUT' && typeof timeout === 'number') {
    return `: timed out after ${timeout} ms`;
  }
  if (typeof code === 'string') {
    return `: ${code}`;
  }
  return typeof message === 'string' ? `: ${message}` : '';
}

/**
 * The public model: addresses, close reasons, the per-connection {@link Connection} (Twisted's
 * Transport plus its Protocol callbacks as streams), a client's lifecycle ({@link ClientEvent}),
 * and the server-wide event and command vocabulary that behaviours are written in.
 *
 * @packageDocumentation
 */
import type { Observable, OperatorFunction } from 'rxjs';
import type {
  ConnectError,
  ConnectionLimitError,
  ConnectionLostError,
  HandshakeTimeoutError,
  IdleTimeoutError,
  ProxyProtocolError,
  RxnetError,
  TlsError,
} from './errors';

/** Identifies one connection within one server (or one virtual network); assigned from 1 upwards. */
export type ConnectionId = number;

/** An IPv4 or IPv6 socket address (Twisted's `IPv4Address`/`IPv6Address`). */
export interface TcpAddress {
  /** Tells the kinds of {@link Address} apart. */
  readonly _tag: 'TcpAddress';
  /** The IP address, as Node reports it (`127.0.0.1`, `::1`). */
  readonly hostname: string;
  /** The port number; a server bound to port 0 reports the port the kernel chose. */
  readonly port: number;
  /** Which IP version `hostname` is. */
  readonly family: 'IPv4' | 'IPv6';
}

/** A Unix domain socket address (Twisted's `UNIXAddress`). */
export interface UnixAddress {
  /** Tells the kinds of {@link Address} apart. */
  readonly _tag: 'UnixAddress';
  /** The socket file's path; empty for an unbound client end. */
  readonly path: string;
}

/** The address of an in-memory connection: a Duplex pair, or the testing kit's virtual network. */
export interface MemoryAddress {
  /** Tells the kinds of {@link Address} apart. */
  readonly _tag: 'MemoryAddress';
  /** A name chosen by whoever made the connection, for logs and tests. */
  readonly name: string;
}

/** Where one end of a connection is. */
export type Address = TcpAddress | UnixAddress | MemoryAddress;

/**
 * Why a connection ended (Twisted's `connectionLost(reason)`).
 *
 * - `done`: an orderly close by either side (Twisted's `ConnectionDone`).
 * - `lost`: an unclean end, such as a reset; `error.cause` is Node's error (Twisted's `ConnectionLost`).
 * - `aborted`: closed locally without flushing; `error` says why: rxnet's own reason (bad input, a
 *   frame cut short by the peer's FIN, a full or stalled write buffer, a failed encode, a
 *   protocol's `ProtocolError`) or the one given to `abort(reason)`; absent after a bare `abort()`.
 * - `timedOut`: an idle timeout passed; `error.kind` says which (`idle`, `read` or `write`).
 */
export type CloseReason =
  | {
      /** An orderly close. */
      readonly type: 'done';
    }
  | {
      /** An unclean end. */
      readonly type: 'lost';
      /** Its `cause` is Node's error. */
      readonly error: ConnectionLostError;
    }
  | {
      /** Closed locally without flushing. */
      readonly type: 'aborted';
      /** Why, if a reason was given. */
      readonly error?: RxnetError;
    }
  | {
      /** An idle timeout passed. */
      readonly type: 'timedOut';
      /** Which timeout, and how long it was. */
      readonly error: IdleTimeoutError;
    };

/**
 * A certificate, summarised as strings (Node's `X509Certificate` fields): enough to log it, pin
 * it by fingerprint, or check whom it names.
 */
export interface TlsCertificate {
  /** The subject's distinguished name, one `KEY=value` per line (`CN=localhost`). */
  readonly subject: string;
  /** The issuer's distinguished name, in the same form. */
  readonly issuer: string;
  /** `DNS:localhost, IP Address:127.0.0.1`, or `undefined` without the extension. */
  readonly subjectAltName: string | undefined;
  /** The start of its validity, as OpenSSL prints it (`Nov 29 18:00:00 2026 GMT`). */
  readonly validFrom: string;
  /** The end of its validity, in the same form. */
  readonly validTo: string;
  /** SHA-256 of the DER encoding, as colon-separated upper-case hex. */
  readonly fingerprint256: string;
  /** The serial number, upper-case hex. */
  readonly serialNumber: string;
}

/**
 * What a connection's TLS handshake settled (`connection.tls`), read once when it finished.
 *
 * On a server, `servername` is the name the client asked for (SNI) and `peerCertificate` the
 * client's certificate, which a client sends only when the server asks for one (`requestCert`).
 * On a client, `servername` is the name it sent and checked the certificate against, and
 * `peerCertificate` the server's, which was verified before the connection was made.
 */
export interface TlsInfo {
  /** The protocol version, `TLSv1.2` or `TLSv1.3`. */
  readonly protocol: string;
  /** The cipher suite's OpenSSL name, `TLS_AES_256_GCM_SHA384`. */
  readonly cipher: string;
  /** The protocol both sides chose by ALPN (`h2`), or `undefined` when none was agreed. */
  readonly alpnProtocol: string | undefined;
  /** The server name (SNI) the client sent, or `undefined` when it sent none (an IP address). */
  readonly servername: string | undefined;
  /**
   * The peer's certificate was verified against the trusted roots: always `true` on a client
   * (an unverified server fails the connect); on a server, `true` only for a verified client
   * certificate.
   */
  readonly authorized: boolean;
  /** The peer's certificate, or `undefined` when it sent none. */
  readonly peerCertificate: TlsCertificate | undefined;
}

/** Bytes a connection can write: a string is written as UTF-8. */
export type Output = string | Uint8Array;

/**
 * A protocol's framing in both directions: `decode` turns a connection's chunks into messages,
 * `encode` turns one message into the bytes to write, as one {@link Output} or several parts
 * written in order (a header, a payload and a delimiter, never concatenated).
 *
 * Give it to a server as `framing` (`serve`, `serveConnections`), or wrap a client's connection
 * with `framed(connection, codec)`. `lines()`, `delimited()`, `netstrings()` and
 * `lengthPrefixed()` return one (see {@link Framing}); write your own for JSON lines or a binary
 * format. `encode` may throw (a message its peer would refuse): a server reports that write as
 * `writeFailed` and goes on.
 */
export interface Codec<T, O = T> {
  /** Chunks to messages; subscribed once per connection. */
  readonly decode: OperatorFunction<Buffer, T>;
  /** One message to the bytes to write: one part, or several written in order. */
  readonly encode: (value: O) => Output | readonly Output[];
}

/**
 * What `lines()`, `delimited()`, `netstrings()` and `lengthPrefixed()` return: their decoder
 * operator, which is also their {@link Codec}. Pipe it (`data$.pipe(lines())`), give it as a
 * server's `decode`, or as its `framing` for both directions at once.
 */
export type Framing<T, O = Output> = OperatorFunction<Buffer, T> & Codec<T, O>;

/**
 * Where a connection is in its life; one state, changed only by the connection itself.
 *
 * - `open`: reading and writing.
 * - `readClosed`: the peer sent FIN (Twisted's `readConnectionLost`): `data$` has completed, and
 *   writes still go out until `end()`, or until `halfOpenTimeout` ends the connection.
 * - `ending`: `end()` was called: pending output is flushed, then FIN; the connection closes when
 *   the peer's FIN arrives, or `closeTimeout` after the flush.
 * - `closing`: a close was decided (`abort()`, an error, a timeout); the transport is closing.
 * - `closed`: `closed$` has emitted the reason.
 */
export type ConnectionState = 'open' | 'readClosed' | 'ending' | 'closing' | 'closed';

/**
 * One open connection: Twisted's Transport, with its Protocol callbacks as streams.
 *
 * `data$` is `dataReceived` (its completion is `readConnectionLost`), `closed$` is
 * `connectionLost`; the connection was made when it was emitted. Writes follow Node's `write()`
 * contract: `false` means the pending output has reached the high-water mark, and while it is
 * there, rxnet stops reading from this connection.
 */
export interface Connection {
  /** This connection's number within its server, client or virtual network. */
  readonly id: ConnectionId;
  /** This end's address (Twisted's `getHost()`). */
  readonly local: Address;
  /** The peer's address (Twisted's `getPeer()`). */
  readonly remote: Address;
  /**
   * What the TLS handshake settled, on a connection over TLS (an `ssl:`/`tls:` endpoint); absent
   * on plain TCP, Unix sockets and in-memory connections.
   */
  readonly tls?: TlsInfo | undefined;
  /** Where the connection is in its life. */
  readonly state: ConnectionState;
  /**
   * Incoming chunks, multicast. Reading starts with the first subscriber and pauses while there is
   * none, so bytes wait in the socket rather than being dropped. Completes at the peer's FIN (the
   * connection stays writable: see {@link ConnectionState}) or when the connection closes cleanly
   * (`done`, or `aborted` without an error); fails with the reason's error otherwise. Nothing is
   * delivered after `end()` or `abort()`.
   */
  readonly data$: Observable<Buffer>;
  /** Emits one {@link CloseReason} when the connection has closed, then completes. Replays to late subscribers. */
  readonly closed$: Observable<CloseReason>;
  /**
   * Emits each time pending output falls back below the high-water mark after reaching it (Node's
   * `'drain'`); completes when the connection closes.
   */
  readonly drain$: Observable<void>;
  /** Bytes written but not yet handed to the kernel. */
  readonly pendingWriteBytes: number;
  /**
   * Queues bytes for sending. Returns `false` once the pending output has reached the high-water
   * mark (wait for `drain$`, or use {@link Connection.send}); after `end()` or a close, writes are
   * ignored and return `false`.
   */
  write(data: Output): boolean;
  /** Flushes pending output, then closes (Twisted's `loseConnection()`). */
  end(): void;
  /** Drops pending output and resets the connection (Twisted's `abortConnection()`). */
  abort(reason?: RxnetError): void;
  /**
   * Writes everything `source` gives, in order. The returned Observable is cold: subscribing
   * starts sending; it completes once `source` has ended and its bytes are flushed, and fails with
   * `ConnectionClosedError` if the connection closes first or was already ending. Unsubscribing
   * stops sending but leaves the connection open.
   *
   * An AsyncIterable (a Node `Readable`, an async generator) is pulled only while the output is
   * below the high-water mark, so at most the mark plus one chunk of it is pending. An Observable
   * cannot be paused: its values are written as they come, bounded by `maxPendingWriteBytes` and
   * `drainTimeout`.
   */
  send(source: Observable<Output> | AsyncIterable<Output>): Observable<never>;
  /** Stops reading from the peer until `resume()` (Twisted's `pauseProducing()`). */
  pause(): void;
  /** Undoes `pause()` (Twisted's `resumeProducing()`). */
  resume(): void;
}

/**
 * One step of a client's life: Twisted's `ClientFactory` callbacks as values.
 *
 * - `connecting`: an attempt started (`startedConnecting`), to `endpoint`;
 * - `connected`: the attempt succeeded (`buildProtocol`/`connectionMade`);
 * - `failed`: the attempt failed (`clientConnectionFailed`), with a {@link ConnectError};
 * - `lost`: the connection ended (`clientConnectionLost`), with its {@link CloseReason}.
 *
 * `E` is what an attempt connects to, which depends on who connects: rxnet's `connectEvents`
 * gives the parsed `ClientEndpoint` (its events are `ClientEvent<ClientEndpoint>`), and the
 * testing kit's `VirtualNetwork.connectEvents` the server's {@link MemoryAddress}. The parameter
 * keeps this model free of the socket edge while each producer stays precisely typed; code that
 * follows any client's life, such as a logger or a reconnecting client, takes the default.
 */
export type ClientEvent<E = unknown> =
  | {
      /** An attempt started. */
      readonly type: 'connecting';
      /** What it connects to. */
      readonly endpoint: E;
    }
  | {
      /** The attempt succeeded. */
      readonly type: 'connected';
      /** The new connection. */
      readonly connection: Connection;
    }
  | {
      /** The attempt failed. */
      readonly type: 'failed';
      /** Why, with Node's error as its `cause`. */
      readonly error: ConnectError;
    }
  | {
      /** The connection ended. */
      readonly type: 'lost';
      /** How it ended. */
      readonly reason: CloseReason;
    };

/** A connection was accepted (Twisted's `connectionMade`). */
export interface ConnectionMade {
  /** Tells the kinds of {@link ServerEvent} apart. */
  readonly type: 'connectionMade';
  /** The new connection's id, which its other events carry too. */
  readonly id: ConnectionId;
  /** This end's address. */
  readonly local: Address;
  /** The peer's address. */
  readonly remote: Address;
}

/** A connection received data: a chunk, or a frame once the connection is framed. */
export interface DataReceived<T = Buffer> {
  /** Tells the kinds of {@link ServerEvent} apart. */
  readonly type: 'data';
  /** The connection that received it. */
  readonly id: ConnectionId;
  /** A chunk of bytes, or one decoded frame. */
  readonly data: T;
}

/**
 * The peer sent FIN: it will send nothing more, and the connection is still writable (Twisted's
 * `readConnectionLost`). A behaviour that has nothing more to say emits `close`; otherwise the
 * connection ends by itself after `halfOpenTimeout`.
 */
export interface ReadConnectionLost {
  /** Tells the kinds of {@link ServerEvent} apart. */
  readonly type: 'readConnectionLost';
  /** The connection whose peer sent FIN. */
  readonly id: ConnectionId;
}

/** A connection closed (Twisted's `connectionLost(reason)`). */
export interface ConnectionLost {
  /** Tells the kinds of {@link ServerEvent} apart. */
  readonly type: 'connectionLost';
  /** The connection that closed; no event carries its id after this one. */
  readonly id: ConnectionId;
  /** Why it closed. */
  readonly reason: CloseReason;
}

/**
 * A server turned a peer away before a connection was made: a limit (`maxConnections`,
 * `maxConnectionsPerPeer`, the per-peer accept rate), a bad PROXY header, a failed or too slow TLS
 * handshake. No id was given and no `connectionMade` or `connectionLost` follows.
 */
export interface ConnectionRefused {
  /** Tells the kinds of {@link ServerEvent} apart. */
  readonly type: 'connectionRefused';
  /** The peer, as far as it is known (the socket's address if the PROXY header was bad). */
  readonly remote: Address;
  /** Why the peer was turned away. */
  readonly error: ConnectionLimitError | ProxyProtocolError | TlsError | HandshakeTimeoutError;
}

/**
 * The server began a graceful shutdown: it accepts nothing more, and at `deadline` (milliseconds
 * from now) it aborts the connections still open. The behaviour's chance to say goodbye: what it
 * writes now is flushed before each connection ends.
 */
export interface ShuttingDown {
  /** Tells the kinds of {@link ServerEvent} apart. */
  readonly type: 'shuttingDown';
  /** Milliseconds until the connections still open are aborted. */
  readonly deadline: number;
}

/**
 * A `startTls` command was carried out: the connection's TLS handshake finished, and what it
 * receives and writes from now on goes over TLS. Its frames are decoded afresh from here: bytes
 * the decoder held from before the upgrade were dropped. A failed upgrade is a `connectionLost`
 * instead, aborted with the `TlsError` or `HandshakeTimeoutError`.
 */
export interface TlsStarted {
  /** Tells the kinds of {@link ServerEvent} apart. */
  readonly type: 'tlsStarted';
  /** The connection now over TLS. */
  readonly id: ConnectionId;
  /** What its handshake settled (also `connection.tls` from now on). */
  readonly tls: TlsInfo;
}

/** What happens on a server, every connection's events on one stream, each tagged with its connection. */
export type ServerEvent<T = Buffer> =
  | ConnectionMade
  | DataReceived<T>
  | ReadConnectionLost
  | ConnectionLost
  | ConnectionRefused
  | ShuttingDown
  | TlsStarted;

/** Write to one connection, or to several at once (so a broadcast is one command, not one per receiver). */
export interface WriteCommand<O = Output> {
  /** Tells the kinds of {@link ServerCommand} apart. */
  readonly type: 'write';
  /** The receiver, or every receiver. */
  readonly to: ConnectionId | readonly ConnectionId[];
  /** Bytes, or a message the server's encoder turns into bytes. */
  readonly data: O;
}

/** Flush, then close one connection (`loseConnection`). */
export interface CloseCommand {
  /** Tells the kinds of {@link ServerCommand} apart. */
  readonly type: 'close';
  /** The connection to close. */
  readonly id: ConnectionId;
}

/** Drop pending output and reset one connection (`abortConnection`). */
export interface AbortCommand {
  /** Tells the kinds of {@link ServerCommand} apart. */
  readonly type: 'abort';
  /** The connection to reset. */
  readonly id: ConnectionId;
  /** Why: the connection closes with `{ type: 'aborted', error: reason }` (absent: `{ type: 'aborted' }`). */
  readonly reason?: RxnetError;
}

/**
 * Upgrade one connection to TLS (SMTP's and IMAP's STARTTLS, Twisted's `transport.startTLS`),
 * with the server's `startTls` options. Whatever was written before it goes out in plain text
 * first (the "220 Go ahead"); the connection's frames after it in the same chunk, and bytes its
 * decoder held, are dropped; `tlsStarted` follows once the handshake finished.
 */
export interface StartTlsCommand {
  /** Tells the kinds of {@link ServerCommand} apart. */
  readonly type: 'startTls';
  /** The connection to upgrade. */
  readonly id: ConnectionId;
}

/** What a behaviour asks the server to do. */
export type ServerCommand<O = Output> =
  WriteCommand<O> | CloseCommand | AbortCommand | StartTlsCommand;

/**
 * A whole server's logic as a pure function: events in, commands out, with no socket and no clock.
 *
 * Behaviour operators pass events through so the next operator can react to them; the server
 * carries out the commands, and emits the events that reach the end of the pipeline (for logs and
 * tests). Those events are the server's own, annotated perhaps (a `count`), so their data is still
 * of the frame type `T`, and `serve`'s notifications are typed with it.
 */
export type Behaviour<T = Buffer, O = Output> = (
  events: Observable<ServerEvent<T>>,
) => Observable<ServerCommand<O> | ServerEvent<T>>;

/**
 * Anything on a behaviour's mixed stream: an event passing through, or a command added to it.
 *
 * A behaviour operator is an `OperatorFunction<E, E | …commands>` with `E extends BehaviourItem`:
 * it accepts whatever the operators before it produced, annotations included (the `count` of
 * `countConnections`), passes each item on unchanged, and adds its commands after the event that
 * caused them. `docs/operators.md` walks through writing one.
 */
export type BehaviourItem = ServerEvent<unknown> | ServerCommand<unknown>;

/**
 * The type of the data the `data` events among `E` carry: `DataOf<ServerEvent<string>>` is
 * `string`. A behaviour operator types its callbacks with it, so they see the frame type of the
 * stream they are on; `never` when `E` has no `data` event.
 */
export type DataOf<E> = E extends DataReceived<infer T> ? T : never;

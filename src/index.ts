/**
 * Reactive TCP networking on RxJS: servers (`listen`, `serve`), clients (`connect`), framing,
 * behaviours, per-connection protocols, TLS and wiretap. The README has a tour.
 *
 * @packageDocumentation
 * @module rxnet
 */

/* Framing */
export {
  DEFAULT_LINE_DELIMITER,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_MAX_NETSTRING_BYTES,
  type TruncationOptions,
} from './framing/limits';
export { lines, encodeLines, encodeLine, type LinesOptions } from './framing/lines';
export {
  delimited,
  encodeDelimited,
  encodeDelimitedFrame,
  type DelimitedOptions,
} from './framing/delimited';
export {
  netstrings,
  encodeNetstrings,
  encodeNetstring,
  type NetstringsOptions,
} from './framing/netstrings';
export {
  lengthPrefixed,
  encodeLengthPrefixed,
  encodeLengthPrefixedFrame,
  type LengthPrefixedOptions,
} from './framing/lengthPrefixed';
export { modal, type FramingMode, type ModalFrame, type ModalOptions } from './framing/modal';
export { utf8 } from './framing/utf8';
export { framingOf } from './framing/codec';
export { framed, type FramedConnection } from './framing/framed';

/* Behaviours */
export { countConnections, type ConnectionCount, type Counted } from './operators/countConnections';
export { greet } from './operators/greet';
export { closeOn } from './operators/closeOn';
export { lineEquals } from './operators/lineEquals';
export { broadcast, type BroadcastOptions } from './operators/broadcast';
export { echo, type EchoOptions } from './operators/echo';
export { sendEvery, type SendEveryConfig } from './operators/sendEvery';

/* Commands */
export { write, close, abort, isConnectionEvent, type ConnectionEvent } from './commands';

/* Close reasons */
export { describeCloseReason } from './describeCloseReason';

/* Observability */
export {
  wiretap,
  DEFAULT_WIRETAP_MAX_DUMP_BYTES,
  type WiretapLog,
  type WiretapOptions,
  type WiretapRecord,
  type WiretapRecordOptions,
  type WiretapTextOptions,
} from './observability/wiretap';
export {
  DIAGNOSTICS_CHANNELS,
  type ConnectionClosedMessage,
  type ConnectionOpenedMessage,
  type ConnectionRefusedMessage,
  type ConnectionTraffic,
  type DiagnosticsRole,
  type FrameErrorMessage,
  type RequestMessage,
  type RequestSide,
  type ServerListeningMessage,
  type ShutdownMessage,
} from './observability/diagnostics';

/* Protocols */
export { protocol, type ProtocolItem } from './protocols/protocol';
export {
  forward,
  type Forwarded,
  type PerConnection,
  type ProtocolContext,
} from './protocols/context';
export { runProtocol, type RunProtocolOptions } from './protocols/runProtocol';
export { respond, type RespondOptions, type RespondOrder } from './protocols/respond';
export {
  requester,
  type Correlation,
  type RequestAsyncOptions,
  type Requester,
  type RequesterOptions,
} from './protocols/requester';
export {
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_QUEUED_REQUESTS,
  DEFAULT_REQUEST_TIMEOUT,
  DEFAULT_RESPOND_CONCURRENCY,
} from './protocols/limits';

/* Server */
export { listen, DEFAULT_HANDSHAKE_TIMEOUT, type ListenOptions } from './net/listen';
export { serve, type Listening, type ServerNotification, type ServeOptions } from './net/serve';
export { startTls, type StartTlsOptions } from './net/tls/startTls';
export { type TlsListenOptions } from './net/tls/serverTls';
export { type Pem, type TlsCredentials, type TlsKeyPair } from './net/tls/secureContext';
export { shutdownSignals } from './net/shutdownSignals';
export {
  DEFAULT_WHEN_FULL,
  DEFAULT_MAX_WAITING_CONNECTIONS,
  type AdmissionOptions,
  type WhenFull,
  type PeerAcceptRate,
} from './net/admission';
export { ServerCounters, type RefusalReason } from './net/serverCounters';
export { type ServerThrottleOptions } from './transport/connection/throttle';

/* Client */
export {
  connect,
  connectAsync,
  connectEvents,
  type ConnectOptions,
  type ConnectAsyncOptions,
} from './net/connect';
export { type TlsConnectOptions } from './net/tls/clientTls';
export {
  reconnect,
  DEFAULT_RECONNECT_INITIAL_DELAY,
  DEFAULT_RECONNECT_FACTOR,
  DEFAULT_RECONNECT_JITTER,
  DEFAULT_RECONNECT_MAX_DELAY,
  type ReconnectConfig,
} from './operators/reconnect';

/* Endpoints */
export {
  serverFromString,
  clientFromString,
  DEFAULT_BACKLOG,
  DEFAULT_CONNECT_TIMEOUT,
  type ServerEndpoint,
  type TcpServerEndpoint,
  type UnixServerEndpoint,
  type ClientEndpoint,
  type TcpClientEndpoint,
  type UnixClientEndpoint,
  type TlsServerEndpoint,
  type HaproxyServerEndpoint,
  type TlsClientEndpoint,
  type TlsMinVersion,
} from './net/endpoints';

/* Transport */
export {
  fromDuplex,
  DEFAULT_WRITE_HIGH_WATER_MARK,
  DEFAULT_MAX_PENDING_WRITE_BYTES,
  DEFAULT_DRAIN_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_HALF_OPEN_TIMEOUT,
  DEFAULT_CLIENT_HALF_OPEN_TIMEOUT,
  type ConnectionOptions,
  type ConnectionInfo,
} from './transport/fromDuplex';
export {
  serveConnections,
  DEFAULT_SHUTDOWN_TIMEOUT,
  type ServeConnectionsOptions,
  type ServerOutput,
  type ShutdownComplete,
  type ShutdownProgress,
  type WriteFailed,
  type CommandRejected,
} from './transport/serveConnections';

/* Cluster */
export {
  serveClustered,
  type ClusterNotification,
  type Joined,
  type ServeClusteredOptions,
} from './cluster/serveClustered';
export {
  DEFAULT_CLUSTER,
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_MAX_LOG_ENTRIES,
  DEFAULT_NODE_TIMEOUT,
  type Hub,
} from './cluster/hub';
export { memoryHub } from './cluster/memoryHub';
export {
  NODE_ID_SPAN,
  clusterId,
  nodeOf,
  localIdOf,
  encodeEntry,
  decodeEntry,
  type ClusterEvent,
  type LogEntry,
} from './cluster/entries';
export { replayLog } from './cluster/replayLog';
export { ownCommands } from './cluster/ownCommands';
export { detectLostNodes, type DetectLostNodesOptions } from './cluster/detectLostNodes';
export { checkDeterminism, type DeterminismReport } from './cluster/checkDeterminism';

/* Errors */
export {
  RxnetError,
  FrameTooLongError,
  InvalidFrameError,
  TruncatedFrameError,
  ConnectionLostError,
  ConnectionClosedError,
  ConnectError,
  ListenError,
  InvalidEndpointError,
  ConnectTimeoutError,
  IdleTimeoutError,
  DrainTimeoutError,
  WriteBufferFullError,
  EncodeError,
  BehaviourError,
  InvalidCommandError,
  ProtocolError,
  RequestTimeoutError,
  RequestQueueFullError,
  ConnectionLimitError,
  ProxyProtocolError,
  TlsError,
  HandshakeTimeoutError,
  StartTlsError,
  type StartTlsRefusal,
  HubError,
  type HubFailure,
  type ConnectionLimit,
  type IdleTimeoutKind,
  type RxnetErrorCode,
  type RxnetErrorOptions,
} from './errors';

/* Types */
export type {
  ConnectionId,
  TcpAddress,
  UnixAddress,
  MemoryAddress,
  Address,
  CloseReason,
  Output,
  Codec,
  Framing,
  Connection,
  ConnectionMade,
  DataReceived,
  ReadConnectionLost,
  ConnectionLost,
  ConnectionRefused,
  ShuttingDown,
  TlsStarted,
  ConnectionState,
  ServerEvent,
  WriteCommand,
  CloseCommand,
  AbortCommand,
  StartTlsCommand,
  ServerCommand,
  Behaviour,
  BehaviourItem,
  DataOf,
  ClientEvent,
  TlsInfo,
  TlsCertificate,
} from './types';

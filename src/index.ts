/* Behaviours */
export { countConnections, type ConnectionCount, type Counted } from './operators/countConnections';
export { greet } from './operators/greet';
export { closeOn } from './operators/closeOn';
export { lineEquals } from './operators/lineEquals';
export { broadcast, type BroadcastOptions } from './operators/broadcast';
export { echo, type EchoOptions } from './operators/echo';
export { sendEvery, type SendEveryConfig } from './operators/sendEvery';

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
  IdleTimeoutError,
  WriteBufferFullError,
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
  Connection,
  ConnectionMade,
  DataReceived,
  ConnectionLost,
  ServerEvent,
  WriteCommand,
  CloseCommand,
  AbortCommand,
  ServerCommand,
  Behaviour,
} from './types';

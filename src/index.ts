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

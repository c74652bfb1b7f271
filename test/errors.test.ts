import {
  ConnectError,
  ConnectionClosedError,
  ConnectionLostError,
  FrameTooLongError,
  IdleTimeoutError,
  InvalidEndpointError,
  InvalidFrameError,
  ListenError,
  RxnetError,
  TruncatedFrameError,
  WriteBufferFullError,
} from '../src/index';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
  code: 'ECONNREFUSED',
});

describe('errors', () => {
  const table: ReadonlyArray<[RxnetError, string, string, string]> = [
    [
      new FrameTooLongError(16, 17),
      'FrameTooLongError',
      'RXNET_ERR_FRAME_TOO_LONG',
      'Frame of 17 bytes exceeds the limit of 16 bytes',
    ],
    [
      new InvalidFrameError('missing comma'),
      'InvalidFrameError',
      'RXNET_ERR_INVALID_FRAME',
      'Invalid frame: missing comma',
    ],
    [
      new TruncatedFrameError(3),
      'TruncatedFrameError',
      'RXNET_ERR_TRUNCATED_FRAME',
      'Stream ended inside a frame, with 3 bytes buffered',
    ],
    [
      new ConnectionLostError(),
      'ConnectionLostError',
      'RXNET_ERR_CONNECTION_LOST',
      'Connection lost',
    ],
    [
      new ConnectionClosedError(),
      'ConnectionClosedError',
      'RXNET_ERR_CONNECTION_CLOSED',
      'Connection is closed',
    ],
    [
      new ConnectError('tcp:127.0.0.1:1', { cause: refused }),
      'ConnectError',
      'RXNET_ERR_CONNECT',
      'Could not connect to tcp:127.0.0.1:1: ECONNREFUSED',
    ],
    [new ListenError('tcp:80'), 'ListenError', 'RXNET_ERR_LISTEN', 'Could not listen on tcp:80'],
    [
      new InvalidEndpointError('tcp:x', 'port is not a number'),
      'InvalidEndpointError',
      'RXNET_ERR_INVALID_ENDPOINT',
      'Invalid endpoint "tcp:x": port is not a number',
    ],
    [
      new IdleTimeoutError(30000),
      'IdleTimeoutError',
      'RXNET_ERR_IDLE_TIMEOUT',
      'No activity for 30000 ms',
    ],
    [
      new WriteBufferFullError(1024, 2048),
      'WriteBufferFullError',
      'RXNET_ERR_WRITE_BUFFER_FULL',
      'Pending output of 2048 bytes exceeds the limit of 1024 bytes',
    ],
  ];

  describe.each(table)('%p', (error, name, code, message) => {
    it(`is an RxnetError and an Error named ${name}`, () => {
      expect(error).toBeInstanceOf(RxnetError);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
    });

    it(`has code ${code}`, () => {
      expect(error.code).toBe(code);
    });

    it('has a message that names what went wrong', () => {
      expect(error.message).toBe(message);
    });
  });

  it('keeps the underlying error as cause', () => {
    expect(new ConnectError('tcp:127.0.0.1:1', { cause: refused }).cause).toBe(refused);
    expect(new ConnectionLostError('reset', { cause: refused }).cause).toBe(refused);
  });

  it('has no cause when none was given', () => {
    expect('cause' in new ListenError('tcp:80')).toBe(false);
  });

  it('carries structured fields', () => {
    expect(new FrameTooLongError(16, 17)).toMatchObject({ limit: 16, received: 17 });
    expect(new WriteBufferFullError(1, 2)).toMatchObject({ limit: 1, pending: 2 });
    expect(new ConnectError('tcp:h:1')).toMatchObject({ endpoint: 'tcp:h:1' });
    expect(new InvalidEndpointError('x', 'y')).toMatchObject({ description: 'x', reason: 'y' });
  });
});

describe('ConnectError', () => {
  it("names the cause's code when the cause comes from another realm", () => {
    const foreign = { name: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' };
    expect(new ConnectError('tcp:h:1', { cause: foreign }).message).toBe(
      'Could not connect to tcp:h:1: ECONNREFUSED',
    );
  });

  it("falls back to the cause's message when it has no code", () => {
    expect(new ListenError('tcp:1', { cause: new Error('boom') }).message).toBe(
      'Could not listen on tcp:1: boom',
    );
  });
});

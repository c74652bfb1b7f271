import {
  BehaviourError,
  ConnectError,
  ConnectTimeoutError,
  ConnectionClosedError,
  ConnectionLostError,
  DrainTimeoutError,
  EncodeError,
  FrameTooLongError,
  IdleTimeoutError,
  InvalidEndpointError,
  InvalidFrameError,
  InvalidCommandError,
  ListenError,
  ProtocolError,
  RequestQueueFullError,
  RequestTimeoutError,
  RxnetError,
  StartTlsError,
  TruncatedFrameError,
  WriteBufferFullError,
} from '../src/index';

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
  code: 'ECONNREFUSED',
});
const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

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
      new ConnectionLostError(undefined, { cause: reset }),
      'ConnectionLostError',
      'RXNET_ERR_CONNECTION_LOST',
      'Connection lost: ECONNRESET',
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
    [
      new ConnectError('tcp:127.0.0.1:1', { cause: new ConnectTimeoutError(30000) }),
      'ConnectError',
      'RXNET_ERR_CONNECT',
      'Could not connect to tcp:127.0.0.1:1: timed out after 30000 ms',
    ],
    [
      new ConnectTimeoutError(30000),
      'ConnectTimeoutError',
      'RXNET_ERR_CONNECT_TIMEOUT',
      'Connect attempt timed out after 30000 ms',
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
      new IdleTimeoutError(30000, 'idle'),
      'IdleTimeoutError',
      'RXNET_ERR_IDLE_TIMEOUT',
      'No activity for 30000 ms',
    ],
    [
      new IdleTimeoutError(5000, 'read'),
      'IdleTimeoutError',
      'RXNET_ERR_IDLE_TIMEOUT',
      'Nothing received for 5000 ms',
    ],
    [
      new IdleTimeoutError(5000, 'write'),
      'IdleTimeoutError',
      'RXNET_ERR_IDLE_TIMEOUT',
      'Nothing written for 5000 ms',
    ],
    [
      new DrainTimeoutError(10000, 65536),
      'DrainTimeoutError',
      'RXNET_ERR_DRAIN_TIMEOUT',
      'Pending output of 65536 bytes did not drain below the high-water mark within 10000 ms',
    ],
    [
      new WriteBufferFullError(1024, 2048),
      'WriteBufferFullError',
      'RXNET_ERR_WRITE_BUFFER_FULL',
      'Pending output of 2048 bytes exceeds the limit of 1024 bytes',
    ],
    [
      new EncodeError('data must be a string or a Uint8Array, got number'),
      'EncodeError',
      'RXNET_ERR_ENCODE',
      'data must be a string or a Uint8Array, got number',
    ],
    [
      new EncodeError(undefined, { cause: new TypeError('Converting circular structure to JSON') }),
      'EncodeError',
      'RXNET_ERR_ENCODE',
      'Could not encode the data to write: Converting circular structure to JSON',
    ],
    [new EncodeError(), 'EncodeError', 'RXNET_ERR_ENCODE', 'Could not encode the data to write'],
    [
      new BehaviourError({ cause: new Error('boom') }),
      'BehaviourError',
      'RXNET_ERR_BEHAVIOUR',
      'Behaviour failed: boom',
    ],
    [new BehaviourError(), 'BehaviourError', 'RXNET_ERR_BEHAVIOUR', 'Behaviour failed'],
    [
      new ProtocolError({ cause: new Error('bad nick') }),
      'ProtocolError',
      'RXNET_ERR_PROTOCOL',
      'Protocol failed: bad nick',
    ],
    [new ProtocolError(), 'ProtocolError', 'RXNET_ERR_PROTOCOL', 'Protocol failed'],
    [
      new RequestTimeoutError(5000),
      'RequestTimeoutError',
      'RXNET_ERR_REQUEST_TIMEOUT',
      'Request timed out after 5000 ms',
    ],
    [
      new RequestQueueFullError(1024),
      'RequestQueueFullError',
      'RXNET_ERR_REQUEST_QUEUE_FULL',
      'More than 1024 requests are waiting',
    ],
    [
      new InvalidCommandError('a write needs `to`'),
      'InvalidCommandError',
      'RXNET_ERR_INVALID_COMMAND',
      'Invalid command: a write needs `to`',
    ],
    [
      new StartTlsError('unsupported'),
      'StartTlsError',
      'RXNET_ERR_STARTTLS',
      'Cannot start TLS: the connection is not over a TCP or Unix socket',
    ],
    [
      new StartTlsError('notConfigured'),
      'StartTlsError',
      'RXNET_ERR_STARTTLS',
      'Cannot start TLS: the server was given no startTls options',
    ],
  ];

  describe.each(table)('%p', (error, name, code, message) => {
    it(`is an RxnetError and an Error named ${name}`, () => {
      expect(error).toBeInstanceOf(RxnetError);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
    });

    it('keeps its name when its class is renamed, as a minifier does', () => {
      const renamed = error.constructor;
      const original = Object.getOwnPropertyDescriptor(renamed, 'name')!;
      Object.defineProperty(renamed, 'name', { ...original, value: 'e' });
      try {
        expect(renamed.name).toBe('e');
        expect(error.name).toBe(name);
        expect(String(error)).toBe(`${name}: ${message}`);
      } finally {
        Object.defineProperty(renamed, 'name', original);
      }
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
    expect(new BehaviourError({ cause: refused }).cause).toBe(refused);
    const timedOut = new ConnectTimeoutError(5);
    expect(new ConnectError('tcp:h:1', { cause: timedOut }).cause).toBe(timedOut);
  });

  it('has no cause when none was given', () => {
    expect('cause' in new ListenError('tcp:80')).toBe(false);
  });

  it('carries structured fields', () => {
    expect(new FrameTooLongError(16, 17)).toMatchObject({ limit: 16, received: 17 });
    expect(new WriteBufferFullError(1, 2)).toMatchObject({ limit: 1, pending: 2 });
    expect(new ConnectError('tcp:h:1')).toMatchObject({ endpoint: 'tcp:h:1' });
    expect(new InvalidEndpointError('x', 'y')).toMatchObject({ description: 'x', reason: 'y' });
    expect(new ConnectTimeoutError(5000)).toMatchObject({ timeout: 5000 });
    expect(new IdleTimeoutError(5000)).toMatchObject({ timeout: 5000, kind: 'idle' });
    expect(new IdleTimeoutError(5000, 'write')).toMatchObject({ timeout: 5000, kind: 'write' });
    expect(new DrainTimeoutError(100, 2048)).toMatchObject({ timeout: 100, pending: 2048 });
    expect(new RequestTimeoutError(5000)).toMatchObject({ timeout: 5000 });
    expect(new RequestQueueFullError(16)).toMatchObject({ limit: 16 });
    expect(new StartTlsError('alreadySecure')).toMatchObject({ reason: 'alreadySecure' });
  });

  it('takes the options third in IdleTimeoutError, after the kind', () => {
    expect(new IdleTimeoutError(5000, 'read', { cause: reset }).cause).toBe(reset);
    expect(new IdleTimeoutError(5000, undefined, { cause: reset })).toMatchObject({
      kind: 'idle',
      cause: reset,
    });
  });
});

describe('ConnectionLostError', () => {
  it("names the cause's code, such as ECONNRESET, when the cause comes from another realm", () => {
    const foreign = { name: 'Error', message: 'read ECONNRESET', code: 'ECONNRESET' };
    expect(new ConnectionLostError(undefined, { cause: foreign }).message).toBe(
      'Connection lost: ECONNRESET',
    );
  });

  it('keeps a message it is given', () => {
    expect(new ConnectionLostError('gone', { cause: reset }).message).toBe('gone');
  });

  it('says only "Connection lost" for a cause without a code', () => {
    expect(new ConnectionLostError(undefined, { cause: new Error('x') }).message).toBe(
      'Connection lost',
    );
  });
});

describe('BehaviourError', () => {
  it('names a thrown string, or the code of a cause without a message', () => {
    expect(new BehaviourError({ cause: 'bad state' }).message).toBe('Behaviour failed: bad state');
    expect(new BehaviourError({ cause: { code: 'EPIPE' } }).message).toBe(
      'Behaviour failed: EPIPE',
    );
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

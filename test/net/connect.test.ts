import { getEventListeners, once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  VirtualTimeScheduler,
  firstValueFrom,
  lastValueFrom,
  map,
  take,
  tap,
  toArray,
  type Subscription,
} from 'rxjs';
import { ConnectError, ConnectTimeoutError, InvalidEndpointError } from '../../src/errors';
import { connect, connectAsync, connectEvents, type ClientEvent } from '../../src/net/connect';
import { reconnect } from '../../src/operators/reconnect';
import type { Connection } from '../../src/types';
import { refusedPort, startListening, type Listener } from '../helpers/sockets';

describe('connect', () => {
  let listener: Listener | undefined;
  let client: Subscription | undefined;

  afterEach(() => {
    client?.unsubscribe();
    listener?.subscription.unsubscribe();
    client = undefined;
    listener = undefined;
  });

  describe('success', () => {
    it('emits the Connection once connected, with both addresses, and carries data both ways', async () => {
      listener = await startListening();
      const connection = await new Promise<Connection>((resolve) => {
        client = connect(`tcp:127.0.0.1:${listener!.port}`).subscribe(resolve);
      });
      const server = await listener.accepted(0);
      expect(connection.remote).toEqual(listener.address);
      expect(connection.local).toEqual(server.remote);
      const received = firstValueFrom(server.data$);
      connection.write('hello');
      expect((await received).toString()).toBe('hello');
      const reply = firstValueFrom(connection.data$);
      server.write('world');
      expect((await reply).toString()).toBe('world');
    });

    it('reaches an IPv4 server through tcp:localhost, as Twisted clients do', async () => {
      listener = await startListening();
      const connection = await new Promise<Connection>((resolve) => {
        client = connect(`tcp:localhost:${listener!.port}`).subscribe(resolve);
      });
      expect(connection.remote).toMatchObject({ hostname: '127.0.0.1', family: 'IPv4' });
    });

    it('completes when the connection closes', async () => {
      listener = await startListening();
      const closed = lastValueFrom(
        connect(`tcp:127.0.0.1:${listener.port}`).pipe(
          // Reading is what notices the peer's FIN.
          tap((connection) => connection.data$.subscribe()),
          map((connection) => connection.id),
        ),
      );
      (await listener.accepted(0)).end();
      expect(await closed).toBe(1);
    });

    it('ends the connection gracefully on unsubscribe', async () => {
      listener = await startListening();
      const connection = await new Promise<Connection>((resolve) => {
        client = connect(`tcp:127.0.0.1:${listener!.port}`).subscribe(resolve);
      });
      const server = await listener.accepted(0);
      const serverClosed = firstValueFrom(server.closed$);
      server.data$.subscribe();
      connection.write('last');
      client!.unsubscribe();
      expect(await serverClosed).toEqual({ type: 'done' });
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
    });
  });

  describe('failure', () => {
    it('fails with ConnectError naming the endpoint when refused (ECONNREFUSED)', async () => {
      const endpoint = `tcp:127.0.0.1:${await refusedPort()}`;
      const error: unknown = await firstValueFrom(connect(endpoint)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).endpoint).toBe(endpoint);
      expect(((error as ConnectError).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    });

    it('fails with ConnectError caused by ConnectTimeoutError when the timeout passes first', async () => {
      listener = await startListening();
      const scheduler = new VirtualTimeScheduler();
      const endpoint = `tcp:127.0.0.1:${listener.port}:timeout=5`;
      const result = firstValueFrom(connect(endpoint, { scheduler })).catch((e: unknown) => e);
      scheduler.flush();
      const error = await result;
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).message).toBe(
        `Could not connect to ${endpoint}: timed out after 5000 ms`,
      );
      const cause = (error as ConnectError).cause;
      expect(cause).toBeInstanceOf(ConnectTimeoutError);
      expect(cause).toMatchObject({ code: 'RXNET_ERR_CONNECT_TIMEOUT', timeout: 5000 });
      expect(scheduler.now()).toBe(5000);
    });

    it('emits failed with a ConnectError (cause ConnectTimeoutError) from connectEvents on timeout', async () => {
      listener = await startListening();
      const scheduler = new VirtualTimeScheduler();
      const events = lastValueFrom(
        connectEvents(`tcp:127.0.0.1:${listener.port}`, { scheduler, connectTimeout: 250 }).pipe(
          toArray(),
        ),
      );
      scheduler.flush();
      const failed = (await events)[1];
      expect(failed?.type).toBe('failed');
      const error = failed?.type === 'failed' ? failed.error : undefined;
      expect(error).toBeInstanceOf(ConnectError);
      expect(error?.cause).toMatchObject({ code: 'RXNET_ERR_CONNECT_TIMEOUT', timeout: 250 });
      expect(scheduler.now()).toBe(250);
    });

    it('cancels the attempt and its timeout on unsubscribe', async () => {
      listener = await startListening();
      const scheduler = new VirtualTimeScheduler();
      const events: string[] = [];
      connectEvents(`tcp:127.0.0.1:${listener.port}`, { scheduler })
        .subscribe((event) => events.push(event.type))
        .unsubscribe();
      expect(scheduler.actions).toHaveLength(0);
      expect(events).toEqual(['connecting']);
    });

    it('fails with ConnectError caused by ENOTFOUND when the host does not resolve', async () => {
      // .invalid never resolves (RFC 6761), and fails fast on this loopback-only machine.
      const endpoint = 'tcp:rxnet.invalid:80';
      const error: unknown = await firstValueFrom(connect(endpoint)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).endpoint).toBe(endpoint);
      expect(['ENOTFOUND', 'EAI_AGAIN']).toContain(
        ((error as ConnectError).cause as NodeJS.ErrnoException).code,
      );
    });

    it('fails with ConnectError for a Unix socket path that does not exist', async () => {
      const error: unknown = await firstValueFrom(connect('unix:/nonexistent/rxnet.sock')).catch(
        (e: unknown) => e,
      );
      expect(((error as ConnectError).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    });
  });
});

describe('connectTimeout', () => {
  const endpoint = 'tcp:127.0.0.1:1';

  it.each([2 ** 31, 2 ** 40, -1, NaN])(
    'throws RangeError at call time for connectTimeout %p',
    (connectTimeout) => {
      expect(() => connect(endpoint, { connectTimeout })).toThrow(RangeError);
      expect(() => connectEvents(endpoint, { connectTimeout })).toThrow(RangeError);
    },
  );

  it("throws RangeError at call time for an endpoint's timeout (seconds) beyond 2^31-1 ms", () => {
    expect(() => connect(`${endpoint}:timeout=2147484`)).toThrow(RangeError);
    expect(() => connect(`${endpoint}:timeout=2147483`)).not.toThrow();
  });

  it('throws TypeError at call time for a connectTimeout that is not a number', () => {
    expect(() => connect(endpoint, { connectTimeout: '5' as unknown as number })).toThrow(
      TypeError,
    );
  });

  it('waits the whole of the largest delay Node timers hold, 2^31-1 ms', async () => {
    const listener = await startListening();
    try {
      const scheduler = new VirtualTimeScheduler();
      const result = firstValueFrom(
        connect(`tcp:127.0.0.1:${listener.port}`, { scheduler, connectTimeout: 2 ** 31 - 1 }),
      ).catch((e: unknown) => e);
      scheduler.flush();
      expect(((await result) as ConnectError).cause).toMatchObject({ timeout: 2 ** 31 - 1 });
      expect(scheduler.now()).toBe(2 ** 31 - 1);
    } finally {
      listener.subscription.unsubscribe();
    }
  });

  it.each([0, Infinity])('schedules no timeout for connectTimeout %p', async (connectTimeout) => {
    const listener = await startListening();
    const scheduler = new VirtualTimeScheduler();
    const subscription = connectEvents(`tcp:127.0.0.1:${listener.port}`, {
      scheduler,
      connectTimeout,
    }).subscribe();
    expect(scheduler.actions).toHaveLength(0);
    subscription.unsubscribe();
    listener.subscription.unsubscribe();
  });

  it('overrides the endpoint timeout (seconds) with connectTimeout (milliseconds)', async () => {
    const listener = await startListening();
    const scheduler = new VirtualTimeScheduler();
    const result = firstValueFrom(
      connect(`tcp:127.0.0.1:${listener.port}:timeout=5`, { scheduler, connectTimeout: 5 }),
    ).catch((e: unknown) => e);
    scheduler.flush();
    expect(((await result) as ConnectError).cause).toEqual(new ConnectTimeoutError(5));
    expect(scheduler.now()).toBe(5);
    listener.subscription.unsubscribe();
  });
});

/** What a plain Node echo server saw of one client. */
interface EchoPeer {
  readonly socket: Socket;
  /** Everything received so far. */
  received(): string;
  /** Resolves on the client's FIN; rejects if the socket fails first (a reset is not a clean end). */
  readonly ended: Promise<void>;
}

/** A plain `net` echo server on loopback, port 0, independent of rxnet's server side. */
interface EchoServer {
  readonly server: Server;
  readonly port: number;
  readonly peers: EchoPeer[];
  /** Resolves with the n-th accepted client (from 0). */
  accepted(index: number): Promise<EchoPeer>;
}

async function startEchoServer(): Promise<EchoServer> {
  const peers: EchoPeer[] = [];
  const server = createServer((socket) => {
    let received = '';
    const ended = new Promise<void>((resolve, reject) => {
      socket.once('end', resolve);
      socket.once('error', reject);
    });
    // Handled here too, so a test that does not await `ended` leaves no unhandled rejection.
    ended.catch(() => undefined);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      socket.write(chunk);
    });
    peers.push({ socket, received: () => received, ended });
    server.emit('peer');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return {
    server,
    port: typeof address === 'object' && address !== null ? address.port : 0,
    peers,
    async accepted(index) {
      while (peers.length <= index) {
        await once(server, 'peer');
      }
      return peers[index]!;
    },
  };
}

function stopEchoServer(echo: EchoServer): Promise<void> {
  for (const peer of echo.peers) {
    peer.socket.destroy();
  }
  return new Promise((resolve) => echo.server.close(() => resolve()));
}

/** Writes `text` and resolves with the first chunk that comes back. */
async function roundTrip(connection: Connection, text: string): Promise<string> {
  const reply = firstValueFrom(connection.data$);
  connection.write(text);
  return (await reply).toString();
}

describe('connectAsync', () => {
  let echo: EchoServer;

  beforeEach(async () => {
    echo = await startEchoServer();
  });

  afterEach(() => stopEchoServer(echo));

  it('resolves with a connection that still carries data after the await, and stays open until end()', async () => {
    const connection = await connectAsync(`tcp:127.0.0.1:${echo.port}`);
    let closed = false;
    connection.closed$.subscribe(() => (closed = true));
    expect(await roundTrip(connection, 'hello')).toBe('hello');
    expect(await roundTrip(connection, 'again')).toBe('again');
    expect(closed).toBe(false);
    const peer = await echo.accepted(0);
    connection.end();
    await peer.ended;
    expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
  });

  it('ends the connection gracefully when the signal aborts after connecting', async () => {
    const controller = new AbortController();
    const connection = await connectAsync(`tcp:127.0.0.1:${echo.port}`, {
      signal: controller.signal,
    });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    expect(await roundTrip(connection, 'ping')).toBe('ping');
    const peer = await echo.accepted(0);
    connection.write('last');
    controller.abort();
    await peer.ended;
    expect(peer.received()).toBe('pinglast');
    expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('removes its abort listener when the connection closes', async () => {
    const controller = new AbortController();
    const connection = await connectAsync(`tcp:127.0.0.1:${echo.port}`, {
      signal: controller.signal,
    });
    connection.end();
    await firstValueFrom(connection.closed$);
    // The 'lost' event follows closed$ in the same turn.
    await Promise.resolve();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it("rejects with the signal's reason, without connecting, when the signal is already aborted", async () => {
    const reason = new Error('stop');
    await expect(
      connectAsync(`tcp:127.0.0.1:${echo.port}`, { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    await expect(
      connectAsync(`tcp:127.0.0.1:${echo.port}`, { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    // The next client is the first one the server sees.
    const connection = await connectAsync(`tcp:127.0.0.1:${echo.port}`);
    await echo.accepted(0);
    expect(echo.peers).toHaveLength(1);
    connection.end();
  });

  it("cancels the attempt and rejects with the signal's reason when it aborts before connecting", async () => {
    const controller = new AbortController();
    const scheduler = new VirtualTimeScheduler();
    const result = connectAsync(`tcp:127.0.0.1:${echo.port}`, {
      signal: controller.signal,
      scheduler,
    });
    expect(scheduler.actions).toHaveLength(1);
    controller.abort();
    await expect(result).rejects.toMatchObject({ name: 'AbortError' });
    // The timeout is cancelled with the attempt.
    expect(scheduler.actions).toHaveLength(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects with ConnectError (ECONNREFUSED) for a refused port, and removes its abort listener', async () => {
    const endpoint = `tcp:127.0.0.1:${await refusedPort()}`;
    const controller = new AbortController();
    const error: unknown = await connectAsync(endpoint, { signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).endpoint).toBe(endpoint);
    expect(((error as ConnectError).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('rejects with ConnectError caused by ConnectTimeoutError when the timeout passes first', async () => {
    const scheduler = new VirtualTimeScheduler();
    const result = connectAsync(`tcp:127.0.0.1:${echo.port}`, {
      scheduler,
      connectTimeout: 100,
    }).catch((e: unknown) => e);
    scheduler.flush();
    const error = await result;
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).cause).toEqual(new ConnectTimeoutError(100));
  });

  it('rejects with RangeError for an out-of-range connectTimeout', async () => {
    await expect(
      connectAsync(`tcp:127.0.0.1:${echo.port}`, { connectTimeout: 2 ** 31 }),
    ).rejects.toBeInstanceOf(RangeError);
  });
});

/** Reads the connection a `connected` event carries, so that its close is noticed. */
function readConnected(event: ClientEvent): void {
  if (event.type === 'connected') {
    event.connection.data$.subscribe();
  }
}

describe('connectEvents', () => {
  it('emits connecting, connected and lost with the reason, then completes', async () => {
    const listener = await startListening();
    const events = lastValueFrom(
      connectEvents(`tcp:127.0.0.1:${listener.port}`).pipe(tap(readConnected), toArray()),
    );
    const server = await listener.accepted(0);
    server.end();
    const types = (await events).map((event) =>
      event.type === 'lost' ? `lost:${event.reason.type}` : event.type,
    );
    expect(types).toEqual(['connecting', 'connected', 'lost:done']);
    listener.subscription.unsubscribe();
  });

  it('emits failed with the ConnectError instead of failing', async () => {
    const port = await refusedPort();
    const events = await lastValueFrom(connectEvents(`tcp:127.0.0.1:${port}`).pipe(toArray()));
    expect(events.map((event) => event.type)).toEqual(['connecting', 'failed']);
  });

  it('reconnects after a lost connection when piped through reconnect', async () => {
    const listener = await startListening();
    listener.connections.subscribe((connection) => connection.end());
    const events = await lastValueFrom(
      connectEvents(`tcp:127.0.0.1:${listener.port}`).pipe(
        tap(readConnected),
        reconnect({
          initialDelay: 1,
          jitter: 0,
          resetWhen: (event) => event.type === 'connected',
        }),
        take(6),
        toArray(),
      ),
    );
    expect(events.map((event) => event.type)).toEqual([
      'connecting',
      'connected',
      'lost',
      'connecting',
      'connected',
      'lost',
    ]);
    listener.subscription.unsubscribe();
  });
});

describe('connect over Unix sockets', () => {
  it('round-trips through a socket path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rxnet-'));
    const path = join(dir, 'c.sock');
    const listener = await startListening(`unix:${path}`);
    try {
      let subscription: Subscription | undefined;
      const connection = await new Promise<Connection>((resolve) => {
        subscription = connect(`unix:${path}`).subscribe(resolve);
      });
      expect(connection.remote).toEqual({ _tag: 'UnixAddress', path });
      const server = await listener.accepted(0);
      server.data$.subscribe((chunk) => server.write(chunk));
      const echoed = firstValueFrom(connection.data$);
      connection.write('unix');
      expect((await echoed).toString()).toBe('unix');
      subscription?.unsubscribe();
      expect(await firstValueFrom(server.closed$)).toEqual({ type: 'done' });
    } finally {
      listener.subscription.unsubscribe();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a client at the server FIN', () => {
  it('ends its connection once its output is flushed (DEFAULT_CLIENT_HALF_OPEN_TIMEOUT is 0)', async () => {
    const server = createServer({ allowHalfOpen: true }, (socket) => socket.end('bye'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    try {
      const connection = await connectAsync(`tcp:host=127.0.0.1:port=${port}`);
      const received: string[] = [];
      connection.data$.subscribe((chunk) => received.push(chunk.toString()));
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
      expect(received).toEqual(['bye']);
    } finally {
      server.close();
    }
  });

  it('stays writable after it when the client asks for a half-open timeout', async () => {
    let serverSide: Socket | undefined;
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      serverSide = socket;
      socket.end('bye');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    try {
      const connection = await connectAsync(`tcp:host=127.0.0.1:port=${port}`, {
        halfOpenTimeout: Infinity,
      });
      await lastValueFrom(connection.data$, { defaultValue: undefined });
      expect(connection.state).toBe('readClosed');
      connection.write('still here');
      const [reply] = (await once(serverSide!, 'data')) as [Buffer];
      expect(reply.toString()).toBe('still here');
      connection.end();
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
    } finally {
      serverSide?.destroy();
      server.close();
    }
  });
});

describe('a bad client endpoint description', () => {
  it('throws InvalidEndpointError at call time from connect and connectEvents, and rejects connectAsync', async () => {
    expect(() => connect('bogus:1')).toThrow(InvalidEndpointError);
    expect(() => connectEvents('tcp:')).toThrow(InvalidEndpointError);
    await expect(connectAsync('bogus:1')).rejects.toBeInstanceOf(InvalidEndpointError);
  });
});

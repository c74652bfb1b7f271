/**
 * `haproxy:` endpoints over real loopback sockets: raw `net` clients play the proxy, writing PROXY
 * v1 and v2 headers (whole, byte by byte, with data in the same write) and then data. A bad or
 * missing header is a `connectionRefused` with ProxyProtocolError, a silent peer one with
 * HandshakeTimeoutError; neither disturbs the other connections.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { duplexPair } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { ReplaySubject, filter, firstValueFrom, skip, take, toArray, type Observable } from 'rxjs';
import { HandshakeTimeoutError, ProxyProtocolError } from '../../src/errors';
import { DEFAULT_HANDSHAKE_TIMEOUT, type ListenOptions } from '../../src/net/listen';
import { readProxyHeader } from '../../src/net/proxy/readProxyHeader';
import { serve, type ServerNotification } from '../../src/net/serve';
import { echo } from '../../src/operators/echo';
import type { Address, Connection, ConnectionRefused } from '../../src/types';
import { within } from '../examples/harness';
import { makeCerts, type TestCerts } from '../helpers/certs';
import { startListening, type Listener } from '../helpers/sockets';

const HAPROXY = 'haproxy:tcp:port=0:interface=127.0.0.1';
const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

const tcp4 = (hostname: string, port: number): Address => ({
  _tag: 'TcpAddress',
  hostname,
  port,
  family: 'IPv4',
});
const tcp6 = (hostname: string, port: number): Address => ({
  _tag: 'TcpAddress',
  hostname,
  port,
  family: 'IPv6',
});

/** A v2 header: PROXY (or LOCAL) command, the protocol byte, the address block. */
function v2(block: Buffer, protocol: number, command: 'PROXY' | 'LOCAL' = 'PROXY'): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = command === 'PROXY' ? 0x21 : 0x20;
  fixed[1] = protocol;
  fixed.writeUInt16BE(block.length, 2);
  return Buffer.concat([SIGNATURE, fixed, block]);
}

/** A v2 TCP over IPv4 header. */
function v2tcp4(source: string, sourcePort: number, destination: string, port: number): Buffer {
  const block = Buffer.alloc(12);
  source.split('.').forEach((octet, index) => (block[index] = Number(octet)));
  destination.split('.').forEach((octet, index) => (block[4 + index] = Number(octet)));
  block.writeUInt16BE(sourcePort, 8);
  block.writeUInt16BE(port, 10);
  return v2(block, 0x11);
}

/** A NUL-padded 108-byte sun_path. */
function sunPath(path: string): Buffer {
  const bytes = Buffer.alloc(108);
  bytes.write(path);
  return bytes;
}

const sockets = new Set<Socket>();
const subscriptions: Array<{ unsubscribe(): void }> = [];
afterEach(() => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
});

interface ProxiedServer {
  readonly listener: Listener;
  readonly refusals: ReplaySubject<ConnectionRefused>;
  refusal(index: number): Promise<ConnectionRefused>;
}

async function start(
  endpoint: string = HAPROXY,
  options: ListenOptions = {},
): Promise<ProxiedServer> {
  const refusals = new ReplaySubject<ConnectionRefused>();
  const listener = await startListening(endpoint, {
    ...options,
    onRefused: (refusal) => refusals.next(refusal),
  });
  subscriptions.push(listener.subscription);
  return {
    listener,
    refusals,
    refusal: (index) => within(firstValueFrom(refusals.pipe(skip(index))), `refusal ${index}`),
  };
}

/** A raw client, playing the proxy; its errors (resets by the server) are expected. */
async function client(port: number, path?: string): Promise<Socket> {
  const socket =
    path === undefined ? netConnect({ host: '127.0.0.1', port }) : netConnect({ path });
  sockets.add(socket);
  socket.on('error', () => undefined);
  await within(once(socket, 'connect'), 'the client to connect');
  localPorts.set(socket, socket.localPort ?? 0);
  return socket;
}

/** Node forgets a socket's local port once it is closed: each client's, noted at connect. */
const localPorts = new WeakMap<Socket, number>();
const portOf = (socket: Socket): number => localPorts.get(socket)!;

/** Writes every byte as its own write, each flushed (Nagle off) before the next. */
async function writeByteByByte(socket: Socket, bytes: Buffer): Promise<void> {
  socket.setNoDelay(true);
  for (let index = 0; index < bytes.length; index++) {
    await new Promise<void>((resolve, reject) =>
      socket.write(bytes.subarray(index, index + 1), (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  }
}

/** The first `count` chunks a connection reads. */
function chunks(connection: Connection, count: number): Promise<string[]> {
  return within(
    firstValueFrom(connection.data$.pipe(take(count), toArray())).then((all) =>
      all.map((chunk) => chunk.toString()),
    ),
    `${count} chunks on connection ${connection.id}`,
  );
}

/** Echoes a connection's chunks back. */
function echoBack(connection: Connection): void {
  subscriptions.push(connection.data$.subscribe((chunk) => connection.write(chunk)));
}

async function reply(socket: Socket, expected: string): Promise<string> {
  let text = '';
  const done = new Promise<string>((resolve) => {
    socket.on('data', function onData(chunk: Buffer) {
      text += chunk.toString();
      if (text.length >= expected.length) {
        socket.off('data', onData);
        resolve(text);
      }
    });
  });
  return within(done, `the reply ${JSON.stringify(expected)}`);
}

async function closedByServer(socket: Socket): Promise<void> {
  if (socket.closed) return;
  // Not events.once: it rejects on the 'error' (a reset, a TLS alert) that may come first.
  await within(
    new Promise((resolve) => socket.once('close', resolve)),
    'the server to close the client',
  );
}

describe('haproxy: endpoints', () => {
  describe('valid headers', () => {
    it.each([
      ['in one write with the data', false],
      ['byte by byte, then the data', true],
    ])(
      'gives the v1 header’s source as remote and its destination as local, %s',
      async (_name, slowly) => {
        const { listener } = await start();
        const socket = await client(listener.port);
        const header = Buffer.from(`PROXY TCP4 203.0.113.7 198.51.100.1 40000 443\r\n`);
        if (slowly) await writeByteByByte(socket, header);
        socket.write(slowly ? 'hello' : Buffer.concat([header, Buffer.from('hello')]));
        const connection = await within(listener.accepted(0), 'the connection');
        expect(connection.remote).toEqual(tcp4('203.0.113.7', 40000));
        expect(connection.local).toEqual(tcp4('198.51.100.1', 443));
        expect(await chunks(connection, 1)).toEqual(['hello']);
        echoBack(connection);
        socket.write(' again');
        expect(await reply(socket, ' again')).toBe(' again');
      },
    );

    it.each([
      ['in one write with the data', false],
      ['byte by byte, then the data', true],
    ])('gives the v2 header’s addresses, %s', async (_name, slowly) => {
      const { listener } = await start();
      const socket = await client(listener.port);
      const header = v2tcp4('192.0.2.9', 51234, '192.0.2.1', 8443);
      if (slowly) await writeByteByByte(socket, header);
      socket.write(slowly ? 'ping' : Buffer.concat([header, Buffer.from('ping')]));
      const connection = await within(listener.accepted(0), 'the connection');
      expect(connection.remote).toEqual(tcp4('192.0.2.9', 51234));
      expect(connection.local).toEqual(tcp4('192.0.2.1', 8443));
      echoBack(connection);
      expect(await reply(socket, 'ping')).toBe('ping');
    });

    it('delivers the data that came in the header’s chunk first, then what follows, in order', async () => {
      const { listener } = await start();
      const socket = await client(listener.port);
      socket.write(
        Buffer.concat([Buffer.from('PROXY TCP4 10.0.0.1 10.0.0.2 1 2\r\n'), Buffer.from('one')]),
      );
      const connection = await within(listener.accepted(0), 'the connection');
      // Nothing subscribed yet: the socket stays paused, so nothing is lost while the
      // application is not reading.
      await new Promise<void>((resolve) => socket.write('two', () => resolve()));
      const received = within(
        firstValueFrom(connection.data$.pipe(toArray())).then((all) =>
          Buffer.concat(all).toString(),
        ),
        'everything the client sent',
      );
      socket.end('three');
      expect(await received).toBe('onetwothree');
    });

    it('gives IPv6 addresses from v1 and v2 headers, written as Node writes them', async () => {
      const { listener } = await start();
      const first = await client(listener.port);
      first.write('PROXY TCP6 2001:DB8:0:0:0:0:0:7 ::1 40001 443\r\n');
      const second = await client(listener.port);
      const block = Buffer.alloc(36);
      Buffer.from('20010db8000000000000000000000008', 'hex').copy(block, 0);
      Buffer.from('00000000000000000000ffff7f000001', 'hex').copy(block, 16);
      block.writeUInt16BE(40002, 32);
      block.writeUInt16BE(8080, 34);
      second.write(v2(block, 0x21));
      const remotes = await within(
        firstValueFrom(listener.connections.pipe(take(2), toArray())),
        'both connections',
      );
      const byPort = Object.fromEntries(
        remotes.map((connection) => [
          connection.remote._tag === 'TcpAddress' ? connection.remote.port : 0,
          [connection.remote, connection.local],
        ]),
      );
      expect(byPort[40001]).toEqual([tcp6('2001:db8::7', 40001), tcp6('::1', 443)]);
      expect(byPort[40002]).toEqual([tcp6('2001:db8::8', 40002), tcp6('::ffff:127.0.0.1', 8080)]);
    });

    it('gives UNIX-family addresses from a v2 header', async () => {
      const { listener } = await start();
      const socket = await client(listener.port);
      socket.write(
        v2(Buffer.concat([sunPath('/run/client.sock'), sunPath('/run/app.sock')]), 0x31),
      );
      const connection = await within(listener.accepted(0), 'the connection');
      expect(connection.remote).toEqual({ _tag: 'UnixAddress', path: '/run/client.sock' });
      expect(connection.local).toEqual({ _tag: 'UnixAddress', path: '/run/app.sock' });
    });

    it.each([
      ['the v2 LOCAL command (a health check)', v2(Buffer.alloc(0), 0x00, 'LOCAL')],
      ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n')],
    ])('keeps the socket’s own addresses for %s', async (_name, header) => {
      const { listener } = await start();
      const socket = await client(listener.port);
      socket.write(Buffer.concat([header, Buffer.from('hi')]));
      const connection = await within(listener.accepted(0), 'the connection');
      expect(connection.remote).toEqual(tcp4('127.0.0.1', portOf(socket)));
      expect(connection.local).toEqual(tcp4('127.0.0.1', listener.port));
      expect(await chunks(connection, 1)).toEqual(['hi']);
    });

    it('reads the header on a haproxy:unix: endpoint', async () => {
      const directory = mkdtempSync(join(tmpdir(), 'rxnet-proxy-'));
      try {
        const path = join(directory, 'app.sock');
        const { listener } = await start(`haproxy:unix:${path}`);
        const socket = await client(0, path);
        socket.write('PROXY TCP4 198.51.100.20 10.1.1.1 50000 25\r\nEHLO');
        const connection = await within(listener.accepted(0), 'the connection');
        expect(connection.remote).toEqual(tcp4('198.51.100.20', 50000));
        expect(await chunks(connection, 1)).toEqual(['EHLO']);
        listener.subscription.unsubscribe();
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    });
  });

  describe('bad headers', () => {
    it('refuses garbage, plain data and a header cut by FIN with ProxyProtocolError, while serving a valid connection', async () => {
      const { listener, refusals } = await start();
      // The valid connection starts first and is in the middle of its exchange throughout.
      const good = await client(listener.port);
      good.write('PROXY TCP4 192.0.2.50 192.0.2.1 5000 80\r\n');
      const connection = await within(listener.accepted(0), 'the valid connection');
      echoBack(connection);

      const garbage = await client(listener.port);
      garbage.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5]));
      const plain = await client(listener.port);
      plain.write('hello there\n');
      const truncated = await client(listener.port);
      truncated.end('PROXY TCP4 192.0.2.');
      const bad = [garbage, plain, truncated];

      good.write('still here');
      expect(await reply(good, 'still here')).toBe('still here');
      const refused = await within(
        firstValueFrom(refusals.pipe(take(3), toArray())),
        'three refusals',
      );
      await Promise.all(bad.map(closedByServer));
      const byPort = new Map(
        refused.map((refusal) => [
          refusal.remote._tag === 'TcpAddress' ? refusal.remote.port : 0,
          refusal,
        ]),
      );
      for (const [socket, message] of [
        [garbage, /^Invalid PROXY header: byte 0x16 starts neither/],
        [plain, /^Invalid PROXY header: byte 0x68 starts neither/],
        [truncated, /closed the connection before its PROXY header was complete/],
      ] as const) {
        const port = portOf(socket);
        const refusal = byPort.get(port);
        expect(refusal?.type).toBe('connectionRefused');
        expect(refusal?.remote).toEqual(tcp4('127.0.0.1', port));
        expect(refusal?.error).toBeInstanceOf(ProxyProtocolError);
        expect(refusal?.error.code).toBe('RXNET_ERR_PROXY_PROTOCOL');
        expect(refusal?.error.message).toMatch(message);
      }
      // None of them became a connection; the valid one still is one.
      expect(connection.state).toBe('open');
      good.write('and after');
      expect(await reply(good, 'and after')).toBe('and after');
      let accepted = 0;
      listener.connections.subscribe(() => (accepted += 1)).unsubscribe();
      expect(accepted).toBe(1);
    });

    it('refuses a peer that resets before its header, with Node’s error as the cause', async () => {
      const { listener, refusal } = await start();
      const socket = await client(listener.port);
      const port = portOf(socket);
      // With nothing sent, the reset is what the server's first read finds. (A reset that lands
      // while sent bytes are still unread is seen by Linux's reader as a FIN: covered below.)
      socket.resetAndDestroy();
      const { error, remote } = await refusal(0);
      expect(remote).toEqual(tcp4('127.0.0.1', port));
      expect(error).toBeInstanceOf(ProxyProtocolError);
      expect(error.message).toBe('The connection failed before its PROXY header was complete');
      expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    });

    it('refuses a header that does not end within 107 bytes, without waiting for more', async () => {
      const { listener, refusal } = await start();
      const socket = await client(listener.port);
      socket.write(`PROXY UNKNOWN ${'x'.repeat(200)}`);
      const { error } = await refusal(0);
      expect(error.message).toBe('Invalid PROXY header: no CRLF within the 107 bytes of a v1 line');
      await closedByServer(socket);
    });
  });

  describe('handshakeTimeout', () => {
    it('refuses a silent peer with HandshakeTimeoutError and closes it, sparing a valid peer', async () => {
      const { listener, refusal } = await start(HAPROXY, { handshakeTimeout: 300 });
      const silent = await client(listener.port);
      const slow = await client(listener.port);
      slow.write('PROXY TCP4 1.2.3.4 '); // half a header, then nothing
      const good = await client(listener.port);
      good.write('PROXY TCP4 192.0.2.8 192.0.2.1 6000 80\r\n');
      const connection = await within(listener.accepted(0), 'the valid connection');
      echoBack(connection);
      const first = await refusal(0);
      const second = await refusal(1);
      for (const { error, remote } of [first, second]) {
        expect(error).toBeInstanceOf(HandshakeTimeoutError);
        expect(error).toMatchObject({ stage: 'proxy', timeout: 300 });
        expect(error.message).toBe('The PROXY header did not finish within 300 ms');
        expect([portOf(silent), portOf(slow)]).toContain(
          remote._tag === 'TcpAddress' ? remote.port : -1,
        );
      }
      await closedByServer(silent);
      await closedByServer(slow);
      good.write('alive');
      expect(await reply(good, 'alive')).toBe('alive');
    });

    it('has a default of DEFAULT_HANDSHAKE_TIMEOUT (10 s), which covers the PROXY header', () => {
      expect(DEFAULT_HANDSHAKE_TIMEOUT).toBe(10_000);
    });
  });

  describe('serve()', () => {
    it('runs a behaviour on a haproxy: endpoint: connectionMade carries the header’s addresses', async () => {
      const notifications = new ReplaySubject<ServerNotification>();
      const run: Observable<ServerNotification> = serve(HAPROXY, (events) => events.pipe(echo()));
      subscriptions.push(run.subscribe(notifications));
      const listening = await within(
        firstValueFrom(notifications.pipe(filter((n) => n.type === 'listening'))),
        'listening',
      );
      const port =
        listening.type === 'listening' && listening.address._tag === 'TcpAddress'
          ? listening.address.port
          : 0;
      const socket = await client(port);
      socket.write(
        Buffer.concat([v2tcp4('198.51.100.77', 61000, '198.51.100.1', 7), Buffer.from('echo?')]),
      );
      expect(await reply(socket, 'echo?')).toBe('echo?');
      const made = await within(
        firstValueFrom(notifications.pipe(filter((n) => n.type === 'connectionMade'))),
        'connectionMade',
      );
      expect(made).toEqual({
        type: 'connectionMade',
        id: 1,
        remote: tcp4('198.51.100.77', 61000),
        local: tcp4('198.51.100.1', 7),
      });
    });

    it('shows the behaviour a connectionRefused event for a peer without a header', async () => {
      const notifications = new ReplaySubject<ServerNotification>();
      subscriptions.push(serve(HAPROXY, (events) => events.pipe(echo())).subscribe(notifications));
      const listening = await within(
        firstValueFrom(notifications.pipe(filter((n) => n.type === 'listening'))),
        'listening',
      );
      const port =
        listening.type === 'listening' && listening.address._tag === 'TcpAddress'
          ? listening.address.port
          : 0;
      const socket = await client(port);
      socket.write('HELO example.org\r\n');
      const refused = await within(
        firstValueFrom(notifications.pipe(filter((n) => n.type === 'connectionRefused'))),
        'connectionRefused',
      );
      expect(refused).toEqual({
        type: 'connectionRefused',
        remote: tcp4('127.0.0.1', portOf(socket)),
        error: new ProxyProtocolError(
          'Invalid PROXY header: byte 0x48 starts neither a PROXY v1 nor a v2 header',
        ),
      });
      await closedByServer(socket);
    });
  });
});

describe('haproxy:ssl: endpoints', () => {
  let certs: TestCerts;
  beforeAll(() => {
    certs = makeCerts();
  });
  afterAll(() => certs.remove());

  const endpoint = (): string =>
    `haproxy:ssl:0:interface=127.0.0.1:privateKey=${certs.server.key}:certKey=${certs.server.cert}`;

  it.each([
    ['after the header', false],
    ['in the same write as the header', true],
  ])(
    'reads the PROXY header first, then runs TLS on the same socket (ClientHello %s)',
    async (_name, together) => {
      const { listener, refusals } = await start(endpoint());
      const raw = await client(listener.port);
      const header = Buffer.from('PROXY TCP4 203.0.113.50 203.0.113.1 44444 443\r\n');
      // The TLS client runs over one half of a pair; the test carries its bytes to the socket,
      // so the header and the ClientHello can share one write.
      const [inner, outer] = duplexPair();
      let first = true;
      outer.on('data', (chunk: Buffer) => {
        raw.write(first && together ? Buffer.concat([header, chunk]) : chunk);
        first = false;
      });
      raw.on('data', (chunk: Buffer) => outer.write(chunk));
      if (!together) raw.write(header);
      const secure = tlsConnect({
        socket: inner,
        servername: 'localhost',
        ca: certs.read(certs.ca.cert),
      });
      secure.on('error', () => undefined);
      sockets.add(secure);
      await within(once(secure, 'secureConnect'), 'the TLS handshake');
      const connection = await within(listener.accepted(0), 'the connection');
      expect(connection.remote).toEqual(tcp4('203.0.113.50', 44444));
      expect(connection.local).toEqual(tcp4('203.0.113.1', 443));
      echoBack(connection);
      secure.write('over TLS');
      expect(await reply(secure, 'over TLS')).toBe('over TLS');
      let refused = 0;
      refusals.subscribe(() => (refused += 1)).unsubscribe();
      expect(refused).toBe(0);
    },
  );

  it('gives the TLS handshake after the header a handshakeTimeout of its own', async () => {
    const { listener, refusal } = await start(endpoint(), { handshakeTimeout: 300 });
    const raw = await client(listener.port);
    raw.write('PROXY TCP4 203.0.113.60 203.0.113.1 40000 443\r\n'); // and no ClientHello
    const { error, remote } = await refusal(0);
    expect(error).toBeInstanceOf(HandshakeTimeoutError);
    expect(error).toMatchObject({ stage: 'tls', timeout: 300 });
    // The header was read: the refusal names the client it announced.
    expect(remote).toEqual(tcp4('203.0.113.60', 40000));
    await closedByServer(raw);
  });

  it('refuses a TLS client that sends no PROXY header with ProxyProtocolError, before any handshake', async () => {
    const { listener, refusal } = await start(endpoint());
    const secure = tlsConnect({
      host: '127.0.0.1',
      port: listener.port,
      servername: 'localhost',
      ca: certs.read(certs.ca.cert),
    });
    sockets.add(secure);
    secure.on('error', () => undefined);
    const { error } = await refusal(0);
    expect(error).toBeInstanceOf(ProxyProtocolError);
    expect(error.message).toBe(
      'Invalid PROXY header: byte 0x16 starts neither a PROXY v1 nor a v2 header',
    );
    await closedByServer(secure);
  });
});

describe('readProxyHeader', () => {
  /** A loopback server accepting paused sockets, as listen() does; and a client of it. */
  async function pair(): Promise<{ server: Server; accepted: Socket; peer: Socket }> {
    const server = createServer({ pauseOnConnect: true, allowHalfOpen: true });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const acceptedPromise = once(server, 'connection') as Promise<[Socket]>;
    const peer = await client(port);
    const [accepted] = await acceptedPromise;
    sockets.add(accepted);
    subscriptions.push({ unsubscribe: () => server.close() });
    return { server, accepted, peer };
  }

  const events = ['data', 'end', 'error', 'close', 'readable'] as const;
  const listenerCounts = (socket: Socket): number[] =>
    events.map((event) => socket.listenerCount(event));

  it('leaves the socket paused, the rest of the chunk unshifted, and no listener of its own', async () => {
    const { accepted, peer } = await pair();
    const before = listenerCounts(accepted);
    const done = jest.fn();
    const finished = new Promise<void>((resolve) => {
      readProxyHeader(accepted, 5000, (...args) => {
        done(...args);
        resolve();
      });
    });
    peer.write('PROXY TCP4 10.9.8.7 10.0.0.1 1234 80\r\nrest of it');
    await within(finished, 'the header');
    expect(done).toHaveBeenCalledTimes(1);
    expect(done).toHaveBeenCalledWith(undefined, {
      source: tcp4('10.9.8.7', 1234),
      destination: tcp4('10.0.0.1', 80),
    });
    expect(accepted.isPaused()).toBe(true);
    expect(listenerCounts(accepted)).toEqual(before);
    expect(accepted.read()?.toString()).toBe('rest of it');
    // Later events are not its business: done is not called again.
    peer.end('more');
    accepted.on('data', () => undefined);
    accepted.resume();
    await within(once(accepted, 'end'), 'the FIN');
    expect(done).toHaveBeenCalledTimes(1);
  });

  it('calls done once with ProxyProtocolError caused by ECONNRESET when the peer resets mid-header', async () => {
    const { accepted, peer } = await pair();
    const done = jest.fn();
    const finished = new Promise<void>((resolve) =>
      readProxyHeader(accepted, 5000, (...args) => {
        done(...args);
        resolve();
      }),
    );
    // A reader of the test's own shows when the server has read the half header, so the reset
    // is what the next read finds.
    const read = once(accepted, 'data');
    peer.write('PROXY TCP4 ');
    await within(read, 'the half header');
    peer.resetAndDestroy();
    await within(finished, 'done');
    expect(done).toHaveBeenCalledTimes(1);
    const [error, header] = done.mock.calls[0] as [ProxyProtocolError, undefined];
    expect(error).toBeInstanceOf(ProxyProtocolError);
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    expect(header).toBeUndefined();
  });

  it('calls done once with ProxyProtocolError when the socket is destroyed by its owner mid-header', async () => {
    const { accepted, peer } = await pair();
    const before = listenerCounts(accepted);
    const done = jest.fn();
    readProxyHeader(accepted, 5000, done);
    await new Promise<void>((resolve) => peer.write('PROXY', () => resolve()));
    accepted.destroy();
    await within(once(accepted, 'close'), 'the close');
    expect(done).toHaveBeenCalledTimes(1);
    expect(done.mock.calls[0][0]).toBeInstanceOf(ProxyProtocolError);
    expect(listenerCounts(accepted)).toEqual(before);
  });

  it.each([0, Infinity])('sets no timer with a timeout of %s', async (timeout) => {
    const { accepted, peer } = await pair();
    const setTimer = jest.spyOn(global, 'setTimeout');
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    try {
      readProxyHeader(accepted, timeout, () => finished());
      expect(setTimer).not.toHaveBeenCalled();
    } finally {
      setTimer.mockRestore();
    }
    peer.write('PROXY UNKNOWN\r\n');
    await within(done, 'the header');
  });

  it('calls done once with HandshakeTimeoutError, and not again when the peer then sends a header', async () => {
    const { accepted, peer } = await pair();
    const done = jest.fn();
    const timedOut = new Promise<void>((resolve) =>
      readProxyHeader(accepted, 50, (...args) => {
        done(...args);
        resolve();
      }),
    );
    await within(timedOut, 'the timeout');
    expect(done).toHaveBeenCalledWith(new HandshakeTimeoutError('proxy', 50), undefined);
    expect(accepted.isPaused()).toBe(true);
    // The header arriving now (seen by a reader of our own) reaches no listener of its.
    peer.write('PROXY UNKNOWN\r\n');
    accepted.resume();
    const [late] = (await within(once(accepted, 'data'), 'the late header')) as [Buffer];
    expect(late.toString()).toBe('PROXY UNKNOWN\r\n');
    expect(done).toHaveBeenCalledTimes(1);
  });
});

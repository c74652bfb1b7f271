import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import {
  ReplaySubject,
  filter,
  firstValueFrom,
  map,
  mergeMap,
  of,
  skip,
  type Observable,
} from 'rxjs';
import {
  close,
  HandshakeTimeoutError,
  StartTlsError,
  TlsError,
  connectAsync,
  lines,
  serve,
  startTls,
  wiretap,
  write,
  type Behaviour,
  type CloseReason,
  type Connection,
  type ServerNotification,
  type StartTlsOptions,
} from '../../src/index';
import { CoreConnection } from '../../src/transport/connection/core';
import { type DuplexTransport } from '../../src/transport/connection/duplexTransport';
import { VirtualNetwork, memoryConnection } from '../../src/testing/index';
import { makeCerts, type TestCerts } from '../helpers/certs';
import { LOOPBACK, startListening, type Listener } from '../helpers/sockets';

jest.setTimeout(20_000);

let certs: TestCerts;
let serverTls: StartTlsOptions;
let ca: Buffer;

beforeAll(() => {
  certs = makeCerts();
  serverTls = { key: certs.read(certs.server.key), cert: certs.read(certs.server.cert) };
  ca = certs.read(certs.ca.cert);
});
afterAll(() => certs.remove());

/** Lines as they arrive on a stream (a socket, then the TLS socket over it), awaited one by one. */
class LineReader {
  private buffer = '';
  private readonly lines: string[] = [];
  private waiting: ((line: string) => void) | undefined;
  private readonly onData = (chunk: Buffer): void => {
    this.buffer += chunk.toString('latin1');
    let end: number;
    while ((end = this.buffer.indexOf('\r\n')) !== -1) {
      this.lines.push(this.buffer.slice(0, end));
      this.buffer = this.buffer.slice(end + 2);
    }
    this.deliver();
  };

  constructor(private stream: Socket) {
    stream.on('data', this.onData);
  }

  /** Stops reading the plain socket (so TLS can take it over) and returns what was unread. */
  detach(): string {
    this.stream.off('data', this.onData);
    this.stream.pause();
    return this.buffer;
  }

  /** Reads from another stream from now on (the TLS socket). */
  attach(stream: Socket): void {
    this.stream = stream;
    stream.on('data', this.onData);
  }

  next(): Promise<string> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.deliver();
    });
  }

  private deliver(): void {
    const waiting = this.waiting;
    if (waiting !== undefined && this.lines.length > 0) {
      this.waiting = undefined;
      waiting(this.lines.shift()!);
    }
  }
}

/** Resolves when the socket has closed, whether or not an error (a reset) came first. */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) resolve();
    else socket.once('close', () => resolve());
  });
}

const MIB = 1024 * 1024;
/** Listen options with room for {@link writeBacklog}'s 8 MiB below the high-water mark. */
const ROOM_FOR_BACKLOG = { writeHighWaterMark: 64 * MIB, maxPendingWriteBytes: 64 * MIB };

/**
 * Writes 8 MiB of plain text to a connection whose client does not read yet, and resolves with it
 * once a turn of the event loop has passed: the kernel holds only part of it, the rest is pending.
 */
async function writeBacklog(connection: Connection): Promise<Buffer> {
  const plain = Buffer.alloc(8 * MIB, 'p');
  connection.write(plain);
  await new Promise((resolve) => setImmediate(resolve));
  expect(connection.pendingWriteBytes).toBeGreaterThan(0);
  return plain;
}

/** A plain client on `listener`, and the server's side of it (the `index`th accepted). */
async function pair(
  listener: Listener,
  index = 0,
): Promise<{ socket: Socket; connection: Connection }> {
  const socket = netConnect({ host: '127.0.0.1', port: listener.port });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return { socket, connection: await listener.accepted(index) };
}

/** A plain client of the SMTP-like server, connected, having read the greeting. */
async function smtpClient(port: number): Promise<{ socket: Socket; reader: LineReader }> {
  const socket = netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  const reader = new LineReader(socket);
  expect(await reader.next()).toBe('220 rxnet ESMTP');
  return { socket, reader };
}

/** The client's side of the upgrade: TLS over its socket, trusting the test CA. */
async function clientHandshake(socket: Socket, reader: LineReader): Promise<TLSSocket> {
  expect(reader.detach()).toBe('');
  const secure = tlsConnect({ socket, ca, servername: 'localhost' });
  secure.on('error', () => undefined);
  await once(secure, 'secureConnect');
  reader.attach(secure);
  return secure;
}

/**
 * An SMTP-like server: a greeting, `STARTTLS` answered with `220 Go ahead` and the upgrade,
 * `NOOP` with `250 OK`, `QUIT` with `221 Bye` and a close, anything else `500 <line>`. Every line
 * it receives, and every `tlsStarted`, is recorded.
 */
function smtp(seen: string[]): Behaviour<string, string> {
  return (events) =>
    events.pipe(
      mergeMap((event) => {
        if (event.type === 'connectionMade') return of(event, write(event.id, '220 rxnet ESMTP'));
        if (event.type === 'tlsStarted') {
          seen.push(`tlsStarted ${event.tls.protocol}`);
          return of(event);
        }
        if (event.type !== 'data') return of(event);
        seen.push(event.data);
        switch (event.data) {
          case 'STARTTLS':
            return of(write(event.id, '220 Go ahead'), startTls(event.id));
          case 'NOOP':
            return of(write(event.id, '250 OK'));
          case 'QUIT':
            return of(write(event.id, '221 Bye'), { type: 'close' as const, id: event.id });
          default:
            return of(write(event.id, `500 ${event.data}`));
        }
      }),
    );
}

/** Serves `behaviour` on loopback with CRLF lines and the test's key; resolves once listening. */
async function startServer(
  behaviour: Behaviour<string, string>,
  tls: StartTlsOptions | null = serverTls,
): Promise<{ port: number; notes: ReplaySubject<ServerNotification<string>>; stop(): void }> {
  const notes = new ReplaySubject<ServerNotification<string>>();
  const subscription = serve(LOOPBACK, behaviour, {
    framing: lines({ delimiter: '\r\n', encoding: 'utf8' }),
    ...(tls === null ? {} : { startTls: tls }),
  }).subscribe(notes);
  const listening = await firstValueFrom(notes);
  if (listening.type !== 'listening' || listening.address._tag !== 'TcpAddress') {
    throw new Error('not listening');
  }
  return { port: listening.address.port, notes, stop: () => subscription.unsubscribe() };
}

function lostReason(
  notes: Observable<ServerNotification<string>>,
  id: number,
): Promise<CloseReason> {
  return firstValueFrom(
    notes.pipe(
      filter((note) => note.type === 'connectionLost' && note.id === id),
      map((note) => (note as { reason: CloseReason }).reason),
    ),
  );
}

describe('startTls', () => {
  describe('the startTls command', () => {
    it('replies 220 in plain text, upgrades, then carries lines over TLS both ways', async () => {
      const seen: string[] = [];
      const server = await startServer(smtp(seen));
      try {
        const { socket, reader } = await smtpClient(server.port);
        socket.write('NOOP\r\n');
        expect(await reader.next()).toBe('250 OK');
        socket.write('STARTTLS\r\n');
        expect(await reader.next()).toBe('220 Go ahead');
        const secure = await clientHandshake(socket, reader);
        expect(secure.encrypted).toBe(true);
        const protocol = secure.getProtocol();
        secure.write('NOOP\r\n');
        expect(await reader.next()).toBe('250 OK');
        secure.write('QUIT\r\n');
        expect(await reader.next()).toBe('221 Bye');
        const started = await firstValueFrom(
          server.notes.pipe(filter((note) => note.type === 'tlsStarted')),
        );
        expect(started).toMatchObject({ type: 'tlsStarted', id: 1 });
        expect((started as { tls: { protocol: string } }).tls.protocol).toMatch(/^TLSv1\.[23]$/);
        expect(await lostReason(server.notes, 1)).toEqual({ type: 'done' });
        expect(seen).toEqual(['NOOP', 'STARTTLS', `tlsStarted ${protocol}`, 'NOOP', 'QUIT']);
        secure.destroy();
      } finally {
        server.stop();
      }
    });

    it.each([
      {
        title: 'never reads plaintext pipelined after STARTTLS in the same write as a command',
        plain: 'STARTTLS\r\nINJECTED\r\n',
        overTls: 'NOOP',
        reply: '250 OK',
      },
      {
        // `HALF` waits in the decoder, unterminated, when the upgrade begins.
        title: 'drops a line split across the upgrade: its plain half is not glued to its TLS half',
        plain: 'STARTTLS\r\nHALF',
        overTls: 'LINE',
        reply: '500 LINE',
      },
    ])('$title', async ({ plain, overTls, reply }) => {
      const seen: string[] = [];
      const server = await startServer(smtp(seen));
      try {
        const { socket, reader } = await smtpClient(server.port);
        socket.write(plain);
        expect(await reader.next()).toBe('220 Go ahead');
        const secure = await clientHandshake(socket, reader);
        secure.write(`${overTls}\r\n`);
        expect(await reader.next()).toBe(reply);
        expect(seen.filter((line) => !line.startsWith('tlsStarted'))).toEqual([
          'STARTTLS',
          overTls,
        ]);
        secure.destroy();
      } finally {
        server.stop();
      }
    });

    it('sends what the behaviour writes after the command over TLS, never in plain text', async () => {
      const behaviour: Behaviour<string, string> = (events) =>
        events.pipe(
          mergeMap((event) =>
            event.type === 'data' && event.data === 'STARTTLS'
              ? of(write(event.id, '220 Go ahead'), startTls(event.id), write(event.id, 'SECRET'))
              : event.type === 'connectionMade'
                ? of(write(event.id, '220 rxnet ESMTP'))
                : of(),
          ),
        );
      const server = await startServer(behaviour);
      try {
        const { socket, reader } = await smtpClient(server.port);
        socket.write('STARTTLS\r\n');
        expect(await reader.next()).toBe('220 Go ahead');
        // clientHandshake checks that nothing but the reply came in plain text.
        const secure = await clientHandshake(socket, reader);
        expect(await reader.next()).toBe('SECRET');
        secure.destroy();
      } finally {
        server.stop();
      }
    });

    it('aborts only that connection with a TlsError when garbage comes instead of a ClientHello', async () => {
      const seen: string[] = [];
      const server = await startServer(smtp(seen));
      try {
        const good = await smtpClient(server.port);
        const bad = await smtpClient(server.port);
        bad.socket.write('STARTTLS\r\n');
        expect(await bad.reader.next()).toBe('220 Go ahead');
        bad.socket.write('HELLO, I DO NOT SPEAK TLS\r\n');
        const reason = await lostReason(server.notes, 2);
        expect(reason.type).toBe('aborted');
        const error = (reason as { error?: unknown }).error;
        expect(error).toBeInstanceOf(TlsError);
        expect(error).toMatchObject({ code: 'RXNET_ERR_TLS' });
        await closed(bad.socket);
        // The other connection, and the server, go on.
        good.socket.write('NOOP\r\n');
        expect(await good.reader.next()).toBe('250 OK');
        const third = await smtpClient(server.port);
        third.socket.write('NOOP\r\n');
        expect(await third.reader.next()).toBe('250 OK');
        good.socket.destroy();
        third.socket.destroy();
      } finally {
        server.stop();
      }
    });

    it('aborts the connection with a HandshakeTimeoutError when the handshake never comes', async () => {
      const server = await startServer(smtp([]), { ...serverTls, handshakeTimeout: 200 });
      try {
        const { socket, reader } = await smtpClient(server.port);
        socket.write('STARTTLS\r\n');
        expect(await reader.next()).toBe('220 Go ahead');
        const reason = await lostReason(server.notes, 1);
        expect(reason.type).toBe('aborted');
        const error = (reason as { error?: unknown }).error;
        expect(error).toBeInstanceOf(HandshakeTimeoutError);
        expect(error).toMatchObject({ stage: 'tls', timeout: 200 });
        await closed(socket);
      } finally {
        server.stop();
      }
    });

    it('aborts the connection with a StartTlsError when the server has no startTls options', async () => {
      const server = await startServer(smtp([]), null);
      try {
        const { socket } = await smtpClient(server.port);
        socket.write('STARTTLS\r\n');
        const reason = await lostReason(server.notes, 1);
        const error = (reason as { error?: unknown }).error;
        expect(error).toBeInstanceOf(StartTlsError);
        expect(error).toMatchObject({ code: 'RXNET_ERR_STARTTLS', reason: 'notConfigured' });
        await closed(socket);
      } finally {
        server.stop();
      }
    });
    it('upgrades at connectionMade, so the first frame is decoded from TLS', async () => {
      const seen: string[] = [];
      const behaviour: Behaviour<string, string> = (events) =>
        events.pipe(
          mergeMap((event) => {
            if (event.type === 'connectionMade') return of(startTls(event.id));
            if (event.type === 'data') {
              seen.push(event.data);
              return of(write(event.id, `echo ${event.data}`));
            }
            return of();
          }),
        );
      const server = await startServer(behaviour);
      try {
        const socket = netConnect({ host: '127.0.0.1', port: server.port });
        socket.on('error', () => undefined);
        await once(socket, 'connect');
        const reader = new LineReader(socket);
        const secure = await clientHandshake(socket, reader);
        secure.write('HELLO\r\n');
        expect(await reader.next()).toBe('echo HELLO');
        expect(seen).toEqual(['HELLO']);
        secure.destroy();
      } finally {
        server.stop();
      }
    });

    it('carries out a close after startTls once the handshake is done: the reply, then the end, over TLS', async () => {
      const behaviour: Behaviour<string, string> = (events) =>
        events.pipe(
          mergeMap((event) =>
            event.type === 'connectionMade'
              ? of(
                  write(event.id, '220 Go ahead'),
                  startTls(event.id),
                  write(event.id, '221 Bye'),
                  close(event.id),
                )
              : of(event),
          ),
        );
      const server = await startServer(behaviour);
      try {
        const socket = netConnect({ host: '127.0.0.1', port: server.port, allowHalfOpen: true });
        socket.on('error', () => undefined);
        await once(socket, 'connect');
        const reader = new LineReader(socket);
        expect(await reader.next()).toBe('220 Go ahead');
        const secure = await clientHandshake(socket, reader);
        const ended = once(secure, 'end');
        expect(await reader.next()).toBe('221 Bye');
        await ended;
        secure.end();
        expect(await lostReason(server.notes, 1)).toEqual({ type: 'done' });
      } finally {
        server.stop();
      }
    });

    it('throws at call time for startTls beside upgradeTls, and for a key that is not PEM', () => {
      expect(() =>
        serve(LOOPBACK, smtp([]), {
          startTls: serverTls,
          upgradeTls: (c) => startTls(c, serverTls),
        }),
      ).toThrow(TypeError);
      expect(() =>
        serve(LOOPBACK, smtp([]), { startTls: { key: 'not a key', cert: 'not a certificate' } }),
      ).toThrow();
    });
  });

  describe('startTls(connection, options)', () => {
    it('upgrades an rxnet client against an rxnet server, keeping the same Connection', async () => {
      const seen: string[] = [];
      const server = await startServer(smtp(seen));
      try {
        const client = await connectAsync(`tcp:127.0.0.1:${server.port}`);
        const received = new ReplaySubject<string>();
        client.data$
          .pipe(lines({ delimiter: '\r\n', encoding: 'utf8' }))
          .subscribe((line) => received.next(line));
        const nth = (n: number): Promise<string> => firstValueFrom(received.pipe(skip(n)));
        expect(await nth(0)).toBe('220 rxnet ESMTP');
        client.write('STARTTLS\r\n');
        expect(await nth(1)).toBe('220 Go ahead');
        const id = client.id;
        const tls = await firstValueFrom(startTls(client, { ca, servername: 'localhost' }));
        expect(tls).toMatchObject({ servername: 'localhost', authorized: true });
        expect(client.tls).toEqual(tls);
        expect(client.id).toBe(id);
        expect(client.state).toBe('open');
        client.write('NOOP\r\n');
        expect(await nth(2)).toBe('250 OK');
        client.write('QUIT\r\n');
        expect(await nth(3)).toBe('221 Bye');
        expect(await firstValueFrom(client.closed$)).toEqual({ type: 'done' });
        expect(seen).toContain('NOOP');
      } finally {
        server.stop();
      }
    });

    it('drops plaintext injected after the reply when a client subscribes its decoder afresh', async () => {
      const listener = await startListening();
      try {
        const client = await connectAsync(`tcp:127.0.0.1:${listener.port}`);
        const server = await listener.accepted(0);
        const before: string[] = [];
        let replied!: () => void;
        const reply = new Promise<void>((resolve) => (replied = resolve));
        const decoding = client.data$
          .pipe(lines({ delimiter: '\r\n', encoding: 'utf8' }))
          .subscribe((line) => {
            before.push(line);
            replied();
          });
        // A man in the middle appends plaintext to the server's reply: the client must not take it
        // for part of what comes over TLS.
        server.write('220 Go ahead\r\nINJECTED ');
        const serverSide = firstValueFrom(startTls(server, serverTls));
        await reply;
        expect(before).toEqual(['220 Go ahead']);
        decoding.unsubscribe();
        await Promise.all([
          serverSide,
          firstValueFrom(startTls(client, { ca, servername: 'localhost' })),
        ]);
        const after = firstValueFrom(
          client.data$.pipe(lines({ delimiter: '\r\n', encoding: 'utf8' })),
        );
        server.write('REAL\r\n');
        expect(await after).toBe('REAL');
        client.end();
        server.end();
        expect(await firstValueFrom(server.closed$)).toEqual({ type: 'done' });
      } finally {
        listener.subscription.unsubscribe();
      }
    });

    it('fails with a TlsError and aborts the client when the server is not trusted', async () => {
      const server = await startServer(smtp([]));
      try {
        const client = await connectAsync(`tcp:127.0.0.1:${server.port}`);
        const greeting = firstValueFrom(client.data$);
        await greeting;
        client.write('STARTTLS\r\n');
        await firstValueFrom(client.data$);
        // No `ca`: Node's bundled roots do not know the test CA.
        await expect(
          firstValueFrom(startTls(client, { servername: 'localhost' })),
        ).rejects.toBeInstanceOf(TlsError);
        const reason = await firstValueFrom(client.closed$);
        expect(reason.type).toBe('aborted');
        expect((reason as { error?: unknown }).error).toBeInstanceOf(TlsError);
      } finally {
        server.stop();
      }
    });

    it('discards input that arrived before the upgrade and was not read, rather than reading it as TLS', async () => {
      const listener: Listener = await startListening();
      try {
        const { socket, connection } = await pair(listener);
        socket.write('STARTTLS\r\n');
        expect((await firstValueFrom(connection.data$)).toString()).toBe('STARTTLS\r\n');
        // Nothing subscribes to data$ now: the next bytes wait, unread, in the socket's buffer.
        socket.write('INJECTED\r\n');
        await unreadBytes(connection, 'INJECTED\r\n'.length);
        connection.write('220 Go ahead\r\n');
        const upgraded = firstValueFrom(startTls(connection, serverTls));
        const reader = new LineReader(socket);
        expect(await reader.next()).toBe('220 Go ahead');
        const secure = await clientHandshake(socket, reader);
        await upgraded;
        const chunk = firstValueFrom(connection.data$);
        secure.write('NOOP\r\n');
        expect((await chunk).toString()).toBe('NOOP\r\n');
        secure.destroy();
      } finally {
        listener.subscription.unsubscribe();
      }

      /** Resolves once `bytes` sit unread in the connection's socket (polled once per I/O turn). */
      async function unreadBytes(connection: Connection, bytes: number): Promise<void> {
        const transport = (connection as CoreConnection).transport as DuplexTransport;
        for (let turn = 0; turn < 10_000; turn += 1) {
          if (transport.stream.readableLength >= bytes) return;
          await new Promise((resolve) => setImmediate(resolve));
        }
        throw new Error('the bytes never arrived');
      }
    });

    it('fails with StartTlsError and aborts a connection that is not over a socket', async () => {
      const connection = memoryConnection();
      const error = await firstValueFrom(startTls(connection, { role: 'client' })).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(StartTlsError);
      expect(error).toMatchObject({ reason: 'unsupported' });
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'aborted', error });
    });

    it('fails with StartTlsError unsupported on both ends of a virtual network connection', async () => {
      const net = new VirtualNetwork();
      const accepted: Connection[] = [];
      const listening = net.listen('smtp').subscribe((connection) => accepted.push(connection));
      let client: Connection | undefined;
      const connecting = net.connect('smtp').subscribe((connection) => (client = connection));
      await net.run(0);
      for (const connection of [client!, accepted[0]!]) {
        const error = await firstValueFrom(
          startTls(connection, { ...serverTls, role: 'server' }),
        ).catch((caught: unknown) => caught);
        expect(error).toMatchObject({ code: 'RXNET_ERR_STARTTLS', reason: 'unsupported' });
      }
      connecting.unsubscribe();
      listening.unsubscribe();
      await net.run(10);
    });

    it('fails with StartTlsError alreadySecure when an upgrade is already under way', async () => {
      const listener = await startListening();
      try {
        const { socket, connection } = await pair(listener);
        const first = firstValueFrom(startTls(connection, serverTls)).catch((e: unknown) => e);
        const second = await firstValueFrom(startTls(connection, serverTls)).catch(
          (e: unknown) => e,
        );
        expect(second).toMatchObject({ code: 'RXNET_ERR_STARTTLS', reason: 'alreadySecure' });
        // Failing closed: the connection is aborted, and with it the first upgrade.
        expect(await first).toBeInstanceOf(TlsError);
        await closed(socket);
      } finally {
        listener.subscription.unsubscribe();
      }
    });

    it('aborts the connection when unsubscribed before the handshake finished', async () => {
      const listener = await startListening();
      try {
        const { socket, connection } = await pair(listener);
        const subscription = startTls(connection, serverTls).subscribe({ error: () => undefined });
        subscription.unsubscribe();
        const reason = await firstValueFrom(connection.closed$);
        expect(reason.type).toBe('aborted');
        expect((reason as { error?: unknown }).error).toBeInstanceOf(TlsError);
        await closed(socket);
      } finally {
        listener.subscription.unsubscribe();
      }
    });

    it('hands large pending output to the kernel in plain text before the handshake', async () => {
      const listener = await startListening(LOOPBACK, ROOM_FOR_BACKLOG);
      try {
        const { socket, connection } = await pair(listener);
        const plain = await writeBacklog(connection);
        const upgraded = firstValueFrom(startTls(connection, serverTls));
        let received = 0;
        await new Promise<void>((resolve) => {
          socket.on('data', function onData(chunk: Buffer) {
            received += chunk.length;
            if (received >= plain.length) {
              socket.off('data', onData);
              socket.pause();
              resolve();
            }
          });
        });
        expect(received).toBe(plain.length);
        const secure = tlsConnect({ socket, ca, servername: 'localhost' });
        secure.on('error', () => undefined);
        await once(secure, 'secureConnect');
        await upgraded;
        secure.destroy();
      } finally {
        listener.subscription.unsubscribe();
      }
    });

    it('counts a flush the peer never reads against handshakeTimeout', async () => {
      const listener = await startListening(LOOPBACK, ROOM_FOR_BACKLOG);
      try {
        const socket = netConnect({ host: '127.0.0.1', port: listener.port });
        socket.on('error', () => undefined);
        socket.pause();
        await once(socket, 'connect');
        const connection = await listener.accepted(0);
        await writeBacklog(connection);
        const error = await firstValueFrom(
          startTls(connection, { ...serverTls, handshakeTimeout: 300 }),
        ).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(HandshakeTimeoutError);
        expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'aborted', error });
        socket.destroy();
      } finally {
        listener.subscription.unsubscribe();
      }
    });

    describe('refusals', () => {
      async function refusal(connection: Connection): Promise<unknown> {
        return firstValueFrom(startTls(connection, serverTls)).catch((caught: unknown) => caught);
      }

      it('refuses a connection whose peer has sent FIN as notOpen', async () => {
        const listener = await startListening();
        try {
          const { socket, connection } = await pair(listener);
          socket.end();
          await firstValueFrom(connection.data$, { defaultValue: undefined });
          expect(connection.state).toBe('readClosed');
          expect(await refusal(connection)).toMatchObject({ reason: 'notOpen' });
          await closed(socket);
        } finally {
          listener.subscription.unsubscribe();
        }
      });

      it('refuses a throttled connection as unsupported', async () => {
        const listener = await startListening(LOOPBACK, { maxReadBytesPerSecond: 1_000_000 });
        try {
          const { socket, connection } = await pair(listener);
          expect(await refusal(connection)).toMatchObject({ reason: 'unsupported' });
          await closed(socket);
        } finally {
          listener.subscription.unsubscribe();
        }
      });

      it('refuses a connection wrapped by wiretap as unsupported', async () => {
        const listener = await startListening();
        try {
          const { socket, connection } = await pair(listener);
          const tapped = wiretap(connection, { log: () => undefined });
          expect(await refusal(tapped)).toMatchObject({ reason: 'unsupported' });
          await closed(socket);
        } finally {
          listener.subscription.unsubscribe();
        }
      });

      it('refuses a connection made over TLS, and one already upgraded, as alreadySecure', async () => {
        const endpoint = `ssl:0:interface=127.0.0.1:privateKey=${certs.server.key}:certKey=${certs.server.cert}`;
        const listener = await startListening(endpoint);
        try {
          const secure = tlsConnect({ host: '127.0.0.1', port: listener.port, ca });
          secure.on('error', () => undefined);
          await once(secure, 'secureConnect');
          const connection = await listener.accepted(0);
          expect(await refusal(connection)).toMatchObject({ reason: 'alreadySecure' });
          await closed(secure);
        } finally {
          listener.subscription.unsubscribe();
        }
        const plain = await startListening();
        try {
          const { socket, connection } = await pair(plain);
          const reader = new LineReader(socket);
          connection.write('220 Go ahead\r\n');
          const upgraded = firstValueFrom(startTls(connection, serverTls));
          expect(await reader.next()).toBe('220 Go ahead');
          const secure = await clientHandshake(socket, reader);
          const info = await upgraded;
          expect(connection.tls).toEqual(info);
          expect(await refusal(connection)).toMatchObject({ reason: 'alreadySecure' });
          await closed(secure);
        } finally {
          plain.subscription.unsubscribe();
        }
      });
    });

    it('asks for a client certificate with requestCert, and fails the upgrade without one', async () => {
      const options: StartTlsOptions = { ...serverTls, requestCert: true, ca };
      const listener = await startListening();
      try {
        for (const withCertificate of [true, false]) {
          const { socket, connection } = await pair(listener, withCertificate ? 0 : 1);
          const upgraded = firstValueFrom(startTls(connection, options)).catch(
            (caught: unknown) => caught,
          );
          const secure = tlsConnect({
            socket,
            ca,
            servername: 'localhost',
            ...(withCertificate
              ? { key: certs.read(certs.client.key), cert: certs.read(certs.client.cert) }
              : {}),
          });
          secure.on('error', () => undefined);
          const outcome = await upgraded;
          if (withCertificate) {
            expect(outcome).toMatchObject({ authorized: true });
            expect(connection.tls?.peerCertificate?.subject).toContain('CN=rxnet client');
          } else {
            expect(outcome).toBeInstanceOf(TlsError);
          }
          secure.destroy();
        }
      } finally {
        listener.subscription.unsubscribe();
      }
    });

    it('serves the SNI pair the client asks for, and agrees on ALPN', async () => {
      const alpha = { key: certs.read(certs.alpha.key), cert: certs.read(certs.alpha.cert) };
      const listener = await startListening();
      try {
        const { socket, connection } = await pair(listener);
        const upgraded = firstValueFrom(
          startTls(connection, { ...serverTls, sni: { 'alpha.test': alpha }, alpn: ['smtp'] }),
        );
        const secure = tlsConnect({
          socket,
          ca,
          servername: 'alpha.test',
          ALPNProtocols: ['smtp'],
        });
        secure.on('error', () => undefined);
        await once(secure, 'secureConnect');
        expect(secure.getPeerX509Certificate()?.subject).toContain('CN=alpha.test');
        expect(await upgraded).toMatchObject({ servername: 'alpha.test', alpnProtocol: 'smtp' });
        secure.destroy();
      } finally {
        listener.subscription.unsubscribe();
      }
    });

    it("checks the server's certificate against the remote address when no servername is given", async () => {
      const listener = await startListening();
      try {
        const client = await connectAsync(`tcp:127.0.0.1:${listener.port}`);
        const connection = await listener.accepted(0);
        const [serverSide, clientSide] = await Promise.all([
          firstValueFrom(startTls(connection, serverTls)),
          firstValueFrom(startTls(client, { ca })),
        ]);
        // 127.0.0.1 is one of the certificate's IP addresses; an IP address is not sent by SNI.
        expect(clientSide).toMatchObject({ authorized: true, servername: undefined });
        expect(serverSide.servername).toBeUndefined();
        client.end();
        connection.end();
        expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
        expect(await firstValueFrom(client.closed$)).toEqual({ type: 'done' });
      } finally {
        listener.subscription.unsubscribe();
      }
    });

    it('upgrades a connection over a Unix socket', async () => {
      const path = join(certs.dir, 'starttls.sock');
      const listener = await startListening(`unix:${path}`);
      try {
        const client = await connectAsync(`unix:${path}`);
        const connection = await listener.accepted(0);
        const received = firstValueFrom(connection.data$);
        const [serverSide] = await Promise.all([
          firstValueFrom(startTls(connection, serverTls)),
          firstValueFrom(startTls(client, { ca, servername: 'localhost' })),
        ]);
        expect(serverSide.protocol).toMatch(/^TLSv1\.[23]$/);
        client.write('over TLS');
        expect((await received).toString()).toBe('over TLS');
        client.end();
        connection.end();
        expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
        expect(await firstValueFrom(client.closed$)).toEqual({ type: 'done' });
      } finally {
        listener.subscription.unsubscribe();
      }
    });

    it('throws a TypeError at call time for the server role without key and cert', () => {
      const connection = memoryConnection();
      expect(() => startTls(connection, { role: 'server' })).toThrow(TypeError);
      expect(() => startTls(connection, { role: 'client', key: serverTls.key! })).toThrow(
        TypeError,
      );
      connection.abort();
    });

    it('returns the startTls command when given an id', () => {
      expect(startTls(3)).toEqual({ type: 'startTls', id: 3 });
      expect(CoreConnection).toBeDefined();
    });
  });
});

import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { ConnectError, ConnectionLostError, ListenError } from '../../src/errors';
import { connect } from '../../src/net/connect';
import { listen } from '../../src/net/listen';
import { fromDuplex } from '../../src/transport/fromDuplex';
import type { Connection } from '../../src/types';
import { listenersOf } from '../helpers/duplexConnection';
import {
  LOOPBACK,
  rawClient,
  rawUnixClient,
  receiveAll,
  startListening,
  type Listener,
} from '../helpers/sockets';

describe('listen', () => {
  let listener: Listener | undefined;

  afterEach(() => {
    listener?.subscription.unsubscribe();
    listener = undefined;
  });

  describe('binding', () => {
    it('binds port 0 and reports the real address', async () => {
      listener = await startListening();
      expect(listener.address).toEqual({
        _tag: 'TcpAddress',
        hostname: '127.0.0.1',
        port: listener.port,
        family: 'IPv4',
      });
      expect(listener.port).toBeGreaterThan(0);
    });

    it('fails with ListenError naming the endpoint when the port is in use (EADDRINUSE)', async () => {
      listener = await startListening();
      const endpoint = `tcp:${listener.port}:interface=127.0.0.1`;
      const error: unknown = await firstValueFrom(listen(endpoint)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ListenError);
      expect((error as ListenError).endpoint).toBe(endpoint);
      expect(((error as ListenError).cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    });
  });

  describe('connections', () => {
    it('emits each accepted socket as a Connection with ids from 1 and both addresses', async () => {
      listener = await startListening();
      const first = await rawClient(listener.port);
      const second = await rawClient(listener.port);
      const [a, b] = [await listener.accepted(0), await listener.accepted(1)];
      expect([a.id, b.id]).toEqual([1, 2]);
      expect(a.local).toEqual(listener.address);
      expect(a.remote).toEqual({
        _tag: 'TcpAddress',
        hostname: '127.0.0.1',
        port: first.localPort,
        family: 'IPv4',
      });
      first.destroy();
      second.destroy();
    });

    it('carries data both ways', async () => {
      listener = await startListening();
      const client = await rawClient(listener.port);
      const connection = await listener.accepted(0);
      const received = firstValueFrom(connection.data$);
      client.write('ping');
      expect((await received).toString()).toBe('ping');
      connection.write('pong');
      const [reply] = (await once(client, 'data')) as [Buffer];
      expect(reply.toString()).toBe('pong');
      client.destroy();
    });

    it("closes as done at the peer's clean end when halfOpenTimeout is 0", async () => {
      listener = await startListening(LOOPBACK, { halfOpenTimeout: 0 });
      const client = await rawClient(listener.port);
      const connection = await listener.accepted(0);
      const data = lastValueFrom(connection.data$.pipe(toArray()));
      client.end('bye');
      expect(Buffer.concat(await data).toString()).toBe('bye');
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
    });

    it('keeps an accepted connection writable after the peer half-closes', async () => {
      listener = await startListening();
      const peer = netConnect({ host: '127.0.0.1', port: listener.port, allowHalfOpen: true });
      const connection = await listener.accepted(0);
      const request = lastValueFrom(connection.data$.pipe(toArray()));
      const reply = receiveAll(peer);
      peer.end('question');
      // Only after the peer's FIN has arrived: a socket that ended itself there would refuse this.
      expect(Buffer.concat(await request).toString()).toBe('question');
      connection.write('answer');
      connection.end();
      expect((await reply).toString()).toBe('answer');
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
    });

    it('closes as done after closeTimeout when end() gets no FIN back from a half-open peer', async () => {
      listener = await startListening(LOOPBACK, { closeTimeout: 50 });
      const peer = netConnect({ host: '127.0.0.1', port: listener.port, allowHalfOpen: true });
      const connection = await listener.accepted(0);
      connection.write('bye\n');
      connection.end();
      // The peer reads everything and our FIN, but, like an interactive nc, never sends its own.
      expect((await receiveAll(peer)).toString()).toBe('bye\n');
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
      peer.destroy();
    });

    it('closes as lost with ECONNRESET when the peer resets', async () => {
      listener = await startListening();
      const client = await rawClient(listener.port);
      const connection = await listener.accepted(0);
      const data = lastValueFrom(connection.data$);
      client.resetAndDestroy();
      const reason = await firstValueFrom(connection.closed$);
      expect(reason.type).toBe('lost');
      const error = (reason as { error: ConnectionLostError }).error;
      expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNRESET');
      await expect(data).rejects.toBeInstanceOf(ConnectionLostError);
    });

    it('keeps the peer address of a connection reset before anyone read it', async () => {
      listener = await startListening();
      const client = await rawClient(listener.port);
      const clientPort = client.localPort;
      const connection = await listener.accepted(0);
      connection.data$.subscribe({ error: () => undefined });
      client.resetAndDestroy();
      expect((await firstValueFrom(connection.closed$)).type).toBe('lost');
      expect(connection.remote).toEqual({
        _tag: 'TcpAddress',
        hostname: '127.0.0.1',
        port: clientPort,
        family: 'IPv4',
      });
      expect(connection.local).toEqual(listener.address);
    });

    it('reports the address the peer dialled as local when bound to every interface', async () => {
      listener = await startListening('tcp:0');
      expect(listener.address).toMatchObject({ hostname: '0.0.0.0' });
      const client = await rawClient(listener.port);
      const connection = await listener.accepted(0);
      expect(connection.local).toEqual({
        _tag: 'TcpAddress',
        hostname: '127.0.0.1',
        port: listener.port,
        family: 'IPv4',
      });
      client.destroy();
    });

    it('sends a RST to the peer on abort()', async () => {
      listener = await startListening();
      const client = await rawClient(listener.port);
      const connection = await listener.accepted(0);
      connection.abort();
      const [error] = (await once(client, 'error')) as [NodeJS.ErrnoException];
      expect(error.code).toBe('ECONNRESET');
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'aborted' });
    });

    it('removes every listener it added to a net.Socket when the connection closes', async () => {
      listener = await startListening();
      const socket = await rawClient(listener.port);
      const before = listenersOf(socket);
      const errorListeners = socket.listenerCount('error');
      const address = { _tag: 'MemoryAddress', name: 'client' } as const;
      const connection = fromDuplex(socket, { id: 1, local: address, remote: address });
      const added = listenersOf(socket).filter((listener) => !before.includes(listener));
      expect(added.length).toBeGreaterThan(0);
      expect(socket.listenerCount('error')).toBe(errorListeners + 1);
      connection.data$.subscribe();
      (await listener.accepted(0)).end();
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
      expect(listenersOf(socket).filter((listener) => added.includes(listener))).toEqual([]);
      expect(socket.listenerCount('error')).toBe(errorListeners);
    });

    it('coalesces the writes of one event-loop turn', async () => {
      listener = await startListening();
      const client = await rawClient(listener.port);
      const connection = await listener.accepted(0);
      const received = receiveAll(client);
      let chunks = 0;
      client.on('data', () => (chunks += 1));
      for (let i = 0; i < 1000; i += 1) {
        connection.write('0123456789');
      }
      connection.end();
      expect((await received).length).toBe(10000);
      client.end();
      expect(chunks).toBeLessThan(10);
    });
  });

  describe('unsubscribe', () => {
    it('stops listening, so a new connect is refused', async () => {
      const { port, subscription } = await startListening();
      subscription.unsubscribe();
      const error: unknown = await firstValueFrom(connect(`tcp:127.0.0.1:${port}`)).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConnectError);
      expect(((error as ConnectError).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    });

    it('ends its connections gracefully: pending output first, then FIN', async () => {
      const { port, subscription, accepted } = await startListening();
      const client = await rawClient(port);
      const connection: Connection = await accepted(0);
      const payload = Buffer.alloc(4 * 1024 * 1024, 'x');
      connection.write(payload);
      const received = receiveAll(client);
      subscription.unsubscribe();
      expect((await received).equals(payload)).toBe(true);
      client.end();
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
    });
  });

  describe('unix sockets', () => {
    it('listens on a socket path, with the path as its address, and removes it when done', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'rxnet-'));
      const path = join(dir, 'server.sock');
      try {
        listener = await startListening(`unix:${path}:mode=600`);
        expect(listener.address).toEqual({ _tag: 'UnixAddress', path });
        expect((await stat(path)).mode & 0o777).toBe(0o600);
        const client = await rawUnixClient(path);
        const connection = await listener.accepted(0);
        expect(connection.local).toEqual({ _tag: 'UnixAddress', path });
        connection.data$.subscribe((chunk) => connection.write(chunk));
        client.write('over unix');
        const [echo] = (await once(client, 'data')) as [Buffer];
        expect(echo.toString()).toBe('over unix');
        connection.abort();
        expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'aborted' });
        listener.subscription.unsubscribe();
        await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('options', () => {
    it('throws at call time for contradictory limits and bad descriptions', () => {
      expect(() => listen(LOOPBACK, { writeHighWaterMark: 10, maxPendingWriteBytes: 5 })).toThrow(
        TypeError,
      );
      expect(() => listen('tcp:port=x')).toThrow('port must be an integer');
    });
  });
});

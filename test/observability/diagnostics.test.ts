import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { Subject, filter, firstValueFrom, ReplaySubject, type Subscription } from 'rxjs';
import {
  DIAGNOSTICS_CHANNELS,
  type ConnectionClosedMessage,
  type ConnectionOpenedMessage,
  type ConnectionRefusedMessage,
  type FrameErrorMessage,
  type ServerListeningMessage,
  type ShutdownMessage,
} from '../../src/observability/diagnostics';
import { lines } from '../../src/framing/lines';
import { connect, connectAsync } from '../../src/net/connect';
import { makeCerts } from '../helpers/certs';
import { echo } from '../../src/operators/echo';
import type { Behaviour, Connection } from '../../src/types';
import { LOOPBACK, receiveAll, startListening } from '../helpers/sockets';
import { loopbackServing } from '../helpers/serving';

/** A channel's messages, recorded from subscribe() until stop(). */
interface Recorder<M> {
  readonly messages: M[];
  /** Resolves with the first message (from now or already recorded) that `match` accepts. */
  next(match?: (message: M) => boolean): Promise<M>;
  stop(): void;
}

const recorders: Recorder<unknown>[] = [];

function record<M>(name: string): Recorder<M> {
  const messages: M[] = [];
  const seen = new ReplaySubject<M>();
  const listener = (message: unknown): void => {
    messages.push(message as M);
    seen.next(message as M);
  };
  diagnosticsChannel.subscribe(name, listener);
  const recorder: Recorder<M> = {
    messages,
    next: (match = () => true) => firstValueFrom(seen.pipe(filter(match))),
    stop: () => diagnosticsChannel.unsubscribe(name, listener),
  };
  recorders.push(recorder as Recorder<unknown>);
  return recorder;
}

const subscriptions: Subscription[] = [];
const sockets: Socket[] = [];

afterEach(() => {
  for (const recorder of recorders.splice(0)) recorder.stop();
  for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
  for (const socket of sockets.splice(0)) socket.destroy();
});

const { startServing, client } = loopbackServing(subscriptions, sockets);

const echoLines: Behaviour<string, string> = (events) => events.pipe(echo());

describe('diagnostics channels', () => {
  describe('rxnet:connection:opened and rxnet:connection:closed', () => {
    it('publishes a served connection opening, then closing with its reason, bytes, frames and lifetime', async () => {
      const opened = record<ConnectionOpenedMessage>(DIAGNOSTICS_CHANNELS.connectionOpened);
      const closed = record<ConnectionClosedMessage>(DIAGNOSTICS_CHANNELS.connectionClosed);
      const { port } = await startServing(echoLines, { framing: lines({ encoding: 'utf8' }) });
      const socket = await client(port);
      const open = await opened.next();
      expect(open).toMatchObject({
        id: 1,
        role: 'server',
        local: { _tag: 'TcpAddress', hostname: '127.0.0.1', port },
        remote: { _tag: 'TcpAddress', hostname: '127.0.0.1', port: socket.localPort },
        tls: false,
        server: { _tag: 'TcpAddress', hostname: '127.0.0.1', port },
      });
      expect(typeof open.openedAt).toBe('number');
      const replies = receiveAll(socket);
      socket.end('one\r\ntwo\r\n');
      expect((await replies).toString()).toBe('one\r\ntwo\r\n');
      const close = await closed.next();
      expect(close).toMatchObject({
        id: 1,
        role: 'server',
        remote: open.remote,
        reason: { type: 'done' },
        bytesRead: 10,
        bytesWritten: 10,
        framesIn: 2,
        framesOut: 2,
        backpressurePauses: 0,
      });
      expect(close.connection).toBe(open.connection);
      expect(close.server).toEqual(open.server);
      expect(close.lifetime).toBeGreaterThanOrEqual(0);
      // The opened message's traffic is live: after the close it holds the final figures.
      expect(open.traffic).toMatchObject({ bytesRead: 10, bytesWritten: 10, framesIn: 2 });
      expect(opened.messages).toHaveLength(1);
      expect(closed.messages).toHaveLength(1);
    });

    it('publishes a client connection made by connect, with the role client', async () => {
      const opened = record<ConnectionOpenedMessage>(DIAGNOSTICS_CHANNELS.connectionOpened);
      const closed = record<ConnectionClosedMessage>(DIAGNOSTICS_CHANNELS.connectionClosed);
      const server: Server = createServer((peer) => peer.end('hello'));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      try {
        const { port } = server.address() as { port: number };
        const connection = await firstValueFrom(connect(`tcp:127.0.0.1:${port}`));
        connection.data$.subscribe({ complete: () => connection.end() });
        const close = await closed.next();
        expect(opened.messages[0]).toMatchObject({
          id: 1,
          role: 'client',
          remote: { _tag: 'TcpAddress', hostname: '127.0.0.1', port },
          tls: false,
        });
        expect('server' in opened.messages[0]!).toBe(false);
        expect(close).toMatchObject({
          role: 'client',
          reason: { type: 'done' },
          bytesRead: 5,
          bytesWritten: 0,
          framesIn: 0,
          framesOut: 0,
        });
      } finally {
        server.close();
      }
    });

    it("reports an aborted close with the error that caused it, and the connection's backpressure pauses and pending bytes live", async () => {
      const opened = record<ConnectionOpenedMessage>(DIAGNOSTICS_CHANNELS.connectionOpened);
      const closed = record<ConnectionClosedMessage>(DIAGNOSTICS_CHANNELS.connectionClosed);
      const listener = await startListening(LOOPBACK, { writeHighWaterMark: 1024 });
      subscriptions.push(listener.subscription);
      await client(listener.port); // never reads
      const connection: Connection = await listener.accepted(0);
      expect(connection.write(Buffer.alloc(8 * 1024 * 1024))).toBe(false);
      const { traffic } = await opened.next();
      expect(traffic.backpressurePauses).toBe(1);
      expect(traffic.pendingWriteBytes).toBeGreaterThan(0);
      connection.abort();
      const close = await closed.next();
      expect(close.reason).toEqual({ type: 'aborted' });
      expect(close.backpressurePauses).toBe(1);
      expect(traffic.pendingWriteBytes).toBe(0);
    });

    it('publishes TLS connections once their handshake is done, with tls true at both ends', async () => {
      const certs = makeCerts();
      try {
        const opened = record<ConnectionOpenedMessage>(DIAGNOSTICS_CHANNELS.connectionOpened);
        const listener = await startListening(
          `ssl:0:interface=127.0.0.1:privateKey=${certs.server.key}:certKey=${certs.server.cert}`,
        );
        subscriptions.push(listener.subscription);
        const connection = await connectAsync(
          `tls:host=localhost:port=${listener.port}:trustRoots=${certs.ca.cert}`,
        );
        const accepted = await listener.accepted(0);
        const messages = opened.messages.map(({ role, tls }) => ({ role, tls }));
        expect(messages).toEqual(
          expect.arrayContaining([
            { role: 'server', tls: true },
            { role: 'client', tls: true },
          ]),
        );
        connection.abort();
        await firstValueFrom(accepted.closed$);
      } finally {
        certs.remove();
      }
    });

    it('publishes no close for a connection opened while nobody listened, and fails nothing', async () => {
      const { port, notifications } = await startServing(echoLines, {
        framing: lines({ encoding: 'utf8' }),
      });
      const socket = await client(port);
      await firstValueFrom(notifications.pipe(filter(({ type }) => type === 'connectionMade')));
      const closed = record<ConnectionClosedMessage>(DIAGNOSTICS_CHANNELS.connectionClosed);
      const replies = receiveAll(socket);
      socket.end('unobserved\r\n');
      expect((await replies).toString()).toBe('unobserved\r\n');
      await firstValueFrom(notifications.pipe(filter(({ type }) => type === 'connectionLost')));
      const ours = closed.messages.filter(
        ({ remote }) => remote._tag === 'TcpAddress' && remote.port === socket.localPort,
      );
      expect(ours).toEqual([]);
    });

    it('publishes the close to a subscriber of the closed channel alone', async () => {
      const closed = record<ConnectionClosedMessage>(DIAGNOSTICS_CHANNELS.connectionClosed);
      const { port } = await startServing(echoLines, { framing: lines({ encoding: 'utf8' }) });
      const socket = await client(port);
      socket.end('x\r\n');
      const close = await closed.next();
      expect(close).toMatchObject({ role: 'server', bytesRead: 3, framesIn: 1, framesOut: 1 });
    });
  });

  describe('rxnet:connection:frameError', () => {
    it("publishes the decoder's typed error with its code, and the close carries it", async () => {
      const errors = record<FrameErrorMessage>(DIAGNOSTICS_CHANNELS.frameError);
      const closed = record<ConnectionClosedMessage>(DIAGNOSTICS_CHANNELS.connectionClosed);
      const { port } = await startServing(echoLines, {
        framing: lines({ encoding: 'utf8', maxLineBytes: 4 }),
      });
      const socket = await client(port);
      socket.write('far too long\r\n');
      const message = await errors.next();
      expect(message).toMatchObject({
        id: 1,
        remote: { _tag: 'TcpAddress', port: socket.localPort },
        error: { code: 'RXNET_ERR_FRAME_TOO_LONG' },
        server: { _tag: 'TcpAddress', port },
      });
      const close = await closed.next();
      expect(close.reason).toEqual({ type: 'aborted', error: message.error });
      expect(errors.messages).toHaveLength(1);
    });
  });

  describe('rxnet:connection:frameError (truncation)', () => {
    it("publishes a frame cut short by the peer's FIN", async () => {
      const errors = record<FrameErrorMessage>(DIAGNOSTICS_CHANNELS.frameError);
      const { port } = await startServing(echoLines, { framing: lines({ encoding: 'utf8' }) });
      const socket = await client(port);
      socket.on('error', () => undefined);
      socket.end('no delimiter');
      const message = await errors.next();
      expect(message.error.code).toBe('RXNET_ERR_TRUNCATED_FRAME');
    });
  });

  describe('rxnet:server:refused', () => {
    it('publishes a peer refused by a limit, with the limit as its reason', async () => {
      const refused = record<ConnectionRefusedMessage>(DIAGNOSTICS_CHANNELS.refused);
      const { port, notifications } = await startServing(echoLines, {
        framing: lines({ encoding: 'utf8' }),
        maxConnections: 1,
        whenFull: 'refuse',
      });
      await client(port);
      await firstValueFrom(notifications.pipe(filter(({ type }) => type === 'connectionMade')));
      const second = await client(port);
      const message = await refused.next();
      expect(message).toMatchObject({
        remote: { _tag: 'TcpAddress', hostname: '127.0.0.1', port: second.localPort },
        reason: 'maxConnections',
        error: { code: 'RXNET_ERR_CONNECTION_LIMIT', limit: 'maxConnections' },
        server: { _tag: 'TcpAddress', hostname: '127.0.0.1', port },
      });
    });
  });

  describe('rxnet:server:listening', () => {
    it('publishes the address a server bound, with the real port', async () => {
      const listening = record<ServerListeningMessage>(DIAGNOSTICS_CHANNELS.serverListening);
      const { port } = await startServing(echoLines);
      const message = await listening.next(
        ({ server }) => server._tag === 'TcpAddress' && server.port === port,
      );
      expect(message).toEqual({
        server: { _tag: 'TcpAddress', hostname: '127.0.0.1', port, family: 'IPv4' },
      });
    });
  });

  describe('rxnet:server:shutdown', () => {
    it('publishes the start with the connections open, and the end with whether it was graceful', async () => {
      const shutdown = record<ShutdownMessage>(DIAGNOSTICS_CHANNELS.shutdown);
      const trigger = new Subject<void>();
      const { port, notifications } = await startServing(echoLines, {
        framing: lines({ encoding: 'utf8' }),
        shutdown: trigger,
      });
      const socket = await client(port);
      await firstValueFrom(notifications.pipe(filter(({ type }) => type === 'connectionMade')));
      // The peer answers the server's FIN with its own, so the shutdown ends gracefully.
      socket.on('end', () => socket.end());
      socket.resume();
      trigger.next();
      const end = await shutdown.next((message) => message.phase === 'end');
      expect(shutdown.messages).toEqual([
        { phase: 'start', connections: 1 },
        { phase: 'end', connections: 0, graceful: true },
      ]);
      expect(end.graceful).toBe(true);
    });
  });

  describe('rxnet:server:shutdown (aborted)', () => {
    it('publishes an end that is not graceful when the deadline aborts a connection', async () => {
      const shutdown = record<ShutdownMessage>(DIAGNOSTICS_CHANNELS.shutdown);
      const trigger = new Subject<void>();
      const { port, notifications } = await startServing(echoLines, {
        framing: lines({ encoding: 'utf8' }),
        shutdown: trigger,
        shutdownTimeout: 10,
      });
      // allowHalfOpen: it never answers the server's FIN.
      const socket = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
      sockets.push(socket);
      socket.on('error', () => undefined);
      await firstValueFrom(notifications.pipe(filter(({ type }) => type === 'connectionMade')));
      trigger.next();
      const end = await shutdown.next((message) => message.phase === 'end');
      expect(end).toEqual({ phase: 'end', connections: 0, graceful: false });
    });
  });

  describe('without subscribers', () => {
    it('has no subscriber on any channel, and serves as usual', async () => {
      for (const name of Object.values(DIAGNOSTICS_CHANNELS)) {
        expect(diagnosticsChannel.hasSubscribers(name)).toBe(false);
      }
      const trigger = new Subject<void>();
      const { port, notifications } = await startServing(echoLines, {
        framing: lines({ encoding: 'utf8', maxLineBytes: 4 }),
        shutdown: trigger,
      });
      const bad = await client(port);
      bad.on('error', () => undefined);
      bad.write('far too long\r\n');
      await firstValueFrom(notifications.pipe(filter(({ type }) => type === 'connectionLost')));
      const good = await client(port);
      good.on('end', () => good.end());
      good.write('ok\r\n');
      const [reply] = (await once(good, 'data')) as [Buffer];
      expect(reply.toString()).toBe('ok\r\n');
      good.resume();
      trigger.next();
      const last = await firstValueFrom(
        notifications.pipe(filter(({ type }) => type === 'shutdownComplete')),
      );
      expect(last).toMatchObject({ type: 'shutdownComplete', graceful: 1 });
    });
  });
});

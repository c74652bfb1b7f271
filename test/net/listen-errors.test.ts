import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect, type Server, type Socket } from 'node:net';
import type * as Net from 'node:net';
import { join } from 'node:path';
import { firstValueFrom, type Subscription } from 'rxjs';
import { ListenError } from '../../src/errors';
import { listen } from '../../src/net/listen';
import { LOOPBACK, rawClient, startListening, type Listener } from '../helpers/sockets';

const root = join(__dirname, '..', '..');
/** The child's descriptor limit: room for Node, ts-node and a few dozen connections. */
const CHILD_NOFILE = 64;
/** More connections than CHILD_NOFILE could ever hold, so the loop ends either way. */
const MAX_ATTEMPTS = 200;

/** The module object listen.ts calls, so a spy on it sees the server listen() creates. */
const net = jest.requireActual<typeof Net>('node:net');

/** An error shaped like the one Node emits on a server when accept() fails. */
function acceptError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`accept ${code}`), { code, syscall: 'accept' });
}

/** A client on 127.0.0.1 that never throws: a reset shows up as its 'close'. */
async function dial(port: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

/**
 * Sends `text` and reports whether it comes back, or whether the server closed the connection
 * instead (libuv does that to the connections it cannot hand over when out of descriptors).
 */
function echoOf(socket: Socket, text: string): Promise<'echoed' | 'closed'> {
  return new Promise((resolve) => {
    let received = '';
    function settle(outcome: 'echoed' | 'closed'): void {
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('close', onGone);
      resolve(outcome);
    }
    function onData(chunk: Buffer): void {
      received += chunk.toString();
      if (received === text) {
        settle('echoed');
      }
    }
    function onGone(): void {
      settle('closed');
    }
    socket.on('data', onData);
    socket.on('end', onGone);
    socket.on('close', onGone);
    socket.write(text);
  });
}

/** Resolves with the port the child prints; rejects if it exits first. */
function portOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    function onData(chunk: Buffer): void {
      out += chunk.toString();
      const newline = out.indexOf('\n');
      if (newline !== -1) {
        cleanup();
        resolve((JSON.parse(out.slice(0, newline)) as { port: number }).port);
      }
    }
    function onExit(code: number | null, signal: string | null): void {
      cleanup();
      reject(new Error(`fixture exited (${code ?? signal}) before listening`));
    }
    function cleanup(): void {
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    }
    child.stdout?.on('data', onData);
    child.on('exit', onExit);
  });
}

describe('listen', () => {
  describe('errors after bind', () => {
    let createServer: jest.SpiedFunction<typeof net.createServer>;
    let listener: Listener | undefined;
    let subscription: Subscription | undefined;
    const sockets: Socket[] = [];

    /** The net.Server behind the latest listen() subscription. */
    function lastServer(): Server {
      return createServer.mock.results[createServer.mock.results.length - 1]!.value as Server;
    }

    beforeEach(() => {
      createServer = jest.spyOn(net, 'createServer');
    });

    afterEach(() => {
      createServer.mockRestore();
      listener?.subscription.unsubscribe();
      listener = undefined;
      subscription?.unsubscribe();
      subscription = undefined;
      for (const socket of sockets.splice(0)) {
        socket.destroy();
      }
    });

    it.each(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'ECONNABORTED', 'EAGAIN', 'EPROTO', 'EPERM'])(
      'keeps the stream open and accepting after an accept() error with code %s',
      async (code) => {
        listener = await startListening();
        lastServer().emit('error', acceptError(code));
        expect(listener.subscription.closed).toBe(false);
        const client = await rawClient(listener.port);
        sockets.push(client);
        const connection = await listener.accepted(0);
        const received = firstValueFrom(connection.data$);
        client.write('after the error');
        expect((await received).toString()).toBe('after the error');
      },
    );

    it.each([
      ['an unknown code', acceptError('EINVAL')],
      ['no code', new Error('the handle broke')],
    ])(
      'fails with ListenError carrying the cause, and stops listening, for an error with %s',
      async (_, cause) => {
        let port = 0;
        const failed = new Promise<unknown>((resolve) => {
          subscription = listen(LOOPBACK, {
            onListening: (address) => {
              port = address._tag === 'TcpAddress' ? address.port : 0;
              lastServer().emit('error', cause);
            },
          }).subscribe({ error: resolve });
        });
        const error = await failed;
        expect(error).toBeInstanceOf(ListenError);
        expect((error as ListenError).endpoint).toBe(LOOPBACK);
        expect((error as ListenError).cause).toBe(cause);
        await expect(rawClient(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      },
    );

    it('fails with ListenError when a transient code arrives before the socket is bound', async () => {
      const failed = new Promise<unknown>((resolve) => {
        subscription = listen(LOOPBACK).subscribe({ error: resolve });
      });
      // Binding needs a descriptor too: socket() can fail with EMFILE, and that is a bind failure.
      const cause = Object.assign(new Error('listen EMFILE'), {
        code: 'EMFILE',
        syscall: 'listen',
      });
      lastServer().emit('error', cause);
      const error = await failed;
      expect(error).toBeInstanceOf(ListenError);
      expect((error as ListenError).cause).toBe(cause);
    });
  });

  describe('descriptor exhaustion', () => {
    let child: ChildProcess | undefined;
    const sockets: Socket[] = [];

    afterEach(() => {
      for (const socket of sockets.splice(0)) {
        socket.destroy();
      }
      child?.kill('SIGKILL');
      child = undefined;
    });

    it('keeps serving its connections and accepts again once descriptors are free', async () => {
      const server = spawn(
        'prlimit',
        [
          `--nofile=${CHILD_NOFILE}:${CHILD_NOFILE}`,
          process.execPath,
          '-r',
          'ts-node/register/transpile-only',
          'test/fixtures/emfile-server.ts',
        ],
        { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child = server;
      let stderr = '';
      server.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const port = await portOf(server);

      // Fill the child's descriptor table: libuv then accepts each new connection only to close it.
      const served: Socket[] = [];
      let turnedAway = 0;
      for (let attempt = 0; attempt < MAX_ATTEMPTS && turnedAway === 0; attempt += 1) {
        const socket = await dial(port);
        sockets.push(socket);
        if ((await echoOf(socket, `hello ${attempt}`)) === 'echoed') {
          served.push(socket);
        } else {
          turnedAway += 1;
        }
      }
      expect(turnedAway).toBe(1);
      expect(served.length).toBeGreaterThan(1);
      expect(served.length).toBeLessThan(CHILD_NOFILE);

      const [first, ...rest] = served as [Socket, ...Socket[]];
      expect(await echoOf(first, 'still served while exhausted')).toBe('echoed');
      expect(await echoOf(rest[rest.length - 1]!, 'and the newest too')).toBe('echoed');
      expect(server.exitCode).toBeNull();
      expect(server.signalCode).toBeNull();
      expect(stderr).toBe('');

      // The child closes each one after our FIN; until it has, a new connection may be turned away,
      // so retry on that real outcome, a bounded number of times.
      await Promise.all(
        rest.map((socket) => {
          socket.end();
          return once(socket, 'close');
        }),
      );
      let accepted: 'echoed' | 'closed' = 'closed';
      for (let attempt = 0; attempt < MAX_ATTEMPTS && accepted === 'closed'; attempt += 1) {
        const socket = await dial(port);
        sockets.push(socket);
        accepted = await echoOf(socket, 'accepted again');
      }
      expect(accepted).toBe('echoed');
      expect(await echoOf(first, 'first one still here')).toBe('echoed');
      expect(server.exitCode).toBeNull();
      expect(stderr).toBe('');
    }, 15_000);
  });
});

describe('listen handshakeTimeout', () => {
  it('is a TypeError at call time when negative', () => {
    expect(() => listen('tcp:port=0:interface=127.0.0.1', { handshakeTimeout: -1 })).toThrow(
      TypeError,
    );
  });

  it('is a RangeError at call time above 2^31-1 ms, which Node timers cannot hold', () => {
    expect(() => listen('tcp:port=0:interface=127.0.0.1', { handshakeTimeout: 2 ** 31 })).toThrow(
      RangeError,
    );
  });

  it('accepts 0 and Infinity as no limit', () => {
    expect(() => listen('tcp:port=0:interface=127.0.0.1', { handshakeTimeout: 0 })).not.toThrow();
    expect(() =>
      listen('tcp:port=0:interface=127.0.0.1', { handshakeTimeout: Infinity }),
    ).not.toThrow();
  });
});

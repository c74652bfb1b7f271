/**
 * Every example, end to end over real loopback sockets (port 0), checking the exact bytes on the
 * wire with raw `node:net` peers.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { refusedPort } from './helpers/sockets';
import {
  start as startSpreadServer,
  spreadGreeting,
  type SpreadServerOptions,
} from '../examples/spread-server';
import { start as startSpreadClient } from '../examples/spread-client';
import { start as startEchoServer } from '../examples/echo-server';
import { start as startEchoClient } from '../examples/echo-client';
import { DEFAULT_HALF_OPEN_TIMEOUT } from 'rxnet';
import { RawClient, Resources, stopping, within } from './examples/harness';

const LOOPBACK = 'tcp:0:interface=127.0.0.1';
const resources = new Resources();
afterEach(() => resources.disposeAll());

/** A log that tests can await. */
class Logged {
  readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();
  readonly log = (line: string): void => {
    this.lines.push(line);
    for (const waiter of [...this.waiters]) waiter();
  };

  /** Resolves once some line equals `line` (or matches it), counting from the start. */
  waitFor(line: string | RegExp, count = 1): Promise<void> {
    const matches = (candidate: string): boolean =>
      typeof line === 'string' ? candidate === line : line.test(candidate);
    return within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (this.lines.filter(matches).length >= count) {
            this.waiters.delete(check);
            resolve();
          }
        };
        this.waiters.add(check);
        check();
      }),
      `log line ${String(line)} (x${count}); logged ${JSON.stringify(this.lines)}`,
    );
  }

  /** The lines after `listening on …`. */
  get events(): string[] {
    return this.lines.filter((line) => !line.startsWith('listening on'));
  }
}

async function spreadServer(
  options: Omit<SpreadServerOptions, 'log' | 'endpoint'> = {},
): Promise<{ port: number; logged: Logged }> {
  const logged = new Logged();
  const handle = stopping(
    resources,
    await startSpreadServer({ endpoint: LOOPBACK, ...options, log: logged.log }),
  );
  expect(handle.address).toMatchObject({
    _tag: 'TcpAddress',
    hostname: '127.0.0.1',
    family: 'IPv4',
  });
  return { port: handle.address.port, logged };
}

/** Connects `n` raw clients one after another, each awaiting its greeting, so numbers are deterministic. */
async function greetedClients(port: number, n: number, firstNumber = 1): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  for (let i = 0; i < n; i++) {
    const client = await RawClient.connect(resources, port);
    await client.expectText(spreadGreeting(firstNumber + i));
    client.clear();
    clients.push(client);
  }
  return clients;
}

describe('examples/spread-server', () => {
  describe('default mode', () => {
    it('greets each client with its number, in UTF-8, and logs the count', async () => {
      const { port, logged } = await spreadServer();
      const first = await RawClient.connect(resources, port);
      await first.expectText('欢迎来到Spread Site, 你是第1个客户端用户!\n');
      expect(first.received).toEqual(
        Buffer.from('欢迎来到Spread Site, 你是第1个客户端用户!\n', 'utf8'),
      );
      await greetedClients(port, 2, 2);
      expect(logged.events).toEqual(['new connect: 1', 'new connect: 2', 'new connect: 3']);
    });

    it('relays data to every other client and not to the sender', async () => {
      const { port, logged } = await spreadServer();
      const [a, b, c] = await greetedClients(port, 3);
      await a!.write('hello\n');
      await b!.expectText('hello\n');
      await c!.expectText('hello\n');
      // The server handles a connection's events in order: if `a` had been sent its own message,
      // it would arrive before this one.
      await c!.write('ping');
      await a!.expectText('ping');
      expect(logged.events.slice(3)).toEqual(['hello', 'ping']);
    });

    it('closes only the client that sends close, and the count goes down', async () => {
      const { port, logged } = await spreadServer();
      const [a, b, c] = await greetedClients(port, 3);
      await a!.write('close\n');
      await within(a!.closed, 'the server to close the client that sent close');
      expect(a!.text).toBe('');
      await logged.waitFor('lost connect: 2');
      await b!.write('still here');
      await c!.expectText('still here');
      expect(b!.isClosed).toBe(false);
      const d = await RawClient.connect(resources, port);
      await d.expectText(spreadGreeting(3));
      expect(logged.events).toEqual([
        'new connect: 1',
        'new connect: 2',
        'new connect: 3',
        'lost connect: 2',
        'still here',
        'new connect: 3',
      ]);
    });

    it('counts down when clients leave on their own', async () => {
      const { port, logged } = await spreadServer();
      const [a, b] = await greetedClients(port, 2);
      a!.end();
      // As the Twisted original does, the server ends the connection at the client's FIN, rather
      // than keeping it writable for DEFAULT_HALF_OPEN_TIMEOUT.
      await within(
        a!.closed,
        "the server to end at the client's FIN",
        DEFAULT_HALF_OPEN_TIMEOUT / 2,
      );
      await logged.waitFor('lost connect: 1');
      b!.socket.destroy();
      await logged.waitFor('lost connect: 0');
    });
  });

  describe('--mode book', () => {
    it('forwards an exact close to the others byte for byte, closes the sender, and only prints other data', async () => {
      const { port, logged } = await spreadServer({ mode: 'book' });
      const [a, b, c] = await greetedClients(port, 3);
      await b!.write('hi');
      await logged.waitFor('hi');
      await c!.write('close');
      await within(c!.closed, 'the sender of close to be closed');
      // 'hi' was only printed: the first bytes after the greeting are the forwarded close.
      await a!.expectText('close');
      await b!.expectText('close');
      expect(c!.text).toBe('');
      await logged.waitFor('lost connect: 2');
      expect(logged.events).toEqual([
        'new connect: 1',
        'new connect: 2',
        'new connect: 3',
        'hi',
        'lost connect: 2',
      ]);
    });

    it('does not treat close with a newline as close', async () => {
      const { port, logged } = await spreadServer({ mode: 'book' });
      const [a, b] = await greetedClients(port, 2);
      await a!.write('close\n');
      await logged.waitFor('close\n');
      await b!.write('close');
      await a!.expectText('close');
      expect(a!.isClosed).toBe(false);
    });
  });

  describe('--framing lines', () => {
    it('relays whole lines however they are chunked and closes on the line close', async () => {
      const { port, logged } = await spreadServer({ framing: 'lines' });
      const [a, b] = await greetedClients(port, 2);
      await a!.write('one\ntw');
      await a!.write('o\r\nclo');
      await b!.expectText('one\ntwo\n');
      await a!.write('se\nnever relayed\n');
      await within(a!.closed, 'the client that sent the line close to be closed');
      await logged.waitFor('lost connect: 1');
      await b!.write('after\n');
      await logged.waitFor('after');
      expect(b!.text).toBe('one\ntwo\n');
      expect(logged.events).toEqual([
        'new connect: 1',
        'new connect: 2',
        'one',
        'two',
        'lost connect: 1',
        'after',
      ]);
    });

    it('aborts only a client whose unterminated line outgrows 16 KiB', async () => {
      const { port, logged } = await spreadServer({ framing: 'lines' });
      const [a, b] = await greetedClients(port, 2);
      await a!.write('x'.repeat(16 * 1024 + 1)).catch(() => undefined);
      await within(a!.closed, 'the server to abort the client with the oversized line');
      await logged.waitFor('lost connect: 1');
      await b!.write('fine\n');
      await logged.waitFor('fine');
      expect(a!.text).toBe('');
      expect(b!.isClosed).toBe(false);
    });
  });
});

describe('examples/spread-server start()', () => {
  it('rejects with InvalidEndpointError for a bad description and ListenError for a taken port', async () => {
    await expect(
      startSpreadServer({ endpoint: 'tcp:port=nope', log: () => undefined }),
    ).rejects.toMatchObject({
      code: 'RXNET_ERR_INVALID_ENDPOINT',
    });
    const { port } = await spreadServer();
    await expect(
      startSpreadServer({ endpoint: `tcp:${port}:interface=127.0.0.1`, log: () => undefined }),
    ).rejects.toMatchObject({
      code: 'RXNET_ERR_LISTEN',
    });
  });
});

describe('examples/spread-client', () => {
  it('sends its timed messages through the Spread server to another client, then exits 0', async () => {
    const { port } = await spreadServer();
    const [reader] = await greetedClients(port, 1);
    const logged = new Logged();
    const client = stopping(
      resources,
      await startSpreadClient({
        endpoint: `tcp:localhost:${port}`,
        every: 0.05,
        count: 3,
        name: 'tester',
        log: logged.log,
      }),
    );
    const message = /hello, I'm tester \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/g;
    await reader!.waitForText((text) => (text.match(message) ?? []).length === 3, 'three messages');
    expect(await within(client.done!, 'the client to exit')).toBe(0);
    expect(reader!.text.replace(message, 'M')).toBe('MMM');
    expect(logged.lines).toEqual([
      'Start to Connect...',
      'Connected...',
      spreadGreeting(2).trimEnd(),
      'Lost connection. Reason: Connection was closed cleanly.',
    ]);
  });

  it('reports a refused connection and exits 1', async () => {
    const port = await refusedPort();
    const logged = new Logged();
    const client = stopping(
      resources,
      await startSpreadClient({ endpoint: `tcp:127.0.0.1:${port}`, log: logged.log }),
    );
    expect(await within(client.done!, 'the client to exit')).toBe(1);
    expect(logged.lines[0]).toBe('Start to Connect...');
    expect(logged.lines[1]).toMatch(
      /^Connection is failed, Reason: RXNET_ERR_CONNECT: .*ECONNREFUSED/,
    );
  });
});

describe('examples/spread-client --reconnect', () => {
  it('reconnects with backoff after the server goes away and comes back on the same port', async () => {
    const first = await startSpreadServer({ endpoint: LOOPBACK, log: () => undefined });
    const { port } = first.address;
    const logged = new Logged();
    stopping(
      resources,
      await startSpreadClient({
        endpoint: `tcp:127.0.0.1:${port}`,
        every: 60,
        name: 'r',
        reconnect: { initialDelay: 20, factor: 1.5, jitter: 0 },
        log: logged.log,
      }),
    );
    await logged.waitFor(spreadGreeting(1).trimEnd());
    await first.stop();
    await logged.waitFor(/^Connection is failed, Reason: RXNET_ERR_CONNECT: .*ECONNREFUSED$/, 2);
    const second = stopping(
      resources,
      await startSpreadServer({
        endpoint: `tcp:${port}:interface=127.0.0.1`,
        log: () => undefined,
      }),
    );
    expect(second.address.port).toBe(port);
    await logged.waitFor('Connected...', 2);
    await logged.waitFor(spreadGreeting(1).trimEnd(), 2);
    const refusals = logged.lines.filter((line) => line.startsWith('Connection is failed')).length;
    expect(logged.lines.slice(0, 5)).toEqual([
      'Start to Connect...',
      'Connected...',
      spreadGreeting(1).trimEnd(),
      'Lost connection. Reason: Connection was closed cleanly.',
      'Start to Connect...',
    ]);
    expect(logged.lines.filter((line) => line === 'Start to Connect...')).toHaveLength(
      refusals + 2,
    );
  });
});

describe('examples/echo-server', () => {
  it('echoes the first chunk, closes, and prints the seed lines with host and peer', async () => {
    const logged = new Logged();
    const server = stopping(
      resources,
      await startEchoServer({ endpoint: LOOPBACK, log: logged.log }),
    );
    const client = await RawClient.connect(resources, server.address.port);
    const { localPort } = client.socket;
    await client.write('> To Server:Hello server');
    await within(client.closed, 'the echo server to close the connection');
    expect(client.text).toBe('> To Server:Hello server');
    expect(logged.events).toEqual([
      '> New connection made,from client!',
      '> Now conn=1',
      '> Data from client: > To Server:Hello server',
      `>Host:  IPv4Address(type='TCP', host='127.0.0.1', port=${server.address.port})`,
      `>Peer:  IPv4Address(type='TCP', host='127.0.0.1', port=${localPort})`,
    ]);
  });
});

describe('examples/echo-server --framing lines', () => {
  it('echoes every line however it is chunked and keeps the connection open', async () => {
    const logged = new Logged();
    const server = stopping(
      resources,
      await startEchoServer({ endpoint: LOOPBACK, framing: 'lines', log: logged.log }),
    );
    const client = await RawClient.connect(resources, server.address.port);
    for (const chunk of ['he', 'llo\nwor', 'ld\r', '\n']) await client.write(chunk);
    await client.expectText('hello\nworld\n');
    expect(client.isClosed).toBe(false);
    await client.write('again\n');
    await client.expectText('hello\nworld\nagain\n');
    client.end();
    await within(client.closed, 'the echo server to close after the client ends');
    expect(logged.events.filter((line) => line.startsWith('> Data from client: '))).toEqual([
      '> Data from client: hello',
      '> Data from client: world',
      '> Data from client: again',
    ]);
  });
});

describe('examples/echo-server --persistent', () => {
  it('echoes every chunk and closes once the client has half-closed and the echo is flushed', async () => {
    const logged = new Logged();
    const server = stopping(
      resources,
      await startEchoServer({ endpoint: LOOPBACK, persistent: true, log: logged.log }),
    );
    const client = await RawClient.connect(resources, server.address.port);
    await client.write('one');
    await client.expectText('one');
    await client.write('two');
    await client.expectText('onetwo');
    expect(client.isClosed).toBe(false);
    client.end();
    await within(client.closed, 'the echo server to close after the client half-closes');
    await logged.waitFor('> Connection closed: done');
    expect(client.text).toBe('onetwo');
    expect(logged.events).toEqual([
      '> New connection made,from client!',
      '> Now conn=1',
      '> Client finished sending after 6 bytes',
      '> Connection closed: done',
    ]);
  });
});

describe('examples/echo-client', () => {
  it('gets all 10 echoes from the echo server and exits 0', async () => {
    const serverLog = new Logged();
    const server = stopping(
      resources,
      await startEchoServer({ endpoint: LOOPBACK, log: serverLog.log }),
    );
    const logged = new Logged();
    const client = stopping(
      resources,
      await startEchoClient({ port: server.address.port, log: logged.log }),
    );
    expect(await within(client.done!, 'the echo client to finish')).toBe(0);
    expect(logged.lines).toEqual(
      Array.from({ length: 10 }, () => '> From Server:> To Server:Hello server'),
    );
    await serverLog.waitFor('> Data from client: > To Server:Hello server', 10);
    expect(serverLog.events.filter((line) => line.startsWith('> Now conn=')).length).toBe(10);
  });

  it('exits 1 and says so when the connections are refused', async () => {
    const port = await refusedPort();
    const logged = new Logged();
    const client = stopping(
      resources,
      await startEchoClient({ endpoint: `tcp:127.0.0.1:${port}`, log: logged.log }),
    );
    expect(await within(client.done!, 'the echo client to finish')).toBe(1);
    expect(
      logged.lines.filter((line) => /^> Connection \d+ failed: RXNET_ERR_CONNECT/.test(line)),
    ).toHaveLength(10);
    expect(logged.lines.at(-1)).toBe('> 0 of 10 connections replied');
  });

  it('exits 1 at the deadline when a server never replies', async () => {
    const silent = await silentServer();
    const logged = new Logged();
    const client = stopping(
      resources,
      await startEchoClient({
        endpoint: `tcp:127.0.0.1:${silent}`,
        timeoutMs: 200,
        log: logged.log,
      }),
    );
    expect(await within(client.done!, 'the echo client to give up')).toBe(1);
    expect(logged.lines).toEqual(['> 0 of 10 connections replied; 10 still waiting after 0.2 s']);
  });
});

/** A server that accepts connections and never writes. */
async function silentServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    sockets.add(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  resources.add({
    dispose: async () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  });
  return (server.address() as { port: number }).port;
}

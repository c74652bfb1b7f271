/**
 * The Spread server against peers rxnet did not write: `nc` and `socat` clients, and the Python 3
 * port of the seed's Twisted client; and the rxnet Spread client against the Twisted server.
 *
 * The book-mode scenarios run against both the Twisted original and rxnet's `--mode book`, with
 * the same expectations, so they pin wire compatibility rather than one implementation.
 */
import { start as startSpreadServer, type SpreadMode } from '../../examples/spread-server';
import { start as startSpreadClient } from '../../examples/spread-client';
import {
  Child,
  Resources,
  RawClient,
  startFixtureServer,
  spawnFixture,
  stopping,
  within,
} from '../examples/harness';

const greeting = (n: number): string => `欢迎来到Spread Site, 你是第${n}个客户端用户!\n`;

/** A Spread server under test, whichever implementation it is. */
interface SpreadServer {
  readonly port: number;
  /** Resolves once `count` printed lines match `pattern`. */
  waitForLog(pattern: RegExp, count?: number): Promise<void>;
  readonly logLines: () => string[];
}

const resources = new Resources();
afterEach(() => resources.disposeAll());

async function twistedServer(): Promise<SpreadServer> {
  const { child, port } = await startFixtureServer(resources, 'spread_server.py');
  return {
    port,
    waitForLog: async (pattern, count = 1) => {
      await child.waitForLines(pattern, count);
    },
    logLines: () => child.lines.filter((line) => !line.startsWith('listening on')),
  };
}

async function rxnetServer(mode: SpreadMode): Promise<SpreadServer> {
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const handle = stopping(
    resources,
    await startSpreadServer({
      endpoint: 'tcp:0:interface=127.0.0.1',
      mode,
      // Split as stdout would show it, so a printed chunk with a newline compares with Twisted's output.
      log: (line) => {
        lines.push(...line.split('\n'));
        for (const waiter of [...waiters]) waiter();
      },
    }),
  );
  return {
    port: handle.address.port,
    waitForLog: (pattern, count = 1) =>
      within(
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (lines.filter((line) => pattern.test(line)).length >= count) {
              waiters.delete(check);
              resolve();
            }
          };
          waiters.add(check);
          check();
        }),
        `${count} log lines matching ${pattern}; got ${JSON.stringify(lines)}`,
      ),
    logLines: () => lines.filter((line) => !line.startsWith('listening on')),
  };
}

/** `nc -N` to the server, stdin kept open so the client stays until the test ends it. */
function nc(port: number): Child {
  return resources.add(new Child('nc', ['-N', '127.0.0.1', String(port)]));
}

/** `socat` exits soon after the server closes its side, even with stdin still open. */
function socat(port: number): Child {
  return resources.add(new Child('socat', ['-', `TCP:127.0.0.1:${port}`]));
}

async function waitForStdout(child: Child, expected: string): Promise<void> {
  await within(
    new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (child.stdout.length >= expected.length) {
          child.process.stdout!.off('data', check);
          if (child.stdout === expected) resolve();
          else
            reject(
              new Error(
                `expected ${JSON.stringify(expected)}, got ${JSON.stringify(child.stdout)}`,
              ),
            );
        }
      };
      child.process.stdout!.on('data', check);
      check();
    }),
    `${JSON.stringify(expected)} on the stdout of ${child.process.spawnfile}`,
  );
}

describe.each([
  ['the Twisted original', twistedServer],
  ['rxnet --mode book', () => rxnetServer('book')],
])('Spread server, book semantics: %s', (_name, startServer) => {
  it('greets nc clients with their numbers and counts them', async () => {
    const server = await startServer();
    const first = nc(server.port);
    await waitForStdout(first, greeting(1));
    const second = nc(server.port);
    await waitForStdout(second, greeting(2));
    await server.waitForLog(/^new connect: 2$/);
    expect(server.logLines()).toEqual(['new connect: 1', 'new connect: 2']);
  });

  it('forwards an exact close to the other clients and closes only its sender', async () => {
    const server = await startServer();
    const other = nc(server.port);
    await waitForStdout(other, greeting(1));
    const closer = socat(server.port);
    await waitForStdout(closer, greeting(2));
    closer.writeStdin('close');
    await waitForStdout(other, greeting(1) + 'close');
    await server.waitForLog(/^lost connect: 1$/);
    expect((await within(closer.exited, 'socat to exit')).code).toBe(0);
    expect(closer.stdout).toBe(greeting(2));
    expect(other.process.exitCode).toBeNull();
  });

  it('closes an interactive nc client (stdin still open) that sends close', async () => {
    const server = await startServer();
    const closer = nc(server.port);
    await waitForStdout(closer, greeting(1));
    closer.writeStdin('close');
    await server.waitForLog(/^lost connect: 0$/);
  });

  it('prints other data without relaying it', async () => {
    const server = await startServer();
    const sender = nc(server.port);
    await waitForStdout(sender, greeting(1));
    const other = await RawClient.connect(resources, server.port);
    await other.expectText(greeting(2));
    sender.writeStdin('hi there');
    await server.waitForLog(/^hi there$/);
    other.end();
    await server.waitForLog(/^lost connect: 1$/);
    expect(other.text).toBe(greeting(2));
  });

  it('counts down as nc clients leave', async () => {
    const server = await startServer();
    const first = nc(server.port);
    await waitForStdout(first, greeting(1));
    const second = nc(server.port);
    await waitForStdout(second, greeting(2));
    first.endStdin();
    await server.waitForLog(/^lost connect: 1$/);
    second.endStdin();
    await server.waitForLog(/^lost connect: 0$/);
    expect(server.logLines()).toEqual([
      'new connect: 1',
      'new connect: 2',
      'lost connect: 1',
      'lost connect: 0',
    ]);
  });
});

/**
 * One scripted session; returns every client's received bytes and the server's printed lines. Each
 * step waits for its effect, so TCP cannot merge two steps' bytes into one chunk.
 */
async function bookTranscript(
  server: SpreadServer,
): Promise<{ received: string[]; printed: string[] }> {
  const a = await RawClient.connect(resources, server.port);
  await a.waitForText((text) => text === greeting(1), 'greeting 1');
  const b = await RawClient.connect(resources, server.port);
  await b.waitForText((text) => text === greeting(2), 'greeting 2');
  const c = await RawClient.connect(resources, server.port);
  await c.waitForText((text) => text === greeting(3), 'greeting 3');
  await a.write('hello');
  await server.waitForLog(/^hello$/);
  await b.write('close');
  await within(b.closed, 'b to be closed');
  await server.waitForLog(/^lost connect: 2$/);
  await c.write('close\n');
  await server.waitForLog(/^close$/);
  const d = await RawClient.connect(resources, server.port);
  await d.waitForText((text) => text === greeting(3), 'greeting 3 again');
  await a.write('close');
  await within(a.closed, 'a to be closed');
  await server.waitForLog(/^lost connect: 2$/, 2);
  await c.waitForText((text) => text.endsWith('closeclose'), 'two forwarded closes');
  await d.waitForText((text) => text.endsWith('close'), 'one forwarded close');
  return { received: [a.text, b.text, c.text, d.text], printed: server.logLines() };
}

describe('Spread server, book mode: transcripts', () => {
  it('are identical for the Twisted original and rxnet --mode book', async () => {
    const twisted = await bookTranscript(await twistedServer());
    const rxnet = await bookTranscript(await rxnetServer('book'));
    expect(rxnet).toEqual(twisted);
    expect(twisted.received).toEqual([
      greeting(1) + 'close',
      greeting(2),
      greeting(3) + 'closeclose',
      greeting(3) + 'close',
    ]);
  });
});

describe('Spread server (rxnet, default mode)', () => {
  it('relays what an nc client types to the other clients, newline included', async () => {
    const server = await rxnetServer('broadcast');
    const typist = nc(server.port);
    await waitForStdout(typist, greeting(1));
    const reader = nc(server.port);
    await waitForStdout(reader, greeting(2));
    typist.writeStdin('hello from nc\n');
    await waitForStdout(reader, `${greeting(2)}hello from nc\n`);
    expect(typist.stdout).toBe(greeting(1));
  });

  it('closes an nc client that types close and a newline', async () => {
    const server = await rxnetServer('broadcast');
    const closer = socat(server.port);
    await waitForStdout(closer, greeting(1));
    closer.writeStdin('close\n');
    expect((await within(closer.exited, 'socat to exit')).code).toBe(0);
    await server.waitForLog(/^lost connect: 0$/);
  });

  it('relays the Twisted client messages to an nc client', async () => {
    const server = await rxnetServer('broadcast');
    const reader = nc(server.port);
    await waitForStdout(reader, greeting(1));
    const client = spawnFixture(resources, 'spread_client.py', [
      String(server.port),
      '0.2',
      'twisted-client',
    ]);
    await client.waitForLine(/^欢迎来到Spread Site, 你是第2个客户端用户!$/);
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (
            (
              reader.stdout.match(
                /hello, I'm twisted-client \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+/g,
              ) ?? []
            ).length >= 2
          ) {
            reader.process.stdout!.off('data', check);
            resolve();
          }
        };
        reader.process.stdout!.on('data', check);
        check();
      }),
      'two messages from the Twisted client',
    );
    expect(reader.stdout.startsWith(greeting(1) + "hello, I'm twisted-client ")).toBe(true);
  });
});

describe('Spread client (rxnet) against the Twisted server', () => {
  it('is greeted, and its timed messages reach another client', async () => {
    const server = await twistedServer();
    const reader = nc(server.port);
    await waitForStdout(reader, greeting(1));
    // The Twisted original does not relay; the messages show up in its printed output.
    const lines: string[] = [];
    const client = stopping(
      resources,
      await startSpreadClient({
        endpoint: `tcp:localhost:${server.port}`,
        every: 0.1,
        count: 2,
        name: 'rxnet-client',
        log: (line) => lines.push(line),
      }),
    );
    await server.waitForLog(/^hello, I'm rxnet-client \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/, 2);
    expect(await within(client.done!, 'the client to finish')).toBe(0);
    expect(lines.slice(0, 3)).toEqual([
      'Start to Connect...',
      'Connected...',
      greeting(2).trimEnd(),
    ]);
  });
});

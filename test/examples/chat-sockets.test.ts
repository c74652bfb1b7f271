/**
 * The chat example over real loopback sockets (port 0): raw `node:net` peers checking the exact
 * bytes, a real `nc`, and a telnet-like client sending `\r\n` line ends (socat's `crlf`).
 */
import { CHAT_WELCOME, say, start } from '../../examples/chat';
import { Child, RawClient, Resources, stopping, within } from './harness';

const LOOPBACK = 'tcp:0:interface=127.0.0.1';
const resources = new Resources();
afterEach(() => resources.disposeAll());

async function chatServer(): Promise<{ port: number; log: string[] }> {
  const log: string[] = [];
  const handle = stopping(
    resources,
    await start({ endpoint: LOOPBACK, log: (line) => log.push(line) }),
  );
  return { port: handle.address.port, log };
}

/** A raw client that has joined as `nick`, its received text cleared. */
async function member(port: number, nick: string, nicks: readonly string[]): Promise<RawClient> {
  const client = await RawClient.connect(resources, port);
  await client.expectText(`${CHAT_WELCOME}\n`);
  client.clear();
  await client.write(`${nick}\n`);
  await client.expectText(`${say.joined(nick, nicks)}\n`);
  client.clear();
  return client;
}

/** Resolves once `client` has received exactly `text` since it was last cleared; then clears it. */
async function receives(client: RawClient, text: string): Promise<void> {
  await client.expectText(text);
  client.clear();
}

describe('examples/chat over TCP', () => {
  it('serves nc and a telnet-like client that ends its lines with \\r\\n alike', async () => {
    const { port, log } = await chatServer();
    const alice = await member(port, 'alice', ['alice']);

    const nc = resources.add(new Child('nc', ['-N', '127.0.0.1', String(port)]));
    await nc.waitForLine(exactly(CHAT_WELCOME));
    nc.writeStdin('bob\n');
    await receives(alice, `${say.hasJoined('bob')}\n`);
    nc.writeStdin('hi from nc\n');
    await receives(alice, `${say.line('bob', 'hi from nc')}\n`);

    // socat's crlf option writes each \n as \r\n, as telnet does, and turns \r\n back into \n.
    const telnet = resources.add(new Child('socat', ['-', `TCP:127.0.0.1:${port},crlf`]));
    await telnet.waitForLine(exactly(CHAT_WELCOME));
    telnet.writeStdin('Alice\n');
    await telnet.waitForLine(exactly(say.taken('Alice')));
    telnet.writeStdin('carol\n');
    await telnet.waitForLine(/^Hello, carol! Here: alice, bob, carol\. /);
    await receives(alice, `${say.hasJoined('carol')}\n`);
    telnet.writeStdin('hello, with a CR\n');
    await receives(alice, `${say.line('carol', 'hello, with a CR')}\n`);
    await nc.waitForLine(exactly(say.line('carol', 'hello, with a CR')));
    telnet.writeStdin('/who\n');
    await telnet.waitForLine(exactly(say.who(['alice', 'bob', 'carol'])));
    telnet.writeStdin('/quit\n');
    await telnet.waitForLine(/^Bye, carol!$/);
    expect(await within(telnet.exited, 'socat to exit once the server closed')).toEqual({
      code: 0,
      signal: null,
    });
    await receives(alice, `${say.hasLeft('carol')}\n`);

    // nc -N sends a FIN at the end of its input; the chat takes it as leaving.
    nc.endStdin();
    expect(await within(nc.exited, 'nc to exit once the server closed')).toEqual({
      code: 0,
      signal: null,
    });
    await receives(alice, `${say.hasLeft('bob')}\n`);
    expect(nc.lines).toEqual([
      CHAT_WELCOME,
      say.joined('bob', ['alice', 'bob']),
      say.hasJoined('carol'),
      say.line('carol', 'hello, with a CR'),
      say.hasLeft('carol'),
    ]);
    expect(log.filter((line) => line.includes('closed'))).toEqual([
      '#3 closed: done',
      '#2 closed: done',
    ]);
    expect(alice.isClosed).toBe(false);
  });

  it('takes the last line without its newline when the client closes, as printf | nc -N sends it', async () => {
    const { port } = await chatServer();
    const alice = await member(port, 'alice', ['alice']);
    const nc = resources.add(new Child('nc', ['-N', '127.0.0.1', String(port)]));
    nc.writeStdin('bob\nno newline');
    nc.endStdin();
    await receives(
      alice,
      `${say.hasJoined('bob')}\n${say.line('bob', 'no newline')}\n${say.hasLeft('bob')}\n`,
    );
    await within(nc.exited, 'nc to exit');
  });

  it('aborts only a client whose line outgrows 16 KiB, and announces it leaving', async () => {
    const { port, log } = await chatServer();
    const alice = await member(port, 'alice', ['alice']);
    const bob = await member(port, 'bob', ['alice', 'bob']);
    await receives(alice, `${say.hasJoined('bob')}\n`);
    await bob.write('x'.repeat(16 * 1024 + 1)).catch(() => undefined);
    await within(bob.closed, 'the server to abort the client with the oversized line');
    await receives(alice, `${say.hasLeft('bob')}\n`);
    expect(log.at(-1)).toMatch(/^#2 closed: aborted: RXNET_ERR_FRAME_TOO_LONG \(/);
    await alice.write('/who\n');
    await receives(alice, `${say.who(['alice'])}\n`);
  });

  it('logs where it listens and each connection, and stop() ends the connections gracefully', async () => {
    const log: string[] = [];
    const handle = await start({ endpoint: LOOPBACK, log: (line) => log.push(line) });
    const client = await RawClient.connect(resources, handle.address.port);
    const { localPort } = client.socket;
    await client.expectText(`${CHAT_WELCOME}\n`);
    await handle.stop();
    await within(client.closed, 'the stopped server to end the connection');
    expect(log).toEqual([
      `listening on 127.0.0.1:${handle.address.port}`,
      `#1 connected from 127.0.0.1:${localPort}`,
      '#1 closed: done',
      'shutdown: 1 closed gracefully, 0 aborted',
    ]);
  });

  it('rejects with InvalidEndpointError for a bad description and ListenError for a taken port', async () => {
    await expect(start({ endpoint: 'tcp:port=nope', log: () => undefined })).rejects.toMatchObject({
      code: 'RXNET_ERR_INVALID_ENDPOINT',
    });
    const { port } = await chatServer();
    await expect(
      start({ endpoint: `tcp:${port}:interface=127.0.0.1`, log: () => undefined }),
    ).rejects.toMatchObject({ code: 'RXNET_ERR_LISTEN' });
  });
});

/** A pattern that matches `line` and nothing else. */
function exactly(line: string): RegExp {
  return new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
}

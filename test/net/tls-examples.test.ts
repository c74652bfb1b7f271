/**
 * Every example server takes a TLS endpoint as its endpoint argument: the demo as a program
 * (`npm run demo -- ssl:…`), the others through their `start({ endpoint })`, each reached by a
 * TLS client that verifies it.
 */
import { once } from 'node:events';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { start as startChat } from '../../examples/chat';
import { start as startEcho } from '../../examples/echo-server';
import { start as startRpc } from '../../examples/rpc-server';
import { start as startSpread } from '../../examples/spread-server';
import { Resources, spawnExample, stopping, within } from '../examples/harness';
import { makeCerts } from '../helpers/certs';

jest.setTimeout(60_000);

const certs = makeCerts();
afterAll(() => certs.remove());
const resources = new Resources();
afterEach(() => resources.disposeAll());

const endpoint = (): string =>
  `ssl:0:interface=127.0.0.1:privateKey=${certs.server.key}:certKey=${certs.server.cert}`;

/** A verifying TLS client; resolves once the handshake is done. */
async function tlsClient(port: number): Promise<TLSSocket & { text(): string }> {
  const socket = tlsConnect({
    host: '127.0.0.1',
    port,
    servername: 'localhost',
    ca: certs.read(certs.ca.cert),
  });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  resources.add({ dispose: async () => void socket.destroy() });
  await within(once(socket, 'secureConnect'), 'the TLS handshake');
  return Object.assign(socket, { text: () => Buffer.concat(chunks).toString() });
}

async function received(socket: { text(): string }, pattern: RegExp): Promise<void> {
  await within(
    new Promise<void>((resolve) => {
      const check = (): void =>
        pattern.test(socket.text()) ? resolve() : void setTimeout(check, 10);
      check();
    }),
    `a reply matching ${pattern}`,
  );
}

it('runs the demo (spread-server) as a program on an ssl: endpoint and greets a TLS client', async () => {
  const server = spawnExample(resources, 'spread-server', [endpoint()]);
  const [, port] = await server.waitForLine(/^listening on 127\.0\.0\.1:(\d+)$/, 30000);
  const alice = await tlsClient(Number(port));
  await received(alice, /你是第1个客户端用户/);
  const bob = await tlsClient(Number(port));
  await received(bob, /你是第2个客户端用户/);
  bob.write('hello alice\n');
  await received(alice, /hello alice/);
  expect((await within(server.kill('SIGTERM'), 'the demo to stop', 30000)).code).toBe(0);
});

it('serves the Spread server in process on an ssl: endpoint', async () => {
  const handle = stopping(
    resources,
    await startSpread({ endpoint: endpoint(), log: () => undefined }),
  );
  const client = await tlsClient(handle.address.port);
  await received(client, /你是第1个客户端用户/);
});

it('serves the echo server on an ssl: endpoint', async () => {
  const handle = stopping(
    resources,
    await startEcho({ endpoint: endpoint(), log: () => undefined }),
  );
  const client = await tlsClient(handle.address.port);
  client.write('Hello server');
  await received(client, /Hello server/);
});

it('serves the chat on an ssl: endpoint', async () => {
  const handle = stopping(
    resources,
    await startChat({ endpoint: endpoint(), log: () => undefined }),
  );
  const client = await tlsClient(handle.address.port);
  await received(client, /Welcome to the chat! What is your nick\?/);
});

it('serves the RPC server on an ssl: endpoint', async () => {
  const handle = stopping(
    resources,
    await startRpc({ endpoint: endpoint(), log: () => undefined }),
  );
  const client = await tlsClient(handle.address.port);
  const body = Buffer.from(JSON.stringify({ id: 1, method: 'ping' }));
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  client.write(Buffer.concat([header, body]));
  await received(client, /"id":1/);
});

/**
 * The RPC examples over real loopback sockets (port 0): the client's run against the server,
 * in-process and as two programs, and the server's wire format checked with a raw `node:net` peer.
 */
import { refusedPort } from '../helpers/sockets';
import { take, type Subscription } from 'rxjs';
import {
  encodeLengthPrefixedFrame,
  protocol,
  respond,
  serve,
  type Behaviour,
  type ServerNotification,
} from 'rxnet';
import { rpcRun, start as startClient } from '../../examples/rpc-client';
import {
  rpcFraming,
  start as startServer,
  type RpcReply,
  type RpcRequest,
} from '../../examples/rpc-server';
import { RawClient, Resources, spawnExample, stopping, within } from './harness';

const LOOPBACK = 'tcp:0:interface=127.0.0.1';
const resources = new Resources();
afterEach(() => resources.disposeAll());

async function rpcServer(): Promise<{ port: number; log: string[] }> {
  const log: string[] = [];
  const handle = stopping(
    resources,
    await startServer({ endpoint: LOOPBACK, log: (line) => log.push(line) }),
  );
  return { port: handle.address.port, log };
}

/** One frame as the examples put it on the wire: a 4-byte big-endian length, then the body. */
function frame(body: string): Buffer {
  return Buffer.concat(encodeLengthPrefixedFrame(body, { prefixBytes: 4 }));
}

/** The frames received so far, parsed; waits until there are `count` of them. */
async function replies(client: RawClient, count: number): Promise<RpcReply[]> {
  const parse = (bytes: Buffer): RpcReply[] => {
    const found: RpcReply[] = [];
    for (let at = 0; at + 4 <= bytes.length;) {
      const length = bytes.readUInt32BE(at);
      if (at + 4 + length > bytes.length) break;
      found.push(JSON.parse(bytes.subarray(at + 4, at + 4 + length).toString('utf8')) as RpcReply);
      at += 4 + length;
    }
    return found;
  };
  await client.waitForText(() => parse(client.received).length >= count, `${count} replies`);
  return parse(client.received);
}

/** Serves `behaviour` with the RPC framing and resolves with its port. */
async function fakeServer(behaviour: Behaviour<Buffer, RpcReply>): Promise<number> {
  let subscription: Subscription | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    subscription = serve(LOOPBACK, behaviour, { framing: rpcFraming }).subscribe({
      next(notification: ServerNotification) {
        if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
          resolve(notification.address.port);
        }
      },
      error: reject,
    });
  });
  resources.add({ dispose: async () => subscription?.unsubscribe() });
  return port;
}

describe('examples/rpc-server and rpc-client over TCP', () => {
  it('pipelines 1000 requests, checks every reply, prints a summary and exits 0', async () => {
    const { port, log } = await rpcServer();
    const printed: string[] = [];
    const client = stopping(
      resources,
      await startClient({ endpoint: `tcp:127.0.0.1:${port}`, log: (line) => printed.push(line) }),
    );
    expect(await within(client.done!, 'the client to finish')).toBe(0);
    expect(printed).toEqual([
      expect.stringMatching(
        /^1000 requests, 1000 replies checked in \d+ ms \(\d+\/s, up to 100 in flight\)$/,
      ),
    ]);
    expect(log.slice(1)).toEqual([
      expect.stringMatching(/^#1 connected from 127\.0\.0\.1:\d+$/),
      '#1 closed: done',
    ]);
  });

  it('answers bad JSON in a well-formed frame with an error, and the connection stays usable', async () => {
    const { port } = await rpcServer();
    const client = await RawClient.connect(resources, port);
    await client.write(Buffer.concat([frame('{"id": 1, oops'), frame('{"id":2,"body":"ok"}')]));
    const [bad, good] = await replies(client, 2);
    expect(bad).toEqual({ id: null, ok: false, error: expect.stringMatching(/^invalid JSON: /) });
    expect(good).toEqual({ id: 2, ok: true, echo: { id: 2, body: 'ok' } });
    await client.write(frame('{"id":3}'));
    expect((await replies(client, 3))[2]).toEqual({ id: 3, ok: true, echo: { id: 3 } });
    expect(client.isClosed).toBe(false);
  });

  it('aborts only a connection that announces a frame over the limit', async () => {
    const { port, log } = await rpcServer();
    const other = await RawClient.connect(resources, port);
    const flooding = await RawClient.connect(resources, port);
    await flooding.write(Buffer.from([0xff, 0xff, 0xff, 0xff])).catch(() => undefined);
    await within(flooding.closed, 'the server to abort the connection');
    await other.write(frame('{"id":"still"}'));
    expect(await replies(other, 1)).toEqual([{ id: 'still', ok: true, echo: { id: 'still' } }]);
    expect(log).toContainEqual(
      expect.stringMatching(/^#2 closed: aborted: RXNET_ERR_FRAME_TOO_LONG/),
    );
  });

  it('exits 1 naming the first wrong reply and how many were wrong', async () => {
    // Echoes requests 3 and 5 with something else in them.
    const port = await fakeServer((events) =>
      events.pipe(
        protocol((conn) =>
          conn.frames$.pipe(
            respond((body): RpcReply => {
              const request = JSON.parse(body.toString('utf8')) as RpcRequest;
              const echo = request.id === 3 || request.id === 5 ? { id: request.id } : request;
              return { id: request.id, ok: true, echo };
            }),
          ),
        ),
      ),
    );
    const printed: string[] = [];
    const code = await rpcRun({
      endpoint: `tcp:127.0.0.1:${port}`,
      count: 10,
      log: (line) => printed.push(line),
    });
    expect(code).toBe(1);
    expect(printed).toEqual([
      'rpc-client: 2 of 10 replies were wrong; the first: request 3 got {"id":3} back, not ' +
        '{"id":3,"method":"echo","params":{"text":"request 3","squares":[3,9]}}',
    ]);
  });

  it('exits 1 when the server closes the connection before every reply', async () => {
    // Answers four requests, then hangs up.
    const port = await fakeServer((events) =>
      events.pipe(
        protocol((conn) =>
          conn.frames$.pipe(
            respond((body): RpcReply => {
              const request = JSON.parse(body.toString('utf8')) as RpcRequest;
              return { id: request.id, ok: true, echo: request };
            }),
            take(4),
          ),
        ),
      ),
    );
    const printed: string[] = [];
    const code = await rpcRun({
      endpoint: `tcp:127.0.0.1:${port}`,
      count: 10,
      inFlight: 4,
      timeoutMs: 2000,
      log: (line) => printed.push(line),
    });
    expect(code).toBe(1);
    expect(printed).toEqual([
      expect.stringMatching(
        /^rpc-client: 6 of 10 replies were wrong; the first: request 5 failed: RXNET_ERR_CONNECTION_CLOSED: /,
      ),
    ]);
  });

  it('exits 1 with the reason when it cannot connect', async () => {
    const port = await refusedPort();
    const printed: string[] = [];
    const code = await rpcRun({
      endpoint: `tcp:127.0.0.1:${port}`,
      log: (line) => printed.push(line),
    });
    expect(code).toBe(1);
    expect(printed).toEqual([
      expect.stringMatching(/^rpc-client: RXNET_ERR_CONNECT: Could not connect to .*ECONNREFUSED$/),
    ]);
  });

  it('runs as two programs: rpc-client exits 0 after checking its replies', async () => {
    const server = spawnExample(resources, 'rpc-server', [LOOPBACK]);
    const [, port] = await server.waitForLine(/^listening on 127\.0\.0\.1:(\d+)$/, 30000);
    const client = spawnExample(resources, 'rpc-client', [`tcp:localhost:${port}`]);
    const exit = await within(client.exited, 'rpc-client to exit', 30000);
    expect({ exit, stderr: client.stderr }).toEqual({
      exit: { code: 0, signal: null },
      stderr: '',
    });
    expect(client.lines).toEqual([
      expect.stringMatching(/^1000 requests, 1000 replies checked in /),
    ]);
    await server.waitForLine(/^#1 closed: done$/);
    expect(await within(server.kill('SIGTERM'), 'rpc-server to stop', 30000)).toEqual({
      code: 0,
      signal: null,
    });
  }, 60000);
});

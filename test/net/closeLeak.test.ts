/**
 * The leak of `end()` then `abort()` in one turn, over real loopback sockets: with line framing, a
 * chunk holding a `close` line and then more than `maxLineBytes` without a newline makes `closeOn`
 * end the connection and the decoder's FrameTooLongError abort it, in the same turn. libuv cannot
 * reset a socket whose FIN is queued (EINVAL); if the abort insisted on a RST, `'close'` would never
 * come, the descriptor would leak, `connectionLost` would never fire and the count would stay high.
 */
import { ReplaySubject, filter, firstValueFrom, take, toArray } from 'rxjs';
import {
  DEFAULT_MAX_LINE_BYTES,
  broadcast,
  closeOn,
  countConnections,
  greet,
  lineEquals,
  lines,
  serve,
  type Behaviour,
  type ConnectionLost,
  type ServerNotification,
} from 'rxnet';
import { spreadGreeting, start as startSpreadServer } from '../../examples/spread-server';
import { RawClient, Resources, within } from '../examples/harness';

const LOOPBACK = 'tcp:0:interface=127.0.0.1';
const CLIENTS = 20;
/** A `close` line, then more than the line limit without a newline: one write, one chunk on loopback. */
const CLOSE_THEN_TOO_LONG = `close\n${'x'.repeat(17000)}`;

const resources = new Resources();
afterEach(() => resources.disposeAll());

/** Open TCP sockets of this process (client and server side), as libuv counts its handles. */
function openTcpSockets(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap').length;
}

/** Resolves once no more than `count` TCP sockets are open; a socket's 'close' follows its handle's close by a tick. */
async function tcpSocketsBackTo(count: number): Promise<void> {
  await within(
    new Promise<void>((resolve) => {
      const poll = (): void => {
        if (openTcpSockets() <= count) resolve();
        else setImmediate(poll);
      };
      poll();
    }),
    `the open TCP sockets to return to ${count} (now ${openTcpSockets()})`,
  );
}

/** The Spread pipeline of `--framing lines`, built from rxnet's operators. */
const spread: Behaviour<string> = (events) =>
  events.pipe(
    countConnections(),
    greet(({ count }) => `you are #${count}\n`),
    closeOn(lineEquals('close')),
    broadcast(),
  );

describe('end() then abort() in the same turn', () => {
  it('closes every connection, emits connectionLost for each and brings the count back down', async () => {
    expect(DEFAULT_MAX_LINE_BYTES).toBeLessThan(CLOSE_THEN_TOO_LONG.length - 'close\n'.length);
    const notifications = new ReplaySubject<ServerNotification>();
    const port = await within(
      new Promise<number>((resolve, reject) => {
        const subscription = serve(LOOPBACK, spread, {
          decode: lines({ delimiter: '\n', encoding: 'utf8' }),
        }).subscribe({
          next(notification) {
            notifications.next(notification);
            if (notification.type === 'listening' && notification.address._tag === 'TcpAddress')
              resolve(notification.address.port);
          },
          error: reject,
        });
        resources.add({ dispose: async () => subscription.unsubscribe() });
      }),
      'the server to listen',
    );
    const baseline = openTcpSockets();
    const lost = firstValueFrom(
      notifications.pipe(
        filter((n): n is ConnectionLost => n.type === 'connectionLost'),
        take(CLIENTS),
        toArray(),
      ),
    );

    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, () => RawClient.connect(resources, port)),
    );
    await Promise.all(
      clients.map((client) => client.waitForText((text) => text.endsWith('\n'), 'a greeting')),
    );
    for (const client of clients) void client.write(CLOSE_THEN_TOO_LONG).catch(() => undefined);

    const reasons = await within(lost, `${CLIENTS} connectionLost events`);
    expect(new Set(reasons.map(({ id }) => id)).size).toBe(CLIENTS);
    for (const { reason } of reasons) expect(['done', 'aborted']).toContain(reason.type);
    // The chunk arrived whole at least once, so end() and the decoder's abort() met in one turn.
    expect(
      reasons.some(
        ({ reason }) =>
          reason.type === 'aborted' && reason.error?.code === 'RXNET_ERR_FRAME_TOO_LONG',
      ),
    ).toBe(true);
    await within(
      Promise.all(clients.map((client) => client.closed)),
      'every client to see its connection close',
    );
    await tcpSocketsBackTo(baseline);

    const next = await RawClient.connect(resources, port);
    await next.expectText('you are #1\n');
  });
});

describe('the Spread server with --framing lines', () => {
  it('greets the 21st client as #1 after 20 clients sent close and an overlong line, and stops', async () => {
    const logged: string[] = [];
    const lostLines = new ReplaySubject<string>();
    const server = await within(
      startSpreadServer({
        endpoint: LOOPBACK,
        framing: 'lines',
        log: (line) => {
          logged.push(line);
          if (line.startsWith('lost connect: ')) lostLines.next(line);
        },
      }),
      'the Spread server to start',
    );
    let stopped = false;
    // Bounded: when connections leak, stop() never resolves, and the failure should say so, not hang.
    resources.add({
      dispose: () =>
        stopped ? Promise.resolve() : within(server.stop(), 'stop()', 2000).catch(() => undefined),
    });
    const port = server.address.port;
    const baseline = openTcpSockets();
    const allLost = firstValueFrom(lostLines.pipe(take(CLIENTS), toArray()));

    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, () => RawClient.connect(resources, port)),
    );
    await Promise.all(
      clients.map((client) => client.waitForText((text) => text.endsWith('\n'), 'a greeting')),
    );
    for (const client of clients) void client.write(CLOSE_THEN_TOO_LONG).catch(() => undefined);

    const lost = await within(allLost, `${CLIENTS} "lost connect" lines (log: ${logged.length})`);
    expect(lost.at(-1)).toBe('lost connect: 0');
    await within(
      Promise.all(clients.map((client) => client.closed)),
      'every client to see its connection close',
    );
    await tcpSocketsBackTo(baseline);

    const next = await RawClient.connect(resources, port);
    await next.expectText(spreadGreeting(1));

    // What SIGTERM runs: it used to wait forever for the leaked connections.
    stopped = true;
    await within(server.stop(), 'the server to stop');
    await within(next.closed, 'the 21st client to close');
    await tcpSocketsBackTo(baseline);
  });
});

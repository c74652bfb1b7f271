/**
 * Half-close over real loopback sockets: a peer that sends a request and then FIN (`nc -N`,
 * `shutdown(SHUT_WR)`, `socket.end(data)`) still gets every reply, including replies made later
 * on a timer, until the behaviour closes the connection or `halfOpenTimeout` passes. Twisted's
 * transport (without `IHalfCloseableProtocol`) drops such replies; `halfOpenTimeout: 0` is that
 * behaviour, kept for servers that want it.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { isConnectionEvent } from '../../src/commands';
import {
  endWith,
  filter,
  firstValueFrom,
  groupBy,
  map,
  merge,
  mergeMap,
  type Observable,
  ReplaySubject,
  type Subscription,
  takeWhile,
  tap,
  timer,
  VirtualAction,
  VirtualTimeScheduler,
} from 'rxjs';
import {
  DEFAULT_HALF_OPEN_TIMEOUT,
  lines,
  listen,
  serve,
  serveConnections,
  type Behaviour,
  type CloseCommand,
  type Connection,
  type ServeOptions,
  type ServerEvent,
  type ServerNotification,
  type WriteCommand,
} from 'rxnet';
import { start as startEchoServer } from '../../examples/echo-server';
import { within } from '../examples/harness';
import { LOOPBACK, rawClient } from '../helpers/sockets';

/** How long the delayed behaviour takes to answer each request. */
const REPLY_DELAY_MS = 100;

/** What the tests started; stopped after each test. */
const running: Array<{ stop(): Promise<void> | void }> = [];
afterEach(async () => {
  for (const item of running.splice(0).reverse()) await item.stop();
});

/** A server under test: its port, and its notifications as they come. */
interface Served {
  readonly port: number;
  readonly notifications$: ReplaySubject<ServerNotification>;
}

function startServe<T, O>(
  behaviour: Behaviour<T, O>,
  options: ServeOptions<T, O> = {},
): Promise<Served> {
  const notifications$ = new ReplaySubject<ServerNotification>();
  return new Promise((resolve, reject) => {
    const subscription: Subscription = serve(LOOPBACK, behaviour, options).subscribe({
      next(notification) {
        notifications$.next(notification);
        if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
          resolve({ port: notification.address.port, notifications$ });
        }
      },
      error: reject,
    });
    running.push({ stop: () => subscription.unsubscribe() });
  });
}

/** Resolves with the first notification of `type` (already emitted or yet to come). */
function next<K extends ServerNotification['type']>(
  served: Served,
  type: K,
): Promise<Extract<ServerNotification, { type: K }>> {
  return within(
    firstValueFrom(
      served.notifications$.pipe(
        filter((n): n is Extract<ServerNotification, { type: K }> => n.type === type),
      ),
    ),
    `a ${type} notification`,
  );
}

/** Everything a socket receives until the peer's FIN, as text. */
async function readToEnd(socket: Socket): Promise<string> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await within(once(socket, 'end'), "the server's FIN");
  return Buffer.concat(chunks).toString();
}

/**
 * Answers each request line `REPLY_DELAY_MS` later, on a timer (the async reply Twisted loses),
 * and closes the connection once the peer has half-closed and every reply has been written.
 */
const replyLater = (
  events: Observable<ServerEvent<string>>,
): Observable<WriteCommand<string> | CloseCommand> =>
  events.pipe(
    filter(isConnectionEvent),
    groupBy((event) => event.id, {
      duration: (own) => own.pipe(filter((event) => event.type === 'connectionLost')),
    }),
    mergeMap((own): Observable<WriteCommand<string> | CloseCommand> =>
      own.pipe(
        // The requests end at the peer's FIN; the replies still in the making go on.
        takeWhile(
          (event) => event.type !== 'readConnectionLost' && event.type !== 'connectionLost',
        ),
        filter((event) => event.type === 'data'),
        mergeMap(({ id, data }) =>
          timer(REPLY_DELAY_MS).pipe(
            map(() => ({ type: 'write', to: id, data: `reply to ${data}\n` }) as const),
          ),
        ),
        endWith({ type: 'close', id: own.key } as const),
      ),
    ),
  );

/** {@link replyLater}, with every event passed through to the server's notifications. */
const delayedReplies: Behaviour<string, string> = (events) => merge(events, replyLater(events));

const lineOptions = {
  decode: lines({ delimiter: '\n', encoding: 'utf8' }),
} satisfies ServeOptions<string, string>;

describe('half-close', () => {
  describe('examples/echo-server --persistent', () => {
    it('echoes 32 MiB sent before a FIN whole, then closes as done', async () => {
      const logged: string[] = [];
      let serverClosed!: () => void;
      const closeLogged = new Promise<void>((resolve) => (serverClosed = resolve));
      const server = await startEchoServer({
        endpoint: LOOPBACK,
        persistent: true,
        log: (line) => {
          logged.push(line);
          if (line.startsWith('> Connection closed')) serverClosed();
        },
      });
      running.push(server);
      const payload = randomBytes(32 * 1024 * 1024);
      const client = await rawClient(server.address.port);
      const hash = createHash('sha256');
      let received = 0;
      client.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        received += chunk.length;
      });
      client.end(payload);
      await within(once(client, 'close'), 'the echo of 32 MiB and the close', 15000);
      expect(received).toBe(payload.length);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
      await within(closeLogged, 'the server to log the close');
      expect(logged.slice(1)).toEqual([
        '> New connection made,from client!',
        '> Now conn=1',
        `> Client finished sending after ${payload.length} bytes`,
        '> Connection closed: done',
      ]);
    });
  });

  describe('a reply made after the FIN, on a timer', () => {
    it('reaches nc -N, which exits once the server closes', async () => {
      const served = await startServe(delayedReplies, lineOptions);
      const nc = spawn('nc', ['-N', '127.0.0.1', String(served.port)], { stdio: 'pipe' });
      running.push({ stop: () => void nc.kill('SIGKILL') });
      let stdout = '';
      nc.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
      nc.stdin.end('req\n');
      const [code] = (await within(once(nc, 'exit'), 'nc to exit')) as [number | null];
      expect({ code, stdout }).toEqual({ code: 0, stdout: 'reply to req\n' });
      expect(await next(served, 'connectionLost')).toMatchObject({ reason: { type: 'done' } });
    });

    it('reaches a Node client that sent its request with end()', async () => {
      const served = await startServe(delayedReplies, lineOptions);
      const client = await rawClient(served.port);
      const reply = readToEnd(client);
      client.end('req\n');
      expect(await reply).toBe('reply to req\n');
      const readLost = await next(served, 'readConnectionLost');
      const lost = await next(served, 'connectionLost');
      expect(readLost.id).toBe(lost.id);
      expect(lost.reason).toEqual({ type: 'done' });
    });

    it('answers the last unterminated line when the decoder allows truncation', async () => {
      const served = await startServe(delayedReplies, {
        decode: lines({ delimiter: '\n', encoding: 'utf8', allowTruncation: true }),
      });
      const client = await rawClient(served.port);
      const reply = readToEnd(client);
      client.end('first\nlast line without newline');
      expect(await reply).toBe('reply to first\nreply to last line without newline\n');
      expect((await next(served, 'connectionLost')).reason).toEqual({ type: 'done' });
    });
  });

  describe('halfOpenTimeout: 0 (Twisted without IHalfCloseableProtocol)', () => {
    it('ends the connection at the FIN, after flushing what was written before it', async () => {
      // 1 MiB answered at once is flushed before our FIN; the timed reply would come after the
      // connection has ended, and is dropped, as Twisted drops it.
      const big = 'x'.repeat(1024 * 1024);
      const served = await startServe<string, string>(
        (events) =>
          merge(
            events,
            events.pipe(
              filter((event) => event.type === 'data'),
              map((event) => ({ type: 'write', to: event.id, data: `${big}\n` }) as const),
            ),
            replyLater(events),
          ),
        { ...lineOptions, halfOpenTimeout: 0 },
      );
      const client = await rawClient(served.port);
      const reply = readToEnd(client);
      client.end('req\n');
      expect(await reply).toBe(`${big}\n`);
      await next(served, 'readConnectionLost');
      expect((await next(served, 'connectionLost')).reason).toEqual({ type: 'done' });
    });
  });

  describe('halfOpenTimeout', () => {
    it(`defaults to DEFAULT_HALF_OPEN_TIMEOUT, ${DEFAULT_HALF_OPEN_TIMEOUT} ms`, () => {
      expect(DEFAULT_HALF_OPEN_TIMEOUT).toBe(5000);
    });

    it('keeps a connection the behaviour never closes writable until it passes, then ends it as done', async () => {
      const scheduler = new VirtualTimeScheduler(VirtualAction, Infinity);
      const accepted: Connection[] = [];
      const notifications$ = new ReplaySubject<ServerNotification>();
      const port = await new Promise<number>((resolve, reject) => {
        const connections$ = listen(LOOPBACK, {
          halfOpenTimeout: 200,
          scheduler,
          onListening: (address) => resolve(address._tag === 'TcpAddress' ? address.port : 0),
        }).pipe(tap((connection) => accepted.push(connection)));
        // Lets every event through and never closes anything.
        const subscription = serveConnections(connections$, (events) => events).subscribe({
          next: (output) => notifications$.next(output as ServerNotification),
          error: reject,
        });
        running.push({ stop: () => subscription.unsubscribe() });
      });
      const served: Served = { port, notifications$ };
      const client = await rawClient(port);
      const received = readToEnd(client);
      client.end('bye');
      await next(served, 'readConnectionLost');
      const [connection] = accepted;
      scheduler.maxFrames = 199;
      scheduler.flush();
      expect(connection!.state).toBe('readClosed');
      expect(connection!.write('still here\n')).toBe(true);
      scheduler.maxFrames = 200;
      scheduler.flush();
      expect(connection!.state).toBe('ending');
      expect(await received).toBe('still here\n');
      expect((await next(served, 'connectionLost')).reason).toEqual({ type: 'done' });
    });
  });
});

import {
  concat,
  firstValueFrom,
  ignoreElements,
  lastValueFrom,
  map,
  NEVER,
  Observable,
  of,
  take,
  tap,
  toArray,
  ReplaySubject,
  type Subscription,
} from 'rxjs';
import {
  connectAsync,
  echo,
  EncodeError,
  encodeLine,
  forward,
  lines,
  ProtocolError,
  protocol,
  requester,
  runProtocol,
  serve,
  type Behaviour,
  type CloseReason,
  type Forwarded,
  type ProtocolContext,
  type ServerEvent,
  type ServerNotification,
} from 'rxnet';
import { memoryConnection } from 'rxnet/testing';
import { LOOPBACK } from '../helpers/sockets';

const utf8Lines = { decode: lines({ delimiter: '\n', encoding: 'utf8' }) };
const codec = { ...utf8Lines, encode: (line: string) => `${line}\n` };

const upper = (conn: ProtocolContext<string>): Observable<string> =>
  conn.frames$.pipe(map((s) => s.toUpperCase()));

describe('runProtocol', () => {
  describe('over a memoryConnection', () => {
    it('decodes the frames, writes the encoded output, and ends the connection when it completes', async () => {
      const conn = memoryConnection();
      const done = lastValueFrom(runProtocol(conn, upper, codec), { defaultValue: 'closed' });
      conn.receive('hi\nyo');
      conn.receive('\n');
      conn.closeFromPeer('clean');
      await expect(done).resolves.toBe('closed');
      expect(conn.writtenText).toBe('HI\nYO\n');
      expect(conn.closedBy).toBe('end');
      expect(conn.closeReason).toEqual({ type: 'done' });
    });

    it('frames both ways with a framing, as a server takes it', async () => {
      const conn = memoryConnection();
      const done = lastValueFrom(
        runProtocol(conn, upper, { framing: lines({ delimiter: '\n', encoding: 'utf8' }) }),
        { defaultValue: 'closed' },
      );
      conn.receive('hi\n');
      conn.closeFromPeer('clean');
      await done;
      expect(conn.writtenText).toBe('HI\n');
    });

    it('throws a TypeError at call time for a framing beside decode or encode', () => {
      const framing = lines({ encoding: 'utf8' });
      expect(() => runProtocol(memoryConnection(), upper, { framing, decode: framing })).toThrow(
        TypeError,
      );
    });

    it('hands raw chunks to a protocol without decode, and writes Output as it is', async () => {
      const conn = memoryConnection();
      const done = lastValueFrom(
        runProtocol(conn, (c) => c.frames$.pipe(take(1))),
        { defaultValue: 'closed' },
      );
      conn.receive('raw');
      await done;
      expect(conn.writtenText).toBe('raw');
    });

    it('writes each part of an encoding that returns parts, without concatenating them', async () => {
      const conn = memoryConnection();
      const done = lastValueFrom(
        runProtocol(conn, () => of('one', 'two'), {
          encode: (line: string) => encodeLine(line, { delimiter: '\n' }),
        }),
        { defaultValue: 'closed' },
      );
      await done;
      expect(conn.writes.map((w) => w.toString())).toEqual(['one', '\n', 'two', '\n']);
    });

    it('emits what the protocol forwards', async () => {
      const conn = memoryConnection();
      const forwarded = lastValueFrom(
        runProtocol(
          conn,
          (c: ProtocolContext<string>): Observable<string | Forwarded<number>> =>
            c.frames$.pipe(map((line) => (line === 'ping' ? 'pong' : forward(line.length)))),
          codec,
        ).pipe(toArray()),
      );
      conn.receive('ping\nhello\n');
      conn.closeFromPeer('clean');
      await expect(forwarded).resolves.toEqual([5]);
      expect(conn.writtenText).toBe('pong\n');
    });

    it('aborts the connection with a ProtocolError when the protocol fails, and fails with it', async () => {
      const conn = memoryConnection();
      const boom = new Error('boom');
      const failing = (c: ProtocolContext<string>): Observable<string> =>
        c.frames$.pipe(
          tap(() => {
            throw boom;
          }),
        );
      const done = lastValueFrom(runProtocol(conn, failing, codec));
      conn.receive('x\n');
      await expect(done).rejects.toMatchObject({ code: 'RXNET_ERR_PROTOCOL', cause: boom });
      expect(conn.closedBy).toBe('abort');
      expect(conn.closeReason).toEqual({
        type: 'aborted',
        error: new ProtocolError({ cause: boom }),
      });
    });

    it('aborts the connection with an EncodeError when encode throws', async () => {
      const conn = memoryConnection();
      const done = lastValueFrom(
        runProtocol(conn, () => of('bad'), {
          encode: (): string => {
            throw new Error('cannot');
          },
        }),
      );
      await expect(done).rejects.toBeInstanceOf(EncodeError);
      expect(conn.closeReason).toMatchObject({
        type: 'aborted',
        error: { code: 'RXNET_ERR_ENCODE' },
      });
    });

    it('aborts the connection when perConnection itself throws', async () => {
      const conn = memoryConnection();
      const done = lastValueFrom(
        runProtocol(conn, (): Observable<string> => {
          throw new Error('no');
        }),
      );
      await expect(done).rejects.toBeInstanceOf(ProtocolError);
      expect(conn.closedBy).toBe('abort');
    });

    it("gives the protocol the connection's closed$, then unsubscribes it when the connection closes", async () => {
      const conn = memoryConnection();
      const reasons: CloseReason[] = [];
      let stopped = false;
      const watching = (c: ProtocolContext<Buffer>): Observable<never> => {
        c.closed$.subscribe((reason) => reasons.push(reason));
        return new Observable<never>(() => () => (stopped = true));
      };
      const done = lastValueFrom(runProtocol(conn, watching), { defaultValue: 'closed' });
      conn.closeFromPeer('reset');
      await done;
      expect(reasons).toEqual([conn.closeReason]);
      expect(reasons[0]?.type).toBe('lost');
      expect(stopped).toBe(true);
    });

    it('stops the protocol and ends the connection gracefully when unsubscribed', () => {
      const conn = memoryConnection();
      let stopped = false;
      const subscription = runProtocol(conn, () =>
        NEVER.pipe(tap({ finalize: () => (stopped = true) })),
      ).subscribe();
      subscription.unsubscribe();
      expect(stopped).toBe(true);
      expect(conn.closedBy).toBe('end');
    });

    it('completes at once on a connection that has already closed', async () => {
      const conn = memoryConnection();
      conn.abort();
      await expect(
        lastValueFrom(runProtocol(conn, upper, codec), { defaultValue: 'closed' }),
      ).resolves.toBe('closed');
    });
  });

  describe('over a real loopback connection', () => {
    it('drives a client with the same kind of function that protocol() runs on the server', async () => {
      const server: Behaviour<string, string> = (events) => events.pipe(protocol(upper));
      const notifications: ServerNotification[] = [];
      let subscription: Subscription | undefined;
      const port = await new Promise<number>((resolve, reject) => {
        subscription = serve(LOOPBACK, server, codec).subscribe({
          next(notification) {
            notifications.push(notification);
            if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
              resolve(notification.address.port);
            }
          },
          error: reject,
        });
      });
      try {
        const connection = await connectAsync(`tcp:127.0.0.1:${port}`);
        const replies: string[] = [];
        // Says two lines, keeps the two replies, then completes: runProtocol ends the connection.
        const client = (conn: ProtocolContext<string>): Observable<string> =>
          concat(
            of('hello', 'world'),
            conn.frames$.pipe(
              take(2),
              tap((line) => replies.push(line)),
              ignoreElements(),
            ),
          );
        await lastValueFrom(runProtocol(connection, client, codec), { defaultValue: undefined });
        expect(replies).toEqual(['HELLO', 'WORLD']);
        const reason = await firstValueFrom(connection.closed$);
        expect(reason).toEqual({ type: 'done' });
      } finally {
        subscription?.unsubscribe();
      }
      expect(notifications.filter((n) => n.type !== 'listening').map((n) => n.type)).toEqual(
        expect.arrayContaining(['connectionMade']),
      );
    });

    it("fails a requester's pending calls with the abort's reason when its own encoder refuses a request", async () => {
      let subscription: Subscription | undefined;
      const port = await new Promise<number>((resolve, reject) => {
        subscription = serve(LOOPBACK, (events) => events.pipe(echo())).subscribe({
          next(notification) {
            if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
              resolve(notification.address.port);
            }
          },
          error: reject,
        });
      });
      try {
        const connection = await connectAsync(`tcp:127.0.0.1:${port}`);
        const rpc = requester<string, string>();
        const run = lastValueFrom(
          runProtocol(connection, rpc.protocol, {
            framing: lines({ encoding: 'utf8', maxLineBytes: 8 }),
          }),
          { defaultValue: undefined },
        ).catch((error: unknown) => error);
        await expect(rpc.requestAsync('hi')).resolves.toBe('hi');
        // The socket reports its close a turn later; the pending call must not hear 'done' first.
        const refused = await rpc.requestAsync('far too long for eight').catch((e: unknown) => e);
        expect(refused).toMatchObject({
          code: 'RXNET_ERR_CONNECTION_CLOSED',
          cause: { type: 'aborted', error: { code: 'RXNET_ERR_ENCODE' } },
        });
        await expect(run).resolves.toMatchObject({ code: 'RXNET_ERR_ENCODE' });
        expect(await firstValueFrom(connection.closed$)).toMatchObject({
          type: 'aborted',
          error: { code: 'RXNET_ERR_ENCODE' },
        });
      } finally {
        subscription?.unsubscribe();
      }
    });

    it("resets a real connection with the protocol's error, and the server sees it lost", async () => {
      const lost$ = new ReplaySubject<ServerNotification>();
      let subscription: Subscription | undefined;
      const port = await new Promise<number>((resolve, reject) => {
        subscription = serve(
          LOOPBACK,
          (events: Observable<ServerEvent<string>>) => events.pipe(protocol(upper)),
          codec,
        ).subscribe({
          next(notification) {
            if (notification.type === 'connectionLost') lost$.next(notification);
            if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
              resolve(notification.address.port);
            }
          },
          error: reject,
        });
      });
      try {
        const connection = await connectAsync(`tcp:127.0.0.1:${port}`);
        // Asks, then fails on the reply it gets.
        const client = (conn: ProtocolContext<string>): Observable<string> =>
          concat(
            of('hello'),
            conn.frames$.pipe(
              map((line) => {
                throw new Error(`unexpected ${line}`);
              }),
            ),
          );
        await expect(lastValueFrom(runProtocol(connection, client, codec))).rejects.toMatchObject({
          code: 'RXNET_ERR_PROTOCOL',
          message: 'Protocol failed: unexpected HELLO',
        });
        expect(await firstValueFrom(connection.closed$)).toMatchObject({
          type: 'aborted',
          error: { code: 'RXNET_ERR_PROTOCOL' },
        });
        expect(await firstValueFrom(lost$)).toMatchObject({ reason: { type: 'lost' } });
      } finally {
        subscription?.unsubscribe();
      }
    });
  });
});

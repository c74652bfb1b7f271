import diagnosticsChannel from 'node:diagnostics_channel';
import {
  lastValueFrom,
  NEVER,
  type Observable,
  Subject,
  type Subscription,
  timer,
  VirtualTimeScheduler,
  map,
} from 'rxjs';
import {
  ConnectionClosedError,
  connectAsync,
  lines,
  protocol,
  RequestQueueFullError,
  RequestTimeoutError,
  requester,
  respond,
  runProtocol,
  serve,
  DIAGNOSTICS_CHANNELS,
  type Behaviour,
  type ConnectionId,
  type RequestMessage,
} from 'rxnet';
import { memoryConnection } from 'rxnet/testing';

import { requestStarted } from '../../src/observability/requestDiagnostics';
import { LOOPBACK } from '../helpers/sockets';

/** One publication: which channel, the message as it was then, and the object itself. */
interface Published {
  readonly at: 'start' | 'end';
  readonly seen: RequestMessage;
  readonly message: RequestMessage;
}

/** Records every request message published while a test runs. */
function recordRequests(): { readonly published: Published[]; stop(): void } {
  const published: Published[] = [];
  const onStart = (message: unknown): void => {
    const m = message as RequestMessage;
    published.push({ at: 'start', seen: { ...m }, message: m });
  };
  const onEnd = (message: unknown): void => {
    const m = message as RequestMessage;
    published.push({ at: 'end', seen: { ...m }, message: m });
  };
  diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.requestStart, onStart);
  diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.requestEnd, onEnd);
  return {
    published,
    stop() {
      diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.requestStart, onStart);
      diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.requestEnd, onEnd);
    },
  };
}

const LINES = {
  decode: lines({ delimiter: '\n', encoding: 'utf8' }),
  encode: (line: string) => `${line}\n`,
} as const;

/** The ends published, as `request → outcome`. */
const outcomes = (published: readonly Published[]): Record<string, string | undefined> =>
  Object.fromEntries(
    published
      .filter(({ at }) => at === 'end')
      .map(({ seen }) => [String(seen.request), seen.outcome]),
  );

let recorder: ReturnType<typeof recordRequests>;
beforeEach(() => {
  recorder = recordRequests();
});
afterEach(() => recorder.stop());

describe('rxnet:request diagnostics', () => {
  describe('requester()', () => {
    it('publishes a request when it is made and the same message, outcome ok, at its reply', async () => {
      const conn = memoryConnection({ id: 7 });
      const rpc = requester<string, string>({ timeout: 0 });
      const run = lastValueFrom(runProtocol(conn, rpc.protocol, LINES), { defaultValue: 'closed' });
      const reply = rpc.requestAsync('ping');
      expect(recorder.published).toHaveLength(1);
      const [start] = recorder.published;
      expect(start!.at).toBe('start');
      expect(start!.seen).toEqual({
        side: 'requester',
        connection: 7,
        request: 'ping',
        startedAt: expect.any(Number),
      });
      conn.receive('PONG\n');
      await expect(reply).resolves.toBe('PONG');
      expect(recorder.published).toHaveLength(2);
      const end = recorder.published[1]!;
      expect(end.at).toBe('end');
      expect(end.message).toBe(start!.message);
      expect(end.seen).toMatchObject({ side: 'requester', connection: 7, outcome: 'ok' });
      expect(end.seen.error).toBeUndefined();
      rpc.close();
      await run;
    });

    it('names the connection of a request made before the protocol ran once it is sent', async () => {
      const rpc = requester<string, string>({ timeout: 0 });
      const reply = rpc.requestAsync('early');
      expect(recorder.published[0]!.seen.connection).toBeUndefined();
      const conn = memoryConnection({ id: 3 });
      const run = lastValueFrom(runProtocol(conn, rpc.protocol, LINES), { defaultValue: 'closed' });
      conn.receive('EARLY\n');
      await reply;
      expect(recorder.published[1]!.seen).toMatchObject({ connection: 3, outcome: 'ok' });
      rpc.close();
      await run;
    });

    it('ends a request that times out with outcome timeout and its RequestTimeoutError', () => {
      const scheduler = new VirtualTimeScheduler();
      const rpc = requester<string, string>({ timeout: 50, scheduler });
      const frames = new Subject<string>();
      const written: string[] = [];
      rpc.protocol(contextOf(frames)).subscribe((request) => written.push(request));
      const errors: unknown[] = [];
      rpc.request('slow').subscribe({ error: (error: unknown) => errors.push(error) });
      scheduler.flush();
      expect(written).toEqual(['slow']);
      const end = recorder.published[1]!;
      expect(end.seen).toMatchObject({ outcome: 'timeout', connection: 1 });
      expect(end.seen.error).toBeInstanceOf(RequestTimeoutError);
      expect(end.seen.error).toBe(errors[0]);
    });

    it('ends a request whose caller unsubscribes, or aborts its signal, as cancelled', async () => {
      const rpc = requester<string, string>({ timeout: 0 });
      rpc.protocol(contextOf(new Subject<string>())).subscribe();
      rpc.request('dropped').subscribe().unsubscribe();
      const controller = new AbortController();
      const aborted = rpc.requestAsync('aborted', { signal: controller.signal });
      controller.abort(new Error('no longer needed'));
      await expect(aborted).rejects.toThrow('no longer needed');
      expect(outcomes(recorder.published)).toEqual({
        dropped: 'cancelled',
        aborted: 'cancelled',
      });
      expect(recorder.published.map(({ seen }) => seen.error)).toEqual([
        undefined,
        undefined,
        undefined,
        undefined,
      ]);
    });

    it('ends pending requests with outcome error and ConnectionClosedError when the connection closes', async () => {
      const conn = memoryConnection();
      const rpc = requester<string, string>({ timeout: 0 });
      const run = lastValueFrom(runProtocol(conn, rpc.protocol, LINES), { defaultValue: 'closed' });
      const pending = rpc.requestAsync('pending').catch((error: unknown) => error);
      conn.closeFromPeer('reset');
      const error = await pending;
      await run;
      const end = recorder.published.find(({ at }) => at === 'end')!;
      expect(end.seen.outcome).toBe('error');
      expect(end.seen.error).toBeInstanceOf(ConnectionClosedError);
      expect(end.seen.error).toBe(error);
      // Refused at once, a request after the close still starts and ends.
      await expect(rpc.requestAsync('late')).rejects.toBeInstanceOf(ConnectionClosedError);
      expect(outcomes(recorder.published)).toEqual({ pending: 'error', late: 'error' });
    });

    it('ends a request whose id is already pending with outcome error', () => {
      const rpc = requester<string, string>({
        correlate: { requestId: (request) => request, replyId: (reply) => reply },
        timeout: 0,
      });
      rpc.protocol(contextOf(new Subject<string>())).subscribe();
      rpc.request('same').subscribe();
      rpc.request('same').subscribe({ error: () => undefined });
      const end = recorder.published.find(({ at }) => at === 'end')!;
      expect(end.seen).toMatchObject({ request: 'same', outcome: 'error' });
      expect(end.seen.error).toBeInstanceOf(TypeError);
    });

    it('ends a request refused by a full queue with outcome error', () => {
      const rpc = requester<string, string>({ maxInFlight: 1, maxQueued: 0, timeout: 0 });
      rpc.protocol(contextOf(new Subject<string>())).subscribe();
      rpc.request('first').subscribe();
      rpc.request('second').subscribe({ error: () => undefined });
      const end = recorder.published.find(({ at }) => at === 'end')!;
      expect(end.seen).toMatchObject({ request: 'second', outcome: 'error' });
      expect(end.seen.error).toBeInstanceOf(RequestQueueFullError);
    });
  });

  describe('respond()', () => {
    it('publishes each request a server handles, with its connection, and how it ended', async () => {
      const handle = (line: string): string | Observable<string> => {
        if (line === 'never') return NEVER;
        if (line === 'fail') throw new Error('cannot');
        return timer(1).pipe(map(() => line.toUpperCase()));
      };
      const served: ConnectionId[] = [];
      const server: Behaviour<string, string> = (events) =>
        events.pipe(
          protocol((conn) => {
            served.push(conn.id);
            return conn.frames$.pipe(
              respond(handle, {
                timeout: 100,
                onError: (error) => (error instanceof RequestTimeoutError ? 'timed out' : 'failed'),
              }),
            );
          }),
        );
      let subscription: Subscription | undefined;
      const port = await new Promise<number>((resolve, reject) => {
        subscription = serve(LOOPBACK, server, {
          framing: lines({ delimiter: '\n', encoding: 'utf8' }),
        }).subscribe({
          next(notification) {
            if (notification.type === 'listening' && notification.address._tag === 'TcpAddress')
              resolve(notification.address.port);
          },
          error: reject,
        });
      });
      try {
        const connection = await connectAsync(`tcp:127.0.0.1:${port}`);
        const rpc = requester<string, string>({ timeout: 5000 });
        const run = lastValueFrom(runProtocol(connection, rpc.protocol, LINES), {
          defaultValue: 'closed',
        });
        const replies = await Promise.all(['hi', 'fail', 'never'].map((r) => rpc.requestAsync(r)));
        expect(replies).toEqual(['HI', 'failed', 'timed out']);
        rpc.close();
        await run;

        const server = recorder.published.filter(({ seen }) => seen.side === 'responder');
        expect(server.filter(({ at }) => at === 'start').map(({ seen }) => seen)).toEqual(
          ['hi', 'fail', 'never'].map((request) => ({
            side: 'responder',
            connection: served[0],
            request,
            startedAt: expect.any(Number),
          })),
        );
        const ends = server.filter(({ at }) => at === 'end').map(({ seen }) => seen);
        expect(Object.fromEntries(ends.map((seen) => [seen.request, seen.outcome]))).toEqual({
          hi: 'ok',
          fail: 'error',
          never: 'timeout',
        });
        expect(ends.find((seen) => seen.request === 'fail')!.error).toEqual(new Error('cannot'));
        expect(ends.find((seen) => seen.request === 'never')!.error).toBeInstanceOf(
          RequestTimeoutError,
        );
        // The client's side of the same three requests.
        expect(
          recorder.published.filter(({ at, seen }) => at === 'end' && seen.side === 'requester'),
        ).toHaveLength(3);
      } finally {
        subscription?.unsubscribe();
      }
    });

    it('ends the requests still running or waiting as cancelled when the connection closes', async () => {
      const conn = memoryConnection({ id: 9 });
      const run = lastValueFrom(
        runProtocol(
          conn,
          (ctx) => ctx.frames$.pipe(respond(() => NEVER, { concurrency: 1 })),
          LINES,
        ),
        { defaultValue: 'closed' },
      ).catch((error: unknown) => error);
      conn.receive('running\nwaiting\n');
      conn.closeFromPeer('reset');
      await run;
      expect(outcomes(recorder.published)).toEqual({ running: 'cancelled', waiting: 'cancelled' });
      expect(recorder.published.every(({ seen }) => seen.connection === 9)).toBe(true);
    });

    it('ends the request that overflows the queue with outcome error', () => {
      const frames = new Subject<string>();
      frames.pipe(respond(() => NEVER, { concurrency: 1, maxQueued: 0 })).subscribe({
        error: () => undefined,
      });
      frames.next('running');
      frames.next('overflow');
      const overflow = recorder.published.find(
        ({ seen }) => seen.request === 'overflow' && seen.outcome !== undefined,
      )!;
      expect(overflow.seen.outcome).toBe('error');
      expect(overflow.seen.error).toBeInstanceOf(RequestQueueFullError);
      // Outside any protocol, the connection is not known.
      expect(overflow.seen.connection).toBeUndefined();
      expect(outcomes(recorder.published)).toEqual({ overflow: 'error', running: 'cancelled' });
    });
  });

  it('allocates no message while neither channel has a subscriber', () => {
    recorder.stop();
    expect(requestStarted('requester', 1, 'unobserved')).toBeUndefined();
    const onEnd = (): void => undefined;
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.requestEnd, onEnd);
    try {
      expect(requestStarted('requester', 1, 'observed')).toMatchObject({ request: 'observed' });
    } finally {
      diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.requestEnd, onEnd);
    }
  });
});

/** A requester's protocol context over given frames; connection 1. */
function contextOf(frames$: Observable<string>) {
  const local = { _tag: 'MemoryAddress', name: 'local' } as const;
  const remote = { _tag: 'MemoryAddress', name: 'remote' } as const;
  return {
    id: 1,
    local,
    remote,
    made: { type: 'connectionMade', id: 1, local, remote } as const,
    frames$,
    closed$: NEVER,
  };
}

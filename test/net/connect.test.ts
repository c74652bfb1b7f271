import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  VirtualTimeScheduler,
  firstValueFrom,
  lastValueFrom,
  map,
  take,
  tap,
  toArray,
  type Subscription,
} from 'rxjs';
import { ConnectError, IdleTimeoutError } from '../../src/errors';
import { connect, connectEvents, type ClientEvent } from '../../src/net/connect';
import { reconnect } from '../../src/operators/reconnect';
import type { Connection } from '../../src/types';
import { startListening, type Listener } from '../helpers/sockets';

/** A port nothing listens on: bound, then released. */
async function refusedPort(): Promise<number> {
  const { port, subscription } = await startListening();
  subscription.unsubscribe();
  return port;
}

describe('connect', () => {
  let listener: Listener | undefined;
  let client: Subscription | undefined;

  afterEach(() => {
    client?.unsubscribe();
    listener?.subscription.unsubscribe();
    client = undefined;
    listener = undefined;
  });

  describe('success', () => {
    it('emits the Connection once connected, with both addresses, and carries data both ways', async () => {
      listener = await startListening();
      const connection = await new Promise<Connection>((resolve) => {
        client = connect(`tcp:127.0.0.1:${listener!.port}`).subscribe(resolve);
      });
      const server = await listener.accepted(0);
      expect(connection.remote).toEqual(listener.address);
      expect(connection.local).toEqual(server.remote);
      const received = firstValueFrom(server.data$);
      connection.write('hello');
      expect((await received).toString()).toBe('hello');
      const reply = firstValueFrom(connection.data$);
      server.write('world');
      expect((await reply).toString()).toBe('world');
    });

    it('reaches an IPv4 server through tcp:localhost, as Twisted clients do', async () => {
      listener = await startListening();
      const connection = await new Promise<Connection>((resolve) => {
        client = connect(`tcp:localhost:${listener!.port}`).subscribe(resolve);
      });
      expect(connection.remote).toMatchObject({ hostname: '127.0.0.1', family: 'IPv4' });
    });

    it('completes when the connection closes', async () => {
      listener = await startListening();
      const closed = lastValueFrom(
        connect(`tcp:127.0.0.1:${listener.port}`).pipe(
          // Reading is what notices the peer's FIN.
          tap((connection) => connection.data$.subscribe()),
          map((connection) => connection.id),
        ),
      );
      (await listener.accepted(0)).end();
      expect(await closed).toBe(1);
    });

    it('ends the connection gracefully on unsubscribe', async () => {
      listener = await startListening();
      const connection = await new Promise<Connection>((resolve) => {
        client = connect(`tcp:127.0.0.1:${listener!.port}`).subscribe(resolve);
      });
      const server = await listener.accepted(0);
      const serverClosed = firstValueFrom(server.closed$);
      server.data$.subscribe();
      connection.write('last');
      client!.unsubscribe();
      expect(await serverClosed).toEqual({ type: 'done' });
      expect(await firstValueFrom(connection.closed$)).toEqual({ type: 'done' });
    });
  });

  describe('failure', () => {
    it('fails with ConnectError naming the endpoint when refused (ECONNREFUSED)', async () => {
      const endpoint = `tcp:127.0.0.1:${await refusedPort()}`;
      const error: unknown = await firstValueFrom(connect(endpoint)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).endpoint).toBe(endpoint);
      expect(((error as ConnectError).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    });

    it('fails with ConnectError caused by IdleTimeoutError when the timeout passes first', async () => {
      listener = await startListening();
      const scheduler = new VirtualTimeScheduler();
      const endpoint = `tcp:127.0.0.1:${listener.port}:timeout=5`;
      const result = firstValueFrom(connect(endpoint, { scheduler })).catch((e: unknown) => e);
      scheduler.flush();
      const error = await result;
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).cause).toEqual(new IdleTimeoutError(5000));
      expect(scheduler.now()).toBe(5000);
    });

    it('cancels the attempt and its timeout on unsubscribe', async () => {
      listener = await startListening();
      const scheduler = new VirtualTimeScheduler();
      const events: string[] = [];
      connectEvents(`tcp:127.0.0.1:${listener.port}`, { scheduler })
        .subscribe((event) => events.push(event.type))
        .unsubscribe();
      expect(scheduler.actions).toHaveLength(0);
      expect(events).toEqual(['connecting']);
    });

    it('fails with ConnectError caused by ENOTFOUND when the host does not resolve', async () => {
      // .invalid never resolves (RFC 6761), and fails fast on this loopback-only machine.
      const endpoint = 'tcp:rxnet.invalid:80';
      const error: unknown = await firstValueFrom(connect(endpoint)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).endpoint).toBe(endpoint);
      expect(['ENOTFOUND', 'EAI_AGAIN']).toContain(
        ((error as ConnectError).cause as NodeJS.ErrnoException).code,
      );
    });

    it('fails with ConnectError for a Unix socket path that does not exist', async () => {
      const error: unknown = await firstValueFrom(connect('unix:/nonexistent/rxnet.sock')).catch(
        (e: unknown) => e,
      );
      expect(((error as ConnectError).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    });
  });
});

/** Reads the connection a `connected` event carries, so that its close is noticed. */
function readConnected(event: ClientEvent): void {
  if (event.type === 'connected') {
    event.connection.data$.subscribe();
  }
}

describe('connectEvents', () => {
  it('emits connecting, connected and lost with the reason, then completes', async () => {
    const listener = await startListening();
    const events = lastValueFrom(
      connectEvents(`tcp:127.0.0.1:${listener.port}`).pipe(tap(readConnected), toArray()),
    );
    const server = await listener.accepted(0);
    server.end();
    const types = (await events).map((event) =>
      event.type === 'lost' ? `lost:${event.reason.type}` : event.type,
    );
    expect(types).toEqual(['connecting', 'connected', 'lost:done']);
    listener.subscription.unsubscribe();
  });

  it('emits failed with the ConnectError instead of failing', async () => {
    const port = await refusedPort();
    const events = await lastValueFrom(connectEvents(`tcp:127.0.0.1:${port}`).pipe(toArray()));
    expect(events.map((event) => event.type)).toEqual(['connecting', 'failed']);
  });

  it('reconnects after a lost connection when piped through reconnect', async () => {
    const listener = await startListening();
    listener.connections.subscribe((connection) => connection.end());
    const events = await lastValueFrom(
      connectEvents(`tcp:127.0.0.1:${listener.port}`).pipe(
        tap(readConnected),
        reconnect({
          initialDelay: 1,
          jitter: 0,
          resetWhen: (event) => event.type === 'connected',
        }),
        take(6),
        toArray(),
      ),
    );
    expect(events.map((event) => event.type)).toEqual([
      'connecting',
      'connected',
      'lost',
      'connecting',
      'connected',
      'lost',
    ]);
    listener.subscription.unsubscribe();
  });
});

describe('connect over Unix sockets', () => {
  it('round-trips through a socket path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rxnet-'));
    const path = join(dir, 'c.sock');
    const listener = await startListening(`unix:${path}`);
    try {
      let subscription: Subscription | undefined;
      const connection = await new Promise<Connection>((resolve) => {
        subscription = connect(`unix:${path}`).subscribe(resolve);
      });
      expect(connection.remote).toEqual({ _tag: 'UnixAddress', path });
      const server = await listener.accepted(0);
      server.data$.subscribe((chunk) => server.write(chunk));
      const echoed = firstValueFrom(connection.data$);
      connection.write('unix');
      expect((await echoed).toString()).toBe('unix');
      subscription?.unsubscribe();
      expect(await firstValueFrom(server.closed$)).toEqual({ type: 'done' });
    } finally {
      listener.subscription.unsubscribe();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Graceful shutdown over real sockets: what peers sent before it is served, output is flushed and
 * closed with FIN, a peer that stopped reading is aborted at the deadline, and refusals reach the
 * behaviour.
 */
import { execSync } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { Subject, lastValueFrom, mergeMap, of, tap, toArray, type Observable } from 'rxjs';
import {
  broadcast,
  ConnectionLimitError,
  echo,
  lines,
  serve,
  type Behaviour,
  type ConnectionId,
  type ServerNotification,
  type ShutdownComplete,
  type ShutdownProgress,
} from 'rxnet';

const LOOPBACK = 'tcp:0:interface=127.0.0.1';

/** Rejects when `promise` takes longer than `ms`, naming what it waited for. */
function within<T>(promise: Promise<T>, what: string, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves once `check()` holds, polling every 10 ms; rejects after `ms`. */
async function until(check: () => boolean, what: string, ms = 8000): Promise<void> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A running server: its notifications so far, its port, and its completion. */
interface Running<T> {
  readonly port: number;
  readonly notifications: ServerNotification<T>[];
  readonly done: Promise<ServerNotification<T>[]>;
}

async function start<T>(server$: Observable<ServerNotification<T>>): Promise<Running<T>> {
  const notifications: ServerNotification<T>[] = [];
  const done = lastValueFrom(
    server$.pipe(
      tap((n) => notifications.push(n)),
      toArray(),
    ),
  );
  await until(() => notifications.length > 0, 'listening', 5000);
  const first = notifications[0]!;
  if (first.type !== 'listening' || first.address._tag !== 'TcpAddress') {
    throw new Error(`expected listening, got ${JSON.stringify(first)}`);
  }
  return { port: first.address.port, notifications, done };
}

/** A client socket and how it ended: `end` is the server's FIN, anything else an error code. */
interface Peer {
  readonly socket: Socket;
  /** The peer's own port, read at connect (a closed socket forgets it): the server's `remote`. */
  port: number | undefined;
  received: number;
  readonly ended: Promise<string>;
}

/** With `allowHalfOpen`, the peer never answers the server's FIN with its own. */
function peer(port: number, allowHalfOpen = false): Peer {
  const socket = netConnect({ host: '127.0.0.1', port, allowHalfOpen });
  const client: Peer = {
    socket,
    port: undefined,
    received: 0,
    ended: new Promise<string>((resolve) => {
      socket.once('end', () => resolve('end'));
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      socket.once('close', () => resolve('close'));
    }),
  };
  socket.on('data', (chunk: Buffer) => {
    client.received += chunk.length;
  });
  socket.once('connect', () => {
    client.port = socket.localPort;
  });
  return client;
}

const sockets: Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});

function reportOf<T>(notifications: readonly ServerNotification<T>[]): ShutdownComplete {
  const last = notifications[notifications.length - 1];
  if (last?.type !== 'shutdownComplete') throw new Error(`no report: ${JSON.stringify(last)}`);
  return last;
}

describe('serve', () => {
  describe('shutdown', () => {
    jest.setTimeout(30000);

    it('echoes every byte it read to 1000 peers mid-transfer, completes within a 2 s deadline, and aborts a peer that stopped reading', async () => {
      const COUNT = 1000;
      // Both ends of every connection live in this process: two descriptors each.
      const limit = Number(execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim());
      if (Number.isFinite(limit)) expect(limit).toBeGreaterThan(2 * COUNT + 100);
      const CHUNK = Buffer.alloc(1024, 'x');
      const readBy = new Map<ConnectionId, number>();
      const idOfPort = new Map<number, ConnectionId>();
      const counting: Behaviour = (events) =>
        events.pipe(
          tap((event) => {
            if (event.type === 'connectionMade' && event.remote._tag === 'TcpAddress') {
              idOfPort.set(event.remote.port, event.id);
              readBy.set(event.id, 0);
            } else if (event.type === 'data') {
              readBy.set(event.id, readBy.get(event.id)! + event.data.length);
            }
          }),
          echo(),
        );
      const trigger = new Subject<void>();
      const server = await start(
        serve(LOOPBACK, counting, { shutdown: trigger, shutdownTimeout: 2000 }),
      );

      // The peer that stops reading: it sends 8 MiB and reads none of the echo, so the server's
      // output to it stays pending past what the kernel's buffers hold (about 4 MiB here).
      const stalled = peer(server.port);
      sockets.push(stalled.socket);
      await once(stalled.socket, 'connect');
      stalled.socket.pause();
      for (let i = 0; i < 128; i++) stalled.socket.write(Buffer.alloc(64 * 1024, 's'));
      await until(() => idOfPort.size === 1, 'the stalled peer to be accepted');

      // The others connect first, then each sends a chunk every 200 ms until the server's FIN.
      const peers: Peer[] = [];
      for (let batch = 0; batch < COUNT; batch += 100) {
        const connecting: Promise<unknown>[] = [];
        for (let i = batch; i < Math.min(COUNT, batch + 100); i++) {
          const client = peer(server.port);
          sockets.push(client.socket);
          peers.push(client);
          connecting.push(once(client.socket, 'connect'));
        }
        await within(Promise.all(connecting), 'connections', 8000);
        // Accepted before the next batch, so the accept queue never holds more than a batch.
        await until(() => idOfPort.size === peers.length + 1, 'the batch to be accepted');
      }
      const senders = peers.map((client, index) => {
        let timer: NodeJS.Timeout | undefined;
        const send = (): void => {
          client.socket.write(CHUNK);
          timer = setTimeout(send, 200);
        };
        // Staggered, so some bytes are on their way whenever the shutdown begins.
        timer = setTimeout(send, index % 200);
        client.socket.once('end', () => clearTimeout(timer));
        return { stop: () => clearTimeout(timer) };
      });
      const stalledId = (): ConnectionId | undefined => idOfPort.get(stalled.port!);
      try {
        await until(
          () => peers.every((client) => client.received > 0),
          'an echo on every connection',
        );
      } catch (error) {
        const waiting = peers.filter((client) => client.received === 0).length;
        throw new Error(`${(error as Error).message}: ${waiting} peers still without one`);
      }
      const began = Date.now();
      trigger.next();
      const notifications = await within(server.done, 'the server to complete', 5000);
      const took = Date.now() - began;
      expect(took).toBeLessThan(2000 + 1000);

      senders.forEach((sender) => sender.stop());
      const endings = await within(
        Promise.all(peers.map((client) => client.ended)),
        "every reading peer's end",
        5000,
      );
      expect(endings.filter((ending) => ending !== 'end')).toEqual([]);
      const mismatches = peers.filter(
        (client) => client.received !== readBy.get(idOfPort.get(client.port!)!),
      );
      expect(
        mismatches.map((client) => [
          client.received,
          readBy.get(idOfPort.get(client.port!)!),
          client.port,
        ]),
      ).toEqual([]);

      const lost = notifications.filter((n) => n.type === 'connectionLost');
      const stalledLost = lost.find((n) => n.type === 'connectionLost' && n.id === stalledId());
      expect(stalledLost).toMatchObject({ reason: { type: 'aborted' } });
      const report = reportOf(notifications);
      expect(report).toMatchObject({ graceful: COUNT, aborted: 1, forced: false });
      expect(report.droppedBytes).toBeGreaterThan(0);
    });

    describe('the Spread scenario, in small', () => {
      const TALKERS = 10;
      const BURST = 40;
      const lineFraming = lines({ delimiter: '\n', encoding: 'utf8' });
      const relay: Behaviour<string, string> = (events) => events.pipe(broadcast());

      /** Talkers that read everything, counting lines, plus a silent peer that reads nothing. */
      async function spread(
        options: { readonly shutdownReadWindow?: Observable<unknown> } = {},
      ): Promise<{
        server: Running<string>;
        trigger: Subject<void>;
        talkers: (Peer & { lines: string[] })[];
        silent: Peer;
      }> {
        const trigger = new Subject<void>();
        const server = await start(
          serve(LOOPBACK, relay, {
            framing: lineFraming,
            shutdown: trigger,
            shutdownTimeout: 2000,
            ...options,
          }),
        );
        const silent = peer(server.port);
        sockets.push(silent.socket);
        await once(silent.socket, 'connect');
        silent.socket.pause();
        const talkers = Array.from({ length: TALKERS }, () => {
          const client = Object.assign(peer(server.port), { lines: [] as string[] });
          sockets.push(client.socket);
          let rest = '';
          client.socket.setEncoding('utf8');
          client.socket.on('data', (text: string) => {
            const parts = (rest + text).split('\n');
            rest = parts.pop()!;
            client.lines.push(...parts);
          });
          return client;
        });
        await Promise.all(talkers.map((client) => once(client.socket, 'connect')));
        await until(
          () =>
            server.notifications.filter((n) => n.type === 'connectionMade').length === TALKERS + 1,
          'every connection made',
        );
        return { server, trigger, talkers, silent };
      }

      /** Talker `t`'s burst: BURST lines. */
      function burstOf(t: number): string {
        let text = '';
        for (let k = 0; k < BURST; k++) text += `burst ${t} ${k}\n`;
        return text;
      }

      /** Each talker's burst, written at once, so it sits in the server's kernel unread. */
      function burst(talkers: readonly Peer[]): void {
        talkers.forEach((client, t) => client.socket.write(burstOf(t)));
      }

      it('relays every line peers had sent when it began, and hands 2 MB pending for a silent peer to the kernel, closing with FIN', async () => {
        const { server, trigger, talkers, silent } = await spread();
        // 2 MiB relayed to the silent peer before the shutdown, in lines of 1 KiB.
        const big = `${'b'.repeat(1023)}\n`.repeat(2048);
        talkers[0]!.socket.write(big);
        await until(
          () => talkers.slice(1).every((client) => client.lines.length === 2048),
          'the 2 MiB to reach the other talkers',
        );

        burst(talkers);
        trigger.next();
        const notifications = await within(server.done, 'the server to complete', 5000);

        for (const [t, client] of talkers.entries()) {
          await within(client.ended, `talker ${t}'s end`, 5000);
          const got = client.lines.filter((line) => line.startsWith('burst '));
          // Everyone's burst but its own, every line of it.
          expect(got.length).toBe((TALKERS - 1) * BURST);
          expect(new Set(got).size).toBe(got.length);
        }
        const progress = notifications.find(
          (n): n is ShutdownProgress => n.type === 'shutdownProgress',
        );
        // The silent peer's output, all of it, then FIN: it reads only now.
        const chunks: Buffer[] = [];
        silent.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        silent.socket.resume();
        expect(await within(silent.ended, "the silent peer's end", 5000)).toBe('end');
        const received = Buffer.concat(chunks).toString('utf8');
        const bursts = talkers.map((_, t) => burstOf(t).length).reduce((a, b) => a + b);
        expect(received.length).toBe(big.length + bursts);
        expect(received.startsWith(big)).toBe(true);
        expect(reportOf(notifications)).toEqual({
          type: 'shutdownComplete',
          graceful: TALKERS + 1,
          aborted: 0,
          droppedBytes: 0,
          forced: false,
        });
        // Every connection was still open when the read window ended them. What was still waiting
        // for the kernel then depends on its buffers: on loopback here they take about 4 MB for a
        // peer that does not read, so the 2 MiB were already in the kernel (0 pending).
        expect(progress).toMatchObject({ open: TALKERS + 1 });
      });

      it('loses what peers had sent when the read window is empty (what the poll phase prevents)', async () => {
        const { server, trigger, talkers } = await spread({ shutdownReadWindow: of(0) });
        burst(talkers);
        trigger.next();
        await within(server.done, 'the server to complete', 5000);
        await Promise.all(talkers.map((client) => within(client.ended, 'a talker end', 5000)));
        const relayed = talkers.flatMap((client) => client.lines);
        expect(relayed.length).toBeLessThan(TALKERS * (TALKERS - 1) * BURST);
      });
    });

    it('reports, while it waits, the connections still open and the bytes they have to flush', async () => {
      // More than the kernel's loopback buffers hold (about 4 MiB here), so most of it stays pending.
      const FLOOD = Buffer.alloc(32 * 1024 * 1024, 'f');
      const flood: Behaviour = (events) =>
        events.pipe(
          mergeMap((event) =>
            event.type === 'connectionMade' && event.id === 1
              ? of(event, { type: 'write' as const, to: event.id, data: FLOOD })
              : of(event),
          ),
        );
      const trigger = new Subject<void>();
      const server = await start(
        serve(LOOPBACK, flood, {
          shutdown: trigger,
          shutdownTimeout: 200,
          maxPendingWriteBytes: 2 * FLOOD.length,
        }),
      );
      // The first peer reads nothing; the second reads, and has nothing to read.
      const stalled = peer(server.port);
      sockets.push(stalled.socket);
      await once(stalled.socket, 'connect');
      stalled.socket.pause();
      await until(() => server.notifications.some((n) => n.type === 'connectionMade'), 'accept');
      const reader = peer(server.port);
      sockets.push(reader.socket);
      await once(reader.socket, 'connect');
      await until(
        () => server.notifications.filter((n) => n.type === 'connectionMade').length === 2,
        'the second accept',
      );
      trigger.next();
      const notifications = await within(server.done, 'the deadline', 5000);
      const progress = notifications.find(
        (n): n is ShutdownProgress => n.type === 'shutdownProgress',
      );
      expect(progress?.open).toBe(2);
      expect(progress?.pendingWriteBytes).toBeGreaterThan(FLOOD.length / 2);
      const report = reportOf(notifications);
      expect(report).toMatchObject({ graceful: 1, aborted: 1 });
      // What the deadline dropped was still to flush when the progress was reported.
      expect(report.droppedBytes).toBeGreaterThan(0);
      expect(report.droppedBytes).toBeLessThanOrEqual(progress!.pendingWriteBytes);
      expect(await within(reader.ended, "the reader's end", 5000)).toBe('end');
    });

    it('forces the stop on a second trigger, aborting what is still open', async () => {
      const trigger = new Subject<void>();
      const server = await start(
        serve(LOOPBACK, (events) => events, {
          shutdown: trigger,
          shutdownTimeout: 60_000,
          // Waits for the peer's FIN, which a paused Node client never sends.
          closeTimeout: Infinity,
        }),
      );
      const client = peer(server.port, true);
      sockets.push(client.socket);
      await once(client.socket, 'connect');
      await until(() => server.notifications.some((n) => n.type === 'connectionMade'), 'accept');
      trigger.next();
      await until(
        () => server.notifications.some((n) => n.type === 'shutdownProgress'),
        'the connections to be ended',
      );
      const began = Date.now();
      trigger.next();
      const notifications = await within(server.done, 'the forced stop', 2000);
      expect(Date.now() - began).toBeLessThan(1000);
      expect(reportOf(notifications)).toMatchObject({ graceful: 0, aborted: 1, forced: true });
    });
  });

  it('fails with the error of a failing trigger, and stops listening', async () => {
    const trigger = new Subject<void>();
    const server = await start(serve(LOOPBACK, (events) => events, { shutdown: trigger }));
    trigger.error(new Error('trigger failed'));
    await expect(within(server.done, 'the server to fail', 5000)).rejects.toThrow('trigger failed');
    const late = netConnect({ host: '127.0.0.1', port: server.port });
    sockets.push(late);
    const [error] = (await within(once(late, 'error'), 'the late connect to fail', 5000)) as [
      NodeJS.ErrnoException,
    ];
    expect(error.code).toBe('ECONNREFUSED');
  });

  describe('refusals', () => {
    it('tells the behaviour about each peer refused by a limit, as a connectionRefused event', async () => {
      const seen: unknown[] = [];
      const watching: Behaviour = (events) =>
        events.pipe(
          tap((event) => {
            if (event.type === 'connectionRefused') seen.push(event);
          }),
        );
      const trigger = new Subject<void>();
      const server = await start(
        serve(LOOPBACK, watching, { maxConnections: 1, whenFull: 'refuse', shutdown: trigger }),
      );
      const first = peer(server.port);
      sockets.push(first.socket);
      await once(first.socket, 'connect');
      await until(() => server.notifications.some((n) => n.type === 'connectionMade'), 'accept');
      const second = peer(server.port);
      sockets.push(second.socket);
      await until(() => seen.length === 1 && second.port !== undefined, 'the refusal');
      expect(seen[0]).toMatchObject({
        type: 'connectionRefused',
        remote: { _tag: 'TcpAddress', hostname: '127.0.0.1', port: second.port },
      });
      const { error } = seen[0] as { error: unknown };
      expect(error).toBeInstanceOf(ConnectionLimitError);
      expect((error as ConnectionLimitError).limit).toBe('maxConnections');
      trigger.next();
      await within(server.done, 'the server to complete', 5000);
    });

    it('refuses a peer still waiting for a slot when the shutdown begins, and the behaviour sees it', async () => {
      const trigger = new Subject<void>();
      const server = await start(
        serve(LOOPBACK, (events) => events, {
          maxConnections: 1,
          whenFull: 'wait',
          shutdown: trigger,
        }),
      );
      const first = peer(server.port);
      sockets.push(first.socket);
      await until(() => server.notifications.some((n) => n.type === 'connectionMade'), 'accept');
      const waiting = peer(server.port);
      sockets.push(waiting.socket);
      await once(waiting.socket, 'connect');
      trigger.next();
      const notifications = await within(server.done, 'the server to complete', 5000);
      const types = notifications.map((n) => n.type);
      const refusals = notifications.filter((n) => n.type === 'connectionRefused');
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatchObject({ error: { code: 'RXNET_ERR_CONNECTION_LIMIT' } });
      expect((refusals[0] as { error: ConnectionLimitError }).error.limit).toBe('shutdown');
      // After shuttingDown, before the report.
      expect(types.indexOf('connectionRefused')).toBeGreaterThan(types.indexOf('shuttingDown'));
      expect(types.indexOf('connectionRefused')).toBeLessThan(types.indexOf('shutdownComplete'));
      // And the listening socket is closed: a new peer is refused by the kernel.
      const late = netConnect({ host: '127.0.0.1', port: server.port });
      sockets.push(late);
      const [error] = (await within(once(late, 'error'), 'the late connect to fail', 5000)) as [
        NodeJS.ErrnoException,
      ];
      expect(error.code).toBe('ECONNREFUSED');
    });
  });
});

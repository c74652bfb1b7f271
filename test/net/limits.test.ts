import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Subject,
  asyncScheduler,
  firstValueFrom,
  filter,
  take,
  toArray,
  type SchedulerAction,
  type SchedulerLike,
} from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ConnectionLimitError } from '../../src/errors';
import { listen } from '../../src/net/listen';
import { serve, type ServerNotification } from '../../src/net/serve';
import {
  DEFAULT_MAX_WAITING_CONNECTIONS,
  DEFAULT_WHEN_FULL,
  PeerRates,
  checkAdmissionOptions,
  peerKeyOf,
} from '../../src/net/admission';
import { ServerCounters } from '../../src/net/serverCounters';
import type { ListenOptions } from '../../src/net/listen';
import type { Connection, ConnectionRefused } from '../../src/types';
import { LOOPBACK, receiveAll, startListening, type Listener } from '../helpers/sockets';

/** Every client socket a test opened, destroyed after it. */
const clients = new Set<Socket>();
const listeners: Listener[] = [];

afterEach(() => {
  for (const socket of clients) socket.destroy();
  clients.clear();
  for (const listener of listeners.splice(0)) listener.subscription.unsubscribe();
});

/** A client from `source` (any 127/8 address: Linux routes all of it to lo), connected. */
async function client(port: number, source = '127.0.0.1'): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port, localAddress: source });
  clients.add(socket);
  // A refused peer may see a reset; the test looks at 'close'.
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

/** Resolves when a client socket closes, however (a refused peer may see a reset). */
function closeOf(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

/** A server with the limits, its refusals and its counters. */
async function server(options: ListenOptions, endpoint = LOOPBACK) {
  const refusals = new Subject<ConnectionRefused>();
  const counters = new ServerCounters();
  const listener = await startListening(endpoint, {
    ...options,
    counters,
    onRefused: (refusal) => refusals.next(refusal),
  });
  listeners.push(listener);
  const refused = (count: number) => firstValueFrom(refusals.pipe(take(count), toArray()));
  return { listener, counters, refusals, refused };
}

/**
 * Resolves once `condition` holds. The admission queue has no event of its own for "this peer is
 * now waiting", so this polls it on every turn of the event loop, for at most `within` ms.
 */
async function until(condition: () => boolean, within = 5000): Promise<void> {
  const deadline = Date.now() + within;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Resolves with what a connection receives until `expected` bytes have come. */
function read(connection: Connection, expected: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    connection.data$.subscribe({
      next(chunk) {
        text += chunk.toString();
        if (text.length >= expected) resolve(text);
      },
      error: reject,
    });
  });
}

const limitOf = (refusal: ConnectionRefused) => (refusal.error as ConnectionLimitError).limit;

describe('listen', () => {
  describe('maxConnections', () => {
    it("defaults whenFull to 'wait' and maxWaitingConnections to 511", () => {
      expect(DEFAULT_WHEN_FULL).toBe('wait');
      expect(DEFAULT_MAX_WAITING_CONNECTIONS).toBe(511);
      const limits = checkAdmissionOptions({ maxConnections: 1 });
      expect(limits?.whenFull).toBe('wait');
      expect(limits?.maxWaiting).toBe(511);
    });

    it("holds the peer past the limit (whenFull 'wait') and admits it, early bytes intact, when a connection closes", async () => {
      const { listener, counters } = await server({ maxConnections: 2 });
      await client(listener.port);
      await client(listener.port);
      const firstConnection = await listener.accepted(0);
      await listener.accepted(1);
      const third = await client(listener.port);
      third.write('sent while waiting');
      await until(() => counters.waiting === 1);
      expect(counters).toMatchObject({ accepted: 3, open: 2, waiting: 1, refused: 0 });

      const closed = firstValueFrom(firstConnection.closed$);
      firstConnection.abort();
      await closed;
      const admitted = await listener.accepted(2);
      expect(await read(admitted, 'sent while waiting'.length)).toBe('sent while waiting');
      expect(counters).toMatchObject({ accepted: 3, open: 2, waiting: 0, refused: 0 });
    });

    it('admits a waiting peer that left when its turn comes, and its connection closes', async () => {
      const { listener, counters } = await server({ maxConnections: 1 });
      await client(listener.port);
      const first = await listener.accepted(0);
      const leaver = await client(listener.port);
      await until(() => counters.waiting === 1);
      leaver.destroy();
      first.abort();
      const admitted = await listener.accepted(1);
      admitted.data$.subscribe({ error: () => undefined });
      await firstValueFrom(admitted.closed$);
      expect(counters).toMatchObject({ waiting: 0, refused: 0 });
    });

    it("closes the peer past the limit after writing refusalMessage (whenFull 'refuse')", async () => {
      const { listener, counters, refused } = await server({
        maxConnections: 1,
        whenFull: 'refuse',
        refusalMessage: 'busy, try later\n',
      });
      await client(listener.port);
      await listener.accepted(0);
      const turnedAway = refused(1);
      const second = await client(listener.port);
      expect((await receiveAll(second)).toString()).toBe('busy, try later\n');
      const [refusal] = await turnedAway;
      expect(refusal!.error).toBeInstanceOf(ConnectionLimitError);
      expect(refusal!.error.code).toBe('RXNET_ERR_CONNECTION_LIMIT');
      expect(limitOf(refusal!)).toBe('maxConnections');
      expect(refusal!.remote).toMatchObject({ _tag: 'TcpAddress', hostname: '127.0.0.1' });
      expect(refusal!.remote).toMatchObject({ port: second.localPort });
      expect(counters.refusedBy.maxConnections).toBe(1);
      expect(counters).toMatchObject({ accepted: 2, open: 1, waiting: 0, refused: 1 });
    });

    it('closes the refused peer at once without a refusalMessage', async () => {
      const { listener, refused } = await server({ maxConnections: 1, whenFull: 'refuse' });
      await client(listener.port);
      const turnedAway = refused(1);
      const second = await client(listener.port);
      await closeOf(second);
      expect(limitOf((await turnedAway)[0]!)).toBe('maxConnections');
    });

    it('refuses peers beyond maxWaitingConnections', async () => {
      const { listener, counters, refused } = await server({
        maxConnections: 1,
        maxWaitingConnections: 2,
      });
      await client(listener.port);
      await client(listener.port);
      await client(listener.port);
      await until(() => counters.waiting === 2);
      const turnedAway = refused(1);
      const fourth = await client(listener.port);
      await closeOf(fourth);
      expect(limitOf((await turnedAway)[0]!)).toBe('maxConnections');
      expect(counters).toMatchObject({ accepted: 4, open: 1, waiting: 2, refused: 1 });
    });

    it("refuses the waiting peers with limit 'shutdown' when the server stops accepting", async () => {
      const stop = new Subject<void>();
      const { listener, counters, refused } = await server({
        maxConnections: 1,
        stopAccepting: stop,
      });
      await client(listener.port);
      const waiting = [await client(listener.port), await client(listener.port)];
      await until(() => counters.waiting === 2);
      const turnedAway = refused(2);
      stop.next();
      const refusals = await turnedAway;
      expect(refusals.map(limitOf)).toEqual(['shutdown', 'shutdown']);
      await Promise.all(waiting.map((socket) => closeOf(socket)));
      expect(counters.refusedBy.shutdown).toBe(2);
      expect(counters).toMatchObject({ waiting: 0, open: 1 });
      (await listener.accepted(0)).abort();
    });
  });

  describe('maxConnectionsPerPeer', () => {
    it('holds a peer opening connections in a loop to its limit, and admits another peer', async () => {
      const { listener, counters, refusals } = await server({ maxConnectionsPerPeer: 3 });
      const fromLooper: Connection[] = [];
      let mostAtOnce = 0;
      const live = new Set<Connection>();
      listener.connections.subscribe((connection) => {
        const remote = connection.remote;
        if (remote._tag !== 'TcpAddress' || remote.hostname !== '127.0.0.2') return;
        fromLooper.push(connection);
        live.add(connection);
        mostAtOnce = Math.max(mostAtOnce, live.size);
        connection.closed$.subscribe(() => live.delete(connection));
      });
      const limits: string[] = [];
      refusals.subscribe((refusal) => limits.push(limitOf(refusal)));
      // The attacker never closes anything and opens 100 connections, each as soon as the last one
      // is connected.
      for (let i = 0; i < 100; i += 1) {
        await client(listener.port, '127.0.0.2');
      }
      await until(() => counters.accepted === 100);
      expect(fromLooper).toHaveLength(3);
      expect(mostAtOnce).toBe(3);
      expect(limits).toHaveLength(97);
      expect(new Set(limits)).toEqual(new Set(['maxConnectionsPerPeer']));
      expect(counters.refusedBy.maxConnectionsPerPeer).toBe(97);

      const other = firstValueFrom(
        listener.connections.pipe(
          filter((c) => c.remote._tag === 'TcpAddress' && c.remote.hostname === '127.0.0.3'),
        ),
      );
      await client(listener.port, '127.0.0.3');
      await other;

      // Once one of its connections closes, the peer may open one more.
      const closed = firstValueFrom(fromLooper[0]!.closed$);
      fromLooper[0]!.abort();
      await closed;
      await client(listener.port, '127.0.0.2');
      await until(() => fromLooper.length === 4);
      expect(counters.refusedBy.maxConnectionsPerPeer).toBe(97);
    });
  });

  describe('refusalMessage', () => {
    it('closes a refused peer that never answers the FIN after closeTimeout (at most 1000 ms)', async () => {
      const lingers: number[] = [];
      let lingered!: () => void;
      const lingerDone = new Promise<void>((resolve) => (lingered = resolve));
      // The real scheduler, watched: the refusal's close is the only timer of 200 ms here.
      const scheduler: SchedulerLike = {
        now: () => asyncScheduler.now(),
        schedule<T>(
          work: (this: SchedulerAction<T>, state?: T) => void,
          delay?: number,
          state?: T,
        ) {
          if (delay !== 200) return asyncScheduler.schedule(work, delay, state);
          lingers.push(delay);
          return asyncScheduler.schedule(
            function (this: SchedulerAction<T>, value?: T) {
              work.call(this, value);
              lingered();
            },
            delay,
            state,
          );
        },
      };
      const { listener, refused } = await server({
        maxConnections: 1,
        whenFull: 'refuse',
        refusalMessage: 'busy\n',
        closeTimeout: 200,
        scheduler,
      });
      await client(listener.port);
      const turnedAway = refused(1);
      // A peer that keeps its side open after the server's FIN.
      const stubborn = netConnect({ host: '127.0.0.1', port: listener.port, allowHalfOpen: true });
      clients.add(stubborn);
      stubborn.on('error', () => undefined);
      expect((await receiveAll(stubborn)).toString()).toBe('busy\n');
      await turnedAway;
      await lingerDone;
      expect(lingers).toEqual([200]);
      // The server's socket is gone: the peer's next bytes are answered with a reset.
      // The server's socket is gone: the kernel answers the peer's bytes with a reset, which the
      // peer (its reading over at the FIN) learns from its next write.
      const reset = new Promise<unknown>((resolve) => stubborn.once('error', resolve));
      const knock = setInterval(() => stubborn.write('anyone?'), 20);
      try {
        expect(await reset).toMatchObject({ code: expect.stringMatching(/ECONNRESET|EPIPE/) });
      } finally {
        clearInterval(knock);
      }
    });
  });

  describe('per-peer limits', () => {
    it('count a peer waiting for a slot as one of its connections', async () => {
      const { listener, counters, refused } = await server({
        maxConnections: 1,
        maxConnectionsPerPeer: 2,
      });
      await client(listener.port, '127.0.0.2');
      await client(listener.port, '127.0.0.2');
      await until(() => counters.waiting === 1);
      const turnedAway = refused(1);
      await client(listener.port, '127.0.0.2');
      expect(limitOf((await turnedAway)[0]!)).toBe('maxConnectionsPerPeer');
      // Another address still waits its turn rather than being refused.
      await client(listener.port, '127.0.0.3');
      await until(() => counters.waiting === 2);
    });

    it('do not apply to Unix-socket peers, which have no address', async () => {
      const path = join(tmpdir(), `rxnet-limits-${process.pid}-${Date.now()}.sock`);
      const { listener } = await server({ maxConnectionsPerPeer: 1 }, `unix:${path}`);
      for (let i = 0; i < 3; i += 1) {
        const socket = netConnect({ path });
        clients.add(socket);
        await once(socket, 'connect');
      }
      await listener.accepted(2);
    });

    it('see the proxy, not the client, behind a haproxy: endpoint', async () => {
      const { listener, refused } = await server(
        { maxConnectionsPerPeer: 1 },
        'haproxy:tcp:0:interface=127.0.0.1',
      );
      const turnedAway = refused(1);
      const first = await client(listener.port, '127.0.0.2');
      first.write('PROXY TCP4 192.0.2.1 192.0.2.9 1111 80\r\n');
      expect((await listener.accepted(0)).remote).toMatchObject({ hostname: '192.0.2.1' });
      const second = await client(listener.port, '127.0.0.2');
      second.write('PROXY TCP4 192.0.2.2 192.0.2.9 2222 80\r\n');
      const [refusal] = await turnedAway;
      expect(limitOf(refusal!)).toBe('maxConnectionsPerPeer');
      expect(refusal!.remote).toMatchObject({ hostname: '127.0.0.2' });
    });
  });

  describe('peerAcceptRate', () => {
    it('refuses a peer opening connections faster than its rate, whatever it closed, and not others', async () => {
      const { listener, counters, refused } = await server({
        peerAcceptRate: { connections: 3, perMilliseconds: 60_000 },
      });
      const turnedAway = refused(2);
      for (let i = 0; i < 5; i += 1) await client(listener.port, '127.0.0.2');
      expect((await turnedAway).map(limitOf)).toEqual(['peerAcceptRate', 'peerAcceptRate']);
      for (let i = 0; i < 3; i += 1) {
        const connection = await listener.accepted(i);
        connection.abort();
        await firstValueFrom(connection.closed$);
      }
      expect(counters.open).toBe(0);

      // Closing its connections gives it nothing back: the rate counts openings.
      const again = refused(1);
      await client(listener.port, '127.0.0.2');
      expect(limitOf((await again)[0]!)).toBe('peerAcceptRate');
      await client(listener.port, '127.0.0.3');
      await until(() => counters.open === 1);
      expect(counters.refusedBy.peerAcceptRate).toBe(3);
      expect(counters.accepted).toBe(7);
    });
  });

  describe('counters', () => {
    it('counts accepted and open connections without any limit', async () => {
      const counters = new ServerCounters();
      const listener = await startListening(LOOPBACK, { counters });
      listeners.push(listener);
      const socket = await client(listener.port);
      const connection = await listener.accepted(0);
      expect(counters).toMatchObject({ accepted: 1, open: 1, waiting: 0, refused: 0 });
      const closed = firstValueFrom(connection.closed$);
      connection.abort();
      await closed;
      await closeOf(socket);
      expect(counters).toMatchObject({ accepted: 1, open: 0, refused: 0 });
    });
  });

  describe('under serve', () => {
    it('shows the behaviour each refusal by a limit as a connectionRefused event', async () => {
      const notifications: ServerNotification<Buffer>[] = [];
      const refusal = new Promise<ConnectionRefused>((resolve) => {
        const subscription = serve(LOOPBACK, (events) => events, {
          maxConnections: 1,
          whenFull: 'refuse',
        }).subscribe((notification) => {
          notifications.push(notification);
          if (notification.type === 'listening') {
            const address = notification.address;
            const port = address._tag === 'TcpAddress' ? address.port : 0;
            void client(port).then(() => client(port));
          } else if (notification.type === 'connectionRefused') {
            resolve(notification);
            subscription.unsubscribe();
          }
        });
      });
      const event = await refusal;
      expect(event.error).toBeInstanceOf(ConnectionLimitError);
      expect(limitOf(event)).toBe('maxConnections');
      expect(notifications.map((notification) => notification.type)).toContain('connectionMade');
    });
  });

  describe('counters of handshake refusals', () => {
    it("counts a bad PROXY header under 'proxy' and a silent peer under 'handshakeTimeout'", async () => {
      const { listener, counters, refused } = await server(
        { handshakeTimeout: 200 },
        'haproxy:tcp:0:interface=127.0.0.1',
      );
      const turnedAway = refused(2);
      const liar = await client(listener.port);
      liar.write('GET / HTTP/1.1\r\n\r\n');
      await client(listener.port);
      const refusals = await turnedAway;
      expect(refusals.map((refusal) => refusal.error.code).sort()).toEqual([
        'RXNET_ERR_HANDSHAKE_TIMEOUT',
        'RXNET_ERR_PROXY_PROTOCOL',
      ]);
      expect(counters.refusedBy).toMatchObject({ proxy: 1, handshakeTimeout: 1 });
      expect(counters).toMatchObject({ accepted: 2, open: 0, refused: 2 });
    });
  });

  describe('options', () => {
    it.each([
      [{ maxConnections: 0 }],
      [{ maxConnections: -1 }],
      [{ maxConnections: 1.5 }],
      [{ maxConnectionsPerPeer: 0 }],
      [{ maxConnectionsPerPeer: Number.NaN }],
      [{ maxWaitingConnections: -1 }],
      [{ whenFull: 'drop' as 'wait' }],
      [{ peerAcceptRate: { connections: 0, perMilliseconds: 1000 } }],
      [{ peerAcceptRate: { connections: 1, perMilliseconds: 0 } }],
      [{ peerAcceptRate: { connections: 1, perMilliseconds: Infinity } }],
    ])('throws a TypeError at call time for %j', (options) => {
      expect(() => listen(LOOPBACK, options)).toThrow(TypeError);
    });

    it('sets up no admission control when no limit or counter is asked for', () => {
      expect(checkAdmissionOptions({})).toBeUndefined();
      expect(checkAdmissionOptions({ maxConnections: Infinity })).toBeUndefined();
      expect(checkAdmissionOptions({ counters: new ServerCounters() })).toBeDefined();
    });
  });
});

describe('PeerRates', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  /** Runs `steps` at virtual times, collecting whether each take() was allowed. */
  function takesAt(
    rates: () => PeerRates,
    steps: ReadonlyArray<readonly [number, string]>,
  ): { allowed: boolean[]; sizes: number[] } {
    const allowed: boolean[] = [];
    const sizes: number[] = [];
    testScheduler.run(({ flush }) => {
      const rate = rates();
      for (const [at, peer] of steps) {
        testScheduler.schedule(() => {
          allowed.push(rate.take(peer));
          sizes.push(rate.size);
        }, at);
      }
      flush();
    });
    return { allowed, sizes };
  }

  it('allows a burst of `connections`, then one more each perMilliseconds / connections', () => {
    const { allowed } = takesAt(
      () => new PeerRates({ connections: 2, perMilliseconds: 2048 }, testScheduler),
      [
        [0, 'a'],
        [0, 'a'],
        [0, 'a'],
        [1023, 'a'],
        [1024, 'a'],
        [1025, 'a'],
        [2048, 'a'],
      ],
    );
    expect(allowed).toEqual([true, true, false, false, true, false, true]);
  });

  it('keeps each peer to its own allowance', () => {
    const { allowed } = takesAt(
      () => new PeerRates({ connections: 1, perMilliseconds: 1000 }, testScheduler),
      [
        [0, 'a'],
        [0, 'b'],
        [1, 'a'],
        [1, 'b'],
      ],
    );
    expect(allowed).toEqual([true, true, false, false]);
  });

  it('never builds up more than `connections` however long the peer was idle', () => {
    const { allowed } = takesAt(
      () => new PeerRates({ connections: 2, perMilliseconds: 1000 }, testScheduler),
      [
        [0, 'a'],
        [100_000, 'a'],
        [100_000, 'a'],
        [100_000, 'a'],
      ],
    );
    expect(allowed).toEqual([true, true, true, false]);
  });

  it('forgets peers idle for a whole window, so memory holds only recent peers', () => {
    const { sizes } = takesAt(
      () => new PeerRates({ connections: 1, perMilliseconds: 1000 }, testScheduler),
      [
        [0, 'a'],
        [10, 'b'],
        [500, 'c'],
        [1005, 'd'],
        [1600, 'e'],
      ],
    );
    // At 1005 'a' (idle 1005 ms) is gone and 'b' (995 ms) stays; at 1600 only 'd' and 'e' remain.
    expect(sizes).toEqual([1, 2, 3, 3, 2]);
  });

  it('remembers at most maxPeers, forgetting the longest idle first', () => {
    const { allowed, sizes } = takesAt(
      () => new PeerRates({ connections: 1, perMilliseconds: 1000 }, testScheduler, 2),
      [
        [0, 'a'],
        [1, 'b'],
        [2, 'c'],
        [3, 'a'],
      ],
    );
    expect(sizes).toEqual([1, 2, 2, 2]);
    // 'a' was forgotten to make room for 'c', so it starts afresh.
    expect(allowed).toEqual([true, true, true, true]);
  });
});

describe('peerKeyOf', () => {
  it.each([
    ['127.0.0.2', false, '127.0.0.2'],
    ['::ffff:127.0.0.2', false, '127.0.0.2'],
    ['::ffff:127.0.0.2', true, '127.0.0.2'],
    ['2001:db8:1:2:3:4:5:6', false, '2001:db8:1:2:3:4:5:6'],
    ['2001:db8:1:2:3:4:5:6', true, '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::9', true, '2001:db8:1:2::/64'],
    ['2001:db8::1', true, '2001:db8:0:0::/64'],
    ['2001:0db8:0000:0002::1', true, '2001:db8:0:2::/64'],
    ['::1', true, '0:0:0:0::/64'],
    ['fe80::1%eth0', true, 'fe80:0:0:0::/64'],
    ['fe80::1%eth0', false, 'fe80::1'],
  ])('counts %s (by /64: %s) as %s', (address, by64, key) => {
    expect(peerKeyOf(address, by64)).toBe(key);
  });

  it('gives no key to a peer without an address (a Unix socket)', () => {
    expect(peerKeyOf(undefined, false)).toBeUndefined();
  });
});

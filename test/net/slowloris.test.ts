import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { execSync } from 'node:child_process';
import type { ListenOptions } from '../../src/net/listen';
import { ServerCounters } from '../../src/net/serverCounters';
import { LOOPBACK, startListening, type Listener } from '../helpers/sockets';

/**
 * A slowloris: thousands of connections from one address, each sending one byte every couple of
 * seconds so that no idle timeout of a few seconds ends it. Against a server whose only limit is
 * its total, it takes every slot and a newcomer waits; with a per-peer limit the attacker keeps
 * its share and a well-behaved client from another address is served at once.
 */
const ATTACKERS = 2000;
const DRIP_MILLISECONDS = 2000;

// Each attacker costs two descriptors in this process (its socket and the server's).
const descriptors = Number(execSync('ulimit -n', { shell: '/bin/sh' }).toString().trim());

let listener: Listener | undefined;
let drip: NodeJS.Timeout | undefined;
const attackers = new Set<Socket>();
/** Told after each drip. */
let dripped: Array<() => void> = [];

afterEach(() => {
  clearInterval(drip);
  for (const socket of attackers) socket.destroy();
  attackers.clear();
  dripped = [];
  listener?.subscription.unsubscribe();
  listener = undefined;
});

/** An echo server with the limits, and its counters. */
async function echoServer(
  options: ListenOptions,
): Promise<{ port: number; counters: ServerCounters }> {
  const counters = new ServerCounters();
  listener = await startListening(LOOPBACK, { ...options, counters });
  listener.connections.subscribe((connection) =>
    connection.data$.subscribe({
      next: (chunk) => connection.write(chunk),
      error: () => undefined,
    }),
  );
  return { port: listener.port, counters };
}

/**
 * Opens `count` connections from 127.0.0.2, 200 at a time, each sending its first byte at once
 * and one more at every drip. Resolves once every one is connected or closed.
 */
async function attack(port: number, count: number): Promise<void> {
  for (let opened = 0; opened < count; opened += 200) {
    const batch: Promise<void>[] = [];
    for (let i = opened; i < Math.min(count, opened + 200); i += 1) {
      const socket = netConnect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
      attackers.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => attackers.delete(socket));
      batch.push(
        new Promise((resolve) => {
          socket.once('connect', () => {
            socket.write('x');
            resolve();
          });
          socket.once('close', () => resolve());
        }),
      );
    }
    await Promise.all(batch);
  }
  drip = setInterval(() => {
    for (const socket of attackers) if (!socket.destroyed) socket.write('x');
    for (const resolve of dripped.splice(0)) resolve();
  }, DRIP_MILLISECONDS);
}

/** Resolves once the attack has dripped once more, so it is under way when the client comes. */
function nextDrip(): Promise<void> {
  return new Promise((resolve) => dripped.push(resolve));
}

/** Resolves once `condition` holds: the server's counters have no event, so they are polled. */
async function until(condition: () => boolean, within = 5000): Promise<void> {
  const deadline = Date.now() + within;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * A well-behaved client from 127.0.0.3: connects, sends a line, and resolves with the milliseconds
 * until its echo came back, or `undefined` if it did not within `patience`.
 */
async function visit(port: number, patience: number): Promise<number | undefined> {
  const started = performance.now();
  const socket = netConnect({ host: '127.0.0.1', port, localAddress: '127.0.0.3' });
  socket.on('error', () => undefined);
  try {
    await once(socket, 'connect');
    socket.write('hello\n');
    let echoed = '';
    return await new Promise<number | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), patience);
      socket.on('data', (chunk: Buffer) => {
        echoed += chunk.toString();
        if (echoed === 'hello\n') {
          clearTimeout(timer);
          resolve(performance.now() - started);
        }
      });
    });
  } finally {
    socket.destroy();
  }
}

describe('a slowloris attack', () => {
  jest.setTimeout(20_000);

  it('has descriptors enough for the test', () => {
    expect(descriptors).toBeGreaterThan(2 * ATTACKERS + 200);
  });

  it(`from ${ATTACKERS} connections does not deny service to a client from another address once maxConnectionsPerPeer is set`, async () => {
    const { port, counters } = await echoServer({ maxConnections: 500, maxConnectionsPerPeer: 50 });
    await attack(port, ATTACKERS);
    await nextDrip();
    // Every attacker got through the kernel's backlog (batches of 200 stay under it).
    expect(counters.accepted).toBe(ATTACKERS);
    expect(counters.refusedBy.maxConnectionsPerPeer).toBe(ATTACKERS - 50);
    expect(counters.open).toBe(50);

    const latency = await visit(port, 2000);
    expect(latency).toBeDefined();
    expect(latency).toBeLessThan(1000);
    // The attacker's share is still held while the client is served.
    expect(counters.refusedBy.maxConnectionsPerPeer).toBe(ATTACKERS - 50);
  });

  it('takes every slot of a server limited only in total, so a newcomer waits (the control)', async () => {
    const { port, counters } = await echoServer({ maxConnections: 200 });
    await attack(port, 300);
    await until(() => counters.accepted === 300);
    expect(counters).toMatchObject({ open: 200, waiting: 100, refused: 0 });

    expect(await visit(port, 1000)).toBeUndefined();
    expect(counters.waiting).toBe(101);
  });
});

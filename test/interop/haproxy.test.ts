/**
 * rxnet behind a real HAProxy (Debian's haproxy, started by the test in `mode tcp` on loopback):
 * `send-proxy` (v1), `send-proxy-v2`, and v2 with a CRC32C TLV. A client bound to 127.0.0.2
 * connects through it, and rxnet's `connection.remote` must be that client, not HAProxy.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import type { Address, ConnectionRefused } from '../../src/types';
import { Child, Resources, within } from '../examples/harness';
import { startListening, type Listener } from '../helpers/sockets';

const resources = new Resources();
afterEach(() => resources.disposeAll());

/** A loopback address other than HAProxy's own, so the two cannot be confused. */
const CLIENT_ADDRESS = '127.0.0.2';

const tcp4 = (hostname: string, port: number): Address => ({
  _tag: 'TcpAddress',
  hostname,
  port,
  family: 'IPv4',
});

/** Ports the kernel says are free now: all held at once so they differ, then released. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let index = 0; index < count; index++) {
      const server = createServer();
      servers.push(server);
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
    }
    return servers.map((server) => (server.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

/** Resolves once something accepts on `port`; fails if `child` exits first. */
async function acceptingOn(port: number, child: Child): Promise<void> {
  for (;;) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) {
      throw new Error(`haproxy exited: ${child.stderr}`);
    }
    const socket = netConnect({ host: '127.0.0.1', port });
    const connected = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('error', () => resolve(false));
    });
    socket.destroy();
    if (connected) return;
    // HAProxy has no readiness signal in -db mode; a refused probe is retried shortly.
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface Frontends {
  /** `send-proxy`: PROXY v1. */
  readonly v1: number;
  /** `send-proxy-v2`. */
  readonly v2: number;
  /** `send-proxy-v2` with `proxy-v2-options crc32c`. */
  readonly v2crc: number;
}

function config(backend: number, ports: Frontends & { ready: number }, checks: boolean): string {
  // Only the v2 backend is checked: its checks carry the LOCAL command, and each waits for the
  // server's "ok", so the check's socket is still open when rxnet looks at its addresses.
  const check = checks ? ' check inter 100ms check-send-proxy' : '';
  return [
    'global',
    '  maxconn 64',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 10s',
    '  timeout server 10s',
    // Accepts and drops at once, reaching no backend: the readiness probe's target.
    'frontend ready',
    `  bind 127.0.0.1:${ports.ready}`,
    '  tcp-request connection reject',
    ...(
      [
        ['v1', 'send-proxy'],
        ['v2', 'send-proxy-v2'],
        ['v2crc', 'send-proxy-v2 proxy-v2-options crc32c'],
      ] as const
    ).flatMap(([name, option]) => [
      `frontend ${name}`,
      `  bind 127.0.0.1:${ports[name]}`,
      `  default_backend ${name}_servers`,
      `backend ${name}_servers`,
      ...(checks && name === 'v2' ? ['  option tcp-check', '  tcp-check expect string ok'] : []),
      `  server rxnet 127.0.0.1:${backend} ${option}${name === 'v2' ? check : ''}`,
    ]),
    '',
  ].join('\n');
}

/**
 * Starts `haproxy -f CFG -db` in front of `backend`, on ports probed free just before; a bind
 * lost to another process in between is retried with new ports.
 */
async function startHaproxy(backend: number, checks = false): Promise<Frontends> {
  const directory = mkdtempSync(join(tmpdir(), 'rxnet-haproxy-'));
  resources.add({ dispose: async () => rmSync(directory, { recursive: true, force: true }) });
  const file = join(directory, 'haproxy.cfg');
  for (let attempt = 1; ; attempt++) {
    const [ready, v1, v2, v2crc] = (await freePorts(4)) as [number, number, number, number];
    writeFileSync(file, config(backend, { ready, v1, v2, v2crc }, checks));
    const child = resources.add(new Child('haproxy', ['-f', file, '-db']));
    try {
      await within(acceptingOn(ready, child), 'haproxy to accept', 10000);
      return { v1, v2, v2crc };
    } catch (error: unknown) {
      await child.dispose();
      if (attempt === 3 || !/cannot bind|Address already in use/i.test(child.stderr)) throw error;
    }
  }
}

/** rxnet on a haproxy: endpoint, recording refusals. */
async function rxnetServer(): Promise<{ listener: Listener; refusals: ConnectionRefused[] }> {
  const refusals: ConnectionRefused[] = [];
  const listener = await startListening('haproxy:tcp:port=0:interface=127.0.0.1', {
    onRefused: (refusal) => refusals.push(refusal),
  });
  resources.add({ dispose: async () => listener.subscription.unsubscribe() });
  return { listener, refusals };
}

async function clientThrough(port: number): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port, localAddress: CLIENT_ADDRESS });
  resources.add({
    dispose: async () => {
      socket.destroy();
    },
  });
  socket.on('error', () => undefined);
  await within(once(socket, 'connect'), 'the client to connect through haproxy');
  return socket;
}

describe('behind HAProxy', () => {
  it.each([
    ['send-proxy (v1)', 'v1'],
    ['send-proxy-v2', 'v2'],
    ['send-proxy-v2 with a CRC32C TLV', 'v2crc'],
  ] as const)(
    'sees the original client as remote with %s, and data flows both ways',
    async (_name, frontend) => {
      const { listener, refusals } = await rxnetServer();
      const ports = await startHaproxy(listener.port);
      const socket = await clientThrough(ports[frontend]);
      socket.write('hello through haproxy\n');

      const connection = await within(listener.accepted(0), 'the proxied connection');
      expect(connection.remote).toEqual(tcp4(CLIENT_ADDRESS, socket.localPort!));
      // The header's destination: the address the client dialled, HAProxy's frontend.
      expect(connection.local).toEqual(tcp4('127.0.0.1', ports[frontend]));
      const received = within(
        firstValueFrom(connection.data$.pipe(take(1))),
        'the client’s data at rxnet',
      );
      expect((await received).toString()).toBe('hello through haproxy\n');

      const answer = within(
        once(socket, 'data') as Promise<[Buffer]>,
        'rxnet’s answer at the client',
      );
      connection.write(`you are ${CLIENT_ADDRESS}\n`);
      expect((await answer)[0].toString()).toBe(`you are ${CLIENT_ADDRESS}\n`);
      expect(refusals).toEqual([]);
    },
  );

  it('accepts HAProxy’s health checks, which send a LOCAL v2 header, with the socket’s own addresses', async () => {
    const { listener, refusals } = await rxnetServer();
    await startHaproxy(listener.port, true);
    // The send-proxy-v2 backend checks every 100 ms, with no client behind: a LOCAL header.
    const checks = await within(
      firstValueFrom(listener.connections.pipe(take(2), toArray())),
      'two health checks',
    );
    for (const connection of checks) {
      connection.write('ok\n');
      expect(connection.remote).toEqual(tcp4('127.0.0.1', expect.any(Number) as number));
      expect(connection.remote).not.toMatchObject({ port: 0 });
      expect(connection.local).toEqual(tcp4('127.0.0.1', listener.port));
    }
    expect(refusals).toEqual([]);
  });
});

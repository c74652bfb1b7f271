import { once } from 'node:events';
import type { Socket } from 'node:net';
import { firstValueFrom } from 'rxjs';
import { connectAsync } from '../../src/net/connect';
import type { ListenOptions } from '../../src/net/listen';
import { DEFAULT_WRITE_HIGH_WATER_MARK } from '../../src/transport/fromDuplex';
import type { Connection } from '../../src/types';
import { LOOPBACK, rawClient, startListening, type Listener } from '../helpers/sockets';

const KiB = 1024;
const MiB = 1024 * KiB;
/** The limit every test holds to, and how much it moves: about 3 s at the limit. */
const RATE = 1 * MiB;
const TOTAL = 3 * MiB;
const CHUNK = 16 * KiB;

const listeners: Listener[] = [];
const clients: Socket[] = [];
afterEach(() => {
  for (const socket of clients.splice(0)) socket.destroy();
  for (const listener of listeners.splice(0)) listener.subscription.unsubscribe();
});

async function server(options: ListenOptions): Promise<Listener> {
  const listener = await startListening(LOOPBACK, options);
  listeners.push(listener);
  return listener;
}

async function client(port: number): Promise<Socket> {
  const socket = await rawClient(port);
  socket.on('error', () => undefined);
  clients.push(socket);
  return socket;
}

/**
 * Measures a transfer's rate from its arrivals: the bytes after the first chunk over the time from
 * the first chunk to the last, so neither the connection's setup nor the first read counts.
 */
class Meter {
  private first: number | undefined;
  private last = 0;
  private bytes = 0;
  private firstBytes = 0;
  total = 0;

  arrived(length: number): void {
    const now = performance.now();
    if (this.first === undefined) {
      this.first = now;
      this.firstBytes = length;
    }
    this.last = now;
    this.bytes += length;
    this.total += length;
  }

  /** Bytes per second. */
  get rate(): number {
    return ((this.bytes - this.firstBytes) * 1000) / (this.last - (this.first ?? 0));
  }
}

/** Writes `bytes` through a raw socket as fast as it drains. */
async function pour(socket: Socket, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(CHUNK, 'r');
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    if (!socket.write(chunk)) await once(socket, 'drain');
  }
}

/**
 * Writes `bytes` through a connection, honouring its backpressure (write() false, then drain$),
 * and returns the most output it ever had pending.
 */
async function pourInto(connection: Connection, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(CHUNK, 'w');
  let mostPending = 0;
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    const more = connection.write(chunk);
    mostPending = Math.max(mostPending, connection.pendingWriteBytes);
    if (!more) await firstValueFrom(connection.drain$);
  }
  return mostPending;
}

/** Resolves once `meter` has counted `bytes` from `socket`. */
function drink(socket: Socket, meter: Meter, bytes: number): Promise<void> {
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      meter.arrived(chunk.length);
      if (meter.total >= bytes) resolve();
    });
  });
}

/** Resolves once `meter` has counted `bytes` from a connection's data$. */
function drinkFrom(connection: Connection, meter: Meter, bytes: number): Promise<void> {
  return new Promise((resolve, reject) => {
    connection.data$.subscribe({
      next(chunk) {
        meter.arrived(chunk.length);
        if (meter.total >= bytes) resolve();
      },
      error: reject,
    });
  });
}

function expectWithinTenPercent(rate: number, limit: number): void {
  expect(rate).toBeGreaterThan(limit * 0.9);
  expect(rate).toBeLessThan(limit * 1.1);
}

describe('throttling over real sockets', () => {
  jest.setTimeout(15_000);

  describe('maxReadBytesPerSecond', () => {
    it('reads a fast sender at the limit, within 10%', async () => {
      const listener = await server({ maxReadBytesPerSecond: RATE });
      const socket = await client(listener.port);
      const connection = await listener.accepted(0);
      const meter = new Meter();
      const done = drinkFrom(connection, meter, TOTAL);
      await Promise.all([pour(socket, TOTAL), done]);
      expectWithinTenPercent(meter.rate, RATE);
    });
  });

  describe('maxWriteBytesPerSecond', () => {
    it('writes at the limit, within 10%, with pending output never beyond the mark and one chunk', async () => {
      const listener = await server({ maxWriteBytesPerSecond: RATE });
      const socket = await client(listener.port);
      const connection = await listener.accepted(0);
      const meter = new Meter();
      const done = drink(socket, meter, TOTAL);
      const [mostPending] = await Promise.all([pourInto(connection, TOTAL), done]);
      expectWithinTenPercent(meter.rate, RATE);
      expect(mostPending).toBeGreaterThanOrEqual(DEFAULT_WRITE_HIGH_WATER_MARK);
      expect(mostPending).toBeLessThanOrEqual(DEFAULT_WRITE_HIGH_WATER_MARK + CHUNK);
    });
  });

  describe('on a client', () => {
    it("throttles a client's connection by its own maxWriteBytesPerSecond, within 10%", async () => {
      const listener = await server({});
      const connection = await connectAsync(`tcp:127.0.0.1:${listener.port}`, {
        maxWriteBytesPerSecond: RATE,
      });
      const accepted = await listener.accepted(0);
      const meter = new Meter();
      const done = drinkFrom(accepted, meter, TOTAL / 2);
      await Promise.all([pourInto(connection, TOTAL / 2), done]);
      expectWithinTenPercent(meter.rate, RATE);
      connection.abort();
    });
  });

  describe('maxServerReadBytesPerSecond', () => {
    it('reads all connections together at the limit, within 10%', async () => {
      const listener = await server({ maxServerReadBytesPerSecond: RATE });
      const sockets = [
        await client(listener.port),
        await client(listener.port),
        await client(listener.port),
      ];
      const meter = new Meter();
      const each = Math.ceil(TOTAL / 3 / CHUNK) * CHUNK;
      const done = Promise.all(
        [0, 1, 2].map(async (index) => {
          const connection = await listener.accepted(index);
          await drinkFrom(connection, new TeeMeter(meter), each);
        }),
      );
      await Promise.all([...sockets.map((socket) => pour(socket, each)), done]);
      expectWithinTenPercent(meter.rate, RATE);
    });
  });

  describe('maxServerWriteBytesPerSecond', () => {
    it('writes to all connections together at the limit, within 10%, each bounded', async () => {
      const listener = await server({ maxServerWriteBytesPerSecond: RATE });
      const sockets = [
        await client(listener.port),
        await client(listener.port),
        await client(listener.port),
      ];
      const meter = new Meter();
      const each = Math.ceil(TOTAL / 3 / CHUNK) * CHUNK;
      const received = Promise.all(
        sockets.map((socket) => drink(socket, new TeeMeter(meter), each)),
      );
      const mostPending = await Promise.all(
        [0, 1, 2].map(async (index) => pourInto(await listener.accepted(index), each)),
      );
      await received;
      expectWithinTenPercent(meter.rate, RATE);
      for (const most of mostPending) {
        expect(most).toBeLessThanOrEqual(DEFAULT_WRITE_HIGH_WATER_MARK + CHUNK);
      }
    });
  });
});

/** One connection's meter that also feeds the server-wide one. */
class TeeMeter extends Meter {
  constructor(private readonly whole: Meter) {
    super();
  }

  override arrived(length: number): void {
    super.arrived(length);
    this.whole.arrived(length);
  }
}

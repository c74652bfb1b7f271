import type { Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { firstValueFrom, from, lastValueFrom } from 'rxjs';
import { runSend } from '../../bench/backpressure.bench';
import {
  ConnectionClosedError,
  DrainTimeoutError,
  WriteBufferFullError,
  type RxnetError,
} from '../../src/errors';
import {
  DEFAULT_MAX_PENDING_WRITE_BYTES,
  DEFAULT_WRITE_HIGH_WATER_MARK,
} from '../../src/transport/fromDuplex';
import type { CloseReason, Connection } from '../../src/types';
import { rawClient, startListening, type Listener } from '../helpers/sockets';

const KiB = 1024;
const MiB = 1024 * KiB;
const MARK = DEFAULT_WRITE_HIGH_WATER_MARK;

/*
 * What `pendingWriteBytes` counts, and so what the bounds below allow: it is the socket's
 * `writableLength`, the bytes of every write() whose callback has not run yet. libuv runs it once
 * the bytes are in the kernel's send buffer (at once when the kernel has room, otherwise when the
 * socket turns writable), so bytes the kernel holds (our send buffer, up to net.ipv4.tcp_wmem's
 * 4 MiB here, and the peer's receive buffer, up to tcp_rmem's 32 MiB) are no longer counted. The
 * bound needs no allowance for them: send() pulls only while the count is below the mark, so after
 * a write it is below the mark plus that one chunk. The kernel's share is measured (`maxInKernel`:
 * written, less pending, less read) and was about 9 MB in a 1 GiB run; it is kernel memory
 * bounded by those sysctls, not the process's.
 */

/** What the running test opened; closed after it, passed or not. */
let opened: { listener: Listener; peer: Socket }[] = [];

afterEach(() => {
  for (const { listener, peer } of opened) {
    peer.destroy();
    listener.subscription.unsubscribe();
  }
  opened = [];
});

/** An rxnet connection (accepted by listen()) and a raw client socket as its peer. */
async function loopback(
  options: Parameters<typeof startListening>[1] = {},
): Promise<{ connection: Connection; peer: Socket }> {
  const listener = await startListening(undefined, options);
  const peer = await rawClient(listener.port);
  peer.on('error', () => undefined);
  opened.push({ listener, peer });
  const connection = await listener.accepted(0);
  return { connection, peer };
}

/**
 * Resolves at the stream's 'close'. Not `once()`, which rejects on 'error': breaking off the
 * async iteration of an unfinished Readable destroys it with an AbortError (Node's `destroyer`).
 */
function closeOf(stream: Readable): Promise<void> {
  return new Promise((resolve) => stream.once('close', resolve));
}

/** Resolves once `socket` has received `bytes` bytes; counts them in `progress.received`. */
function receiving(socket: Socket, bytes: number): { received: number; reached: Promise<void> } {
  const progress = { received: 0, reached: Promise.resolve() };
  progress.reached = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      progress.received += chunk.length;
      if (progress.received >= bytes) resolve();
    });
  });
  return progress;
}

/** Waits for an event that must come, failing with `what` if it has not after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function abortedWith(reason: CloseReason): RxnetError | undefined {
  return reason.type === 'aborted' ? reason.error : undefined;
}

describe('Connection.send over real sockets', () => {
  describe('from a Readable', () => {
    /*
     * 256 MiB here; bench/backpressure.bench.ts (`--only=send`) runs the 1 GiB, which takes
     * 8 to 11 s alone on this 2-core machine and about 28 s beside other test files.
     */
    it('streams 256 MiB to a slow reader with at most the mark plus one chunk pending', async () => {
      const chunk = 64 * KiB;
      const total = 256 * MiB;
      const result = await runSend({
        totalBytes: total,
        chunkBytes: chunk,
        readerBytesPerSecond: 150e6,
        source: 'readable',
      });
      expect(result.error).toBeUndefined();
      expect(result.completed).toBe(true);
      expect(result.received).toBe(total);
      expect(result.hashesMatch).toBe(true);
      // Sampled after every one of the connection's writes on the socket.
      expect(result.writes).toBe(total / chunk);
      expect(result.maxPendingAfterWrite).toBeLessThan(MARK + chunk);
      expect(result.maxPendingAtPull).toBeLessThan(MARK + chunk);
      // The reader was the slower side: the output reached the mark and drained again, many times.
      expect(result.drains).toBeGreaterThan(100);
    }, 30_000);
  });

  describe('from an async generator', () => {
    it('asks for the next chunk only while the output is below the mark', async () => {
      // 24 KiB does not divide the 64 KiB mark, so the chunk that reaches it crosses it.
      const chunk = 24 * KiB;
      const result = await runSend({
        totalBytes: 128 * MiB,
        chunkBytes: chunk,
        readerBytesPerSecond: 150e6,
        source: 'generator',
      });
      expect(result.completed).toBe(true);
      expect(result.received).toBe(128 * MiB);
      expect(result.hashesMatch).toBe(true);
      // send() asks the generator itself, right after its previous write or after a drain.
      expect(result.maxPendingAtPull).toBeLessThan(MARK);
      expect(result.maxPendingAfterWrite).toBeGreaterThanOrEqual(MARK);
      expect(result.maxPendingAfterWrite).toBeLessThan(MARK + chunk);
      expect(result.drains).toBeGreaterThan(100);
    }, 30_000);
  });

  describe('from an Observable', () => {
    /*
     * An Observable cannot be asked to wait: send() writes each value as it comes, so it is
     * bounded by maxPendingWriteBytes (at once) and drainTimeout (over time), not slowed. A
     * synchronous `from(chunks)` puts everything into one event-loop turn, before the kernel can
     * take any of it past the first write, however fast the peer reads.
     */
    const chunks = (count: number): Buffer[] =>
      Array.from({ length: count }, () => Buffer.alloc(64 * KiB, 'o'));

    it('is aborted with WriteBufferFullError when 16 MiB come at once, even to a fast reader', async () => {
      const { connection, peer } = await loopback();
      const progress = receiving(peer, Infinity);
      const closed = firstValueFrom(connection.closed$);
      const sent = lastValueFrom(connection.send(from(chunks(256))), { defaultValue: undefined });
      await expect(sent).rejects.toBeInstanceOf(ConnectionClosedError);
      const error = abortedWith(await closed);
      expect(error).toBeInstanceOf(WriteBufferFullError);
      expect(error).toMatchObject({
        code: 'RXNET_ERR_WRITE_BUFFER_FULL',
        limit: DEFAULT_MAX_PENDING_WRITE_BYTES,
      });
      expect((error as WriteBufferFullError).pending).toBeGreaterThan(
        DEFAULT_MAX_PENDING_WRITE_BYTES,
      );
      expect(progress.received).toBeLessThan(16 * MiB);
    });

    it('fails with ConnectionClosedError whose cause is the WriteBufferFullError', async () => {
      const { connection, peer } = await loopback();
      peer.resume();
      const sent = lastValueFrom(connection.send(from(chunks(256))), { defaultValue: undefined });
      const error: unknown = await sent.catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(ConnectionClosedError);
      expect((error as ConnectionClosedError).cause).toBeInstanceOf(WriteBufferFullError);
    });

    it('is aborted with DrainTimeoutError when its output stays above the mark', async () => {
      const drainTimeout = 200;
      const { connection, peer } = await loopback({ drainTimeout });
      peer.pause();
      const closed = firstValueFrom(connection.closed$);
      // 4 MiB: under maxPendingWriteBytes, far more than a peer that never reads lets through.
      connection.send(from(chunks(64))).subscribe({ error: () => undefined });
      const started = performance.now();
      const error = abortedWith(await closed);
      expect(performance.now() - started).toBeGreaterThanOrEqual(drainTimeout - 5);
      expect(error).toBeInstanceOf(DrainTimeoutError);
      expect(error).toMatchObject({ code: 'RXNET_ERR_DRAIN_TIMEOUT', timeout: drainTimeout });
    });

    it('fails, rather than completes, when the connection is aborted before its bytes are out', async () => {
      const { connection, peer } = await loopback({ drainTimeout: 200 });
      peer.pause();
      // The source completes at once; its bytes are still pending when drainTimeout aborts.
      const sent = lastValueFrom(connection.send(from(chunks(64))), { defaultValue: 'completed' });
      await expect(sent).rejects.toBeInstanceOf(ConnectionClosedError);
      expect(connection.state).not.toBe('open');
    });
  });

  describe('unsubscribing', () => {
    it('destroys a Readable source, which stops asking its generator, and leaves the connection open', async () => {
      const { connection, peer } = await loopback();
      const chunk = Buffer.alloc(64 * KiB, 'u');
      let pulls = 0;
      let generatorReturned: () => void = () => undefined;
      const returned = new Promise<void>((resolve) => (generatorReturned = resolve));
      async function* endless(): AsyncGenerator<Buffer> {
        try {
          for (;;) {
            pulls += 1;
            yield chunk;
          }
        } finally {
          generatorReturned();
        }
      }
      const readable = Readable.from(endless());
      const progress = receiving(peer, 4 * MiB);
      const subscription = connection.send(readable).subscribe();
      await progress.reached;
      subscription.unsubscribe();
      await within(closeOf(readable), 2000, 'the Readable closes');
      await within(returned, 2000, 'the generator returns');
      expect(readable.destroyed).toBe(true);
      // A returned generator cannot be asked again: everything received was pulled before.
      expect(progress.received).toBeLessThanOrEqual(pulls * chunk.length);
      expect(connection.state).toBe('open');
    });

    it('destroys a Readable source that is waiting for data', async () => {
      const { connection, peer } = await loopback();
      const source = new PassThrough();
      source.write(Buffer.alloc(1000, 'w'));
      const progress = receiving(peer, 1000);
      const subscription = connection.send(source).subscribe();
      await progress.reached;
      // The source has nothing more for now: send() is waiting in its iterator's next().
      subscription.unsubscribe();
      await within(closeOf(source), 1000, 'the idle Readable closes');
      expect(source.destroyed).toBe(true);
      expect(connection.state).toBe('open');
    });

    it('returns an async generator source', async () => {
      const { connection, peer } = await loopback();
      let generatorReturned: () => void = () => undefined;
      const returned = new Promise<void>((resolve) => (generatorReturned = resolve));
      async function* endless(): AsyncGenerator<Buffer> {
        try {
          for (;;) yield Buffer.alloc(64 * KiB, 'g');
        } finally {
          generatorReturned();
        }
      }
      const progress = receiving(peer, 4 * MiB);
      const subscription = connection.send(endless()).subscribe();
      await progress.reached;
      subscription.unsubscribe();
      await within(returned, 2000, 'the generator returns');
      expect(connection.state).toBe('open');
    });
  });
});

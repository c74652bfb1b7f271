/**
 * Backpressure workloads over real loopback sockets, shared by the tests (short runs) and this
 * script (the bigger runs, repeated):
 *
 * - {@link runSend}: `connection.send(source)` streams a Readable or an async generator to a raw
 *   peer that reads at a set rate, with `pendingWriteBytes` sampled at every pull and after every
 *   write the connection makes on its socket;
 * - {@link runSlowConsumer}: a raw broadcast server (`events.pipe(broadcast())`, no framing) with
 *   ten senders writing 64 KiB chunks as fast as their sockets drain, a reader that reads
 *   everything, one throttled to about 100 MB/s, and one that never reads; every receiver's
 *   pending output is sampled after every write the server makes.
 *
 * Not a test: run it with `npx ts-node bench/backpressure.bench.ts` (`--only=send,slowConsumer`,
 * `--runs=N`, `--seconds=S` per slow-consumer run, `--throttle=B` bytes per second for the
 * throttled reader, `--gib=G` per send run). Everything runs in this one process, so the readers, the
 * senders and the server share the CPU: absolute rates are lower than between two machines.
 *
 * @packageDocumentation
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { lastValueFrom, tap } from 'rxjs';
import {
  broadcast,
  fromDuplex,
  listen,
  serveConnections,
  DEFAULT_WRITE_HIGH_WATER_MARK,
  type CloseReason,
  type Connection,
  type ConnectionId,
  type Output,
} from 'rxnet';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Reads `socket` at about `bytesPerSecond`: in each 10 ms window it reads until the window's
 * budget is spent, then pauses until the window ends. Returns a function that stops the timer.
 */
export function throttle(
  socket: Socket,
  bytesPerSecond: number,
  onChunk: (chunk: Buffer) => void,
): () => void {
  const windowMs = 10;
  const budget = (bytesPerSecond * windowMs) / 1000;
  let windowStart = performance.now();
  let taken = 0;
  let timer: NodeJS.Timeout | undefined;
  function nextWindow(): void {
    timer = undefined;
    windowStart = performance.now();
    taken = 0;
    socket.resume();
  }
  socket.on('data', (chunk: Buffer) => {
    onChunk(chunk);
    taken += chunk.length;
    if (taken >= budget && timer === undefined) {
      socket.pause();
      timer = setTimeout(nextWindow, Math.max(0, windowStart + windowMs - performance.now()));
    }
  });
  return () => clearTimeout(timer);
}

/** A raw `net` server on loopback, port 0, and the first socket it accepts. */
async function rawPeer(): Promise<{ server: Server; port: number; accepted: Promise<Socket> }> {
  const server = createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const accepted = once(server, 'connection').then(([socket]) => socket as Socket);
  return { server, port, accepted };
}

type SocketWrite = (data: Output, callback?: (error?: Error | null) => void) => boolean;

/** Calls `onWrite` after each `write()` made on `socket` (by the connection that owns it). */
function watchWrites(socket: Socket, onWrite: (bytes: number) => void): void {
  const write = socket.write.bind(socket) as SocketWrite;
  const watched: SocketWrite = (data, callback) => {
    const ok = write(data, callback);
    onWrite(typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
    return ok;
  };
  (socket as unknown as { write: SocketWrite }).write = watched;
}

/** Options of {@link runSend}. */
export interface SendOptions {
  readonly totalBytes: number;
  readonly chunkBytes: number;
  /** How fast the peer reads, in bytes per second. */
  readonly readerBytesPerSecond: number;
  /** `readable`: `Readable.from(generator)`; `generator`: the async generator itself. */
  readonly source: 'readable' | 'generator';
  readonly writeHighWaterMark?: number;
}

/** What {@link runSend} measured. */
export interface SendResult {
  readonly highWaterMark: number;
  readonly chunkBytes: number;
  readonly totalBytes: number;
  readonly received: number;
  /** The sender's running SHA-1 of what it yielded, equal to the reader's of what it read. */
  readonly hashesMatch: boolean;
  /** `send()` completed (rather than failing). */
  readonly completed: boolean;
  /** What `send()` failed with, if it did. */
  readonly error?: unknown;
  readonly durationMs: number;
  /** Chunks the source was asked for. */
  readonly pulls: number;
  /** The most `pendingWriteBytes` seen when the source was asked for its next chunk. */
  readonly maxPendingAtPull: number;
  /** Writes the connection made on its socket. */
  readonly writes: number;
  /** The most pending output (the socket's `writableLength`) seen right after one of them. */
  readonly maxPendingAfterWrite: number;
  /**
   * The most bytes written by the connection but neither pending nor read by the peer: what the
   * kernel held (our send buffer plus the peer's receive buffer), which `pendingWriteBytes` does
   * not count.
   */
  readonly maxInKernel: number;
  /** How often `drain$` emitted: each time the output fell below the mark after reaching it. */
  readonly drains: number;
}

/**
 * Streams `totalBytes` through `connection.send(source)` to a raw peer reading at a set rate.
 * Each chunk is a fresh buffer (random bytes, with its index in the first four), hashed as it is
 * yielded; the peer counts and hashes what it reads.
 */
export async function runSend(options: SendOptions): Promise<SendResult> {
  const { totalBytes, chunkBytes } = options;
  const highWaterMark = options.writeHighWaterMark ?? DEFAULT_WRITE_HIGH_WATER_MARK;
  const peer = await rawPeer();
  const socket = netConnect({ host: '127.0.0.1', port: peer.port, allowHalfOpen: true });
  await once(socket, 'connect');
  const reader = await peer.accepted;
  const connection = fromDuplex(
    socket,
    {
      id: 1,
      local: { _tag: 'MemoryAddress', name: 'sender' },
      remote: { _tag: 'MemoryAddress', name: 'reader' },
    },
    { writeHighWaterMark: highWaterMark },
  );
  let written = 0;
  let writes = 0;
  let received = 0;
  let maxPendingAfterWrite = 0;
  let maxInKernel = 0;
  watchWrites(socket, (bytes) => {
    writes += 1;
    written += bytes;
    const pending = socket.writableLength;
    maxPendingAfterWrite = Math.max(maxPendingAfterWrite, pending);
    maxInKernel = Math.max(maxInKernel, written - pending - received);
  });
  let drains = 0;
  connection.drain$.subscribe(() => (drains += 1));

  const sentHash = createHash('sha1');
  const base = randomBytes(chunkBytes);
  let pulls = 0;
  let maxPendingAtPull = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let offset = 0; offset < totalBytes; offset += chunkBytes) {
      pulls += 1;
      maxPendingAtPull = Math.max(maxPendingAtPull, connection.pendingWriteBytes);
      const chunk = Buffer.allocUnsafe(Math.min(chunkBytes, totalBytes - offset));
      base.copy(chunk);
      chunk.writeUInt32BE(pulls, 0);
      sentHash.update(chunk);
      yield chunk;
    }
  }

  const readHash = createHash('sha1');
  const stopReading = throttle(reader, options.readerBytesPerSecond, (chunk) => {
    received += chunk.length;
    readHash.update(chunk);
  });
  const readerEnded = once(reader, 'end');
  const started = performance.now();
  const source = options.source === 'readable' ? Readable.from(chunks()) : chunks();
  let completed = false;
  let error: unknown;
  try {
    await lastValueFrom(connection.send(source), { defaultValue: undefined });
    completed = true;
    connection.end();
    await readerEnded;
  } catch (failure: unknown) {
    error = failure;
  }
  const durationMs = performance.now() - started;
  stopReading();
  reader.destroy();
  connection.abort();
  peer.server.close();
  return {
    highWaterMark,
    chunkBytes,
    totalBytes,
    received,
    hashesMatch: completed && sentHash.digest('hex') === readHash.digest('hex'),
    completed,
    ...(error === undefined ? {} : { error }),
    durationMs,
    pulls,
    maxPendingAtPull,
    writes,
    maxPendingAfterWrite,
    maxInKernel,
    drains,
  };
}

/** Options of {@link runSlowConsumer}. */
export interface SlowConsumerOptions {
  /** How long the senders send, in milliseconds. */
  readonly durationMs: number;
  readonly drainTimeout: number;
  /** @defaultValue 10 */
  readonly senders?: number;
  /** @defaultValue 65536 */
  readonly chunkBytes?: number;
  /** @defaultValue 100e6 (about 100 MB/s) */
  readonly throttledBytesPerSecond?: number;
  readonly writeHighWaterMark?: number;
}

/** One client that reads, as the server saw it. */
export interface ReaderOutcome {
  readonly id: ConnectionId;
  /** Bytes the client read. */
  readonly received: number;
  /** Its server-side `connectionLost` during the run, if any, with the time since the start. */
  readonly lost?: { readonly atMs: number; readonly reason: CloseReason };
  /** The most pending output its server-side connection had right after a write. */
  readonly maxPending: number;
}

/** What {@link runSlowConsumer} measured. */
export interface SlowConsumerResult {
  readonly durationMs: number;
  readonly drainTimeout: number;
  readonly highWaterMark: number;
  readonly chunkBytes: number;
  /** Bytes the senders' sockets accepted. */
  readonly sent: number;
  readonly fast: ReaderOutcome;
  readonly throttled: ReaderOutcome;
  readonly never: ReaderOutcome & {
    /** When its pending output first reached the mark (sampled after every write), since the start. */
    readonly atMarkMs?: number;
    /**
     * What the fast reader received between then and the never-reading client's abort: the
     * senders wait for every receiver, so a reader that stops stalls the broadcast this long.
     */
    readonly fastReceivedMeanwhile?: number;
  };
  /** The senders, which read the others' chunks. */
  readonly senders: readonly ReaderOutcome[];
  /** The most pending output of the whole server (every connection's, summed) after a write. */
  readonly maxPendingTotal: number;
  /** The same once the never-reading client was gone. */
  readonly maxPendingTotalAfterNever: number;
  /** The server's `write()` calls, and how many returned false. */
  readonly writes: number;
  readonly refusedWrites: number;
}

/**
 * Ten senders broadcasting raw 64 KiB chunks, as fast as their own sockets drain, through
 * `serveConnections(listen(...), (events) => events.pipe(broadcast()))` (what `serve()` runs; the
 * connections are tapped on their way in so their `pendingWriteBytes` can be sampled after every
 * write). The receivers of each chunk are the other nine senders (which read everything they get),
 * a fast reader, a reader throttled to about 100 MB/s, and a reader paused from the start.
 */
export async function runSlowConsumer(options: SlowConsumerOptions): Promise<SlowConsumerResult> {
  const senderCount = options.senders ?? 10;
  const chunkBytes = options.chunkBytes ?? 64 * KiB;
  const highWaterMark = options.writeHighWaterMark ?? DEFAULT_WRITE_HIGH_WATER_MARK;
  const { drainTimeout, durationMs } = options;

  const live = new Set<Connection>();
  const maxPending = new Map<ConnectionId, number>();
  const lost = new Map<ConnectionId, { atMs: number; reason: CloseReason }>();
  const idByPort = new Map<number, ConnectionId>();
  let started = Infinity;
  let running = true;
  // Known once every client has connected; the server's callbacks read it before that.
  let neverId: ConnectionId | undefined = undefined;
  let neverAtMark: number | undefined;
  let neverGone = false;
  let receivedByFast = (): number => 0;
  let fastAtNeverMark: number | undefined;
  let fastAtNeverLost: number | undefined;
  let maxPendingTotal = 0;
  let maxPendingTotalAfterNever = 0;
  let writes = 0;
  let refusedWrites = 0;

  function sampled(connection: Connection): void {
    const pending = connection.pendingWriteBytes;
    maxPending.set(connection.id, Math.max(maxPending.get(connection.id) ?? 0, pending));
    if (connection.id === neverId && neverAtMark === undefined && pending >= highWaterMark) {
      neverAtMark = performance.now() - started;
      fastAtNeverMark = receivedByFast();
    }
    let total = 0;
    for (const each of live) {
      total += each.pendingWriteBytes;
    }
    maxPendingTotal = Math.max(maxPendingTotal, total);
    if (neverGone) {
      maxPendingTotalAfterNever = Math.max(maxPendingTotalAfterNever, total);
    }
  }

  function watched(connection: Connection): void {
    live.add(connection);
    connection.closed$.subscribe(() => live.delete(connection));
    const write = connection.write.bind(connection);
    connection.write = (data: Output): boolean => {
      const ok = write(data);
      writes += 1;
      if (!ok) refusedWrites += 1;
      sampled(connection);
      return ok;
    };
    // A server writes a broadcast through the internal `writeHeld` (joined at the turn's end).
    const core = connection as Connection & { writeHeld?: (data: Output) => boolean };
    const writeHeld = core.writeHeld?.bind(connection);
    if (writeHeld !== undefined) {
      core.writeHeld = (data: Output): boolean => {
        const ok = writeHeld(data);
        writes += 1;
        if (!ok) refusedWrites += 1;
        sampled(connection);
        return ok;
      };
    }
  }

  let listening: (port: number) => void = () => undefined;
  const port = new Promise<number>((resolve) => (listening = resolve));
  const connections$ = listen('tcp:0:interface=127.0.0.1', {
    drainTimeout,
    writeHighWaterMark: highWaterMark,
    onListening: (address) => listening(address._tag === 'TcpAddress' ? address.port : 0),
  }).pipe(tap(watched));
  let failure: unknown;
  const server = serveConnections(connections$, (events) => events.pipe(broadcast())).subscribe({
    next(event) {
      if (event.type === 'connectionMade' && event.remote._tag === 'TcpAddress') {
        idByPort.set(event.remote.port, event.id);
      } else if (event.type === 'connectionLost' && running) {
        lost.set(event.id, { atMs: performance.now() - started, reason: event.reason });
        if (event.id === neverId) {
          neverGone = true;
          fastAtNeverLost = receivedByFast();
        }
      }
    },
    error: (error: unknown) => (failure = error),
  });

  const sockets: Socket[] = [];
  const received = new Map<Socket, number>();
  async function client(): Promise<Socket> {
    const socket = netConnect({ host: '127.0.0.1', port: await port });
    socket.on('error', () => undefined);
    sockets.push(socket);
    received.set(socket, 0);
    await once(socket, 'connect');
    return socket;
  }
  function count(socket: Socket): (chunk: Buffer) => void {
    return (chunk) => received.set(socket, received.get(socket)! + chunk.length);
  }

  const senders: Socket[] = [];
  for (let i = 0; i < senderCount; i += 1) {
    const sender = await client();
    sender.on('data', count(sender));
    senders.push(sender);
  }
  const fast = await client();
  fast.on('data', count(fast));
  receivedByFast = () => received.get(fast)!;
  const throttled = await client();
  const stopThrottle = throttle(
    throttled,
    options.throttledBytesPerSecond ?? 100e6,
    count(throttled),
  );
  const never = await client();
  never.pause();
  // Every client is known to the server (and so to broadcast()) before anyone sends.
  while (idByPort.size < sockets.length) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  const ids = new Map(sockets.map((socket) => [socket, idByPort.get(socket.localPort!)!]));
  const idOf = (socket: Socket): ConnectionId => ids.get(socket)!;
  neverId = idOf(never);

  let sent = 0;
  const chunk = randomBytes(chunkBytes);
  function pump(this: Socket): void {
    // Node's write() returns false once its buffer reaches 16 KiB, so this writes one chunk per drain.
    while (running && !this.destroyed) {
      sent += chunk.length;
      if (!this.write(chunk)) {
        this.once('drain', pump);
        return;
      }
    }
  }
  started = performance.now();
  for (const sender of senders) {
    pump.call(sender);
  }
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  running = false;
  const elapsed = performance.now() - started;

  stopThrottle();
  const closed = sockets.map((socket) => once(socket, 'close'));
  for (const socket of sockets) {
    socket.destroy();
  }
  await Promise.all(closed);
  server.unsubscribe();
  if (failure !== undefined) {
    throw failure;
  }

  function outcome(socket: Socket): ReaderOutcome {
    const id = idOf(socket);
    const loss = lost.get(id);
    return {
      id,
      received: received.get(socket)!,
      maxPending: maxPending.get(id) ?? 0,
      ...(loss === undefined ? {} : { lost: loss }),
    };
  }
  return {
    durationMs: elapsed,
    drainTimeout,
    highWaterMark,
    chunkBytes,
    sent,
    fast: outcome(fast),
    throttled: outcome(throttled),
    never: {
      ...outcome(never),
      ...(neverAtMark === undefined ? {} : { atMarkMs: neverAtMark }),
      ...(fastAtNeverMark === undefined || fastAtNeverLost === undefined
        ? {}
        : { fastReceivedMeanwhile: fastAtNeverLost - fastAtNeverMark }),
    },
    senders: senders.map(outcome),
    maxPendingTotal,
    maxPendingTotalAfterNever,
    writes,
    refusedWrites,
  };
}

/* The bigger runs. */

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

function kib(bytes: number): string {
  return `${(bytes / KiB).toFixed(0)} KiB`;
}

async function benchSend(gib: number, runs: number): Promise<void> {
  for (const source of ['readable', 'generator'] as const) {
    for (let run = 1; run <= runs; run += 1) {
      const r = await runSend({
        totalBytes: gib * 1024 * MiB,
        chunkBytes: 64 * KiB,
        readerBytesPerSecond: 150e6,
        source,
      });
      process.stdout.write(
        `send ${source} ${gib} GiB run ${run}: ${r.completed && r.hashesMatch ? 'ok' : 'FAILED'}, ` +
          `${mb(r.received)} in ${(r.durationMs / 1000).toFixed(1)} s ` +
          `(${mb((r.received * 1000) / r.durationMs)}/s); max pending at pull ${kib(r.maxPendingAtPull)}, ` +
          `after a write ${kib(r.maxPendingAfterWrite)} (mark ${kib(r.highWaterMark)}, chunk ${kib(r.chunkBytes)}); ` +
          `in the kernel at most ${mb(r.maxInKernel)}; ${r.drains} drains\n`,
      );
    }
  }
}

async function benchSlowConsumer(seconds: number, runs: number, throttle: number): Promise<void> {
  let cutOff = 0;
  for (let run = 1; run <= runs; run += 1) {
    const r = await runSlowConsumer({
      durationMs: seconds * 1000,
      drainTimeout: 1000,
      throttledBytesPerSecond: throttle,
    });
    const readers = [r.fast, r.throttled, ...r.senders];
    const wronglyLost = readers.filter((reader) => reader.lost !== undefined);
    cutOff += wronglyLost.length;
    const never = r.never.lost;
    process.stdout.write(
      `slowConsumer run ${run}: ${wronglyLost.length === 0 ? 'no reader cut off' : `${wronglyLost.length} READERS CUT OFF`}; ` +
        `fast ${mb(r.fast.received)}, throttled ${mb(r.throttled.received)} ` +
        `(${mb((r.throttled.received * 1000) / r.durationMs)}/s), senders sent ${mb(r.sent)}; ` +
        `never-reader ${never === undefined ? 'NOT aborted' : `${never.reason.type} ${'error' in never.reason ? never.reason.error?.code : ''} at ${never.atMs.toFixed(0)} ms (at the mark from ${r.never.atMarkMs?.toFixed(0)} ms; the fast reader got ${mb(r.never.fastReceivedMeanwhile ?? 0)} meanwhile)`}; ` +
        `max pending: total ${kib(r.maxPendingTotal)} (${kib(r.maxPendingTotalAfterNever)} after the never-reader), ` +
        `per receiver ${kib(Math.max(...readers.map((reader) => reader.maxPending), r.never.maxPending))}; ` +
        `${r.refusedWrites}/${r.writes} writes refused\n`,
    );
  }
  process.stdout.write(`slowConsumer: ${cutOff} readers cut off in ${runs} runs\n`);
}

if (require.main === module) {
  const flag = (name: string): string | undefined =>
    process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  const only = new Set((flag('only') ?? 'send,slowConsumer').split(','));
  const runs = Number(flag('runs') ?? 5);
  void (async () => {
    if (only.has('send')) await benchSend(Number(flag('gib') ?? 1), Math.min(runs, 2));
    if (only.has('slowConsumer')) {
      await benchSlowConsumer(
        Number(flag('seconds') ?? 10),
        runs,
        Number(flag('throttle') ?? 100e6),
      );
    }
  })().catch((error: unknown) => {
    process.stderr.write(`bench failed: ${String(error)}\n`);
    process.exitCode = 1;
  });
}

/**
 * The `Connection` contract as one suite that every implementation runs: a real TCP socket, a Unix
 * socket, the testing kit's virtual network and `memoryConnection`. In the spirit of Pekko's
 * `TcpSpec` close-order matrix, each case plays one order of events between the connection and its
 * peer (FIN, RST, end(), abort(), a slow reader, a timeout) and asserts only through the public
 * `Connection` API, so the implementations cannot drift apart unnoticed.
 *
 * A runner supplies a {@link MakeHarness}: the connection under test, created with the options the
 * case needs and a virtual clock, and a peer the case controls byte by byte.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { Readable } from 'node:stream';
import {
  config,
  lastValueFrom,
  of,
  VirtualTimeScheduler,
  type Observable,
  type Subscription,
} from 'rxjs';
import {
  ConnectionClosedError,
  ConnectionLostError,
  DrainTimeoutError,
  IdleTimeoutError,
  InvalidFrameError,
  WriteBufferFullError,
} from '../../src/errors';
import type { ConnectionOptions } from '../../src/transport/fromDuplex';
import type { CloseReason, Connection } from '../../src/types';
import { startListening } from '../helpers/sockets';

/** How the peer's reading ended: our FIN (`eof`) or our RST (`reset`). */
export type PeerSaw = 'eof' | 'reset';

/** The connection under test and its peer, as the contract's cases drive them. */
export interface Harness {
  /** The connection under test. */
  readonly connection: Connection;
  /** Sends bytes from the peer. */
  peerWrite(data: string | Buffer): void;
  /** Sends the peer's FIN (a half-close: the peer goes on reading). */
  peerEnd(): void;
  /** Resets the connection from the peer's side (RST). Only called when `canReset`. */
  peerReset(): void;
  /** Stops the peer reading, so output piles up on the connection's side. */
  peerPauseReading(): void;
  peerResumeReading(): void;
  /** Every byte the peer has read so far, in order. */
  received(): Buffer;
  /** How the peer's reading has ended, or `undefined` while it has not. */
  peerSaw(): PeerSaw | undefined;
  /** Moves the connection's (virtual) clock on by `ms`, running the timers due on the way. */
  advance(ms: number): Promise<void>;
  /** Lets pending I/O happen: one turn of the event loop, or of the virtual network. */
  settle(): Promise<void>;
  /** Closes whatever is still open (the connection by `abort()`) and releases the resources. */
  close(): Promise<void>;
}

/** Creates a connection with `options` (plus the harness's virtual clock) and its peer. */
export type MakeHarness = (options: ConnectionOptions) => Promise<Harness>;

/** What a harness can do, and cases it is known to fail (kept as `it.failing`, with the reason). */
export interface HarnessCapabilities {
  /**
   * The transport can carry a RST: the peer can reset the connection, and sees one when the
   * connection aborts. A Unix socket cannot. @defaultValue true
   */
  readonly canReset?: boolean;
  /** Case name (the `it` title) to the defect that makes it fail on this implementation. */
  readonly knownDefects?: Readonly<Record<string, string>>;
}

/** A real-time bound on waiting for I/O; virtual time never waits. */
const WAIT_MS = 5000;
const KIB = 1024;
const MIB = 1024 * KIB;
/** A small high-water mark, so a few bytes reach it. */
const MARK = 16;
/** Limits so large that no case reaches them unless it means to. */
const ROOMY: ConnectionOptions = { writeHighWaterMark: 64 * MIB, maxPendingWriteBytes: 128 * MIB };
/** A small mark with room above it, for cases where the output stays blocked. */
const BLOCKING: ConnectionOptions = { writeHighWaterMark: MARK, maxPendingWriteBytes: 128 * MIB };
/** Chunk size for filling a non-reading peer: a kernel's socket buffers take a few MiB of them. */
const FILL_CHUNK = 256 * KIB;
const TIMEOUT_NAMES = [
  'idleTimeout',
  'readIdleTimeout',
  'writeIdleTimeout',
  'closeTimeout',
  'halfOpenTimeout',
  'drainTimeout',
] as const;

/** Waits, one `settle()` at a time, for a condition on real I/O; fails after {@link WAIT_MS}. */
export async function until(h: Harness, condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out waiting for ${what}`);
    }
    await h.settle();
  }
}

async function settleTimes(h: Harness, times: number): Promise<void> {
  for (let i = 0; i < times; i += 1) {
    await h.settle();
  }
}

/** What one `data$` subscription saw. */
interface Reading {
  readonly chunks: Buffer[];
  completed: boolean;
  error: unknown;
  readonly subscription: Subscription;
  text(): string;
}

function read(data$: Observable<Buffer>): Reading {
  const reading: Omit<Reading, 'subscription'> = {
    chunks: [],
    completed: false,
    error: undefined,
    text: () => Buffer.concat(reading.chunks).toString(),
  };
  const subscription = data$.subscribe({
    next: (chunk) => reading.chunks.push(chunk),
    error: (error: unknown) => (reading.error = error),
    complete: () => (reading.completed = true),
  });
  return Object.assign(reading, { subscription });
}

/** Resolves with the close reason once the connection has closed (bounded by real time). */
async function closedReason(h: Harness): Promise<CloseReason> {
  const reasons: CloseReason[] = [];
  const subscription = h.connection.closed$.subscribe((reason) => reasons.push(reason));
  try {
    await until(h, () => reasons.length > 0, 'closed$');
  } finally {
    subscription.unsubscribe();
  }
  return reasons[0]!;
}

/** Waits until the peer has read at least `bytes` bytes. */
async function receivedAtLeast(h: Harness, bytes: number): Promise<Buffer> {
  await until(h, () => h.received().length >= bytes, `the peer to read ${bytes} bytes`);
  return h.received();
}

/**
 * With the peer not reading, writes chunks until the output stays pending: the kernel (or the
 * virtual wire) is full, so what is written from now on waits in `pendingWriteBytes`.
 */
async function fillUntilPending(h: Harness): Promise<Buffer> {
  const written: Buffer[] = [];
  for (let i = 0; i < 256; i += 1) {
    const chunk = Buffer.alloc(FILL_CHUNK, i % 251);
    h.connection.write(chunk);
    written.push(chunk);
    await settleTimes(h, 2);
    if (h.connection.pendingWriteBytes > 0) {
      return Buffer.concat(written);
    }
  }
  throw new Error('The peer kept absorbing output although it does not read');
}

function bulk(chunks: number, size: number): Buffer[] {
  return Array.from({ length: chunks }, (_, i) => Buffer.alloc(size, i % 251));
}

function errorCode(error: unknown): unknown {
  return (error as { code?: unknown } | undefined)?.code;
}

/**
 * Declares the contract's cases for one implementation.
 *
 * @param name The implementation, as the suite's title shows it.
 * @param makeHarness Creates the connection under test and its peer, once per case.
 * @param capabilities What the transport cannot do, and cases known to fail on it.
 */
export function describeConnectionContract(
  name: string,
  makeHarness: MakeHarness,
  capabilities: HarnessCapabilities = {},
): void {
  const canReset = capabilities.canReset ?? true;
  const knownDefects = capabilities.knownDefects ?? {};

  const titles = new Set<string>();

  /** `it`, or `it.failing` for a case this implementation is known to fail. */
  function spec(title: string, body: () => Promise<void>): void {
    titles.add(title);
    if (title in knownDefects) {
      it.failing(`${title} [known defect: ${knownDefects[title]}]`, body);
    } else {
      it(title, body);
    }
  }

  /** A case that needs a RST; skipped where the transport has none. */
  function specWithReset(title: string, body: () => Promise<void>): void {
    if (canReset) {
      spec(title, body);
    } else {
      titles.add(title);
      it.skip(`${title} (this transport cannot reset)`, body);
    }
  }

  describe(`Connection contract: ${name}`, () => {
    let harness: Harness | undefined;
    let closes: CloseReason[] = [];

    async function open(options: ConnectionOptions = {}): Promise<Harness> {
      const h = await makeHarness(options);
      harness = h;
      closes = [];
      h.connection.closed$.subscribe((reason) => closes.push(reason));
      return h;
    }

    /** Closes what the case left open and checks that `closed$` emitted exactly once. */
    async function release(): Promise<void> {
      const h = harness;
      harness = undefined;
      if (h === undefined) {
        return;
      }
      await h.close();
      // Every path, including the abort that cleans up an open connection, closes exactly once.
      expect(closes).toHaveLength(1);
      expect(h.connection.state).toBe('closed');
    }

    afterEach(release);

    describe('peer FIN', () => {
      spec(
        'delivers output pending at the FIN whole, completes data$, is readClosed, then closes done after end()',
        async () => {
          const h = await open(ROOMY);
          const c = h.connection;
          const reading = read(c.data$);
          h.peerPauseReading();
          const output = await fillUntilPending(h);
          expect(c.pendingWriteBytes).toBeGreaterThan(0);
          h.peerEnd();
          await until(h, () => reading.completed, 'data$ to complete at the FIN');
          expect(reading.error).toBeUndefined();
          expect(c.state).toBe('readClosed');
          h.peerResumeReading();
          expect((await receivedAtLeast(h, output.length)).equals(output)).toBe(true);
          expect(c.state).toBe('readClosed');
          c.end();
          expect(await closedReason(h)).toEqual({ type: 'done' });
          await until(h, () => h.peerSaw() !== undefined, 'the peer to see the end');
          expect(h.peerSaw()).toBe('eof');
          expect(h.received().equals(output)).toBe(true);
        },
      );

      spec('delivers a reply written after the FIN', async () => {
        const h = await open();
        const c = h.connection;
        const reading = read(c.data$);
        h.peerWrite('request');
        h.peerEnd();
        await until(h, () => reading.completed, 'data$ to complete at the FIN');
        expect(reading.text()).toBe('request');
        expect(c.state).toBe('readClosed');
        await h.advance(500);
        await settleTimes(h, 3);
        expect(c.state).toBe('readClosed');
        expect(c.write('reply')).toBe(true);
        expect((await receivedAtLeast(h, 5)).toString()).toBe('reply');
        expect(c.state).toBe('readClosed');
        c.end();
        expect(await closedReason(h)).toEqual({ type: 'done' });
        expect(h.received().toString()).toBe('reply');
      });
    });

    describe('halfOpenTimeout', () => {
      spec(
        'ends the connection gracefully once it passes after the FIN, and it closes done',
        async () => {
          const h = await open({ halfOpenTimeout: 1000 });
          const c = h.connection;
          const reading = read(c.data$);
          h.peerEnd();
          await until(h, () => reading.completed, 'data$ to complete at the FIN');
          expect(c.write('late reply')).toBe(true);
          await h.advance(999);
          expect(c.state).toBe('readClosed');
          await h.advance(1);
          expect(['ending', 'closed']).toContain(c.state);
          expect(await closedReason(h)).toEqual({ type: 'done' });
          await until(h, () => h.peerSaw() !== undefined, 'the peer to see the end');
          expect(h.peerSaw()).toBe('eof');
          expect(h.received().toString()).toBe('late reply');
        },
      );

      spec('keeps the connection writable with Infinity until end()', async () => {
        const h = await open({ halfOpenTimeout: Infinity });
        const c = h.connection;
        const reading = read(c.data$);
        h.peerEnd();
        await until(h, () => reading.completed, 'data$ to complete at the FIN');
        await h.advance(24 * 3600 * 1000);
        await settleTimes(h, 3);
        expect(c.state).toBe('readClosed');
        expect(c.write('much later')).toBe(true);
        expect((await receivedAtLeast(h, 10)).toString()).toBe('much later');
        c.end();
        expect(await closedReason(h)).toEqual({ type: 'done' });
      });

      spec('ends the connection at the FIN with 0', async () => {
        const h = await open({ halfOpenTimeout: 0 });
        const c = h.connection;
        const reading = read(c.data$);
        h.peerEnd();
        expect(await closedReason(h)).toEqual({ type: 'done' });
        expect(reading.completed).toBe(true);
        await until(h, () => h.peerSaw() !== undefined, 'the peer to see the end');
        expect(h.peerSaw()).toBe('eof');
      });
    });

    describe('peer reset', () => {
      specWithReset(
        'closes as lost with an ECONNRESET cause and fails data$ with that error',
        async () => {
          const h = await open();
          const c = h.connection;
          const reading = read(c.data$);
          h.peerWrite('before');
          await until(h, () => reading.chunks.length > 0, 'the first chunk');
          h.peerReset();
          const reason = await closedReason(h);
          expect(reason.type).toBe('lost');
          const error = (reason as Extract<CloseReason, { type: 'lost' }>).error;
          expect(error).toBeInstanceOf(ConnectionLostError);
          expect(errorCode(error.cause)).toBe('ECONNRESET');
          expect(error.message).toBe('Connection lost: ECONNRESET');
          expect(reading.error).toBe(error);
          expect(reading.text()).toBe('before');
          expect(c.write('x')).toBe(false);
        },
      );
    });

    describe('end', () => {
      spec(
        'flushes all pending output, sends FIN, and closes done when the peer answers',
        async () => {
          const h = await open({ ...ROOMY, closeTimeout: Infinity });
          const c = h.connection;
          read(c.data$);
          h.peerPauseReading();
          const output = await fillUntilPending(h);
          c.end();
          expect(c.state).toBe('ending');
          expect(c.write('ignored')).toBe(false);
          h.peerResumeReading();
          await until(h, () => h.peerSaw() !== undefined, 'the peer to see the end');
          expect(h.peerSaw()).toBe('eof');
          expect(h.received().equals(output)).toBe(true);
          expect(c.state).toBe('ending');
          h.peerEnd();
          expect(await closedReason(h)).toEqual({ type: 'done' });
        },
      );

      spec('delivers nothing that arrives after end()', async () => {
        const h = await open({ closeTimeout: Infinity });
        const c = h.connection;
        const reading = read(c.data$);
        h.peerWrite('first');
        await until(h, () => reading.text() === 'first', 'the first chunk');
        c.end();
        h.peerWrite('too late');
        await until(h, () => h.peerSaw() !== undefined, 'the peer to see the end');
        await settleTimes(h, 3);
        h.peerEnd();
        expect(await closedReason(h)).toEqual({ type: 'done' });
        expect(reading.text()).toBe('first');
        expect(reading.completed).toBe(true);
      });

      spec('ignores write() and returns false after end()', async () => {
        const h = await open({ closeTimeout: Infinity });
        const c = h.connection;
        c.write('kept');
        c.end();
        expect(c.write('dropped')).toBe(false);
        await until(h, () => h.peerSaw() !== undefined, 'the peer to see the end');
        expect(h.received().toString()).toBe('kept');
        expect(c.pendingWriteBytes).toBe(0);
      });
    });

    describe('closeTimeout', () => {
      spec(
        'closes done closeTimeout after the flush when the peer never sends its FIN',
        async () => {
          const h = await open({ closeTimeout: 1000 });
          const c = h.connection;
          read(c.data$);
          c.write('bye');
          c.end();
          await until(h, () => h.peerSaw() !== undefined, 'the peer to see the end');
          await settleTimes(h, 3);
          await h.advance(999);
          await settleTimes(h, 3);
          expect(c.state).toBe('ending');
          await h.advance(1);
          expect(await closedReason(h)).toEqual({ type: 'done' });
          expect(h.received().toString()).toBe('bye');
        },
      );
    });

    describe('half-close', () => {
      spec('closes done when the peer sends FIN first and end() follows', async () => {
        const h = await open();
        const c = h.connection;
        const reading = read(c.data$);
        h.peerEnd();
        await until(h, () => reading.completed, 'data$ to complete at the FIN');
        expect(c.state).toBe('readClosed');
        c.write('answer');
        c.end();
        expect(await closedReason(h)).toEqual({ type: 'done' });
        await until(h, () => h.peerSaw() !== undefined, 'the peer to see the end');
        expect(h.peerSaw()).toBe('eof');
        expect(h.received().toString()).toBe('answer');
      });

      spec("closes done when end() comes first and the peer's FIN follows", async () => {
        const h = await open({ closeTimeout: Infinity });
        const c = h.connection;
        const reading = read(c.data$);
        c.end();
        await until(h, () => h.peerSaw() !== undefined, 'the peer to see the end');
        expect(h.peerSaw()).toBe('eof');
        expect(c.state).toBe('ending');
        h.peerEnd();
        expect(await closedReason(h)).toEqual({ type: 'done' });
        expect(reading.completed).toBe(true);
      });
    });

    describe('abort', () => {
      spec(
        'closes as aborted without an error, completes data$, and the peer sees a reset',
        async () => {
          const h = await open();
          const c = h.connection;
          const reading = read(c.data$);
          c.write('sent');
          // Read first: a Node peer that gets data and the RST in one read reports EOF (libuv
          // treats the hang-up after a partial read as the end of the stream).
          await receivedAtLeast(h, 4);
          await settleTimes(h, 2);
          c.abort();
          expect(await closedReason(h)).toEqual({ type: 'aborted' });
          expect(reading.completed).toBe(true);
          expect(reading.error).toBeUndefined();
          await until(h, () => h.peerSaw() !== undefined, 'the peer to see the close');
          expect(h.peerSaw()).toBe(canReset ? 'reset' : 'eof');
        },
      );

      spec('drops the output still pending', async () => {
        const h = await open();
        const c = h.connection;
        c.write('sent');
        await receivedAtLeast(h, 4);
        // A second write in one turn waits, corked, in pendingWriteBytes until the turn ends.
        c.write('x');
        c.write('dropped');
        expect(c.pendingWriteBytes).toBeGreaterThan(0);
        c.abort();
        expect(await closedReason(h)).toEqual({ type: 'aborted' });
        expect(c.pendingWriteBytes).toBe(0);
        await until(h, () => h.peerSaw() !== undefined, 'the peer to see the close');
        expect(h.received().toString()).not.toContain('dropped');
      });

      spec('reports no pending output from the moment abort() drops it', async () => {
        const h = await open();
        const c = h.connection;
        c.write('sent');
        c.write('dropped');
        expect(c.pendingWriteBytes).toBeGreaterThan(0);
        c.abort();
        expect(['closing', 'closed']).toContain(c.state);
        expect(c.pendingWriteBytes).toBe(0);
        expect(c.write('more')).toBe(false);
        expect(c.pendingWriteBytes).toBe(0);
      });

      spec('closes as aborted with the given error and fails data$ with it', async () => {
        const h = await open();
        const c = h.connection;
        const reading = read(c.data$);
        const error = new InvalidFrameError('bad frame');
        c.abort(error);
        expect(await closedReason(h)).toEqual({ type: 'aborted', error });
        expect(reading.error).toBe(error);
      });

      spec(
        'closes exactly once, as aborted, when abort() follows end() in the same turn',
        async () => {
          const h = await open(ROOMY);
          const c = h.connection;
          const reading = read(c.data$);
          c.write('maybe');
          c.end();
          c.abort();
          expect(await closedReason(h)).toEqual({ type: 'aborted' });
          await settleTimes(h, 5);
          expect(closes).toEqual([{ type: 'aborted' }]);
          expect(reading.completed).toBe(true);
        },
      );
    });

    describe('write', () => {
      spec('returns false and changes nothing after the close', async () => {
        const h = await open();
        const c = h.connection;
        c.write('before');
        await receivedAtLeast(h, 6);
        c.abort();
        await closedReason(h);
        expect(c.write('after')).toBe(false);
        expect(c.pendingWriteBytes).toBe(0);
        await settleTimes(h, 3);
        expect(h.received().toString()).toBe('before');
        expect(c.state).toBe('closed');
      });

      spec('returns true one byte below the mark and false at exactly the mark', async () => {
        const h = await open({ writeHighWaterMark: MARK });
        const c = h.connection;
        const drains: number[] = [];
        c.drain$.subscribe(() => drains.push(c.pendingWriteBytes));
        // One turn: a first write may go straight to the kernel; the rest wait, corked, in
        // pendingWriteBytes until the turn ends.
        let written = 0;
        while (c.pendingWriteBytes < MARK - 1 && written < 10 * MARK) {
          expect(c.write('x')).toBe(true);
          written += 1;
        }
        expect(c.pendingWriteBytes).toBe(MARK - 1);
        expect(c.write('x')).toBe(false);
        written += 1;
        expect(c.pendingWriteBytes).toBe(MARK);
        expect(c.write('y')).toBe(false);
        written += 1;
        await receivedAtLeast(h, written);
        await until(h, () => drains.length > 0, 'drain$');
        expect(drains).toHaveLength(1);
        expect(drains[0]).toBeLessThan(MARK);
        expect(h.received().toString()).toBe(`${'x'.repeat(written - 1)}y`);
        expect(c.write('z')).toBe(true);
      });

      spec("returns whether pending output stays below the mark, by Node's rule", async () => {
        const h = await open(BLOCKING);
        const c = h.connection;
        h.peerPauseReading();
        for (let i = 0; i < 64; i += 1) {
          const accepted = c.write(Buffer.alloc(FILL_CHUNK, i));
          expect(accepted).toBe(c.pendingWriteBytes < MARK);
          if (!accepted) {
            break;
          }
          await h.settle();
        }
        expect(c.pendingWriteBytes).toBeGreaterThanOrEqual(MARK);
      });
    });

    describe('pause and resume', () => {
      spec('pause() holds delivery back and resume() delivers what waited, in order', async () => {
        const h = await open();
        const c = h.connection;
        const reading = read(c.data$);
        h.peerWrite('one');
        await until(h, () => reading.text() === 'one', 'the first chunk');
        c.pause();
        h.peerWrite('two');
        await settleTimes(h, 5);
        expect(reading.text()).toBe('one');
        c.resume();
        await until(h, () => reading.text() === 'onetwo', 'the held chunk');
        h.peerWrite('three');
        await until(h, () => reading.text() === 'onetwothree', 'the next chunk');
      });
    });

    describe('writeHighWaterMark', () => {
      spec(
        'stops reading while pending output is at or above the mark, and drain$ resumes it',
        async () => {
          const h = await open(BLOCKING);
          const c = h.connection;
          const reading = read(c.data$);
          h.peerPauseReading();
          const output = await fillUntilPending(h);
          expect(c.pendingWriteBytes).toBeGreaterThanOrEqual(MARK);
          // Subscribed once blocked: while filling, output may block and drain again.
          let hasDrained = false;
          c.drain$.subscribe(() => (hasDrained = true));
          expect(c.write('tail')).toBe(false);
          h.peerWrite('while blocked');
          await settleTimes(h, 5);
          expect(reading.chunks).toEqual([]);
          expect(hasDrained).toBe(false);
          h.peerResumeReading();
          await until(h, () => hasDrained, 'drain$');
          await until(h, () => reading.text() === 'while blocked', 'the held chunk');
          const all = await receivedAtLeast(h, output.length + 4);
          expect(all.equals(Buffer.concat([output, Buffer.from('tail')]))).toBe(true);
          expect(c.state).toBe('open');
        },
      );

      spec('reads again and emits drain$ whenever pending output is below the mark', async () => {
        const mark = 64 * KIB;
        const h = await open({ writeHighWaterMark: mark });
        const c = h.connection;
        const reading = read(c.data$);
        let drains = 0;
        c.drain$.subscribe(() => (drains += 1));
        h.peerPauseReading();
        // One turn: the first write may go out at once, the others wait corked; the fifth
        // reaches the mark.
        const results = bulk(5, 16 * KIB).map((chunk) => c.write(chunk));
        expect(results[4]).toBe(false);
        await settleTimes(h, 10);
        h.peerWrite('ping');
        await settleTimes(h, 10);
        if (c.pendingWriteBytes >= mark) {
          expect(reading.chunks).toEqual([]);
        } else {
          // Below the mark, write() says true again: reading must have resumed as well.
          expect(drains).toBe(1);
          expect(reading.text()).toBe('ping');
        }
        h.peerResumeReading();
        await until(h, () => reading.text() === 'ping', 'the chunk');
        await receivedAtLeast(h, 5 * 16 * KIB);
        expect(drains).toBe(1);
      });
    });

    describe('drainTimeout', () => {
      spec('aborts with DrainTimeoutError when the peer never reads', async () => {
        const h = await open({ ...BLOCKING, drainTimeout: 1000 });
        const c = h.connection;
        const reading = read(c.data$);
        h.peerPauseReading();
        await fillUntilPending(h);
        await h.advance(999);
        await settleTimes(h, 2);
        expect(c.state).toBe('open');
        await h.advance(1);
        const reason = await closedReason(h);
        expect(reason.type).toBe('aborted');
        const error = (reason as { error?: unknown }).error as DrainTimeoutError;
        expect(error).toBeInstanceOf(DrainTimeoutError);
        expect(error.timeout).toBe(1000);
        expect(error.pending).toBeGreaterThanOrEqual(MARK);
        expect(reading.error).toBe(error);
      });

      spec('does not abort a slow reader that drains in time', async () => {
        const h = await open({ ...BLOCKING, drainTimeout: 1000 });
        const c = h.connection;
        h.peerPauseReading();
        const output = await fillUntilPending(h);
        await h.advance(900);
        h.peerResumeReading();
        await receivedAtLeast(h, output.length);
        await until(h, () => c.pendingWriteBytes === 0, 'the output to drain');
        await h.advance(5000);
        await settleTimes(h, 2);
        expect(c.state).toBe('open');
      });
    });

    describe('maxPendingWriteBytes', () => {
      spec('aborts with WriteBufferFullError once pending output exceeds it', async () => {
        const h = await open({ writeHighWaterMark: MARK, maxPendingWriteBytes: 64 });
        const c = h.connection;
        const reading = read(c.data$);
        let writes = 0;
        while (c.state === 'open' && writes < 1000) {
          c.write('x');
          writes += 1;
        }
        expect(writes).toBeLessThan(1000);
        const reason = await closedReason(h);
        expect(reason.type).toBe('aborted');
        const error = (reason as { error?: unknown }).error as WriteBufferFullError;
        expect(error).toBeInstanceOf(WriteBufferFullError);
        expect(error.limit).toBe(64);
        expect(error.pending).toBe(65);
        expect(reading.error).toBe(error);
      });
    });

    describe('idleTimeout', () => {
      spec(
        'closes as timedOut (idle) when nothing is read or written; both restart it',
        async () => {
          const h = await open({ idleTimeout: 1000 });
          const c = h.connection;
          const reading = read(c.data$);
          await h.advance(600);
          h.peerWrite('ping');
          await until(h, () => reading.text() === 'ping', 'the chunk');
          await h.advance(600);
          expect(c.state).toBe('open');
          c.write('pong');
          await h.advance(999);
          await settleTimes(h, 2);
          expect(c.state).toBe('open');
          await h.advance(1);
          const reason = await closedReason(h);
          expect(reason).toEqual({ type: 'timedOut', error: new IdleTimeoutError(1000, 'idle') });
          expect((reason as { error: IdleTimeoutError }).error.kind).toBe('idle');
          expect(reading.error).toBeInstanceOf(IdleTimeoutError);
        },
      );

      spec('never fires with 0 or Infinity', async () => {
        for (const idleTimeout of [0, Infinity]) {
          const h = await open({ idleTimeout, readIdleTimeout: 0, writeIdleTimeout: Infinity });
          await h.advance(24 * 3600 * 1000);
          await settleTimes(h, 2);
          expect(h.connection.state).toBe('open');
          await release();
        }
      });
    });

    describe('readIdleTimeout', () => {
      spec(
        'closes as timedOut (read); a received chunk restarts it, a write does not',
        async () => {
          const h = await open({ readIdleTimeout: 1000 });
          const c = h.connection;
          const reading = read(c.data$);
          await h.advance(600);
          h.peerWrite('heartbeat');
          await until(h, () => reading.text() === 'heartbeat', 'the chunk');
          await h.advance(600);
          c.write('ours');
          await h.advance(399);
          await settleTimes(h, 2);
          expect(c.state).toBe('open');
          await h.advance(1);
          const reason = await closedReason(h);
          expect(reason).toEqual({ type: 'timedOut', error: new IdleTimeoutError(1000, 'read') });
          expect((reason as { error: IdleTimeoutError }).error.kind).toBe('read');
        },
      );
    });

    describe('writeIdleTimeout', () => {
      spec(
        'closes as timedOut (write); a write restarts it, a received chunk does not',
        async () => {
          const h = await open({ writeIdleTimeout: 1000 });
          const c = h.connection;
          const reading = read(c.data$);
          await h.advance(600);
          c.write('ours');
          await h.advance(600);
          h.peerWrite('theirs');
          await until(h, () => reading.text() === 'theirs', 'the chunk');
          await h.advance(399);
          await settleTimes(h, 2);
          expect(c.state).toBe('open');
          await h.advance(1);
          const reason = await closedReason(h);
          expect(reason).toEqual({ type: 'timedOut', error: new IdleTimeoutError(1000, 'write') });
          expect((reason as { error: IdleTimeoutError }).error.kind).toBe('write');
        },
      );
    });

    describe('data$', () => {
      spec(
        'keeps delivering to the other readers when one throws, and the connection keeps working',
        async () => {
          const h = await open();
          const c = h.connection;
          const reported: unknown[] = [];
          const previous = config.onUnhandledError;
          config.onUnhandledError = (error: unknown) => reported.push(error);
          try {
            const thrown: string[] = [];
            c.data$.subscribe((chunk) => {
              thrown.push(chunk.toString());
              throw new Error(`reader failed on ${chunk.toString()}`);
            });
            const other = read(c.data$);
            h.peerWrite('one');
            await until(h, () => other.text() === 'one', 'the first chunk');
            h.peerWrite('two');
            await until(h, () => other.text() === 'onetwo', 'the second chunk');
            // RxJS reports a throwing subscriber asynchronously and leaves it subscribed.
            await until(h, () => reported.length === thrown.length, 'the reported errors');
            expect(thrown.join('')).toBe('onetwo');
            expect(reported).toEqual(thrown.map((chunk) => new Error(`reader failed on ${chunk}`)));
            expect(c.state).toBe('open');
            expect(c.write('still here')).toBe(true);
            expect((await receivedAtLeast(h, 10)).toString()).toBe('still here');
          } finally {
            config.onUnhandledError = previous;
          }
        },
      );

      spec(
        'keeps bytes that arrive between subscribers for the next one: none lost or duplicated',
        async () => {
          const h = await open();
          const c = h.connection;
          const first = read(c.data$);
          h.peerWrite('a');
          await until(h, () => first.text() === 'a', 'the first chunk');
          first.subscription.unsubscribe();
          h.peerWrite('b');
          await settleTimes(h, 3);
          h.peerWrite('c');
          await settleTimes(h, 3);
          expect(first.text()).toBe('a');
          const second = read(c.data$);
          await until(h, () => second.text() === 'bc', 'the held chunks');
          h.peerWrite('d');
          await until(h, () => second.text() === 'bcd', 'the next chunk');
          expect(first.text() + second.text()).toBe('abcd');
        },
      );
    });

    describe('send', () => {
      spec('fails with ConnectionClosedError after end(), and writes nothing', async () => {
        const h = await open({ closeTimeout: Infinity });
        const c = h.connection;
        c.end();
        await expect(lastValueFrom(c.send(of('late')))).rejects.toBeInstanceOf(
          ConnectionClosedError,
        );
        await until(h, () => h.peerSaw() !== undefined, 'the peer to see the end');
        expect(h.received().length).toBe(0);
      });

      spec('completes an Observable source once its bytes are flushed', async () => {
        const h = await open({ maxPendingWriteBytes: 128 * MIB });
        const c = h.connection;
        const chunks = bulk(32, FILL_CHUNK);
        h.peerPauseReading();
        let pendingAtCompletion: number | undefined;
        c.send(of(...chunks)).subscribe({
          complete: () => (pendingAtCompletion = c.pendingWriteBytes),
          error: () => undefined,
        });
        await settleTimes(h, 5);
        // 8 MiB is more than a kernel takes from a peer that does not read.
        expect(c.pendingWriteBytes).toBeGreaterThan(0);
        expect(pendingAtCompletion).toBeUndefined();
        h.peerResumeReading();
        await until(h, () => pendingAtCompletion !== undefined, 'send() to complete');
        expect(pendingAtCompletion).toBe(0);
        const output = Buffer.concat(chunks);
        expect((await receivedAtLeast(h, output.length)).equals(output)).toBe(true);
      });

      spec(
        'pulls an AsyncIterable only while below the mark, so at most one chunk more is pending',
        async () => {
          const mark = 64 * KIB;
          const size = 16 * KIB;
          const count = 512;
          const h = await open({ writeHighWaterMark: mark });
          const c = h.connection;
          h.peerPauseReading();
          const atPull: number[] = [];
          async function* source(): AsyncGenerator<Buffer> {
            for (let i = 0; i < count; i += 1) {
              atPull.push(c.pendingWriteBytes);
              yield Buffer.alloc(size, i % 251);
            }
          }
          let completed = false;
          c.send(source()).subscribe({
            complete: () => (completed = true),
            error: () => undefined,
          });
          // The peer does not read: pulling stops once the kernel (or the wire) is full.
          let pulled = -1;
          let unchanged = 0;
          await until(
            h,
            () => {
              unchanged = atPull.length === pulled ? unchanged + 1 : 0;
              pulled = atPull.length;
              return unchanged >= 10;
            },
            'the source to stop being pulled',
          );
          expect(pulled).toBeLessThan(count);
          expect(c.pendingWriteBytes).toBeLessThanOrEqual(mark + size);
          let maxPending = 0;
          h.peerResumeReading();
          await until(
            h,
            () => {
              maxPending = Math.max(maxPending, c.pendingWriteBytes);
              return completed;
            },
            'send() to complete',
          );
          expect(maxPending).toBeLessThanOrEqual(mark + size);
          expect(atPull).toHaveLength(count);
          expect(Math.max(...atPull)).toBeLessThan(mark);
          const output = Buffer.concat(bulk(count, size));
          expect((await receivedAtLeast(h, output.length)).equals(output)).toBe(true);
        },
      );

      spec('sends a Node Readable to its end, in order, and completes', async () => {
        const h = await open({ writeHighWaterMark: 64 * KIB });
        const c = h.connection;
        const chunks = bulk(64, 16 * KIB);
        let completed = false;
        c.send(Readable.from(chunks)).subscribe({
          complete: () => (completed = true),
          error: () => undefined,
        });
        await until(h, () => completed, 'send() to complete');
        const output = Buffer.concat(chunks);
        expect((await receivedAtLeast(h, output.length)).equals(output)).toBe(true);
        expect(c.state).toBe('open');
      });
    });

    describe('options', () => {
      it.each(TIMEOUT_NAMES)(
        'rejects a finite %s above 2^31-1 ms with a RangeError',
        async (option) => {
          const options: ConnectionOptions = { [option]: 2 ** 31 };
          await expect(makeHarness(options)).rejects.toThrow(RangeError);
        },
      );

      spec('accepts 2^31-1 ms and Infinity for every timeout', async () => {
        for (const value of [2 ** 31 - 1, Infinity]) {
          const options: ConnectionOptions = Object.fromEntries(
            TIMEOUT_NAMES.map((option) => [option, value]),
          );
          const h = await open(options);
          expect(h.connection.state).toBe('open');
          await release();
        }
      });
    });
  });

  // A misspelt known defect would silently turn back into an ordinary case.
  const unknown = Object.keys(knownDefects).filter((title) => !titles.has(title));
  if (unknown.length > 0) {
    throw new Error(`Known defects name no case of the contract: ${unknown.join('; ')}`);
  }
}

/* The real-socket harness, shared by the TCP and Unix runners. */

/** Moves a `VirtualTimeScheduler` on by `ms`, running what is due on the way. */
export function advanceScheduler(scheduler: VirtualTimeScheduler, ms: number): void {
  const target = scheduler.now() + ms;
  scheduler.maxFrames = target;
  try {
    scheduler.flush();
  } finally {
    scheduler.maxFrames = Infinity;
  }
  scheduler.frame = target;
}

export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** What a peer socket has read so far, and how its reading ended. */
export interface PeerRecord {
  /** Every byte the peer has read so far, in order. */
  received(): Buffer;
  /** How the peer's reading has ended, or `undefined` while it has not. */
  peerSaw(): PeerSaw | undefined;
}

/**
 * Starts recording what `socket` (the peer's end) reads and whether its reading ends with our FIN
 * or our RST. Called before the peer connects, so that no byte and no reset goes unseen.
 */
export function recordPeer(socket: NodeJS.EventEmitter): PeerRecord {
  const chunks: Buffer[] = [];
  let saw: PeerSaw | undefined;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('end', () => (saw ??= 'eof'));
  socket.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ECONNRESET') {
      saw ??= 'reset';
    }
  });
  return { received: () => Buffer.concat(chunks), peerSaw: () => saw };
}

/**
 * The {@link Harness} of a real-socket connection whose peer is a connected Node socket: the peer
 * writes, ends and pauses through `peer` (a TLS socket for the TLS runners), resets through `tcp`
 * (the TCP socket under it, or `peer` itself), and the connection's timers run on `scheduler`.
 * `close` aborts the connection if it is still open, waits for it to close, destroys both sockets,
 * then calls `release` (to stop listening, remove a temporary directory).
 */
export function peerSocketHarness(parts: {
  readonly connection: Connection;
  readonly peer: Socket;
  readonly tcp: Socket;
  readonly record: PeerRecord;
  readonly scheduler: VirtualTimeScheduler;
  readonly release: () => void;
}): Harness {
  const { connection, peer, tcp, record, scheduler, release } = parts;
  const h: Harness = {
    connection,
    peerWrite: (data) => void peer.write(data),
    peerEnd: () => void peer.end(),
    peerReset: () => void tcp.resetAndDestroy(),
    peerPauseReading: () => void peer.pause(),
    peerResumeReading: () => void peer.resume(),
    received: record.received,
    peerSaw: record.peerSaw,
    advance: async (ms) => {
      advanceScheduler(scheduler, ms);
      await nextTurn();
    },
    settle: nextTurn,
    close: async () => {
      if (connection.state !== 'closed') {
        connection.abort();
        await until(h, () => connection.state === 'closed', 'the connection to close');
      }
      peer.destroy();
      tcp.destroy();
      release();
    },
  };
  return h;
}

/**
 * A connection accepted by rxnet's `listen` on loopback TCP (port 0) or on a Unix socket in a
 * temporary directory, with a raw Node socket (`allowHalfOpen: true`) as the peer, so each case
 * controls FIN, RST and reading exactly. Timers run on a `VirtualTimeScheduler`.
 */
export function socketHarness(kind: 'tcp' | 'unix'): MakeHarness {
  return async (options) => {
    const scheduler = new VirtualTimeScheduler();
    const dir = kind === 'unix' ? mkdtempSync(join(tmpdir(), 'rxnet-conformance-')) : undefined;
    const path = dir === undefined ? '' : join(dir, 'conformance.sock');
    let peer: Socket | undefined;
    let subscription: Subscription | undefined;
    try {
      const listener = await startListening(
        kind === 'tcp' ? 'tcp:port=0:interface=127.0.0.1' : `unix:${path}`,
        { ...options, scheduler },
      );
      subscription = listener.subscription;
      peer =
        kind === 'tcp'
          ? netConnect({ host: '127.0.0.1', port: listener.port, allowHalfOpen: true })
          : netConnect({ path, allowHalfOpen: true });
      const socket = peer;
      const record = recordPeer(socket);
      await once(socket, 'connect');
      const connection = await listener.accepted(0);
      const listening = subscription;
      return peerSocketHarness({
        connection,
        peer: socket,
        tcp: socket,
        record,
        scheduler,
        release: () => {
          listening.unsubscribe();
          if (dir !== undefined) {
            rmSync(dir, { recursive: true, force: true });
          }
        },
      });
    } catch (error: unknown) {
      peer?.destroy();
      subscription?.unsubscribe();
      if (dir !== undefined) {
        rmSync(dir, { recursive: true, force: true });
      }
      throw error;
    }
  };
}

/**
 * A connection accepted by rxnet's `listen` on an `ssl:` endpoint (loopback, port 0), with Node's
 * TLS client as the peer, over a raw TCP socket the harness keeps so that `peerReset` can send a
 * real RST under the TLS layer. Both ends allow half-open use: the peer's `end()` sends
 * close_notify then FIN, and what it reads ends at ours.
 */
export function tlsHarness(files: {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}): MakeHarness {
  return (options) =>
    tlsPeerHarness(
      `ssl:0:interface=127.0.0.1:privateKey=${files.key}:certKey=${files.cert}`,
      readFileSync(files.ca),
      options,
    );
}

/**
 * A connection accepted by rxnet's `listen` on `endpoint` (loopback, port 0), with Node's TLS
 * client as the peer, over a raw TCP socket kept for `peerReset` (see {@link tlsHarness}).
 * Without `upgrade`, the endpoint does TLS itself and the connection is taken once the peer's
 * handshake is done; with it, the endpoint is plain, and `upgrade` starts the server side of the
 * handshake on the accepted connection, which must have finished before the harness is returned.
 */
export async function tlsPeerHarness(
  endpoint: string,
  ca: Buffer,
  options: ConnectionOptions,
  upgrade?: (connection: Connection) => Promise<unknown>,
): Promise<Harness> {
  const scheduler = new VirtualTimeScheduler();
  let raw: Socket | undefined;
  let subscription: Subscription | undefined;
  try {
    const listener = await startListening(endpoint, { ...options, scheduler });
    subscription = listener.subscription;
    raw = netConnect({ host: '127.0.0.1', port: listener.port, allowHalfOpen: true });
    await once(raw, 'connect');
    const tcp = raw;
    tcp.on('error', () => undefined);
    // A plain connection is accepted before its handshake; a TLS endpoint's only after it.
    let plain: Connection | undefined;
    let upgraded: Promise<unknown> | undefined;
    if (upgrade !== undefined) {
      plain = await listener.accepted(0);
      upgraded = upgrade(plain);
    }
    const socket = tlsConnect({ socket: tcp, servername: 'localhost', ca });
    const record = recordPeer(socket);
    await once(socket, 'secureConnect');
    await upgraded;
    const connection = plain ?? (await listener.accepted(0));
    const listening = subscription;
    return peerSocketHarness({
      connection,
      peer: socket,
      tcp,
      record,
      scheduler,
      release: () => listening.unsubscribe(),
    });
  } catch (error: unknown) {
    raw?.destroy();
    subscription?.unsubscribe();
    throw error;
  }
}

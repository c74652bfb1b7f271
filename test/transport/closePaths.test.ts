/**
 * Every path into a close ends in exactly one close: random sequences of `end()`, `abort()`,
 * `abort(err)`, the peer's FIN, RST and writes, local writes, timeouts and unsubscribing `data$`,
 * in one turn or across turns, against the in-memory connection and against a real socket.
 *
 * The property, for each sequence: `closed$` emits exactly once, `data$` ends at most once for a
 * reader that left and exactly once for one that stayed, nothing is delivered after `end()` or
 * `abort()`, the state ends `closed`, a TCP connection's socket is destroyed and its peer sees
 * the close, and nothing escapes as an uncaught exception. A connection that has decided to close
 * (`closing`) must get there with no further help: that is the leak of `end()` then `abort()` in one
 * turn, where Node's reset failed with EINVAL and `'close'` never came.
 */
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { VirtualTimeScheduler, type Subscription } from 'rxjs';
import { InvalidFrameError } from '../../src/errors';
import { memoryConnection, type MemoryConnection } from '../../src/testing/memoryConnection';
import { fromDuplex } from '../../src/transport/fromDuplex';
import type { CloseReason, Connection } from '../../src/types';
import { uncaughtRecorder } from '../helpers/uncaught';

const OPS = [
  'end',
  'abort',
  'abortWithError',
  'peerFin',
  'peerRst',
  'peerWrite',
  'localWrite',
  'idleTimeout',
  'closeTimeout',
  'halfOpenTimeout',
  'unsubscribe',
] as const;
type Op = (typeof OPS)[number];

/** Distinct timeouts, so advancing past one does not always pass another. */
const TIMEOUTS = { idleTimeout: 100, closeTimeout: 30, halfOpenTimeout: 50 } as const;
const LONGEST_TIMEOUT = Math.max(...Object.values(TIMEOUTS));

/** How long a real socket may take to close once it has decided to. */
const CLOSE_BOUND_MS = 2000;

/** Moves virtual time forward by `ms`, running every timer due by then. */
function advance(scheduler: VirtualTimeScheduler, ms: number): void {
  const target = scheduler.frame + ms;
  scheduler.maxFrames = target;
  scheduler.flush();
  scheduler.frame = target;
}

/** What one operation acts on: the connection under test, its observers and its clock. */
interface Target {
  readonly connection: Connection;
  readonly observed: Observed;
  readonly scheduler: VirtualTimeScheduler;
  readonly abortError: InvalidFrameError;
}

/** The peer's side of the operations, which each transport plays its own way. */
interface Peer {
  fin(): void;
  rst(): void;
  write(): void;
}

/** Carries out one operation of a generated sequence. */
function apply(op: Op, { connection, observed, scheduler, abortError }: Target, peer: Peer): void {
  if (op === 'end' || op === 'abort' || op === 'abortWithError') observed.stopCalled = true;
  switch (op) {
    case 'end':
      connection.end();
      break;
    case 'abort':
      connection.abort();
      break;
    case 'abortWithError':
      connection.abort(abortError);
      break;
    case 'peerFin':
      peer.fin();
      break;
    case 'peerRst':
      peer.rst();
      break;
    case 'peerWrite':
      peer.write();
      break;
    case 'localWrite':
      connection.write('to the peer');
      break;
    case 'idleTimeout':
    case 'closeTimeout':
    case 'halfOpenTimeout':
      advance(scheduler, TIMEOUTS[op] + 1);
      break;
    case 'unsubscribe':
      observed.unsubscribe();
      break;
  }
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** What a connection's observers saw during one run. */
class Observed {
  readonly reasons: CloseReason[] = [];
  /** Terminations (complete or error) of the reader that `unsubscribe` removes. */
  leavingEnds = 0;
  /** Terminations of the reader that stays, when there is one. */
  stayingEnds = 0;
  /** Chunks delivered after `end()` or `abort()` was called. */
  lateChunks = 0;
  stopCalled = false;
  private readonly leaving: Subscription;

  constructor(
    readonly connection: Connection,
    readonly staying: boolean,
  ) {
    connection.closed$.subscribe((reason) => this.reasons.push(reason));
    this.leaving = connection.data$.subscribe({
      next: () => this.chunk(),
      error: () => (this.leavingEnds += 1),
      complete: () => (this.leavingEnds += 1),
    });
    if (staying) {
      connection.data$.subscribe({
        next: () => this.chunk(),
        error: () => (this.stayingEnds += 1),
        complete: () => (this.stayingEnds += 1),
      });
    }
  }

  unsubscribe(): void {
    this.leaving.unsubscribe();
  }

  private chunk(): void {
    if (this.stopCalled) this.lateChunks += 1;
  }

  /** The checks common to both transports, once the connection has closed. */
  expectClosedOnce(): void {
    const { connection } = this;
    expect(connection.state).toBe('closed');
    expect(this.reasons).toHaveLength(1);
    expect(this.leavingEnds).toBeLessThanOrEqual(1);
    if (this.staying) expect(this.stayingEnds).toBe(1);
    expect(this.lateChunks).toBe(0);
    expect(connection.pendingWriteBytes).toBe(0);
    expect(connection.write('after close')).toBe(false);
    // Late subscribers see the same end, once and at once.
    const late: CloseReason[] = [];
    connection.closed$.subscribe((reason) => late.push(reason));
    expect(late).toEqual(this.reasons);
    let lateDataEnds = 0;
    connection.data$.subscribe({
      error: () => (lateDataEnds += 1),
      complete: () => (lateDataEnds += 1),
    });
    expect(lateDataEnds).toBe(1);
  }
}

const uncaught = uncaughtRecorder();
beforeAll(() => uncaught.install());
afterAll(() => uncaught.restore());

describe('every path into a close', () => {
  describe('memoryConnection', () => {
    const step = fc.record({ op: fc.constantFrom(...OPS), nextTurn: fc.boolean() });

    /** The close reasons an op may decide, when it is the op that closed the connection. */
    function expectedReasonTypes(op: Op | 'settle'): readonly CloseReason['type'][] {
      switch (op) {
        case 'abort':
        case 'abortWithError':
          return ['aborted'];
        case 'peerRst':
          return ['lost'];
        case 'end':
        case 'peerFin':
          return ['done'];
        case 'idleTimeout':
        case 'closeTimeout':
        case 'halfOpenTimeout':
        case 'settle':
          return ['done', 'timedOut'];
        default:
          return [];
      }
    }

    it('closes exactly once, whatever the order of end, abort, errors, timeouts and the peer', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(step, { minLength: 1, maxLength: 6 }),
          fc.boolean(),
          async (steps, staying) => {
            const scheduler = new VirtualTimeScheduler();
            const connection: MemoryConnection = memoryConnection({
              ...TIMEOUTS,
              scheduler,
              peerAnswersFin: false,
            });
            const observed = new Observed(connection, staying);
            const abortError = new InvalidFrameError('aborted by the test');
            let closedBy: Op | 'settle' | undefined;

            for (const { op, nextTurn: waits } of steps) {
              apply(
                op,
                { connection, observed, scheduler, abortError },
                {
                  fin: () => connection.closeFromPeer('clean'),
                  rst: () => connection.closeFromPeer('reset'),
                  write: () => connection.receive('from the peer'),
                },
              );
              // The scripted peer is synchronous: a decided close is carried out at once.
              expect(connection.state).not.toBe('closing');
              if (connection.state === 'closed') closedBy ??= op;
              if (waits) await nextTurn();
            }

            // A peer that answers with FIN, and time passing: an open connection ends too.
            for (let round = 0; round < 3 && connection.state !== 'closed'; round += 1) {
              connection.closeFromPeer('clean');
              advance(scheduler, LONGEST_TIMEOUT + 1);
              closedBy ??= 'settle';
            }
            await nextTurn();

            observed.expectClosedOnce();
            const [reason] = observed.reasons;
            expect(expectedReasonTypes(closedBy!)).toContain(reason!.type);
            if (closedBy === 'abortWithError')
              expect(reason).toEqual({ type: 'aborted', error: abortError });
            if (closedBy === 'abort') expect(reason).toEqual({ type: 'aborted' });
            expect(connection.closeReason).toBe(reason);
            expect(uncaught.errors).toEqual([]);
          },
        ),
        {
          numRuns: 300,
          examples: [
            [
              [
                { op: 'end', nextTurn: false },
                { op: 'abort', nextTurn: false },
              ],
              false,
            ],
            [
              [
                { op: 'end', nextTurn: false },
                { op: 'abortWithError', nextTurn: false },
              ],
              true,
            ],
          ],
        },
      );
    });
  });

  describe('fromDuplex over loopback TCP', () => {
    let server: Server;
    let port: number;
    const accepted: Socket[] = [];
    const acceptWaiters: ((socket: Socket) => void)[] = [];

    beforeAll(async () => {
      // The same server options as listen(): half-open, and paused until data$ is subscribed.
      server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
        const waiter = acceptWaiters.shift();
        if (waiter !== undefined) waiter(socket);
        else accepted.push(socket);
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as { port: number }).port;
    });

    afterAll(async () => {
      // Bounded: close() waits for every accepted socket, and a leaked one never closes.
      await within(new Promise((resolve) => server.close(resolve)), 'the server to close').catch(
        () => undefined,
      );
    });

    function nextAccepted(): Promise<Socket> {
      const socket = accepted.shift();
      if (socket !== undefined) return Promise.resolve(socket);
      return new Promise((resolve) => acceptWaiters.push(resolve));
    }

    /** A bounded wait, so a stuck close fails the run with a message rather than hanging it. */
    function within<T>(promise: Promise<T>, what: string, ms = CLOSE_BOUND_MS): Promise<T> {
      let timer: NodeJS.Timeout | undefined;
      return Promise.race([
        promise,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
        }),
      ]).finally(() => clearTimeout(timer));
    }

    /** Turns: none; the next macrotask; or a few milliseconds, so the peer's packets arrive first. */
    const gap = fc.constantFrom('same', 'nextTurn', 'io');
    const step = fc.record({ op: fc.constantFrom(...OPS), gap });

    it('closes exactly once, destroys the socket and lets the peer see the close', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(step, { minLength: 1, maxLength: 6 }),
          fc.boolean(),
          async (steps, staying) => {
            const peer = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
            // Resets are part of the game; an 'error' without a listener would crash the process.
            peer.on('error', () => undefined);
            peer.on('data', () => undefined);
            // Not once(): it rejects on the 'error' that a reset brings.
            const peerClosed = new Promise<void>((resolve) => peer.once('close', () => resolve()));
            const [socket] = await Promise.all([nextAccepted(), once(peer, 'connect')]);
            const scheduler = new VirtualTimeScheduler();
            const connection = fromDuplex(
              socket,
              {
                id: 1,
                local: { _tag: 'MemoryAddress', name: 'server' },
                remote: { _tag: 'MemoryAddress', name: 'peer' },
              },
              { ...TIMEOUTS, scheduler },
            );
            const observed = new Observed(connection, staying);
            const closed = new Promise<void>((resolve) =>
              connection.closed$.subscribe({ complete: resolve }),
            );
            const abortError = new InvalidFrameError('aborted by the test');
            try {
              for (const { op, gap: wait } of steps) {
                apply(
                  op,
                  { connection, observed, scheduler, abortError },
                  {
                    fin: () => {
                      if (!peer.writableEnded && !peer.destroyed) peer.end();
                    },
                    rst: () => {
                      // Node cannot reset a socket whose FIN is queued either (EINVAL, and then no
                      // 'close' ever): after its FIN the peer can only destroy.
                      if (peer.destroyed) return;
                      if (peer.writableEnded) peer.destroy();
                      else peer.resetAndDestroy();
                    },
                    write: () => {
                      if (peer.writable) peer.write('from the peer');
                    },
                  },
                );
                if (wait === 'nextTurn') await nextTurn();
                // Not a sleep for an event: a pause of varying length, so packets interleave differently.
                else if (wait === 'io') await new Promise((resolve) => setTimeout(resolve, 2));
              }

              // A decided close needs no further help: this is where end() then abort() leaked.
              if (connection.state === 'closing')
                await within(closed, 'a closing connection did not close');

              // A peer that answers with FIN, and time passing: an open connection ends too.
              const deadline = Date.now() + CLOSE_BOUND_MS;
              while (connection.state !== 'closed' && Date.now() < deadline) {
                if (!peer.writableEnded && !peer.destroyed) peer.end();
                advance(scheduler, LONGEST_TIMEOUT + 1);
                await new Promise((resolve) => setTimeout(resolve, 2));
              }
              await within(closed, `the connection (state ${connection.state}) did not close`);
              await nextTurn();

              observed.expectClosedOnce();
              expect(['done', 'aborted', 'lost', 'timedOut']).toContain(observed.reasons[0]!.type);
              expect(socket.destroyed).toBe(true);
              // The peer sees our FIN or RST; it half-closes too, so its socket closes.
              if (!peer.writableEnded && !peer.destroyed) peer.end();
              await within(peerClosed, 'the peer did not see the close');
              expect(uncaught.errors).toEqual([]);
            } finally {
              peer.destroy();
              socket.destroy();
            }
          },
        ),
        {
          numRuns: 50,
          // The leak's own shapes: end() then abort() in one turn (closeOn, then a decoder's error).
          examples: [
            [
              [
                { op: 'end', gap: 'same' },
                { op: 'abort', gap: 'same' },
              ],
              false,
            ],
            [
              [
                { op: 'end', gap: 'same' },
                { op: 'abortWithError', gap: 'same' },
              ],
              true,
            ],
            [
              [
                { op: 'peerWrite', gap: 'io' },
                { op: 'end', gap: 'same' },
                { op: 'abort', gap: 'same' },
              ],
              true,
            ],
          ],
        },
      );
    });
  });
});

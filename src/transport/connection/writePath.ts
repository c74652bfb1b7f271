import type { Subscriber } from 'rxjs';
import { WriteBufferFullError } from '../../errors';
import type { Output } from '../../types';
import type { CloseHook, CoreConnection } from './core';
import { removeFrom } from './lists';
import { updateFlow } from './readPath';
import { startDrainTimer } from './timers';
import type { FlushCallback } from './transport';

/**
 * The write path: `write()`'s backpressure, corking per event-loop iteration, `drain$`, and `send()`.
 *
 * Backpressure follows Node: `write()` returns `false` once the pending output reaches the
 * high-water mark. Then reading pauses, and the transport tells the connection as each write
 * completes (`TransportSink.outputFlushed`) until the output is below the mark again. A write
 * carries no callback of its own for it (Node schedules a tick for every write with one), and no
 * empty "flush marker" write ever reaches the transport (on a message-oriented stream it would be
 * an empty frame on the wire). `send()` is in `send.ts`.
 */

/** Told each time pending output falls below the high-water mark after reaching it. @internal */
export interface DrainHook {
  drained(): void;
}

/**
 * Waits until the output pending when it started waiting is handed on: a `send()` whose source
 * completed. Writes complete in order, so that is when the connection's `flushedBytes` reaches
 * `flushTarget`, with no callback on any write. @internal
 */
export interface FlushWaiter {
  /** The connection's `flushedBytes` once the output pending at the start is out; set by `awaitFlush`. */
  flushTarget: number;
  allFlushed(): void;
}

/** Starts `waiter` waiting for the output now pending; `false` when there is none to wait for. */
export function awaitFlush(connection: CoreConnection, waiter: FlushWaiter): boolean {
  const pending = connection.transport.pendingBytes;
  if (pending === 0) return false;
  waiter.flushTarget = connection.flushedBytes + pending;
  (connection.flushWaiters ??= []).push(waiter);
  return true;
}

/** Stops `waiter` waiting. */
export function stopAwaitingFlush(connection: CoreConnection, waiter: FlushWaiter): void {
  const waiters = connection.flushWaiters;
  if (removeFrom(waiters, waiter) && waiters!.length === 0) connection.flushWaiters = undefined;
}

/** Output was handed on: tells the waiters whose bytes are all out. */
export function settleFlushWaiters(connection: CoreConnection): void {
  const waiters = connection.flushWaiters!;
  // Nothing pending settles every waiter, whatever the count says: a string is counted in bytes
  // while held and in characters by a socket, so counts can disagree when it holds non-ASCII.
  const empty = connection.transport.pendingBytes === 0;
  const done = waiters.filter((waiter) => empty || connection.flushedBytes >= waiter.flushTarget);
  if (done.length === 0) return;
  connection.flushWaiters =
    done.length === waiters.length ? undefined : waiters.filter((waiter) => !done.includes(waiter));
  for (const waiter of done) waiter.allFlushed();
}

export function write(
  connection: CoreConnection,
  data: Output,
  onFlushed: FlushCallback | undefined,
  held = false,
): boolean {
  if (!connection.isWritable()) {
    return false;
  }
  const { transport, limits } = connection;
  if (connection.turnWrites === 0) {
    if (writersThisTurn.push(connection) === 1) {
      setImmediate(endTurn);
    }
    // A held write (a server's fan-out) waits for the turn's end even when it is the first.
    if (held) {
      connection.turnWrites = 2;
      transport.cork();
    } else {
      connection.turnWrites = 1;
    }
  } else if (connection.turnWrites === 1) {
    connection.turnWrites = 2;
    transport.cork();
  }
  transport.write(data, onFlushed);
  if (limits.tracksActivity) {
    connection.lastWrite = limits.scheduler.now();
  }
  const pending = transport.pendingBytes;
  if (pending > limits.maxPending) {
    connection.abort(new WriteBufferFullError(limits.maxPending, pending));
    return false;
  }
  if (pending >= limits.highWaterMark) {
    if (!connection.writeBlocked) {
      connection.writeBlocked = true;
      connection.backpressurePauses += 1;
      updateFlow(connection);
      startDrainTimer(connection);
    }
    return false;
  }
  return true;
}

/** Output was handed on: if it was at the mark and is now below it, reading resumes. */
export function flushed(connection: CoreConnection): void {
  if (
    !connection.writeBlocked ||
    connection.state === 'closed' ||
    connection.transport.pendingBytes >= connection.limits.highWaterMark
  ) {
    return;
  }
  connection.writeBlocked = false;
  connection.drainTimer?.unsubscribe();
  connection.drainTimer = undefined;
  updateFlow(connection);
  const hooks = connection.drainHooks;
  if (hooks !== undefined) {
    for (const hook of hooks.slice()) {
      hook.drained();
    }
  }
}

/**
 * The connections that wrote in the current event-loop turn: everything the loop's poll phase
 * handles, up to its check phase. A lone write goes out at once (a cork would only delay it);
 * from the second write on, the connection is corked, and one `setImmediate` for all connections
 * uncorks them. A corked socket transport holds the writes as a list and joins them at the uncork
 * (`heldWrites.ts`), so many small messages cost an array push each and one stream write per
 * connection per turn, and one `setImmediate` per turn in all.
 *
 * The turn is the loop's iteration, not a `process.nextTick` after each callback, because of
 * fan-out (issue 12's trickle): when many clients each send a byte now and then and every byte is
 * relayed to all the others, the bytes read in one poll would otherwise each cost a system call
 * per receiver; held to the check phase they cost one per receiver per iteration, and a busier
 * server handles more bytes per iteration, as Twisted's reactor writes once per iteration.
 */
let writersThisTurn: CoreConnection[] = [];

function endTurn(): void {
  // Swapped first: a write made while uncorking (a flush callback that writes) starts a new turn.
  const writers = writersThisTurn;
  writersThisTurn = [];
  for (const connection of writers) {
    const corked = connection.turnWrites === 2;
    connection.turnWrites = 0;
    if (corked) {
      try {
        connection.transport.uncork();
      } catch (error: unknown) {
        // One broken stream must not leave the others corked: it alone is lost.
        connection.failed(error instanceof Error ? error : new Error(String(error)));
        connection.transport.destroy();
      }
    }
  }
}

/** One `drain$` subscription. */
export class DrainWatch implements DrainHook, CloseHook {
  constructor(
    private readonly connection: CoreConnection,
    private readonly subscriber: Subscriber<void>,
  ) {
    (connection.drainHooks ??= []).push(this);
    connection.watchClose(this);
  }

  drained(): void {
    this.subscriber.next();
  }

  connectionClosed(): void {
    this.subscriber.complete();
  }

  unsubscribe(): void {
    removeFrom(this.connection.drainHooks, this);
    this.connection.unwatchClose(this);
  }
}

import type { TeardownLogic } from 'rxjs';
import type { CloseReason } from '../../types';
import type { CoreConnection } from './core';
import { removeFrom } from './lists';

/**
 * The read path: `data$`'s subscribers and whether the transport should be reading.
 *
 * Reading starts with the first subscriber and pauses while there is none, while `pause()` holds
 * it, and while pending output is at or above the high-water mark (so an echo to a peer that does
 * not read stays bounded; a server turns that off and pauses whoever filled the output instead).
 * A served connection that filled Node's read buffer several times in one iteration waits for the next.
 * After `end()` it goes on without readers, discarding, so the peer's FIN is seen. Nothing is
 * read while an upgrade (`startTls`) is under way.
 */

/**
 * What reads a connection's chunks: a `data$` subscriber, or a server's own reader of a served
 * connection (`frameFeed.ts`), which skips the subscriber chain.
 */
export interface ChunkReader {
  next(chunk: Buffer): void;
  /** The connection was lost or aborted with `error`. */
  error(error: unknown): void;
  /** The peer's FIN, or a close without an error. */
  complete(): void;
}

/** Adds a `data$` subscriber; after the peer's FIN or a close, ends it at once as `data$` ended. */
export function addReader(connection: CoreConnection, subscriber: ChunkReader): TeardownLogic {
  return attachReader(connection, subscriber) ? new Reader(connection, subscriber) : undefined;
}

/**
 * Adds `reader` and returns `true`; after the peer's FIN or a close, ends it at once, as `data$`
 * ended, and returns `false`. {@link detachReader} removes it.
 */
export function attachReader(connection: CoreConnection, reader: ChunkReader): boolean {
  const state = connection.state;
  if (state === 'closed') {
    finish(reader, connection.reason!);
    return false;
  }
  if (connection.peerFin) {
    reader.complete();
    return false;
  }
  // A literal of one: a first push() would give the array room for 17 (V8), held while open.
  if (connection.readers === undefined) connection.readers = [reader];
  else connection.readers.push(reader);
  updateFlow(connection);
  return true;
}

/** Removes a reader added by {@link attachReader}; reading pauses when it was the last. */
export function detachReader(connection: CoreConnection, reader: ChunkReader): void {
  if (removeFrom(connection.readers, reader)) {
    updateFlow(connection);
  }
}

/** Completes every reader, or fails it with the reason's error, and forgets them. */
export function finishReaders(connection: CoreConnection, reason: CloseReason): void {
  const readers = connection.readers;
  connection.readers = undefined;
  if (readers !== undefined) {
    for (const reader of readers) {
      finish(reader, reason);
    }
  }
}

/** Resumes or pauses the transport to match the connection's state. */
export function updateFlow(connection: CoreConnection): void {
  const state = connection.state;
  const wanted =
    (!connection.upgrading &&
      state === 'open' &&
      connection.readers !== undefined &&
      connection.readers.length > 0 &&
      !(connection.writeBlocked && connection.backpressurePausesReading) &&
      !connection.yielding &&
      !connection.userPaused) ||
    (!connection.upgrading && state === 'ending' && !connection.peerFin);
  if (wanted !== connection.reading) {
    connection.reading = wanted;
    if (wanted) {
      connection.transport.resumeReading();
    } else {
      connection.transport.pauseReading();
    }
  }
}

/** The size of Node's read buffer: a chunk this long filled it, and more is probably waiting. */
export const FULL_READ = 65536;

/**
 * How many full reads a served connection makes in one event-loop iteration before it lets the
 * others read. Node reads a readable socket again and again while it has data (up to 32 reads of
 * 64 KiB in one poll), so a busy sender could be read many times while the others wait; as in
 * Twisted's reactor, a connection that keeps filling the read buffer yields until the next
 * iteration (issue 12's fairness). Not at the first full read: yielding pauses and resumes the
 * socket, two system calls, and a client that sends 64 KiB and waits for the reply (a pipelined
 * echo) would pay them on every exchange for no one's benefit; four full reads per iteration
 * still bound what a sender takes to 256 KiB while the others wait.
 */
export const FULL_READS_PER_ITERATION = 4;

/** The current event-loop iteration, as counted by the full reads that need to know it. */
let iteration = 0;
let countingIteration = false;

function nextIteration(): void {
  countingIteration = false;
  iteration += 1;
}

/** A served connection's read filled the buffer: the FULL_READS_PER_ITERATION-th in one iteration makes it yield. */
export function fullRead(connection: CoreConnection): void {
  if (!countingIteration) {
    countingIteration = true;
    setImmediate(nextIteration);
  }
  if (connection.fullReadIteration !== iteration) {
    connection.fullReadIteration = iteration;
    connection.fullReads = 0;
  }
  connection.fullReads += 1;
  if (connection.fullReads >= FULL_READS_PER_ITERATION) {
    yieldReading(connection);
  }
}

/** Connections holding their reading until the next event-loop iteration. */
let yielded: CoreConnection[] = [];

/** Holds `connection`'s reading until the next event-loop iteration (`setImmediate`). */
function yieldReading(connection: CoreConnection): void {
  if (connection.yielding) {
    return;
  }
  connection.yielding = true;
  updateFlow(connection);
  if (yielded.push(connection) === 1) {
    setImmediate(endYield);
  }
}

function endYield(): void {
  const connections = yielded;
  yielded = [];
  for (const connection of connections) {
    connection.yielding = false;
    updateFlow(connection);
  }
}

function finish(reader: ChunkReader, reason: CloseReason): void {
  if (reason.type === 'done' || reason.error === undefined) {
    reader.complete();
  } else {
    reader.error(reason.error);
  }
}

/** One `data$` subscription: its teardown, without a closure. */
class Reader {
  constructor(
    private readonly connection: CoreConnection,
    private readonly subscriber: ChunkReader,
  ) {}

  unsubscribe(): void {
    detachReader(this.connection, this.subscriber);
  }
}

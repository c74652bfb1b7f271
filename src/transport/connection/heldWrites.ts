import type { Output } from '../../types';
import type { FlushCallback } from './transport';

/**
 * The average size of the held chunks from which they are written as they are, in one `writev`,
 * rather than joined: below it, Node's per-write bookkeeping costs more than the copy (many small
 * lines); above it, the copy (made once per receiver of a fan-out) costs more.
 */
export const WRITEV_MIN_AVERAGE_BYTES = 4096;

/** What held writes are flushed to: a Node `Writable`. */
export interface HeldWritesStream {
  write(chunk: Uint8Array, callback?: FlushCallback): unknown;
  cork(): void;
  uncork(): void;
}

/**
 * The writes a corked {@link DuplexTransport} holds until it is uncorked, as one list of chunks.
 *
 * The write path corks a connection from its second write in a turn (see `writePath.ts`). Node's
 * own `cork()` keeps a request object per write and hands the stream a `writev` of all of them;
 * for a fan-out of small lines that per-write bookkeeping, not the system call, is the cost. Here
 * a held write is an array push, and the uncork is one `Buffer.concat` and one stream write, as
 * Twisted's `writeSequence` joins its buffer before `send()`. Chunks of
 * {@link WRITEV_MIN_AVERAGE_BYTES} or more on average are not joined but written as they are,
 * corked, so the stream gets them in one `writev` without a copy.
 *
 * @internal
 */
export class HeldWrites {
  /**
   * The first held chunk and its callback, kept apart from the lists: a server's fan-out holds
   * one chunk per receiver per turn, and the lists would be two allocations per receiver per turn
   * for nothing.
   */
  private first: Uint8Array | undefined;
  private firstCallback: FlushCallback | undefined;
  /** Held after the first, in order; strings already encoded as UTF-8, as a socket would. */
  private rest: Uint8Array[] | undefined;
  /** The callbacks of the held writes after the first, aligned with `rest` (a hole for none). */
  private restCallbacks: (FlushCallback | undefined)[] | undefined;
  /** The held bytes, counted in the transport's pending output. */
  bytes = 0;

  hold(data: Output, onFlushed: FlushCallback | undefined): void {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    this.bytes += chunk.byteLength;
    if (this.first === undefined) {
      this.first = chunk;
      this.firstCallback = onFlushed;
      return;
    }
    (this.rest ??= []).push(chunk);
    (this.restCallbacks ??= []).push(onFlushed);
  }

  /** Writes what is held to `stream` as one chunk, and forgets it. */
  flushTo(stream: HeldWritesStream): void {
    const first = this.first;
    if (first === undefined) {
      return;
    }
    const rest = this.rest;
    if (rest === undefined) {
      // The common case, a receiver's one chunk this turn: no list, no join, no closure.
      const callback = this.firstCallback;
      this.forget();
      stream.write(first, callback);
      return;
    }
    const bytes = this.bytes;
    if (bytes < WRITEV_MIN_AVERAGE_BYTES * (rest.length + 1)) {
      const callbacks = this.callbacks();
      this.forget();
      stream.write(
        Buffer.concat([first, ...rest], bytes),
        callbacks === undefined
          ? undefined
          : callbacks.length === 1
            ? callbacks[0]
            : (error) => callAll(callbacks, error),
      );
      return;
    }
    // Large chunks (a fan-out's joined batches) are handed on as they are, in one `writev`: a
    // join would copy every byte once per receiver. Each keeps its own callback: a stream without
    // `_writev` completes them one by one, and the drain check must see each completion.
    const firstCallback = this.firstCallback;
    const restCallbacks = this.restCallbacks!;
    this.forget();
    stream.cork();
    stream.write(first, firstCallback);
    for (let i = 0; i < rest.length; i++) stream.write(rest[i]!, restCallbacks[i]);
    stream.uncork();
  }

  /** Drops what is held; its callbacks learn of it on the next tick, as Node's do on `destroy()`. */
  drop(): void {
    const callbacks = this.callbacks();
    this.forget();
    if (callbacks !== undefined) {
      process.nextTick(callAll, callbacks, destroyedError());
    }
  }

  /** The held writes' callbacks in order, or `undefined` when none has one. */
  private callbacks(): FlushCallback[] | undefined {
    const all: FlushCallback[] = [];
    if (this.firstCallback !== undefined) all.push(this.firstCallback);
    for (const callback of this.restCallbacks ?? []) if (callback !== undefined) all.push(callback);
    return all.length === 0 ? undefined : all;
  }

  private forget(): void {
    this.first = undefined;
    this.firstCallback = undefined;
    this.rest = undefined;
    this.restCallbacks = undefined;
    this.bytes = 0;
  }
}

function callAll(callbacks: readonly FlushCallback[], error: Error | null | undefined): void {
  for (const callback of callbacks) {
    callback(error);
  }
}

function destroyedError(): Error {
  return Object.assign(new Error('Cannot call write after a stream was destroyed'), {
    code: 'ERR_STREAM_DESTROYED',
  });
}

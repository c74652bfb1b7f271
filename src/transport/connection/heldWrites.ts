import type { Output } from '../../types';
import type { FlushCallback } from './transport';

/**
 * The writes a corked {@link DuplexTransport} holds until it is uncorked, as one list of chunks.
 *
 * The write path corks a connection from its second write in a turn (see `writePath.ts`). Node's
 * own `cork()` keeps a request object per write and hands the stream a `writev` of all of them;
 * for a fan-out of small lines that per-write bookkeeping, not the system call, is the cost. Here
 * a held write is an array push, and the uncork is one `Buffer.concat` and one stream write, as
 * Twisted's `writeSequence` joins its buffer before `send()`.
 *
 * @internal
 */
export class HeldWrites {
  /** Held since the cork, in order; strings already encoded as UTF-8, as a socket would. */
  private chunks: Uint8Array[] = [];
  /** The callbacks of the held writes, in order; each runs once the joined write is handed on. */
  private callbacks: FlushCallback[] = [];
  /** The held bytes, counted in the transport's pending output. */
  bytes = 0;

  hold(data: Output, onFlushed: FlushCallback | undefined): void {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
    if (onFlushed !== undefined) {
      this.callbacks.push(onFlushed);
    }
  }

  /** Writes what is held to `stream` as one chunk, and forgets it. */
  flushTo(stream: { write(chunk: Uint8Array, callback: FlushCallback): unknown }): void {
    const chunks = this.chunks;
    if (chunks.length === 0) {
      return;
    }
    const callbacks = this.callbacks;
    const joined = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.bytes);
    this.chunks = [];
    this.callbacks = [];
    this.bytes = 0;
    stream.write(
      joined,
      callbacks.length === 1 ? callbacks[0]! : (error) => callAll(callbacks, error),
    );
  }

  /** Drops what is held; its callbacks learn of it on the next tick, as Node's do on `destroy()`. */
  drop(): void {
    const callbacks = this.callbacks;
    this.chunks = [];
    this.callbacks = [];
    this.bytes = 0;
    if (callbacks.length > 0) {
      process.nextTick(callAll, callbacks, destroyedError());
    }
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

import type { Duplex } from 'node:stream';
import type { Output } from '../../types';
import { HeldWrites } from './heldWrites';
import type { FlushCallback, Transport, TransportSink } from './transport';

/**
 * Where a stream's listeners find their connection. They are module-level functions (Node calls a
 * listener with the stream as `this`), so a connection costs no listener closures, as in ws.
 */
const kSink = Symbol('rxnet.sink');
/** Where the stream's write hooks find their transport (see `DuplexTransport.hookWrites`). */
const kOwner = Symbol('rxnet.transport');

type OwnedDuplex = Duplex & {
  [kSink]?: TransportSink | undefined;
  [kOwner]?: DuplexTransport | undefined;
  resetAndDestroy?: () => unknown;
};

/** The callback a `Writable` hands its `_write` and `_writev`: the write is complete. */
type StreamCallback = (error?: Error | null) => void;
type WriteMethod = Duplex['_write'];
type WritevMethod = NonNullable<Duplex['_writev']>;

function outputFlushed(sink: TransportSink): void {
  sink.outputFlushed();
}

function onError(this: OwnedDuplex, error: Error): void {
  this[kSink]?.failed(error);
}

function onData(this: OwnedDuplex, chunk: Buffer): void {
  this[kSink]!.received(chunk);
}

function onEnd(this: OwnedDuplex): void {
  this[kSink]?.peerEnded();
}

function onClose(this: OwnedDuplex): void {
  this[kSink]?.closed();
}

/** Whether the stream's FIN has not been handed to the kernel yet: not ended, or output still pending. */
function finNotQueued(stream: OwnedDuplex): boolean {
  return !stream.writableEnded || stream.writableLength > 0;
}

function closeSink(sink: TransportSink): void {
  sink.closed();
}

/**
 * A Node `Duplex` as a {@link Transport}: a `net.Socket`, a half of `duplexPair()`, the virtual
 * network's sockets. The stream must allow half-open use (`allowHalfOpen: true`, as `listen` and
 * `connect` create theirs), or Node ends our side at the peer's FIN before the connection decides.
 *
 * @internal
 */
export class DuplexTransport implements Transport {
  /** Writes made while corked, joined into one stream write at `uncork()`; created at the first cork. */
  private held: HeldWrites | undefined;
  private corked = false;
  /** The stream's own `_write` and `_writev`, which the hooks call; see {@link hookWrites}. */
  private readonly streamWrite: WriteMethod;
  private readonly streamWritev: WritevMethod | undefined;
  /** The stream's completion callback for the write in flight (a `Writable` has one at a time). */
  private streamCallback: StreamCallback | undefined;
  /** The size of the write in flight, in the units of `writableLength`. */
  private inFlight = 0;
  /** Passed to the stream's own write methods in place of the stream's callback. */
  private readonly written: StreamCallback = (error) => {
    const bytes = this.inFlight;
    this.streamCallback!(error);
    const sink = this.duplex[kSink];
    // A failed write is the stream's error, which closes the connection: nothing was flushed.
    if (error != null || sink === undefined) return;
    sink.countFlushed(bytes);
    // Deferred as Node defers a write's callback: the completion may come inside `write()`.
    if (sink.awaitsFlushes) process.nextTick(outputFlushed, sink);
  };

  /**
   * @param raw The socket under `duplex` when `duplex` is a layer over it (a TLS socket made by
   * `startTls`): its errors are reported too, and `reset()` resets it, as only a TCP handle can.
   */
  constructor(
    private readonly duplex: OwnedDuplex,
    sink: TransportSink,
    private readonly raw: OwnedDuplex = duplex,
  ) {
    duplex[kSink] = sink;
    duplex[kOwner] = this;
    this.streamWrite = duplex._write;
    this.streamWritev = typeof duplex._writev === 'function' ? duplex._writev : undefined;
    DuplexTransport.hookWrites(duplex, this.streamWritev !== undefined);
    // First and synchronous: an 'error' without a listener would throw out of the event loop.
    duplex.on('error', onError);
    if (raw !== duplex) {
      raw[kSink] = sink;
      raw.on('error', onError);
    }
    // Paused before the 'data' listener is added, so adding it does not start the flow.
    duplex.pause();
    duplex.on('data', onData);
    duplex.on('end', onEnd);
    duplex.on('close', onClose);
    if (duplex.destroyed) {
      sink.failed(new Error('Stream was already destroyed'));
      process.nextTick(closeSink, sink);
    }
  }

  get pendingBytes(): number {
    return this.duplex.writableLength + (this.held?.bytes ?? 0);
  }

  /** The stream itself, for an upgrade (`startTls`) that wraps it. */
  get stream(): Duplex {
    return this.duplex;
  }

  write(data: Output, onFlushed?: FlushCallback): void {
    if (this.corked) {
      this.held!.hold(data, onFlushed);
    } else {
      this.duplex.write(data, onFlushed);
    }
  }

  cork(): void {
    this.corked = true;
    this.held ??= new HeldWrites();
  }

  uncork(): void {
    this.corked = false;
    this.held?.flushTo(this.duplex);
  }

  end(onFinished: FlushCallback): void {
    this.uncork();
    this.duplex.end(onFinished);
  }

  pauseReading(): void {
    this.duplex.pause();
  }

  resumeReading(): void {
    this.duplex.resume();
  }

  destroy(): void {
    this.held?.drop();
    this.duplex.destroy();
  }

  reset(): void {
    this.held?.drop();
    const duplex = this.duplex;
    const raw = this.raw;
    // After our FIN is queued the kernel cannot send a RST (libuv answers EINVAL and Node then
    // never closes the handle): the descriptor must still close, so fall back to destroy(). Node
    // queues the FIN only once the output is flushed, so after end() with output still pending a
    // RST is still possible, and it is what tells the peer its output was cut off.
    if (typeof raw.resetAndDestroy === 'function' && finNotQueued(duplex) && finNotQueued(raw)) {
      try {
        raw.resetAndDestroy();
        return;
      } catch {
        // Only TCP handles can send a RST (a Unix socket throws ERR_INVALID_HANDLE_TYPE).
      }
    }
    duplex.destroy();
  }

  detach(): void {
    const duplex = this.duplex;
    this.unhookWrites();
    duplex.off('error', onError);
    duplex.off('data', onData);
    duplex.off('end', onEnd);
    duplex.off('close', onClose);
    duplex[kSink] = undefined;
    const raw = this.raw;
    if (raw !== duplex) {
      raw.off('error', onError);
      raw[kSink] = undefined;
    }
  }

  /**
   * Lets the connection learn when output falls below its high-water mark without a callback on
   * every write. Node gives a write with a callback a `process.nextTick` and an allocation when it
   * completes at once, as most socket writes do; a write without one costs neither (that is how
   * `pipe()` writes). But a stream without `_writev` completes queued writes one by one, and any of
   * them can be the one that brings the output below the mark, so the drain check must see every
   * completion. The stream's own `_write` and `_writev` are wrapped, on this stream only, so each
   * completion passes through {@link written}: it counts the bytes (`send()` completes by them)
   * and tells the connection only while it waits (blocked, or a `send()` finishing).
   */
  private static hookWrites(duplex: OwnedDuplex, writev: boolean): void {
    duplex._write = DuplexTransport.hookedWrite;
    if (writev) duplex._writev = DuplexTransport.hookedWritev;
  }

  private static hookedWrite(
    this: OwnedDuplex,
    chunk: unknown,
    encoding: BufferEncoding,
    callback: StreamCallback,
  ): void {
    const owner = this[kOwner]!;
    owner.streamCallback = callback;
    owner.inFlight = (chunk as { length: number }).length;
    owner.streamWrite.call(this, chunk, encoding, owner.written);
  }

  private static hookedWritev(
    this: OwnedDuplex,
    chunks: { chunk: unknown; encoding: BufferEncoding }[],
    callback: StreamCallback,
  ): void {
    const owner = this[kOwner]!;
    owner.streamCallback = callback;
    let size = 0;
    for (const { chunk } of chunks) size += (chunk as { length: number }).length;
    owner.inFlight = size;
    owner.streamWritev!.call(this, chunks, owner.written);
  }

  /**
   * Gives the stream its own write methods back: it may outlive the connection (an upgrade). They
   * are assigned, not deleted, so the socket keeps its shape (a `delete` would turn it into a
   * dictionary-mode object at every close).
   */
  private unhookWrites(): void {
    const duplex = this.duplex;
    duplex[kOwner] = undefined;
    duplex._write = this.streamWrite;
    if (this.streamWritev !== undefined) duplex._writev = this.streamWritev;
  }
}

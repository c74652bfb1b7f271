import type { Observable } from 'rxjs';
import { type RxnetError } from '../errors';
import { CoreConnection } from '../transport/connection/core';
import { checkConnectionOptions, type ConnectionOptions } from '../transport/connection/options';
import {
  reportFlushed,
  type FlushCallback,
  type Transport,
  type TransportSink,
} from '../transport/connection/transport';
import type { Address, CloseReason, Connection, ConnectionId, Output } from '../types';

/** How a test closes a {@link MemoryConnection} from the peer's side. */
export type PeerClose = 'clean' | 'reset' | 'lost';

/** How the code under test closed a {@link MemoryConnection}: `end()` (flush, then FIN) or `abort()`. */
export type LocalClose = 'end' | 'abort';

/** Options of {@link memoryConnection}: identity, the scripted peer, and every connection option. */
export interface MemoryConnectionOptions extends ConnectionOptions {
  /** @defaultValue 1 */
  readonly id?: ConnectionId;
  /** @defaultValue `{ _tag: 'MemoryAddress', name: 'local' }` */
  readonly local?: Address;
  /** @defaultValue `{ _tag: 'MemoryAddress', name: 'remote' }` */
  readonly remote?: Address;
  /**
   * When `true`, written bytes stay pending (counted in `pendingWriteBytes`) until the test calls
   * `flush()`, so a test can play a peer that reads slowly. When `false`, every write reaches the
   * peer at once and `pendingWriteBytes` stays 0.
   *
   * @defaultValue false
   */
  readonly manualFlush?: boolean;
  /**
   * When `true`, the peer answers the connection's FIN with its own at once, as a Node client
   * (`allowHalfOpen: false`) or a Twisted one does, so `end()` closes as soon as the output is
   * flushed. When `false`, the connection waits for `closeFromPeer()` or `closeTimeout`.
   *
   * @defaultValue true
   */
  readonly peerAnswersFin?: boolean;
  /**
   * The peer's side as an Observable, typically marbles (`cold('-a-b-|')`): each value is received,
   * completion is the peer's FIN (`closeFromPeer('clean')`), an error is a lost connection with it
   * as the cause. Subscribed when the connection is created.
   */
  readonly input?: Observable<Output>;
}

/**
 * A {@link Connection} with no socket behind it (Twisted's `StringTransport`): the test plays the
 * peer, pushing bytes in and closing it, and reads back what the code under test wrote and how it
 * closed the connection.
 */
export interface MemoryConnection extends Connection {
  /** Every byte that has reached the peer, in order (Twisted's `StringTransport.value()`). */
  readonly written: Buffer;
  /** {@link MemoryConnection.written} decoded as UTF-8. */
  readonly writtenText: string;
  /** Each write that reached the peer, as it was made; `writes.length` counts the writes. */
  readonly writes: readonly Buffer[];
  /** How the connection was closed, once it has; `undefined` while it has not. */
  readonly closedBy: LocalClose | 'peer' | undefined;
  /** What `closed$` emitted, once it has. */
  readonly closeReason: CloseReason | undefined;
  /** Delivers bytes from the peer; they wait (as in a socket) while nothing reads. */
  receive(data: Output): void;
  /**
   * Closes the connection from the peer's side: `clean` is the peer's FIN (a half-close: `data$`
   * completes, and the connection stays writable until it ends, as on a socket); `reset` is a RST
   * (`lost` with an `ECONNRESET` cause); `lost` is `lost` with `cause` (default: an `EPIPE`
   * error). Bytes already received are delivered first, if something is reading.
   */
  closeFromPeer(how?: PeerClose, cause?: unknown): void;
  /** With `manualFlush`, lets up to `maxBytes` (default: all) of the pending output reach the peer. */
  flush(maxBytes?: number): void;
  /** Forgets what was written so far (Twisted's `StringTransport.clear()`). */
  clear(): void;
}

/**
 * Creates an in-memory {@link Connection} for testing protocol code without sockets.
 *
 * It is the real connection, the same code `fromDuplex` gives a socket, over a scripted peer
 * instead of a Duplex: the same lifecycle, backpressure at the same high-water mark, the same
 * idle, half-open, close and drain timeouts (on `options.scheduler`, so `TestScheduler` drives
 * them), and the same `send()`. Only the bytes' path differs: writes reach {@link
 * MemoryConnection.written} synchronously, unless `manualFlush` holds them for `flush()`.
 *
 * ## Example
 * ```ts
 * import { memoryConnection } from 'rxnet/testing';
 *
 * const conn = memoryConnection();
 * conn.data$.subscribe((chunk) => conn.write(chunk));
 * conn.receive('ping');
 * conn.writtenText; // 'ping'
 * ```
 *
 * @param options Identity, the scripted peer, optional marble input and connection options.
 * @returns A connection whose peer the test controls.
 * @throws TypeError or RangeError for bad connection options, as `fromDuplex` does.
 */
export function memoryConnection(options: MemoryConnectionOptions = {}): MemoryConnection {
  const connection = new InMemoryConnection(options);
  options.input?.subscribe({
    next: (data) => connection.receive(data),
    error: (cause: unknown) => connection.closeFromPeer('lost', cause),
    complete: () => connection.closeFromPeer('clean'),
  });
  return connection;
}

class InMemoryConnection extends CoreConnection implements MemoryConnection {
  closedBy: LocalClose | 'peer' | undefined;
  private readonly peer: ScriptedPeer;

  constructor(options: MemoryConnectionOptions) {
    let peer: ScriptedPeer | undefined;
    super(
      {
        id: options.id ?? 1,
        local: options.local ?? { _tag: 'MemoryAddress', name: 'local' },
        remote: options.remote ?? { _tag: 'MemoryAddress', name: 'remote' },
      },
      checkConnectionOptions(options),
      undefined,
      (sink) => (peer = new ScriptedPeer(sink, options)),
    );
    this.peer = peer!;
  }

  get written(): Buffer {
    return Buffer.concat(this.peer.writes);
  }

  get writtenText(): string {
    return this.written.toString('utf8');
  }

  get writes(): readonly Buffer[] {
    return this.peer.writes;
  }

  get closeReason(): CloseReason | undefined {
    return this.state === 'closed' ? this.reason : undefined;
  }

  override end(): void {
    if (this.isWritable()) {
      this.closedBy ??= 'end';
    }
    super.end();
  }

  override abort(reason?: RxnetError): void {
    if (this.state !== 'closing' && this.state !== 'closed') {
      this.closedBy ??= 'abort';
    }
    super.abort(reason);
  }

  override closed(): void {
    this.closedBy ??= 'peer';
    super.closed();
  }

  receive(data: Output): void {
    this.peer.receive(data);
  }

  closeFromPeer(how: PeerClose = 'clean', cause?: unknown): void {
    this.peer.closeFromPeer(how, cause);
  }

  flush(maxBytes = Infinity): void {
    this.peer.flush(maxBytes);
  }

  clear(): void {
    this.peer.writes = [];
  }
}

/** The peer's FIN, queued behind the bytes before it. */
const FIN = Symbol('FIN');

/** Written bytes that wait for `flush()`, with the write's callback. */
interface PendingWrite {
  chunk: Buffer;
  readonly onFlushed: FlushCallback | undefined;
}

/**
 * The test's end of a memory connection, as a {@link Transport}: synchronous, so marble tests
 * see every effect in the same frame, and scripted by the test through the connection's methods.
 */
class ScriptedPeer implements Transport {
  writes: Buffer[] = [];
  pendingBytes = 0;
  private pending: PendingWrite[] = [];
  private inbox: (Buffer | typeof FIN)[] = [];
  private reading = false;
  private closed = false;
  private finSent = false;
  private finReceived = false;
  private onFinished: FlushCallback | undefined;
  private readonly manualFlush: boolean;
  private readonly answersFin: boolean;

  constructor(
    private sink: TransportSink | undefined,
    options: MemoryConnectionOptions,
  ) {
    this.manualFlush = options.manualFlush ?? false;
    this.answersFin = options.peerAnswersFin ?? true;
  }

  write(data: Output, onFlushed?: FlushCallback): void {
    const chunk = toBuffer(data);
    if (!this.manualFlush) {
      this.writes.push(chunk);
      onFlushed?.();
      if (this.sink !== undefined) reportFlushed(this.sink, chunk.length);
      return;
    }
    this.pending.push({ chunk, onFlushed });
    this.pendingBytes += chunk.length;
  }

  cork(): void {
    // Writes reach the peer one by one either way; corking only batches a socket's syscalls.
  }

  uncork(): void {
    // See cork().
  }

  end(onFinished: FlushCallback): void {
    this.onFinished = onFinished;
    this.finishIfFlushed();
  }

  pauseReading(): void {
    this.reading = false;
  }

  resumeReading(): void {
    this.reading = true;
    this.deliver();
  }

  destroy(): void {
    if (this.closed) {
      return;
    }
    this.closed = true;
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    this.inbox = [];
    const error = Object.assign(new Error('Cannot call write after a stream was destroyed'), {
      code: 'ERR_STREAM_DESTROYED',
    });
    for (const write of pending) {
      write.onFlushed?.(error);
    }
    this.sink?.closed();
  }

  reset(): void {
    this.destroy();
  }

  detach(): void {
    this.sink = undefined;
  }

  receive(data: Output): void {
    if (this.closed || this.finReceived) {
      return;
    }
    this.inbox.push(toBuffer(data));
    this.deliver();
  }

  closeFromPeer(how: PeerClose, cause: unknown): void {
    if (this.closed) {
      return;
    }
    if (how === 'clean') {
      if (!this.finReceived) {
        this.finReceived = true;
        this.inbox.push(FIN);
        this.deliver();
      }
      return;
    }
    this.deliver();
    const error =
      cause ??
      Object.assign(new Error(how === 'reset' ? 'read ECONNRESET' : 'write EPIPE'), {
        code: how === 'reset' ? 'ECONNRESET' : 'EPIPE',
      });
    this.sink?.failed(error instanceof Error ? error : Object.assign(new Error(String(error))));
    this.destroy();
  }

  flush(maxBytes: number): void {
    let budget = maxBytes;
    while (this.pending.length > 0 && budget > 0 && !this.closed) {
      const head = this.pending[0]!;
      if (head.chunk.length <= budget) {
        this.pending.shift();
        this.writes.push(head.chunk);
        budget -= head.chunk.length;
        this.pendingBytes -= head.chunk.length;
        head.onFlushed?.();
        if (this.sink !== undefined) reportFlushed(this.sink, head.chunk.length);
      } else {
        this.writes.push(head.chunk.subarray(0, budget));
        head.chunk = head.chunk.subarray(budget);
        this.pendingBytes -= budget;
        budget = 0;
      }
    }
    this.finishIfFlushed();
  }

  private finishIfFlushed(): void {
    const onFinished = this.onFinished;
    if (onFinished === undefined || this.pendingBytes > 0 || this.closed || this.finSent) {
      return;
    }
    this.finSent = true;
    this.onFinished = undefined;
    onFinished();
    if (this.answersFin) {
      this.closeFromPeer('clean', undefined);
    }
  }

  private deliver(): void {
    // The connection may pause, end or abort from inside received(): re-check before each chunk.
    while (this.reading && this.inbox.length > 0 && !this.closed) {
      const item = this.inbox.shift()!;
      if (item === FIN) {
        this.sink?.peerEnded();
      } else {
        this.sink?.received(item);
      }
    }
  }
}

function toBuffer(data: Output): Buffer {
  if (typeof data === 'string') {
    return Buffer.from(data, 'utf8');
  }
  if (data instanceof Uint8Array) {
    // A copy: the caller may reuse its buffer, and the peer must see what was written then.
    return Buffer.from(data);
  }
  throw new TypeError(
    'The "chunk" argument must be of type string or an instance of Buffer or Uint8Array',
  );
}

import { Observable, ReplaySubject, type Subscriber } from 'rxjs';
import { ConnectionClosedError, ConnectionLostError, type RxnetError } from '../errors';
import type { Address, CloseReason, Connection, ConnectionId, Output } from '../types';

/**
 * The pending output, in bytes, above which a {@link MemoryConnection}'s `write()` returns `false`
 * (Node's default for a stream in byte mode).
 *
 * @defaultValue 16384
 */
export const DEFAULT_MEMORY_HIGH_WATER_MARK = 16384;

/** How a test closes a {@link MemoryConnection} from the peer's side. */
export type PeerClose = 'clean' | 'reset' | 'lost';

/** How the code under test closed a {@link MemoryConnection}: `end()` (flush, then FIN) or `abort()`. */
export type LocalClose = 'end' | 'abort';

/** Options of {@link memoryConnection}. */
export interface MemoryConnectionOptions {
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
  /** @defaultValue {@link DEFAULT_MEMORY_HIGH_WATER_MARK} */
  readonly writeHighWaterMark?: number;
  /**
   * The peer's side as an Observable, typically marbles (`cold('-a-b-|')`): each value is received,
   * completion is a clean close by the peer, an error is a lost connection with it as the cause.
   * Subscribed when the connection is created.
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
  /** Each `write()` that reached the peer, as it was made; `writes.length` counts the writes. */
  readonly writes: readonly Buffer[];
  /** How the code under test closed the connection, once it has; `undefined` while it has not. */
  readonly closedBy: LocalClose | 'peer' | undefined;
  /** What `closed$` emitted, once it has. */
  readonly closeReason: CloseReason | undefined;
  /** Delivers bytes from the peer; they wait (as in a socket) while `data$` has no subscriber. */
  receive(data: Output): void;
  /**
   * Closes the connection from the peer's side: `clean` (a FIN: `done`), `reset` (`lost` with an
   * `ECONNRESET` cause) or `lost` (`lost` with `cause`, or an `EPIPE` error). Bytes already
   * received are still delivered before the end.
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
 * It follows the `Connection` contract: `data$` is multicast and holds received bytes back while
 * nobody subscribes; it completes on a clean close and fails with the reason's error otherwise,
 * before `closed$` emits the one {@link CloseReason}. `write()` returns `false` above the
 * high-water mark, `end()` flushes then closes, `abort()` drops pending output, and `send()`
 * completes once its bytes are flushed or fails with {@link ConnectionClosedError}.
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
 * @param options Identity, addresses, flushing and optional marble input.
 * @returns A connection whose peer the test controls.
 */
export function memoryConnection(options: MemoryConnectionOptions = {}): MemoryConnection {
  return new InMemoryConnection(options);
}

class InMemoryConnection implements MemoryConnection {
  readonly id: ConnectionId;
  readonly local: Address;
  readonly remote: Address;
  readonly data$: Observable<Buffer>;
  readonly closed$: Observable<CloseReason>;
  writes: Buffer[] = [];
  closedBy: LocalClose | 'peer' | undefined;
  closeReason: CloseReason | undefined;

  private readonly manualFlush: boolean;
  private readonly highWaterMark: number;
  private readonly readers = new Set<Subscriber<Buffer>>();
  private readonly closedSubject = new ReplaySubject<CloseReason>(1);
  /** Bytes received while nobody reads, as a socket keeps them in its receive buffer. */
  private inbox: Buffer[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private ending = false;
  /** Called whenever pending output reaches zero, so `send()` can complete. */
  private readonly flushWaiters = new Set<() => void>();

  constructor(options: MemoryConnectionOptions) {
    this.id = options.id ?? 1;
    this.local = options.local ?? { _tag: 'MemoryAddress', name: 'local' };
    this.remote = options.remote ?? { _tag: 'MemoryAddress', name: 'remote' };
    this.manualFlush = options.manualFlush ?? false;
    this.highWaterMark = options.writeHighWaterMark ?? DEFAULT_MEMORY_HIGH_WATER_MARK;
    this.closed$ = this.closedSubject.asObservable();
    this.data$ = new Observable<Buffer>((subscriber) => {
      this.readers.add(subscriber);
      this.deliverInbox();
      return () => {
        this.readers.delete(subscriber);
      };
    });
    options.input?.subscribe({
      next: (data) => this.receive(data),
      error: (cause: unknown) => this.closeFromPeer('lost', cause),
      complete: () => this.closeFromPeer('clean'),
    });
  }

  get pendingWriteBytes(): number {
    return this.pendingBytes;
  }

  get written(): Buffer {
    return Buffer.concat(this.writes);
  }

  get writtenText(): string {
    return this.written.toString('utf8');
  }

  write(data: Output): boolean {
    if (this.closeReason !== undefined || this.ending) {
      return false;
    }
    const chunk = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    if (!this.manualFlush) {
      this.writes.push(chunk);
      return true;
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    return this.pendingBytes < this.highWaterMark;
  }

  end(): void {
    if (this.closeReason !== undefined || this.ending) {
      return;
    }
    this.ending = true;
    this.closedBy = 'end';
    this.inbox = [];
    if (this.pendingBytes === 0) {
      this.close({ type: 'done' });
    }
  }

  abort(reason?: RxnetError): void {
    if (this.closeReason !== undefined) {
      return;
    }
    this.closedBy = 'abort';
    this.inbox = [];
    this.pending = [];
    this.pendingBytes = 0;
    this.close(reason === undefined ? { type: 'aborted' } : { type: 'aborted', error: reason });
  }

  send(output$: Observable<Output>): Observable<never> {
    return new Observable<never>((subscriber) => {
      // The connection may close while output$ is still emitting, or after it completed while bytes
      // wait for flush(): either way send() has failed.
      const closedSub = this.closed$.subscribe((reason) => {
        subscriber.error(
          new ConnectionClosedError(
            undefined,
            'error' in reason && reason.error !== undefined ? { cause: reason.error } : undefined,
          ),
        );
      });
      if (subscriber.closed) {
        return undefined;
      }
      const onFlushed = (): void => subscriber.complete();
      const outputSub = output$.subscribe({
        next: (data) => {
          this.write(data);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          if (this.pendingBytes === 0) {
            subscriber.complete();
          } else {
            this.flushWaiters.add(onFlushed);
          }
        },
      });
      return () => {
        closedSub.unsubscribe();
        outputSub.unsubscribe();
        this.flushWaiters.delete(onFlushed);
      };
    });
  }

  receive(data: Output): void {
    if (this.closeReason !== undefined || this.ending) {
      return;
    }
    this.inbox.push(typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data));
    this.deliverInbox();
  }

  closeFromPeer(how: PeerClose = 'clean', cause?: unknown): void {
    if (this.closeReason !== undefined) {
      return;
    }
    this.closedBy ??= 'peer';
    if (how === 'clean') {
      this.close({ type: 'done' });
      return;
    }
    const nodeError =
      cause ??
      Object.assign(new Error(how === 'reset' ? 'read ECONNRESET' : 'write EPIPE'), {
        code: how === 'reset' ? 'ECONNRESET' : 'EPIPE',
      });
    this.pending = [];
    this.pendingBytes = 0;
    this.close({
      type: 'lost',
      error: new ConnectionLostError('Connection lost', { cause: nodeError }),
    });
  }

  flush(maxBytes = Infinity): void {
    let budget = maxBytes;
    while (this.pending.length > 0 && budget > 0) {
      const head = this.pending[0]!;
      if (head.length <= budget) {
        this.pending.shift();
        this.writes.push(head);
        budget -= head.length;
        this.pendingBytes -= head.length;
      } else {
        this.pending[0] = head.subarray(budget);
        this.writes.push(head.subarray(0, budget));
        this.pendingBytes -= budget;
        budget = 0;
      }
    }
    if (this.pendingBytes === 0) {
      for (const waiter of [...this.flushWaiters]) {
        this.flushWaiters.delete(waiter);
        waiter();
      }
      if (this.ending && this.closeReason === undefined) {
        this.close({ type: 'done' });
      }
    }
  }

  clear(): void {
    this.writes = [];
  }

  private deliverInbox(): void {
    // A reader may unsubscribe, or the code may abort, from inside next(): re-check both per chunk.
    while (this.inbox.length > 0 && this.readers.size > 0) {
      const chunk = this.inbox.shift()!;
      for (const reader of [...this.readers]) {
        reader.next(chunk);
      }
    }
    if (this.inbox.length === 0 && this.closeReason !== undefined) {
      this.finishReaders(this.closeReason);
    }
  }

  private close(reason: CloseReason): void {
    this.closeReason = reason;
    // data$ ends before closed$ emits, so every chunk precedes connectionLost, as in Twisted.
    this.deliverInbox();
    this.closedSubject.next(reason);
    this.closedSubject.complete();
  }

  private finishReaders(reason: CloseReason): void {
    const error = reason.type === 'done' ? undefined : reason.error;
    for (const reader of [...this.readers]) {
      this.readers.delete(reader);
      if (error === undefined) {
        reader.complete();
      } else {
        reader.error(error);
      }
    }
  }
}

import { isObservable, type Observable, type SchedulerLike, share, tap } from 'rxjs';
import type { RxnetError } from '../errors';
import type {
  Address,
  CloseReason,
  Connection,
  ConnectionId,
  ConnectionState,
  Output,
  TlsInfo,
} from '../types';
import type { WiretapRecord } from './wiretap';

/** The connection that logs: every member of {@link Connection}, forwarded to the one it wraps. */
export class TappedConnection implements Connection {
  readonly data$: Observable<Buffer>;
  /** The peer's FIN is logged once, though `data$` may complete again for a late subscriber. */
  private finLogged = false;

  constructor(
    private readonly inner: Connection,
    private readonly emit: (record: WiretapRecord) => void,
    private readonly scheduler: SchedulerLike,
  ) {
    const { id, state, local, remote } = inner;
    this.emit({ type: 'tapped', time: scheduler.now(), id, state, local, remote });
    // One subscription to the connection, whatever the number of readers, so each chunk is logged
    // once; share() keeps reading tied to having readers, as the connection's own data$ does.
    this.data$ = inner.data$.pipe(
      tap({
        next: (data) => this.emit({ type: 'read', time: this.now(), id, data }),
        complete: () => {
          if (!this.finLogged && inner.state === 'readClosed') {
            this.finLogged = true;
            this.emit({ type: 'readConnectionLost', time: this.now(), id });
          }
        },
      }),
      share(),
    );
    // closed$ replays and completes, so this subscription ends by itself.
    inner.closed$.subscribe((reason) =>
      this.emit({ type: 'connectionLost', time: this.now(), id, reason }),
    );
  }

  get id(): ConnectionId {
    return this.inner.id;
  }

  get local(): Address {
    return this.inner.local;
  }

  get remote(): Address {
    return this.inner.remote;
  }

  get tls(): TlsInfo | undefined {
    return this.inner.tls;
  }

  get state(): ConnectionState {
    return this.inner.state;
  }

  get closed$(): Observable<CloseReason> {
    return this.inner.closed$;
  }

  get drain$(): Observable<void> {
    return this.inner.drain$;
  }

  get pendingWriteBytes(): number {
    return this.inner.pendingWriteBytes;
  }

  write(data: Output): boolean {
    this.logWrite(data);
    return this.inner.write(data);
  }

  end(): void {
    if (this.writable()) {
      this.emit({ type: 'end', time: this.now(), id: this.inner.id });
    }
    this.inner.end();
  }

  abort(reason?: RxnetError): void {
    const state = this.inner.state;
    if (state !== 'closing' && state !== 'closed') {
      const { id } = this.inner;
      const time = this.now();
      this.emit(
        reason === undefined ? { type: 'abort', time, id } : { type: 'abort', time, id, reason },
      );
    }
    this.inner.abort(reason);
  }

  send(source: Observable<Output> | AsyncIterable<Output>): Observable<never> {
    const logWrite = (data: Output): void => this.logWrite(data);
    return this.inner.send(
      isObservable(source) ? source.pipe(tap(logWrite)) : tappedIterable(source, logWrite),
    );
  }

  pause(): void {
    this.inner.pause();
  }

  resume(): void {
    this.inner.resume();
  }

  private now(): number {
    return this.scheduler.now();
  }

  /** As the connection's own `write()` and `send()` decide: only an open or half-open one writes. */
  private writable(): boolean {
    const state = this.inner.state;
    return state === 'open' || state === 'readClosed';
  }

  private logWrite(data: Output): void {
    if (this.writable()) {
      this.emit({ type: 'write', time: this.now(), id: this.inner.id, data: toBuffer(data) });
    }
  }
}

/**
 * `source`, logging each value as it is pulled. The iterator is wrapped rather than re-yielded
 * from an async generator, so `return()` reaches the source at once (a generator would wait for
 * its pending `next()`), as when `send()` is unsubscribed.
 */
function tappedIterable(
  source: AsyncIterable<Output>,
  log: (data: Output) => void,
): AsyncIterable<Output> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Output> {
      const iterator = source[Symbol.asyncIterator]();
      const tapped: AsyncIterator<Output> = {
        async next() {
          const result = await iterator.next();
          if (result.done !== true) {
            log(result.value);
          }
          return result;
        },
      };
      if (iterator.return !== undefined) {
        tapped.return = (value) => iterator.return!(value);
      }
      if (iterator.throw !== undefined) {
        tapped.throw = (error) => iterator.throw!(error);
      }
      return tapped;
    },
  };
}

function toBuffer(data: Output): Buffer {
  return typeof data === 'string'
    ? Buffer.from(data, 'utf8')
    : Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

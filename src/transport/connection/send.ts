import type { Observable, Observer, Subscriber, Subscription } from 'rxjs';
import { ConnectionClosedError } from '../../errors';
import type { CloseReason, Output } from '../../types';
import type { CloseHook, CoreConnection } from './core';
import { removeFrom } from './lists';
import {
  awaitFlush,
  stopAwaitingFlush,
  write,
  type DrainHook,
  type FlushWaiter,
} from './writePath';

/**
 * One `send()`: the observer of an Observable source, or the pump of an AsyncIterable one, the
 * close hook and the teardown in one object.
 *
 * An Observable cannot be paused, so its values are written as they come and it is bounded by
 * `maxPendingWriteBytes` and `drainTimeout`. An AsyncIterable (a Node `Readable`, an async
 * generator) is pulled only while `write()` returns `true`, so at most the high-water mark plus one
 * chunk of it is ever pending.
 */
export class Sending implements Observer<Output>, CloseHook, DrainHook, FlushWaiter {
  flushTarget = 0;
  private stopped = false;
  private output: Subscription | undefined;
  private source: AsyncIterable<Output> | undefined;
  private iterator: AsyncIterator<Output> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly connection: CoreConnection,
    private readonly destination: Subscriber<never>,
  ) {}

  start(source: Observable<Output> | AsyncIterable<Output>): void {
    if (!this.connection.isWritable()) {
      this.fail(undefined);
    } else if (isObservable(source)) {
      this.output = source.subscribe(this);
    } else {
      void this.pump(source);
    }
  }

  next(chunk: Output): void {
    if (!this.connection.isWritable()) {
      const reason = this.connection.reason;
      this.fail(reason !== undefined && 'error' in reason ? reason.error : undefined);
      return;
    }
    // No callback: the send completes by the connection's count of flushed bytes (`complete`), so
    // a write costs what a raw socket's does.
    write(this.connection, chunk, undefined);
  }

  allFlushed(): void {
    // Node calls back a write in progress without an error when the stream is destroyed: after a
    // close was decided, only the close can tell whether the bytes went out.
    const reason = this.connection.reason;
    if (reason === undefined || reason.type === 'done') {
      this.finish();
    }
  }

  error(error: unknown): void {
    this.stop();
    this.destination.error(error);
  }

  complete(): void {
    // Its writes are the last of the output pending now: the send is done once that is out.
    if (!awaitFlush(this.connection, this)) {
      this.finish();
    }
  }

  drained(): void {
    const wakeUp = this.wakeUp;
    this.wakeUp = undefined;
    wakeUp?.();
  }

  connectionClosed(reason: CloseReason): void {
    if (!this.stopped) {
      this.fail('error' in reason ? reason.error : undefined);
    }
  }

  unsubscribe(): void {
    this.stop();
  }

  private async pump(source: AsyncIterable<Output>): Promise<void> {
    this.source = source;
    const iterator = source[Symbol.asyncIterator]();
    this.iterator = iterator;
    try {
      while (!this.stopped) {
        const result = await iterator.next();
        if (this.stopped) {
          return;
        }
        if (result.done === true) {
          this.complete();
          return;
        }
        this.next(result.value);
        if (this.connection.writeBlocked && !this.stopped) {
          await new Promise<void>((resolve) => {
            this.wakeUp = resolve;
            (this.connection.drainHooks ??= []).push(this);
          });
          removeFrom(this.connection.drainHooks, this);
        }
      }
    } catch (error: unknown) {
      if (!this.stopped) {
        this.error(error);
      }
    }
  }

  private finish(): void {
    if (!this.stopped) {
      this.stop();
      this.destination.complete();
    }
  }

  private fail(cause: unknown): void {
    if (!this.stopped) {
      this.stop();
      this.destination.error(
        new ConnectionClosedError(undefined, cause === undefined ? undefined : { cause }),
      );
    }
  }

  /** Stops reading the source and forgets the connection; a pump waiting for drain is released. */
  private stop(): void {
    if (this.stopped) {
      return;
    }
    this.stopped = true;
    this.output?.unsubscribe();
    this.connection.unwatchClose(this);
    removeFrom(this.connection.drainHooks, this);
    stopAwaitingFlush(this.connection, this);
    this.drained();
    // A stream waiting for data would see return() only at its next chunk: destroy it now.
    const source = this.source as Partial<{ destroy(): void }> | undefined;
    if (typeof source?.destroy === 'function') {
      source.destroy();
    } else if (this.iterator?.return !== undefined) {
      this.iterator.return().catch(ignore);
    }
  }
}

function isObservable(
  source: Observable<Output> | AsyncIterable<Output>,
): source is Observable<Output> {
  return typeof (source as Partial<Observable<Output>>).subscribe === 'function';
}

function ignore(): void {
  // An iterator's cleanup failing after the send ended has nobody left to tell.
}

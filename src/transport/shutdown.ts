import type { Observable, SchedulerLike, Subscription } from 'rxjs';
import type { ConnectionId } from '../types';
import type { Served, ServerState } from './served';

/**
 * Milliseconds a graceful shutdown lets connections finish (read what their peers already sent,
 * flush, close with FIN) before it aborts the rest. Ten seconds: as long as `drainTimeout`, so a
 * reader that stalls would be cut off in the same time while serving; long enough for a few
 * megabytes to drain to a slow client; and well inside the grace that process managers give
 * before SIGKILL (Kubernetes 30 s, systemd 90 s). Netty's `shutdownGracefully()` allows up to
 * 15 s, Spring Boot's graceful shutdown 30 s; a second trigger stops at once whatever is left.
 *
 * @defaultValue 10000 (milliseconds)
 */
export const DEFAULT_SHUTDOWN_TIMEOUT = 10_000;

/**
 * A graceful shutdown has ended every connection it could and is waiting for them to close:
 * emitted once, after the read window, when some are still open.
 */
export interface ShutdownProgress {
  /** Tags the notification. */
  readonly type: 'shutdownProgress';
  /** Connections still open (flushing, or waiting for their peer's FIN). */
  readonly open: number;
  /** Their output not yet handed to the kernel, in bytes. */
  readonly pendingWriteBytes: number;
}

/**
 * A graceful shutdown is over, every connection is closed, and the server completes right after.
 * The last notification of a server that was shut down.
 */
export interface ShutdownComplete {
  /** Tags the notification. */
  readonly type: 'shutdownComplete';
  /**
   * Connections that closed without being aborted by the shutdown, once it had begun: ended by
   * it, or closed by the behaviour or the peer. Their own `connectionLost` events say how.
   */
  readonly graceful: number;
  /** Connections the shutdown aborted: still open at the deadline, or when a second trigger forced it. */
  readonly aborted: number;
  /** Output the aborted connections had not handed to the kernel, in bytes: what was lost. */
  readonly droppedBytes: number;
  /** A second emission of the trigger stopped the shutdown before its deadline. */
  readonly forced: boolean;
}

/** How a server runs its shutdown; `serveConnections` fills it from its options. @internal */
export interface ShutdownConfig {
  readonly timeout: number;
  readonly scheduler: SchedulerLike;
  readonly readWindow: Observable<unknown>;
}

/** What the shutdown needs from its server. @internal */
export interface ShutdownHost<T> extends ServerState<T> {
  progress(progress: ShutdownProgress): void;
  /** Every connection has closed: complete the events, report, complete the server. */
  finish(report: ShutdownComplete): void;
}

/**
 * One server's graceful shutdown, in three phases:
 *
 * ```text
 * reading ──read window over──▶ ending ──every connection closed──▶ done
 *    └──────────deadline, or a second trigger──▶ aborting ──┘
 * ```
 *
 * While `reading`, the connections are served as before, except that no sender waits for a slow
 * receiver: what peers sent before the shutdown is read and handled, and the goodbyes the
 * behaviour writes at `shuttingDown` are queued. `ending` ends each connection (flush, then FIN;
 * it goes on reading and discarding, so unread input never turns the close into a RST).
 *
 * @internal
 */
export class Shutdown<T> {
  private phase: 'reading' | 'ending' | 'aborting' | 'done' = 'reading';
  private graceful = 0;
  private aborted = 0;
  private droppedBytes = 0;
  private forced = false;
  private readonly abortedIds = new Set<ConnectionId>();
  private deadline: Subscription | undefined;
  private window: Subscription | undefined;

  constructor(
    private readonly host: ShutdownHost<T>,
    private readonly config: ShutdownConfig,
  ) {}

  /** The trigger's first emission. */
  begin(): void {
    const { host, config } = this;
    host.pausesSenders = false;
    for (const served of host.live.values()) {
      served.stopWaiting();
    }
    host.events.next({ type: 'shuttingDown', deadline: config.timeout });
    if (this.phase !== 'reading') {
      return; // The behaviour's reaction to the event finished the shutdown already.
    }
    if (config.timeout !== Infinity) {
      this.deadline = config.scheduler.schedule(() => this.abortAll(), config.timeout);
    }
    if (this.phase === 'reading') {
      // The window's end, whether it emits or completes; an error ends it too: nothing to report.
      const endAll = (): void => this.endAll();
      this.window = config.readWindow.subscribe({ next: endAll, error: endAll, complete: endAll });
    }
  }

  /** The trigger's second emission: what is still open is aborted now. */
  force(): void {
    if (this.phase === 'done') {
      return;
    }
    this.forced = true;
    this.abortAll();
  }

  /** A connection the source emitted during the shutdown: it is not served for long. */
  accepted(served: Served<T>): void {
    if (this.phase === 'ending') {
      served.connection.end();
    } else if (this.phase === 'aborting') {
      this.abort(served);
    }
  }

  connectionClosed(id: ConnectionId): void {
    if (this.abortedIds.delete(id)) {
      this.aborted += 1;
    } else {
      this.graceful += 1;
    }
    this.finishIfClosed();
  }

  /** Teardown: the server was unsubscribed, or it finished. */
  stop(): void {
    this.phase = 'done';
    this.deadline?.unsubscribe();
    this.window?.unsubscribe();
  }

  private endAll(): void {
    if (this.phase !== 'reading') {
      return;
    }
    this.phase = 'ending';
    this.window?.unsubscribe();
    const { host } = this;
    // A copy: an end() can close a connection, and remove it from `live`, at once.
    for (const served of [...host.live.values()]) {
      served.connection.end();
    }
    if (host.live.size > 0 && this.phase === 'ending') {
      let pendingWriteBytes = 0;
      for (const served of host.live.values()) {
        pendingWriteBytes += served.connection.pendingWriteBytes;
      }
      host.progress({ type: 'shutdownProgress', open: host.live.size, pendingWriteBytes });
    }
    this.finishIfClosed();
  }

  private abortAll(): void {
    if (this.phase === 'aborting' || this.phase === 'done') {
      return;
    }
    this.phase = 'aborting';
    this.deadline?.unsubscribe();
    this.window?.unsubscribe();
    for (const served of [...this.host.live.values()]) {
      this.abort(served);
    }
    this.finishIfClosed();
  }

  private abort(served: Served<T>): void {
    const connection = served.connection;
    const state = connection.state;
    if (state === 'closing' || state === 'closed') {
      return; // Closing already, for its own reason.
    }
    this.droppedBytes += connection.pendingWriteBytes;
    this.abortedIds.add(connection.id);
    connection.abort();
  }

  private finishIfClosed(): void {
    const phase = this.phase;
    if ((phase !== 'ending' && phase !== 'aborting') || this.host.live.size > 0) {
      return;
    }
    this.stop();
    const { graceful, aborted, droppedBytes, forced } = this;
    this.host.finish({ type: 'shutdownComplete', graceful, aborted, droppedBytes, forced });
  }
}

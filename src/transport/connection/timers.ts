import type { SchedulerAction } from 'rxjs';
import { DrainTimeoutError, IdleTimeoutError } from '../../errors';
import type { CoreConnection } from './core';

/**
 * A connection's timers, all on the injected scheduler (so `TestScheduler` and the virtual network
 * drive them), each a module-level function given the connection as its state: no closure per
 * connection.
 *
 * | timer              | starts                              | restarted by           | when it fires               |
 * | ------------------ | ----------------------------------- | ---------------------- | --------------------------- |
 * | `idleTimeout`      | when the connection opens           | each chunk, each write | closes as `timedOut`        |
 * | `readIdleTimeout`  | when the connection opens           | each chunk received    | closes as `timedOut`        |
 * | `writeIdleTimeout` | when the connection opens           | each `write()`         | closes as `timedOut`        |
 * | `halfOpenTimeout`  | at the peer's FIN, if still half-open once data$ completed | never                  | `end()`                     |
 * | `closeTimeout`     | when `end()` has flushed and sent FIN | never                | closes as `done`            |
 * | `drainTimeout`     | when output reaches the high-water mark | falling below it   | aborts with DrainTimeoutError |
 */

/** One action for the three idle timeouts: it sleeps until the earliest deadline and re-checks. */
export function startActivityTimer(connection: CoreConnection): void {
  const { scheduler } = connection.limits;
  const now = scheduler.now();
  connection.lastRead = now;
  connection.lastWrite = now;
  connection.activityTimer = scheduler.schedule(
    checkActivity,
    nextCheck(connection, now),
    connection,
  );
}

function checkActivity(this: SchedulerAction<CoreConnection>, connection: CoreConnection): void {
  const state = connection.state;
  if (state === 'closing' || state === 'closed') {
    return;
  }
  const { idleTimeout, readIdleTimeout, writeIdleTimeout, scheduler } = connection.limits;
  const now = scheduler.now();
  const lastRead = connection.lastRead;
  const lastWrite = connection.lastWrite;
  if (now - lastRead >= readIdleTimeout) {
    expire(connection, new IdleTimeoutError(readIdleTimeout, 'read'));
  } else if (now - lastWrite >= writeIdleTimeout) {
    expire(connection, new IdleTimeoutError(writeIdleTimeout, 'write'));
  } else if (now - Math.max(lastRead, lastWrite) >= idleTimeout) {
    expire(connection, new IdleTimeoutError(idleTimeout, 'idle'));
  } else {
    this.schedule(connection, nextCheck(connection, now));
  }
}

function expire(connection: CoreConnection, error: IdleTimeoutError): void {
  connection.activityTimer = undefined;
  connection.timedOut({ type: 'timedOut', error });
}

/** Milliseconds until the earliest of the three deadlines. */
function nextCheck(connection: CoreConnection, now: number): number {
  const { idleTimeout, readIdleTimeout, writeIdleTimeout } = connection.limits;
  const { lastRead, lastWrite } = connection;
  const deadline = Math.min(
    lastRead + readIdleTimeout,
    lastWrite + writeIdleTimeout,
    Math.max(lastRead, lastWrite) + idleTimeout,
  );
  return Math.max(0, deadline - now);
}

export function startHalfOpenTimer(connection: CoreConnection): void {
  const { halfOpenTimeout, scheduler } = connection.limits;
  if (halfOpenTimeout === 0) {
    connection.end();
  } else if (halfOpenTimeout !== Infinity) {
    connection.halfOpenTimer = scheduler.schedule(endHalfOpen, halfOpenTimeout, connection);
  }
}

function endHalfOpen(this: SchedulerAction<CoreConnection>, connection: CoreConnection): void {
  connection.halfOpenTimer = undefined;
  connection.end();
}

export function startCloseTimer(connection: CoreConnection): void {
  const { closeTimeout, scheduler } = connection.limits;
  if (closeTimeout === 0) {
    connection.transport.destroy();
  } else if (closeTimeout !== Infinity) {
    connection.closeTimer = scheduler.schedule(closeUnanswered, closeTimeout, connection);
  }
}

/** The peer never answered our FIN: close anyway. Nothing was lost, so the close is still `done`. */
function closeUnanswered(this: SchedulerAction<CoreConnection>, connection: CoreConnection): void {
  connection.closeTimer = undefined;
  if (connection.state !== 'closed') {
    connection.transport.destroy();
  }
}

export function startDrainTimer(connection: CoreConnection): void {
  const { drainTimeout, scheduler } = connection.limits;
  if (drainTimeout !== Infinity) {
    connection.drainTimer = scheduler.schedule(drainTimedOut, drainTimeout, connection);
  }
}

function drainTimedOut(this: SchedulerAction<CoreConnection>, connection: CoreConnection): void {
  connection.drainTimer = undefined;
  if (connection.writeBlocked) {
    const { drainTimeout } = connection.limits;
    connection.abort(new DrainTimeoutError(drainTimeout, connection.transport.pendingBytes));
  }
}

export function stopTimers(connection: CoreConnection): void {
  connection.activityTimer?.unsubscribe();
  connection.closeTimer?.unsubscribe();
  connection.halfOpenTimer?.unsubscribe();
  connection.drainTimer?.unsubscribe();
  connection.activityTimer = undefined;
  connection.closeTimer = undefined;
  connection.halfOpenTimer = undefined;
  connection.drainTimer = undefined;
}

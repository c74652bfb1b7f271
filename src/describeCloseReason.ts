import type { CloseReason } from './types';

/**
 * Describes why a connection closed, in one short line for a log.
 *
 * ```text
 * done                                                     { type: 'done' }
 * lost: ECONNRESET                                         { type: 'lost', error } (cause ECONNRESET)
 * aborted                                                  { type: 'aborted' } (by abort())
 * aborted: RXNET_ERR_FRAME_TOO_LONG (Frame of 20 bytes …)  { type: 'aborted', error }
 * timedOut: read idle 30000 ms                             { type: 'timedOut', error } (kind 'read')
 * ```
 *
 * The line starts with the reason's `type`, so logs can be grepped by it, and adds what tells one
 * close from another: Node's code for a lost connection (the cause rxnet wraps), the error's code
 * and message when rxnet aborted the connection, and which timeout passed. It is stable enough to
 * read, not to parse: branch on the {@link CloseReason} itself.
 *
 * ## Example
 * ```ts
 * import { describeCloseReason, serve, echo } from 'rxnet';
 *
 * serve('tcp:port=8007:interface=127.0.0.1', echo()).subscribe((notification) => {
 *   if (notification.type === 'connectionLost') {
 *     console.log(`#${notification.id} closed: ${describeCloseReason(notification.reason)}`);
 *   }
 * });
 * ```
 *
 * @param reason What a connection's `closed$` emitted, or a `connectionLost` event's reason.
 * @returns One line, without a newline.
 */
export function describeCloseReason(reason: CloseReason): string {
  switch (reason.type) {
    case 'done':
      return 'done';
    case 'lost':
      return `lost: ${codeOf(reason.error.cause) ?? reason.error.message}`;
    case 'aborted':
      return reason.error === undefined
        ? 'aborted'
        : `aborted: ${reason.error.code} (${reason.error.message})`;
    case 'timedOut': {
      const { kind, timeout } = reason.error;
      return `timedOut: ${kind === 'idle' ? 'idle' : `${kind} idle`} ${timeout} ms`;
    }
  }
}

/** Node's error code of a cause (ECONNRESET, EPIPE), duck-typed: Node's errors may come from another realm. */
function codeOf(cause: unknown): string | undefined {
  const code =
    typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

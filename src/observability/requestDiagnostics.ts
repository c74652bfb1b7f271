/**
 * Publishing `rxnet:request:start` and `rxnet:request:end` for `requester()` and `respond()`.
 * Internal: the channels and {@link RequestMessage} are the public contract.
 *
 * @packageDocumentation
 */
import type { ConnectionId } from '../types';
import { channels, type RequestMessage, type RequestSide } from './diagnostics';

/** A request message as its publisher holds it: the connection may become known after the start. */
export type OpenRequest = { -readonly [K in keyof RequestMessage]: RequestMessage[K] };

/** How a request ended, as `RequestMessage.outcome` says it. */
export type RequestOutcome = NonNullable<RequestMessage['outcome']>;

/**
 * Publishes a request's start, and returns its message for {@link requestEnded}; `undefined`
 * (and nothing allocated) when neither channel has a subscriber, so an unobserved request costs
 * two property reads.
 */
export function requestStarted(
  side: RequestSide,
  connection: ConnectionId | undefined,
  request: unknown,
): OpenRequest | undefined {
  if (!channels.requestStart.hasSubscribers && !channels.requestEnd.hasSubscribers) {
    return undefined;
  }
  const message: OpenRequest = { side, request, startedAt: performance.now() };
  if (connection !== undefined) message.connection = connection;
  channels.requestStart.publish(message);
  return message;
}

/**
 * Publishes the end of a request whose start was published, with its outcome. Once per message:
 * the caller drops it after.
 */
export function requestEnded(message: OpenRequest, outcome: RequestOutcome, error?: unknown): void {
  message.outcome = outcome;
  if (outcome === 'error' || outcome === 'timeout') message.error = error;
  channels.requestEnd.publish(message);
}

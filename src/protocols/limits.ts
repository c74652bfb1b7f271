/**
 * The named defaults of the request/response helpers, stated once.
 *
 * @packageDocumentation
 */

/**
 * How long a request may take, in milliseconds, before it fails with `RequestTimeoutError`: a
 * `respond()` handler from its start, a requester's request from its subscription (the call, for
 * `requestAsync`). 0 or `Infinity` mean
 * no timeout.
 *
 * @defaultValue 30000 (30 s, as `DEFAULT_CONNECT_TIMEOUT`)
 */
export const DEFAULT_REQUEST_TIMEOUT = 30_000;

/**
 * How many requests may wait for a free slot (beyond `respond()`'s `concurrency`, or a
 * requester's `maxInFlight`) before `RequestQueueFullError`.
 *
 * @defaultValue 1024
 */
export const DEFAULT_MAX_QUEUED_REQUESTS = 1024;

/**
 * How many requests of one connection `respond()` handles at once.
 *
 * @defaultValue 16
 */
export const DEFAULT_RESPOND_CONCURRENCY = 16;

/**
 * How many requests a requester has on the wire at once (pipelining depth); more wait their turn.
 *
 * @defaultValue 16
 */
export const DEFAULT_MAX_IN_FLIGHT = 16;

/**
 * The hub: the one totally ordered log a cluster's nodes share, and the named defaults of a
 * clustered server.
 *
 * @packageDocumentation
 */
import type { Observable } from 'rxjs';

/**
 * How often a clustered node appends a heartbeat to the log, in milliseconds; also how often it
 * checks the others' heartbeats.
 *
 * @defaultValue 1000
 */
export const DEFAULT_HEARTBEAT_INTERVAL = 1000;

/**
 * How long a node may go unheard (no entry of its own reaching the log) before another node
 * declares it lost, in milliseconds. Its connections appear as `connectionLost` everywhere at most
 * `nodeTimeout + heartbeatInterval` after its last entry, plus one round trip through the hub.
 *
 * @defaultValue 5000
 */
export const DEFAULT_NODE_TIMEOUT = 5000;

/**
 * How many entries a Redis or NATS hub retains (heartbeats included: 3 nodes at the default
 * interval append about 11 000 an hour). Older entries are trimmed, and a node that joins after
 * the first trim fails with `HubError` (`trimmed`): it could not compute the state the others have.
 *
 * @defaultValue 1 000 000
 */
export const DEFAULT_MAX_LOG_ENTRIES = 1_000_000;

/**
 * A cluster's shared log. Every node appends its entries and reads everybody's, in one order that
 * is the same for every reader: the guarantee a clustered behaviour's determinism rests on.
 *
 * rxnet ships three: {@link memoryHub} (one process, the default), `redisHub` from
 * `rxnet/cluster/redis` (a Redis Stream) and `natsHub` from `rxnet/cluster/nats` (a JetStream
 * stream). Implement it to put a cluster on another engine.
 */
export interface Hub {
  /**
   * The cluster's name; it prefixes every key, stream or subject the hub uses, so clusters with
   * different names on one engine never see each other's entries.
   */
  readonly cluster: string;
  /** A node number never given before in this cluster: 1, 2, 3, … from an atomic counter. */
  join(): Promise<number>;
  /**
   * Appends one entry. Entries appended through one hub object land in the log in the order of the
   * calls, without waiting for each other.
   */
  append(entry: string): Promise<void>;
  /**
   * The log from its first retained entry, then each new entry as it is appended, to every
   * subscriber in the same order. Fails with `HubError` (`trimmed`) when the log no longer starts
   * at the cluster's first entry, and (`failed`) when the engine fails.
   */
  read(): Observable<string>;
  /** The log as retained now, in order: for checks and tools, not for serving. */
  history(): Promise<readonly string[]>;
  /** Deletes everything the cluster stored, so the same name starts again from nothing. */
  destroy(): Promise<void>;
  /** Flushes pending appends and closes the hub's connections; `read()` subscribers are ended. */
  close(): Promise<void>;
}

/** Cluster names go into Redis keys, NATS stream names and NATS subjects: letters, digits, `_`, `-`. */
const CLUSTER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The default cluster name.
 *
 * @defaultValue `'rxnet'`
 */
export const DEFAULT_CLUSTER = 'rxnet';

/**
 * Checks a cluster name: 1 to 64 letters, digits, `_` or `-`.
 *
 * @throws `TypeError` for any other name.
 */
export function checkClusterName(cluster: string): string {
  if (!CLUSTER_NAME.test(cluster)) {
    throw new TypeError(
      `A cluster name is 1 to 64 letters, digits, '_' or '-', got ${JSON.stringify(cluster)}`,
    );
  }
  return cluster;
}

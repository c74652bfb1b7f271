import {
  asyncScheduler,
  concatMap,
  EMPTY,
  filter,
  map,
  of,
  merge,
  Observable,
  Subject,
  Subscription,
  tap,
  type SchedulerLike,
} from 'rxjs';
import { abort } from '../commands';
import { EncodeError, HubError } from '../errors';
import { serverFromString, type ServerEndpoint } from '../net/endpoints';
import { listenWithRefusals, type ServeOptions, type ServerNotification } from '../net/serve';
import { codecOf, serveConnections } from '../transport/serveConnections';
import type { Behaviour, Output, ServerEvent } from '../types';
import { detectLostNodes } from './detectLostNodes';
import { clusterId, decodeEntry, encodeEntry, type ClusterEvent, type LogEntry } from './entries';
import { DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_NODE_TIMEOUT, type Hub } from './hub';
import { memoryHub } from './memoryHub';
import { ownCommands } from './ownCommands';
import { replayLog } from './replayLog';

/** This node has its number in the cluster; its connections' ids are `node * 2^32 + local id`. */
export interface Joined {
  /** The notification's kind. */
  readonly type: 'joined';
  /** The hub's cluster name. */
  readonly cluster: string;
  /** This node's number: unique in the cluster, never reused (until the cluster is destroyed). */
  readonly node: number;
}

/** What {@link serveClustered} emits: `joined`, `listening`, then what {@link serve} emits. */
export type ClusterNotification<T = unknown> = Joined | ServerNotification<T>;

/**
 * The options of {@link serve} that a clustered node does not carry out (yet): a graceful shutdown
 * (a node leaves the cluster at once when unsubscribed) and STARTTLS. Given anyway, they are a
 * `TypeError` at call time rather than silently ignored.
 */
const UNSUPPORTED_CLUSTER_OPTIONS = [
  'shutdown',
  'shutdownTimeout',
  'shutdownReadWindow',
  'startTls',
  'upgradeTls',
] as const;

/**
 * Options of {@link serveClustered}: those of {@link serve} but its graceful `shutdown` options and
 * STARTTLS (`startTls`, `upgradeTls`), which a clustered node does not carry out yet (a `TypeError`
 * at call time), plus the cluster's own.
 */
export type ServeClusteredOptions<T, O> = Omit<
  ServeOptions<T, O>,
  'shutdown' | 'shutdownTimeout' | 'shutdownReadWindow' | 'startTls' | 'upgradeTls'
> & {
  /** The cluster's shared log. @defaultValue a new {@link memoryHub}, a cluster of one */
  readonly hub?: Hub;
  /** How often this node appends a heartbeat, in ms. @defaultValue {@link DEFAULT_HEARTBEAT_INTERVAL} */
  readonly heartbeatInterval?: number;
  /** How long another node may go unheard before this one declares it lost, in ms. @defaultValue {@link DEFAULT_NODE_TIMEOUT} */
  readonly nodeTimeout?: number;
  /** Where the heartbeats and the failure detector take their time. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
};

/**
 * Serves one {@link Behaviour} on many nodes as if they were one server: {@link serve}, with
 * every node's connection events going through the cluster's {@link Hub}.
 *
 * ```text
 * node 1 events ──append──┐                 ┌─ replayLog ─ behaviour ─ ownCommands(1) ─ node 1's sockets
 *                         ├── hub's log ────┤
 * node 2 events ──append──┘  (one order)    └─ replayLog ─ behaviour ─ ownCommands(2) ─ node 2's sockets
 * ```
 *
 * Each node appends its connections' events (`connectionMade`, `data`, `readConnectionLost`,
 * `connectionLost`, their ids made cluster-wide) to the log, and feeds the whole log, in its one
 * order, to its own copy of the behaviour. Every node so computes the same commands, and carries
 * out those for the connections it holds: the Nth client anywhere is the Nth `connectionMade`, and
 * a broadcast reaches each client once, from its own node. A node appends a heartbeat every
 * `heartbeatInterval`; one unheard for `nodeTimeout` is declared lost by the others, and its open
 * connections become `connectionLost` events everywhere (see {@link replayLog}). Unsubscribing
 * stops listening, ends this node's connections, and tells the others (`done`).
 *
 * This holds for a behaviour that is deterministic over its events: no clock, no randomness, no
 * state outside the pipeline. A timer is node-local: every node would fire it. Check a behaviour
 * with {@link checkDeterminism}. The frames a behaviour sees must survive the log's JSON (strings,
 * bytes, plain data: see {@link encodeEntry}); a frame that cannot aborts its connection with
 * `EncodeError`. The server-level events (`connectionRefused`, `shuttingDown`) are this node's
 * own: they are emitted as notifications but never reach the behaviour. Commands reach a socket
 * one hub round trip after the event that caused them, so a broadcast no longer pauses its sender
 * while a receiver is slow.
 *
 * ## Example
 * ```ts
 * import { lines, serveClustered } from 'rxnet';
 * import { redisHub } from 'rxnet/cluster/redis';
 *
 * const hub = redisHub({ url: 'redis://127.0.0.1:6379', cluster: 'spread' });
 * serveClustered('tcp:8007', spread, { hub, framing: lines({ encoding: 'utf8' }) }).subscribe();
 * ```
 *
 * @param endpoint Where this node listens.
 * @param behaviour The cluster's logic, the same on every node.
 * @param options `hub`, the failure detector's timing, and {@link serve}'s options.
 * @returns An Observable that runs this node while subscribed. Fails with {@link HubError} when
 * the hub fails or the others declared this node lost (`fenced`), and as {@link serve} fails.
 * @throws As {@link serve} does, at call time.
 */
export function serveClustered<T = Buffer, O = Output>(
  endpoint: string | ServerEndpoint,
  behaviour: Behaviour<T, O>,
  options: ServeClusteredOptions<T, O> = {},
): Observable<ClusterNotification<T>> {
  if (typeof endpoint === 'string') serverFromString(endpoint);
  codecOf(options);
  for (const name of UNSUPPORTED_CLUSTER_OPTIONS) {
    if ((options as Record<string, unknown>)[name] !== undefined) {
      throw new TypeError(`serveClustered does not support the \`${name}\` option of serve yet`);
    }
  }
  const {
    hub = memoryHub(),
    heartbeatInterval = DEFAULT_HEARTBEAT_INTERVAL,
    nodeTimeout = DEFAULT_NODE_TIMEOUT,
    scheduler = asyncScheduler,
  } = options;
  return new Observable<ClusterNotification<T>>((subscriber) => {
    const running = new Subscription();
    let node: number | undefined;
    const fail = (reason: 'failed' | 'fenced', cause?: unknown): void =>
      subscriber.error(
        cause instanceof HubError
          ? cause
          : new HubError(hub.cluster, reason, cause === undefined ? undefined : { cause }),
      );
    const append = (entry: LogEntry): void => {
      hub.append(encodeEntry(entry)).catch((error: unknown) => fail('failed', error));
    };

    hub.join().then(
      (joined) => {
        if (subscriber.closed) return;
        node = joined;
        subscriber.next({ type: 'joined', cluster: hub.cluster, node: joined });
        start(joined);
      },
      (error: unknown) => fail('failed', error),
    );

    function start(self: number): void {
      const log$ = new Subject<LogEntry<T>>();
      append({ type: 'joined', node: self });
      running.add(
        log$
          .pipe(
            detectLostNodes({ self, timeout: nodeTimeout, interval: heartbeatInterval, scheduler }),
          )
          .subscribe((lost) => append({ type: 'nodeLost', node: lost, by: self, graceful: false })),
      );
      running.add(
        scheduler.schedule(function (this: { schedule(state?: unknown, delay?: number): void }) {
          append({ type: 'heartbeat', node: self });
          this.schedule(undefined, heartbeatInterval);
        }, heartbeatInterval),
      );

      const clustered: Behaviour<T, O> = (local$) =>
        merge(
          local$.pipe(
            filter(isConnectionEvent),
            concatMap((event) => {
              const error = appendEvent(self, event);
              return error === undefined ? EMPTY : of(abort(event.id, error));
            }),
          ),
          // This node's own server-level events: notifications, never the behaviour's input.
          local$.pipe(filter((event) => !isConnectionEvent(event))),
          log$.pipe(replayLog<T>(), behaviour, ownCommands<T, O>(self)),
        );

      // Refusals go in with the connections, as serve() feeds them: they reach the clustered
      // behaviour above as server-level events, which it emits as this node's notifications.
      const connections$ = listenWithRefusals(endpoint, options, (address) =>
        subscriber.next({ type: 'listening', address }),
      );
      running.add(serveConnections<T, O>(connections$, clustered, options).subscribe(subscriber));
      // Read only once every consumer is subscribed: a hub may replay on the next microtask.
      running.add(
        hub
          .read()
          .pipe(
            map((text) => decodeEntry<T>(text)),
            tap((entry) => {
              if (entry.type === 'nodeLost' && entry.node === self && !entry.graceful) {
                fail('fenced');
              }
            }),
          )
          .subscribe({
            next: (entry) => log$.next(entry),
            error: (error: unknown) => fail('failed', error),
          }),
      );
    }

    /** Appends a local event; a frame with no JSON form is not appended, and its connection is aborted. */
    function appendEvent(self: number, event: ClusterEvent<T>): EncodeError | undefined {
      const entry: LogEntry<T> = {
        type: 'event',
        node: self,
        event: { ...event, id: clusterId(self, event.id) },
      };
      let text: string;
      try {
        text = encodeEntry(entry);
      } catch (error: unknown) {
        return error instanceof EncodeError ? error : new EncodeError(undefined, { cause: error });
      }
      hub.append(text).catch((error: unknown) => fail('failed', error));
      return undefined;
    }

    return () => {
      running.unsubscribe();
      if (node !== undefined) {
        append({ type: 'nodeLost', node, by: node, graceful: true });
      }
    };
  });
}

function isConnectionEvent<T>(event: ServerEvent<T>): event is ClusterEvent<T> {
  return (
    event.type === 'connectionMade' ||
    event.type === 'data' ||
    event.type === 'readConnectionLost' ||
    event.type === 'connectionLost'
  );
}

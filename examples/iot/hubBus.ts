/**
 * The gateway's bus between nodes (PROTOCOL.md §9.7) over rxnet's scale-out {@link Hub}: one
 * append-only log, replicated by Redis (a stream) or NATS (JetStream), that every node reads in
 * the same order.
 *
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import { Subject, type Observable, type Subscription } from 'rxjs';
import type { Hub } from 'rxnet';
import { HeldAddresses } from './bus';
import type { GatewayBus, GatewayBusMessage } from './gateway';

/** One entry this bus appends: a message for an address, or a node's start marker. */
type BusEntry =
  | {
      readonly bus: 'message';
      readonly address: string;
      readonly message: GatewayBusMessage;
    }
  | { readonly bus: 'start'; readonly marker: string };

/** Options of {@link hubBus}. */
export interface HubBusOptions {
  /** Where an append that failed, or an entry that is not the bus's, is reported; default nowhere. */
  readonly log?: (line: string) => void;
}

/** A {@link GatewayBus} over a hub, with what a program needs to wait for it and to stop it. */
export interface HubBus extends GatewayBus {
  /**
   * Resolves once this node reads its own start marker back from the log: from then on it
   * receives every message published to an address it holds. Rejects if the hub fails first.
   */
  readonly ready: Promise<void>;
  /** Stops reading and completes `messages$`. The hub itself is the caller's to close. */
  close(): void;
}

/**
 * A {@link GatewayBus} on a scale-out {@link Hub}: `publish` appends `{address, message}` to the
 * hub's log, and every node reads the whole log and keeps the entries for the addresses it
 * holds (`subscribe`), dropping the rest. Subscriptions are counted: an address is held until it has
 * been unsubscribed as many times as it was subscribed.
 *
 * How the book's ZeroMQ PUB/SUB maps onto the log:
 *
 * - The book's topic prefixes `g|<relayer_id>|` and `h|<client_id>|` become the addresses
 *   `g/<relayer_id>` and `h/<client_id>`, presence `o` stays `o`. ZeroMQ filters at the
 *   publisher; here each node filters what it reads. Every node reads every entry, which is what
 *   the hub is made for (a Spread broadcast reaches every node the same way) and costs one JSON
 *   parse per entry per node.
 * - The log has one order, so every node sees all messages in the same order. ZeroMQ kept order
 *   only per publisher; messages from one node still arrive in the order it published them.
 * - A node starts delivering at its own start marker, not at the log's first entry: the log keeps
 *   history (a control request sent an hour ago), and a node that just started must not carry it
 *   out again. Messages this node publishes are appended after its marker (a hub appends in call
 *   order), so it sees its own messages to addresses it holds, as the book's node does when it
 *   sends to a relayer of its own through the bus.
 * - Nothing is acknowledged or retried: a message to an address no node holds is read and dropped
 *   by all, and the sender's own timeout answers (status 18), as in the book.
 *
 * The hub keeps at most its `maxEntries` (1 000 000 by default), and a node started after the log
 * was first trimmed fails with `HubError` (`trimmed`), though it needs none of the old entries:
 * the `Hub` interface has no way to read from the end. Each forwarded control is two entries, so a
 * busy gateway reaches the limit in minutes; restart all its nodes under a new cluster name.
 *
 * ## Example
 * ```ts
 * import { redisHub } from 'rxnet/cluster/redis';
 *
 * const bus = hubBus(redisHub({ url: 'redis://127.0.0.1:6379', cluster: 'iot' }));
 * await bus.ready;
 * serve('tcp:9630', gateway({ store, bus }), { framing: sbmp() }).subscribe();
 * ```
 *
 * @param hub The shared log; the same cluster name on every node.
 * @param options Where failures are reported.
 * @returns The bus, already reading; its `messages$` fails with the hub's error when reading fails.
 */
export function hubBus(hub: Hub, options: HubBusOptions = {}): HubBus {
  const log = options.log ?? (() => undefined);
  const marker = randomUUID();
  const held = new HeldAddresses();
  const messages = new Subject<{ address: string; message: GatewayBusMessage }>();
  let started = false;
  let resolveReady!: () => void;
  let rejectReady!: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  // A program that never awaits `ready` still sees the failure on messages$.
  ready.catch(() => undefined);

  function append(entry: BusEntry): void {
    hub.append(JSON.stringify(entry)).catch((error: unknown) => {
      log(`bus: append failed: ${error instanceof Error ? error.message : String(error)}`);
    });
  }

  function onEntry(text: string): void {
    let entry: BusEntry;
    try {
      entry = JSON.parse(text) as BusEntry;
    } catch {
      log('bus: an entry that is not JSON was skipped');
      return;
    }
    if (!started) {
      if (entry.bus === 'start' && entry.marker === marker) {
        started = true;
        resolveReady();
      }
      return;
    }
    if (entry.bus === 'message' && held.has(entry.address)) {
      messages.next({ address: entry.address, message: entry.message });
    }
  }

  const reading: Subscription = hub.read().subscribe({
    next: onEntry,
    error(error: unknown) {
      rejectReady(error);
      messages.error(error);
    },
    complete() {
      rejectReady(new Error('the hub closed before this node started'));
      messages.complete();
    },
  });
  append({ bus: 'start', marker });

  return {
    ready,
    messages$: messages.asObservable() as Observable<{
      address: string;
      message: GatewayBusMessage;
    }>,
    publish(address, message) {
      append({ bus: 'message', address, message });
    },
    subscribe: (address) => held.add(address),
    unsubscribe: (address) => held.delete(address),
    close() {
      reading.unsubscribe();
      rejectReady(new Error('the bus was closed'));
      messages.complete();
    },
  };
}

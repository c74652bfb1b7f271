/**
 * The gateway's in-memory bus (PROTOCOL.md §9.7): the default {@link GatewayBus}, so one process
 * behaves like the book's single node, which also sent its own controls through ZeroMQ. Several
 * buses on one {@link MemoryMedium} are several nodes in one process: what a two-node test needs
 * without Redis or NATS (examples/iot/hubBus.ts is the same contract over rxnet's hub).
 *
 * @packageDocumentation
 */
import { Subject } from 'rxjs';
import type { GatewayBus, GatewayBusMessage } from './gateway';

/** One delivery: a message for an address. */
interface Delivery {
  readonly address: string;
  readonly message: GatewayBusMessage;
}

/**
 * The addresses a bus holds, counted rather than a set: at a takeover the new session subscribes
 * before the old one unsubscribes, so an address stays held until it has been unsubscribed as
 * often as it was subscribed. Both {@link memoryBus} and `hubBus` keep theirs in one.
 */
export class HeldAddresses {
  private readonly counts = new Map<string, number>();

  /** One more subscriber of `address`. */
  add(address: string): void {
    this.counts.set(address, (this.counts.get(address) ?? 0) + 1);
  }

  /** One subscriber fewer; the last one lets the address go. */
  delete(address: string): void {
    const count = this.counts.get(address) ?? 0;
    if (count <= 1) this.counts.delete(address);
    else this.counts.set(address, count - 1);
  }

  /** Whether anyone holds `address`. */
  has(address: string): boolean {
    return this.counts.has(address);
  }
}

/**
 * What several {@link memoryBus}es share: every bus attached to it sees what any of them
 * publishes, for the addresses it holds.
 */
export class MemoryMedium {
  private readonly buses = new Set<MemoryBus>();
  private readonly queue: { bus: MemoryBus; delivery: Delivery }[] = [];
  private delivering = false;

  /** @internal */
  attach(bus: MemoryBus): void {
    this.buses.add(bus);
  }

  /** @internal */
  detach(bus: MemoryBus): void {
    this.buses.delete(bus);
  }

  /**
   * Delivers to every bus that holds the address, in publish order. A message published while
   * another is being delivered waits for it (a trampoline), so a node's handler never runs inside
   * another handler: a relayer's reply published while its request is still being handled arrives
   * after that handler returns, as it would over a network.
   */
  publish(address: string, message: GatewayBusMessage): void {
    for (const bus of this.buses) {
      if (bus.holds(address)) this.queue.push({ bus, delivery: { address, message } });
    }
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
        next.bus.deliver(next.delivery);
      }
    } finally {
      this.delivering = false;
    }
  }
}

/** Options of {@link memoryBus}. */
export interface MemoryBusOptions {
  /** The medium to share with other buses (nodes); default a new one, this bus alone. */
  readonly medium?: MemoryMedium;
}

/** A {@link GatewayBus} in memory, and a way to detach it from its medium. */
export interface MemoryBus extends GatewayBus {
  /** Whether this bus delivers messages for `address`. */
  holds(address: string): boolean;
  /** @internal Delivers one message to this node. */
  deliver(delivery: Delivery): void;
  /** Detaches from the medium and completes `messages$`. */
  close(): void;
}

/**
 * A bus in memory: `publish` reaches every bus on the same {@link MemoryMedium} that holds the
 * address, itself included. Subscriptions are counted, as `hubBus`'s are: an address stays held
 * until it is unsubscribed as often as it was subscribed (at a takeover the new session
 * subscribes before the old one unsubscribes).
 *
 * ## Example
 * ```ts
 * const medium = new MemoryMedium();
 * const a = gateway({ store, bus: memoryBus({ medium }) });
 * const b = gateway({ store, bus: memoryBus({ medium }) });
 * ```
 *
 * @param options The medium to share.
 * @returns The bus, attached to its medium.
 */
export function memoryBus(options: MemoryBusOptions = {}): MemoryBus {
  const medium = options.medium ?? new MemoryMedium();
  const held = new HeldAddresses();
  const messages = new Subject<Delivery>();
  const bus: MemoryBus = {
    messages$: messages.asObservable(),
    publish: (address, message) => medium.publish(address, message),
    subscribe: (address) => held.add(address),
    unsubscribe: (address) => held.delete(address),
    holds: (address) => held.has(address),
    deliver: (delivery) => messages.next(delivery),
    close() {
      medium.detach(bus);
      messages.complete();
    },
  };
  medium.attach(bus);
  return bus;
}

/**
 * The IoT gateway as an rxnet behaviour (PROTOCOL.md §6, §9.4–§9.7): sessions, heartbeat and
 * idle rules, control forwarded to relayers with seq mapping, event fan-out, takeover, and
 * routing between nodes over a scale-out hub.
 *
 * Skeleton: the contract is settled; the behaviour is filled in by its owner.
 *
 * @packageDocumentation
 */
import type { SchedulerLike } from 'rxjs';
import type { Behaviour } from 'rxnet';
import type { SbmpFrame } from './sbmp';
import type { Store } from './store';

/** `rxnet`: the §9 profile (the defaults). `book`: every behaviour a book peer could observe. */
export type GatewayMode = 'rxnet' | 'book';

/** How the gateway's nodes reach each other (§9.7): one process needs none. */
export interface GatewayBus {
  /** Sends a message to an address: `g/<relayer_id>`, `h/<client_id>` or `o` (presence). */
  publish(address: string, message: GatewayBusMessage): void;
  /** The messages for the addresses this node holds. */
  readonly messages$: import('rxjs').Observable<{ address: string; message: GatewayBusMessage }>;
  /** Starts and stops delivery to this node for an address it now holds or no longer holds. */
  subscribe(address: string): void;
  unsubscribe(address: string): void;
}

/** What travels between nodes: the SBMP frame, and who sent it (§9.7: `{from, fromSock}`). */
export interface GatewayBusMessage {
  readonly frame: SbmpFrame;
  /** The sender's address (`h/<client_id>` for a request from an app). */
  readonly from: string;
  /** The node and connection that sent it, so the reply reaches that one session. */
  readonly fromSock: string;
}

export interface GatewayOptions {
  readonly store: Store;
  /** The bus to other nodes; default: an in-memory bus (one node, as the book's single node). */
  readonly bus?: GatewayBus;
  readonly mode?: GatewayMode;
  /** The clock of every timer; default `asyncScheduler`. Tests pass a TestScheduler. */
  readonly scheduler?: SchedulerLike;
  /** Default 300 000 ms (the book's `time_heartbeat`). */
  readonly idleTimeout?: number;
  /** Default 30 000 ms (300 000 in book mode). */
  readonly authTimeout?: number;
  /** Default 30 000 ms (`timeout_relayer_control`). */
  readonly relayerTimeout?: number;
  /** Default 100 (`maxcmd_relayer_control`). */
  readonly maxInflightPerRelayer?: number;
  /** Default 1000; a full queue answers 17. */
  readonly maxQueuedPerRelayer?: number;
  /** Default 10 000 ms (`timeout_buffered_state`). */
  readonly bufferedStateWindow?: number;
  /** Where debug lines go (late responses, dropped events); default nowhere. */
  readonly log?: (line: string) => void;
}

/** The gateway behaviour, to run with `serve(endpoint, gateway(options), { framing: sbmp() })`. */
export function gateway(options: GatewayOptions): Behaviour<SbmpFrame, SbmpFrame> {
  void options;
  throw new Error('gateway(): not built yet');
}

import {
  Observable,
  type Observer,
  type OperatorFunction,
  Subject,
  type Subscriber,
  type Subscription,
} from 'rxjs';
import { relay } from '../internal/relay';
import type {
  AbortCommand,
  BehaviourItem,
  DataOf,
  CloseCommand,
  CloseReason,
  ConnectionId,
  ConnectionMade,
  DataReceived,
  WriteCommand,
} from '../types';
import { Forwarded, type PerConnection, type ProtocolContext } from './context';
import { asProtocolError, subscribingFor } from './internal';

/**
 * What {@link protocol} emits: the source's items except the `data` events it consumes, the
 * messages its instances forward (as `data` events of type `M`), and their commands.
 */
export type ProtocolItem<E, O, M> =
  Exclude<E, DataReceived<unknown>> | DataReceived<M> | WritesOf<O> | CloseCommand | AbortCommand;

/** The `write` commands of a protocol whose output is `O`: none when it only forwards. */
type WritesOf<O> = [Exclude<O, Forwarded<unknown>>] extends [never]
  ? never
  : WriteCommand<Exclude<O, Forwarded<unknown>>>;

/**
 * Runs a protocol written as a function of one connection, one instance per connection, inside a
 * server's behaviour.
 *
 * ```text
 * source:     -m-a--b-f----l-|    m=made(1)  a=data(1,'hi')  b=data(1,'yo')  f=readLost(1)  l=lost(1)
 * protocol(): -m-A--B-(fc)-l-|    A=write(1,'HI')  B=write(1,'YO')  c=close(1)
 * ```
 * (with `protocol((conn) => conn.frames$.pipe(map((s) => s.toUpperCase())))`)
 *
 * Twisted's `Protocol`, one object per connection with `connectionMade`, `dataReceived` and
 * `connectionLost`, as a function from that connection's frames to its output: its state lives in
 * `scan` or any operator, private to the connection. At each `connectionMade`, `perConnection` is
 * called with a {@link ProtocolContext} and subscribed; the connection's `data` events feed its
 * `frames$`, which completes at `readConnectionLost`. What it emits is written to its connection;
 * what it marks with {@link forward} continues down the pipeline as a `data` event of that
 * connection; its completion is a `close` command, its error an `abort` command whose `reason` is
 * the error (wrapped in {@link ProtocolError} unless it is an {@link RxnetError}), so a failure ends
 * that connection with the error as its close reason and nothing else. At `connectionLost` its
 * `closed$` emits the reason and it is unsubscribed.
 *
 * Being an operator on the server's one event stream, it composes with server-wide behaviours:
 * before it, `countConnections()` gives each instance its count in `conn.made`; after it,
 * `broadcast()` relays what instances forward (the raw frames are the protocol's own, and do not
 * pass through), and every lifecycle event still passes, so the shared operators keep their view
 * of who is connected. A `close` or `abort` command from upstream stops that connection's
 * instance at once, and the frames of a connection whose instance has ended are dropped.
 *
 * Fails only when the source fails.
 *
 * ## Example
 * ```ts
 * import { map, scan } from 'rxjs';
 * import { countConnections, protocol, type Behaviour } from 'rxnet';
 *
 * // Numbers each line, per connection, starting from the connection's own count.
 * const numbered: Behaviour<string, string> = (events) =>
 *   events.pipe(
 *     countConnections(),
 *     protocol((conn) =>
 *       conn.frames$.pipe(
 *         scan((n) => n + 1, 0),
 *         map((n) => `connection ${conn.made.count}, line ${n}\n`),
 *       ),
 *     ),
 *   );
 * ```
 *
 * @param perConnection Called once per connection with its {@link ProtocolContext}; returns what
 * to write to it and what to {@link forward}.
 * @returns A function that returns an Observable of the source's lifecycle events and commands,
 * with each connection's output as commands and its forwarded messages as `data` events.
 * @see {@link runProtocol} to run the same function over one `Connection` (a client's).
 * @see {@link forward}
 */
export function protocol<
  E extends BehaviourItem,
  O,
  M = never,
  C extends ConnectionMade = Extract<E, ConnectionMade>,
>(
  // `C` apart from `E`: an annotated callback then infers `C`, and `E` comes from the pipeline.
  perConnection: PerConnection<DataOf<E>, O, M, C>,
): OperatorFunction<E, ProtocolItem<E, O, M>> {
  return (source) =>
    new Observable<ProtocolItem<E, O, M>>((subscriber) => {
      const instances = new Map<ConnectionId, Instance<DataOf<E>, O, M>>();
      const ended = (instance: Instance<DataOf<E>, O, M>): void => {
        if (instances.get(instance.id) === instance) instances.delete(instance.id);
      };
      relay(source, subscriber, (value) => {
        const item: BehaviourItem = value;
        switch (item.type) {
          case 'connectionMade': {
            subscriber.next(value as ProtocolItem<E, O, M>);
            const instance = new Instance<DataOf<E>, O, M>(item.id, subscriber, ended);
            instances.get(item.id)?.stop();
            instances.set(item.id, instance);
            // `C` is the pipeline's connectionMade type, or what an annotated callback asks for.
            instance.start(perConnection, value as unknown as C);
            return;
          }
          case 'data':
            instances.get(item.id)?.frames.next(item.data as DataOf<E>);
            return;
          case 'readConnectionLost':
            subscriber.next(value as ProtocolItem<E, O, M>);
            instances.get(item.id)?.frames.complete();
            return;
          case 'connectionLost':
            instances.get(item.id)?.lost(item.reason);
            subscriber.next(value as ProtocolItem<E, O, M>);
            return;
          case 'close':
          case 'abort':
            instances.get(item.id)?.stop();
            subscriber.next(value as ProtocolItem<E, O, M>);
            return;
          default:
            subscriber.next(value as ProtocolItem<E, O, M>);
        }
      });
      return () => {
        for (const instance of instances.values()) instance.stop();
        instances.clear();
      };
    });
}

/**
 * One connection's running protocol: the subject its frames go into, and the observer of its
 * output. An object with methods rather than closures, as a server holds one per connection.
 */
class Instance<T, O, M> implements Observer<O | Forwarded<M>> {
  readonly frames = new Subject<T>();
  private closed: Subject<CloseReason> | undefined;
  private subscription: Subscription | undefined;
  /** Its output is over (completed, failed, or stopped): nothing it emits is delivered. */
  private over = false;

  constructor(
    readonly id: ConnectionId,
    private readonly output: Subscriber<ProtocolItem<never, O, M>>,
    private readonly ended: (instance: Instance<T, O, M>) => void,
  ) {}

  start<C extends ConnectionMade>(perConnection: PerConnection<T, O, M, C>, made: C): void {
    const context = this.contextFor(made);
    let output$: Observable<O | Forwarded<M>>;
    try {
      output$ = perConnection(context);
    } catch (error: unknown) {
      this.error(error);
      return;
    }
    const subscription = subscribingFor(this.id, () => output$.subscribe(this));
    // It may have ended while subscribing, before the subscription could be kept.
    if (this.over) subscription.unsubscribe();
    else this.subscription = subscription;
  }

  next(value: O | Forwarded<M>): void {
    if (this.over) return;
    if (value instanceof Forwarded) {
      this.output.next({ type: 'data', id: this.id, data: (value as Forwarded<M>).message });
    } else {
      this.output.next({ type: 'write', to: this.id, data: value } as WritesOf<O>);
    }
  }

  error(error: unknown): void {
    if (this.end())
      this.output.next({ type: 'abort', id: this.id, reason: asProtocolError(error) });
  }

  complete(): void {
    if (this.end()) this.output.next({ type: 'close', id: this.id });
  }

  /** The connection closed: the protocol hears why, then stops. */
  lost(reason: CloseReason): void {
    if (!this.end()) return;
    const closed = this.closed;
    if (closed !== undefined) {
      closed.next(reason);
      closed.complete();
    }
    this.subscription?.unsubscribe();
  }

  stop(): void {
    this.end();
    this.subscription?.unsubscribe();
  }

  /** Marks the output over; `true` the first time. */
  private end(): boolean {
    if (this.over) return false;
    this.over = true;
    this.ended(this);
    return true;
  }

  private contextFor<C extends ConnectionMade>(made: C): ProtocolContext<T, C> {
    // closed$ is created only for a protocol that asks for it; most never do.
    const closed = (): Subject<CloseReason> => (this.closed ??= new Subject<CloseReason>());
    return {
      id: made.id,
      local: made.local,
      remote: made.remote,
      made,
      frames$: this.frames.asObservable(),
      get closed$(): Observable<CloseReason> {
        return closed().asObservable();
      },
    };
  }
}

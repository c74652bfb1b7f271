import { Observable, type OperatorFunction, Subscriber } from 'rxjs';

/**
 * One subscription's framing state. Internal: the public decoders are built from it by
 * {@link decodeWith}.
 */
export interface FrameDecoder<T> {
  /**
   * Takes one chunk and emits every frame it completes, stopping as soon as `out` is closed.
   * Throws an `RxnetError` at the first bad frame, having emitted only the frames before it.
   */
  push(chunk: Buffer, out: FrameSink<T>): void;
  /** The source completed: emits what is left if that is allowed, or throws `TruncatedFrameError`. */
  end(out: FrameSink<T>): void;
}

/**
 * Where a {@link FrameDecoder} emits: the subscriber of {@link decodeWith}'s Observable, or a
 * server's reader of a served connection, which feeds the decoder without an operator chain.
 */
export interface FrameSink<T> {
  next(frame: T): void;
  /** Whether the consumer has gone: the decoder stops emitting. */
  readonly closed: boolean;
}

/** The factory behind each operator {@link decodeWith} made. */
const factories = new WeakMap<object, () => FrameDecoder<unknown>>();

/**
 * The factory of a decoder made by {@link decodeWith} (every rxnet framing), or `undefined` for
 * any other operator: a server feeds such a decoder each connection's chunks itself, without the
 * Observables and subscribers of an operator chain, which are most of an idle connection's memory
 * and a cost on every chunk and every connection (issue 12).
 */
export function frameDecoderOf<T>(
  decode: OperatorFunction<Buffer, T>,
): (() => FrameDecoder<T>) | undefined {
  return factories.get(decode) as (() => FrameDecoder<T>) | undefined;
}

/**
 * Turns a decoder factory into an operator over chunks, with a fresh decoder per subscription,
 * made at the first chunk: a server holds one subscription per connection, and most of them sit
 * idle (issue 12's idle memory). `create` must have no side effects.
 *
 * The source is subscribed with a {@link DecodingSubscriber} chained to `subscriber`, so a
 * synchronous source stops as soon as the consumer goes, and a decoder's throw fails the stream
 * and unsubscribes from the source: nothing after the bad frame is delivered.
 */
export function decodeWith<T>(create: () => FrameDecoder<T>): OperatorFunction<Buffer, T> {
  const operator: OperatorFunction<Buffer, T> = (source) =>
    new Observable<T>((subscriber) => {
      source.subscribe(new DecodingSubscriber(create, subscriber));
    });
  factories.set(operator, create);
  return operator;
}

/**
 * The one object a decoding subscription holds, in place of a chain of operators and closures.
 * Chained to `out` (the `Subscriber` constructor adds it to `out`'s teardown), so `out`'s
 * unsubscription or failure unsubscribes this from the source at once.
 */
class DecodingSubscriber<T> extends Subscriber<Buffer> {
  private decoder: FrameDecoder<T> | undefined;

  constructor(
    private readonly create: () => FrameDecoder<T>,
    private readonly out: Subscriber<T>,
  ) {
    super(out);
  }

  protected override _next(chunk: Buffer): void {
    const out = this.out;
    try {
      (this.decoder ??= this.create()).push(chunk, out);
    } catch (error: unknown) {
      out.error(error);
    }
  }

  protected override _error(error: unknown): void {
    this.out.error(error);
  }

  protected override _complete(): void {
    const out = this.out;
    try {
      (this.decoder ?? this.create()).end(out);
    } catch (error: unknown) {
      out.error(error);
      return;
    }
    out.complete();
  }

  override unsubscribe(): void {
    // Drops the buffered bytes with the decoder, even if a caller still holds this subscription.
    this.decoder = undefined;
    super.unsubscribe();
  }
}

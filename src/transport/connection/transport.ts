import type { Output } from '../../types';

/** Called once a write has been handed on (to the kernel, or to the testing kit's peer). */
export type FlushCallback = (error?: Error | null) => void;

/**
 * The byte pipe under a connection: the little a {@link CoreConnection} needs from a Node
 * `Duplex` (see `duplexTransport.ts`) or from the testing kit's scripted peer. Everything the
 * `Connection` contract promises (lifecycle, backpressure, timeouts, `send`) lives in the core,
 * once, so an in-memory connection and a socket cannot drift apart; a transport only moves bytes
 * and reports what its peer did through {@link TransportSink}.
 *
 * @internal
 */
export interface Transport {
  /** Bytes accepted by `write` and not yet handed on. */
  readonly pendingBytes: number;
  /** Queues bytes; `onFlushed` runs once they (and everything before them) are handed on. */
  write(data: Output, onFlushed?: FlushCallback): void;
  cork(): void;
  uncork(): void;
  /** Flushes, then sends FIN; `onFinished` runs once the FIN is sent (or with the error). */
  end(onFinished: FlushCallback): void;
  pauseReading(): void;
  resumeReading(): void;
  /** Closes without flushing; a TCP peer sees FIN (or RST if data was unread). */
  destroy(): void;
  /** Closes with a RST where the transport can send one; otherwise as `destroy`. */
  reset(): void;
  /** Stops reporting to the sink: called once, when the connection has closed. */
  detach(): void;
}

/** What a transport reports to its connection. @internal */
export interface TransportSink {
  received(chunk: Buffer): void;
  /** The peer sent FIN: nothing more will be received. */
  peerEnded(): void;
  /** The pipe broke (a reset, a write to a dead peer); `closed` follows. */
  failed(error: Error): void;
  /** The pipe is closed: the last report. */
  closed(): void;
  /**
   * A queued write of `bytes` was handed on, so `pendingBytes` fell by as much (counted in the same
   * units). Called for every completion, at once; only counts, so it may come from inside `write`.
   */
  countFlushed(bytes: number): void;
  /**
   * Whether the sink wants {@link outputFlushed} now: its output is at the high-water mark, or a
   * `send()` waits for its last bytes. Most of the time it does not, and a write costs no more.
   */
  readonly awaitsFlushes: boolean;
  /**
   * Output was handed on (after {@link countFlushed}): called after each completion while
   * {@link awaitsFlushes}. The sink may call out to its users, so a transport must not call it
   * from inside its own `write` (a Node stream's transport calls it on the next tick, as Node
   * calls a write's callback).
   */
  outputFlushed(): void;
}

/** Reports a completed write of `bytes` to `sink` at once (a transport whose writes never nest). */
export function reportFlushed(sink: TransportSink, bytes: number): void {
  sink.countFlushed(bytes);
  if (sink.awaitsFlushes) sink.outputFlushed();
}

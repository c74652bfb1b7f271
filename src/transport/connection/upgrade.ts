/**
 * Swapping a live connection's byte pipe for another stream over the same socket (`startTls`),
 * while the {@link CoreConnection} (its id, state, timers, `data$` and `closed$`) stays the same.
 *
 * ```text
 * request ──▶ flushing ──plain output handed to the kernel──▶ handshaking ──complete()──▶ new transport
 *   reading paused, writes queued ──────────────────────────────────────────▶ queue replayed, reading resumes
 * ```
 *
 * From the request on, nothing is read and nothing received is delivered (`upgrading`). What was
 * written before the request goes out first, in plain text (the "220 ready" reply); what is
 * written after it waits in a queue for the new stream, so it is never sent in plain text. Once the
 * plain output is with the kernel, the old stream's listeners come off and its unread input is
 * discarded: those bytes were sent before the reply to the upgrade request could have reached the
 * peer, so they are plaintext pipelined after the request (the STARTTLS command-injection class,
 * CVE-2011-0411), and Node's `TLSSocket` would otherwise read them as the handshake's first bytes.
 *
 * @internal
 * @packageDocumentation
 */
import type { Duplex } from 'node:stream';
import type { Output } from '../../types';
import type { CoreConnection } from './core';
import { DuplexTransport } from './duplexTransport';
import { updateFlow } from './readPath';
import type { FlushCallback, Transport } from './transport';

/** What the caller (`startTls`) does at each step. @internal */
export interface UpgradeSteps {
  /**
   * The plain output is flushed, the old stream detached and its unread input discarded: start the
   * new stream over `raw` and return it. Its `error` and `end` during the handshake come to
   * `failed`; the caller calls `complete()` once it is ready.
   */
  wrap(raw: Duplex): Duplex;
  /** The new stream failed (`error`), or the peer ended it (`undefined`), before `complete()`. */
  failed(error: Error | undefined): void;
}

/**
 * The transport of a connection being upgraded. Starts the upgrade when constructed; the caller
 * has checked that the connection is `open` over a {@link DuplexTransport}.
 *
 * @internal
 */
export class UpgradingTransport implements Transport {
  /** The old transport, until its output is flushed and it is detached. */
  private plain: DuplexTransport | undefined;
  /** The new stream and the socket under it, during the handshake. */
  private stream: OwnedStream | undefined;
  private raw: OwnedStream | undefined;
  private queue: { data: Output; onFlushed: FlushCallback | undefined }[] = [];
  private queuedBytes = 0;
  private ending: FlushCallback | undefined;
  private closing = false;

  constructor(
    private readonly connection: CoreConnection,
    plain: DuplexTransport,
    private readonly steps: UpgradeSteps,
  ) {
    this.plain = plain;
    connection.upgrading = true;
    updateFlow(connection);
    // Writes corked this turn are uncorked by the write path at the turn's end, on whatever the
    // transport then is: uncork the old stream now, or the reply would wait behind the upgrade.
    if (connection.turnWrites === 2) {
      plain.uncork();
      connection.turnWrites = 1;
    }
    connection.transport = this;
    const stream = plain.stream;
    if (stream.writableLength === 0) {
      process.nextTick(flushedThenWrap, this);
    } else {
      // A write's callback runs once it and everything before it are with the kernel. An empty
      // write sends no bytes on a socket, the only kind of stream an upgrade is given.
      stream.write(Buffer.alloc(0), (error) => {
        if (error == null) flushedThenWrap(this);
      });
    }
  }

  get pendingBytes(): number {
    return (this.plain?.pendingBytes ?? 0) + this.queuedBytes;
  }

  write(data: Output, onFlushed?: FlushCallback): void {
    this.queue.push({ data, onFlushed });
    this.queuedBytes += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  }

  cork(): void {
    // The queue is written corked, in one go, when the new stream takes over.
  }

  uncork(): void {
    // See cork().
  }

  end(onFinished: FlushCallback): void {
    this.ending = onFinished;
  }

  pauseReading(): void {
    // Nothing is read during an upgrade (`upgrading`); the handshake reads inside the new stream.
  }

  resumeReading(): void {
    // See pauseReading().
  }

  destroy(): void {
    this.closing = true;
    if (this.plain !== undefined) {
      this.plain.destroy();
    } else {
      this.stream?.destroy();
    }
  }

  reset(): void {
    this.closing = true;
    if (this.plain !== undefined) {
      this.plain.reset();
      return;
    }
    const raw = this.raw;
    if (raw !== undefined && typeof raw.resetAndDestroy === 'function') {
      try {
        // The new stream closes with the socket under it.
        raw.resetAndDestroy();
        return;
      } catch {
        // Only TCP handles can send a RST.
      }
    }
    this.stream?.destroy();
  }

  detach(): void {
    this.plain?.detach();
    this.plain = undefined;
    this.unwatch();
  }

  /** The old stream's output is with the kernel: hand its socket to the caller. */
  wrap(): void {
    const plain = this.plain;
    const state = this.connection.state;
    if (plain === undefined || this.closing || state === 'closing' || state === 'closed') {
      return;
    }
    const raw: OwnedStream = plain.stream;
    plain.detach();
    this.plain = undefined;
    // Not read yet, so sent before our reply to the request: plaintext that must not become TLS.
    // (The flush's callback runs before the event loop next polls this socket, so nothing the peer
    // sent after seeing the reply can be among them.)
    while (raw.read() !== null) {
      // discarded
    }
    raw[kUpgrade] = this;
    // The new stream reports the socket's failures; this keeps one from being an uncaught error.
    raw.on('error', onRawError);
    this.raw = raw;
    let stream: OwnedStream;
    try {
      stream = this.steps.wrap(raw);
    } catch (error: unknown) {
      this.steps.failed(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    stream[kUpgrade] = this;
    this.stream = stream;
    stream.on('error', onStreamError);
    stream.on('end', onStreamEnd);
    stream.on('close', onStreamClose);
  }

  /**
   * The new stream is ready (its handshake finished): it becomes the connection's transport, the
   * queued writes and a queued `end()` go to it, and reading resumes.
   */
  complete(): void {
    const stream = this.stream;
    const raw = this.raw;
    const connection = this.connection;
    if (stream === undefined || raw === undefined || connection.transport !== this) {
      return;
    }
    this.unwatch();
    const transport = new DuplexTransport(stream, connection, raw);
    connection.transport = transport;
    connection.upgrading = false;
    const queue = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    if (queue.length > 0 || this.ending !== undefined) {
      transport.cork();
      for (const { data, onFlushed } of queue) transport.write(data, onFlushed);
      if (this.ending !== undefined) transport.end(this.ending);
      transport.uncork();
    }
    updateFlow(connection);
  }

  streamFailed(error: Error | undefined): void {
    if (!this.closing) {
      this.closing = true;
      this.steps.failed(error);
    }
  }

  streamClosed(): void {
    // A close with neither `error` nor `end` before it (a destroy) fails the handshake too.
    this.streamFailed(undefined);
    this.unwatch();
    this.connection.closed();
  }

  private unwatch(): void {
    const stream = this.stream;
    if (stream !== undefined) {
      stream.off('error', onStreamError);
      stream.off('end', onStreamEnd);
      stream.off('close', onStreamClose);
      stream[kUpgrade] = undefined;
    }
    const raw = this.raw;
    if (raw !== undefined) {
      raw.off('error', onRawError);
      raw[kUpgrade] = undefined;
    }
  }
}

/** Where a stream's listeners find their upgrade: module-level listeners, as in `duplexTransport.ts`. */
const kUpgrade = Symbol('rxnet.upgrade');

type OwnedStream = Duplex & {
  [kUpgrade]?: UpgradingTransport | undefined;
  resetAndDestroy?: () => unknown;
};

function flushedThenWrap(upgrade: UpgradingTransport): void {
  upgrade.wrap();
}

function onStreamError(this: OwnedStream, error: Error): void {
  this[kUpgrade]?.streamFailed(error);
}

function onStreamEnd(this: OwnedStream): void {
  this[kUpgrade]?.streamFailed(undefined);
}

function onStreamClose(this: OwnedStream): void {
  this[kUpgrade]?.streamClosed();
}

function onRawError(this: OwnedStream): void {
  // The new stream over this socket fails too, and reports it.
}

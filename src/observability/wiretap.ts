import { asyncScheduler, type SchedulerLike } from 'rxjs';
import type { RxnetError } from '../errors';
import type { Address, CloseReason, Connection, ConnectionId, ConnectionState } from '../types';
import { formatRecord } from './format';
import { TappedConnection } from './tappedConnection';

/**
 * How many bytes of one chunk {@link wiretap} prints; the rest is counted, not shown.
 *
 * @defaultValue 4096 (256 rows of a hex dump)
 */
export const DEFAULT_WIRETAP_MAX_DUMP_BYTES = 4096;

/**
 * One thing {@link wiretap} saw on a connection, as a value: what `format: 'records'` logs, and
 * what the text formats print.
 */
export type WiretapRecord = {
  /** When, from the scheduler: milliseconds since the epoch (from 0 in virtual time). */
  readonly time: number;
  /** The connection's id. */
  readonly id: ConnectionId;
} & (
  | {
      /** The tap began, when `wiretap` was called. */
      readonly type: 'tapped';
      /** Where the connection was in its life then (normally `open`). */
      readonly state: ConnectionState;
      /** This end's address. */
      readonly local: Address;
      /** The peer's address. */
      readonly remote: Address;
    }
  | {
      /** A chunk was read and handed to `data$`'s subscribers (after this record). */
      readonly type: 'read';
      /** The chunk, as `data$` emits it. */
      readonly data: Buffer;
    }
  | {
      /** A write was accepted: by `write()`, or one value of `send()`'s source. */
      readonly type: 'write';
      /** The bytes written; a string as its UTF-8 bytes. */
      readonly data: Buffer;
    }
  | {
      /** The peer sent FIN: `data$` completed and the connection is still writable. */
      readonly type: 'readConnectionLost';
    }
  | {
      /** `end()` was called on an open connection: flush, then FIN. */
      readonly type: 'end';
    }
  | {
      /** `abort()` was called on a connection not yet closing. */
      readonly type: 'abort';
      /** The reason given to `abort()`, if any. */
      readonly reason?: RxnetError;
    }
  | {
      /** The connection closed (`closed$` emitted); always the last record. */
      readonly type: 'connectionLost';
      /** Why. */
      readonly reason: CloseReason;
    }
);

/**
 * Where {@link wiretap} sends what it sees: a function, or an Observer such as a `Subject`, whose
 * `complete` is called after the `connectionLost` record (so `record(subject)` ends there).
 */
export type WiretapLog<T> =
  | ((entry: T) => void)
  | {
      /** Receives each entry, in order. */
      next(entry: T): void;
      /** Called once, after the last entry. */
      complete?(): void;
    };

/** Options of {@link wiretap} that print text: a hex dump (the default), or quoted text. */
export interface WiretapTextOptions {
  /**
   * `'hex'`: a header line (`2026-01-02T03:04:05.678Z #3 < 6 bytes`) and `hexdump -C` rows, with
   * the bytes as hex and as ASCII text. `'text'`: one line with the bytes as UTF-8 in JSON quotes
   * (`#3 < 6 bytes "hello\n"`).
   *
   * @defaultValue `'hex'`
   */
  readonly format?: 'hex' | 'text';
  /**
   * Receives one string per event, its lines joined by `\n` (a hex dump is several lines).
   *
   * @defaultValue `console.error`
   */
  readonly log?: WiretapLog<string>;
  /**
   * At most this many bytes of each chunk are printed, then a line saying how many were left out.
   *
   * @defaultValue {@link DEFAULT_WIRETAP_MAX_DUMP_BYTES}
   */
  readonly maxDumpBytes?: number;
  /** Where timestamps come from. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
}

/** Options of {@link wiretap} that log {@link WiretapRecord} values, for tests and for your own logger. */
export interface WiretapRecordOptions {
  /** Log values rather than text. */
  readonly format: 'records';
  /** Receives each record. */
  readonly log: WiretapLog<WiretapRecord>;
  /** Where the records' `time` comes from. @defaultValue `asyncScheduler` */
  readonly scheduler?: SchedulerLike;
}

/** Options of {@link wiretap}: text (the default) or records. */
export type WiretapOptions = WiretapTextOptions | WiretapRecordOptions;

/**
 * Wraps a connection so that what passes through it is logged: each chunk read, each write, the
 * peer's FIN, `end()`, `abort()` and the close, with a timestamp (Netty's `LoggingHandler`,
 * Twisted's `TrafficLoggingFactory`).
 *
 * ```text
 * 2026-01-02T03:04:05.678Z #3 tapped (open) L:127.0.0.1:8007 R:127.0.0.1:52311
 * 2026-01-02T03:04:05.912Z #3 < 6 bytes
 * 0000  68 65 6c 6c 6f 0a                                 |hello.|
 * 2026-01-02T03:04:05.913Z #3 > 6 bytes
 * 0000  68 65 6c 6c 6f 0a                                 |hello.|
 * 2026-01-02T03:04:06.020Z #3 < FIN
 * 2026-01-02T03:04:06.021Z #3 end()
 * 2026-01-02T03:04:06.022Z #3 closed: done
 * ```
 *
 * The returned connection behaves as the one it wraps: the same id, addresses, state,
 * backpressure and lifecycle, and `data$` still reads only while it has subscribers. A chunk is
 * logged once however many subscribers `data$` has, before they see it, so a reply written in
 * response comes after it in the log. Reads are logged as `data$` delivers them, so nothing is
 * logged for bytes nobody reads, nor after `end()` or `abort()`; writes are logged when the
 * connection accepts them (`write()` before `end()`, each value `send()` writes). Wiretapping
 * costs nothing until it is used: no other part of rxnet imports it.
 *
 * Timestamps come from `options.scheduler`, so a test in virtual time gets virtual ones, and
 * `format: 'records'` logs {@link WiretapRecord} values that the testing kit's `record` can take.
 *
 * ## Example
 * ```ts
 * import { map } from 'rxjs';
 * import { listen, wiretap } from 'rxnet';
 *
 * // Every connection of a server, hex dumped to stderr.
 * listen('tcp:8007').pipe(map((connection) => wiretap(connection)));
 * ```
 *
 * @param connection Any connection: from `listen`, `connect`, or the testing kit.
 * @param options The format, where the log goes, how much of a chunk to print, and the clock.
 * @returns A connection that behaves as `connection` and logs what passes through it.
 * @throws TypeError for an unknown `format` or `format: 'records'` without a `log`, RangeError
 *   for a `maxDumpBytes` that is not a non-negative integer or `Infinity`.
 */
export function wiretap(connection: Connection, options: WiretapRecordOptions): Connection;
/** Wraps a connection so that what passes through it is printed as text; see above. */
export function wiretap(connection: Connection, options?: WiretapTextOptions): Connection;
export function wiretap(connection: Connection, options: WiretapOptions = {}): Connection {
  return new TappedConnection(connection, toEmit(options), options.scheduler ?? asyncScheduler);
}

/** Checks the options and returns where each record goes, formatted as they ask. */
function toEmit(options: WiretapOptions): (record: WiretapRecord) => void {
  if (options.format === 'records') {
    if (options.log === undefined) {
      throw new TypeError("wiretap: format 'records' needs a log");
    }
    return toSink(options.log, (record) => record);
  }
  const format = options.format ?? 'hex';
  if (format !== 'hex' && format !== 'text') {
    throw new TypeError(
      `wiretap: format must be 'hex', 'text' or 'records', got ${String(format)}`,
    );
  }
  const maxDumpBytes = options.maxDumpBytes ?? DEFAULT_WIRETAP_MAX_DUMP_BYTES;
  if (!(Number.isInteger(maxDumpBytes) && maxDumpBytes >= 0) && maxDumpBytes !== Infinity) {
    throw new RangeError(
      `wiretap: maxDumpBytes must be a non-negative integer or Infinity, got ${maxDumpBytes}`,
    );
  }
  const log = options.log ?? ((line: string) => console.error(line));
  return toSink(log, (record) => formatRecord(record, format, maxDumpBytes));
}

/** Each record, as `log` takes it; an Observer is completed after the last one. */
function toSink<T>(
  log: WiretapLog<T>,
  entryOf: (record: WiretapRecord) => T,
): (record: WiretapRecord) => void {
  if (typeof log === 'function') {
    return (record) => log(entryOf(record));
  }
  return (record) => {
    log.next(entryOf(record));
    if (record.type === 'connectionLost') {
      log.complete?.();
    }
  };
}

import { type Observable, tap } from 'rxjs';
import { asRxnetError } from '../internal/asRxnetError';
import type { Codec, Connection, Output } from '../types';

/** A {@link Connection} seen through a {@link Codec}: messages in, messages out. */
export interface FramedConnection<T, O> {
  /** The connection itself, for its lifecycle (`closed$`, `end()`, `abort()`) and raw bytes. */
  readonly connection: Connection;
  /**
   * The connection's messages: `data$` through the codec's decoder, one decoder per subscriber.
   * Completes at the peer's FIN; fails, and aborts the connection with the error as its close
   * reason, when the input cannot be decoded (as a server does).
   */
  readonly frames$: Observable<T>;
  /**
   * Encodes `value` and writes its parts in order. Returns what the last write returned (Node's
   * `write()` contract: `false` once the output reached the high-water mark), `true` when there
   * was nothing to write. Throws what the encoder throws, before writing anything.
   */
  write(value: O): boolean;
}

/**
 * Puts a codec on a connection: its frames come out decoded, and messages go in encoded. The
 * client's counterpart of a server's `framing` option.
 *
 * ```text
 * data$:    -a----b---|    a='he'  b='llo\r\nhi\r\n'
 * frames$:  ------(xy)|    x='hello'  y='hi'
 * ```
 *
 * A connection's bytes stay bytes: `connect`, `connectAsync` and `listen` give the same
 * {@link Connection} whatever the protocol, and `framed` is the small step from there to messages,
 * with the same codecs a server takes (`lines()`, `netstrings()`, `lengthPrefixed()`, your own).
 * Where a server aborts a connection whose input cannot be decoded, so does `frames$`.
 *
 * Fails (`frames$`) with the decoder's error, such as {@link FrameTooLongError}; `write` throws
 * the encoder's.
 *
 * ## Example
 * ```ts
 * import { switchMap } from 'rxjs';
 * import { connect, framed, lines } from 'rxnet';
 *
 * connect('tcp:localhost:8007')
 *   .pipe(
 *     switchMap((connection) => {
 *       const chat = framed(connection, lines({ encoding: 'utf8' }));
 *       chat.write('hello');
 *       return chat.frames$;
 *     }),
 *   )
 *   .subscribe((line) => console.log(line));
 * ```
 *
 * @param connection Any connection: from `connect`, `listen`, or the testing kit.
 * @param codec How messages are framed, in both directions.
 * @returns The connection with `frames$` and `write(value)`.
 * @see {@link Codec}
 */
export function framed<T, O>(connection: Connection, codec: Codec<T, O>): FramedConnection<T, O> {
  const { decode, encode } = codec;
  const frames$ = connection.data$.pipe(
    decode,
    // A lost connection's own error arrives here too; abort() is then a no-op.
    tap({ error: (error: unknown) => connection.abort(asRxnetError(error)) }),
  );
  return {
    connection,
    frames$,
    write(value) {
      const encoded = encode(value);
      if (!isParts(encoded)) return connection.write(encoded);
      let written = true;
      for (const part of encoded) written = connection.write(part);
      return written;
    },
  };
}

function isParts(encoded: Output | readonly Output[]): encoded is readonly Output[] {
  return Array.isArray(encoded);
}

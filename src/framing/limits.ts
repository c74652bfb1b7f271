/**
 * The framing defaults, stated once, and the call-time checks every codec shares.
 *
 * @packageDocumentation
 */
import type { Output } from '../types';

/**
 * The longest line {@link lines} accepts by default, delimiter excluded.
 *
 * @defaultValue 16384 (Twisted's `LineReceiver.MAX_LENGTH`)
 */
export const DEFAULT_MAX_LINE_BYTES = 16384;

/**
 * The line delimiter {@link lines} uses by default.
 *
 * @defaultValue `'\r\n'` (Twisted's `LineReceiver.delimiter`)
 */
export const DEFAULT_LINE_DELIMITER = '\r\n';

/**
 * The longest netstring payload {@link netstrings} accepts by default.
 *
 * @defaultValue 99999 (Twisted's `NetstringReceiver.MAX_LENGTH`)
 */
export const DEFAULT_MAX_NETSTRING_BYTES = 99999;

/**
 * The longest frame payload {@link delimited} and {@link lengthPrefixed} accept by default.
 *
 * @defaultValue 99999 (Twisted's `IntNStringReceiver.MAX_LENGTH`)
 */
export const DEFAULT_MAX_FRAME_BYTES = 99999;

/** Options every decoder takes. */
export interface TruncationOptions {
  /**
   * What to do when the source completes in the middle of a frame: `false` fails with
   * `TruncatedFrameError`; `true` completes quietly (delimiter-based decoders emit the unfinished
   * frame first, as Akka's `allowTruncation` does; length-based ones drop it, as Twisted does).
   *
   * @defaultValue false
   */
  readonly allowTruncation?: boolean;
}

/** Checks a byte-count option at call time; contradictory or nonsensical options throw `TypeError`. */
export function byteCount(name: string, value: number, min = 0): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`${name} must be an integer of at least ${min}, got ${value}`);
  }
  return value;
}

/** The bytes of an Output: strings are UTF-8; a Uint8Array is viewed, not copied. */
export function toBuffer(data: Output): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** A non-empty delimiter as bytes. */
export function toDelimiter(delimiter: string | Uint8Array): Buffer {
  const bytes = toBuffer(delimiter);
  if (bytes.length === 0) throw new TypeError('delimiter must not be empty');
  return bytes;
}

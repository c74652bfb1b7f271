/**
 * SBMP, the IoT gateway's wire format (../../docs/gateway.md, PROTOCOL.md §3 and §9.2): a 16-byte
 * header `u32be length | u32be commandId | u32be status | u32be seq`, where `length` counts the
 * header, then an optional UTF-8 JSON object.
 *
 * Decoding is rxnet's `lengthPrefixed()` in its gateway configuration (the length field counts the
 * 16-byte header, the whole frame is emitted), then one JSON parse per frame. Bad input follows
 * §9.6:
 *
 * - a length below 16 fails the stream with {@link SbmpFrameTooShortError}
 *   (`ERR_SBMP_FRAME_TOO_SHORT`);
 * - a length above `maxFrameBytes` fails it with rxnet's `FrameTooLongError`
 *   (`RXNET_ERR_FRAME_TOO_LONG`, the profile's "frame too large") as soon as the length field is
 *   read, before any body is buffered;
 * - a peer that closes inside a frame fails it with rxnet's `TruncatedFrameError`;
 * - a body that is not one UTF-8 JSON object is not an error: the frame is emitted with
 *   `malformed: true` and no body, since the length kept frame sync and the session answers
 *   status 4 on the same connection.
 *
 * Nothing after a bad frame is emitted, including the rest of its chunk.
 *
 * **As a close reason.** `serve` aborts a connection whose decoder fails, with the error as the
 * close reason when it is an `RxnetError`. `FrameTooLongError` and `TruncatedFrameError` are, so
 * they are the reason as they are. {@link SbmpFrameTooShortError} is the example's own class (an
 * `RxnetError`'s code is one of rxnet's own), so `serve` wraps it: the reason is
 * `{ type: 'aborted', error: InvalidFrameError }` (`RXNET_ERR_INVALID_FRAME`) whose `cause` is the
 * `SbmpFrameTooShortError`. Branch on `error.cause.code === 'ERR_SBMP_FRAME_TOO_SHORT'`.
 *
 * @packageDocumentation
 */
import { isUtf8 } from 'node:buffer';
import { catchError, map, type Observable, throwError } from 'rxjs';
import {
  encodeLengthPrefixedFrame,
  type Framing,
  framingOf,
  InvalidFrameError,
  lengthPrefixed,
  type LengthPrefixedOptions,
} from 'rxnet';

/** A JSON object body. */
export type SbmpBody = { readonly [key: string]: unknown };

/** One decoded frame. */
export interface SbmpFrame {
  readonly commandId: number;
  readonly status: number;
  readonly seq: number;
  /** The parsed JSON object, or undefined when the frame is a bare 16-byte header. */
  readonly body?: SbmpBody;
  /**
   * Set instead of `body` when the body was present but was not one UTF-8 JSON object: frame sync
   * is intact, so the session replies status 4 and keeps the connection (§9.6).
   */
  readonly malformed?: true;
}

/** The bit that marks a response: `responseId = requestId | RESPONSE_BIT`. */
export const RESPONSE_BIT = 0x80000000;
/** Header size in bytes. */
export const HEADER_BYTES = 16;
/** The rxnet profile's default cap on a frame's total length (§9.2). */
export const DEFAULT_MAX_SBMP_FRAME_BYTES = 65_536;
/** The cap in `--mode book`: the book had none; rxnet raises the cap but keeps one. */
export const BOOK_MAX_SBMP_FRAME_BYTES = 16 * 1024 * 1024;

/** Command ids (§4). */
export const Cmd = {
  KeepAlive: 0x00000000,
  Authorize: 0x00000001,
  HeartBeat: 0x00000002,
  QueryDevice: 0x00010001,
  QueryApartment: 0x00010002,
  QueryAccount: 0x00010003,
  QueryAlarm: 0x00010007,
  QueryRelayerStatus: 0x00010008,
  AddDevice: 0x00020001,
  AddAccount: 0x00020005,
  AddApartment: 0x00020006,
  AddRelayer: 0x00020007,
  RemoveDevice: 0x00030001,
  RemoveApartment: 0x00030006,
  RemoveRelayer: 0x00030007,
  ModifyApartment: 0x00040006,
  ModifyRelayer: 0x00040007,
  SetProfile: 0x00050001,
  ControlDevice: 0x00060001,
  SetArm: 0x00060002,
  PasswordRestore: 0x00060003,
  RedirectNotify: 0x00060007,
  EventDev: 0x00070001,
  RelayerStatusNotify: 0x00070002,
} as const;
export type CommandId = (typeof Cmd)[keyof typeof Cmd];

/** Status codes (§5), plus rxnet's 19. */
export const Status = {
  Ok: 0,
  DeviceExists: 1,
  WrongModel: 2,
  DatabaseError: 3,
  MissingParameter: 4,
  UserNameTaken: 5,
  EmailTaken: 6,
  WrongPassword: 7,
  RelayerOffline: 8,
  ControlFailed: 9,
  NoDevice: 10,
  PhoneTaken: 11,
  NoRelayer: 12,
  Unauthenticated: 13,
  LoginFailed: 14,
  TryLater: 15,
  EmailNotFound: 16,
  ServerBusy: 17,
  RelayerTimeout: 18,
  UnknownCommand: 19,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

/** Whether a frame is a response (bit 31 set). */
export function isResponse(frame: SbmpFrame): boolean {
  return (frame.commandId & RESPONSE_BIT) !== 0;
}

/**
 * The response id of a request id, as the decoder reports it: unsigned, so it compares equal to a
 * decoded response's `commandId` (`id | RESPONSE_BIT` alone is a negative number in JavaScript).
 */
export function responseIdOf(commandId: number): number {
  return (commandId | RESPONSE_BIT) >>> 0;
}

/** A request's reply frame: the response id, the request's seq, a status and an optional body. */
export function replyTo(request: SbmpFrame, status: number, body?: SbmpBody): SbmpFrame {
  const commandId = responseIdOf(request.commandId);
  return body === undefined
    ? { commandId, status, seq: request.seq }
    : { commandId, status, seq: request.seq, body };
}

/** Options of {@link sbmp} and {@link encodeSbmp}. */
export interface SbmpOptions {
  /**
   * The cap on a frame's total length, header included, checked as soon as the header's length
   * field is read, and by the encoder before it writes.
   *
   * @defaultValue {@link DEFAULT_MAX_SBMP_FRAME_BYTES}
   */
  readonly maxFrameBytes?: number;
}

/**
 * A frame announced a length below the 16-byte header it starts with (§9.6): garbage, or a stream
 * out of sync. The decoder fails with it and the connection is closed; see the module's notes for
 * how it appears in a close reason.
 */
export class SbmpFrameTooShortError extends Error {
  override readonly name = 'SbmpFrameTooShortError';
  /** Stable, to branch on. */
  readonly code = 'ERR_SBMP_FRAME_TOO_SHORT';

  constructor(
    /** The length the header announced. */
    readonly length: number,
    options?: { readonly cause?: unknown },
  ) {
    super(
      `SBMP frame length ${length} is below the ${HEADER_BYTES}-byte header`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
  }
}

/** lengthPrefixed()'s layout for SBMP: a 4-byte total length leading a 16-byte header. */
function layout(options: SbmpOptions): LengthPrefixedOptions {
  return {
    prefixBytes: 4,
    headerBytes: HEADER_BYTES,
    lengthIncludesHeader: true,
    includeHeader: true,
    maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_SBMP_FRAME_BYTES,
  };
}

/**
 * The SBMP framing, both directions, for `serve`/`connect`'s `framing` option (or to pipe a
 * connection's `data$` through).
 *
 * ```text
 * source:  -a----b--|    a=[00 00 00 10 00 00 00 02 00 00]  b=[00 00 00 00 00 01]
 * sbmp():  ------x--|    x={ commandId: 2, status: 0, seq: 1 }
 * ```
 *
 * Fails with {@link SbmpFrameTooShortError} on a length below 16, with `FrameTooLongError` on a
 * length above `maxFrameBytes` (as soon as the length is read) and with `TruncatedFrameError`
 * when the source completes inside a frame. A body that is not one UTF-8 JSON object gives a
 * frame with `malformed: true`, and decoding goes on.
 *
 * ## Example
 * ```ts
 * import { serve } from 'rxnet';
 * import { gateway } from './gateway';
 * import { sbmp } from './sbmp';
 *
 * serve('tcp:9630', gateway({ store }), { framing: sbmp() }).subscribe();
 * ```
 *
 * @param options The frame cap; see {@link SbmpOptions}.
 * @returns The decoder operator, which is also the codec: its `encode` writes a frame as
 * {@link encodeSbmp} does, as a header and a body part.
 * @throws `TypeError` at call time for a cap below 16 bytes or not an integer.
 */
export function sbmp(options: SbmpOptions = {}): Framing<SbmpFrame, SbmpFrame> {
  const frameLayout = layout(options);
  const frames = lengthPrefixed(frameLayout);
  const decode = (source: Observable<Buffer>): Observable<SbmpFrame> =>
    source.pipe(
      frames,
      map(parseFrame),
      catchError((error: unknown) => throwError(() => tooShort(error))),
    );
  return framingOf(decode, (frame: SbmpFrame): readonly Buffer[] => frameParts(frame, frameLayout));
}

/**
 * One frame's bytes (header and raw UTF-8 JSON body), as the encoder writes them: a bare 16-byte
 * header when `body` is undefined.
 *
 * @param frame The frame; `malformed` is ignored.
 * @param options The cap the peer's decoder applies.
 * @returns The frame, as one buffer.
 * @throws `FrameTooLongError` when the frame exceeds `maxFrameBytes`, and `TypeError` when a
 * header field is not a 32-bit integer (signed or unsigned: a negative one is written as its
 * unsigned twin).
 */
export function encodeSbmp(frame: SbmpFrame, options: SbmpOptions = {}): Buffer {
  return Buffer.concat(frameParts(frame, layout(options)));
}

function frameParts(frame: SbmpFrame, frameLayout: LengthPrefixedOptions): readonly Buffer[] {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(uint32('commandId', frame.commandId), 4);
  header.writeUInt32BE(uint32('status', frame.status), 8);
  header.writeUInt32BE(uint32('seq', frame.seq), 12);
  const body = frame.body === undefined ? EMPTY : Buffer.from(JSON.stringify(frame.body), 'utf8');
  const parts = encodeLengthPrefixedFrame(body, frameLayout, header);
  // A bare frame is one part: an empty write would be a wasted call on the connection.
  return body.length === 0 ? [parts[0]] : parts;
}

const EMPTY = Buffer.alloc(0);

/**
 * The field as an unsigned 32-bit integer. A negative int32 is taken as its unsigned twin, since
 * `id | RESPONSE_BIT` is negative in JavaScript.
 */
function uint32(field: string, value: number): number {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0xffffffff) {
    throw new TypeError(`SBMP ${field} must be a 32-bit integer, got ${String(value)}`);
  }
  return value >>> 0;
}

function parseFrame(bytes: Buffer): SbmpFrame {
  const commandId = bytes.readUInt32BE(4);
  const status = bytes.readUInt32BE(8);
  const seq = bytes.readUInt32BE(12);
  if (bytes.length === HEADER_BYTES) return { commandId, status, seq };
  const body = parseBody(bytes.subarray(HEADER_BYTES));
  return body === undefined
    ? { commandId, status, seq, malformed: true }
    : { commandId, status, seq, body };
}

/** The body as a JSON object, or undefined when it is not valid UTF-8 or not one JSON object. */
function parseBody(bytes: Buffer): SbmpBody | undefined {
  // Checked first because toString() would turn bad bytes into U+FFFD and parse them as valid.
  if (!isUtf8(bytes)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as SbmpBody)
    : undefined;
}

/** lengthPrefixed()'s refusal of a length below the header, as the profile's typed error. */
function tooShort(error: unknown): unknown {
  if (!(error instanceof InvalidFrameError)) return error;
  // lengthPrefixed() refuses a short length with this reason and nothing else as InvalidFrameError.
  const match = /^length (\d+) is below/.exec(error.reason);
  return match === null ? error : new SbmpFrameTooShortError(Number(match[1]), { cause: error });
}

/**
 * SBMP, the IoT gateway's wire format (../../docs/gateway.md, PROTOCOL.md §3 and §9.2): a 16-byte
 * header `u32be length | u32be commandId | u32be status | u32be seq`, where `length` counts the
 * header, then an optional UTF-8 JSON object.
 *
 * Skeleton: the types and constants are settled; the framing is filled in by its owner.
 *
 * @packageDocumentation
 */

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

/** Options of {@link sbmp}. */
export interface SbmpOptions {
  /** The cap on a frame's total length, checked as soon as the header's length is read. */
  readonly maxFrameBytes?: number;
}

/**
 * The SBMP framing, both directions, for `serve`/`connect`'s `framing` option.
 * Decoding fails with a typed error on a length below 16 or above the cap (§9.6).
 */
export function sbmp(options: SbmpOptions = {}): import('rxnet').Framing<SbmpFrame> {
  void options;
  throw new Error('sbmp(): not built yet');
}

/** One frame's bytes (header and raw UTF-8 JSON body), as the encoder writes them. */
export function encodeSbmp(frame: SbmpFrame): Buffer {
  void frame;
  throw new Error('encodeSbmp(): not built yet');
}

import { ProxyProtocolError } from '../../errors';
import type { TcpAddress, UnixAddress } from '../../types';
import { crc32c } from './crc32c';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from './ipText';

/**
 * The longest PROXY v1 line, CRLF included: `PROXY UNKNOWN` with two full IPv6 addresses and
 * ports (the spec's "worst case"). A line with no CRLF by then is refused.
 */
export const MAX_PROXY_V1_HEADER_BYTES = 107;

/**
 * The longest PROXY v2 header accepted, the 16 fixed bytes included. The format allows
 * 16 + 65535; this is HAProxy's default buffer size (`tune.bufsize`), more than any header HAProxy
 * sends, so a peer cannot make each pending connection hold 64 KiB. The declared length is
 * checked as soon as the 16 fixed bytes are in, before anything else is buffered.
 */
export const MAX_PROXY_V2_HEADER_BYTES = 16384;

/** What a PROXY header says: the original client and the address it dialled. */
export interface ProxyHeader {
  readonly source: TcpAddress | UnixAddress;
  readonly destination: TcpAddress | UnixAddress;
}

/**
 * One step of {@link ProxyHeaderParser}:
 * - `needMore`: every byte so far can still begin a valid header;
 * - `done`: the header is complete; `used` bytes of the last chunk belong to it, the rest is the
 *   connection's data. `header` is `undefined` when the connection's own addresses stand (v1
 *   `UNKNOWN`, the v2 LOCAL command, and v2 families or transports other than TCP and UNIX stream);
 * - `error`: the bytes cannot be a valid header.
 */
export type ProxyParse =
  | { readonly type: 'needMore' }
  | {
      readonly type: 'done';
      readonly version: 1 | 2;
      readonly header: ProxyHeader | undefined;
      /** Bytes of the chunk just pushed that were part of the header. */
      readonly used: number;
      /** The whole header's length in bytes. */
      readonly length: number;
    }
  | { readonly type: 'error'; readonly error: ProxyProtocolError };

const NEED_MORE: ProxyParse = Object.freeze({ type: 'needMore' });

/** `\r\n\r\n\0\r\nQUIT\n`: chosen by the spec to be no prefix of HTTP, TLS, SMTP or v1. */
const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const V2_FIXED_BYTES = 16;
const CR = 0x0d;
const LF = 0x0a;
const PP2_TYPE_CRC32C = 0x03;

/** Address block sizes of the v2 protocol bytes whose layout the spec defines. */
const V2_ADDRESS_BYTES: ReadonlyMap<number, number> = new Map([
  [0x11, 12], // TCP over IPv4
  [0x12, 12], // UDP over IPv4
  [0x21, 36], // TCP over IPv6
  [0x22, 36], // UDP over IPv6
  [0x31, 216], // UNIX stream
  [0x32, 216], // UNIX datagram
]);

/**
 * Reads a PROXY protocol header, v1 or v2, from chunks as they arrive: the pure half of a
 * `haproxy:` endpoint (as ws's `Receiver` is to its socket). Each `push` answers whether the header
 * is complete, needs more bytes, or cannot be valid.
 *
 * It decides the version from the first byte and refuses at the first byte that no valid header
 * could contain (a wrong signature byte, a bad character in a v1 address, a v2 length over
 * {@link MAX_PROXY_V2_HEADER_BYTES}), so a peer speaking anything else is refused at once rather
 * than after 107 bytes. Validation is strict, as the spec asks: v1 wants single spaces, canonical
 * addresses (no heading zeros) of the announced family, ports 0 to 65535 and CRLF; v2 wants version
 * 2, command LOCAL or PROXY, known family and transport nibbles, an address block that fits the
 * declared length, well-formed TLVs and, if a CRC32C TLV is present, a matching checksum. Buffers
 * are bounded: 107 bytes for v1, the declared length for v2.
 */
export class ProxyHeaderParser {
  private version: 1 | 2 | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private filled = 0;
  /** v1: where the search for the line's end resumes. */
  private scanned = 0;
  private finished = false;

  /**
   * Feeds the next chunk. After `done` or `error` the parser is spent: pushing again throws.
   *
   * @returns What the bytes so far amount to; see {@link ProxyParse}.
   */
  push(chunk: Uint8Array): ProxyParse {
    if (this.finished) throw new Error('ProxyHeaderParser: the header has already been read');
    if (chunk.length === 0) return NEED_MORE;
    if (this.version === undefined) {
      if (chunk[0] === 0x50 /* 'P' */) {
        this.version = 1;
        this.buffer = Buffer.alloc(MAX_PROXY_V1_HEADER_BYTES);
      } else if (chunk[0] === CR) {
        this.version = 2;
        this.buffer = Buffer.alloc(V2_FIXED_BYTES);
      } else {
        return this.fail(`byte 0x${hex(chunk[0]!)} starts neither a PROXY v1 nor a v2 header`);
      }
    }
    return this.settle(this.version === 1 ? this.pushV1(chunk) : this.pushV2(chunk));
  }

  private settle(result: ProxyParse): ProxyParse {
    if (result.type !== 'needMore') {
      this.finished = true;
      this.buffer = Buffer.alloc(0);
    }
    return result;
  }

  private fail(reason: string): ProxyParse {
    this.finished = true;
    return { type: 'error', error: new ProxyProtocolError(`Invalid PROXY header: ${reason}`) };
  }

  private pushV1(chunk: Uint8Array): ProxyParse {
    const start = this.filled;
    const take = Math.min(chunk.length, MAX_PROXY_V1_HEADER_BYTES - start);
    this.buffer.set(chunk.subarray(0, take), start);
    this.filled += take;
    let at = this.scanned;
    for (; at < this.filled; at++) {
      const byte = this.buffer[at];
      if (byte === LF) return this.fail('a bare LF ends the v1 line (CRLF is required)');
      if (byte !== CR) continue;
      // A CR as the last byte so far: look at it again once the next byte is in.
      if (at + 1 === this.filled) break;
      if (this.buffer[at + 1] !== LF) return this.fail('a CR in the v1 line is not followed by LF');
      const problem = v1LineProblem(this.buffer.toString('latin1', 0, at), true);
      if (problem !== undefined) return this.fail(problem);
      const length = at + 2;
      return {
        type: 'done',
        version: 1,
        header: v1Header(this.buffer.toString('latin1', 0, at)),
        used: length - start,
        length,
      };
    }
    this.scanned = at;
    if (this.filled === MAX_PROXY_V1_HEADER_BYTES) {
      return this.fail(`no CRLF within the ${MAX_PROXY_V1_HEADER_BYTES} bytes of a v1 line`);
    }
    const text = this.buffer.toString('latin1', 0, this.filled);
    const problem = v1LineProblem(text.endsWith('\r') ? text.slice(0, -1) : text, false);
    return problem === undefined ? NEED_MORE : this.fail(problem);
  }

  private pushV2(chunk: Uint8Array): ProxyParse {
    let offset = 0;
    if (this.filled < V2_FIXED_BYTES) {
      for (; offset < chunk.length && this.filled < V2_FIXED_BYTES; offset++) {
        const problem = v2FixedByteProblem(this.filled, chunk[offset]!);
        if (problem !== undefined) return this.fail(problem);
        this.buffer[this.filled++] = chunk[offset]!;
      }
      if (this.filled < V2_FIXED_BYTES) return NEED_MORE;
      const length = V2_FIXED_BYTES + this.buffer.readUInt16BE(14);
      if (length > MAX_PROXY_V2_HEADER_BYTES) {
        return this.fail(`a v2 header of ${length} bytes exceeds ${MAX_PROXY_V2_HEADER_BYTES}`);
      }
      const whole = Buffer.alloc(length);
      this.buffer.copy(whole);
      this.buffer = whole;
    }
    const take = Math.min(this.buffer.length - this.filled, chunk.length - offset);
    this.buffer.set(chunk.subarray(offset, offset + take), this.filled);
    this.filled += take;
    if (this.filled < this.buffer.length) return NEED_MORE;
    const decoded = decodeV2(this.buffer);
    if (typeof decoded === 'string') return this.fail(decoded);
    return {
      type: 'done',
      version: 2,
      header: decoded.header,
      used: offset + take,
      length: this.buffer.length,
    };
  }
}

/**
 * Reads a whole PROXY header from the start of `input`; `needMore` if it is incomplete.
 *
 * @param input The first bytes of a connection.
 * @returns See {@link ProxyParse}; `used` counts bytes of `input`.
 */
export function parseProxyHeader(input: Uint8Array): ProxyParse {
  return new ProxyHeaderParser().push(input);
}

const V1_KEYWORDS = ['PROXY TCP4 ', 'PROXY TCP6 ', 'PROXY UNKNOWN'] as const;

/**
 * Why `line` (without CRLF) is not a valid v1 line, or, when not `complete`, cannot begin one.
 * Cheap enough to run on every chunk: a line is at most 107 bytes.
 */
function v1LineProblem(line: string, complete: boolean): string | undefined {
  const keyword = V1_KEYWORDS.find((word) =>
    line.length < word.length ? word.startsWith(line) : line.startsWith(word),
  );
  if (keyword === undefined || (complete && line.length < keyword.length)) {
    return `not a PROXY v1 line: ${JSON.stringify(line.slice(0, 32))}`;
  }
  if (keyword === 'PROXY UNKNOWN') {
    // The spec has the receiver ignore whatever follows UNKNOWN up to the CRLF.
    return line.length > keyword.length && line[keyword.length] !== ' '
      ? `not a PROXY v1 line: ${JSON.stringify(line.slice(0, 32))}`
      : undefined;
  }
  if (line.length < keyword.length) return undefined;
  const family = keyword === 'PROXY TCP4 ' ? 4 : 6;
  const fields = line.slice(keyword.length).split(' ');
  const known = complete ? fields.length : fields.length - 1;
  for (const [index, field] of fields.entries()) {
    if (index >= 4) return `a TCP${family} line needs exactly 4 fields separated by single spaces`;
    const problem =
      index < known
        ? v1FieldProblem(family, index, field)
        : v1PartialFieldProblem(family, index, field);
    if (problem !== undefined) return problem;
  }
  return complete && fields.length < 4
    ? `a TCP${family} line needs exactly 4 fields separated by single spaces`
    : undefined;
}

const V1_FIELDS = ['source address', 'destination address', 'source port', 'destination port'];

function v1FieldProblem(family: 4 | 6, index: number, field: string): string | undefined {
  if (index >= 2) {
    return /^(?:0|[1-9]\d{0,4})$/.test(field) && Number(field) <= 65535
      ? undefined
      : `bad ${V1_FIELDS[index]} ${JSON.stringify(field)}: a port is 0 to 65535 without heading zeros`;
  }
  const bytes = family === 4 ? parseIPv4(field) : parseIPv6(field);
  return bytes === undefined
    ? `bad ${V1_FIELDS[index]} ${JSON.stringify(field)}: not a canonical IPv${family} address`
    : undefined;
}

/** The last field of an incomplete line: can its characters and length so far begin a valid one? */
function v1PartialFieldProblem(family: 4 | 6, index: number, field: string): string | undefined {
  const possible =
    index >= 2
      ? /^(?:0|[1-9]\d{0,4})?$/
      : family === 4
        ? /^[0-9.]{0,15}$/
        : /^[0-9A-Fa-f:.]{0,45}$/;
  return possible.test(field)
    ? undefined
    : `bad ${V1_FIELDS[index]} ${JSON.stringify(field)} in a TCP${family} line`;
}

/** The header of a valid line. */
function v1Header(line: string): ProxyHeader | undefined {
  if (line.startsWith('PROXY UNKNOWN')) return undefined;
  const family = line.startsWith('PROXY TCP4 ') ? 'IPv4' : 'IPv6';
  const [source, destination, sourcePort, destinationPort] = line.slice(11).split(' ') as [
    string,
    string,
    string,
    string,
  ];
  const canonical = (text: string): string =>
    family === 'IPv4' ? text : formatIPv6(parseIPv6(text)!);
  return {
    source: tcp(canonical(source), Number(sourcePort), family),
    destination: tcp(canonical(destination), Number(destinationPort), family),
  };
}

/** Why the byte at `index` (0 to 15) cannot be in a v2 header's fixed part. */
function v2FixedByteProblem(index: number, byte: number): string | undefined {
  if (index < V2_SIGNATURE.length) {
    return byte === V2_SIGNATURE[index]
      ? undefined
      : `byte ${index} is 0x${hex(byte)}, not the v2 signature's 0x${hex(V2_SIGNATURE[index]!)}`;
  }
  if (index === 12) {
    if (byte >> 4 !== 2) return `version ${byte >> 4} in a v2 header (only 2 is valid)`;
    if ((byte & 0x0f) > 1) return `unknown v2 command 0x${hex(byte & 0x0f)}`;
  }
  if (index === 13) {
    if (byte >> 4 > 3) return `unknown v2 address family 0x${hex(byte >> 4)}`;
    if ((byte & 0x0f) > 2) return `unknown v2 transport protocol 0x${hex(byte & 0x0f)}`;
  }
  return undefined;
}

/** A complete v2 header's meaning, or why it is invalid. */
function decodeV2(header: Buffer): { header: ProxyHeader | undefined } | string {
  // LOCAL (a health check by the proxy itself): the spec says to discard the whole block.
  if ((header[12]! & 0x0f) === 0) return { header: undefined };
  const protocol = header[13]!;
  const addressBytes = V2_ADDRESS_BYTES.get(protocol);
  // UNSPEC family or transport: the spec asks receivers to ignore the address block.
  if (addressBytes === undefined) return { header: undefined };
  const declared = header.length - V2_FIXED_BYTES;
  if (declared < addressBytes) {
    return `a v2 length of ${declared} is too short for the ${addressBytes}-byte address block of protocol 0x${hex(protocol)}`;
  }
  const problem = tlvProblem(header, V2_FIXED_BYTES + addressBytes);
  if (problem !== undefined) return problem;
  const at = V2_FIXED_BYTES;
  switch (protocol) {
    case 0x11:
      return {
        header: {
          source: tcp(formatIPv4(header.subarray(at, at + 4)), header.readUInt16BE(at + 8), 'IPv4'),
          destination: tcp(
            formatIPv4(header.subarray(at + 4, at + 8)),
            header.readUInt16BE(at + 10),
            'IPv4',
          ),
        },
      };
    case 0x21:
      return {
        header: {
          source: tcp(
            formatIPv6(header.subarray(at, at + 16)),
            header.readUInt16BE(at + 32),
            'IPv6',
          ),
          destination: tcp(
            formatIPv6(header.subarray(at + 16, at + 32)),
            header.readUInt16BE(at + 34),
            'IPv6',
          ),
        },
      };
    case 0x31:
      return {
        header: {
          source: unixAddress(header.subarray(at, at + 108)),
          destination: unixAddress(header.subarray(at + 108, at + 216)),
        },
      };
    default:
      // Datagram transports on a stream connection: the spec's fallback is UNSPEC.
      return { header: undefined };
  }
}

/** Why the TLVs from `start` to the header's end are malformed, or fail their CRC32C. */
function tlvProblem(header: Buffer, start: number): string | undefined {
  for (let at = start; at < header.length;) {
    if (at + 3 > header.length) return `a TLV header at byte ${at} is cut by the v2 length`;
    const type = header[at]!;
    const end = at + 3 + header.readUInt16BE(at + 1);
    if (end > header.length) return `TLV 0x${hex(type)} at byte ${at} overruns the v2 length`;
    if (type === PP2_TYPE_CRC32C) {
      if (end - at !== 7) return `a CRC32C TLV of ${end - at - 3} bytes (it has 4)`;
      const received = header.readUInt32BE(at + 3);
      const zeroed = Buffer.from(header).fill(0, at + 3, end);
      if (crc32c(zeroed) !== received) return 'the CRC32C TLV does not match the header';
    }
    at = end;
  }
  return undefined;
}

function tcp(hostname: string, port: number, family: 'IPv4' | 'IPv6'): TcpAddress {
  return { _tag: 'TcpAddress', hostname, port, family };
}

/**
 * A 108-byte `sun_path`: up to its first NUL, or, for Linux's abstract namespace (a leading
 * NUL), the name after it written as Node writes it (`'\0name'`).
 */
function unixAddress(bytes: Buffer): UnixAddress {
  const from = bytes[0] === 0 ? 1 : 0;
  const end = bytes.indexOf(0, from);
  const name = bytes.toString('utf8', from, end === -1 ? bytes.length : end);
  return { _tag: 'UnixAddress', path: from === 1 && name !== '' ? `\0${name}` : name };
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

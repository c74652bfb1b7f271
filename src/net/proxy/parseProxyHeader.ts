import { ProxyProtocolError } from '../../errors';
import type { TcpAddress, UnixAddress } from '../../types';
import { v1Header, v1LineProblem } from './v1';
import { decodeV2, V2_FIXED_BYTES, v2FixedByteProblem } from './v2';

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

const CR = 0x0d;
const LF = 0x0a;

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

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

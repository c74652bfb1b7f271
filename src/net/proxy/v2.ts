/**
 * PROXY v2, the binary format: whether each of the 16 fixed bytes can be valid, and what a complete
 * header says.
 *
 * @internal
 * @packageDocumentation
 */
import type { UnixAddress } from '../../types';
import { crc32c } from './crc32c';
import { formatIPv4, formatIPv6, tcpAddress } from './ipText';
import type { ProxyHeader } from './parseProxyHeader';

/** `\r\n\r\n\0\r\nQUIT\n`: chosen by the spec to be no prefix of HTTP, TLS, SMTP or v1. */
const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
export const V2_FIXED_BYTES = 16;
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

/** Why the byte at `index` (0 to 15) cannot be in a v2 header's fixed part. */
export function v2FixedByteProblem(index: number, byte: number): string | undefined {
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
export function decodeV2(header: Buffer): { header: ProxyHeader | undefined } | string {
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
          source: tcpAddress(
            formatIPv4(header.subarray(at, at + 4)),
            header.readUInt16BE(at + 8),
            'IPv4',
          ),
          destination: tcpAddress(
            formatIPv4(header.subarray(at + 4, at + 8)),
            header.readUInt16BE(at + 10),
            'IPv4',
          ),
        },
      };
    case 0x21:
      return {
        header: {
          source: tcpAddress(
            formatIPv6(header.subarray(at, at + 16)),
            header.readUInt16BE(at + 32),
            'IPv6',
          ),
          destination: tcpAddress(
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

/**
 * The pure PROXY header parser: golden headers from the spec (haproxy's proxy-protocol.txt) at
 * every chunking, bad headers refused at the first byte no valid header can have, and the bounds.
 */
import { SocketAddress } from 'node:net';
import { ProxyProtocolError } from '../../src/errors';
import { crc32c } from '../../src/net/proxy/crc32c';
import { formatIPv6, parseIPv4, parseIPv6 } from '../../src/net/proxy/ipText';
import {
  MAX_PROXY_V1_HEADER_BYTES,
  MAX_PROXY_V2_HEADER_BYTES,
  ProxyHeaderParser,
  parseProxyHeader,
  type ProxyHeader,
  type ProxyParse,
} from '../../src/net/proxy/parseProxyHeader';
import { chunkings, rechunk } from '../../src/testing/chunkings';
import type { TcpAddress, UnixAddress } from '../../src/types';

const SIGNATURE = '0d0a0d0a000d0a515549540a';
const DATA = Buffer.from('GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n');

const tcp4 = (hostname: string, port: number): TcpAddress => ({
  _tag: 'TcpAddress',
  hostname,
  port,
  family: 'IPv4',
});
const tcp6 = (hostname: string, port: number): TcpAddress => ({
  _tag: 'TcpAddress',
  hostname,
  port,
  family: 'IPv6',
});
const unix = (path: string): UnixAddress => ({ _tag: 'UnixAddress', path });

/** Bytes from hex, spaces allowed for readability. */
const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** A sun_path: the path, NUL-padded to 108 bytes. */
const sunPath = (path: string): string => Buffer.from(path).toString('hex').padEnd(216, '0');

/** A v2 header: signature, version/command, protocol, length, then the block. */
function v2(verCmd: number, protocol: number, block: Buffer | string): Buffer {
  const body = typeof block === 'string' ? hex(block) : block;
  const fixed = hex(SIGNATURE + verCmd.toString(16) + protocol.toString(16).padStart(2, '0'));
  const length = Buffer.alloc(2);
  length.writeUInt16BE(body.length);
  return Buffer.concat([fixed, length, body]);
}

/** A TLV: type, 2-byte length, value. */
function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

/** The TCP4 block of the spec's example: 192.168.0.1:56324 → 192.168.0.11:443. */
const TCP4_BLOCK = 'c0a80001 c0a8000b dc04 01bb';

/** A TCP4 header ending with a CRC32C TLV computed as the spec says (over the header, zeroed). */
function withCrc(corrupt = false): Buffer {
  const header = v2(0x21, 0x11, Buffer.concat([hex(TCP4_BLOCK), tlv(0x03, Buffer.alloc(4))]));
  header.writeUInt32BE(crc32c(header), header.length - 4);
  if (corrupt) header[20] ^= 1;
  return header;
}

/** Feeds chunks until the parser answers; what it answered, and what a reader reads next. */
function feed(chunks: readonly Buffer[]): {
  result: ProxyParse;
  before: number;
  fed: number;
  rest: Buffer;
} {
  const parser = new ProxyHeaderParser();
  let fed = 0;
  for (const [index, chunk] of chunks.entries()) {
    const before = fed;
    fed += chunk.length;
    const result = parser.push(chunk);
    if (result.type === 'needMore') continue;
    const used = result.type === 'done' ? result.used : chunk.length;
    const rest = Buffer.concat([chunk.subarray(used), ...chunks.slice(index + 1)]);
    return { result, before, fed, rest };
  }
  return { result: { type: 'needMore' }, before: fed, fed, rest: Buffer.alloc(0) };
}

interface Valid {
  readonly name: string;
  readonly input: Buffer;
  readonly version: 1 | 2;
  readonly header: ProxyHeader | undefined;
}

const SPEC_V1 = 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n';
const V6_MAX = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';

const valid: readonly Valid[] = [
  {
    name: 'v1 TCP4 (the spec example)',
    input: Buffer.from(SPEC_V1),
    version: 1,
    header: { source: tcp4('192.168.0.1', 56324), destination: tcp4('192.168.0.11', 443) },
  },
  {
    name: 'v1 TCP4 at its longest (56 bytes)',
    input: Buffer.from('PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n'),
    version: 1,
    header: { source: tcp4('255.255.255.255', 65535), destination: tcp4('255.255.255.255', 65535) },
  },
  {
    name: 'v1 TCP4 with ports 0',
    input: Buffer.from('PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n'),
    version: 1,
    header: { source: tcp4('0.0.0.0', 0), destination: tcp4('10.0.0.1', 0) },
  },
  {
    name: 'v1 TCP6 at its longest (104 bytes)',
    input: Buffer.from(`PROXY TCP6 ${V6_MAX} ${V6_MAX} 65535 65535\r\n`),
    version: 1,
    header: {
      source: tcp6('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 65535),
      destination: tcp6('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 65535),
    },
  },
  {
    name: 'v1 TCP6, addresses written as Node writes them',
    input: Buffer.from('PROXY TCP6 2001:DB8:0:0:0:0:0:1 0:0:0:0:0:0:0:1 4000 443\r\n'),
    version: 1,
    header: { source: tcp6('2001:db8::1', 4000), destination: tcp6('::1', 443) },
  },
  {
    name: 'v1 TCP6 with IPv4-mapped addresses (what HAProxy sends for mixed families)',
    input: Buffer.from('PROXY TCP6 ::ffff:127.0.0.2 ::1 51000 8080\r\n'),
    version: 1,
    header: { source: tcp6('::ffff:127.0.0.2', 51000), destination: tcp6('::1', 8080) },
  },
  {
    name: 'v1 UNKNOWN, short form',
    input: Buffer.from('PROXY UNKNOWN\r\n'),
    version: 1,
    header: undefined,
  },
  {
    name: 'v1 UNKNOWN at the worst case (107 bytes), the rest of the line ignored',
    input: Buffer.from(`PROXY UNKNOWN ${V6_MAX} ${V6_MAX} 65535 65535\r\n`),
    version: 1,
    header: undefined,
  },
  {
    name: 'v2 TCP over IPv4',
    input: v2(0x21, 0x11, TCP4_BLOCK),
    version: 2,
    header: { source: tcp4('192.168.0.1', 56324), destination: tcp4('192.168.0.11', 443) },
  },
  {
    name: 'v2 TCP over IPv6',
    input: v2(
      0x21,
      0x21,
      '20010db8000000000000000000000001 20010db8000000000000000000000002 1f90 01bb',
    ),
    version: 2,
    header: { source: tcp6('2001:db8::1', 8080), destination: tcp6('2001:db8::2', 443) },
  },
  {
    name: 'v2 TCP over IPv6 with an IPv4-mapped source',
    input: v2(
      0x21,
      0x21,
      '00000000000000000000ffff7f000002 00000000000000000000000000000001 c738 1f90',
    ),
    version: 2,
    header: { source: tcp6('::ffff:127.0.0.2', 51000), destination: tcp6('::1', 8080) },
  },
  {
    name: 'v2 UNIX stream',
    input: v2(0x21, 0x31, sunPath('/tmp/client.sock') + sunPath('/run/haproxy.sock')),
    version: 2,
    header: { source: unix('/tmp/client.sock'), destination: unix('/run/haproxy.sock') },
  },
  {
    name: 'v2 UNIX stream with abstract-namespace names',
    input: v2(0x21, 0x31, sunPath('\0peer') + sunPath('\0app')),
    version: 2,
    header: { source: unix('\0peer'), destination: unix('\0app') },
  },
  {
    name: 'v2 LOCAL with no address block (a health check)',
    input: v2(0x20, 0x00, ''),
    version: 2,
    header: undefined,
  },
  {
    name: 'v2 LOCAL with an address block, skipped by its length',
    input: v2(0x20, 0x11, TCP4_BLOCK),
    version: 2,
    header: undefined,
  },
  {
    name: 'v2 LOCAL with a block that is no valid TLV list, discarded unread',
    input: v2(0x20, 0x11, TCP4_BLOCK + 'ff'),
    version: 2,
    header: undefined,
  },
  {
    name: 'v2 PROXY with the UNSPEC family, block ignored',
    input: v2(0x21, 0x00, 'deadbeef'),
    version: 2,
    header: undefined,
  },
  {
    name: 'v2 UDP over IPv4, which falls back to UNSPEC',
    input: v2(0x21, 0x12, TCP4_BLOCK),
    version: 2,
    header: undefined,
  },
  {
    name: 'v2 TCP over IPv4 with TLVs (NOOP, AUTHORITY, an unknown type) skipped',
    input: v2(
      0x21,
      0x11,
      Buffer.concat([
        hex(TCP4_BLOCK),
        tlv(0x04, Buffer.alloc(0)),
        tlv(0x02, Buffer.from('example.org')),
        tlv(0xe0, Buffer.from([1, 2, 3])),
      ]),
    ),
    version: 2,
    header: { source: tcp4('192.168.0.1', 56324), destination: tcp4('192.168.0.11', 443) },
  },
  {
    name: 'v2 TCP over IPv4 with a matching CRC32C TLV',
    input: withCrc(),
    version: 2,
    header: { source: tcp4('192.168.0.1', 56324), destination: tcp4('192.168.0.11', 443) },
  },
];

describe('ProxyHeaderParser', () => {
  describe('valid headers', () => {
    it.each(valid)(
      'gives the header of $name and leaves the data after it, at every chunking',
      ({ input, version, header }) => {
        for (const { name, chunks } of chunkings(Buffer.concat([input, DATA]))) {
          const { result, before, fed, rest } = feed(chunks);
          expect({ name, result }).toEqual({
            name,
            result: {
              type: 'done',
              version,
              header,
              used: input.length - before,
              length: input.length,
            },
          });
          // Answered on the chunk holding the header's last byte, not before, not after.
          expect({ name, answeredAtEnd: before < input.length && input.length <= fed }).toEqual({
            name,
            answeredAtEnd: true,
          });
          expect({ name, rest: rest.toString() }).toEqual({ name, rest: DATA.toString() });
        }
      },
    );

    it('parses the spec example in one call, counting only the header as used', () => {
      expect(parseProxyHeader(Buffer.concat([Buffer.from(SPEC_V1), DATA]))).toEqual({
        type: 'done',
        version: 1,
        header: { source: tcp4('192.168.0.1', 56324), destination: tcp4('192.168.0.11', 443) },
        used: SPEC_V1.length,
        length: SPEC_V1.length,
      });
    });

    it('answers needMore for every proper prefix of a header', () => {
      for (const { input } of valid) {
        for (let length = 1; length < input.length; length++) {
          expect(parseProxyHeader(input.subarray(0, length))).toEqual({ type: 'needMore' });
        }
      }
    });

    it('answers needMore for an empty chunk, before and after the header starts', () => {
      const parser = new ProxyHeaderParser();
      expect(parser.push(Buffer.alloc(0))).toEqual({ type: 'needMore' });
      expect(parser.push(Buffer.from('PROXY'))).toEqual({ type: 'needMore' });
      expect(parser.push(Buffer.alloc(0))).toEqual({ type: 'needMore' });
      expect(parser.push(Buffer.from(' UNKNOWN\r\n')).type).toBe('done');
    });

    it('throws when pushed to after it answered', () => {
      const parser = new ProxyHeaderParser();
      expect(parser.push(Buffer.from('PROXY UNKNOWN\r\n')).type).toBe('done');
      expect(() => parser.push(Buffer.from('x'))).toThrow(/already been read/);
      const refused = new ProxyHeaderParser();
      expect(refused.push(Buffer.from('X')).type).toBe('error');
      expect(() => refused.push(Buffer.from('x'))).toThrow(/already been read/);
    });
  });

  describe('invalid headers', () => {
    /** `at`: the index of the first byte after which no valid header is possible. */
    const invalid: ReadonlyArray<{ name: string; input: Buffer; at: number; message: RegExp }> = [
      { name: 'an HTTP request', input: Buffer.from('GET / HTTP/1.1\r\n'), at: 0, message: /0x47/ },
      {
        name: 'a POST, which starts like PROXY',
        input: Buffer.from('POST / HTTP/1.1\r\n'),
        at: 1,
        message: /not a PROXY v1 line/,
      },
      { name: 'a TLS ClientHello', input: hex('16030100a5010000a10303'), at: 0, message: /0x16/ },
      {
        name: 'lower-case proxy',
        input: Buffer.from('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'),
        at: 0,
        message: /0x70/,
      },
      {
        name: 'PROXY alone',
        input: Buffer.from('PROXY\r\n'),
        at: 6,
        message: /not a PROXY v1 line/,
      },
      {
        name: 'a tab for a space',
        input: Buffer.from('PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n'),
        at: 5,
        message: /not a PROXY v1 line/,
      },
      {
        name: 'protocol TCP5',
        input: Buffer.from('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'),
        at: 9,
        message: /not a PROXY v1 line/,
      },
      {
        name: 'UNKNOWNX',
        input: Buffer.from('PROXY UNKNOWNX\r\n'),
        at: 13,
        message: /not a PROXY v1 line/,
      },
      {
        name: 'two spaces',
        input: Buffer.from('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'),
        at: 11,
        message: /bad source address ""/,
      },
      {
        name: 'an IPv4 heading zero',
        input: Buffer.from('PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n'),
        at: 19,
        message: /bad source address "01\.2\.3\.4"/,
      },
      {
        name: 'an IPv4 octet over 255',
        input: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.256 1 2\r\n'),
        at: 28,
        message: /bad destination address "5\.6\.7\.256"/,
      },
      {
        name: 'three IPv4 octets',
        input: Buffer.from('PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n'),
        at: 16,
        message: /bad source address/,
      },
      {
        name: 'an IPv6 address on a TCP4 line',
        input: Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n'),
        at: 11,
        message: /bad source address ":/,
      },
      {
        name: 'an IPv4 address on a TCP6 line',
        input: Buffer.from('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'),
        at: 18,
        message: /not a canonical IPv6/,
      },
      {
        name: 'an IPv6 address with two ::',
        input: Buffer.from('PROXY TCP6 1::2::3 ::1 1 2\r\n'),
        at: 18,
        message: /not a canonical IPv6/,
      },
      {
        name: 'an IPv6 zone index',
        input: Buffer.from('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'),
        at: 18,
        message: /bad source address "fe80::1%/,
      },
      {
        name: 'an IPv6 address of 9 groups',
        input: Buffer.from('PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n'),
        at: 28,
        message: /not a canonical IPv6/,
      },
      {
        name: 'a port heading zero',
        input: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'),
        at: 28,
        message: /bad source port "08/,
      },
      {
        name: 'a port over 65535',
        input: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n'),
        at: 35,
        message: /bad destination port "65536"/,
      },
      {
        name: 'a port of six digits',
        input: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n'),
        at: 32,
        message: /bad source port "123456"/,
      },
      {
        name: 'a signed port',
        input: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n'),
        at: 27,
        message: /bad source port "\+/,
      },
      {
        name: 'three fields',
        input: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n'),
        at: 30,
        message: /exactly 4 fields/,
      },
      {
        name: 'five fields',
        input: Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 80 443 1\r\n'),
        at: 33,
        message: /exactly 4 fields/,
      },
      { name: 'a bare LF', input: Buffer.from('PROXY UNKNOWN\n'), at: 13, message: /bare LF/ },
      {
        name: 'a CR without LF',
        input: Buffer.from('PROXY UNKNOWN\rX\n'),
        at: 14,
        message: /not followed by LF/,
      },
      {
        name: 'no CRLF within 107 bytes',
        input: Buffer.from(`PROXY UNKNOWN ${'x'.repeat(92)}\r\n`),
        at: MAX_PROXY_V1_HEADER_BYTES - 1,
        message: /no CRLF within the 107 bytes/,
      },
      {
        name: 'a wrong v2 signature byte',
        input: hex('0d0a0d0a000d0a5155495478'),
        at: 11,
        message: /byte 11 is 0x78/,
      },
      {
        name: 'CRLF CRLF, then HTTP',
        input: Buffer.from('\r\n\r\nGET /'),
        at: 4,
        message: /byte 4 is 0x47/,
      },
      {
        name: 'v2 signature with version 1',
        input: v2(0x11, 0x11, TCP4_BLOCK),
        at: 12,
        message: /version 1/,
      },
      {
        name: 'v2 command 2',
        input: v2(0x22, 0x11, TCP4_BLOCK),
        at: 12,
        message: /unknown v2 command 0x02/,
      },
      {
        name: 'v2 family 4',
        input: v2(0x21, 0x41, TCP4_BLOCK),
        at: 13,
        message: /address family 0x04/,
      },
      {
        name: 'v2 transport 3',
        input: v2(0x21, 0x13, TCP4_BLOCK),
        at: 13,
        message: /transport protocol 0x03/,
      },
      {
        name: 'a v2 TCP4 length too short for its addresses',
        input: v2(0x21, 0x11, 'c0a80001c0a8000bdc0401'),
        at: 26,
        message: /too short for the 12-byte/,
      },
      {
        name: 'a v2 UNIX length too short for its addresses',
        input: v2(0x21, 0x31, sunPath('/a')),
        at: 16 + 107,
        message: /too short for the 216-byte/,
      },
      {
        name: 'a TLV cut by the v2 length',
        input: v2(0x21, 0x11, TCP4_BLOCK + '0400'),
        at: 16 + 12 + 1,
        message: /TLV header at byte 28 is cut/,
      },
      {
        name: 'a TLV overrunning the v2 length',
        input: v2(0x21, 0x11, TCP4_BLOCK + '020005 6162'),
        at: 16 + 12 + 4,
        message: /TLV 0x02 at byte 28 overruns/,
      },
      {
        name: 'a CRC32C that does not match',
        input: withCrc(true),
        at: 16 + 12 + 6,
        message: /CRC32C TLV does not match/,
      },
      {
        name: 'a CRC32C TLV of 2 bytes',
        input: v2(0x21, 0x11, TCP4_BLOCK + '030002 0000'),
        at: 16 + 12 + 4,
        message: /CRC32C TLV of 2 bytes/,
      },
    ];

    describe.each(invalid)('$name', ({ input, at, message }) => {
      it('is refused with ProxyProtocolError on the byte that makes it invalid, fed one byte at a time', () => {
        const parser = new ProxyHeaderParser();
        for (let index = 0; index < at; index++) {
          expect(parser.push(input.subarray(index, index + 1))).toEqual({ type: 'needMore' });
        }
        const result = parser.push(input.subarray(at, at + 1));
        if (result.type !== 'error') throw new Error(`expected an error, got ${result.type}`);
        expect(result.error).toBeInstanceOf(ProxyProtocolError);
        expect(result.error.code).toBe('RXNET_ERR_PROXY_PROTOCOL');
        expect(result.error.message).toMatch(/^Invalid PROXY header: /);
        expect(result.error.message).toMatch(message);
      });

      it('is refused the same way at every chunking', () => {
        for (const { name, chunks } of chunkings(input)) {
          const { result, fed } = feed(chunks);
          expect({ name, message: result.type === 'error' && result.error.message }).toEqual({
            name,
            message: expect.stringMatching(message),
          });
          expect(fed).toBeGreaterThan(at);
        }
      });
    });
  });

  describe('limits', () => {
    it('refuses a v2 header declaring more than MAX_PROXY_V2_HEADER_BYTES at its 16th byte', () => {
      const declared = MAX_PROXY_V2_HEADER_BYTES - 16 + 1;
      const fixed = v2(0x21, 0x11, Buffer.alloc(declared)).subarray(0, 16);
      expect(MAX_PROXY_V2_HEADER_BYTES).toBe(16384);
      const parser = new ProxyHeaderParser();
      expect(parser.push(fixed.subarray(0, 15))).toEqual({ type: 'needMore' });
      const result = parser.push(fixed.subarray(15));
      expect(result.type === 'error' && result.error.message).toBe(
        'Invalid PROXY header: a v2 header of 16385 bytes exceeds 16384',
      );
    });

    it('accepts a v2 header of exactly MAX_PROXY_V2_HEADER_BYTES, in any chunks', () => {
      const padding = MAX_PROXY_V2_HEADER_BYTES - 16 - 12 - 3;
      const input = v2(
        0x21,
        0x11,
        Buffer.concat([hex(TCP4_BLOCK), tlv(0x04, Buffer.alloc(padding, 7))]),
      );
      expect(input.length).toBe(MAX_PROXY_V2_HEADER_BYTES);
      for (const seed of [1, 2, 3, 4, 5]) {
        const { result, rest } = feed(
          rechunk(Buffer.concat([input, DATA]), seed, { maxChunkBytes: 700 }),
        );
        expect(result.type === 'done' && result.header).toEqual({
          source: tcp4('192.168.0.1', 56324),
          destination: tcp4('192.168.0.11', 443),
        });
        expect(rest.equals(DATA)).toBe(true);
      }
    });

    it('never uses more than 107 bytes of a chunk for a v1 header', () => {
      const line = `PROXY UNKNOWN ${V6_MAX} ${V6_MAX} 65535 65535\r\n`;
      expect(line.length).toBe(MAX_PROXY_V1_HEADER_BYTES);
      const result = parseProxyHeader(Buffer.from(line + 'x'.repeat(10000)));
      expect(result.type === 'done' && result.used).toBe(107);
    });
  });
});

describe('crc32c', () => {
  it('gives the standard check value for "123456789"', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('gives 0 for no bytes and the RFC 3720 value for 32 zero bytes', () => {
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
  });
});

describe('IP address text', () => {
  it('accepts canonical IPv4 only', () => {
    expect(parseIPv4('192.168.0.1')).toEqual(Uint8Array.from([192, 168, 0, 1]));
    for (const bad of ['01.1.1.1', '1.1.1', '1.1.1.1.1', '256.1.1.1', '1.1.1.1 ', '', '1..1.1']) {
      expect(parseIPv4(bad)).toBeUndefined();
    }
  });

  it('parses IPv6 as inet_pton does, and refuses what it refuses', () => {
    expect(parseIPv6('::')).toEqual(new Uint8Array(16));
    expect(parseIPv6('::ffff:1.2.3.4')).toEqual(
      Uint8Array.from(hex('00000000000000000000ffff01020304')),
    );
    expect(parseIPv6('1:2:3:4:5:6:1.2.3.4')).toEqual(
      Uint8Array.from(hex('00010002000300040005000601020304')),
    );
    for (const bad of [
      ':::',
      '1:2:3:4:5:6:7:8::',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '12345::',
      '1:',
      ':1',
      '1.2.3.4::',
      '::1.2.3.4:1',
      'fe80::1%lo',
      '::01.2.3.4',
      'g::',
    ]) {
      expect({ bad, parsed: parseIPv6(bad) }).toEqual({ bad, parsed: undefined });
    }
  });

  it('writes IPv6 exactly as Node does, for addresses full of zero runs', () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 3000; round++) {
      const bytes = new Uint8Array(16);
      for (let word = 0; word < 8; word++) {
        // Mostly zeros, sometimes 1 or 0xffff, to hit every compression and dotted-tail rule.
        const pick = random();
        const value =
          pick < 0.6 ? 0 : pick < 0.7 ? 1 : pick < 0.8 ? 0xffff : Math.floor(random() * 65536);
        bytes[2 * word] = value >> 8;
        bytes[2 * word + 1] = value & 0xff;
      }
      const full = Buffer.from(bytes).toString('hex').match(/.{4}/g)!.join(':');
      const node = new SocketAddress({ address: full, family: 'ipv6' }).address;
      expect({ full, text: formatIPv6(bytes) }).toEqual({ full, text: node });
      expect(parseIPv6(node)).toEqual(bytes);
    }
  });
});

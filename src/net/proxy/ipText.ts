/**
 * IP addresses as PROXY headers carry them: parsed strictly from v1's text (what `inet_pton`
 * accepts, as HAProxy parses them), and written from v2's bytes in the form Node gives
 * `socket.remoteAddress` (libuv's `inet_ntop`), so a proxied peer looks like a direct one.
 *
 * @internal
 * @packageDocumentation
 */

import type { TcpAddress } from '../../types';

/** One decimal byte with no heading zero: the spec forbids them, as octal look-alikes. */
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

/** A dotted-quad IPv4 address as its 4 bytes, or `undefined` if it is not exactly that. */
export function parseIPv4(text: string): Uint8Array | undefined {
  if (!IPV4.test(text)) return undefined;
  return Uint8Array.from(text.split('.'), Number);
}

/**
 * An IPv6 address as its 16 bytes, or `undefined`: groups of 1 to 4 hex digits, at most one `::`
 * standing for one or more zero groups, and an optional dotted IPv4 address as the last 32 bits
 * (`::ffff:192.0.2.1`, which HAProxy sends for an IPv4 peer on an IPv6 line). No zone index.
 */
export function parseIPv6(text: string): Uint8Array | undefined {
  const gap = text.indexOf('::');
  if (gap !== -1 && text.indexOf('::', gap + 1) !== -1) return undefined;
  const head = groupsOf(gap === -1 ? text : text.slice(0, gap), gap === -1);
  const tail = gap === -1 ? [] : groupsOf(text.slice(gap + 2), true);
  if (head === undefined || tail === undefined) return undefined;
  const missing = 8 - head.length - tail.length;
  if (gap === -1 ? missing !== 0 : missing < 1) return undefined;
  const words = [...head, ...new Array<number>(gap === -1 ? 0 : missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  words.forEach((word, index) => {
    bytes[2 * index] = word >> 8;
    bytes[2 * index + 1] = word & 0xff;
  });
  return bytes;
}

/** `a:b:c` as 16-bit words; a dotted IPv4 address is allowed only as the last part. */
function groupsOf(text: string, last: boolean): number[] | undefined {
  if (text === '') return [];
  const parts = text.split(':');
  const words: number[] = [];
  for (const [index, part] of parts.entries()) {
    if (HEX_GROUP.test(part)) {
      words.push(parseInt(part, 16));
      continue;
    }
    const v4 = last && index === parts.length - 1 ? parseIPv4(part) : undefined;
    if (v4 === undefined) return undefined;
    words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
  }
  return words;
}

/** 4 bytes as a dotted quad. */
export function formatIPv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/**
 * 16 bytes as libuv's `inet_ntop` writes them (BIND's algorithm): lower-case hex without heading
 * zeros, the first longest run of two or more zero groups as `::`, and the IPv4-mapped and
 * IPv4-compatible forms with a dotted tail (`::ffff:127.0.0.1`), which is what Node reports for
 * an IPv4 peer of a dual-stack socket.
 */
export function formatIPv6(bytes: Uint8Array): string {
  const words: number[] = [];
  for (let index = 0; index < 16; index += 2) words.push((bytes[index]! << 8) | bytes[index + 1]!);
  let best = { base: -1, length: 0 };
  let current = { base: -1, length: 0 };
  for (const [index, word] of words.entries()) {
    if (word !== 0) {
      current = { base: -1, length: 0 };
      continue;
    }
    current =
      current.base === -1 ? { base: index, length: 1 } : { ...current, length: current.length + 1 };
    if (current.length > best.length) best = current;
  }
  if (best.length < 2) best = { base: -1, length: 0 };
  let text = '';
  for (let index = 0; index < 8; index++) {
    if (best.base !== -1 && index >= best.base && index < best.base + best.length) {
      if (index === best.base) text += ':';
      continue;
    }
    if (index !== 0) text += ':';
    const dottedTail =
      index === 6 &&
      best.base === 0 &&
      (best.length === 6 ||
        (best.length === 7 && words[7] !== 0x0001) ||
        (best.length === 5 && words[5] === 0xffff));
    if (dottedTail) {
      text += formatIPv4(bytes.subarray(12));
      break;
    }
    text += words[index]!.toString(16);
  }
  if (best.base !== -1 && best.base + best.length === 8) text += ':';
  return text;
}

/** A TCP address as rxnet reports one. */
export function tcpAddress(hostname: string, port: number, family: 'IPv4' | 'IPv6'): TcpAddress {
  return { _tag: 'TcpAddress', hostname, port, family };
}

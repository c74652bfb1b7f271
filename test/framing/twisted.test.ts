import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  encodeLengthPrefixedFrame,
  encodeLine,
  encodeNetstring,
  lengthPrefixed,
  type LengthPrefixedOptions,
  lines,
  netstrings,
} from 'rxnet';
import { chunkings } from 'rxnet/testing';
import { decode, text } from './helpers';

/** Debian's python3 has Twisted; the PATH `python3` may be a shim without it. */
const PYTHON = '/usr/bin/python3';

/**
 * Runs Twisted's own receivers from twisted.protocols.basic over a StringTransport: `encode`
 * prints the hex of what `sendString`/`sendLine` writes for the frames; `decode` feeds hex bytes to
 * `dataReceived` one byte at a time and prints what the protocol received, as hex lines.
 */
const SCRIPT = `
import sys, binascii
from twisted.internet.testing import StringTransport
from twisted.protocols import basic
kind, action = sys.argv[1], sys.argv[2]
classes = {
    'line': basic.LineReceiver, 'netstring': basic.NetstringReceiver,
    'int8': basic.Int8StringReceiver, 'int16': basic.Int16StringReceiver, 'int32': basic.Int32StringReceiver,
}
received = []
class P(classes[kind]):
    def lineReceived(self, line): received.append(line)
    def stringReceived(self, string): received.append(string)
p = P()
t = StringTransport()
p.makeConnection(t)
if action == 'encode':
    for hexed in sys.argv[3:]:
        frame = binascii.unhexlify(hexed)
        p.sendLine(frame) if kind == 'line' else p.sendString(frame)
    print(binascii.hexlify(t.value()).decode())
else:
    data = binascii.unhexlify(sys.argv[3])
    for i in range(len(data)):
        p.dataReceived(data[i:i + 1])
    print(' '.join(binascii.hexlify(r).decode() or '-' for r in received))
    print('lost' if t.disconnecting else 'open')
`;

function twisted(kind: string, action: 'encode' | 'decode', args: readonly string[]): string[] {
  return execFileSync(PYTHON, ['-c', SCRIPT, kind, action, ...args], {
    encoding: 'utf8',
    timeout: 15000,
  })
    .trimEnd()
    .split('\n');
}

const frames = [
  Buffer.from('hello'),
  Buffer.alloc(0),
  Buffer.from([0, 255, 13, 44, 58]),
  Buffer.alloc(300, 0x41),
];
const hexes = frames.map((frame) => frame.toString('hex'));

const cases: ReadonlyArray<
  [string, (frame: Buffer) => readonly Buffer[], () => ReturnType<typeof netstrings>]
> = [
  ['netstring', (frame) => encodeNetstring(frame), () => netstrings()],
  ...(
    [
      ['int8', 1],
      ['int16', 2],
      ['int32', 4],
    ] as const
  ).map(
    ([kind, prefixBytes]): [
      string,
      (frame: Buffer) => readonly Buffer[],
      () => ReturnType<typeof netstrings>,
    ] => {
      const options: LengthPrefixedOptions = { prefixBytes };
      return [
        kind,
        (frame) => encodeLengthPrefixedFrame(frame, options),
        () => lengthPrefixed(options),
      ];
    },
  ),
];

const haveTwisted = existsSync(PYTHON);

(haveTwisted ? describe : describe.skip)('Twisted interoperability', () => {
  describe.each(cases)('%s', (kind, encode, decoder) => {
    // Int8StringReceiver cannot carry the 300-byte frame.
    const sent = kind === 'int8' ? frames.slice(0, 3) : frames;
    const sentHex = kind === 'int8' ? hexes.slice(0, 3) : hexes;

    it("decodes what Twisted's receiver sends, byte for byte, at chunk sizes up to 38 bytes", () => {
      const [wire] = twisted(kind, 'encode', sentHex);
      const ours = Buffer.concat(sent.flatMap(encode));

      expect(wire).toBe(ours.toString('hex'));
      for (const { name, chunks } of chunkings(Buffer.from(wire, 'hex')).slice(0, 40)) {
        expect({ name, values: decode(chunks, decoder()).values }).toEqual({ name, values: sent });
      }
    });

    it("is understood by Twisted's receiver fed one byte at a time", () => {
      const [received, state] = twisted(kind, 'decode', [
        Buffer.concat(sent.flatMap(encode)).toString('hex'),
      ]);

      expect({ received: received.split(' '), state }).toEqual({
        received: sentHex.map((hex) => hex || '-'),
        state: 'open',
      });
    });
  });

  describe('line', () => {
    const sent = ['hello', '', 'twisted'];

    it('decodes what LineReceiver.sendLine writes, and LineReceiver reads what encodeLine writes', () => {
      const [wire] = twisted(
        'line',
        'encode',
        sent.map((line) => Buffer.from(line).toString('hex')),
      );
      const ours = Buffer.concat(sent.flatMap((line) => encodeLine(line)));

      expect(wire).toBe(ours.toString('hex'));
      expect(text(decode([Buffer.from(wire, 'hex')], lines()).values)).toEqual(sent);
      const [received] = twisted('line', 'decode', [ours.toString('hex')]);
      expect(
        received.split(' ').map((hex) => (hex === '-' ? '' : Buffer.from(hex, 'hex').toString())),
      ).toEqual(sent);
    });
  });

  describe('limits', () => {
    it('refuses a too-long netstring where Twisted drops the connection', () => {
      const wire = Buffer.from('100000:');
      const [, state] = twisted('netstring', 'decode', [wire.toString('hex')]);

      expect(state).toBe('lost');
      expect(decode([wire], netstrings()).error).toMatchObject({
        code: 'RXNET_ERR_FRAME_TOO_LONG',
      });
    });
  });
});

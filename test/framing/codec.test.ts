import fc from 'fast-check';
import { lastValueFrom, map, of, pipe } from 'rxjs';
import {
  delimited,
  encodeLine,
  encodeNetstring,
  FrameTooLongError,
  framingOf,
  InvalidFrameError,
  lengthPrefixed,
  lines,
  netstrings,
  type Codec,
  type Output,
} from 'rxnet';
import { chunkings, rechunk } from 'rxnet/testing';
import { arbitraryFrame, decode, text } from './helpers';

/** The bytes a codec writes for `value`: its parts, concatenated. */
function encoded<O>(codec: Codec<unknown, O>, value: O): Buffer {
  const parts = codec.encode(value);
  const list: readonly Output[] = Array.isArray(parts) ? parts : [parts as Output];
  return Buffer.concat(list.map((part) => Buffer.from(part)));
}

const framings = [
  ['lines()', () => lines()],
  [
    "lines({ delimiter: '\\n', maxLineBytes: 64 })",
    () => lines({ delimiter: '\n', maxLineBytes: 64 }),
  ],
  ["delimited('|')", () => delimited('|')],
  ['netstrings()', () => netstrings()],
  ['lengthPrefixed({ prefixBytes: 2 })', () => lengthPrefixed({ prefixBytes: 2 })],
] as const;

describe('framings as codecs', () => {
  describe.each(framings)('%s', (_name, make) => {
    it('is its own decoder: piping it and piping its decode give the same frames', () => {
      const framing = make();
      const input = Buffer.concat(['a', 'bc', ''].map((frame) => encoded(framing, frame)));
      expect(text(decode([input], framing).values)).toEqual(['a', 'bc', '']);
      expect(text(decode([input], framing.decode).values)).toEqual(['a', 'bc', '']);
    });

    it('encodes a frame in parts, without concatenating them', () => {
      const parts = make().encode('hello');
      expect(Array.isArray(parts)).toBe(true);
      expect((parts as readonly Output[]).length).toBeGreaterThan(1);
    });

    it('decodes what it encodes, at every chunking', () => {
      const framing = make();
      const input = Buffer.concat(['hi', '', 'there'].map((frame) => encoded(framing, frame)));
      for (const { name, chunks } of chunkings(input)) {
        expect([name, text(decode(chunks, framing).values)]).toEqual([name, ['hi', '', 'there']]);
      }
    });

    it('decodes what it encodes under random rechunking', () => {
      fc.assert(
        fc.property(
          fc.array(arbitraryFrame(40), { maxLength: 8 }).map((frames) =>
            // Frames the delimiter-based framings can carry: no delimiter byte inside.
            frames.map((frame) =>
              Buffer.from(frame.filter((byte) => byte !== 0x0a && byte !== 0x7c)),
            ),
          ),
          fc.integer(),
          (frames, seed) => {
            const framing = make();
            const input = Buffer.concat(frames.map((frame) => encoded(framing, frame)));
            const outcome = decode(rechunk(input, seed, { maxChunkBytes: 16 }), framing);
            expect(outcome.error).toBeUndefined();
            expect(outcome.values).toEqual(frames);
          },
        ),
      );
    });
  });

  describe('encode', () => {
    it('refuses what the decoder would refuse', () => {
      expect(() => lines({ maxLineBytes: 3 }).encode('four')).toThrow(FrameTooLongError);
      expect(() => lines().encode('a\r\nb')).toThrow(InvalidFrameError);
      expect(() => netstrings({ maxFrameBytes: 3 }).encode('four')).toThrow(FrameTooLongError);
      expect(() => lengthPrefixed({ prefixBytes: 1 }).encode('x'.repeat(256))).toThrow(
        FrameTooLongError,
      );
    });

    it("writes what the library's frame encoders write", () => {
      expect(lines({ delimiter: '\n' }).encode('hi')).toEqual(
        encodeLine('hi', { delimiter: '\n' }),
      );
      expect(netstrings().encode('abc')).toEqual(encodeNetstring('abc'));
    });

    it('takes strings from lines({ encoding }) and gives them back', () => {
      const framing = lines({ encoding: 'utf8' });
      expect(decode([encoded(framing, 'héllo')], framing).values).toEqual(['héllo']);
    });
  });

  it('keeps a decoder usable as a plain operator', () => {
    const values: string[] = [];
    of(Buffer.from('a\r\nb\r\n'))
      .pipe(lines({ encoding: 'utf8' }))
      .subscribe((line) => values.push(line));
    expect(values).toEqual(['a', 'b']);
  });
});

describe('framingOf', () => {
  // The TSDoc's example: JSON messages in length-prefixed frames.
  const frames = lengthPrefixed({ maxFrameBytes: 64 });
  const json = framingOf(
    pipe(
      frames,
      map((payload): unknown => JSON.parse(payload.toString('utf8'))),
    ),
    (message: unknown) => frames.encode(JSON.stringify(message)),
  );
  const bytes = Buffer.concat([encoded(json, { a: 1 }), encoded(json, ['é', null])]);

  it('decodes what it encodes, at every chunking', () => {
    for (const { name, chunks } of chunkings(bytes)) {
      const { values, error } = decode(chunks, json);
      expect([name, values, error]).toEqual([name, [{ a: 1 }, ['é', null]], undefined]);
    }
  });

  it('is an operator and a codec at once, and leaves the decoder it wraps unchanged', async () => {
    const decoder = map((chunk: Buffer) => chunk.length);
    const framing = framingOf(decoder, (n: number) => String(n));
    expect(framing.decode).toBe(decoder);
    expect(framing).not.toBe(decoder);
    expect('encode' in decoder).toBe(false);
    await expect(lastValueFrom(of(Buffer.from('abc')).pipe(framing))).resolves.toBe(3);
    expect(framing.encode(7)).toBe('7');
  });

  it("fails with the decoder's typed error, as a connection's close reason needs", () => {
    expect(decode([Buffer.from([0, 0, 0, 65])], json).error).toBeInstanceOf(FrameTooLongError);
  });
});

import fc from 'fast-check';
import { chunkings, rechunk } from 'rxnet/testing';

describe('chunkings', () => {
  describe('(input)', () => {
    it('lists whole, whole between empty chunks, every chunk size, then every split point', () => {
      expect(chunkings('abc').map(({ name, chunks }) => [name, chunks.map(String)])).toEqual([
        ['whole', ['abc']],
        ['whole, between empty chunks', ['', 'abc', '']],
        ['every 1 bytes', ['a', 'b', 'c']],
        ['every 2 bytes', ['ab', 'c']],
        ['split at 1', ['a', 'bc']],
        ['split at 2', ['ab', 'c']],
      ]);
    });

    it('gives chunks that concatenate to the input, as views of one buffer', () => {
      const input = Buffer.from('hello, world');
      for (const { name, chunks } of chunkings(input)) {
        expect({ name, joined: Buffer.concat(chunks) }).toEqual({ name, joined: input });
        for (const chunk of chunks) expect(chunk.buffer).toBe(input.buffer);
      }
    });

    it('gives 2n chunkings for n bytes', () => {
      expect(chunkings(Buffer.alloc(10))).toHaveLength(20);
    });

    it('gives the whole and empty chunkings for an empty input', () => {
      expect(chunkings('').map(({ name }) => name)).toEqual([
        'whole',
        'whole, between empty chunks',
      ]);
    });

    it('encodes a string as UTF-8', () => {
      expect(chunkings('é')[0].chunks[0]).toEqual(Buffer.from([0xc3, 0xa9]));
    });
  });
});

describe('rechunk', () => {
  describe('(input, seed)', () => {
    it('gives chunks of 1 to 64 bytes that concatenate to the input', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 500 }), fc.integer(), (array, seed) => {
          const chunks = rechunk(array, seed);
          expect(Buffer.concat(chunks)).toEqual(Buffer.from(array));
          for (const chunk of chunks) expect(chunk.length >= 1 && chunk.length <= 64).toBe(true);
        }),
      );
    });

    it('gives the same chunks for the same seed, and others for another', () => {
      const input = Buffer.alloc(1000);
      const sizes = (seed: number): number[] => rechunk(input, seed).map((chunk) => chunk.length);

      expect(sizes(42)).toEqual(sizes(42));
      expect(sizes(42)).not.toEqual(sizes(43));
    });
  });

  describe('{ maxChunkBytes }', () => {
    it('bounds the chunk size', () => {
      expect(rechunk(Buffer.alloc(100), 7, { maxChunkBytes: 1 })).toHaveLength(100);
      expect(
        Math.max(
          ...rechunk(Buffer.alloc(1000), 7, { maxChunkBytes: 5 }).map((chunk) => chunk.length),
        ),
      ).toBeLessThanOrEqual(5);
    });

    it('rejects a size below 1 with a TypeError', () => {
      expect(() => rechunk('abc', 1, { maxChunkBytes: 0 })).toThrow(TypeError);
    });
  });
});

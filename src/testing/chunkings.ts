/** One way of delivering an input: the chunks, in order, and a name for test titles. */
export interface Chunking {
  /** Says how the input was cut, e.g. `'whole'`, `'every 3 bytes'`, `'split at 7'`. */
  readonly name: string;
  /** Views of the input (never copies), in order; concatenated, they are the input. */
  readonly chunks: readonly Buffer[];
}

/**
 * Every way of cutting `input` into chunks that a framing or protocol test should feed: whole; at
 * every chunk size from 1 byte up to its length; split in two at every position; and whole with
 * empty chunks around it. TCP may deliver any of them, so a decoder must give the same frames for
 * each (Twisted's advice: "call through with differing chunk sizes, down to one byte at a time").
 *
 * The chunks are views of one buffer. There are about 2n chunkings of n bytes holding about n²
 * bytes in all, so keep inputs to a few kilobytes; use {@link rechunk} for large ones.
 *
 * ## Example
 * ```ts
 * import { from, lastValueFrom, toArray } from 'rxjs';
 * import { lines } from 'rxnet';
 * import { chunkings } from 'rxnet/testing';
 *
 * it.each(chunkings('one\r\ntwo\r\n'))('decodes $name', async ({ chunks }) => {
 *   const decoded = await lastValueFrom(from(chunks).pipe(lines({ encoding: 'utf8' }), toArray()));
 *   expect(decoded).toEqual(['one', 'two']);
 * });
 * ```
 *
 * @param input The bytes (a string is UTF-8).
 * @returns The chunkings, `whole` first.
 * @see {@link rechunk}
 */
export function chunkings(input: Uint8Array | string): readonly Chunking[] {
  const bytes = toBuffer(input);
  const empty = bytes.subarray(0, 0);
  const result: Chunking[] = [
    { name: 'whole', chunks: [bytes] },
    { name: 'whole, between empty chunks', chunks: [empty, bytes, empty] },
  ];
  for (let size = 1; size < bytes.length; size++) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
    result.push({ name: `every ${size} bytes`, chunks });
  }
  for (let at = 1; at < bytes.length; at++) {
    result.push({ name: `split at ${at}`, chunks: [bytes.subarray(0, at), bytes.subarray(at)] });
  }
  return result;
}

/** Options of {@link rechunk}. */
export interface RechunkOptions {
  /** The largest chunk. @defaultValue 64, or the input's length if smaller */
  readonly maxChunkBytes?: number;
}

/**
 * Cuts `input` into chunks of random sizes from 1 to `maxChunkBytes`, reproducibly: the same seed
 * gives the same chunks (Akka's `Rechunker`). Use it for inputs too large for {@link chunkings},
 * or with a property-testing library's integer as the seed.
 *
 * ## Example
 * ```ts
 * import fc from 'fast-check';
 * import { rechunk } from 'rxnet/testing';
 *
 * fc.assert(fc.property(fc.integer(), (seed) => {
 *   const chunks = rechunk(encoded, seed, { maxChunkBytes: 16 });
 *   // feed `chunks` to the decoder and compare with the frames that were encoded
 * }));
 * ```
 *
 * @param input The bytes (a string is UTF-8).
 * @param seed Any integer; picks the cut points.
 * @param options The largest chunk; see {@link RechunkOptions}.
 * @returns Views of the input, in order.
 */
export function rechunk(
  input: Uint8Array | string,
  seed: number,
  options: RechunkOptions = {},
): readonly Buffer[] {
  const bytes = toBuffer(input);
  const max = options.maxChunkBytes ?? 64;
  if (!Number.isSafeInteger(max) || max < 1)
    throw new TypeError(`maxChunkBytes must be a positive integer, got ${max}`);
  const random = mulberry32(seed);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const size = 1 + Math.floor(random() * max);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

function toBuffer(input: Uint8Array | string): Buffer {
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  return Buffer.isBuffer(input)
    ? input
    : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

/** A small seeded generator (Tommy Ettinger's mulberry32): tests need reproducible, not secure. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

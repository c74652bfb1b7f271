import fc from 'fast-check';
import { ChunkQueue } from '../../src/framing/ChunkQueue';

const chunk = (maxLength: number): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ maxLength }).map((array) => Buffer.from(array));

describe('ChunkQueue.takeWith', () => {
  it('returns the queued bytes followed by the head of the chunk, and leaves the queue empty', () => {
    fc.assert(
      fc.property(
        fc.array(chunk(12), { maxLength: 8 }),
        fc.nat({ max: 12 }),
        chunk(12),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (queued, skipped, last, fraction) => {
          const queue = new ChunkQueue();
          for (const part of queued) queue.push(part);
          const model = Buffer.concat(queued);
          const skip = Math.min(skipped, model.length);
          queue.skip(skip);
          const end = Math.floor(fraction * last.length);

          const frame = queue.takeWith(last, end);

          expect(frame).toEqual(Buffer.concat([model.subarray(skip), last.subarray(0, end)]));
          expect(queue.length).toBe(0);
        },
      ),
    );
  });

  it('returns a view of the chunk when nothing is queued', () => {
    const queue = new ChunkQueue();
    const last = Buffer.from('abcdef');

    expect(queue.takeWith(last, 3).buffer).toBe(last.buffer);
  });

  it('gives each frame that spans chunks bytes of its own, which writing to another frame leaves alone', () => {
    const frames: Buffer[] = [];
    for (let n = 0; n < 40; n++) {
      const queue = new ChunkQueue();
      queue.push(Buffer.alloc(1000, n));
      frames.push(queue.takeWith(Buffer.alloc(1000, n), 1000));
    }
    for (const frame of frames) frame.fill(0xff, 0, 1);

    frames.forEach((frame, n) => {
      expect(frame.length).toBe(2000);
      expect(frame[0]).toBe(0xff);
      expect(frame.subarray(1).every((byte) => byte === n)).toBe(true);
    });
  });
});

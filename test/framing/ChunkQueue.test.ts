import fc from 'fast-check';
import { ChunkQueue } from '../../src/framing/ChunkQueue';

/** A queue operation, checked against one flat buffer that holds the same bytes. */
type Op =
  | { readonly kind: 'push'; readonly chunk: Buffer }
  | { readonly kind: 'consume' | 'skip'; readonly fraction: number }
  | { readonly kind: 'indexOf'; readonly needle: Buffer; readonly fraction: number }
  | { readonly kind: 'partial'; readonly needle: Buffer };

const smallBytes = (min: number, max: number): fc.Arbitrary<Buffer> =>
  fc
    .array(fc.constantFrom(0x61, 0x62), { minLength: min, maxLength: max })
    .map((values) => Buffer.from(values));

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('push' as const), chunk: smallBytes(0, 12) }),
  fc.record({
    kind: fc.constantFrom('consume' as const, 'skip' as const),
    fraction: fc.double({ min: 0, max: 1, noNaN: true }),
  }),
  fc.record({
    kind: fc.constant('indexOf' as const),
    needle: smallBytes(1, 3),
    fraction: fc.double({ min: 0, max: 1, noNaN: true }),
  }),
  fc.record({ kind: fc.constant('partial' as const), needle: smallBytes(1, 3) }),
);

describe('ChunkQueue', () => {
  it('behaves like one flat buffer under any sequence of operations', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const queue = new ChunkQueue();
        let model = Buffer.alloc(0);
        for (const step of ops) {
          if (step.kind === 'push') {
            queue.push(step.chunk);
            model = Buffer.concat([model, step.chunk]);
          } else if (step.kind === 'consume' || step.kind === 'skip') {
            const size = Math.floor(step.fraction * model.length);
            if (step.kind === 'consume')
              expect(queue.consume(size)).toEqual(model.subarray(0, size));
            else queue.skip(size);
            model = model.subarray(size);
          } else if (step.kind === 'indexOf') {
            const from = Math.floor(step.fraction * model.length);
            expect(queue.indexOf(step.needle, from)).toBe(model.indexOf(step.needle, from));
          } else if (step.kind === 'partial') {
            let expected = model.length;
            for (
              let at = Math.max(0, model.length - step.needle.length + 1);
              at < model.length;
              at++
            ) {
              if (step.needle.subarray(0, model.length - at).equals(model.subarray(at))) {
                expected = at;
                break;
              }
            }
            expect(queue.partialMatchStart(step.needle, 0)).toBe(expected);
          }
          expect(queue.length).toBe(model.length);
          for (let at = 0; at < model.length; at++) expect(queue.byteAt(at)).toBe(model[at]);
        }
      }),
    );
  });

  it('returns a view, not a copy, when the bytes lie in one chunk', () => {
    const queue = new ChunkQueue();
    const chunk = Buffer.from('abcdef');
    queue.push(chunk);

    expect(queue.consume(3).buffer).toBe(chunk.buffer);
  });

  it('reads a big-endian integer that spans chunks', () => {
    const queue = new ChunkQueue();
    queue.push(Buffer.from([0x01]));
    queue.push(Buffer.from([0x02, 0x03]));
    queue.push(Buffer.from([0x04]));

    expect(queue.readUIntBE(0, 4)).toBe(0x01020304);
  });

  it('keeps its contents when it drops read chunks from a queue that never empties', () => {
    const queue = new ChunkQueue();
    const expected: number[] = [];
    for (let i = 0; i < 1000; i++) {
      queue.push(Buffer.from([i & 0xff, (i + 1) & 0xff]));
      expected.push(i & 0xff, (i + 1) & 0xff);
      expect(queue.consume(1)[0]).toBe(expected.shift());
    }

    expect(queue.consume(queue.length)).toEqual(Buffer.from(expected));
  });
});

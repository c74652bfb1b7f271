import fc from 'fast-check';
import { Observable, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeLengthPrefixed,
  encodeLengthPrefixedFrame,
  FrameTooLongError,
  InvalidFrameError,
  lengthPrefixed,
  type LengthPrefixedOptions,
  TruncatedFrameError,
} from 'rxnet';
import { chunkings, observableMatcher, rechunk } from 'rxnet/testing';
import { arbitraryFrame, bytes, decode, expectOnlyTypedErrors, text } from './helpers';

const u8 = (...values: number[]): Buffer => Buffer.from(values);
const b = (value: string): Buffer => bytes(value);

/** The book's IoT gateway frame: a 16-byte header whose first field is the total length. */
const gateway: LengthPrefixedOptions = {
  prefixBytes: 4,
  headerBytes: 16,
  lengthIncludesHeader: true,
  includeHeader: true,
};

describe('lengthPrefixed', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('({ prefixBytes: 2 })', () => {
    it('decodes frames that start with a big-endian length', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a--b----|', { a: u8(0, 2, 104), b: u8(105, 0, 0) });
        const e1subs = '  ^--------!';
        const expected = '----(xy)-|';

        expectObservable(e1.pipe(lengthPrefixed({ prefixBytes: 2 }))).toBe(expected, {
          x: b('hi'),
          y: b(''),
        });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<Buffer>(' |');
        const e1subs = '  (^!)';

        expectObservable(e1.pipe(lengthPrefixed({ prefixBytes: 2 }))).toBe('|');
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<Buffer>(' -');
        const e1subs = '  ^';

        expectObservable(e1.pipe(lengthPrefixed({ prefixBytes: 2 }))).toBe('-');
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a--#', { a: u8(0, 1, 120) }, new Error('boom'));
        const e1subs = '  ^---!';
        const expected = '-x--#';

        expectObservable(e1.pipe(lengthPrefixed({ prefixBytes: 2 }))).toBe(
          expected,
          { x: b('x') },
          new Error('boom'),
        );
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const e1 = hot('  -a--b--c--|', { a: u8(0, 1, 49), b: u8(0, 1, 50), c: u8(0, 1, 51) });
        const unsub = '   -----!     ';
        const e1subs = '  ^----!     ';
        const expected = '-x--y-     ';

        expectObservable(e1.pipe(lengthPrefixed({ prefixBytes: 2 })), unsub).toBe(expected, {
          x: b('1'),
          y: b('2'),
        });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops listening to a synchronous source when unsubscribed', () => {
      const sideEffects: number[] = [];
      const synchronous = new Observable<Buffer>((subscriber) => {
        for (let i = 1; !subscriber.closed && i <= 10; i++) {
          sideEffects.push(i);
          subscriber.next(u8(0, 1, i));
        }
      });

      synchronous.pipe(lengthPrefixed({ prefixBytes: 2 }), take(2)).subscribe();

      expect(sideEffects).toEqual([1, 2]);
    });
  });

  describe('{ prefixBytes }', () => {
    it.each([1, 2, 4] as const)(
      'decodes the same frames at every chunking with %d-byte lengths',
      (prefixBytes) => {
        const sent = ['hello', '', 'x', 'a longer frame'];
        const wire = Buffer.concat(
          sent.flatMap((frame) => encodeLengthPrefixedFrame(frame, { prefixBytes })),
        );
        for (const { name, chunks } of chunkings(wire)) {
          const { values, error, completed } = decode(chunks, lengthPrefixed({ prefixBytes }));
          expect({ name, values: text(values), error, completed }).toEqual({
            name,
            values: sent,
            error: undefined,
            completed: true,
          });
        }
      },
    );

    it('defaults to 4, like Int32StringReceiver', () => {
      expect(text(decode([u8(0, 0, 0, 2, 104, 105)], lengthPrefixed()).values)).toEqual(['hi']);
    });

    it('decodes thousands of frames in one chunk, as views of it', () => {
      const chunk = Buffer.concat(
        Array.from({ length: 5000 }, (_, i) => encodeLengthPrefixedFrame(`f${i}`)).flat(),
      );
      const { values } = decode([chunk], lengthPrefixed());

      expect(values).toHaveLength(5000);
      expect(values[4999].toString()).toBe('f4999');
      expect(values[4999].buffer).toBe(chunk.buffer);
    });

    it('emits nothing for a partial frame', () => {
      for (const { chunks } of chunkings(u8(0, 0, 0, 5, 1, 2, 3, 4))) {
        const outcome = decode(
          new Observable<Buffer>((s) => chunks.forEach((chunk) => s.next(chunk))),
          lengthPrefixed(),
        );
        expect(outcome).toEqual({ values: [], error: undefined, completed: false });
      }
    });

    it('fails with TruncatedFrameError when the source completes inside a frame', () => {
      expect(decode([u8(0, 0, 0, 5, 1, 2)], lengthPrefixed()).error).toEqual(
        new TruncatedFrameError(6),
      );
    });

    it('rejects sizes other than 1, 2 and 4 with a TypeError at call time', () => {
      expect(() => lengthPrefixed({ prefixBytes: 3 as 4 })).toThrow(TypeError);
    });

    it('never throws on random input, only fails with a typed error', () => {
      fc.assert(
        fc.property(
          arbitraryFrame(200),
          fc.integer(),
          fc.constantFrom<LengthPrefixedOptions>(
            { prefixBytes: 1 },
            { prefixBytes: 2, maxFrameBytes: 50 },
            { ...gateway, minFrameBytes: 17 },
          ),
          (input, seed, options) => {
            expectOnlyTypedErrors(
              decode(rechunk(input, seed, { maxChunkBytes: 6 }), lengthPrefixed(options)),
            );
          },
        ),
      );
    });
  });

  describe('{ maxFrameBytes }', () => {
    it(`defaults to ${DEFAULT_MAX_FRAME_BYTES}, like Twisted's IntNStringReceiver.MAX_LENGTH`, () => {
      expect(decode([u8(0, 1, 0x86, 0xa0)], lengthPrefixed()).error).toEqual(
        new FrameTooLongError(99999, 100000),
      );
    });

    it('fails on the length field, before any payload arrives', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const e1 = hot('  -a--b--c-', { a: u8(0, 1, 120, 0), b: u8(200), c: u8(1, 2, 3) });
        const e1subs = '  ^---!    ';
        const expected = '-x--#    ';

        expectObservable(e1.pipe(lengthPrefixed({ prefixBytes: 2, maxFrameBytes: 100 }))).toBe(
          expected,
          { x: b('x') },
          new FrameTooLongError(100, 200),
        );
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('emits FrameTooLongError and nothing else for a long frame, at every chunking', () => {
      for (const { name, chunks } of chunkings(u8(6, 1, 2, 3, 4, 5, 6, 1, 9))) {
        const { values, error } = decode(
          chunks,
          lengthPrefixed({ prefixBytes: 1, maxFrameBytes: 5 }),
        );
        expect({ name, values, error }).toEqual({
          name,
          values: [],
          error: new FrameTooLongError(5, 6),
        });
      }
    });

    it.each([
      [4, u8(0xff, 0xff, 0xff, 0xfe), 0xfffffffe],
      [4, u8(0x80, 0, 0, 0), 0x80000000],
      [2, u8(0xff, 0xfe), 0xfffe],
      [1, u8(0xfe), 0xfe],
    ] as const)(
      'reads a %d-byte length with its top bit set as unsigned, at every chunking',
      (prefixBytes, field, length) => {
        for (const { name, chunks } of chunkings(Buffer.concat([u8(0), field]))) {
          const { values, error } = decode(
            chunks,
            lengthPrefixed({
              prefixBytes,
              headerBytes: prefixBytes + 1,
              lengthOffset: 1,
              maxFrameBytes: 100,
            }),
          );
          expect({ name, values, error }).toEqual({
            name,
            values: [],
            error: new FrameTooLongError(100, length),
          });
        }
      },
    );

    it('rejects a minimum above the maximum with a TypeError at call time', () => {
      expect(() => lengthPrefixed({ minFrameBytes: 10, maxFrameBytes: 5 })).toThrow(TypeError);
    });
  });

  describe('{ headerBytes, lengthOffset, lengthIncludesHeader, includeHeader }', () => {
    const header = (total: number, kind: number): Buffer => {
      const fields = Buffer.alloc(16);
      fields.writeUInt32BE(total, 0);
      fields.writeUInt16BE(kind, 4);
      return fields;
    };

    it("decodes the IoT gateway's frames, header included, at every chunking", () => {
      const first = Buffer.concat([header(19, 7), b('abc')]);
      const second = header(16, 8);
      for (const { name, chunks } of chunkings(Buffer.concat([first, second]))) {
        const { values, error } = decode(chunks, lengthPrefixed(gateway));
        expect({ name, values, error }).toEqual({
          name,
          values: [first, second],
          error: undefined,
        });
      }
    });

    it('emits a chunk that is exactly one frame as that chunk, and later frames as views', () => {
      const first = Buffer.concat([header(19, 7), b('abc')]);
      const second = header(16, 8);
      const both = Buffer.concat([first, second]);
      const { values } = decode([first, second, both], lengthPrefixed(gateway));

      expect(values).toEqual([first, second, first, second]);
      expect(values[0]).toBe(first);
      expect(values[1]).toBe(second);
      expect(values[2].buffer).toBe(both.buffer);
      expect(values[3].buffer).toBe(both.buffer);
    });

    it('emits frames whole whether they span chunks or fill them exactly, at every chunking', () => {
      const frames = [header(16, 1), Buffer.concat([header(20, 2), b('abcd')]), header(16, 3)];
      const wire = Buffer.concat(frames);
      const cuts = [
        ...chunkings(wire),
        // Chunks that are exactly one frame each, then chunks that end mid-frame and exactly at one.
        { name: 'one chunk per frame', chunks: frames },
        {
          name: 'frame boundaries moved',
          chunks: [wire.subarray(0, 10), wire.subarray(10, 36), wire.subarray(36)],
        },
      ];
      for (const { name, chunks } of cuts) {
        const { values, error, completed } = decode(chunks, lengthPrefixed(gateway));
        expect({ name, values, error, completed }).toEqual({
          name,
          values: frames,
          error: undefined,
          completed: true,
        });
      }
    });

    it('fails with InvalidFrameError when a length that includes the header is shorter than it', () => {
      expect(decode([header(15, 7)], lengthPrefixed(gateway)).error).toEqual(
        new InvalidFrameError('length 15 is below the minimum of 16'),
      );
    });

    it('fails with InvalidFrameError when a length is below minFrameBytes', () => {
      expect(
        decode([header(16, 7)], lengthPrefixed({ ...gateway, minFrameBytes: 20 })).error,
      ).toEqual(new InvalidFrameError('length 16 is below the minimum of 20'));
    });

    it('reads a length field inside the header, and strips the header by default', () => {
      const options: LengthPrefixedOptions = { prefixBytes: 2, headerBytes: 5, lengthOffset: 1 };
      for (const { chunks } of chunkings(u8(0xaa, 0, 2, 0xbb, 0xcc, 104, 105))) {
        expect(text(decode(chunks, lengthPrefixed(options)).values)).toEqual(['hi']);
      }
    });

    it('rejects a header too small for its length field with a TypeError at call time', () => {
      expect(() => lengthPrefixed({ prefixBytes: 4, headerBytes: 4, lengthOffset: 2 })).toThrow(
        TypeError,
      );
    });
  });

  describe('{ allowTruncation }', () => {
    it('drops a partial frame when the source completes', () => {
      expect(
        decode([u8(1, 120, 5, 1)], lengthPrefixed({ prefixBytes: 1, allowTruncation: true })),
      ).toEqual({ values: [b('x')], error: undefined, completed: true });
    });
  });
});

describe('encodeLengthPrefixedFrame', () => {
  it('returns the header and the payload as separate buffers', () => {
    const payload = b('hi');
    const parts = encodeLengthPrefixedFrame(payload, { prefixBytes: 2 });

    expect(parts).toEqual([u8(0, 2), payload]);
    expect(parts[1]).toBe(payload);
  });

  it('writes the length into a copy of the given header', () => {
    const fields = Buffer.alloc(16, 0xff);
    const [header] = encodeLengthPrefixedFrame('abc', gateway, fields);

    expect(header.readUInt32BE(0)).toBe(19);
    expect(header.subarray(4)).toEqual(Buffer.alloc(12, 0xff));
    expect(fields.readUInt32BE(0)).toBe(0xffffffff);
  });

  it('refuses what the decoder would refuse', () => {
    expect(() => encodeLengthPrefixedFrame('123456', { maxFrameBytes: 5 })).toThrow(
      new FrameTooLongError(5, 6),
    );
    expect(() =>
      encodeLengthPrefixedFrame('x'.repeat(256), { prefixBytes: 1, maxFrameBytes: 1000 }),
    ).toThrow(new FrameTooLongError(255, 256));
    expect(() => encodeLengthPrefixedFrame('', { minFrameBytes: 1 })).toThrow(InvalidFrameError);
    expect(() => encodeLengthPrefixedFrame('', gateway, Buffer.alloc(3))).toThrow(TypeError);
  });

  it.each([
    ['Int8', { prefixBytes: 1 } as const],
    ['Int16', { prefixBytes: 2 } as const],
    ['Int32', { prefixBytes: 4 } as const],
    ['IoT gateway', gateway],
  ])(
    'round-trips %s frames through lengthPrefixed() under random rechunking',
    (_, options: LengthPrefixedOptions) => {
      fc.assert(
        fc.property(fc.array(arbitraryFrame(200)), fc.integer(), (sent, seed) => {
          const wire = Buffer.concat(
            sent.flatMap((payload) => encodeLengthPrefixedFrame(payload, { ...options })),
          );
          const { values, error } = decode(
            rechunk(wire, seed, { maxChunkBytes: 9 }),
            lengthPrefixed({ ...options, includeHeader: false }),
          );
          expect({ values, error }).toEqual({ values: sent, error: undefined });
        }),
      );
    },
  );
});

describe('encodeLengthPrefixed', () => {
  it('emits a header carrying the length, then the payload', () => {
    new TestScheduler(observableMatcher).run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold(' -a--------|', { a: 'hi' });
      const e1subs = '  ^---------!';
      const expected = '-(hx)-----|';

      expectObservable(e1.pipe(encodeLengthPrefixed({ prefixBytes: 2 }))).toBe(expected, {
        h: u8(0, 2),
        x: b('hi'),
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('fails with FrameTooLongError at the first payload the decoder would refuse', () => {
    new TestScheduler(observableMatcher).run(({ cold, expectObservable }) => {
      const e1 = cold(' -a-b-|', { a: 'x'.repeat(300), b: 'x' });
      const expected = '-#';

      expectObservable(e1.pipe(encodeLengthPrefixed({ prefixBytes: 1, maxFrameBytes: 1000 }))).toBe(
        expected,
        {},
        new FrameTooLongError(255, 300),
      );
    });
  });
});

import fc from 'fast-check';
import { Observable, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  DEFAULT_MAX_FRAME_BYTES,
  delimited,
  encodeDelimited,
  encodeDelimitedFrame,
  FrameTooLongError,
  InvalidFrameError,
  TruncatedFrameError,
} from 'rxnet';
import { chunkings, observableMatcher, rechunk } from 'rxnet/testing';
import { arbitraryFrame, bytes, decode, expectOnlyTypedErrors, text } from './helpers';

const b = (value: string): Buffer => bytes(value);

describe('delimited', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe("('|')", () => {
    it('splits chunks into the frames between delimiters', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a---b--c----|', { a: b('ab|'), b: b('c'), c: b('|d|') });
        const e1subs = '  ^------------!';
        const expected = '-x------(yz)-|';

        expectObservable(e1.pipe(delimited('|'))).toBe(expected, {
          x: b('ab'),
          y: b('c'),
          z: b('d'),
        });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<Buffer>(' |');
        const e1subs = '  (^!)';

        expectObservable(e1.pipe(delimited('|'))).toBe('|');
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<Buffer>(' -');
        const e1subs = '  ^';

        expectObservable(e1.pipe(delimited('|'))).toBe('-');
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a--#', { a: b('x|') }, new Error('boom'));
        const e1subs = '  ^---!';
        const expected = '-x--#';

        expectObservable(e1.pipe(delimited('|'))).toBe(expected, { x: b('x') }, new Error('boom'));
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const e1 = hot('  -a--b--c--|', { a: b('1|'), b: b('2|'), c: b('3|') });
        const unsub = '   -----!     ';
        const e1subs = '  ^----!     ';
        const expected = '-x--y-     ';

        expectObservable(e1.pipe(delimited('|')), unsub).toBe(expected, { x: b('1'), y: b('2') });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops listening to a synchronous source when unsubscribed', () => {
      const sideEffects: number[] = [];
      const synchronous = new Observable<Buffer>((subscriber) => {
        for (let i = 1; !subscriber.closed && i <= 10; i++) {
          sideEffects.push(i);
          subscriber.next(b(`${i}|`));
        }
      });

      synchronous.pipe(delimited('|'), take(2)).subscribe();

      expect(sideEffects).toEqual([1, 2]);
    });

    it('decodes the same frames at every chunking, with a binary multi-byte delimiter', () => {
      const input = b('\x00\xff\x00x\x00\xff\x00\x00\xff\x00\xff\x00');
      for (const { name, chunks } of chunkings(input)) {
        const { values, error } = decode(chunks, delimited(b('\x00\xff\x00')));
        expect({ name, values: text(values), error }).toEqual({
          name,
          values: ['', 'x', ''],
          error: new TruncatedFrameError(2),
        });
      }
    });

    it('decodes thousands of frames in one chunk, as views of it', () => {
      const chunk = b(Array.from({ length: 5000 }, (_, i) => `${i}|`).join(''));
      const { values } = decode([chunk], delimited('|'));

      expect(values).toHaveLength(5000);
      expect(values[4999].buffer).toBe(chunk.buffer);
    });

    it('copies a frame that spans chunks once, into a buffer of its own size', () => {
      const { values } = decode([b('ab'), b('cd'), b('e|')], delimited('|'));

      expect(values).toEqual([b('abcde')]);
      expect(values[0].byteLength).toBe(5);
    });

    it('searches a long frame arriving byte by byte in linear time', () => {
      const size = 200000;
      const chunks = Array.from({ length: size }, () => b('x'));
      chunks.push(b('|'));
      const { values } = decode(chunks, delimited('|', { maxFrameBytes: size }));

      expect(values[0].length).toBe(size);
    });

    it('never throws on random input, only fails with a typed error', () => {
      fc.assert(
        fc.property(arbitraryFrame(300), fc.integer(), (input, seed) => {
          expectOnlyTypedErrors(
            decode(
              rechunk(input, seed, { maxChunkBytes: 8 }),
              delimited(b('\x00\x01'), { maxFrameBytes: 16 }),
            ),
          );
        }),
      );
    });
  });

  describe('{ maxFrameBytes }', () => {
    it(`defaults to ${DEFAULT_MAX_FRAME_BYTES}`, () => {
      expect(decode([Buffer.alloc(DEFAULT_MAX_FRAME_BYTES + 1)], delimited('|')).error).toEqual(
        new FrameTooLongError(DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_FRAME_BYTES + 1),
      );
    });

    it('emits FrameTooLongError and nothing else for a long frame, at every chunking', () => {
      for (const { name, chunks } of chunkings('123456||')) {
        const { values, error } = decode(chunks, delimited('|', { maxFrameBytes: 5 }));
        expect({ name, values, error }).toEqual({
          name,
          values: [],
          error: new FrameTooLongError(5, 6),
        });
      }
    });
  });
});

describe('encodeDelimitedFrame', () => {
  it('returns the frame and the delimiter as separate buffers', () => {
    expect(encodeDelimitedFrame('ab', '|')).toEqual([b('ab'), b('|')]);
  });

  it('refuses what the decoder would not give back', () => {
    expect(() => encodeDelimitedFrame('123456', '|', { maxFrameBytes: 5 })).toThrow(
      new FrameTooLongError(5, 6),
    );
    expect(() => encodeDelimitedFrame('a|b', '|')).toThrow(InvalidFrameError);
    expect(() => encodeDelimitedFrame('xa', 'aa')).toThrow(InvalidFrameError);
  });

  it('round-trips through delimited() under random rechunking, with any delimiter', () => {
    fc.assert(
      fc.property(
        fc.array(arbitraryFrame(40)),
        arbitraryFrame(4).filter((d) => d.length > 0),
        fc.integer(),
        (candidates, delimiter, seed) => {
          const sent = candidates.filter((frame) => {
            try {
              encodeDelimitedFrame(frame, delimiter);
              return true;
            } catch {
              return false;
            }
          });
          const wire = Buffer.concat(
            sent.flatMap((frame) => encodeDelimitedFrame(frame, delimiter)),
          );
          const { values, error } = decode(
            rechunk(wire, seed, { maxChunkBytes: 7 }),
            delimited(delimiter),
          );
          expect({ values, error }).toEqual({ values: sent, error: undefined });
        },
      ),
    );
  });
});

describe('encodeDelimited', () => {
  it('emits each frame and its delimiter as separate buffers', () => {
    new TestScheduler(observableMatcher).run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold(' -a-------b---|', { a: 'ab', b: 'c' });
      const e1subs = '  ^------------!';
      const expected = '-(xd)----(yd)|';

      expectObservable(e1.pipe(encodeDelimited('|'))).toBe(expected, {
        x: b('ab'),
        y: b('c'),
        d: b('|'),
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('fails with InvalidFrameError at the first frame that contains the delimiter', () => {
    new TestScheduler(observableMatcher).run(({ cold, expectObservable }) => {
      const e1 = cold(' -a-b-|', { a: 'a|b', b: 'x' });
      const expected = '-#';

      expectObservable(e1.pipe(encodeDelimited('|'))).toBe(
        expected,
        {},
        new InvalidFrameError('frame contains its delimiter'),
      );
    });
  });
});

import fc from 'fast-check';
import { Observable, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  FrameTooLongError,
  type FramingMode,
  modal,
  type ModalOptions,
  TruncatedFrameError,
} from 'rxnet';
import { chunkings, observableMatcher, rechunk } from 'rxnet/testing';
import { arbitraryFrame, bytes, decode, expectOnlyTypedErrors } from './helpers';

const b = (value: string): Buffer => bytes(value);

/** `SIZE n` announces an n-byte body; the state is the pending body size (0: reading lines). */
const sized: ModalOptions<number> = {
  seed: 0,
  mode: (pending) => (pending > 0 ? { bytes: pending } : 'line'),
  next: (pending, frame) =>
    pending > 0 ? 0 : Number(/^SIZE (\d+)$/.exec(frame.toString())?.[1] ?? 0),
};

/** LineReceiver's setRawMode: after a `RAW` line, everything else is raw data. */
const rawAfter: ModalOptions<FramingMode> = {
  seed: 'line',
  mode: (mode) => mode,
  next: (mode, frame) => (mode === 'line' && frame.toString() === 'RAW' ? 'raw' : mode),
};

const describeFrames = (frames: readonly { mode: FramingMode; data: Buffer }[]): string[] =>
  frames.map(
    ({ mode, data }) =>
      `${typeof mode === 'string' ? mode : `bytes ${mode.bytes}`}: ${data.toString('latin1')}`,
  );

describe('modal', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('({ seed, mode, next })', () => {
    it('switches framing at the frame boundary, inside a chunk', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a----b----|', { a: b('SIZE 3\r\nab'), b: b('cOK\r\n') });
        const e1subs = '  ^----------!';
        const expected = '-x----(yz)-|';

        expectObservable(e1.pipe(modal(sized))).toBe(expected, {
          x: { mode: 'line', state: 0, data: b('SIZE 3') },
          y: { mode: { bytes: 3 }, state: 3, data: b('abc') },
          z: { mode: 'line', state: 0, data: b('OK') },
        });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<Buffer>(' |');
        const e1subs = '  (^!)';

        expectObservable(e1.pipe(modal(sized))).toBe('|');
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<Buffer>(' -');
        const e1subs = '  ^';

        expectObservable(e1.pipe(modal(sized))).toBe('-');
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a--#', { a: b('x\r\n') }, new Error('boom'));
        const e1subs = '  ^---!';
        const expected = '-x--#';

        expectObservable(e1.pipe(modal(sized))).toBe(
          expected,
          { x: { mode: 'line', state: 0, data: b('x') } },
          new Error('boom'),
        );
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('fails with the error next throws, at that frame', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a--b--|', { a: b('ok\r\nbad\r\nok\r\n'), b: b('ok\r\n') });
        const e1subs = '  ^!      ';
        const expected = '-(x#)   ';
        const picky: ModalOptions<number> = {
          ...sized,
          next: (pending, frame) => {
            if (frame.toString() === 'bad') throw new Error('bad line');
            return pending;
          },
        };

        expectObservable(e1.pipe(modal(picky))).toBe(
          expected,
          { x: { mode: 'line', state: 0, data: b('ok') } },
          new Error('bad line'),
        );
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const e1 = hot('  -a--b--c--|', { a: b('1\r\n'), b: b('2\r\n'), c: b('3\r\n') });
        const unsub = '   -----!     ';
        const e1subs = '  ^----!     ';
        const expected = '-x--y-     ';

        expectObservable(e1.pipe(modal(sized)), unsub).toBe(expected, {
          x: { mode: 'line', state: 0, data: b('1') },
          y: { mode: 'line', state: 0, data: b('2') },
        });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops listening to a synchronous source when unsubscribed', () => {
      const sideEffects: number[] = [];
      const synchronous = new Observable<Buffer>((subscriber) => {
        for (let i = 1; !subscriber.closed && i <= 10; i++) {
          sideEffects.push(i);
          subscriber.next(b(`${i}\r\n`));
        }
      });

      synchronous.pipe(modal(sized), take(2)).subscribe();

      expect(sideEffects).toEqual([1, 2]);
    });

    it('decodes the same frames at every chunking', () => {
      for (const { name, chunks } of chunkings('SIZE 4\r\n\r\n\r\nA\r\nSIZE 1\r\nxEND\r\n')) {
        const { values, error } = decode(chunks, modal(sized));
        expect({ name, frames: describeFrames(values), error }).toEqual({
          name,
          frames: [
            'line: SIZE 4',
            'bytes 4: \r\n\r\n',
            'line: A',
            'line: SIZE 1',
            'bytes 1: x',
            'line: END',
          ],
          error: undefined,
        });
      }
    });

    it('never throws on random input, only fails with a typed error', () => {
      const alphabet = fc
        .constantFrom('SIZE 2\r\n', 'SIZE 99\r\n', 'RAW\r\n', 'x', '\r', '\n')
        .map((part) => b(part));
      const garbage = fc.oneof(
        arbitraryFrame(200),
        fc.array(alphabet, { maxLength: 40 }).map((parts) => Buffer.concat(parts)),
      );
      fc.assert(
        fc.property(
          garbage,
          fc.integer(),
          fc.constantFrom(sized, rawAfter),
          (input, seed, options) => {
            const limited = {
              ...(options as ModalOptions<unknown>),
              maxLineBytes: 16,
              maxFrameBytes: 50,
            };
            expectOnlyTypedErrors(
              decode(rechunk(input, seed, { maxChunkBytes: 6 }), modal(limited)),
            );
          },
        ),
      );
    });

    it('starts each subscription from the seed', () => {
      const decoder = modal(rawAfter);

      expect(describeFrames(decode([b('RAW\r\nx')], decoder).values)).toEqual([
        'line: RAW',
        'raw: x',
      ]);
      expect(describeFrames(decode([b('a\r\n')], decoder).values)).toEqual(['line: a']);
    });
  });

  describe('(mode { bytes })', () => {
    it('emits a chunk that is exactly the frame as that chunk, and a frame inside one as a view', () => {
      const body = b('abc');
      const both = b('SIZE 2\r\nxyOK\r\n');
      const { values, error } = decode([b('SIZE 3\r\n'), body, both], modal(sized));

      expect(describeFrames(values)).toEqual([
        'line: SIZE 3',
        'bytes 3: abc',
        'line: SIZE 2',
        'bytes 2: xy',
        'line: OK',
      ]);
      expect(values[1].data).toBe(body);
      expect(values[3].data.buffer).toBe(both.buffer);
      expect(error).toBeUndefined();
    });
  });

  describe("(mode 'raw')", () => {
    it('emits the buffered rest, then each chunk as it arrives, without copying', () => {
      const later = b('more\r\n');
      const { values, error, completed } = decode([b('hi\r\nRAW\r\nrest'), later], modal(rawAfter));

      expect(describeFrames(values)).toEqual([
        'line: hi',
        'line: RAW',
        'raw: rest',
        'raw: more\r\n',
      ]);
      expect(values[3].data).toBe(later);
      expect({ error, completed }).toEqual({ error: undefined, completed: true });
    });
  });

  describe("(mode 'raw') at every chunking", () => {
    it('gives the same lines, then the same raw bytes, however the input is cut', () => {
      for (const { name, chunks } of chunkings('hi\r\nRAW\r\nraw \r\n bytes')) {
        const { values, error } = decode(chunks, modal(rawAfter));
        const lineFrames = values
          .filter((frame) => frame.mode === 'line')
          .map(({ data }) => data.toString());
        const raw = Buffer.concat(
          values.filter((frame) => frame.mode === 'raw').map(({ data }) => data),
        ).toString();
        expect({ name, lineFrames, raw, error }).toEqual({
          name,
          lineFrames: ['hi', 'RAW'],
          raw: 'raw \r\n bytes',
          error: undefined,
        });
      }
    });
  });

  describe('{ maxLineBytes, maxFrameBytes }', () => {
    it('fails with FrameTooLongError when a line is too long, before its delimiter arrives', () => {
      const { values, error } = decode(
        new Observable<Buffer>((s) => s.next(b('ok\r\n123456'))),
        modal({ ...sized, maxLineBytes: 5 }),
      );

      expect(describeFrames(values)).toEqual(['line: ok']);
      expect(error).toEqual(new FrameTooLongError(5, 6));
    });

    it('fails with FrameTooLongError when a { bytes } frame is larger than maxFrameBytes, before buffering it', () => {
      const { values, error } = decode(
        new Observable<Buffer>((s) => s.next(b('SIZE 9\r\nx'))),
        modal({ ...sized, maxFrameBytes: 8 }),
      );

      expect(describeFrames(values)).toEqual(['line: SIZE 9']);
      expect(error).toEqual(new FrameTooLongError(8, 9));
    });
  });

  describe('{ allowTruncation }', () => {
    it('fails with TruncatedFrameError when the source completes inside a frame', () => {
      expect(decode([b('SIZE 3\r\nab')], modal(sized)).error).toEqual(new TruncatedFrameError(2));
      expect(decode([b('abc')], modal(sized)).error).toEqual(new TruncatedFrameError(3));
    });

    it('emits an unterminated last line, and drops a partial { bytes } frame, when allowed', () => {
      expect(
        describeFrames(decode([b('a\r\nbc')], modal({ ...sized, allowTruncation: true })).values),
      ).toEqual(['line: a', 'line: bc']);
      expect(
        describeFrames(
          decode([b('SIZE 3\r\nab')], modal({ ...sized, allowTruncation: true })).values,
        ),
      ).toEqual(['line: SIZE 3']);
    });
  });
});

import fc from 'fast-check';
import { Observable, of, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  DEFAULT_MAX_LINE_BYTES,
  encodeLine,
  encodeLines,
  FrameTooLongError,
  InvalidFrameError,
  lines,
  TruncatedFrameError,
} from 'rxnet';
import { chunkings, observableMatcher, rechunk } from 'rxnet/testing';
import { arbitraryFrame, bytes, decode, expectOnlyTypedErrors, text } from './helpers';

const b = (value: string): Buffer => Buffer.from(value, 'utf8');

describe('lines', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('()', () => {
    it('splits chunks into lines without the delimiter', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a----b---c--|', { a: b('he'), b: b('llo\r\nwo'), c: b('rld\r\n') });
        const e1subs = '  ^------------!';
        const expected = '------x---y--|';

        expectObservable(e1.pipe(lines())).toBe(expected, { x: b('hello'), y: b('world') });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('emits every line a chunk completes, in order, at that chunk', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const e1 = cold(' -a---------|', { a: b('one\r\n\r\nthree\r\n') });
        const expected = '-(xyz)-----|';

        expectObservable(e1.pipe(lines())).toBe(expected, { x: b('one'), y: b(''), z: b('three') });
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<Buffer>(' |');
        const e1subs = '  (^!)';
        const expected = '|';

        expectObservable(e1.pipe(lines())).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<Buffer>(' -');
        const e1subs = '  ^';
        const expected = '-';

        expectObservable(e1.pipe(lines())).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a--#', { a: b('x\r\n') }, new Error('boom'));
        const e1subs = '  ^---!';
        const expected = '-x--#';

        expectObservable(e1.pipe(lines())).toBe(expected, { x: b('x') }, new Error('boom'));
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const e1 = hot('  -a--b--c--|', { a: b('1\r\n'), b: b('2\r\n'), c: b('3\r\n') });
        const unsub = '   -----!     ';
        const e1subs = '  ^----!     ';
        const expected = '-x--y-     ';

        expectObservable(e1.pipe(lines()), unsub).toBe(expected, { x: b('1'), y: b('2') });
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

      synchronous.pipe(lines(), take(2)).subscribe();

      expect(sideEffects).toEqual([1, 2]);
    });

    it('stops inside a chunk when the consumer unsubscribes after a line', () => {
      const many = b('a\r\n'.repeat(1000));

      expect(decode([many], (source) => source.pipe(lines(), take(3))).values).toHaveLength(3);
    });

    it('decodes the same lines at every chunking', () => {
      const input = 'GET /\r\nHost: x\r\n\r\nBODY\r\nlast\r\n';
      for (const { name, chunks } of chunkings(input)) {
        const { values, error, completed } = decode(chunks, lines());
        expect({ name, lines: text(values), error, completed }).toEqual({
          name,
          lines: ['GET /', 'Host: x', '', 'BODY', 'last'],
          error: undefined,
          completed: true,
        });
      }
    });

    it('decodes thousands of lines in one chunk, as views of it', () => {
      const chunk = b(Array.from({ length: 5000 }, (_, i) => `line ${i}\r\n`).join(''));
      const { values } = decode([chunk], lines());

      expect(values).toHaveLength(5000);
      expect(values[4999].toString()).toBe('line 4999');
      expect(values[4999].buffer).toBe(chunk.buffer);
    });

    it('emits nothing for a partial line', () => {
      for (const { chunks } of chunkings('no delimiter yet\r')) {
        const outcome = decode(
          new Observable<Buffer>((s) => chunks.forEach((chunk) => s.next(chunk))),
          lines(),
        );
        expect(outcome).toEqual({ values: [], error: undefined, completed: false });
      }
    });

    it('fails with TruncatedFrameError when the source completes inside a line', () => {
      const { values, error } = decode([b('a\r\nbc')], lines());

      expect(text(values)).toEqual(['a']);
      expect(error).toEqual(new TruncatedFrameError(2));
    });

    it('rejects an empty delimiter with a TypeError at call time', () => {
      expect(() => lines({ delimiter: '' })).toThrow(TypeError);
    });

    it('never throws on random input, only fails with a typed error', () => {
      fc.assert(
        fc.property(arbitraryFrame(300), fc.integer(), (input, seed) => {
          expectOnlyTypedErrors(
            decode(rechunk(input, seed, { maxChunkBytes: 8 }), lines({ maxLineBytes: 16 })),
          );
        }),
      );
    });
  });

  describe('{ delimiter }', () => {
    it("splits on '\\n' and keeps a '\\r'", () => {
      for (const { chunks } of chunkings('a\nb\r\n\n')) {
        expect(text(decode(chunks, lines({ delimiter: '\n' })).values)).toEqual(['a', 'b\r', '']);
      }
    });

    it('finds a self-overlapping multi-byte delimiter across chunk boundaries', () => {
      for (const { name, chunks } of chunkings('xABAByABABAz')) {
        const { values, error } = decode(
          chunks,
          lines({ delimiter: 'ABA', allowTruncation: true }),
        );
        expect({ name, lines: text(values), error }).toEqual({
          name,
          lines: ['x', 'By', 'BAz'],
          error: undefined,
        });
      }
    });
  });

  describe('{ maxLineBytes }', () => {
    it(`defaults to ${DEFAULT_MAX_LINE_BYTES} bytes, like Twisted's MAX_LENGTH`, () => {
      const longest = 'x'.repeat(DEFAULT_MAX_LINE_BYTES);

      expect(decode([b(`${longest}\r\n`)], lines()).values[0].length).toBe(DEFAULT_MAX_LINE_BYTES);
      expect(decode([b(`${longest}x\r\n`)], lines()).error).toEqual(
        new FrameTooLongError(DEFAULT_MAX_LINE_BYTES, DEFAULT_MAX_LINE_BYTES + 1),
      );
    });

    it('accepts a line of exactly maxLineBytes at every chunking', () => {
      for (const { chunks } of chunkings('12345\r\n')) {
        expect(text(decode(chunks, lines({ maxLineBytes: 5 })).values)).toEqual(['12345']);
      }
    });

    it('emits FrameTooLongError and nothing else when a line exceeds maxLineBytes, at every chunking', () => {
      for (const { name, chunks } of chunkings('123456\r\nok\r\n')) {
        const { values, error } = decode(chunks, lines({ maxLineBytes: 5 }));
        expect({ name, values, error }).toEqual({
          name,
          values: [],
          error: new FrameTooLongError(5, 6),
        });
      }
    });

    it('fails before the delimiter arrives, once the unterminated bytes exceed maxLineBytes', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const e1 = hot('  -a--b--c-', { a: b('ok\r\n12'), b: b('34\r'), c: b('5') });
        const e1subs = '  ^------! ';
        const expected = '-x-----# ';

        expectObservable(e1.pipe(lines({ maxLineBytes: 4 }))).toBe(
          expected,
          { x: b('ok') },
          new FrameTooLongError(4, 6),
        );
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('delivers nothing after the long line, not even later lines of the same chunk', () => {
      const { values, error } = decode(
        [b('ok\r\n123456\r\nlater\r\n')],
        lines({ maxLineBytes: 5 }),
      );

      expect(text(values)).toEqual(['ok']);
      expect(error).toEqual(new FrameTooLongError(5, 6));
    });

    it('rejects a negative or fractional limit with a TypeError at call time', () => {
      expect(() => lines({ maxLineBytes: -1 })).toThrow(TypeError);
      expect(() => lines({ maxLineBytes: 1.5 })).toThrow(TypeError);
    });
  });

  describe('{ allowTruncation }', () => {
    it('fails with FrameTooLongError when the unterminated rest is longer than maxLineBytes', () => {
      const { values, error } = decode(
        [b('a\r\n12345\r')],
        lines({ allowTruncation: true, maxLineBytes: 5 }),
      );

      expect({ values: text(values), error }).toEqual({
        values: ['a'],
        error: new FrameTooLongError(5, 6),
      });
    });

    it('emits the unterminated rest as a last line when the source completes', () => {
      for (const { chunks } of chunkings('a\r\nrest')) {
        expect(text(decode(chunks, lines({ allowTruncation: true })).values)).toEqual([
          'a',
          'rest',
        ]);
      }
    });
  });

  describe('{ encoding }', () => {
    it('emits strings, with characters split across chunks decoded whole', () => {
      for (const { chunks } of chunkings('héllo\r\nwörld 🌍\r\n')) {
        expect(decode(chunks, lines({ encoding: 'utf8' })).values).toEqual(['héllo', 'wörld 🌍']);
      }
    });
  });
});

describe('encodeLine', () => {
  it('returns the line and the delimiter as separate buffers', () => {
    expect(encodeLine('hi')).toEqual([b('hi'), b('\r\n')]);
    expect(encodeLine(b('hi'), { delimiter: '\n' })).toEqual([b('hi'), b('\n')]);
  });

  it('refuses a line longer than maxLineBytes with FrameTooLongError', () => {
    expect(() => encodeLine('123456', { maxLineBytes: 5 })).toThrow(new FrameTooLongError(5, 6));
  });

  it('refuses a line that contains its delimiter with InvalidFrameError', () => {
    expect(() => encodeLine('a\r\nb')).toThrow(InvalidFrameError);
    expect(() => encodeLine('xAB', { delimiter: 'ABA' })).toThrow(InvalidFrameError);
  });

  it('round-trips through lines() under random rechunking', () => {
    const delimiters = fc.constantFrom('\r\n', '\n', 'ABA', '\0');
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 40 })),
        delimiters,
        fc.integer(),
        (candidates, delimiter, seed) => {
          const sent = candidates.filter((line) => !line.includes(delimiter[0]));
          const wire = Buffer.concat(sent.flatMap((line) => encodeLine(line, { delimiter })));
          const { values, error } = decode(
            rechunk(wire, seed, { maxChunkBytes: 7 }),
            lines({ delimiter, encoding: 'utf8' }),
          );
          expect({ values, error }).toEqual({ values: sent, error: undefined });
        },
      ),
    );
  });
});

describe('encodeLines', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  it('emits each line and its delimiter as separate buffers', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold(' -a-------b---|', { a: 'hi', b: 'yo' });
      const e1subs = '  ^------------!';
      const expected = '-(xd)----(yd)|';

      expectObservable(e1.pipe(encodeLines())).toBe(expected, {
        x: b('hi'),
        y: b('yo'),
        d: b('\r\n'),
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('fails with FrameTooLongError at the first line the decoder would refuse', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold(' -a---b---c-|', { a: 'ok', b: 'toolong', c: 'ok' });
      const e1subs = '  ^----!      ';
      const expected = '-(xd)#      ';

      expectObservable(e1.pipe(encodeLines({ maxLineBytes: 3, delimiter: '\n' }))).toBe(
        expected,
        { x: b('ok'), d: b('\n') },
        new FrameTooLongError(3, 7),
      );
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('completes on an empty source', () => {
    const outcome = { values: [] as Buffer[], completed: false };
    of<string>()
      .pipe(encodeLines())
      .subscribe({
        next: (v) => outcome.values.push(v),
        complete: () => (outcome.completed = true),
      });

    expect(outcome).toEqual({ values: [], completed: true });
  });

  it('spells binary lines byte for byte', () => {
    expect(decode([Buffer.concat(encodeLine(bytes('\xff\x00')))], lines()).values).toEqual([
      bytes('\xff\x00'),
    ]);
  });
});

import fc from 'fast-check';
import { concat, NEVER, of } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  encodeLine,
  FrameTooLongError,
  InvalidFrameError,
  lines,
  TruncatedFrameError,
  type Output,
} from 'rxnet';
import { chunkings, observableMatcher, rechunk } from 'rxnet/testing';
import { decode, text } from './helpers';

const b = (value: string): Buffer => Buffer.from(value, 'latin1');

/** The bytes the codec writes for each line, concatenated. */
function encodeAll(encode: (line: string) => Output | readonly Output[], all: string[]): Buffer {
  return Buffer.concat(
    all.flatMap((line) => [encode(line)].flat()).map((part) => Buffer.from(part)),
  );
}

describe('lines', () => {
  describe('({ anyNewline: true })', () => {
    let testScheduler: TestScheduler;

    beforeEach(() => {
      testScheduler = new TestScheduler(observableMatcher);
    });

    it('ends lines at \\n and at \\r\\n, mixed in one stream', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a----b---c--|', { a: b('he'), b: b('llo\nwo'), c: b('rld\r\n') });
        const e1subs = '  ^------------!';
        const expected = '------x---y--|';

        expectObservable(e1.pipe(lines({ anyNewline: true }))).toBe(expected, {
          x: b('hello'),
          y: b('world'),
        });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('gives the same lines at every chunking, a \\r at a chunk boundary included', () => {
      const input = 'nc\ntelnet\r\n\n\r\nwin\r\nlast\n';
      const expected = ['nc', 'telnet', '', '', 'win', 'last'];
      for (const { name, chunks } of chunkings(input)) {
        const outcome = decode(chunks, lines({ anyNewline: true }));
        expect([name, text(outcome.values), outcome.error]).toEqual([name, expected, undefined]);
      }
    });

    it('drops the \\r of a \\r\\n split across chunks', () => {
      const outcome = decode([b('hello\r'), b('\nworld\r'), b('\n')], lines({ anyNewline: true }));
      expect(text(outcome.values)).toEqual(['hello', 'world']);
    });

    it('keeps a \\r that does not end the line', () => {
      const outcome = decode([b('a\rb\nc\r\r\n')], lines({ anyNewline: true }));
      expect(text(outcome.values)).toEqual(['a\rb', 'c\r']);
    });

    it('parses thousands of mixed lines in one chunk', () => {
      const all = Array.from({ length: 5000 }, (_, index) => `line ${index}`);
      const input = all.map((line, index) => line + (index % 2 === 0 ? '\n' : '\r\n')).join('');
      expect(text(decode([b(input)], lines({ anyNewline: true })).values)).toEqual(all);
    });

    it('emits strings with an encoding', () => {
      const outcome = decode(
        [Buffer.from('héllo\r\nwörld\n')],
        lines({ anyNewline: true, encoding: 'utf8' }),
      );
      expect(outcome.values).toEqual(['héllo', 'wörld']);
    });

    describe('maxLineBytes', () => {
      const limited = () => lines({ anyNewline: true, maxLineBytes: 5 });

      it('counts a line without its \\r\\n or \\n, at every chunking', () => {
        for (const { name, chunks } of chunkings('hello\r\nworld\n')) {
          const outcome = decode(chunks, limited());
          expect([name, text(outcome.values), outcome.error]).toEqual([
            name,
            ['hello', 'world'],
            undefined,
          ]);
        }
      });

      it('emits FrameTooLongError and nothing else for a longer line, at every chunking', () => {
        for (const { name, chunks } of chunkings('hello!\r\n')) {
          const outcome = decode(chunks, limited());
          expect([name, outcome.values, outcome.error]).toEqual([
            name,
            [],
            new FrameTooLongError(5, 6),
          ]);
        }
      });

      it('waits for the byte after a last \\r before counting it against the limit', () => {
        expect(decode(concat(of(b('hello\r')), NEVER), limited()).error).toBeUndefined();
        expect(decode([b('hello\r'), b('x')], limited()).error).toEqual(
          new FrameTooLongError(5, 7),
        );
        expect(decode([b('hello\r\r')], limited()).error).toEqual(new FrameTooLongError(5, 6));
      });

      it('fails as soon as the unterminated bytes exceed the limit', () => {
        const outcome = decode([b('ok\nabc'), b('def')], limited());
        expect([text(outcome.values), outcome.error]).toEqual([
          ['ok'],
          new FrameTooLongError(5, 6),
        ]);
      });

      it('delivers nothing after the bad line, not even later lines of the same chunk', () => {
        const outcome = decode([b('a\ntoo long\nb\n')], limited());
        expect(text(outcome.values)).toEqual(['a']);
        expect(outcome.error).toEqual(new FrameTooLongError(5, 8));
      });
    });

    describe('truncation', () => {
      it('emits TruncatedFrameError when the source ends inside a line', () => {
        const outcome = decode([b('done\nhalf')], lines({ anyNewline: true }));
        expect([text(outcome.values), outcome.error]).toEqual([
          ['done'],
          new TruncatedFrameError(4),
        ]);
      });

      it('emits the rest without a last \\r with allowTruncation', () => {
        const outcome = decode(
          [b('done\nhalf\r')],
          lines({ anyNewline: true, allowTruncation: true }),
        );
        expect([text(outcome.values), outcome.completed]).toEqual([['done', 'half'], true]);
      });
    });

    describe('encode', () => {
      it('writes the delimiter, \\r\\n unless told otherwise', () => {
        expect(text([...(lines({ anyNewline: true }).encode('hi') as Buffer[])])).toEqual([
          'hi',
          '\r\n',
        ]);
        expect(
          text([...(lines({ anyNewline: true, delimiter: '\n' }).encode('hi') as Buffer[])]),
        ).toEqual(['hi', '\n']);
      });

      it('refuses a line with a newline in it', () => {
        expect(() => lines({ anyNewline: true }).encode('a\nb')).toThrow(InvalidFrameError);
        expect(() => encodeLine('a\nb', { anyNewline: true })).toThrow(InvalidFrameError);
      });

      it("refuses a line ending in \\r when the delimiter is '\\n', which would lose it", () => {
        expect(() => lines({ anyNewline: true, delimiter: '\n' }).encode('a\r')).toThrow(
          InvalidFrameError,
        );
        expect(
          decode(
            [encodeAll(lines({ anyNewline: true }).encode, ['a\r'])],
            lines({ anyNewline: true }),
          ).values,
        ).toEqual([b('a\r')]);
      });

      it('refuses a line longer than maxLineBytes', () => {
        expect(() => lines({ anyNewline: true, maxLineBytes: 2 }).encode('abc')).toThrow(
          FrameTooLongError,
        );
      });

      it('decodes what it encodes under random rechunking', () => {
        fc.assert(
          fc.property(
            fc.array(fc.string({ unit: 'binary-ascii', maxLength: 20 }), { maxLength: 10 }),
            fc.constantFrom('\r\n', '\n'),
            fc.integer(),
            (all, delimiter, seed) => {
              const framing = lines({ anyNewline: true, delimiter, encoding: 'latin1' });
              const carried = all.map((line) => line.replace(/\n/g, '').replace(/\r+$/, ''));
              const input = encodeAll(framing.encode, carried);
              const outcome = decode(rechunk(input, seed, { maxChunkBytes: 8 }), framing);
              expect([outcome.values, outcome.error]).toEqual([carried, undefined]);
            },
          ),
        );
      });
    });

    it('throws TypeError at call time for a delimiter other than \\r\\n or \\n', () => {
      expect(() => lines({ anyNewline: true, delimiter: '|' })).toThrow(TypeError);
      expect(() => encodeLine('x', { anyNewline: true, delimiter: '\r' })).toThrow(TypeError);
    });
  });
});

import fc from 'fast-check';
import { Observable, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  DEFAULT_MAX_NETSTRING_BYTES,
  encodeNetstring,
  encodeNetstrings,
  FrameTooLongError,
  InvalidFrameError,
  netstrings,
  TruncatedFrameError,
} from 'rxnet';
import { chunkings, observableMatcher, rechunk } from 'rxnet/testing';
import { arbitraryFrame, bytes, decode, expectOnlyTypedErrors, text } from './helpers';

const b = (value: string): Buffer => bytes(value);

describe('netstrings', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('()', () => {
    it('decodes netstrings into their payloads', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a---b--c-|', { a: b('3:ab'), b: b('c,0'), c: b(':,') });
        const e1subs = '  ^---------!';
        const expected = '-----x--y-|';

        expectObservable(e1.pipe(netstrings())).toBe(expected, { x: b('abc'), y: b('') });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<Buffer>(' |');
        const e1subs = '  (^!)';

        expectObservable(e1.pipe(netstrings())).toBe('|');
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<Buffer>(' -');
        const e1subs = '  ^';

        expectObservable(e1.pipe(netstrings())).toBe('-');
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a--#', { a: b('1:x,') }, new Error('boom'));
        const e1subs = '  ^---!';
        const expected = '-x--#';

        expectObservable(e1.pipe(netstrings())).toBe(expected, { x: b('x') }, new Error('boom'));
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const e1 = hot('  -a--b--c--|', { a: b('1:1,'), b: b('1:2,'), c: b('1:3,') });
        const unsub = '   -----!     ';
        const e1subs = '  ^----!     ';
        const expected = '-x--y-     ';

        expectObservable(e1.pipe(netstrings()), unsub).toBe(expected, { x: b('1'), y: b('2') });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops listening to a synchronous source when unsubscribed', () => {
      const sideEffects: number[] = [];
      const synchronous = new Observable<Buffer>((subscriber) => {
        for (let i = 1; !subscriber.closed && i <= 10; i++) {
          sideEffects.push(i);
          subscriber.next(b(`1:${i % 10},`));
        }
      });

      synchronous.pipe(netstrings(), take(2)).subscribe();

      expect(sideEffects).toEqual([1, 2]);
    });

    it('decodes the same payloads at every chunking', () => {
      for (const { name, chunks } of chunkings('5:hello,0:,12:hello world!,1:,,')) {
        const { values, error, completed } = decode(chunks, netstrings());
        expect({ name, values: text(values), error, completed }).toEqual({
          name,
          values: ['hello', '', 'hello world!', ','],
          error: undefined,
          completed: true,
        });
      }
    });

    it('decodes thousands of netstrings in one chunk, as views of it', () => {
      const chunk = Buffer.concat(
        Array.from({ length: 5000 }, (_, i) => Buffer.concat(encodeNetstring(`n${i}`))),
      );
      const { values } = decode([chunk], netstrings());

      expect(values).toHaveLength(5000);
      expect(values[4999].toString()).toBe('n4999');
      expect(values[4999].buffer).toBe(chunk.buffer);
    });

    it('emits nothing for a partial netstring', () => {
      for (const { chunks } of chunkings('5:hell')) {
        const outcome = decode(
          new Observable<Buffer>((s) => chunks.forEach((chunk) => s.next(chunk))),
          netstrings(),
        );
        expect(outcome).toEqual({ values: [], error: undefined, completed: false });
      }
    });

    const malformed: ReadonlyArray<[string, string, InvalidFrameError]> = [
      [
        'a non-digit first',
        'x:abc,',
        new InvalidFrameError('netstring does not start with a length'),
      ],
      [
        'a missing length',
        ':abc,',
        new InvalidFrameError('netstring does not start with a length'),
      ],
      [
        'a non-digit inside the length',
        '1x:a,',
        new InvalidFrameError('netstring length is not a number'),
      ],
      ['a leading zero', '01:a,', new InvalidFrameError('netstring length has a leading zero')],
      [
        'a missing comma',
        '3:abcd',
        new InvalidFrameError('netstring is not terminated by a comma'),
      ],
      [
        'a negative length',
        '-1:a,',
        new InvalidFrameError('netstring does not start with a length'),
      ],
    ];

    it.each(malformed)(
      'fails with InvalidFrameError on %s, at every chunking, after the good netstrings',
      (_, bad, expected) => {
        for (const { name, chunks } of chunkings(`2:ok,${bad}1:z,`)) {
          const { values, error } = decode(chunks, netstrings());
          expect({ name, values: text(values), error }).toEqual({
            name,
            values: ['ok'],
            error: expected,
          });
        }
      },
    );

    it('fails with TruncatedFrameError, counting the whole partial netstring, when the source completes inside one', () => {
      expect(decode([b('1:a,3:a')], netstrings()).error).toEqual(new TruncatedFrameError(3));
      expect(decode([b('12')], netstrings()).error).toEqual(new TruncatedFrameError(2));
      expect(decode([b('3:')], netstrings()).error).toEqual(new TruncatedFrameError(2));
    });

    it('never throws on random input, only fails with a typed error', () => {
      const alphabet = fc.constantFrom(...'0123456789:,x'.split('')).map((c) => b(c));
      const garbage = fc.oneof(
        arbitraryFrame(200),
        fc.array(alphabet, { maxLength: 100 }).map((parts) => Buffer.concat(parts)),
      );
      fc.assert(
        fc.property(garbage, fc.integer(), (input, seed) => {
          expectOnlyTypedErrors(
            decode(rechunk(input, seed, { maxChunkBytes: 5 }), netstrings({ maxFrameBytes: 20 })),
          );
        }),
      );
    });
  });

  describe('{ maxFrameBytes }', () => {
    it(`defaults to ${DEFAULT_MAX_NETSTRING_BYTES}, like Twisted's NetstringReceiver.MAX_LENGTH`, () => {
      expect(decode([b('99999:')], netstrings()).error).toEqual(new TruncatedFrameError(6));
      expect(decode([b('100000:')], netstrings()).error).toEqual(
        new FrameTooLongError(99999, 100000),
      );
    });

    it('fails on the length digits, before any payload or colon arrives', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const e1 = hot('  -a--b--c-', { a: b('1:x,1'), b: b('0'), c: b('0') });
        const e1subs = '  ^------! ';
        const expected = '-x-----# ';

        expectObservable(e1.pipe(netstrings({ maxFrameBytes: 99 }))).toBe(
          expected,
          { x: b('x') },
          new FrameTooLongError(99, 100),
        );
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('fails on an endless length prefix after a few digits', () => {
      const { error } = decode([b('9'.repeat(100000))], netstrings());

      expect(error).toEqual(new FrameTooLongError(99999, 999999));
    });

    it('emits FrameTooLongError and nothing else for a long netstring, at every chunking', () => {
      for (const { name, chunks } of chunkings('6:123456,1:x,')) {
        const { values, error } = decode(chunks, netstrings({ maxFrameBytes: 5 }));
        expect({ name, values, error }).toEqual({
          name,
          values: [],
          error: new FrameTooLongError(5, 6),
        });
      }
    });
  });

  describe('{ allowTruncation }', () => {
    it('drops a partial netstring when the source completes', () => {
      expect(decode([b('1:a,3:a')], netstrings({ allowTruncation: true }))).toEqual({
        values: [b('a')],
        error: undefined,
        completed: true,
      });
    });
  });
});

describe('encodeNetstring', () => {
  it('returns the length, the payload and the comma as separate buffers', () => {
    expect(encodeNetstring('abc')).toEqual([b('3:'), b('abc'), b(',')]);
  });

  it('refuses a payload longer than maxFrameBytes with FrameTooLongError', () => {
    expect(() => encodeNetstring('123456', { maxFrameBytes: 5 })).toThrow(
      new FrameTooLongError(5, 6),
    );
  });

  it('round-trips through netstrings() under random rechunking', () => {
    fc.assert(
      fc.property(fc.array(arbitraryFrame(300)), fc.integer(), (sent, seed) => {
        const wire = Buffer.concat(sent.flatMap((payload) => encodeNetstring(payload)));
        const { values, error } = decode(rechunk(wire, seed, { maxChunkBytes: 9 }), netstrings());
        expect({ values, error }).toEqual({ values: sent, error: undefined });
      }),
    );
  });
});

describe('encodeNetstrings', () => {
  it('emits the length, the payload and the comma of each netstring', () => {
    new TestScheduler(observableMatcher).run(({ cold, expectObservable, expectSubscriptions }) => {
      const e1 = cold(' -a----------|', { a: 'abc' });
      const e1subs = '  ^-----------!';
      const expected = '-(lxc)------|';

      expectObservable(e1.pipe(encodeNetstrings())).toBe(expected, {
        l: b('3:'),
        x: b('abc'),
        c: b(','),
      });
      expectSubscriptions(e1.subscriptions).toBe(e1subs);
    });
  });

  it('fails with FrameTooLongError at the first payload the decoder would refuse', () => {
    new TestScheduler(observableMatcher).run(({ cold, expectObservable }) => {
      const e1 = cold(' -a-b-|', { a: '123456', b: 'x' });
      const expected = '-#';

      expectObservable(e1.pipe(encodeNetstrings({ maxFrameBytes: 5 }))).toBe(
        expected,
        {},
        new FrameTooLongError(5, 6),
      );
    });
  });
});

import fc from 'fast-check';
import { Observable, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { utf8 } from 'rxnet';
import { chunkings, observableMatcher, rechunk } from 'rxnet/testing';
import { decode } from './helpers';

const u8 = (...values: number[]): Buffer => Buffer.from(values);

describe('utf8', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('()', () => {
    it('decodes a character split across chunks once its last byte arrives', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a--b--|', { a: u8(0x68, 0xc3), b: u8(0xa9) });
        const e1subs = '  ^------!';
        const expected = '-x--y--|';

        expectObservable(e1.pipe(utf8())).toBe(expected, { x: 'h', y: 'é' });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<Buffer>(' |');
        const e1subs = '  (^!)';

        expectObservable(e1.pipe(utf8())).toBe('|');
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<Buffer>(' -');
        const e1subs = '  ^';

        expectObservable(e1.pipe(utf8())).toBe('-');
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold(' -a--#', { a: u8(0x61) }, new Error('boom'));
        const e1subs = '  ^---!';
        const expected = '-x--#';

        expectObservable(e1.pipe(utf8())).toBe(expected, { x: 'a' }, new Error('boom'));
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops the source when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const e1 = hot('  -a--b--c--|', { a: u8(0x31), b: u8(0x32), c: u8(0x33) });
        const unsub = '   -----!     ';
        const e1subs = '  ^----!     ';
        const expected = '-x--y-     ';

        expectObservable(e1.pipe(utf8()), unsub).toBe(expected, { x: '1', y: '2' });
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('stops listening to a synchronous source when unsubscribed', () => {
      const sideEffects: number[] = [];
      const synchronous = new Observable<Buffer>((subscriber) => {
        for (let i = 1; !subscriber.closed && i <= 10; i++) {
          sideEffects.push(i);
          subscriber.next(u8(0x30 + (i % 10)));
        }
      });

      synchronous.pipe(utf8(), take(2)).subscribe();

      expect(sideEffects).toEqual([1, 2]);
    });

    it('decodes the same text at every chunking', () => {
      const input = 'ascii, é, 中文, 🌍!';
      for (const { name, chunks } of chunkings(input)) {
        expect({ name, text: decode(chunks, utf8()).values.join('') }).toEqual({
          name,
          text: input,
        });
      }
    });

    it('emits U+FFFD for an incomplete character at the end, as TextDecoder does', () => {
      expect(decode([u8(0x61, 0xe4, 0xb8)], utf8()).values.join('')).toBe('a\ufffd');
    });

    it('decodes any text under random rechunking', () => {
      fc.assert(
        fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.integer(), (input, seed) => {
          expect(decode(rechunk(input, seed, { maxChunkBytes: 3 }), utf8()).values.join('')).toBe(
            input,
          );
        }),
      );
    });
  });
});

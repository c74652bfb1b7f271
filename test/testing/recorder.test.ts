import fc from 'fast-check';
import {
  asyncScheduler,
  concat,
  Observable,
  of,
  type SchedulerLike,
  Subscription,
  throwError,
  VirtualTimeScheduler,
} from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ConnectionLostError } from '../../src/errors';
import { observableMatcher } from '../../src/testing/observableMatcher';
import { record, type Recording } from '../../src/testing/recorder';

/** Records `source` on `scheduler`, flushing virtual time to the end. */
async function recordVirtual<T>(
  scheduler: VirtualTimeScheduler,
  source: Observable<T>,
  frameMs?: number,
): Promise<Recording<T>> {
  const recording = record(source, frameMs === undefined ? { scheduler } : { scheduler, frameMs });
  scheduler.flush();
  return recording;
}

/** Emits each value at its virtual time, then completes at `end`. */
function completeAt<T>(
  scheduler: SchedulerLike,
  items: readonly [number, T][],
  end: number,
): Observable<T> {
  return new Observable<T>((subscriber) => {
    const subscription = new Subscription();
    for (const [time, value] of items) {
      subscription.add(scheduler.schedule(() => subscriber.next(value), time));
    }
    subscription.add(scheduler.schedule(() => subscriber.complete(), end));
    return subscription;
  });
}

describe('record', () => {
  describe('marbles', () => {
    it('writes values as letters at their frames and completion as |', async () => {
      const scheduler = new VirtualTimeScheduler();
      const recording = await recordVirtual(
        scheduler,
        completeAt(
          scheduler,
          [
            [0, 'x'],
            [3, 'y'],
          ],
          5,
        ),
      );
      expect(recording.marbles).toBe('a--b-|');
      expect(recording.values).toEqual({ a: 'x', b: 'y' });
    });

    it('groups values of one frame in parentheses', async () => {
      const recording = await record(of('x', 'y'), { scheduler: new VirtualTimeScheduler() });
      expect(recording.marbles).toBe('(ab|)');
    });

    it('writes long gaps as time progressions', async () => {
      const scheduler = new VirtualTimeScheduler();
      const recording = await recordVirtual(
        scheduler,
        completeAt(
          scheduler,
          [
            [0, 'x'],
            [250, 'y'],
          ],
          1250,
        ),
      );
      expect(recording.marbles).toBe('a 249ms b 999ms |');
    });

    it('gives equal values the same letter', async () => {
      const recording = await record(of({ n: 1 }, { n: 2 }, { n: 1 }), {
        scheduler: new VirtualTimeScheduler(),
      });
      expect(recording.marbles).toBe('(aba|)');
      expect(recording.values).toEqual({ a: { n: 1 }, b: { n: 2 } });
    });

    it('writes a failure as # and keeps the error', async () => {
      const error = new ConnectionLostError();
      const recording = await record(
        concat(
          of('x'),
          throwError(() => error),
        ),
        { scheduler: new VirtualTimeScheduler() },
      );
      expect(recording.marbles).toBe('(a#)');
      expect(recording.error).toBe(error);
    });
  });

  describe('frameMs', () => {
    it('rounds times down to a multiple of the frame', async () => {
      const scheduler = new VirtualTimeScheduler();
      const recording = await recordVirtual(
        scheduler,
        completeAt(
          scheduler,
          [
            [3, 'x'],
            [14, 'y'],
            [27, 'z'],
          ],
          29,
        ),
        10,
      );
      expect(recording.marbles).toBe('a---------b---------(c|)');
    });

    it('throws a TypeError for a frame that is not positive', () => {
      expect(() => record(of(1), { frameMs: 0 })).toThrow(TypeError);
    });
  });

  describe('round trip', () => {
    it('gives marbles that match a source with the same timings in TestScheduler.run', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.uniqueArray(fc.integer({ min: 0, max: 400 }), { maxLength: 12 }),
          fc.integer({ min: 1, max: 50 }),
          async (times, tail) => {
            const sorted = [...times].sort((a, b) => a - b);
            const end = (sorted.at(-1) ?? 0) + tail;
            const items = sorted.map((time, index): [number, string] => [time, `v${index % 5}`]);
            const scheduler = new VirtualTimeScheduler();
            const recording = await recordVirtual(scheduler, completeAt(scheduler, items, end));
            // The pasted diagram must describe an independent source with the same timings.
            new TestScheduler(observableMatcher).run(({ expectObservable }) => {
              expectObservable(completeAt(asyncScheduler, items, end)).toBe(
                recording.marbles,
                recording.values,
              );
            });
          },
        ),
        { numRuns: 200 },
      );
    });

    it('pastes into expectObservable for the same source', async () => {
      const scheduler = new VirtualTimeScheduler();
      const recording = await recordVirtual(
        scheduler,
        completeAt(
          scheduler,
          [
            [0, 'x'],
            [2, 'y'],
            [40, 'x'],
          ],
          41,
        ),
      );
      new TestScheduler(observableMatcher).run(({ cold, expectObservable }) => {
        const again = cold('x-y 37ms x|', { x: 'x', y: 'y' });
        expectObservable(again).toBe(recording.marbles, recording.values);
      });
    });
  });

  describe('toString', () => {
    it('prints paste-able TypeScript, with errors as name, code and message', async () => {
      const recording = await record(
        concat(
          of("it's\n", Buffer.from('hi'), { type: 'data', id: 1 }),
          throwError(() => new ConnectionLostError()),
        ),
        { scheduler: new VirtualTimeScheduler() },
      );
      expect(recording.toString()).toBe(
        [
          "const marbles = '(abc#)';",
          'const values = {',
          "  a: 'it\\'s\\n',",
          "  b: Buffer.from('hi'),",
          "  c: { type: 'data', id: 1 },",
          '};',
          "const error = { name: 'ConnectionLostError', code: 'RXNET_ERR_CONNECTION_LOST', message: 'Connection lost' };",
        ].join('\n'),
      );
    });

    it('prints an error that observableMatcher finds equal to the original', () => {
      // The printed form is a plain object; the matcher normalises the real error to the same shape.
      const printed = {
        name: 'ConnectionLostError',
        code: 'RXNET_ERR_CONNECTION_LOST',
        message: 'Connection lost',
      };
      expect(() =>
        observableMatcher([{ error: new ConnectionLostError() }], [{ error: printed }]),
      ).not.toThrow();
    });
  });
});

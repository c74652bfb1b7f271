import { NEVER, delay, filter, map, merge, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  DEFAULT_SHUTDOWN_TIMEOUT,
  echo,
  ProxyProtocolError,
  serveConnections,
  write,
  type Behaviour,
  type Connection,
  type ConnectionRefused,
  type ServerOutput,
} from 'rxnet';
import { memoryConnection, observableMatcher, type MemoryConnection } from 'rxnet/testing';
import { politeEcho } from '../helpers/politeEcho';

/** Only the lifecycle: what reaches the end of the pipeline, with data as text. */
function lifecycle(output: Observable<ServerOutput<Buffer>>): Observable<unknown> {
  return output.pipe(
    map((item) =>
      item.type === 'data' ? { type: 'data', id: item.id, text: item.data.toString() } : item,
    ),
    filter((item) => item.type !== 'connectionMade'),
  );
}

describe('serveConnections', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('shutdown', () => {
    it('tells the behaviour, reads through the read window, ends every connection and aborts the rest at the deadline', () => {
      testScheduler.run(({ cold, hot, expectObservable, time }) => {
        // a answers our FIN at once; b never does, so only the deadline closes it.
        const a = memoryConnection({ id: 1, input: cold('------y', { y: 'late' }) });
        const b = memoryConnection({ id: 2, peerAnswersFin: false });
        const trigger = hot('    ----s');
        const readWindow = cold('   ---w');
        const deadline = time('  ----------|');
        const expected = '      ----g-d(lP)---(kC|)';
        const output = serveConnections(cold<Connection>('(ab)', { a, b }), politeEcho, {
          shutdown: trigger,
          shutdownReadWindow: readWindow,
          shutdownTimeout: deadline,
        });
        expectObservable(lifecycle(output)).toBe(expected, {
          g: { type: 'shuttingDown', deadline },
          d: { type: 'data', id: 1, text: 'late' },
          l: { type: 'connectionLost', id: 1, reason: { type: 'done' } },
          P: { type: 'shutdownProgress', open: 1, pendingWriteBytes: 0 },
          k: { type: 'connectionLost', id: 2, reason: { type: 'aborted' } },
          C: { type: 'shutdownComplete', graceful: 1, aborted: 1, droppedBytes: 0, forced: false },
        });
      });
    });

    it('writes the goodbye and the echo of what arrived in the read window before the FIN', () => {
      let a: MemoryConnection | undefined;
      let b: MemoryConnection | undefined;
      testScheduler.run(({ cold, hot, expectObservable }) => {
        a = memoryConnection({ id: 1, input: cold('------y', { y: 'late' }) });
        b = memoryConnection({ id: 2, peerAnswersFin: false });
        const output = serveConnections(cold<Connection>('(ab)', { a, b }), politeEcho, {
          shutdown: hot('----s'),
          shutdownReadWindow: cold('---w'),
          shutdownTimeout: 10,
        });
        expectObservable(output.pipe(filter((item) => item.type === 'shutdownComplete'))).toBe(
          '--------------(C|)',
          {
            C: {
              type: 'shutdownComplete',
              graceful: 1,
              aborted: 1,
              droppedBytes: 0,
              forced: false,
            },
          },
        );
      });
      expect(a!.writtenText).toBe('byelate');
      expect(a!.closedBy).toBe('end');
      expect(b!.writtenText).toBe('bye');
      // Ended first, then aborted at the deadline.
      expect(b!.closeReason).toEqual({ type: 'aborted' });
    });

    it('reports the output the deadline dropped', () => {
      testScheduler.run(({ cold, hot, expectObservable }) => {
        // A peer that reads nothing: its output stays pending.
        const a = memoryConnection({ id: 1, manualFlush: true });
        const output = serveConnections(cold<Connection>('a', { a }), politeEcho, {
          shutdown: hot('--s'),
          shutdownTimeout: 5,
        });
        expectObservable(
          output.pipe(
            filter((item) =>
              ['shuttingDown', 'shutdownProgress', 'shutdownComplete'].includes(item.type),
            ),
          ),
        ).toBe('--(gP)-(C|)', {
          g: { type: 'shuttingDown', deadline: 5 },
          P: { type: 'shutdownProgress', open: 1, pendingWriteBytes: 3 },
          C: { type: 'shutdownComplete', graceful: 0, aborted: 1, droppedBytes: 3, forced: false },
        });
      });
    });

    it('completes without a deadline once every connection has closed', () => {
      testScheduler.run(({ cold, hot, expectObservable }) => {
        const a = memoryConnection({ id: 1 });
        const output = serveConnections(cold<Connection>('a', { a }), politeEcho, {
          shutdown: hot('--s'),
          shutdownReadWindow: cold('--w'),
          shutdownTimeout: Infinity,
        });
        expectObservable(lifecycle(output)).toBe('--g-(lC|)', {
          g: { type: 'shuttingDown', deadline: Infinity },
          l: { type: 'connectionLost', id: 1, reason: { type: 'done' } },
          C: { type: 'shutdownComplete', graceful: 1, aborted: 0, droppedBytes: 0, forced: false },
        });
      });
    });

    it('aborts what is still open at once on a second emission of the trigger', () => {
      testScheduler.run(({ cold, hot, expectObservable }) => {
        const a = memoryConnection({ id: 1, peerAnswersFin: false });
        const output = serveConnections(cold<Connection>('a', { a }), politeEcho, {
          shutdown: hot('--s----f'),
          shutdownReadWindow: cold('-w'),
          shutdownTimeout: 100,
        });
        expectObservable(lifecycle(output)).toBe('--gP---(kC|)', {
          g: { type: 'shuttingDown', deadline: 100 },
          P: { type: 'shutdownProgress', open: 1, pendingWriteBytes: 0 },
          k: { type: 'connectionLost', id: 1, reason: { type: 'aborted' } },
          C: { type: 'shutdownComplete', graceful: 0, aborted: 1, droppedBytes: 0, forced: true },
        });
      });
    });

    it('aborts everything when the deadline comes before the read window is over', () => {
      testScheduler.run(({ cold, hot, expectObservable }) => {
        const a = memoryConnection({ id: 1 });
        const output = serveConnections(cold<Connection>('a', { a }), politeEcho, {
          shutdown: hot('-s'),
          shutdownReadWindow: cold('------w'),
          shutdownTimeout: 3,
        });
        expectObservable(lifecycle(output)).toBe('-g--(kC|)', {
          g: { type: 'shuttingDown', deadline: 3 },
          k: { type: 'connectionLost', id: 1, reason: { type: 'aborted' } },
          C: { type: 'shutdownComplete', graceful: 0, aborted: 1, droppedBytes: 0, forced: false },
        });
      });
    });

    it('reads until the next tick of its scheduler by default, and aborts at DEFAULT_SHUTDOWN_TIMEOUT', () => {
      testScheduler.run(({ cold, hot, expectObservable }) => {
        // Data that arrives in the trigger's frame, after it, is still read; a peer that never
        // answers our FIN is aborted at the default deadline. The group takes 6 frames.
        const trigger = hot('--s');
        const a = memoryConnection({ id: 1, input: hot('--y', { y: 'same' }) });
        const b = memoryConnection({ id: 2, peerAnswersFin: false, closeTimeout: Infinity });
        const output = serveConnections(cold<Connection>('(ab)', { a, b }), politeEcho, {
          shutdown: trigger,
        });
        const expected = `--(gdlP) ${DEFAULT_SHUTDOWN_TIMEOUT - 6}ms (kC|)`;
        expectObservable(lifecycle(output)).toBe(expected, {
          g: { type: 'shuttingDown', deadline: DEFAULT_SHUTDOWN_TIMEOUT },
          d: { type: 'data', id: 1, text: 'same' },
          l: { type: 'connectionLost', id: 1, reason: { type: 'done' } },
          P: { type: 'shutdownProgress', open: 1, pendingWriteBytes: 0 },
          k: { type: 'connectionLost', id: 2, reason: { type: 'aborted' } },
          C: { type: 'shutdownComplete', graceful: 1, aborted: 1, droppedBytes: 0, forced: false },
        });
      });
    });

    it('ends at once a connection the source emits after the read window', () => {
      testScheduler.run(({ cold, hot, expectObservable }) => {
        const a = memoryConnection({ id: 1, peerAnswersFin: false });
        const b = memoryConnection({ id: 2 });
        const output = serveConnections(cold<Connection>('a---b', { a, b }), politeEcho, {
          shutdown: hot('-s'),
          shutdownReadWindow: cold('-w'),
          shutdownTimeout: 6,
        });
        expectObservable(lifecycle(output)).toBe('-gP-l--(kC|)', {
          g: { type: 'shuttingDown', deadline: 6 },
          P: { type: 'shutdownProgress', open: 1, pendingWriteBytes: 0 },
          l: { type: 'connectionLost', id: 2, reason: { type: 'done' } },
          k: { type: 'connectionLost', id: 1, reason: { type: 'aborted' } },
          C: { type: 'shutdownComplete', graceful: 1, aborted: 1, droppedBytes: 0, forced: false },
        });
      });
    });

    it('lets a sender read on during the read window instead of waiting for a slow receiver', () => {
      let slow: MemoryConnection | undefined;
      testScheduler.run(({ cold, hot, expectObservable }) => {
        // b relays to a slow reader: past the high-water mark, b waits; the shutdown stops that.
        slow = memoryConnection({ id: 1, manualFlush: true, writeHighWaterMark: 4 });
        const sender = memoryConnection({ id: 2, input: cold('-xy', { x: 'full', y: 'more' }) });
        const relay: Behaviour<Buffer, Buffer> = (events) =>
          merge(
            events,
            events.pipe(
              filter((event) => event.type === 'data' && event.id === 2),
              map((event) => write(1, (event as { data: Buffer }).data)),
            ),
          );
        const output = serveConnections(cold<Connection>('(ab)', { a: slow, b: sender }), relay, {
          shutdown: hot('----s'),
          shutdownReadWindow: cold('-w'),
          shutdownTimeout: 10,
        });
        expectObservable(
          output.pipe(
            filter((item) => item.type === 'data'),
            map((item) => (item.type === 'data' ? item.data.toString() : '')),
          ),
        ).toBe('-x--y---------|', { x: 'full', y: 'more' });
      });
      expect(slow!.pendingWriteBytes).toBe(0); // aborted at the deadline
      expect(slow!.closeReason).toEqual({ type: 'aborted' });
    });

    it('drops a reply the behaviour makes after the read window, as its connection has ended', () => {
      let a: MemoryConnection | undefined;
      testScheduler.run(({ cold, hot }) => {
        a = memoryConnection({ id: 1, input: cold('-x', { x: 'slow' }) });
        // Replies 3 frames after each message: the one to 'slow' comes after the window.
        const slowEcho: Behaviour = (events) =>
          events.pipe(
            filter((event) => event.type === 'data'),
            delay(3),
            map((event) => write(event.id, (event as { data: Buffer }).data)),
          );
        serveConnections(cold<Connection>('a', { a }), slowEcho, {
          shutdown: hot('--s'),
          shutdownReadWindow: cold('-w'),
        }).subscribe();
      });
      expect(a!.writtenText).toBe('');
      expect(a!.closeReason).toEqual({ type: 'done' });
    });

    it('stops at once, without a report, when unsubscribed during the shutdown', () => {
      let a: MemoryConnection | undefined;
      testScheduler.run(({ cold, hot, expectObservable }) => {
        a = memoryConnection({ id: 1, peerAnswersFin: false, closeTimeout: 0 });
        const output = serveConnections(cold<Connection>('a', { a }), politeEcho, {
          shutdown: hot('-s'),
          shutdownReadWindow: NEVER,
        });
        expectObservable(lifecycle(output), '^--!').toBe('-g-', {
          g: { type: 'shuttingDown', deadline: DEFAULT_SHUTDOWN_TIMEOUT },
        });
      });
      expect(a!.closedBy).toBe('end');
      expect(a!.writtenText).toBe('bye');
    });

    it('fails with the error of a failing trigger, ending the connections', () => {
      let a: MemoryConnection | undefined;
      testScheduler.run(({ cold, expectObservable }) => {
        a = memoryConnection({ id: 1 });
        const output = serveConnections(cold<Connection>('a', { a }), politeEcho, {
          shutdown: cold('--#', undefined, new Error('trigger failed')),
        });
        expectObservable(lifecycle(output)).toBe('--#', undefined, new Error('trigger failed'));
      });
      expect(a!.closedBy).toBe('end');
    });

    it('rejects a negative or too long shutdownTimeout at call time', () => {
      expect(() => serveConnections(NEVER, politeEcho, { shutdownTimeout: -1 })).toThrow(TypeError);
      expect(() => serveConnections(NEVER, politeEcho, { shutdownTimeout: 2 ** 31 })).toThrow(
        RangeError,
      );
    });

    it('has a default deadline of 10 seconds', () => {
      expect(DEFAULT_SHUTDOWN_TIMEOUT).toBe(10_000);
    });
  });

  describe('refusals', () => {
    it('passes each ConnectionRefused of the source to the behaviour as an event', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const refused: ConnectionRefused = {
          type: 'connectionRefused',
          remote: { _tag: 'MemoryAddress', name: 'peer' },
          error: new ProxyProtocolError('not a PROXY header'),
        };
        const source = cold<Connection | ConnectionRefused>('-r-|', { r: refused });
        const output = serveConnections(source, (events) => events.pipe(echo()));
        expectObservable(output).toBe('-r-|', { r: refused });
      });
    });
  });
});

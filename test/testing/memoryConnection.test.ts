import { firstValueFrom, lastValueFrom, of, Subject, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ConnectionClosedError, ConnectionLostError } from '../../src/errors';
import { broadcast } from '../../src/operators/broadcast';
import { memoryConnection } from '../../src/testing/memoryConnection';
import { observableMatcher } from '../../src/testing/observableMatcher';
import { DEFAULT_HALF_OPEN_TIMEOUT } from '../../src/transport/fromDuplex';
import { serveConnections } from '../../src/transport/serveConnections';
import type { CloseReason } from '../../src/types';

const text = (chunks: readonly Buffer[]): string[] => chunks.map((chunk) => chunk.toString());

describe('memoryConnection', () => {
  describe('identity', () => {
    it('defaults to id 1 and memory addresses named local and remote', () => {
      const conn = memoryConnection();
      expect(conn.id).toBe(1);
      expect(conn.local).toEqual({ _tag: 'MemoryAddress', name: 'local' });
      expect(conn.remote).toEqual({ _tag: 'MemoryAddress', name: 'remote' });
    });

    it('takes the id and addresses it is given', () => {
      const conn = memoryConnection({ id: 7, remote: { _tag: 'MemoryAddress', name: 'peer' } });
      expect(conn.id).toBe(7);
      expect(conn.remote).toEqual({ _tag: 'MemoryAddress', name: 'peer' });
    });
  });

  describe('receive', () => {
    it('delivers received bytes to every subscriber of data$', () => {
      const conn = memoryConnection();
      const a: Buffer[] = [];
      const b: Buffer[] = [];
      conn.data$.subscribe((chunk) => a.push(chunk));
      conn.data$.subscribe((chunk) => b.push(chunk));
      conn.receive('he');
      conn.receive(Uint8Array.from([108, 108, 111]));
      expect(text(a)).toEqual(['he', 'llo']);
      expect(text(b)).toEqual(['he', 'llo']);
    });

    it('holds bytes back while data$ has no subscriber, then delivers them in order', () => {
      const conn = memoryConnection();
      conn.receive('a');
      conn.receive('b');
      const seen: Buffer[] = [];
      conn.data$.subscribe((chunk) => seen.push(chunk));
      expect(text(seen)).toEqual(['a', 'b']);
    });

    it('delivers held bytes before the close when the peer closed meanwhile', async () => {
      const conn = memoryConnection();
      conn.receive('last words');
      conn.closeFromPeer('clean');
      expect(text(await lastValueFrom(conn.data$.pipe(toArray())))).toEqual(['last words']);
      conn.end(); // half-open until now: no halfOpenTimeout timer outlives the test
    });
  });

  describe('closeFromPeer', () => {
    it("completes data$ on a clean close (the peer's FIN) and leaves the connection writable", async () => {
      const conn = memoryConnection();
      const completed = lastValueFrom(conn.data$.pipe(toArray()));
      conn.closeFromPeer('clean');
      expect(await completed).toEqual([]);
      expect(conn.state).toBe('readClosed');
      expect(conn.closeReason).toBeUndefined();
      expect(conn.write('reply')).toBe(true);
      conn.end();
      expect(conn.writtenText).toBe('reply');
      expect(conn.closeReason).toEqual({ type: 'done' });
      expect(conn.closedBy).toBe('end');
    });

    it('fails data$ and emits lost with an ECONNRESET cause on a reset', async () => {
      const conn = memoryConnection();
      const failed = lastValueFrom(conn.data$).catch((error: unknown) => error);
      conn.closeFromPeer('reset');
      const error = (await failed) as ConnectionLostError;
      expect(error).toBeInstanceOf(ConnectionLostError);
      expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNRESET');
      const reason = await firstValueFrom(conn.closed$);
      expect(reason.type).toBe('lost');
    });

    it('keeps the cause it is given when the connection is lost', async () => {
      const conn = memoryConnection();
      const cause = new Error('cable cut');
      conn.closeFromPeer('lost', cause);
      const reason = (await firstValueFrom(conn.closed$)) as Extract<CloseReason, { type: 'lost' }>;
      expect(reason.error.cause).toBe(cause);
    });

    it('ends data$ before closed$ emits', () => {
      const conn = memoryConnection();
      const order: string[] = [];
      conn.closed$.subscribe(() => order.push('closed'));
      conn.data$.subscribe({ error: () => order.push('data failed') });
      conn.closeFromPeer('reset');
      expect(order).toEqual(['data failed', 'closed']);
      expect(conn.closedBy).toBe('peer');
    });

    it('replays the close reason to late subscribers and ignores a later close', async () => {
      const conn = memoryConnection();
      conn.closeFromPeer('reset');
      conn.closeFromPeer('lost');
      conn.closeFromPeer('clean');
      const reasons = await lastValueFrom(conn.closed$.pipe(toArray()));
      expect(reasons).toHaveLength(1);
      expect(reasons[0]!.type).toBe('lost');
      const error = (reasons[0] as Extract<CloseReason, { type: 'lost' }>).error;
      expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNRESET');
    });
  });

  describe('write', () => {
    it('records each write, as bytes and as text', () => {
      const conn = memoryConnection();
      expect(conn.write('héllo ')).toBe(true);
      expect(conn.write(Buffer.from('world'))).toBe(true);
      expect(conn.writtenText).toBe('héllo world');
      expect(conn.written).toEqual(Buffer.from('héllo world'));
      expect(text(conn.writes)).toEqual(['héllo ', 'world']);
      expect(conn.pendingWriteBytes).toBe(0);
    });

    it('forgets what was written on clear()', () => {
      const conn = memoryConnection();
      conn.write('old');
      conn.clear();
      conn.write('new');
      expect(conn.writtenText).toBe('new');
    });
  });

  describe('manualFlush', () => {
    it('counts writes as pending until flushed(n), and write() is false at the high-water mark', () => {
      const conn = memoryConnection({ manualFlush: true, writeHighWaterMark: 4 });
      expect(conn.write('ab')).toBe(true);
      expect(conn.write('cd')).toBe(false);
      expect(conn.pendingWriteBytes).toBe(4);
      expect(conn.writtenText).toBe('');
      conn.flush(3);
      expect(conn.writtenText).toBe('abc');
      expect(conn.pendingWriteBytes).toBe(1);
      conn.flush();
      expect(conn.writtenText).toBe('abcd');
      expect(conn.pendingWriteBytes).toBe(0);
    });

    it('closes an ended connection only once its output is flushed', () => {
      const conn = memoryConnection({ manualFlush: true });
      const reasons: CloseReason[] = [];
      conn.closed$.subscribe((reason) => reasons.push(reason));
      conn.write('bye');
      conn.end();
      expect(conn.closedBy).toBe('end');
      expect(reasons).toEqual([]);
      conn.flush();
      expect(conn.writtenText).toBe('bye');
      expect(reasons).toEqual([{ type: 'done' }]);
    });
  });

  describe('end', () => {
    it('closes as done, records end, and completes data$', async () => {
      const conn = memoryConnection();
      const completed = lastValueFrom(conn.data$.pipe(toArray()));
      conn.end();
      expect(await completed).toEqual([]);
      expect(conn.closedBy).toBe('end');
      expect(conn.closeReason).toEqual({ type: 'done' });
    });
  });

  describe('abort', () => {
    it('drops pending output and closes as aborted without an error', () => {
      const conn = memoryConnection({ manualFlush: true });
      conn.write('never sent');
      conn.abort();
      conn.flush();
      expect(conn.writtenText).toBe('');
      expect(conn.closedBy).toBe('abort');
      expect(conn.closeReason).toEqual({ type: 'aborted' });
    });
  });

  describe('send', () => {
    it('is cold: nothing is written until it is subscribed', () => {
      const conn = memoryConnection();
      const sending = conn.send(of('x'));
      expect(conn.writtenText).toBe('');
      sending.subscribe();
      expect(conn.writtenText).toBe('x');
    });

    it('fails with ConnectionClosedError when the connection closes first', async () => {
      const conn = memoryConnection();
      const output = new Subject<string>();
      const result = lastValueFrom(conn.send(output), { defaultValue: 'completed' }).catch(
        (error: unknown) => error,
      );
      output.next('partial');
      conn.closeFromPeer('reset');
      const error = (await result) as ConnectionClosedError;
      expect(error).toBeInstanceOf(ConnectionClosedError);
      expect(error.cause).toBeInstanceOf(ConnectionLostError);
      expect(conn.writtenText).toBe('partial');
    });

    it('stops writing but leaves the connection open when unsubscribed', () => {
      const conn = memoryConnection();
      const output = new Subject<string>();
      const subscription = conn.send(output).subscribe();
      output.next('one');
      subscription.unsubscribe();
      output.next('two');
      expect(conn.writtenText).toBe('one');
      expect(conn.closeReason).toBeUndefined();
    });
  });

  describe('input', () => {
    it("receives marbles as data and their completion as the peer's FIN", () => {
      new TestScheduler(observableMatcher).run(({ cold, expectObservable }) => {
        const conn = memoryConnection({ input: cold('-a-b-|', { a: 'he', b: 'llo' }) });
        expectObservable(conn.data$).toBe('-a-b-|', {
          a: Buffer.from('he'),
          b: Buffer.from('llo'),
        });
        // The FIN completes data$; the connection ends by itself halfOpenTimeout later.
        expectObservable(conn.closed$).toBe(`----- ${DEFAULT_HALF_OPEN_TIMEOUT}ms (d|)`, {
          d: { type: 'done' },
        });
      });
    });

    it('turns an error in the marbles into a lost connection', () => {
      new TestScheduler(observableMatcher).run(({ cold, expectObservable }) => {
        const cause = new Error('boom');
        const conn = memoryConnection({ input: cold('-a-#', { a: 'x' }, cause) });
        const lost = new ConnectionLostError('Connection lost', { cause });
        expectObservable(conn.data$).toBe('-a-#', { a: Buffer.from('x') }, lost);
        expectObservable(conn.closed$).toBe('---(l|)', { l: { type: 'lost', error: lost } });
      });
    });
  });

  describe('with serveConnections', () => {
    it('carries the real server: data in, commands carried out, closes reported', () => {
      const a = memoryConnection({ id: 1 });
      const b = memoryConnection({ id: 2 });
      const seen: string[] = [];
      const server = serveConnections(of(a, b), (events) => events.pipe(broadcast())).subscribe(
        (event) => seen.push('id' in event ? `${event.type} ${event.id}` : event.type),
      );
      a.receive('hi');
      expect(b.writtenText).toBe('hi');
      expect(a.writtenText).toBe('');
      b.closeFromPeer('reset');
      server.unsubscribe();
      expect(a.closedBy).toBe('end');
      expect(seen).toEqual(['connectionMade 1', 'connectionMade 2', 'data 1', 'connectionLost 2']);
    });
  });
});

import { once } from 'node:events';
import {
  Observable,
  Subject,
  filter,
  firstValueFrom,
  lastValueFrom,
  map,
  mergeMap,
  of,
  toArray,
  type OperatorFunction,
} from 'rxjs';
import { InvalidFrameError } from '../../src/errors';
import { serveConnections, type ServerOutput } from '../../src/transport/serveConnections';
import { echo } from '../../src/operators/echo';
import type { Behaviour, Connection, ServerEvent } from '../../src/types';
import { readAll, wrappedPair, type WrappedPair } from '../helpers/duplexConnection';

/** Echoes each chunk to its sender and lets every event through. */
const echoing: Behaviour = (events) => events.pipe(echo());

/** Splits bytes on '\n'; a line 'bad' is an error. Per-subscription state, as framing does. */
const badLines: OperatorFunction<Buffer, string> = (source) =>
  new Observable<string>((subscriber) => {
    let rest = '';
    return source.subscribe({
      next(chunk) {
        const parts = (rest + chunk.toString()).split('\n');
        rest = parts.pop()!;
        for (const line of parts) {
          if (line === 'bad') {
            subscriber.error(new InvalidFrameError('bad line'));
            return;
          }
          subscriber.next(line);
        }
      },
      error: (error: unknown) => subscriber.error(error),
      complete: () => subscriber.complete(),
    });
  });

function pairs(count: number): WrappedPair[] {
  return Array.from({ length: count }, (_, index) => wrappedPair({}, index + 1));
}

describe('serveConnections', () => {
  describe('events', () => {
    it('tags connectionMade, data, readConnectionLost and connectionLost with the connection id', async () => {
      const connections = new Subject<Connection>();
      const [a] = pairs(1);
      const seen = lastValueFrom(serveConnections(connections, echoing).pipe(toArray()));
      connections.next(a!.connection);
      connections.complete();
      a!.peer.write('hi');
      const [reply] = (await once(a!.peer, 'data')) as [Buffer];
      expect(reply.toString()).toBe('hi');
      a!.peer.end();
      a!.peer.resume();
      expect(await seen).toEqual([
        {
          type: 'connectionMade',
          id: 1,
          local: a!.connection.local,
          remote: a!.connection.remote,
        },
        { type: 'data', id: 1, data: Buffer.from('hi') },
        { type: 'readConnectionLost', id: 1 },
        { type: 'connectionLost', id: 1, reason: { type: 'done' } },
      ]);
    });

    it('completes once the source has completed and the last connection has closed', async () => {
      const [a, b] = pairs(2);
      let completed = false;
      const done = lastValueFrom(
        serveConnections(of(a!.connection, b!.connection), echoing).pipe(toArray()),
      ).then((events) => {
        completed = true;
        return events;
      });
      a!.connection.abort();
      await firstValueFrom(a!.connection.closed$);
      expect(completed).toBe(false);
      b!.connection.abort();
      expect((await done).filter((event) => event.type === 'connectionLost')).toHaveLength(2);
    });
  });

  describe('commands', () => {
    it('writes the same bytes to each id of an array and ignores unknown ids', async () => {
      const connections = new Subject<Connection>();
      const [a, b, c] = pairs(3);
      const broadcast: Behaviour = (events) =>
        events.pipe(
          filter((event) => event.type === 'data'),
          map(() => ({ type: 'write', to: [1, 2, 99], data: 'news' }) as const),
        );
      const subscription = serveConnections(connections, broadcast).subscribe();
      connections.next(a!.connection);
      connections.next(b!.connection);
      connections.next(c!.connection);
      c!.peer.write('go');
      const [toA] = (await once(a!.peer, 'data')) as [Buffer];
      const [toB] = (await once(b!.peer, 'data')) as [Buffer];
      expect([toA.toString(), toB.toString()]).toEqual(['news', 'news']);
      expect(c!.connection.pendingWriteBytes).toBe(0);
      subscription.unsubscribe();
    });

    it('closes gracefully on close and resets on abort', async () => {
      const connections = new Subject<Connection>();
      const [a, b] = pairs(2);
      const behaviour: Behaviour = (events) =>
        events.pipe(
          filter((event) => event.type === 'data'),
          mergeMap((event) =>
            event.id === 1
              ? of(
                  { type: 'write', to: 1, data: 'bye' } as const,
                  { type: 'close', id: 1 } as const,
                )
              : of({ type: 'abort', id: event.id } as const),
          ),
        );
      const subscription = serveConnections(connections, behaviour).subscribe();
      connections.next(a!.connection);
      connections.next(b!.connection);
      const received = readAll(a!.peer);
      a!.peer.write('x');
      b!.peer.write('y');
      expect((await received).toString()).toBe('bye');
      a!.peer.end();
      expect(await firstValueFrom(a!.connection.closed$)).toEqual({ type: 'done' });
      expect(await firstValueFrom(b!.connection.closed$)).toEqual({ type: 'aborted' });
      subscription.unsubscribe();
    });
  });

  describe('decode', () => {
    it('aborts only the failing connection, with the error, delivering nothing after it', async () => {
      const connections = new Subject<Connection>();
      const [a, b] = pairs(2);
      const lines: string[] = [];
      const behaviour: Behaviour<string, string> = (events) =>
        events.pipe(
          filter((event): event is Extract<ServerEvent<string>, { type: 'data' }> => {
            if (event.type === 'data') {
              lines.push(`${event.id}:${event.data}`);
            }
            return event.type === 'data';
          }),
          map(
            (event) => ({ type: 'write', to: event.id, data: event.data.toUpperCase() }) as const,
          ),
        );
      const events = lastValueFrom(
        serveConnections(connections, behaviour, {
          decode: badLines,
          encode: (line) => `${line}\n`,
        }).pipe(toArray()),
      );
      connections.next(a!.connection);
      connections.next(b!.connection);
      a!.peer.write('one\nbad\nthree\n');
      expect(await firstValueFrom(a!.connection.closed$)).toEqual({
        type: 'aborted',
        error: new InvalidFrameError('bad line'),
      });
      b!.peer.write('fine\n');
      const [reply] = (await once(b!.peer, 'data')) as [Buffer];
      expect(reply.toString()).toBe('FINE\n');
      expect(lines).toEqual(['1:one', '2:fine']);
      connections.complete();
      b!.connection.abort();
      // The behaviour lets no event through, and the server completes with the last connection.
      expect(await events).toEqual([]);
    });
  });

  describe('errors', () => {
    it('reports a lost connection as an event, without failing the server', async () => {
      const connections = new Subject<Connection>();
      const [a, b] = pairs(2);
      const seen: ServerOutput[] = [];
      const subscription = serveConnections(connections, echoing).subscribe({
        next: (event) => seen.push(event),
      });
      connections.next(a!.connection);
      connections.next(b!.connection);
      a!.duplex.destroy(new Error('reset'));
      await firstValueFrom(a!.connection.closed$);
      expect(seen.at(-1)).toMatchObject({
        type: 'connectionLost',
        id: 1,
        reason: { type: 'lost' },
      });
      b!.peer.write('still here');
      const [reply] = (await once(b!.peer, 'data')) as [Buffer];
      expect(reply.toString()).toBe('still here');
      expect(subscription.closed).toBe(false);
      subscription.unsubscribe();
    });
  });

  describe('unsubscribe', () => {
    it('ends every open connection gracefully', async () => {
      const connections = new Subject<Connection>();
      const [a] = pairs(1);
      const subscription = serveConnections(connections, echoing).subscribe();
      connections.next(a!.connection);
      a!.connection.write('last words');
      subscription.unsubscribe();
      expect(connections.observed).toBe(false);
      expect((await readAll(a!.peer)).toString()).toBe('last words');
      a!.peer.end();
      expect(await firstValueFrom(a!.connection.closed$)).toEqual({ type: 'done' });
    });
  });
});

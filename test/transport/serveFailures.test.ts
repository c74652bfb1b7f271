/**
 * Failures stay where they belong: a write that cannot be encoded is dropped and reported, closing
 * nobody; a failing behaviour ends the server with a BehaviourError and closes every connection
 * gracefully (flush, then FIN), never with a RST. Nothing escapes as an uncaught exception.
 *
 * In memory (memoryConnection, duplexPair) and over real loopback sockets with serve().
 */
import type { Socket } from 'node:net';
import fc from 'fast-check';
import {
  Observable,
  ReplaySubject,
  Subject,
  filter,
  firstValueFrom,
  from,
  map,
  mergeMap,
  of,
  take,
  throwError,
  toArray,
  type Subscription,
} from 'rxjs';
import { BehaviourError, EncodeError, InvalidCommandError } from '../../src/errors';
import { lines } from '../../src/framing/lines';
import { serve, type ServerNotification } from '../../src/net/serve';
import { broadcast } from '../../src/operators/broadcast';
import { memoryConnection, type MemoryConnection } from '../../src/testing/memoryConnection';
import {
  serveConnections,
  type CommandRejected,
  type ServerOutput,
  type WriteFailed,
} from '../../src/transport/serveConnections';
import type {
  Behaviour,
  Connection,
  ConnectionId,
  DataReceived,
  ServerCommand,
  ServerEvent,
} from '../../src/types';
import { within } from '../examples/harness';
import { readAll, wrappedPair } from '../helpers/duplexConnection';
import { LOOPBACK, rawClient } from '../helpers/sockets';
import { uncaughtRecorder } from '../helpers/uncaught';

const uncaught = uncaughtRecorder();
beforeEach(() => uncaught.install());
afterEach(() => uncaught.restore());

/**
 * RxJS reports an error thrown in an observer on a later `setTimeout(0)` job, and throws it there
 * when no `onUnhandledError` is set: a zero-delay timer is the barrier after which it would have
 * been seen.
 */
function afterUnhandledReports(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Runs a server and records what it emits and how it ends. */
class Run<N> {
  readonly outputs: N[] = [];
  readonly outputs$ = new ReplaySubject<N>();
  failure: unknown;
  readonly failed: Promise<unknown>;
  readonly subscription: Subscription;

  constructor(server$: Observable<N>) {
    let fail!: (error: unknown) => void;
    this.failed = new Promise((resolve) => (fail = resolve));
    this.subscription = server$.subscribe({
      next: (output) => {
        this.outputs.push(output);
        this.outputs$.next(output);
      },
      error: (error: unknown) => {
        this.failure = error;
        fail(error);
      },
    });
  }

  writeFailures(): WriteFailed[] {
    return this.outputs.filter(
      (output): output is N & WriteFailed => (output as { type?: unknown }).type === 'writeFailed',
    );
  }

  /** Resolves with the first `count` outputs of `type`. */
  nextOf(type: string, count = 1): Promise<N[]> {
    return within(
      firstValueFrom(
        this.outputs$.pipe(
          filter((output) => (output as { type?: unknown }).type === type),
          take(count),
          toArray(),
        ),
      ),
      `${count} ${type} notification(s)`,
    );
  }
}

/** On each `data` event, the commands `commandsFor` returns; every event passes through. */
function onData<O>(
  commandsFor: (event: DataReceived<Buffer>) => readonly (ServerCommand<O> | null)[],
): Behaviour<Buffer, O> {
  return (events) =>
    events.pipe(
      mergeMap((event: ServerEvent<Buffer>) =>
        event.type === 'data'
          ? from([event, ...(commandsFor(event) as ServerCommand<O>[])])
          : of(event),
      ),
    );
}

function memoryConnections(count: number, options = {}): MemoryConnection[] {
  return Array.from({ length: count }, (_, index) =>
    memoryConnection({ id: index + 1, ...options }),
  );
}

function served(...connections: Connection[]): Observable<Connection> {
  return from(connections);
}

/** Data that is not a string or bytes, as a JavaScript caller (or an `as`) can give it. */
const notBytes = (value: unknown): string => value as string;

describe('serveConnections failures', () => {
  describe('a write whose data is not bytes, without encode', () => {
    it('drops the write, reports writeFailed with an EncodeError and keeps every connection open', async () => {
      const [a, b] = memoryConnections(2);
      const run = new Run(
        serveConnections(
          served(a!, b!),
          onData<string>(() => [
            { type: 'write', to: 1, data: notBytes(42) },
            { type: 'write', to: [1, 2], data: notBytes({ not: 'bytes' }) },
            { type: 'write', to: 2, data: notBytes(null) },
            { type: 'write', to: [1, 2], data: 'still here' },
          ]),
        ),
      );
      a!.receive('go');
      await afterUnhandledReports();

      const failures = run.writeFailures();
      expect(failures.map(({ to }) => to)).toEqual([1, [1, 2], 2]);
      for (const { error } of failures) {
        expect(error).toBeInstanceOf(EncodeError);
        expect(error.code).toBe('RXNET_ERR_ENCODE');
      }
      expect(a!.writtenText).toBe('still here');
      expect(b!.writtenText).toBe('still here');
      expect([a!.state, b!.state]).toEqual(['open', 'open']);
      expect(run.failure).toBeUndefined();
      expect(uncaught.errors).toEqual([]);
      run.subscription.unsubscribe();
    });

    it('writes strings and bytes and reports writeFailed for any other value', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.anything({ withTypedArray: true, withBoxedValues: true, withMap: true }),
            fc.bigInt(),
            fc.constant(Symbol('data')),
            fc.constant(() => 'a function'),
          ),
          async (data) => {
            const [a] = memoryConnections(1);
            const run = new Run(
              serveConnections(
                served(a!),
                onData<string>(() => [
                  { type: 'write', to: 1, data: notBytes(data) },
                  { type: 'write', to: 1, data: '|after' },
                ]),
              ),
            );
            a!.receive('go');
            await afterUnhandledReports();

            const isBytes = typeof data === 'string' || data instanceof Uint8Array;
            expect(run.writeFailures()).toHaveLength(isBytes ? 0 : 1);
            if (!isBytes) expect(a!.writtenText).toBe('|after');
            else expect(a!.writtenText.endsWith('|after')).toBe(true);
            expect(a!.state).toBe('open');
            expect(uncaught.errors).toEqual([]);
            run.subscription.unsubscribe();
          },
        ),
        { numRuns: 200 },
      );
    });

    it('reports writeFailed over real sockets, and both clients stay connected and get the next write', async () => {
      const run = new Run<ServerNotification>(
        serve<Buffer, string>(
          LOOPBACK,
          onData<string>(() => [
            { type: 'write', to: [1, 2], data: notBytes({ not: 'bytes' }) },
            { type: 'write', to: 1, data: notBytes(undefined) },
            { type: 'write', to: [1, 2], data: 'ok\n' },
          ]),
        ),
      );
      try {
        const port = await listeningPort(run);
        const first = new Peer(await rawClient(port));
        await run.nextOf('connectionMade');
        const second = new Peer(await rawClient(port));
        await run.nextOf('connectionMade', 2);
        first.socket.write('go');
        await Promise.all([first.waitFor('ok\n'), second.waitFor('ok\n')]);

        const failures = (await run.nextOf('writeFailed', 2)) as WriteFailed[];
        expect(failures.map(({ to }) => to)).toEqual([[1, 2], 1]);
        for (const { error } of failures) expect(error).toBeInstanceOf(EncodeError);
        expect(first.text).toBe('ok\n');
        expect(second.text).toBe('ok\n');
        expect(run.outputs.some((output) => output.type === 'connectionLost')).toBe(false);
        expect([first.ended, second.ended, first.error, second.error]).toEqual([
          false,
          false,
          undefined,
          undefined,
        ]);
        await afterUnhandledReports();
        expect(uncaught.errors).toEqual([]);
        first.socket.destroy();
        second.socket.destroy();
      } finally {
        run.subscription.unsubscribe();
      }
    });
  });

  describe('a malformed command', () => {
    // Not allowed by the types, but a JavaScript behaviour (or an `as`) can emit it.
    const malformed: readonly [string, unknown][] = [
      ['a write to null', { type: 'write', to: null, data: 'x' }],
      ['a write without a receiver', { type: 'write', data: 'x' }],
      ['a write to an object', { type: 'write', to: {}, data: 'x' }],
      ['a null command', null],
      ['a close of null', { type: 'close', id: null }],
    ];

    it.each(malformed)('never surfaces as an uncaught exception: %s', async (_name, command) => {
      const [a] = memoryConnections(1);
      const run = new Run(
        serveConnections(
          served(a!),
          onData<string>(() => [
            command as ServerCommand<string>,
            { type: 'write', to: 1, data: 'after' },
          ]),
        ),
      );
      a!.receive('go');
      await afterUnhandledReports();

      expect(uncaught.errors).toEqual([]);
      expect(a!.writtenText.endsWith('after')).toBe(true);
      expect(a!.state).toBe('open');
      const rejected = (run.outputs as ServerOutput[]).filter(
        (output): output is CommandRejected => output.type === 'commandRejected',
      );
      if (command !== null && typeof command === 'object' && 'id' in command) {
        expect(rejected).toEqual([]); // a close of an unknown id is ignored, as for a gone connection
      } else {
        expect(rejected).toEqual([
          { type: 'commandRejected', command, error: expect.any(InvalidCommandError) },
        ]);
        expect(rejected[0]!.error.code).toBe('RXNET_ERR_INVALID_COMMAND');
      }
      run.subscription.unsubscribe();
    });
  });

  describe('a throw in encode while broadcasting', () => {
    const poisoned = new Error('cannot encode poison');
    function encode(line: string): string {
      if (line === 'poison') throw poisoned;
      return `${line}\n`;
    }
    const relay: Behaviour<string, string> = (events) => events.pipe(broadcast());
    const decode = lines({ delimiter: '\n', encoding: 'utf8' });

    it('drops that write, reports it with the cause, and closes neither the sender nor the receivers', async () => {
      const [a, b, c] = memoryConnections(3);
      const run = new Run(
        serveConnections<string, string>(served(a!, b!, c!), relay, { decode, encode }),
      );
      a!.receive('poison\nfine\n');
      await afterUnhandledReports();

      const failures = run.writeFailures();
      expect(failures).toHaveLength(1);
      expect(failures[0]!.to).toEqual([2, 3]);
      expect(failures[0]!.error).toBeInstanceOf(EncodeError);
      expect(failures[0]!.error.cause).toBe(poisoned);
      expect(b!.writtenText).toBe('fine\n');
      expect(c!.writtenText).toBe('fine\n');
      expect([a!.state, b!.state, c!.state]).toEqual(['open', 'open', 'open']);
      expect(run.failure).toBeUndefined();

      b!.receive('later\n');
      expect(a!.writtenText).toBe('later\n');
      expect(c!.writtenText).toBe('fine\nlater\n');
      expect(uncaught.errors).toEqual([]);
      run.subscription.unsubscribe();
    });

    it('keeps serving over real sockets: the receivers get the next line and nobody is closed', async () => {
      const run = new Run<ServerNotification>(
        serve<string, string>(LOOPBACK, relay, { decode, encode }),
      );
      try {
        const port = await listeningPort(run);
        const peers: Peer[] = [];
        for (let count = 1; count <= 3; count += 1) {
          peers.push(new Peer(await rawClient(port)));
          await run.nextOf('connectionMade', count);
        }
        const [sender, second, third] = peers as [Peer, Peer, Peer];
        sender.socket.write('poison\n');
        const [failure] = (await run.nextOf('writeFailed')) as WriteFailed[];
        expect(failure!.to).toEqual([2, 3]);
        expect(failure!.error.cause).toBe(poisoned);

        sender.socket.write('fine\n');
        await Promise.all([second.waitFor('fine\n'), third.waitFor('fine\n')]);
        second.socket.write('back\n');
        await Promise.all([sender.waitFor('back\n'), third.waitFor('fine\nback\n')]);
        expect(second.text).toBe('fine\n');
        for (const peer of peers) {
          expect(peer.ended).toBe(false);
          expect(peer.error).toBeUndefined();
        }
        expect(run.outputs.some((output) => output.type === 'connectionLost')).toBe(false);
        await afterUnhandledReports();
        expect(uncaught.errors).toEqual([]);
        for (const peer of peers) peer.socket.destroy();
      } finally {
        run.subscription.unsubscribe();
      }
    });
  });

  describe('a throw in the behaviour', () => {
    const boom = new Error('behaviour bug');

    /** Greets each connection, writes `bye` to everyone on `boom`, then throws. */
    function failingOnBoom(ids: readonly ConnectionId[], bye: string | Buffer): Behaviour {
      return (events) =>
        events.pipe(
          mergeMap((event) => {
            if (event.type === 'connectionMade')
              return of(event, {
                type: 'write',
                to: event.id,
                data: `hello ${event.id}\n`,
              } as const);
            if (event.type === 'data' && event.data.toString() === 'boom')
              return of({ type: 'write', to: ids, data: bye } as const, event);
            return of(event);
          }),
          map((item) => {
            if (item.type === 'data') throw boom;
            return item;
          }),
        );
    }

    it('fails with BehaviourError carrying the cause, after flushing and ending every connection', async () => {
      const connections = memoryConnections(3, { manualFlush: true });
      const run = new Run(
        serveConnections(served(...connections), failingOnBoom([1, 2, 3], 'bye\n')),
      );
      connections[1]!.receive('boom');

      expect(run.failure).toBeInstanceOf(BehaviourError);
      expect((run.failure as BehaviourError).code).toBe('RXNET_ERR_BEHAVIOUR');
      expect((run.failure as BehaviourError).cause).toBe(boom);
      for (const connection of connections) {
        // Ending: the output is still pending, to be flushed before the FIN.
        expect(connection.state).toBe('ending');
        expect(connection.closedBy).toBe('end');
        connection.flush();
      }
      for (const connection of connections) {
        expect(connection.writtenText).toBe(`hello ${connection.id}\nbye\n`);
        expect(connection.closeReason).toEqual({ type: 'done' });
      }
      await afterUnhandledReports();
      expect(uncaught.errors).toEqual([]);
    });

    it('ends duplexPair peers with all their output and then FIN', async () => {
      const pairs = [wrappedPair({}, 1), wrappedPair({}, 2)];
      const received = pairs.map(({ peer }) => readAll(peer));
      const big = Buffer.alloc(512 * 1024, 'z');
      const connections = new Subject<Connection>();
      const run = new Run(serveConnections(connections, failingOnBoom([1, 2], big)));
      for (const { connection } of pairs) connections.next(connection);
      pairs[0]!.peer.write('boom');

      expect(await within(run.failed, 'the server to fail')).toBeInstanceOf(BehaviourError);
      const [first, second] = await within(Promise.all(received), 'both peers to see FIN');
      expect(first!.equals(Buffer.concat([Buffer.from('hello 1\n'), big]))).toBe(true);
      expect(second!.equals(Buffer.concat([Buffer.from('hello 2\n'), big]))).toBe(true);
      for (const { peer } of pairs) peer.end();
      await within(
        Promise.all(pairs.map(({ connection }) => firstValueFrom(connection.closed$))),
        'both connections to close',
      ).then((reasons) => expect(reasons).toEqual([{ type: 'done' }, { type: 'done' }]));
      expect(uncaught.errors).toEqual([]);
    });

    it('over real sockets, every client gets its output and a clean FIN, never ECONNRESET', async () => {
      // More than the kernel's buffers hold while the clients do not read, so most of it is still
      // pending in the server when it fails: a destroy or a reset would lose it.
      const big = Buffer.alloc(8 * 1024 * 1024, 'z');
      const run = new Run<ServerNotification>(
        serve(LOOPBACK, failingOnBoom([1, 2, 3], big), { maxPendingWriteBytes: 32 * 1024 * 1024 }),
      );
      const port = await listeningPort(run);
      const peers: Peer[] = [];
      for (let id = 1; id <= 3; id += 1) {
        const peer = new Peer(await rawClient(port));
        peers.push(peer);
        await peer.waitFor(`hello ${id}\n`);
      }
      for (const peer of peers) peer.socket.pause();
      peers[2]!.socket.write('boom');

      const failure = await within(run.failed, 'the server to fail');
      expect(failure).toBeInstanceOf(BehaviourError);
      expect((failure as BehaviourError).cause).toBe(boom);
      for (const peer of peers) peer.socket.resume();
      await within(
        Promise.all(peers.map((peer) => peer.closed)),
        'every client to see the connection end',
      );
      peers.forEach((peer, index) => {
        expect(peer.error).toBeUndefined();
        expect(peer.ended).toBe(true);
        expect(peer.hadError).toBe(false);
        expect(
          peer.received.equals(Buffer.concat([Buffer.from(`hello ${index + 1}\n`), big])),
        ).toBe(true);
      });
      await afterUnhandledReports();
      expect(uncaught.errors).toEqual([]);
    });

    it('fails with BehaviourError when the behaviour function itself throws', async () => {
      const thrown = new Error('cannot build the behaviour');
      const throwing: Behaviour = () => {
        throw thrown;
      };
      const [a] = memoryConnections(1);
      const run = new Run(serveConnections(served(a!), throwing));
      expect(run.failure).toBeInstanceOf(BehaviourError);
      expect((run.failure as BehaviourError).cause).toBe(thrown);

      const overSockets = new Run<ServerNotification>(serve(LOOPBACK, throwing));
      const failure = await within(overSockets.failed, 'serve() to fail');
      expect(failure).toBeInstanceOf(BehaviourError);
      expect((failure as BehaviourError).cause).toBe(thrown);
      expect(overSockets.outputs).toEqual([]);
      await afterUnhandledReports();
      expect(uncaught.errors).toEqual([]);
    });

    it.each([
      ['fails at once', () => throwError(() => boom)],
      [
        'throws when subscribed',
        () =>
          new Observable<never>(() => {
            throw boom;
          }),
      ],
    ])(
      'fails serve() with BehaviourError when the behaviour %s, emitting nothing',
      async (_name, make) => {
        const behaviour: Behaviour = make;
        const run = new Run<ServerNotification>(serve(LOOPBACK, behaviour));
        const failure = await within(run.failed, 'serve() to fail');
        expect(failure).toBeInstanceOf(BehaviourError);
        expect((failure as BehaviourError).cause).toBe(boom);
        await afterUnhandledReports();
        expect(run.outputs).toEqual([]);
        expect(uncaught.errors).toEqual([]);
      },
    );
  });
});

/** Resolves with the port of a serve() run once it listens. */
async function listeningPort(run: Run<ServerNotification>): Promise<number> {
  const [listening] = await run.nextOf('listening');
  const address = (listening as ServerNotification & { type: 'listening' }).address;
  if (address._tag !== 'TcpAddress') throw new TypeError('expected a TCP address');
  return address.port;
}

/** A raw client that records what it receives and how its connection ended. */
class Peer {
  private readonly chunks: Buffer[] = [];
  ended = false;
  hadError = false;
  error: Error | undefined;
  readonly closed: Promise<void>;
  private readonly waiters = new Set<() => void>();

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.notify();
    });
    socket.on('end', () => (this.ended = true));
    socket.on('error', (error) => (this.error = error));
    this.closed = new Promise((resolve) =>
      socket.once('close', (hadError) => {
        this.hadError = hadError;
        this.notify();
        resolve();
      }),
    );
  }

  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.received.toString('utf8');
  }

  /** Resolves once the received text ends with `suffix`. */
  waitFor(suffix: string): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (this.text.endsWith(suffix)) {
            this.waiters.delete(check);
            resolve();
          }
        };
        this.waiters.add(check);
        check();
      }),
      `${JSON.stringify(suffix)} (received ${JSON.stringify(this.text.slice(-200))})`,
    );
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

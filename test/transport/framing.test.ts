import { filter, firstValueFrom, map, NEVER, of, Subject, toArray } from 'rxjs';
import {
  broadcast,
  echo,
  FrameTooLongError,
  greet,
  lines,
  netstrings,
  serve,
  serveConnections,
  type Behaviour,
  type Codec,
  type Connection,
  type ServerOutput,
} from 'rxnet';
import { memoryConnection } from 'rxnet/testing';

/** A JSON-lines codec: one message per line, written as the JSON and the newline, two parts. */
interface Message {
  readonly say: string;
}
const jsonLines: Codec<Message> = {
  decode: (source) =>
    source.pipe(
      lines({ delimiter: '\n', encoding: 'utf8' }),
      map((line) => JSON.parse(line) as Message),
    ),
  encode: (message) => [JSON.stringify(message), '\n'],
};

/** Collects what a server emits; the connections stay open until the test ends them. */
function run<T, O>(
  connections: readonly Connection[],
  behaviour: Behaviour<T, O>,
  options: Parameters<typeof serveConnections<T, O>>[2],
): { readonly outputs: ServerOutput<T>[]; stop(): void } {
  const outputs: ServerOutput<T>[] = [];
  const connections$ = new Subject<Connection>();
  const subscription = serveConnections(connections$, behaviour, options).subscribe((output) =>
    outputs.push(output),
  );
  for (const connection of connections) connections$.next(connection);
  return { outputs, stop: () => subscription.unsubscribe() };
}

describe('serveConnections', () => {
  describe('framing', () => {
    it('decodes each connection with the codec and encodes every write with it', () => {
      const a = memoryConnection({ id: 1 });
      const server = run([a], (events) => events.pipe(echo()), {
        framing: lines({ encoding: 'utf8' }),
      });
      a.receive('hello\r\nwor');
      a.receive('ld\r\n');
      expect(a.writtenText).toBe('hello\r\nworld\r\n');
      expect(server.outputs.filter((output) => output.type === 'data')).toEqual([
        { type: 'data', id: 1, data: 'hello' },
        { type: 'data', id: 1, data: 'world' },
      ]);
      server.stop();
    });

    it('joins the small parts an encoder returns into one write, in order', () => {
      const a = memoryConnection({ id: 1 });
      const server = run([a], (events) => events.pipe(greet({ say: 'hi' })), {
        framing: jsonLines,
      });
      expect(a.writtenText).toBe('{"say":"hi"}\n');
      expect(a.writes.map((part) => part.toString())).toEqual(['{"say":"hi"}\n']);
      server.stop();
    });

    it('writes the parts of a payload above 16 KiB separately, without copying it', () => {
      const a = memoryConnection({ id: 1 });
      const big = { say: 'x'.repeat(20 * 1024) };
      const server = run([a], (events) => events.pipe(greet(big)), { framing: jsonLines });
      expect(a.writes.map((part) => part.toString())).toEqual([JSON.stringify(big), '\n']);
      server.stop();
    });

    it('encodes a write to several connections once, and gives each receiver every part in order', () => {
      const connections = [1, 2, 3].map((id) => memoryConnection({ id }));
      let encodes = 0;
      const counting: Codec<Message> = {
        decode: jsonLines.decode,
        encode: (message) => {
          encodes++;
          return jsonLines.encode(message);
        },
      };
      const server = run(connections, (events) => events.pipe(broadcast()), { framing: counting });
      connections[0]!.receive('{"say":"hi all"}\n');
      expect(encodes).toBe(1);
      expect(connections.map((connection) => connection.writtenText)).toEqual([
        '',
        '{"say":"hi all"}\n',
        '{"say":"hi all"}\n',
      ]);
      server.stop();
    });

    it('reports a write the codec refuses as writeFailed, and writes none of it', () => {
      const a = memoryConnection({ id: 1 });
      const server = run([a], (events) => events.pipe(greet('x'.repeat(5))), {
        framing: netstrings({ maxFrameBytes: 4 }),
      });
      expect(a.written.length).toBe(0);
      const failed = server.outputs.find((output) => output.type === 'writeFailed');
      expect(failed).toMatchObject({ type: 'writeFailed', to: 1 });
      expect((failed as { error: Error }).error.cause).toBeInstanceOf(FrameTooLongError);
      expect(a.state).toBe('open');
      server.stop();
    });

    it('reports parts that are not bytes as writeFailed, and writes none of them', () => {
      const a = memoryConnection({ id: 1 });
      const broken: Codec<string> = {
        decode: lines({ encoding: 'utf8' }),
        encode: (line) => [line, 42 as unknown as string],
      };
      const server = run([a], (events) => events.pipe(greet('hi')), { framing: broken });
      expect(a.written.length).toBe(0);
      expect(server.outputs.find((output) => output.type === 'writeFailed')).toMatchObject({
        error: { code: 'RXNET_ERR_ENCODE', message: expect.stringContaining('got number') },
      });
      server.stop();
    });

    it('aborts a connection whose input the codec cannot decode, with the error as its reason', () => {
      const a = memoryConnection({ id: 1 });
      const server = run([a], (events) => events.pipe(echo()), {
        framing: lines({ maxLineBytes: 4 }),
      });
      a.receive('too long\r\n');
      expect(a.closeReason).toEqual({ type: 'aborted', error: new FrameTooLongError(4, 8) });
      server.stop();
    });
  });

  describe('encode', () => {
    it('may return several parts, written in order (small ones as one write)', () => {
      const a = memoryConnection({ id: 1 });
      const server = run<Buffer, string>([a], (events) => events.pipe(greet('hi')), {
        encode: (text) => ['<', text, '>'],
      });
      expect(a.writes.map((part) => part.toString())).toEqual(['<hi>']);
      server.stop();
    });
  });

  describe('contradictory options', () => {
    it('throws TypeError at call time for framing with decode', () => {
      expect(() =>
        serveConnections(NEVER, (events) => events, { framing: lines(), decode: lines() }),
      ).toThrow(TypeError);
    });

    it('throws TypeError at call time for framing with encode', () => {
      expect(() =>
        serveConnections(NEVER, (events) => events, { framing: lines(), encode: (data) => data }),
      ).toThrow(TypeError);
    });

    it('throws TypeError from serve at call time, before anything listens', () => {
      expect(() =>
        serve('tcp:0:interface=127.0.0.1', (events) => events, {
          framing: lines(),
          decode: lines(),
        }),
      ).toThrow(TypeError);
    });
  });

  it('types the frames the codec decodes', async () => {
    const a = memoryConnection({ id: 1, input: of('{"say":"hi"}\n') });
    const said = await firstValueFrom(
      serveConnections(of(a), (events) => events, { framing: jsonLines }).pipe(
        filter((output) => output.type === 'data'),
        map((output) => output.data.say),
        toArray(),
      ),
    );
    expect(said).toEqual(['hi']);
  });
});

import { firstValueFrom, map, toArray } from 'rxjs';
import { framed, FrameTooLongError, InvalidFrameError, lines, type Codec } from 'rxnet';
import { memoryConnection } from 'rxnet/testing';

describe('framed', () => {
  describe('frames$', () => {
    it("decodes the connection's data with the codec", async () => {
      const connection = memoryConnection();
      const chat = framed(connection, lines({ encoding: 'utf8' }));
      const frames = firstValueFrom(chat.frames$.pipe(toArray()));
      connection.receive('he');
      connection.receive('llo\r\nhi\r\n');
      connection.closeFromPeer('clean');
      expect(await frames).toEqual(['hello', 'hi']);
      connection.end();
    });

    it('fails with the decoder error and aborts the connection with it as the reason', async () => {
      const connection = memoryConnection();
      const frames = firstValueFrom(framed(connection, lines({ maxLineBytes: 3 })).frames$);
      connection.receive('four\r\n');
      await expect(frames).rejects.toEqual(new FrameTooLongError(3, 4));
      expect(connection.closeReason).toEqual({
        type: 'aborted',
        error: new FrameTooLongError(3, 4),
      });
    });

    it("wraps a custom decoder's foreign error in InvalidFrameError, keeping it as cause", async () => {
      const connection = memoryConnection();
      const json: Codec<unknown> = {
        decode: (source) =>
          source.pipe(
            lines({ encoding: 'utf8' }),
            map((line) => JSON.parse(line) as unknown),
          ),
        encode: (value) => `${JSON.stringify(value)}\r\n`,
      };
      const frames = firstValueFrom(framed(connection, json).frames$);
      connection.receive('not json\r\n');
      await expect(frames).rejects.toBeInstanceOf(SyntaxError);
      const reason = connection.closeReason;
      expect(reason?.type).toBe('aborted');
      const error = reason?.type === 'aborted' ? reason.error : undefined;
      expect(error).toBeInstanceOf(InvalidFrameError);
      expect(error?.cause).toBeInstanceOf(SyntaxError);
    });
  });

  describe('write', () => {
    it("writes the codec's parts in order, and returns the connection's write result", () => {
      const connection = memoryConnection();
      expect(framed(connection, lines()).write('hello')).toBe(true);
      expect(connection.writes.map((part) => part.toString())).toEqual(['hello', '\r\n']);
      connection.end();
    });

    it('writes a single part as it is', () => {
      const connection = memoryConnection();
      const json: Codec<unknown, { readonly n: number }> = {
        decode: lines(),
        encode: (value) => `${JSON.stringify(value)}\n`,
      };
      framed(connection, json).write({ n: 1 });
      expect(connection.writtenText).toBe('{"n":1}\n');
      connection.end();
    });

    it('throws what the encoder throws, having written nothing', () => {
      const connection = memoryConnection();
      expect(() => framed(connection, lines({ maxLineBytes: 3 })).write('four')).toThrow(
        FrameTooLongError,
      );
      expect(connection.written.length).toBe(0);
      connection.end();
    });

    it('returns false once the connection has ended, as its write does', () => {
      const connection = memoryConnection();
      connection.end();
      expect(framed(connection, lines()).write('late')).toBe(false);
    });
  });
});

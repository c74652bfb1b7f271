import { of, toArray } from 'rxjs';
import { encodeLengthPrefixed, encodeLines, lengthPrefixed, lines } from 'rxnet';
import { memoryConnection } from 'rxnet/testing';

describe('framing on a connection', () => {
  describe('encodeLines()', () => {
    it('sends each line and its delimiter as separate writes, never concatenated', () => {
      const connection = memoryConnection();
      const line = Buffer.from('hello');

      connection.send(of(line, 'bye').pipe(encodeLines({ delimiter: '\n' }))).subscribe();

      expect(connection.writes.map(String)).toEqual(['hello', '\n', 'bye', '\n']);
      expect(connection.writes[0].buffer).toBe(line.buffer);
    });
  });

  describe('encodeLengthPrefixed()', () => {
    it('sends the header and the payload as separate writes', () => {
      const connection = memoryConnection();

      connection.send(of('hi').pipe(encodeLengthPrefixed({ prefixBytes: 2 }))).subscribe();

      expect(connection.writes).toEqual([Buffer.from([0, 2]), Buffer.from('hi')]);
    });
  });

  describe('lines()', () => {
    it("decodes a connection's data$, as a server's per-connection decode would", () => {
      const connection = memoryConnection();
      const received: string[] = [];
      connection.data$
        .pipe(lines({ encoding: 'utf8' }), toArray())
        .subscribe((all) => received.push(...all));

      connection.receive('one\r\ntw');
      connection.receive('o\r\n');
      connection.closeFromPeer('clean');

      expect(received).toEqual(['one', 'two']);
      // The peer's FIN only half-closes the connection: it stays writable until ended.
      expect(connection.state).toBe('readClosed');
      connection.end();
      expect(connection.state).toBe('closed');
    });

    it("fails with TruncatedFrameError when the peer's FIN cuts a line short", () => {
      const connection = memoryConnection();
      let error: unknown;
      connection.data$.pipe(lines({ encoding: 'utf8' })).subscribe({
        error: (caught: unknown) => (error = caught),
      });

      connection.receive('one\r\ntw');
      connection.closeFromPeer('clean');

      expect(error).toMatchObject({ code: 'RXNET_ERR_TRUNCATED_FRAME', buffered: 2 });
      connection.end();
    });
  });

  describe('lengthPrefixed()', () => {
    it('fails the stream with the typed error on a length over the limit', () => {
      const connection = memoryConnection();
      let error: unknown;
      connection.data$.pipe(lengthPrefixed({ prefixBytes: 1, maxFrameBytes: 4 })).subscribe({
        error: (caught: unknown) => (error = caught),
      });

      connection.receive(Buffer.from([5, 1, 2, 3, 4, 5]));

      expect(error).toMatchObject({ code: 'RXNET_ERR_FRAME_TOO_LONG', limit: 4, received: 5 });
    });
  });
});

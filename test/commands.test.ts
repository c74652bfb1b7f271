import * as rxjs from 'rxjs';
import { filter, firstValueFrom, map, of, toArray } from 'rxjs';
import * as api from 'rxnet';
import { abort, close, InvalidFrameError, write, type Behaviour, type ServerCommand } from 'rxnet';
import * as testing from 'rxnet/testing';
import { data, made } from 'rxnet/testing';

describe('commands', () => {
  describe('write', () => {
    it('builds a write command to one connection', () => {
      expect(write(1, 'hi\n')).toEqual({ type: 'write', to: 1, data: 'hi\n' });
    });

    it('builds a write command to several connections at once', () => {
      expect(write([2, 3], 'hi')).toEqual({ type: 'write', to: [2, 3], data: 'hi' });
    });

    it('carries structured data with its type', () => {
      const command: ServerCommand<{ readonly n: number }> = write(1, { n: 1 });
      expect(command).toEqual({ type: 'write', to: 1, data: { n: 1 } });
      // @ts-expect-error: the data is a number, not a string.
      const wrong: ServerCommand<string> = write(1, 5);
      void wrong;
    });
  });

  describe('close', () => {
    it('builds a close command', () => {
      expect(close(4)).toEqual({ type: 'close', id: 4 });
    });
  });

  describe('abort', () => {
    it('builds an abort command', () => {
      expect(abort(4)).toEqual({ type: 'abort', id: 4 });
    });

    it('carries a reason when given one, and no reason key otherwise', () => {
      const reason = new InvalidFrameError('bad greeting');
      expect(abort(4, reason)).toEqual({ type: 'abort', id: 4, reason });
      expect(Object.keys(abort(4))).toEqual(['type', 'id']);
    });
  });

  describe('in a behaviour', () => {
    it('types a command built in a map callback without `as const`', async () => {
      const echoLines: Behaviour<string, string> = (events) =>
        events.pipe(
          filter((event) => event.type === 'data'),
          map((event) => (event.data === 'bye' ? close(event.id) : write(event.id, event.data))),
        );
      const commands = await firstValueFrom(
        echoLines(of(made(1), data(1, 'hi'), data(1, 'bye'))).pipe(toArray()),
      );
      expect(commands).toEqual([write(1, 'hi'), close(1)]);
    });
  });

  describe('exports', () => {
    it('are the same functions in rxnet and rxnet/testing', () => {
      expect(testing.write).toBe(api.write);
      expect(testing.close).toBe(api.close);
      expect(testing.abort).toBe(api.abort);
    });

    it('reuse no name rxjs exports', () => {
      expect(['write', 'close', 'abort'].filter((name) => name in rxjs)).toEqual([]);
    });
  });
});

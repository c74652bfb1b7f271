import { delay, finalize, map, mergeMap, type Observable, scan } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  forward,
  type CloseReason,
  type ConnectionCount,
  type ConnectionMade,
  type Forwarded,
  type ProtocolContext,
} from 'rxnet';
import { made, observableMatcher, testProtocol } from 'rxnet/testing';

const upper = (conn: ProtocolContext<string>): Observable<string> =>
  conn.frames$.pipe(map((s) => s.toUpperCase()));

describe('testProtocol', () => {
  describe('toEmit', () => {
    it('feeds the frames to the protocol and asserts its output', () => {
      testProtocol(upper, { frames: '-a-b-|', values: { a: 'hi', b: 'yo' } }).toEmit('-A-B-|', {
        A: 'HI',
        B: 'YO',
      });
    });

    it('asserts what the protocol forwards as forward(message)', () => {
      const nick = (conn: ProtocolContext<string>): Observable<string | Forwarded<string>> =>
        conn.frames$.pipe(
          scan(
            (state: { nick: string; out: (string | Forwarded<string>)[] }, line: string) =>
              line.startsWith('NICK ')
                ? { nick: line.slice(5), out: [`welcome ${line.slice(5)}`] }
                : { nick: state.nick, out: [forward(`${state.nick}: ${line}`)] },
            { nick: 'anonymous', out: [] },
          ),
          mergeMap((state) => state.out),
        );
      testProtocol(nick, {
        frames: '-a-b-|',
        values: { a: 'NICK bob', b: 'hi' },
      }).toEmit('-x-y-|', { x: 'welcome bob', y: forward('bob: hi') });
    });

    it('runs timers in virtual time', () => {
      testProtocol((conn: ProtocolContext<string>) => conn.frames$.pipe(delay(5)), {
        frames: '-a-|',
        values: { a: 'late' },
      }).toEmit('------(a|)', { a: 'late' });
    });

    it("asserts the protocol's error", () => {
      const failing = (conn: ProtocolContext<string>): Observable<string> =>
        conn.frames$.pipe(
          map(() => {
            throw new Error('bad');
          }),
        );
      testProtocol(failing, { frames: '-a-', values: { a: 'x' } }).toEmit(
        '-#',
        undefined,
        new Error('bad'),
      );
    });

    it('fails the frames with the error # stands for', () => {
      testProtocol(upper, { frames: '-a-#', values: { a: 'x' }, error: new Error('lost') }).toEmit(
        '-A-#',
        { A: 'X' },
        new Error('lost'),
      );
    });

    it('gives closed$ the reason at the close, then unsubscribes the protocol', () => {
      const reasons: CloseReason[] = [];
      const stopped: string[] = [];
      const watching = (conn: ProtocolContext<string>): Observable<string> => {
        conn.closed$.subscribe((reason) => reasons.push(reason));
        return upper(conn).pipe(finalize(() => stopped.push('stopped')));
      };
      const reason: CloseReason = { type: 'aborted' };
      testProtocol(watching, {
        frames: '-a---b-',
        values: { a: 'x', b: 'y' },
        closed: '---c---',
        reasons: { c: reason },
      }).toEmit('-A-----', { A: 'X' });
      expect(reasons).toEqual([reason]);
      expect(stopped).toEqual(['stopped']);
    });

    it('gives the protocol the connectionMade event it is given', () => {
      const counted = (
        conn: ProtocolContext<string, ConnectionMade & ConnectionCount>,
      ): Observable<string> => conn.frames$.pipe(map((s) => `#${conn.made.count} ${s}`));
      testProtocol(counted, {
        frames: '-a-',
        values: { a: 'hi' },
        made: { ...made(4), count: 2 },
      }).toEmit('-x-', { x: '#2 hi' });
    });

    it('unsubscribes at the unsubscription marble', () => {
      testProtocol(upper, {
        frames: '-a-b-c-|',
        values: { a: 'a', b: 'b', c: 'c' },
        unsubscribe: '----!',
      }).toEmit('-A-B-', { A: 'A', B: 'B' });
    });

    it('subscribes at ^ in the frames', () => {
      testProtocol(upper, { frames: 'a-^-b-|', values: { a: 'early', b: 'b' } }).toEmit('--B-|', {
        B: 'B',
      });
    });

    it('runs on the scheduler it is given', () => {
      const scheduler = new TestScheduler(observableMatcher);
      const run = jest.spyOn(scheduler, 'run');
      testProtocol(upper, { frames: '-a-|', values: { a: 'x' }, scheduler }).toEmit('-A-|', {
        A: 'X',
      });
      expect(run).toHaveBeenCalledTimes(1);
    });

    it('fails the test when the output differs', () => {
      expect(() =>
        testProtocol(upper, { frames: '-a-|', values: { a: 'x' } }).toEmit('-A-|', { A: 'Y' }),
      ).toThrow();
    });
  });
});

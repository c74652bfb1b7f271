/**
 * The chat example's logic as marbles: one connection's protocol (`chatter`) with `testProtocol`,
 * the room's delivery (`toRoom`) as an operator spec, and the whole server (`chat`) with
 * `testBehaviour`. No socket, no clock.
 */
import { Observable, take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { forward, type BehaviourItem } from 'rxnet';
import {
  abort,
  close,
  data,
  lost,
  made,
  observableMatcher,
  readLost,
  testBehaviour,
  testProtocol,
  write,
} from 'rxnet/testing';
import { HelpRequested, UsageError } from '../../examples/cli';
import {
  BAD_NICK,
  CHAT_WELCOME,
  chat,
  chatter,
  parseChatArgs,
  Room,
  say,
  toRoom,
} from '../../examples/chat';

/** A room where connection 2 is bob. */
function roomWithBob(): Room {
  const room = new Room();
  room.join(2, 'bob');
  return room;
}

describe('examples/chat', () => {
  describe('chatter', () => {
    it('asks for a nick until the room grants one, then forwards each line as <nick> text, and says bye at /quit', () => {
      testProtocol(chatter(roomWithBob()), {
        frames: '--a--b-----c--q|',
        values: { a: 'bob', b: 'alice', c: 'hi all', q: '/quit' },
      }).toEmit('w-t--(jJ)--C--(y|)', {
        w: CHAT_WELCOME,
        t: say.taken('bob'),
        j: say.joined('alice', ['bob', 'alice']),
        J: forward(say.hasJoined('alice')),
        C: forward(say.line('alice', 'hi all')),
        y: say.bye('alice'),
      });
    });

    it('compares nicks ignoring case', () => {
      testProtocol(chatter(roomWithBob()), {
        frames: '-a-',
        values: { a: 'BOB' },
      }).toEmit('wt-', { w: CHAT_WELCOME, t: say.taken('BOB') });
    });

    it('refuses a nick with a space, more than 16 characters or punctuation, and lets the client try again', () => {
      testProtocol(chatter(new Room()), {
        frames: '-a-b-c-d-',
        values: { a: 'two words', b: 'x'.repeat(17), c: 'bo!b', d: 'Zoë_1' },
      }).toEmit('wb-b-b-(jJ)', {
        w: CHAT_WELCOME,
        b: BAD_NICK,
        j: say.joined('Zoë_1', ['Zoë_1']),
        J: forward(say.hasJoined('Zoë_1')),
      });
    });

    it('answers /who with the nicks in the room, before and after joining', () => {
      testProtocol(chatter(roomWithBob()), {
        frames: '-a-b------c-',
        values: { a: '/who', b: 'carol', c: ' /who ' },
      }).toEmit('wx-(jJ)---y-', {
        w: CHAT_WELCOME,
        x: say.who(['bob']),
        j: say.joined('carol', ['bob', 'carol']),
        J: forward(say.hasJoined('carol')),
        y: say.who(['bob', 'carol']),
      });
    });

    it('answers an unknown command itself, and ignores empty lines', () => {
      testProtocol(chatter(new Room()), {
        frames: '-a-b-c-',
        values: { a: '', b: '/me waves', c: '   ' },
      }).toEmit('w--u---', { w: CHAT_WELCOME, u: say.unknown('/me') });
    });

    it('says bye without a nick when a client quits before joining', () => {
      testProtocol(chatter(new Room()), {
        frames: '-q-a-',
        values: { q: '/quit', a: 'too late' },
      }).toEmit('w(y|)', { w: CHAT_WELCOME, y: say.bye(undefined) });
    });

    it("completes at the client's FIN, which closes the connection", () => {
      testProtocol(chatter(new Room()), { frames: '--|' }).toEmit('w-|', { w: CHAT_WELCOME });
    });

    it('stops when the connection is lost', () => {
      testProtocol(chatter(new Room()), {
        frames: '-----',
        closed: '--c',
        reasons: { c: { type: 'done' } },
      }).toEmit('w----', { w: CHAT_WELCOME });
    });
  });

  describe('toRoom', () => {
    let testScheduler: TestScheduler;
    beforeEach(() => {
      testScheduler = new TestScheduler(observableMatcher);
    });

    /** Connections 1 (alice) and 2 (bob) in the room. */
    function aliceAndBob(): Room {
      const room = new Room();
      room.join(1, 'alice');
      room.join(2, 'bob');
      return room;
    }

    it('delivers what a member forwards to the others, and announces a member who leaves', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = {
          a: data(1, '<alice> hi'),
          b: close(1),
          c: lost(1),
          A: write([2], '<alice> hi'),
          L: write([2], say.hasLeft('alice')),
        };
        const source = cold<BehaviourItem>('-a-b----c-|', values);
        expectObservable(source.pipe(toRoom(aliceAndBob()))).toBe('-A-(bL)-c-|', values);
        expectSubscriptions(source.subscriptions).toBe('^---------!');
      });
    });

    it('announces a member whose connection is aborted or lost, once, and frees the nick', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const room = aliceAndBob();
        const values = {
          a: abort(2),
          b: lost(2),
          L: write([1], say.hasLeft('bob')),
        };
        expectObservable(cold<BehaviourItem>('-a----b-', values).pipe(toRoom(room))).toBe(
          '-(aL)-b-',
          values,
        );
      });
    });

    it('delivers nothing when nobody else is in the room, and passes other items on', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const room = new Room();
        room.join(1, 'alice');
        const values = { m: made(3), a: data(1, '<alice> anyone?'), f: readLost(3), l: lost(3) };
        expectObservable(cold<BehaviourItem>('-m-a-f-l-|', values).pipe(toRoom(room))).toBe(
          '-m---f-l-|',
          values,
        );
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        expectObservable(cold<BehaviourItem>('-#').pipe(toRoom(new Room()))).toBe('-#');
      });
    });

    it('stops the source when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const source = hot<BehaviourItem>('-a-b-c-', { a: made(1), b: made(2), c: made(3) });
        expectObservable(source.pipe(toRoom(new Room())), '--!').toBe('-a', { a: made(1) });
        expectSubscriptions(source.subscriptions).toBe('^-!');
      });
    });

    it('stops a synchronous source when unsubscribed', () => {
      const emitted: number[] = [];
      const source = new Observable<BehaviourItem>((subscriber) => {
        for (let id = 1; !subscriber.closed && id <= 10; id++) {
          emitted.push(id);
          subscriber.next(made(id));
        }
      });
      source.pipe(toRoom(new Room()), take(2)).subscribe();
      expect(emitted).toEqual([1, 2]);
    });
  });

  describe('Room', () => {
    it('gives a nick to one connection at a time, ignoring case, and frees it on leave', () => {
      const room = new Room();
      expect(room.join(1, 'Alice')).toBe(true);
      expect(room.join(2, 'alice')).toBe(false);
      expect(room.join(1, 'other')).toBe(false);
      expect(room.join(2, 'bob')).toBe(true);
      expect(room.nicks()).toEqual(['Alice', 'bob']);
      expect(room.others(1)).toEqual([2]);
      expect(room.leave(1)).toBe('Alice');
      expect(room.leave(1)).toBeUndefined();
      expect(room.join(3, 'ALICE')).toBe(true);
      expect(room.nicks()).toEqual(['bob', 'ALICE']);
    });
  });

  describe('chat', () => {
    it('announces joins, refuses a taken nick, relays lines to the others, lists nicks, and announces leaves', () => {
      testBehaviour(chat, {
        events: '-m-n-a-b-c---d-e-w-q----l-o-',
        values: {
          m: made(1),
          n: made(2),
          a: data(1, 'alice'),
          b: data(2, 'Alice'),
          c: data(2, 'bob'),
          d: data(1, 'hi bob'),
          e: data(2, 'hello\talice'),
          w: data(2, '/who'),
          q: data(1, '/quit'),
          l: lost(1),
          o: data(2, 'gone?'),
        },
      }).toEmitCommands('-W-X-j-t-(kK)A-B-Y-(yzL)----', {
        W: write(1, CHAT_WELCOME),
        X: write(2, CHAT_WELCOME),
        // Nobody else has joined yet: alice's arrival is announced to no one.
        j: write(1, say.joined('alice', ['alice'])),
        t: write(2, say.taken('Alice')),
        k: write(2, say.joined('bob', ['alice', 'bob'])),
        K: write([1], say.hasJoined('bob')),
        A: write([2], say.line('alice', 'hi bob')),
        B: write([1], say.line('bob', 'hello\talice')),
        Y: write(2, say.who(['alice', 'bob'])),
        y: write(1, say.bye('alice')),
        z: close(1),
        L: write([2], say.hasLeft('alice')),
      });
    });
  });

  describe('command line', () => {
    it('defaults to tcp:6667 and takes an endpoint', () => {
      expect(parseChatArgs([])).toEqual({ endpoint: 'tcp:6667' });
      expect(parseChatArgs(['tcp:7000'])).toEqual({ endpoint: 'tcp:7000' });
      expect(() => parseChatArgs(['tcp:1', 'tcp:2'])).toThrow(UsageError);
      expect(() => parseChatArgs(['--nick', 'x'])).toThrow(UsageError);
      expect(() => parseChatArgs(['--help'])).toThrow(HelpRequested);
    });
  });
});

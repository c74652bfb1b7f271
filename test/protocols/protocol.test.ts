import { once } from 'node:events';
import {
  filter,
  finalize,
  firstValueFrom,
  map,
  mergeMap,
  Observable,
  ReplaySubject,
  scan,
  startWith,
  take,
  takeWhile,
  tap,
  delay,
  type Subscription,
} from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  type AbortCommand,
  type RxnetError,
  broadcast,
  countConnections,
  forward,
  InvalidFrameError,
  lines,
  ProtocolError,
  protocol,
  serve,
  type Behaviour,
  type CloseReason,
  type ConnectionCount,
  type ConnectionMade,
  type Forwarded,
  type ProtocolContext,
  type ServerEvent,
  type ServerNotification,
} from 'rxnet';
import {
  abort,
  close,
  data,
  lost,
  made,
  observableMatcher,
  readLost,
  testBehaviour,
  write,
} from 'rxnet/testing';
import { LOOPBACK, rawClient } from '../helpers/sockets';

/** An abort command with its reason (the testing kit's `abort(id)` has none). */
function abortWith(id: number, reason: RxnetError): AbortCommand {
  return { type: 'abort', id, reason };
}

const upper = (conn: ProtocolContext<string>): Observable<string> =>
  conn.frames$.pipe(map((s) => s.toUpperCase()));

/**
 * The chat of the issue: the nick is per connection (its state lives in `scan`), the room is
 * shared (`broadcast()` after `protocol()` relays what each connection forwards), and the default
 * nick comes from the shared count (`countConnections()` before `protocol()`).
 */
function chatter(
  conn: ProtocolContext<string, ConnectionMade & ConnectionCount>,
): Observable<string | Forwarded<string>> {
  interface Chat {
    readonly nick: string;
    readonly out: readonly (string | Forwarded<string>)[];
    readonly quit: boolean;
  }
  const first: Chat = { nick: `guest${conn.made.count}`, out: [], quit: false };
  return conn.frames$.pipe(
    scan((state: Chat, line: string): Chat => {
      if (line.startsWith('/nick ')) {
        const nick = line.slice('/nick '.length);
        return {
          nick,
          out: [`you are ${nick}`, forward(`${state.nick} is now ${nick}`)],
          quit: false,
        };
      }
      if (line === '/quit') return { ...state, out: ['bye'], quit: true };
      return { ...state, out: [forward(`${state.nick}: ${line}`)] };
    }, first),
    takeWhile((state) => !state.quit, true),
    mergeMap((state) => state.out),
    startWith(`welcome, ${first.nick}`),
  );
}

const chat: Behaviour<string, string> = (events) =>
  events.pipe(countConnections(), protocol(chatter), broadcast());

describe('protocol', () => {
  let testScheduler: TestScheduler;

  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe('(perConnection)', () => {
    it("writes a connection's output to it, and closes it when the output completes", () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = {
          m: made(1),
          a: data(1, 'hi'),
          b: data(1, 'yo'),
          f: readLost(1),
          l: lost(1),
          A: write(1, 'HI'),
          B: write(1, 'YO'),
          c: close(1),
        };
        const e1 = cold(' -m-a--b-f----l-|', values);
        const e1subs = '  ^--------------!';
        const expected = '-m-A--B-(fc)-l-|';

        expectObservable(e1.pipe(protocol(upper))).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('completes on an empty source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<ServerEvent<string>>(' |');
        const e1subs = '  (^!)';
        const expected = '|';

        expectObservable(e1.pipe(protocol(upper))).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('does not complete on a never source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const e1 = cold<ServerEvent<string>>(' -');
        const e1subs = '  ^';
        const expected = '-';

        expectObservable(e1.pipe(protocol(upper))).toBe(expected);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('propagates the error of the source', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const values = { m: made(1), a: data(1, 'hi'), A: write(1, 'HI') };
        const e1 = cold(' -m-a-#', values, new Error('boom'));
        const e1subs = '  ^----!';
        const expected = '-m-A-#';

        expectObservable(e1.pipe(protocol(upper))).toBe(expected, values, new Error('boom'));
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('aborts only the connection whose protocol throws, with a ProtocolError as the reason', () => {
      testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
        const boom = new Error('bad nick');
        const failing = (conn: ProtocolContext<string>): Observable<string> =>
          conn.frames$.pipe(
            map((s) => {
              if (s === 'boom') throw boom;
              return s.toUpperCase();
            }),
          );
        const values = {
          m: made(1),
          n: made(2),
          a: data(1, 'boom'),
          b: data(1, 'after'),
          c: data(2, 'hi'),
          C: write(2, 'HI'),
          x: abortWith(1, new ProtocolError({ cause: boom })),
        };
        const e1 = cold(' -m-n-a-b-c-|', values);
        const e1subs = '  ^----------!';
        const expected = '-m-n-x---C-|';

        expectObservable(e1.pipe(protocol(failing))).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
      });
    });

    it('aborts with the error itself when it is an RxnetError', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const bad = new InvalidFrameError('not a number');
        const values = {
          m: made(1),
          a: data(1, 'x'),
          x: abortWith(1, bad),
        };
        const failing = (conn: ProtocolContext<string>): Observable<string> =>
          conn.frames$.pipe(
            map(() => {
              throw bad;
            }),
          );
        expectObservable(cold('-m-a-|', values).pipe(protocol(failing))).toBe('-m-x-|', values);
      });
    });

    it('aborts the connection when perConnection itself throws', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const boom = new Error('no');
        const values = {
          m: made(1),
          x: abortWith(1, new ProtocolError({ cause: boom })),
        };
        const throwing = (): Observable<string> => {
          throw boom;
        };
        expectObservable(cold('-m---|', values).pipe(protocol(throwing))).toBe('-(mx)|', values);
      });
    });

    it('stops every instance when unsubscribed early', () => {
      testScheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
        const stopped: number[] = [];
        const tracked = (conn: ProtocolContext<string>): Observable<string> =>
          upper(conn).pipe(finalize(() => stopped.push(conn.id)));
        const values = { m: made(1), n: made(2), a: data(1, 'hi'), A: write(1, 'HI') };
        const e1 = hot('  -m-n-a---a-|', values);
        const unsub = '   -------!    ';
        const e1subs = '  ^------!    ';
        const expected = '-m-n-A-     ';

        expectObservable(e1.pipe(protocol(tracked)), unsub).toBe(expected, values);
        expectSubscriptions(e1.subscriptions).toBe(e1subs);
        testScheduler.schedule(() => expect(stopped).toEqual([1, 2]), 8);
      });
    });

    it('stops listening to a synchronous source when unsubscribed', () => {
      const sideEffects: number[] = [];
      const synchronousObservable = new Observable<ServerEvent<string>>((subscriber) => {
        for (let i = 1; !subscriber.closed && i <= 10; i++) {
          sideEffects.push(i);
          subscriber.next(made(i));
        }
      });
      const greeting = (): Observable<string> => new Observable((s) => s.next('hi'));

      // Each connection gives two values, its event and its greeting: three values end inside the second.
      synchronousObservable.pipe(protocol(greeting), take(3)).subscribe(() => {
        /* noop */
      });

      expect(sideEffects).toEqual([1, 2]);
    });
  });

  describe('lifecycle', () => {
    it('writes what the protocol emits at once, right after connectionMade', () => {
      testBehaviour(
        (events) => events.pipe(protocol(() => new Observable<string>((s) => s.next('hello')))),
        { events: '-m-', values: { m: made(1) } },
      ).toEmit('-(mw)-', { m: made(1), w: write(1, 'hello') });
    });

    it('lets the protocol reply after the peer FIN, then closes', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const slow = (conn: ProtocolContext<string>): Observable<string> =>
          conn.frames$.pipe(delay(3));
        const values = {
          m: made(1),
          a: data(1, 'hi'),
          f: readLost(1),
          w: write(1, 'hi'),
          c: close(1),
        };
        expectObservable(cold('-m-af------', values).pipe(protocol(slow))).toBe(
          '-m--f-(wc)-',
          values,
        );
      });
    });

    it('gives closed$ the reason at connectionLost, then unsubscribes the instance', () => {
      const reasons: CloseReason[] = [];
      const stopped: number[] = [];
      const reason: CloseReason = { type: 'aborted' };
      const watching = (conn: ProtocolContext<string>): Observable<string> => {
        conn.closed$.subscribe((r) => reasons.push(r));
        return new Observable<string>(() => () => stopped.push(conn.id));
      };
      testBehaviour<string, string>((events) => events.pipe(protocol(watching)), {
        events: '-m-l-',
        values: { m: made(1), l: lost(1, reason) },
      }).toEmit('-m-l-', { m: made(1), l: lost(1, reason) });
      expect(reasons).toEqual([reason]);
      expect(stopped).toEqual([1]);
    });

    it('drops the frames of a connection whose protocol has completed', () => {
      testBehaviour<string, string>(
        (events) => events.pipe(protocol((conn) => conn.frames$.pipe(take(1)))),
        {
          events: '-m-a-b-l-',
          values: { m: made(1), a: data(1, 'one'), b: data(1, 'two'), l: lost(1) },
        },
      ).toEmit('-m-(wc)l-', { m: made(1), w: write(1, 'one'), c: close(1), l: lost(1) });
    });

    it('stops the instance at a close command from upstream', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = { m: made(1), c: close(1), a: data(1, 'late') };
        expectObservable(cold('-m-c-a-', values).pipe(protocol(upper))).toBe('-m-c---', values);
      });
    });

    it('stops the instance at an abort command from upstream', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const values = { m: made(1), x: abort(1), a: data(1, 'late') };
        expectObservable(cold('-m-x-a-', values).pipe(protocol(upper))).toBe('-m-x---', values);
      });
    });

    it('passes the messages the protocol forwards down the pipeline as data events', () => {
      const tagged = (conn: ProtocolContext<string>): Observable<Forwarded<string>> =>
        conn.frames$.pipe(map((line) => forward(`${conn.id} said ${line}`)));
      testBehaviour((events) => events.pipe(protocol(tagged)), {
        events: '-m-a-',
        values: { m: made(1), a: data(1, 'hi') },
      }).toEmit('-m-d-', { m: made(1), d: data(1, '1 said hi') });
    });
  });

  describe('with server-wide behaviours', () => {
    it('keeps each nick per connection and shares the room through broadcast', () => {
      const values = {
        m: made(1),
        n: made(2),
        a: data(1, '/nick bob'),
        b: data(2, 'hello'),
        c: data(1, 'hi all'),
        q: data(1, '/quit'),
        l: lost(1),
        d: data(2, 'anyone?'),
      };
      testBehaviour(chat, { events: '-m-n-a----b-c-q----l-d-', values }).toEmitCommands(
        '-w-v-(xy)-z-u-(ic)---',
        {
          w: write(1, 'welcome, guest1'),
          v: write(2, 'welcome, guest2'),
          x: write(1, 'you are bob'),
          y: write([2], 'guest1 is now bob'),
          z: write([1], 'guest2: hello'),
          u: write([2], 'bob: hi all'),
          i: write(1, 'bye'),
          c: close(1),
        },
      );
    });

    it('serves the chat over real sockets, and a failing connection ends alone', async () => {
      const failing: Behaviour<string, string> = (events) =>
        events.pipe(
          countConnections(),
          // The chat, with one more rule: the line 'boom' makes its connection's protocol throw.
          protocol((conn: ProtocolContext<string, ConnectionMade & ConnectionCount>) =>
            chatter({
              ...conn,
              frames$: conn.frames$.pipe(
                tap((line) => {
                  if (line === 'boom') throw new Error('boom');
                }),
              ),
            }),
          ),
          broadcast(),
        );
      const notifications$ = new ReplaySubject<ServerNotification>();
      let subscription: Subscription | undefined;
      const port = await new Promise<number>((resolve, reject) => {
        subscription = serve(LOOPBACK, failing, {
          decode: lines({ delimiter: '\n', encoding: 'utf8' }),
          encode: (line) => `${line}\n`,
        }).subscribe({
          next(notification) {
            notifications$.next(notification);
            if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
              resolve(notification.address.port);
            }
          },
          error: reject,
        });
      });
      try {
        const alice = await rawClient(port);
        alice.setEncoding('utf8');
        const [welcomeAlice] = (await once(alice, 'data')) as [string];
        expect(welcomeAlice).toBe('welcome, guest1\n');
        const bob = await rawClient(port);
        bob.setEncoding('utf8');
        bob.on('error', () => undefined);
        const [welcomeBob] = (await once(bob, 'data')) as [string];
        expect(welcomeBob).toBe('welcome, guest2\n');

        alice.write('/nick alice\n');
        const [renamed] = (await once(alice, 'data')) as [string];
        expect(renamed).toBe('you are alice\n');
        const [told] = (await once(bob, 'data')) as [string];
        expect(told).toBe('guest1 is now alice\n');

        bob.write('boom\n');
        const bobLost = await firstValueFrom(
          notifications$.pipe(filter((n) => n.type === 'connectionLost' && n.id === 2)),
        );
        expect(bobLost).toMatchObject({
          reason: { type: 'aborted', error: { code: 'RXNET_ERR_PROTOCOL' } },
        });

        alice.write('still here\n/quit\n');
        let rest = '';
        alice.on('data', (chunk: string) => (rest += chunk));
        await once(alice, 'end');
        expect(rest).toBe('bye\n');
      } finally {
        subscription?.unsubscribe();
      }
    });
  });
});

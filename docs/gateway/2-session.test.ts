import {
  asyncScheduler,
  concatMap,
  EMPTY,
  of,
  timeout,
  type Observable,
  type SchedulerLike,
} from 'rxjs';
import { protocol, type Behaviour, type ProtocolContext } from 'rxnet';
import { close, data, made, testBehaviour, testProtocol, write } from 'rxnet/testing';

interface Frame {
  readonly commandId: number;
  readonly status: number;
  readonly seq: number;
  readonly body?: { readonly [key: string]: unknown };
}

const AUTHORIZE = 0x00000001;
const HEARTBEAT = 0x00000002;
const IDLE_TIMEOUT = 300_000;
/** The session's clock: the gateway takes it as an option; under `testProtocol` it is virtual. */
const clock: SchedulerLike = asyncScheduler;

/** A response: the request's id with bit 31 set, and the request's seq. */
function reply(request: Frame, status: number, body?: Frame['body']): Frame {
  const commandId = (request.commandId | 0x80000000) >>> 0;
  return body === undefined
    ? { commandId, status, seq: request.seq }
    : { commandId, status, seq: request.seq, body };
}

/**
 * One connection: a relayer logs in by sb_code, then sends heartbeats. Anything before the login
 * gets status 13; 300 s without a frame ends the session, which closes the connection.
 */
function session(conn: ProtocolContext<Frame>): Observable<Frame> {
  let sbCode: string | undefined;
  return conn.frames$.pipe(
    // The idle rule: each frame restarts the clock; silence completes the session (a clean close).
    // The clock is a scheduler, so the tests below run it in virtual time.
    timeout({ each: IDLE_TIMEOUT, with: () => EMPTY, scheduler: clock }),
    concatMap((frame) => {
      if (frame.commandId === AUTHORIZE) {
        const code = frame.body?.['sb_code'];
        sbCode = typeof code === 'string' ? code : undefined;
        return of(
          reply(frame, sbCode === undefined ? 14 : 0, { result: sbCode === undefined ? 1 : 0 }),
        );
      }
      if (sbCode === undefined) return of(reply(frame, 13));
      if (frame.commandId === HEARTBEAT) return of(reply(frame, 0));
      return of(reply(frame, 19, { error: 'unknown command' }));
    }),
  );
}

const login: Frame = { commandId: AUTHORIZE, status: 0, seq: 1, body: { sb_code: 'box-1' } };
const beat: Frame = { commandId: HEARTBEAT, status: 0, seq: 2 };

describe('a relayer session', () => {
  it('answers the login and each heartbeat, and ends exactly 300 s after the last frame', () => {
    testProtocol(session, {
      frames: '-a-b 99s c-',
      values: { a: login, b: beat, c: { ...beat, seq: 3 } },
    }).toEmit('-x-y 99s z 299999ms |', {
      x: reply(login, 0, { result: 0 }),
      y: reply(beat, 0),
      z: reply({ ...beat, seq: 3 }, 0),
    });
  });

  it('answers 13 to a heartbeat before the login, and ends 300 s later all the same', () => {
    testProtocol(session, { frames: '-b-', values: { b: beat } }).toEmit('-x 299999ms |', {
      x: reply(beat, 13),
    });
  });
});

const relayers: Behaviour<Frame, Frame> = (events) => events.pipe(protocol(session));

describe('relayers, a server', () => {
  it('runs one session per connection, each with its own idle clock', () => {
    testBehaviour(relayers, {
      events: '-m-n-a-b 299996ms c-',
      values: {
        m: made(1),
        n: made(2),
        a: data(1, login),
        b: data(2, login),
        c: data(2, beat),
      },
    }).toEmitCommands('-----x-y 299996ms zc 299998ms d', {
      x: write(1, reply(login, 0, { result: 0 })),
      y: write(2, reply(login, 0, { result: 0 })),
      z: write(2, reply(beat, 0)),
      c: close(1),
      d: close(2),
    });
  });
});

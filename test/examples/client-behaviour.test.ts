import { filter } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { ConnectError, type ClientEvent, type ServerCommand, type ServerEvent } from 'rxnet';
import { forward } from 'rxnet';
import { close, data, lost, made, observableMatcher, testProtocol, write } from 'rxnet/testing';
import { formatTimestamp } from '../../examples/cli';
import { ECHO_MESSAGE, echoProtocol } from '../../examples/echo-client';
import { echoBehaviour } from '../../examples/echo-server';
import {
  helloMessage,
  spreadClient,
  spreadProtocol,
  spreadSender,
} from '../../examples/spread-client';

type Item = ServerCommand | ServerEvent<unknown>;
const isCommand = (item: Item): item is ServerCommand =>
  item.type === 'write' || item.type === 'close' || item.type === 'abort';

let testScheduler: TestScheduler;
beforeEach(() => {
  testScheduler = new TestScheduler(observableMatcher);
});

describe('spreadSender', () => {
  describe('every and count', () => {
    it('sends at once, then every `every` seconds in virtual time, with timestamps from the scheduler', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const connections = cold('c|');
        expectObservable(
          connections.pipe(
            spreadSender({ name: 'tester', every: 5, count: 3, scheduler: testScheduler }),
          ),
        ).toBe('a 4999ms b 4999ms (c|)', {
          a: helloMessage('tester', 0),
          b: helloMessage('tester', 5000),
          c: helloMessage('tester', 10000),
        });
      });
    });

    it('starts a new series for each new connection, dropping the old one', () => {
      testScheduler.run(({ hot, expectObservable }) => {
        const connections = hot('a 1500ms b');
        expectObservable(
          connections.pipe(spreadSender({ name: 'n', every: 1, scheduler: testScheduler })),
          '^ 3000ms !',
        ).toBe('x 999ms y 500ms z 999ms w', {
          x: helloMessage('n', 0),
          y: helloMessage('n', 1000),
          z: helloMessage('n', 1501),
          w: helloMessage('n', 2501),
        });
      });
    });

    it('defaults to a message every 5 seconds', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        expectObservable(
          cold('c').pipe(spreadSender({ name: 'n', scheduler: testScheduler })),
          '^ 10s !',
        ).toBe('a 4999ms b 4999ms c', {
          a: helloMessage('n', 0),
          b: helloMessage('n', 5000),
          c: helloMessage('n', 10000),
        });
      });
    });
  });

  describe('helloMessage', () => {
    it('is the seed message with a local timestamp', () => {
      const now = new Date(2026, 0, 2, 3, 4, 5).getTime();
      expect(helloMessage('alice', now)).toBe("hello, I'm alice 2026-01-02 03:04:05");
      expect(helloMessage('alice', now)).toBe(`hello, I'm alice ${formatTimestamp(now)}`);
    });
  });
});

describe('spreadProtocol', () => {
  it('prints what arrives and writes its messages, then completes after --count, which ends the connection', () => {
    const logged: string[] = [];
    let finished = false;
    testProtocol(
      spreadProtocol(
        { name: 'n', every: 1, count: 2, scheduler: testScheduler },
        (line) => {
          logged.push(`${testScheduler.now()} ${line}`);
        },
        () => (finished = true),
      ),
      {
        frames: '-g 1500ms h',
        values: { g: Buffer.from('welcome\n'), h: Buffer.from('too late\r\n') },
        scheduler: testScheduler,
      },
    ).toEmit('a 999ms (b|)', { a: helloMessage('n', 0), b: helloMessage('n', 1000) });
    expect(finished).toBe(true);
    // The line ending goes, as print() in the seed adds its own; nothing is printed after the end.
    expect(logged).toEqual(['1 welcome']);
  });

  it('runs until the connection closes when there is no --count', () => {
    testProtocol(
      spreadProtocol({ name: 'n', every: 1, scheduler: testScheduler }, () => {}),
      {
        frames: '-',
        closed: '1500ms c',
        reasons: { c: { type: 'done' } },
        scheduler: testScheduler,
      },
    ).toEmit('a 999ms b', { a: helloMessage('n', 0), b: helloMessage('n', 1000) });
  });
});

describe('echoProtocol', () => {
  it('writes the message, forwards the first chunk back as text, and is done', () => {
    testProtocol(echoProtocol(), {
      frames: '---r-s-|',
      values: { r: Buffer.from(ECHO_MESSAGE), s: Buffer.from('more') },
      scheduler: testScheduler,
    }).toEmit('m--(f|)', { m: ECHO_MESSAGE, f: forward(ECHO_MESSAGE) });
  });

  it('forwards nothing when the connection closes first', () => {
    testProtocol(echoProtocol('hi'), {
      frames: '-----',
      closed: '--c',
      reasons: { c: { type: 'done' } },
      scheduler: testScheduler,
    }).toEmit('m----', { m: 'hi' });
  });
});

describe('spreadClient', () => {
  const connecting: ClientEvent = { type: 'connecting', endpoint: 'tcp:localhost:8007' };
  const failed: ClientEvent = { type: 'failed', error: new ConnectError('tcp:localhost:8007') };
  const failedLine =
    'Connection is failed, Reason: RXNET_ERR_CONNECT: Could not connect to tcp:localhost:8007';

  describe('without reconnect', () => {
    it('logs a failed attempt and emits exit code 1', () => {
      const logged: string[] = [];
      testScheduler.run(({ cold, expectObservable }) => {
        const attempt = cold<ClientEvent>('a-(b|)', { a: connecting, b: failed });
        expectObservable(
          spreadClient(() => attempt, {
            log: (line) => logged.push(line),
            scheduler: testScheduler,
          }),
        ).toBe('--(x|)', { x: 1 });
      });
      expect(logged).toEqual(['Start to Connect...', failedLine]);
    });
  });

  describe('reconnect', () => {
    it('makes a new attempt after each failure, with the backoff on the injected scheduler', () => {
      const logged: string[] = [];
      let attempts = 0;
      testScheduler.run(({ cold, expectObservable }) => {
        const attempt = cold<ClientEvent>('(ab|)', { a: connecting, b: failed });
        const client = spreadClient(
          () => {
            attempts += 1;
            return attempt;
          },
          {
            log: (line) => logged.push(`${testScheduler.now()} ${line}`),
            scheduler: testScheduler,
            reconnect: { initialDelay: 10, factor: 2, jitter: 0, maxRetries: 2 },
          },
        );
        // Retries after 20 ms, then 40 ms more; after maxRetries it ends as the last attempt did.
        expectObservable(client).toBe('60ms (x|)', { x: 1 });
      });
      expect(attempts).toBe(3);
      expect(logged).toEqual([
        '0 Start to Connect...',
        `0 ${failedLine}`,
        '20 Start to Connect...',
        `20 ${failedLine}`,
        '60 Start to Connect...',
        `60 ${failedLine}`,
      ]);
    });
  });
});

describe('echoBehaviour', () => {
  it('echoes the first chunk, then closes, and logs like the seed', () => {
    const logged: string[] = [];
    testScheduler.run(({ hot, expectObservable }) => {
      const events = hot<ServerEvent<string>>('a-b-c-d-', {
        a: made(1),
        b: data(1, 'hi'),
        c: data(1, 'late'),
        d: lost(1),
      });
      expectObservable(
        echoBehaviour({ log: (line) => logged.push(line) })(events).pipe(filter(isCommand)),
      ).toBe('--(wx)--', {
        w: write(1, 'hi'),
        x: close(1),
      });
    });
    expect(logged).toEqual([
      '> New connection made,from client!',
      '> Now conn=1',
      '> Data from client: hi',
      ">Host:  MemoryAddress('server')",
      ">Peer:  MemoryAddress('client-1')",
    ]);
  });

  it('counts connections as they come and go', () => {
    const logged: string[] = [];
    testScheduler.run(({ hot, expectObservable }) => {
      const events = hot<ServerEvent<string>>('abcd', {
        a: made(1),
        b: made(2),
        c: lost(1),
        d: made(3),
      });
      expectObservable(
        echoBehaviour({ log: (line) => logged.push(line) })(events).pipe(filter(isCommand)),
      ).toBe('----');
    });
    expect(logged.filter((line) => line.startsWith('> Now'))).toEqual([
      '> Now conn=1',
      '> Now conn=2',
      '> Now conn=2',
    ]);
  });
});

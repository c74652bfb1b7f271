/**
 * The chat example on the virtual network: the real server code (`serveConnections`, `fromDuplex`)
 * with the example's behaviour and framing, and clients that are per-connection protocols run by
 * `runProtocol`, scripted in virtual time, with exact expected output.
 */
import {
  ignoreElements,
  merge,
  type OperatorFunction,
  Subject,
  type Subscription,
  tap,
} from 'rxjs';
import { lines, runProtocol, serveConnections, type Output } from 'rxnet';
import { VirtualNetwork } from 'rxnet/testing';
import { CHAT_WELCOME, chat, chatFraming, say } from '../../examples/chat';

/** How a client frames its lines: as `nc` (`\n`) or as telnet (`\r\n`); both read `\n` lines. */
const framings: Record<
  'nc' | 'telnet',
  { decode: OperatorFunction<Buffer, string>; encode: (line: string) => Output }
> = {
  nc: { decode: lines({ delimiter: '\n', encoding: 'utf8' }), encode: (line) => `${line}\n` },
  telnet: { decode: lines({ delimiter: '\n', encoding: 'utf8' }), encode: (line) => `${line}\r\n` },
};

describe('examples/chat on the virtual network', () => {
  let subscriptions: Subscription[];
  beforeEach(() => {
    subscriptions = [];
  });
  afterEach(() => subscriptions.forEach((subscription) => subscription.unsubscribe()));

  /**
   * A client that types `script`'s lines at their times, and logs each line it reads, stamped
   * with the virtual time, and `(closed)` when its connection ends.
   */
  function client(
    net: VirtualNetwork,
    name: string,
    log: string[],
    script: Readonly<Record<number, string>>,
    kind: 'nc' | 'telnet' = 'nc',
  ): void {
    const typed = new Subject<string>();
    for (const [time, line] of Object.entries(script)) net.at(Number(time), () => typed.next(line));
    subscriptions.push(
      net.connect('chat').subscribe((connection) => {
        runProtocol(
          connection,
          (conn) =>
            merge(
              conn.frames$.pipe(
                tap((line) => log.push(`${net.now()} ${name}: ${line}`)),
                ignoreElements(),
              ),
              typed,
            ),
          framings[kind],
        ).subscribe({ complete: () => log.push(`${net.now()} ${name}: (closed)`) });
      }),
    );
  }

  it('runs a session of four clients: nicks, a refusal, lines, /who, a reset, /quit, and a nick freed', async () => {
    const net = new VirtualNetwork({ latency: 10 });
    subscriptions.push(
      serveConnections(net.listen('chat'), chat, { framing: chatFraming() }).subscribe(),
    );
    const log: string[] = [];
    client(net, 'alice', log, { 100: 'alice', 1000: 'hi all' });
    net.at(200, () => client(net, 'bob', log, { 300: 'ALICE', 400: 'bob' }));
    net.at(500, () =>
      client(net, 'carol', log, { 600: 'carol', 2000: '/who', 4000: '/quit' }, 'telnet'),
    );
    net.at(3000, () => net.links[1]!.reset());
    net.at(5000, () => client(net, 'dave', log, { 5100: 'bob', 5200: '/who' }));
    await net.run(10_000);

    expect(log).toEqual([
      `20 alice: ${CHAT_WELCOME}`,
      `120 alice: ${say.joined('alice', ['alice'])}`,
      `220 bob: ${CHAT_WELCOME}`,
      `320 bob: ${say.taken('ALICE')}`,
      // Within one instant, the order across clients is the server's write order: the joiner's
      // own reply (line and delimiter joined into one write) goes out at once, while a line to
      // the room is joined with the others of its chunk and written once the chunk is handled.
      `420 bob: ${say.joined('bob', ['alice', 'bob'])}`,
      `420 alice: ${say.hasJoined('bob')}`,
      `520 carol: ${CHAT_WELCOME}`,
      `620 carol: ${say.joined('carol', ['alice', 'bob', 'carol'])}`,
      `620 alice: ${say.hasJoined('carol')}`,
      `620 bob: ${say.hasJoined('carol')}`,
      `1020 bob: ${say.line('alice', 'hi all')}`,
      `1020 carol: ${say.line('alice', 'hi all')}`,
      `2020 carol: ${say.who(['alice', 'bob', 'carol'])}`,
      // The reset reaches both ends at once; the server announces bob's leaving a trip later.
      '3000 bob: (closed)',
      `3010 alice: ${say.hasLeft('bob')}`,
      `3010 carol: ${say.hasLeft('bob')}`,
      `4020 carol: ${say.bye('carol')}`,
      `4020 alice: ${say.hasLeft('carol')}`,
      '4020 carol: (closed)',
      `5020 dave: ${CHAT_WELCOME}`,
      `5120 dave: ${say.joined('bob', ['alice', 'bob'])}`,
      `5120 alice: ${say.hasJoined('bob')}`,
      `5220 dave: ${say.who(['alice', 'bob'])}`,
    ]);
  });
});

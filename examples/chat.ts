/**
 * A chat server for `nc` and `telnet`: the first line a client sends is its nick (a taken or
 * malformed nick is refused, and the client tries again); after that each line goes to the others
 * as `<nick> text`, `/who` lists who is here, `/quit` leaves, and joins and leaves are announced.
 *
 * Each connection's conversation is a per-connection protocol, {@link chatter}, run by rxnet's
 * `protocol()`: its nick is private state of that connection. What the connections share is the
 * {@link Room}: who is in it, and so which nicks are taken. The protocols ask the room when a
 * client picks a nick and when it asks `/who`; what they `forward()` goes on down the server's
 * pipeline to {@link toRoom}, which delivers it to the other members and announces whoever leaves.
 * The whole server is {@link chat}, a pure function of the server's events: one room per server.
 *
 * Run: `npx ts-node examples/chat.ts [ENDPOINT]` (`npm run example:chat`); the endpoint defaults
 * to `tcp:6667`. Then `nc localhost 6667` or `telnet localhost 6667`, from several terminals.
 *
 * @packageDocumentation
 */
import { concatMap, defer, type OperatorFunction, startWith, takeWhile } from 'rxjs';
import {
  forward,
  lines,
  protocol,
  write,
  type Behaviour,
  type BehaviourItem,
  type ConnectionId,
  type DataReceived,
  type Forwarded,
  type Framing,
  type PerConnection,
  type WriteCommand,
} from 'rxnet';
import {
  consoleLog,
  parseCommandLine,
  runMain,
  serveLogged,
  type Log,
  type LoggedServer,
} from './cli';

/** Where the chat listens by default: IRC's port, on every IPv4 interface. */
export const DEFAULT_CHAT_ENDPOINT = 'tcp:6667';

/** The longest nick, in characters. */
export const MAX_NICK_LENGTH = 16;

/** What a client reads first. */
export const CHAT_WELCOME = 'Welcome to the chat! What is your nick?';

/** The answer to a nick that is not 1 to {@link MAX_NICK_LENGTH} letters, digits, `_` or `-`. */
export const BAD_NICK = `A nick is 1 to ${MAX_NICK_LENGTH} letters, digits, _ or -. Try another:`;

/** The lines the chat writes, named so tests and docs build them exactly as the server does. */
export const say = {
  /** To a client whose nick someone already has (nicks are compared ignoring case). */
  taken: (nick: string) => `The nick ${nick} is taken. Try another:`,
  /** To a client that has just joined; `nicks` includes its own. */
  joined: (nick: string, nicks: readonly string[]) =>
    `Hello, ${nick}! Here: ${nicks.join(', ')}. /who lists who is here, /quit leaves.`,
  /** To the others, when someone joins. */
  hasJoined: (nick: string) => `* ${nick} has joined`,
  /** To the others, when someone leaves: `/quit`, a closed connection, or a failure. */
  hasLeft: (nick: string) => `* ${nick} has left`,
  /** To the others: one line of a member. */
  line: (nick: string, text: string) => `<${nick}> ${text}`,
  /** The answer to `/who`. */
  who: (nicks: readonly string[]) =>
    nicks.length === 0 ? '* Nobody is here yet' : `* Here: ${nicks.join(', ')}`,
  /** The answer to `/quit`, before the connection closes. */
  bye: (nick: string | undefined) => (nick === undefined ? 'Bye!' : `Bye, ${nick}!`),
  /** The answer to any other line starting with `/`. */
  unknown: (command: string) => `* Unknown command ${command}. Try /who or /quit`,
  /** To every member when the server begins a graceful shutdown (SIGTERM, Ctrl-C). */
  shuttingDown: '* The server is shutting down. Bye!',
};

const NICK = new RegExp(`^[\\p{L}\\p{N}_-]{1,${MAX_NICK_LENGTH}}$`, 'u');

/**
 * Who is in the room, by connection, in the order they joined: the state every connection's
 * protocol shares. {@link chat} makes one per server; nothing else holds it.
 */
export class Room {
  private readonly members = new Map<ConnectionId, string>();
  /** The taken nicks, lower-cased, so `Alice` and `alice` are one nick. */
  private readonly taken = new Set<string>();

  /** Takes `nick` for connection `id`; `false`, changing nothing, when it is taken. */
  join(id: ConnectionId, nick: string): boolean {
    const key = nick.toLowerCase();
    if (this.taken.has(key) || this.members.has(id)) return false;
    this.taken.add(key);
    this.members.set(id, nick);
    return true;
  }

  /** Lets `id`'s nick go; returns it, or `undefined` when `id` had none. */
  leave(id: ConnectionId): string | undefined {
    const nick = this.members.get(id);
    if (nick === undefined) return undefined;
    this.members.delete(id);
    this.taken.delete(nick.toLowerCase());
    return nick;
  }

  /** The members' nicks, in the order they joined. */
  nicks(): string[] {
    return [...this.members.values()];
  }

  /** Every member but `id`. */
  others(id: ConnectionId): ConnectionId[] {
    return [...this.members.keys()].filter((member) => member !== id);
  }

  /** Every member. */
  everyone(): ConnectionId[] {
    return [...this.members.keys()];
  }
}

/**
 * One connection's side of the chat, as a per-connection protocol: asks for a nick until the room
 * grants one, then forwards each line as `<nick> text`, answers `/who`, and completes at `/quit`
 * (or when the client closes its side), which closes the connection.
 *
 * ```text
 * frames: --a--b-----c--q|      a='bob'  b='alice'  c='hi all'  q='/quit'   (bob has joined)
 * output: w-t--(jJ)--C--(y|)    w=CHAT_WELCOME  t=say.taken('bob')  j=say.joined('alice', …)
 *                               J=forward('* alice has joined')  C=forward('<alice> hi all')
 *                               y='Bye, alice!'
 * ```
 *
 * Written values go to this connection; forwarded ones are for the others, which {@link toRoom}
 * delivers.
 */
export function chatter(room: Room): PerConnection<string, string, string> {
  return (conn) =>
    defer(() => {
      // This connection's nick, once the room has granted it: the protocol's own state.
      let nick: string | undefined;
      const answer = (line: string): (string | Forwarded<string>)[] => {
        const command = line.trim();
        if (command === '') return [];
        if (command === '/who') return [say.who(room.nicks())];
        if (command === '/quit') return [say.bye(nick)];
        if (command.startsWith('/')) return [say.unknown(command.split(' ')[0]!)];
        if (nick !== undefined) return [forward(say.line(nick, line))];
        if (!NICK.test(command)) return [BAD_NICK];
        if (!room.join(conn.id, command)) return [say.taken(command)];
        nick = command;
        return [say.joined(nick, room.nicks()), forward(say.hasJoined(nick))];
      };
      return conn.frames$.pipe(
        takeWhile((line) => line.trim() !== '/quit', true),
        concatMap(answer),
        startWith(CHAT_WELCOME),
      );
    });
}

/**
 * The room's side: delivers each line a protocol forwards to the other members of the room, and
 * announces a member's leaving when its connection is closed, aborted or lost (its nick is free
 * again from then on).
 *
 * ```text
 * source:   -a-b----c-|     a=data(1,'<alice> hi')  b=close(1)  c=lost(1)   (alice and bob joined)
 * toRoom(): -A-(bL)-c-|     A=write([2],'<alice> hi')  L=write([2],'* alice has left')
 * ```
 *
 * When the server begins a graceful shutdown (`shuttingDown`), every member is told
 * {@link say}`.shuttingDown` before the connections end. The forwarded `data` events stop here:
 * what reaches the end of the pipeline are the lifecycle events and the commands.
 */
export function toRoom<E extends BehaviourItem>(
  room: Room,
): OperatorFunction<E, Exclude<E, DataReceived<unknown>> | WriteCommand<string>> {
  return concatMap((value) => {
    const item: BehaviourItem = value;
    switch (item.type) {
      case 'data': {
        const to = room.others(item.id);
        return to.length === 0 ? [] : [write(to, String(item.data))];
      }
      case 'close':
      case 'abort':
      case 'connectionLost': {
        const passed = value as Exclude<E, DataReceived<unknown>>;
        const nick = room.leave(item.id);
        const to = room.others(item.id);
        return nick === undefined || to.length === 0
          ? [passed]
          : [passed, write(to, say.hasLeft(nick))];
      }
      case 'shuttingDown': {
        const passed = value as Exclude<E, DataReceived<unknown>>;
        const everyone = room.everyone();
        return everyone.length === 0 ? [passed] : [passed, write(everyone, say.shuttingDown)];
      }
      default:
        return [value as Exclude<E, DataReceived<unknown>>];
    }
  });
}

/**
 * The chat server's logic: each connection runs {@link chatter}, and they meet in one
 * {@link Room}, made per subscription, so two servers built from it share nobody.
 */
export const chat: Behaviour<string, string> = (events) =>
  defer(() => {
    const room = new Room();
    return events.pipe(protocol(chatter(room)), toRoom(room));
  });

/**
 * The chat's framing, both ways: UTF-8 lines ending in `\n` or `\r\n` (`nc` sends the one, telnet
 * and `nc -C` the other), written with `\n`; a last line without its newline still counts when
 * the client closes (`printf 'bob\nhi' | nc -N`).
 */
export function chatFraming(): Framing<string> {
  return lines({ delimiter: '\n', anyNewline: true, encoding: 'utf8', allowTruncation: true });
}

/** Options of {@link start}. */
export interface ChatServerOptions {
  /** A Twisted server endpoint description. @defaultValue {@link DEFAULT_CHAT_ENDPOINT} */
  readonly endpoint?: string;
  /** Where `listening on …` and each connection's arrival and close are printed. @defaultValue stdout */
  readonly log?: Log;
}

/**
 * Serves {@link chat} with {@link chatFraming} and resolves once it listens, logging
 * `listening on HOST:PORT`, then `#ID connected from HOST:PORT` and `#ID closed: REASON` for
 * each connection. `stop()` stops listening and ends every connection gracefully. Rejects with
 * `InvalidEndpointError` for a bad description and `ListenError` when binding fails.
 */
export function start(options: ChatServerOptions = {}): Promise<LoggedServer> {
  const { endpoint = DEFAULT_CHAT_ENDPOINT, log = consoleLog } = options;
  return serveLogged(endpoint, chat, { framing: chatFraming() }, log);
}

/** The usage line printed, with exit code 2, for bad arguments. */
export const USAGE = 'usage: chat [ENDPOINT (default tcp:6667)]';

/** The option list `--help` prints under {@link USAGE}. */
export const HELP = `A chat server for nc and telnet. The first line a client sends is its nick; then each
line goes to the others as "<nick> text", /who lists who is here, /quit leaves.

  ENDPOINT           a Twisted server endpoint, e.g. tcp:6667 or tcp:6667:interface=127.0.0.1
  -h, --help         print this help and exit`;

/** Parses the command line of `chat`; throws `UsageError` when it is wrong. */
export function parseChatArgs(argv: readonly string[]): ChatServerOptions {
  const { endpoint } = parseCommandLine(argv, {});
  return { endpoint: endpoint ?? DEFAULT_CHAT_ENDPOINT };
}

if (require.main === module) runMain(USAGE, parseChatArgs, start, HELP);

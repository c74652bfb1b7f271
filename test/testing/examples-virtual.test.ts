/**
 * Every example's behaviour on the virtual network: the real server code (`serveConnections`,
 * `fromDuplex`) and the examples' own pipelines, with minutes of virtual time per scenario and
 * exact expected output.
 */
import { map, mergeMap, range, type Subscription, switchMap } from 'rxjs';
import { askEcho, ECHO_MESSAGE } from '../../examples/echo-client';
import { echoBehaviour } from '../../examples/echo-server';
import { helloMessage, spreadClient, spreadSession } from '../../examples/spread-client';
import {
  spreadBehaviour,
  spreadDecoder,
  spreadGreeting,
  type SpreadBehaviourOptions,
  SPREAD_HALF_OPEN_TIMEOUT,
} from '../../examples/spread-server';
import { VirtualNetwork } from '../../src/testing/virtualNetwork';
import { serveConnections } from '../../src/transport/serveConnections';
import type { Connection } from '../../src/types';

/** Wall-clock milliseconds each scenario took, reported after the suite. */
const wallTimes: Record<string, number> = {};

/**
 * Lines in time order, and in a fixed order within one instant: which of two peers logs first at
 * the same virtual time depends on stream scheduling that no wire can observe, so specs compare
 * each instant as a set. A line's own actor still logs in order, as each actor's lines differ.
 */
function byInstant(lines: readonly string[]): string[] {
  const time = (line: string): number => Number(line.slice(0, line.indexOf(' ')));
  return [...lines].sort((a, b) => time(a) - time(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** The lines `who` printed, in the order printed. */
function linesBy(lines: readonly string[], who: string): string[] {
  return lines.filter((line) => line.split(' ')[1] === `${who}:`);
}

/** A log that stamps each line with the virtual time and who printed it. */
function stampedLog(net: VirtualNetwork, lines: string[], who: string): (line: string) => void {
  return (line) => {
    lines.push(`${net.now()} ${who}: ${line}`);
  };
}

describe('examples on the virtual network', () => {
  let subscriptions: Subscription[];
  beforeEach(() => {
    subscriptions = [];
  });
  afterEach(() => {
    for (const subscription of subscriptions) {
      subscription.unsubscribe();
    }
  });
  afterAll(() => {
    // Reported rather than asserted: a loaded machine must not fail the suite.
    console.log(`virtual-network scenarios, wall ms: ${JSON.stringify(wallTimes)}`);
  });

  async function timed(label: string, net: VirtualNetwork, until: number): Promise<void> {
    const started = performance.now();
    await net.run(until);
    wallTimes[label] = Math.round(performance.now() - started);
  }

  function serveSpread(
    net: VirtualNetwork,
    lines: string[],
    options: SpreadBehaviourOptions = {},
  ): Subscription {
    const behaviour = spreadBehaviour({ ...options, log: stampedLog(net, lines, 'server') });
    const decode = spreadDecoder(options.framing ?? 'raw');
    const server = serveConnections(
      // The example's own listen option: the Twisted original ends a connection at the client's FIN.
      net.listen('spread', { halfOpenTimeout: SPREAD_HALF_OPEN_TIMEOUT }),
      behaviour,
      decode === undefined ? {} : { decode },
    ).subscribe();
    subscriptions.push(server);
    return server;
  }

  /** The spread client's session (printing, and `hello` every 5 s) on a virtual connection. */
  function sessionClient(
    net: VirtualNetwork,
    name: string,
    lines: string[],
    count?: number,
  ): { connection?: Connection } {
    const client: { connection?: Connection } = {};
    subscriptions.push(
      net
        .connect('spread')
        .pipe(
          switchMap((connection) => {
            client.connection = connection;
            const options = {
              name,
              every: 5,
              scheduler: net.scheduler,
              ...(count === undefined ? {} : { count }),
            };
            return spreadSession(connection, options, stampedLog(net, lines, name));
          }),
        )
        .subscribe({ complete: () => lines.push(`${net.now()} ${name}: (closed)`) }),
    );
    return client;
  }

  /** A client that only prints what it receives, one line per chunk, like `nc`. */
  function listener(
    net: VirtualNetwork,
    name: string,
    lines: string[],
  ): { connection?: Connection } {
    const client: { connection?: Connection } = {};
    const log = stampedLog(net, lines, name);
    subscriptions.push(
      net
        .connect('spread')
        .pipe(
          switchMap((connection) => {
            client.connection = connection;
            return connection.data$;
          }),
        )
        .subscribe({
          next: (chunk) => log(chunk.toString().replace(/\n$/, '')),
          complete: () => log('(closed)'),
        }),
    );
    return client;
  }

  describe('spread-server with spread-client sessions', () => {
    it('relays every hello to the others for 60 s, and closes only the client that sends close', async () => {
      const net = new VirtualNetwork();
      const lines: string[] = [];
      serveSpread(net, lines);
      const joins = { alice: 0, bob: 1000, carol: 2000 } as const;
      const clients = { alice: sessionClient(net, 'alice', lines), bob: {}, carol: {} } as Record<
        string,
        { connection?: Connection }
      >;
      net.at(joins.bob, () => (clients.bob = sessionClient(net, 'bob', lines)));
      net.at(joins.carol, () => (clients.carol = sessionClient(net, 'carol', lines)));
      net.at(31_000, () => clients.carol!.connection!.write('close\n'));
      await timed('spread 60 s, 3 clients', net, 60_000);

      const byWho = (who: string): string[] =>
        lines.filter((line) => line.split(' ')[1] === `${who}:`);
      // The greetings, literally; the count goes down when carol leaves.
      expect(byWho('server').filter((line) => line.includes('connect'))).toEqual([
        '0 server: new connect: 1',
        '1000 server: new connect: 2',
        '2000 server: new connect: 3',
        '31000 server: lost connect: 2',
      ]);
      expect(byWho('carol').slice(0, 2)).toEqual([
        `2000 carol: ${spreadGreeting(3).trimEnd()}`,
        `5000 carol: ${helloMessage('alice', 5000)}`,
      ]);
      // Everything else follows from the rules: each sends every 5 s from joining (carol until she
      // leaves at 31 s); the server prints it and every other connected client receives it.
      const left: Record<string, number> = { alice: Infinity, bob: Infinity, carol: 31_000 };
      const sends = Object.entries(joins)
        .flatMap(([name, join]) =>
          Array.from({ length: 13 }, (_, k) => ({ name, time: join + 5000 * k })),
        )
        .filter(({ name, time }) => time <= 60_000 && time < left[name]!)
        .sort((a, b) => a.time - b.time);
      const expected: string[] = [];
      for (const [name, join] of Object.entries(joins)) {
        expected.push(
          `${join} ${name}: ${spreadGreeting(Object.keys(joins).indexOf(name) + 1).trimEnd()}`,
        );
      }
      for (const { name, time } of sends) {
        expected.push(`${time} server: ${helloMessage(name, time)}`);
        for (const receiver of Object.keys(joins)) {
          if (
            receiver !== name &&
            time >= joins[receiver as keyof typeof joins] &&
            time < left[receiver]!
          ) {
            expected.push(`${time} ${receiver}: ${helloMessage(name, time)}`);
          }
        }
      }
      expected.push('31000 carol: (closed)');
      // Same lines (order within one instant is the streams' business), and time never goes back.
      const withoutCounts = lines.filter((line) => !line.includes(' connect: '));
      expect([...withoutCounts].sort()).toEqual([...expected].sort());
      const times = lines.map((line) => Number(line.split(' ')[0]));
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(lines.filter((line) => line.includes('close') && !line.includes('closed'))).toEqual(
        [],
      );
    });

    it('stops after --count messages and ends its connection', async () => {
      const net = new VirtualNetwork();
      const lines: string[] = [];
      serveSpread(net, lines);
      sessionClient(net, 'alice', lines, 3);
      await timed('spread --count 3', net, 60_000);
      expect(byInstant(lines)).toEqual(
        byInstant([
          '0 server: new connect: 1',
          `0 alice: ${spreadGreeting(1).trimEnd()}`,
          `0 server: ${helloMessage('alice', 0)}`,
          `5000 server: ${helloMessage('alice', 5000)}`,
          `10000 server: ${helloMessage('alice', 10_000)}`,
          '10000 server: lost connect: 0',
          '10000 alice: (closed)',
        ]),
      );
    });

    it('with --framing lines, reassembles lines and a close split across chunks', async () => {
      const net = new VirtualNetwork();
      const lines: string[] = [];
      serveSpread(net, lines, { framing: 'lines' });
      const alice = listener(net, 'alice', lines);
      const bob = listener(net, 'bob', lines);
      net.at(1, () => alice.connection!.write('hel'));
      net.at(2, () => alice.connection!.write('lo\nclo'));
      net.at(3, () => alice.connection!.write('se\nnot relayed\n'));
      net.at(4, () => bob.connection!.write('still here\n'));
      await timed('spread --framing lines', net, 1000);
      expect(lines).toEqual([
        '0 server: new connect: 1',
        '0 server: new connect: 2',
        `0 alice: ${spreadGreeting(1).trimEnd()}`,
        `0 bob: ${spreadGreeting(2).trimEnd()}`,
        '2 server: hello',
        '2 bob: hello',
        '3 alice: (closed)',
        '3 server: lost connect: 1',
        '4 server: still here',
      ]);
    });

    it('with --mode book, forwards an exact close to the others, closes the sender and only prints other data', async () => {
      const net = new VirtualNetwork();
      const lines: string[] = [];
      serveSpread(net, lines, { mode: 'book' });
      const alice = listener(net, 'alice', lines);
      listener(net, 'bob', lines);
      net.at(1, () => alice.connection!.write('just talk'));
      net.at(2, () => alice.connection!.write('close'));
      await timed('spread --mode book', net, 1000);
      expect(byInstant(lines)).toEqual(
        byInstant([
          '0 server: new connect: 1',
          '0 server: new connect: 2',
          `0 alice: ${spreadGreeting(1).trimEnd()}`,
          `0 bob: ${spreadGreeting(2).trimEnd()}`,
          '1 server: just talk',
          '2 alice: (closed)',
          '2 bob: close',
          '2 server: lost connect: 1',
        ]),
      );
    });
  });

  describe('spread-client (spreadClient over VirtualNetwork.connectEvents)', () => {
    /** The whole example client on the virtual network, its exit code logged as `exit N`. */
    function runSpreadClient(
      net: VirtualNetwork,
      name: string,
      lines: string[],
      options: Omit<Parameters<typeof spreadClient>[1], 'log' | 'scheduler' | 'name'> = {},
    ): void {
      const log = stampedLog(net, lines, name);
      subscriptions.push(
        spreadClient(() => net.connectEvents('spread'), {
          name,
          scheduler: net.scheduler,
          log,
          ...options,
        }).subscribe((code) => log(`exit ${code}`)),
      );
    }

    it('logs its lifecycle, sends --count timed messages that the server relays, and exits 0', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      const lines: string[] = [];
      serveSpread(net, lines);
      listener(net, 'bob', lines);
      net.at(1000, () => runSpreadClient(net, 'alice', lines, { every: 5, count: 3 }));
      await timed('spread-client --count 3', net, 60_000);
      const sent = [1020, 6020, 11_020];
      expect(linesBy(lines, 'alice')).toEqual([
        '1000 alice: Start to Connect...',
        '1020 alice: Connected...',
        `1020 alice: ${spreadGreeting(2).trimEnd()}`,
        '11040 alice: Lost connection. Reason: Connection was closed cleanly.',
        '11040 alice: exit 0',
      ]);
      // The last message is flushed before the FIN, so the server prints it before the loss.
      expect(linesBy(lines, 'server')).toEqual([
        '10 server: new connect: 1',
        '1010 server: new connect: 2',
        ...sent.map((time) => `${time + 10} server: ${helloMessage('alice', time)}`),
        '11030 server: lost connect: 1',
      ]);
      expect(linesBy(lines, 'bob')).toEqual([
        `20 bob: ${spreadGreeting(1).trimEnd()}`,
        ...sent.map((time) => `${time + 20} bob: ${helloMessage('alice', time)}`),
      ]);
    });

    it('with --reconnect and --count, exits 0 once the last message has gone rather than reconnecting', async () => {
      const net = new VirtualNetwork();
      const lines: string[] = [];
      serveSpread(net, lines);
      runSpreadClient(net, 'r', lines, { every: 5, count: 2, reconnect: { jitter: 0 } });
      await timed('spread-client --reconnect --count 2', net, 60_000);
      expect(linesBy(lines, 'r')).toEqual([
        '0 r: Start to Connect...',
        '0 r: Connected...',
        `0 r: ${spreadGreeting(1).trimEnd()}`,
        '5000 r: Lost connection. Reason: Connection was closed cleanly.',
        '5000 r: exit 0',
      ]);
      expect(net.links).toHaveLength(1);
    });

    it('reports a refused connection after one round trip and exits 1', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      const lines: string[] = [];
      runSpreadClient(net, 'alice', lines);
      await timed('spread-client refused', net, 60_000);
      expect(lines).toEqual([
        '0 alice: Start to Connect...',
        '20 alice: Connection is failed, Reason: RXNET_ERR_CONNECT: Could not connect to spread: ECONNREFUSED',
        '20 alice: exit 1',
      ]);
    });

    it('with --reconnect, backs off while the server is down, talks once it is up, and starts over when it goes', async () => {
      const net = new VirtualNetwork();
      const lines: string[] = [];
      runSpreadClient(net, 'r', lines, { every: 5, reconnect: { jitter: 0 } });
      // Up at 10 s, away at 20 s (ending its connection cleanly), back at 21 s.
      let server: Subscription | undefined;
      net.at(10_000, () => (server = serveSpread(net, lines)));
      net.at(20_000, () => server!.unsubscribe());
      net.at(21_000, () => serveSpread(net, lines));
      await timed('spread-client --reconnect', net, 30_000);

      // Twisted's delays with jitter 0: e s after the first failure, then e² s more, …; the first
      // retry after a connection was made waits e s again.
      const e1 = 1000 * Math.E;
      const e2 = e1 * Math.E;
      const connected = e1 + e2;
      const back = 20_000 + e1;
      const refused =
        'Connection is failed, Reason: RXNET_ERR_CONNECT: Could not connect to spread: ECONNREFUSED';
      expect(linesBy(lines, 'r')).toEqual([
        '0 r: Start to Connect...',
        `0 r: ${refused}`,
        `${e1} r: Start to Connect...`,
        `${e1} r: ${refused}`,
        `${connected} r: Start to Connect...`,
        `${connected} r: Connected...`,
        `${connected} r: ${spreadGreeting(1).trimEnd()}`,
        '20000 r: Lost connection. Reason: Connection was closed cleanly.',
        `${back} r: Start to Connect...`,
        `${back} r: Connected...`,
        `${back} r: ${spreadGreeting(1).trimEnd()}`,
      ]);
      expect(linesBy(lines, 'server')).toEqual([
        `${connected} server: new connect: 1`,
        `${connected} server: ${helloMessage('r', connected)}`,
        `${connected + 5000} server: ${helloMessage('r', connected + 5000)}`,
        `${back} server: new connect: 1`,
        `${back} server: ${helloMessage('r', back)}`,
        `${back + 5000} server: ${helloMessage('r', back + 5000)}`,
      ]);
    });
  });

  describe('echo-server with echo-client connections', () => {
    it('echoes each of ten connections once, then closes it, printing as the seed does', async () => {
      const net = new VirtualNetwork({ latency: 5 });
      const lines: string[] = [];
      subscriptions.push(
        serveConnections(
          net.listen('echo'),
          echoBehaviour({ log: stampedLog(net, lines, 'server') }),
        ).subscribe(),
      );
      const replies: string[] = [];
      subscriptions.push(
        range(1, 10)
          .pipe(
            mergeMap((index) =>
              net.connect('echo').pipe(
                switchMap((connection) => askEcho(connection)),
                map((text) => `${net.now()} client ${index}: > From Server:${text}`),
              ),
            ),
          )
          .subscribe((line) => replies.push(line)),
      );
      await timed('echo, 10 clients', net, 1000);
      expect(replies).toEqual(
        Array.from({ length: 10 }, (_, i) => `20 client ${i + 1}: > From Server:${ECHO_MESSAGE}`),
      );
      const made = Array.from({ length: 10 }, (_, i) => [
        '5 server: > New connection made,from client!',
        `5 server: > Now conn=${i + 1}`,
      ]).flat();
      const echoed = Array.from({ length: 10 }, (_, i) => [
        `15 server: > Data from client: ${ECHO_MESSAGE}`,
        `15 server: >Host:  MemoryAddress('echo')`,
        `15 server: >Peer:  MemoryAddress('client-${i + 1}')`,
      ]).flat();
      expect(lines).toEqual([...made, ...echoed]);
      expect(net.links).toHaveLength(10);
    });
  });
});

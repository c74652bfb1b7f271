import {
  catchError,
  EMPTY,
  firstValueFrom,
  merge,
  mergeMap,
  type Observable,
  of,
  type Subscription,
  switchMap,
  takeUntil,
  tap,
  VirtualTimeScheduler,
} from 'rxjs';
import { type ConnectError, IdleTimeoutError, ListenError } from '../../src/errors';
import { broadcast } from '../../src/operators/broadcast';
import { closeOn } from '../../src/operators/closeOn';
import { countConnections } from '../../src/operators/countConnections';
import { echo } from '../../src/operators/echo';
import { greet } from '../../src/operators/greet';
import { lineEquals } from '../../src/operators/lineEquals';
import { reconnect } from '../../src/operators/reconnect';
import { sendEvery } from '../../src/operators/sendEvery';
import { VirtualNetwork } from '../../src/testing/virtualNetwork';
import { serveConnections, type ServerOutput } from '../../src/transport/serveConnections';
import type {
  Behaviour,
  ClientEvent,
  CloseReason,
  Connection,
  MemoryAddress,
} from '../../src/types';

const echoBehaviour: Behaviour = (events) => events.pipe(echo());

/** Everything one client sees, stamped with virtual time. */
interface ClientLog {
  readonly lines: string[];
  connection?: Connection;
}

/** Connects to `name` and logs the connection's lifecycle and the data it receives. */
function logClient(net: VirtualNetwork, name: string, label = 'client'): ClientLog {
  const log: ClientLog = { lines: [] };
  const say = (line: string): void => {
    log.lines.push(`${net.now()} ${label} ${line}`);
  };
  net.connect(name).subscribe({
    next: (connection) => {
      log.connection = connection;
      say('connected');
      connection.data$.subscribe({
        next: (chunk) => say(`< ${chunk.toString()}`),
        error: () => undefined,
      });
      connection.closed$.subscribe((reason) => say(`closed ${describeReason(reason)}`));
    },
    error: (error: ConnectError) =>
      say(`failed ${error.code} ${(error.cause as NodeJS.ErrnoException).code}`),
    complete: () => say('complete'),
  });
  return log;
}

/** Subscribes to `events$` and logs each event, the error (if any) and the completion, stamped. */
function logEvents(
  net: VirtualNetwork,
  events$: Observable<ClientEvent<MemoryAddress>>,
): { readonly lines: string[]; readonly subscription: Subscription } {
  const lines: string[] = [];
  const say = (line: string): void => {
    lines.push(`${net.now()} ${line}`);
  };
  const subscription = events$.subscribe({
    next: (event) => {
      switch (event.type) {
        case 'connecting':
          say(`connecting ${event.endpoint._tag} ${event.endpoint.name}`);
          break;
        case 'connected':
          say(`connected ${event.connection.id}`);
          // Reading is what notices the peer's FIN, as on a socket.
          event.connection.data$.subscribe({ error: () => undefined });
          break;
        case 'failed':
          say(`failed ${event.error.code} ${(event.error.cause as NodeJS.ErrnoException).code}`);
          break;
        case 'lost':
          say(`lost ${describeReason(event.reason)}`);
      }
    },
    error: () => say('error'),
    complete: () => say('complete'),
  });
  return { lines, subscription };
}

function describeReason(reason: CloseReason): string {
  if (reason.type === 'lost') {
    return `lost ${(reason.error.cause as NodeJS.ErrnoException).code}`;
  }
  return reason.type === 'aborted' || reason.type === 'timedOut'
    ? `${reason.type} ${reason.error?.code ?? ''}`.trim()
    : reason.type;
}

function eventLine(net: VirtualNetwork, event: ServerOutput): string {
  switch (event.type) {
    case 'readConnectionLost':
      return `${net.now()} server readLost ${event.id}`;
    case 'writeFailed':
    case 'commandRejected':
      return `${net.now()} server ${event.type} ${event.error.code}`;
    case 'connectionMade':
      return `${net.now()} server made ${event.id}`;
    case 'data':
      return `${net.now()} server data ${event.id} ${String(event.data)}`;
    case 'connectionLost':
      return `${net.now()} server lost ${event.id} ${describeReason(event.reason)}`;
    case 'connectionRefused':
      return `${net.now()} server refused ${event.error.code}`;
    case 'shuttingDown':
      return `${net.now()} server shuttingDown ${event.deadline}`;
    default:
      return `${net.now()} server ${event.type}`;
  }
}

describe('VirtualNetwork', () => {
  let subscriptions: Subscription[];
  beforeEach(() => {
    subscriptions = [];
  });
  afterEach(() => {
    for (const subscription of subscriptions) {
      subscription.unsubscribe();
    }
  });

  function serve(net: VirtualNetwork, name: string, behaviour: Behaviour, log: string[]): void {
    subscriptions.push(
      serveConnections(net.listen(name), behaviour).subscribe((event) =>
        log.push(eventLine(net, event)),
      ),
    );
  }

  describe('connect', () => {
    it('runs the real server code: an echo round trip at latency 0', async () => {
      const net = new VirtualNetwork();
      const server: string[] = [];
      serve(net, 'echo', echoBehaviour, server);
      const client = logClient(net, 'echo');
      await net.run(0);
      client.connection!.write('hi');
      await net.run(10);
      expect(server).toEqual(['0 server made 1', '0 server data 1 hi']);
      expect(client.lines).toEqual(['0 client connected', '0 client < hi']);
    });

    it('takes one latency for each crossing of the wire', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      const server: string[] = [];
      serve(net, 'echo', echoBehaviour, server);
      const client = logClient(net, 'echo');
      await net.run(20);
      client.connection!.write('hi');
      await net.run(40);
      client.connection!.end();
      await net.run(100);
      expect(server).toEqual([
        '10 server made 1',
        '30 server data 1 hi',
        '50 server readLost 1',
        '50 server lost 1 done',
      ]);
      expect(client.lines).toEqual([
        '20 client connected',
        '40 client < hi',
        '60 client closed done',
        '60 client complete',
      ]);
    });

    it('fails with ConnectError and an ECONNREFUSED cause when nobody listens', async () => {
      const net = new VirtualNetwork({ latency: 5 });
      const client = logClient(net, 'nowhere');
      await net.run(100);
      expect(client.lines).toEqual(['10 client failed RXNET_ERR_CONNECT ECONNREFUSED']);
    });

    it('ends the connection gracefully when unsubscribed', async () => {
      const net = new VirtualNetwork();
      const server: string[] = [];
      serve(net, 'echo', echoBehaviour, server);
      const subscription = net.connect('echo').subscribe();
      await net.run(1);
      subscription.unsubscribe();
      await net.run(2);
      expect(server).toEqual(['0 server made 1', '1 server readLost 1', '1 server lost 1 done']);
    });

    it('ends a connection the server accepted when unsubscribed during the handshake', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      const server: string[] = [];
      serve(net, 'echo', echoBehaviour, server);
      const subscription = net.connect('echo').subscribe(() => server.push('never emitted'));
      net.at(15, () => subscription.unsubscribe());
      await net.run(100);
      expect(server).toEqual(['10 server made 1', '25 server readLost 1', '25 server lost 1 done']);
    });

    it('makes no connection when unsubscribed before the attempt arrives', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      const server: string[] = [];
      serve(net, 'echo', echoBehaviour, server);
      const subscription = net.connect('echo').subscribe();
      net.at(5, () => subscription.unsubscribe());
      await net.run(100);
      expect(server).toEqual([]);
      expect(net.links).toEqual([]);
    });

    it('numbers connections from 1 on the server side and names the client addresses', async () => {
      const net = new VirtualNetwork();
      const accepted: Connection[] = [];
      subscriptions.push(net.listen('srv').subscribe((connection) => accepted.push(connection)));
      const clients = [logClient(net, 'srv'), logClient(net, 'srv')];
      await net.run(0);
      expect(accepted.map((connection) => connection.id)).toEqual([1, 2]);
      expect(accepted[1]!.remote).toEqual({ _tag: 'MemoryAddress', name: 'client-2' });
      expect(clients[1]!.connection!.remote).toEqual({ _tag: 'MemoryAddress', name: 'srv' });
      expect(net.links.map((link) => [link.server, link.serverId, link.clientId])).toEqual([
        ['srv', 1, 1],
        ['srv', 2, 2],
      ]);
    });
  });

  describe('connectEvents', () => {
    it('emits connecting with the server address at once, connected after one round trip, then lost with the reason, and completes', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      const accepted: Connection[] = [];
      subscriptions.push(net.listen('srv').subscribe((connection) => accepted.push(connection)));
      const client = logEvents(net, net.connectEvents('srv'));
      net.at(50, () => accepted[0]!.end());
      await net.run(100);
      expect(client.lines).toEqual([
        '0 connecting MemoryAddress srv',
        '20 connected 1',
        '60 lost done',
        '60 complete',
      ]);
    });

    it('carries the server address in connecting, and a Connection addressed to it in connected', async () => {
      const net = new VirtualNetwork();
      subscriptions.push(net.listen('srv').subscribe());
      const events: ClientEvent<MemoryAddress>[] = [];
      subscriptions.push(net.connectEvents('srv').subscribe((event) => events.push(event)));
      await net.run(0);
      const [connecting, connected] = events;
      expect(connecting).toEqual({
        type: 'connecting',
        endpoint: { _tag: 'MemoryAddress', name: 'srv' },
      });
      expect(connected?.type === 'connected' && connected.connection.remote).toEqual({
        _tag: 'MemoryAddress',
        name: 'srv',
      });
      expect(connected?.type === 'connected' && connected.connection.local).toEqual({
        _tag: 'MemoryAddress',
        name: 'client-1',
      });
      expect(events).toHaveLength(2);
    });

    it('emits failed with a ConnectError (cause ECONNREFUSED) after one round trip instead of failing', async () => {
      const net = new VirtualNetwork({ latency: 5 });
      const client = logEvents(net, net.connectEvents('nowhere'));
      await net.run(100);
      expect(client.lines).toEqual([
        '0 connecting MemoryAddress nowhere',
        '10 failed RXNET_ERR_CONNECT ECONNREFUSED',
        '10 complete',
      ]);
    });

    it('emits lost with the reset when the link breaks', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      subscriptions.push(net.listen('srv').subscribe());
      const client = logEvents(net, net.connectEvents('srv'));
      net.at(30, () => net.links[0]!.reset());
      await net.run(100);
      expect(client.lines).toEqual([
        '0 connecting MemoryAddress srv',
        '20 connected 1',
        '30 lost lost ECONNRESET',
        '30 complete',
      ]);
    });

    it('ends the connection gracefully when unsubscribed, emitting nothing more', async () => {
      const net = new VirtualNetwork();
      const server: string[] = [];
      serve(net, 'echo', echoBehaviour, server);
      const client = logEvents(net, net.connectEvents('echo'));
      net.at(5, () => client.subscription.unsubscribe());
      await net.run(10);
      expect(server).toEqual(['0 server made 1', '5 server readLost 1', '5 server lost 1 done']);
      expect(client.lines).toEqual(['0 connecting MemoryAddress echo', '0 connected 1']);
    });

    it('makes no connection when unsubscribed before the attempt arrives', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      const server: string[] = [];
      serve(net, 'echo', echoBehaviour, server);
      const client = logEvents(net, net.connectEvents('echo'));
      net.at(5, () => client.subscription.unsubscribe());
      await net.run(100);
      expect(server).toEqual([]);
      expect(net.links).toEqual([]);
      expect(client.lines).toEqual(['0 connecting MemoryAddress echo']);
    });

    it('emits no failed once unsubscribed while the refusal is on its way back', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      const client = logEvents(net, net.connectEvents('nowhere'));
      net.at(15, () => client.subscription.unsubscribe());
      await net.run(100);
      expect(client.lines).toEqual(['0 connecting MemoryAddress nowhere']);
    });

    it('follows a reconnecting client through every attempt, the backoff reset once connected', async () => {
      const net = new VirtualNetwork();
      const client = logEvents(
        net,
        net.connectEvents('echo').pipe(
          reconnect({
            jitter: 0,
            resetWhen: (event) => event.type === 'connected',
            scheduler: net.scheduler,
          }),
        ),
      );
      // Up from 2 s to 4 s: the second attempt connects; the first retry after the loss waits e s.
      let server: Subscription | undefined;
      net.at(
        2000,
        () => (server = serveConnections(net.listen('echo'), echoBehaviour).subscribe()),
      );
      net.at(4000, () => server!.unsubscribe());
      await net.run(10_000);
      const e1 = 1000 * Math.E;
      expect(client.lines).toEqual([
        '0 connecting MemoryAddress echo',
        '0 failed RXNET_ERR_CONNECT ECONNREFUSED',
        `${e1} connecting MemoryAddress echo`,
        `${e1} connected 1`,
        '4000 lost done',
        `${4000 + e1} connecting MemoryAddress echo`,
        `${4000 + e1} failed RXNET_ERR_CONNECT ECONNREFUSED`,
      ]);
    });
  });

  describe('listen', () => {
    it('rejects out-of-range connection options at call time, as listen and connect do', () => {
      const net = new VirtualNetwork();
      expect(() => net.listen('srv', { idleTimeout: 2 ** 31 })).toThrow(RangeError);
      expect(() => net.connect('srv', { closeTimeout: -1 })).toThrow(TypeError);
      expect(() => net.connectEvents('srv', { halfOpenTimeout: 2 ** 32 })).toThrow(RangeError);
    });

    it('fails with ListenError and an EADDRINUSE cause when the name is taken', async () => {
      const net = new VirtualNetwork();
      subscriptions.push(net.listen('srv').subscribe());
      const error = await firstValueFrom(net.listen('srv')).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ListenError);
      expect(((error as ListenError).cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    });

    it('unbinds on unsubscribe, ending its connections and refusing new ones', async () => {
      const net = new VirtualNetwork();
      const listening = net.listen('srv').subscribe();
      const first = logClient(net, 'srv', 'first');
      await net.run(1);
      listening.unsubscribe();
      const second = logClient(net, 'srv', 'second');
      await net.run(2);
      expect(first.lines).toEqual(['0 first connected', '1 first closed done', '1 first complete']);
      expect(second.lines).toEqual(['1 second failed RXNET_ERR_CONNECT ECONNREFUSED']);
    });

    it('runs the idle timeout on the network clock', async () => {
      const net = new VirtualNetwork();
      const server: string[] = [];
      const accepted: Connection[] = [];
      subscriptions.push(
        net.listen('srv', { idleTimeout: 30_000 }).subscribe((connection) => {
          accepted.push(connection);
          connection.closed$.subscribe((reason) =>
            server.push(`${net.now()} ${describeReason(reason)}`),
          );
        }),
      );
      const client = logClient(net, 'srv');
      await net.run(60_000);
      expect(server).toEqual([`30000 timedOut ${new IdleTimeoutError(30_000).code}`]);
      expect(client.lines).toEqual([
        '0 client connected',
        '30000 client closed done',
        '30000 client complete',
      ]);
    });
  });

  describe('faults', () => {
    it('breaks both ends with ECONNRESET on link.reset()', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      const server: string[] = [];
      serve(net, 'echo', echoBehaviour, server);
      const client = logClient(net, 'echo');
      net.at(50, () => net.links[0]!.reset());
      await net.run(100);
      expect(server).toEqual(['10 server made 1', '50 server lost 1 lost ECONNRESET']);
      expect(client.lines).toEqual([
        '20 client connected',
        '50 client closed lost ECONNRESET',
        '50 client complete',
      ]);
    });

    it('loses the bytes that were on the wire when the link breaks', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      const server: string[] = [];
      serve(net, 'echo', echoBehaviour, server);
      const client = logClient(net, 'echo');
      net.at(25, () => client.connection!.write('in flight'));
      net.at(30, () => net.links[0]!.reset('ETIMEDOUT'));
      await net.run(100);
      expect(server).toEqual(['10 server made 1', '30 server lost 1 lost ETIMEDOUT']);
    });

    it('tells the peer of an abort() with ECONNRESET, one latency later', async () => {
      const net = new VirtualNetwork({ latency: 10 });
      const resetOnData: Behaviour = (events) =>
        events.pipe(
          mergeMap((event) =>
            event.type === 'data' ? of(event, { type: 'abort', id: event.id } as const) : of(event),
          ),
        );
      const server: string[] = [];
      serve(net, 'srv', resetOnData, server);
      const client = logClient(net, 'srv');
      net.at(25, () => client.connection!.write('x'));
      await net.run(100);
      expect(server).toEqual([
        '10 server made 1',
        '35 server data 1 x',
        '35 server lost 1 aborted',
      ]);
      expect(client.lines).toEqual([
        '20 client connected',
        '45 client closed lost ECONNRESET',
        '45 client complete',
      ]);
    });

    it('keeps bytes in order when the latency drops', async () => {
      const net = new VirtualNetwork({ latency: 100 });
      const server: string[] = [];
      serve(net, 'srv', (events) => events, server);
      const client = logClient(net, 'srv');
      net.at(201, () => client.connection!.write('first'));
      net.at(250, () => {
        net.links[0]!.latency = 1;
        client.connection!.write('second');
      });
      await net.run(400);
      expect(server.filter((line) => line.includes('data'))).toEqual([
        '301 server data 1 first',
        '301 server data 1 second',
      ]);
    });
  });

  describe('backpressure', () => {
    it('holds output back while the peer does not read, and delivers all of it once it does', async () => {
      const net = new VirtualNetwork();
      const accepted: Connection[] = [];
      subscriptions.push(net.listen('srv').subscribe((connection) => accepted.push(connection)));
      let client: Connection | undefined;
      subscriptions.push(net.connect('srv').subscribe((connection) => (client = connection)));
      await net.run(0);
      const server = accepted[0]!;
      const chunk = Buffer.alloc(1024, 120);
      let refused = 0;
      for (let i = 0; i < 200; i += 1) {
        if (!server.write(chunk)) {
          refused += 1;
        }
      }
      await net.run(10);
      expect(refused).toBeGreaterThan(0);
      expect(server.pendingWriteBytes).toBeGreaterThan(0);
      let received = 0;
      client!.data$.subscribe((data) => (received += data.length));
      await net.run(20);
      expect(received).toBe(200 * 1024);
      expect(server.pendingWriteBytes).toBe(0);
    });
  });

  describe('run', () => {
    it('leaves the clock at the time it ran to', async () => {
      const net = new VirtualNetwork();
      await net.run(1234);
      expect(net.now()).toBe(1234);
    });

    it('refuses to run backwards', async () => {
      const net = new VirtualNetwork();
      await net.run(10);
      await expect(net.run(5)).rejects.toThrow(RangeError);
    });

    it('runs work scheduled with at() at its virtual time and refuses the past', async () => {
      const net = new VirtualNetwork();
      const seen: number[] = [];
      net.at(70, () => seen.push(net.now()));
      await net.run(100);
      expect(seen).toEqual([70]);
      expect(() => net.at(50, () => undefined)).toThrow(RangeError);
    });

    it('gives up after maxSteps instants', async () => {
      const net = new VirtualNetwork({ maxSteps: 3 });
      for (let time = 1; time <= 5; time += 1) {
        net.at(time, () => undefined);
      }
      await expect(net.run(10)).rejects.toThrow('more than 3 steps');
    });

    it('uses the scheduler it is given', async () => {
      const scheduler = new VirtualTimeScheduler();
      const net = new VirtualNetwork({ scheduler });
      await net.run(42);
      expect(scheduler.now()).toBe(42);
    });
  });

  describe('scenarios', () => {
    const greeting = (n: number): string => `欢迎来到Spread Site, 你是第${n}个客户端用户!\n`;
    const spread: Behaviour = (events) =>
      events.pipe(
        countConnections(),
        greet((event) => greeting(event.count)),
        closeOn(lineEquals('close')),
        broadcast(),
      );

    /** A spread client: logs what it receives, sends `hello, I'm NAME TIME` every 5 s, or `close` as its `closeAt`th message. */
    function spreadClient(
      net: VirtualNetwork,
      name: string,
      log: string[],
      closeAt = Infinity,
    ): void {
      const message = (index: number, now: number): string =>
        index === closeAt ? 'close' : `hello, I'm ${name} ${now}`;
      subscriptions.push(
        net
          .connect('spread')
          .pipe(
            switchMap((connection) =>
              merge(
                connection.data$.pipe(
                  tap((chunk) => log.push(`${net.now()} ${name} < ${chunk.toString()}`)),
                ),
                connection
                  .send(of(connection).pipe(sendEvery(5000, message, { scheduler: net.scheduler })))
                  .pipe(takeUntil(connection.closed$)),
              ),
            ),
          )
          .subscribe({ complete: () => log.push(`${net.now()} ${name} closed`) }),
      );
    }

    it('runs the Spread server with three clients for 60 virtual seconds, one of them sending close', async () => {
      const net = new VirtualNetwork();
      const log: string[] = [];
      const server: string[] = [];
      serve(net, 'spread', spread, server);
      spreadClient(net, 'alice', log);
      net.at(1000, () => spreadClient(net, 'bob', log));
      net.at(2000, () => spreadClient(net, 'carol', log, 6));
      const started = performance.now();
      await net.run(60_000);
      const elapsed = performance.now() - started;

      // The first seconds, literally.
      expect(log.slice(0, 10)).toEqual([
        `0 alice < ${greeting(1)}`,
        `1000 bob < ${greeting(2)}`,
        "1000 alice < hello, I'm bob 1000",
        `2000 carol < ${greeting(3)}`,
        "2000 alice < hello, I'm carol 2000",
        "2000 bob < hello, I'm carol 2000",
        "5000 bob < hello, I'm alice 5000",
        "5000 carol < hello, I'm alice 5000",
        "6000 alice < hello, I'm bob 6000",
        "6000 carol < hello, I'm bob 6000",
      ]);
      // Carol's sixth message (at 32 s) is `close`: nobody sees it, she is closed, the others go on.
      const expected: string[] = [];
      for (let time = 0; time <= 60_000; time += 1000) {
        const sender = ['alice', 'bob', 'carol'][(time / 1000) % 5] ?? '';
        if (time % 5000 > 2000 || (sender === 'carol' && time > 32_000) || time < 1000) {
          continue;
        }
        if (sender === 'carol' && time === 32_000) {
          expected.push('32000 carol closed');
          continue;
        }
        for (const receiver of ['alice', 'bob', 'carol']) {
          const joined = { alice: 0, bob: 1000, carol: 2000 }[receiver]!;
          const left = receiver === 'carol' ? 32_000 : Infinity;
          if (receiver !== sender && time >= joined && time < left) {
            expected.push(`${time} ${receiver} < hello, I'm ${sender} ${time}`);
          }
        }
      }
      expect(log.filter((line) => !line.includes('欢迎'))).toEqual(expected);
      expect(server.filter((line) => !line.includes('data'))).toEqual([
        '0 server made 1',
        '1000 server made 2',
        '2000 server made 3',
        '32000 server lost 3 done',
      ]);
      expect(elapsed).toBeLessThan(5000);
    });

    it('reconnects with backoff while the server is down, then talks', async () => {
      const net = new VirtualNetwork();
      const log: string[] = [];
      subscriptions.push(
        net
          .connect('echo')
          .pipe(
            tap({
              error: (error: ConnectError) =>
                log.push(`${net.now()} failed ${(error.cause as NodeJS.ErrnoException).code}`),
            }),
            reconnect({ jitter: 0, scheduler: net.scheduler }),
            switchMap((connection) => {
              log.push(`${net.now()} connected`);
              connection.write('ping');
              return connection.data$.pipe(catchError(() => EMPTY));
            }),
          )
          .subscribe((chunk) => log.push(`${net.now()} < ${chunk.toString()}`)),
      );
      // The server comes up at 10 s, goes down at 20 s (its connection ends), and is back at 40 s.
      let server: Subscription | undefined;
      net.at(
        10_000,
        () => (server = serveConnections(net.listen('echo'), echoBehaviour).subscribe()),
      );
      net.at(20_000, () => server!.unsubscribe());
      net.at(40_000, () =>
        subscriptions.push(serveConnections(net.listen('echo'), echoBehaviour).subscribe()),
      );
      const started = performance.now();
      await net.run(120_000);
      const elapsed = performance.now() - started;
      // Twisted's delays with jitter 0: e s, then e² s, … after each failure; back to e s once connected.
      const e1 = 1000 * Math.E;
      const e2 = e1 * Math.E;
      const e3 = e2 * Math.E;
      expect(log).toEqual([
        '0 failed ECONNREFUSED',
        `${e1} failed ECONNREFUSED`,
        `${e1 + e2} connected`,
        `${e1 + e2} < ping`,
        `${20_000 + e1} failed ECONNREFUSED`,
        `${20_000 + e1 + e2} failed ECONNREFUSED`,
        `${20_000 + e1 + e2 + e3} connected`,
        `${20_000 + e1 + e2 + e3} < ping`,
      ]);
      expect(elapsed).toBeLessThan(5000);
    });

    it('runs the same scenario the same way every time', async () => {
      const runOnce = async (): Promise<string[]> => {
        const net = new VirtualNetwork({ latency: 3 });
        const log: string[] = [];
        serve(net, 'spread', spread, log);
        spreadClient(net, 'alice', log);
        spreadClient(net, 'bob', log, 2);
        await net.run(20_000);
        return log;
      };
      const first = await runOnce();
      expect(first.length).toBeGreaterThan(5);
      expect(await runOnce()).toEqual(first);
    });
  });
});

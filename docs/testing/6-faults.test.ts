import { catchError, EMPTY, switchMap, tap } from 'rxjs';
import { echo, reconnect, serveConnections, type Behaviour } from 'rxnet';
import { VirtualNetwork } from 'rxnet/testing';

const echoBehaviour: Behaviour = (events) => events.pipe(echo());

describe('a reconnecting echo client', () => {
  it("waits out the server's downtime and a reset with Twisted's backoff", async () => {
    const net = new VirtualNetwork({ latency: 20 });
    const log: string[] = [];
    const say = (what: string) => log.push(`${Math.round(net.now())} ${what}`);

    const client = net
      .connect('echo')
      .pipe(
        tap({ error: () => say('refused') }),
        reconnect({ jitter: 0, scheduler: net.scheduler }),
        switchMap((connection) => {
          say('connected');
          connection.write('ping');
          return connection.data$.pipe(catchError(() => EMPTY));
        }),
      )
      .subscribe((chunk) => say(`heard ${chunk}`));

    // Nobody listens until 5 s; at 15 s the connection breaks.
    const server = serveConnections(net.listen('echo'), echoBehaviour);
    net.at(5000, () => client.add(server.subscribe()));
    net.at(15_000, () => net.links[0]!.reset());
    await net.run(30_000);

    expect(log).toEqual([
      '40 refused', // one round trip at 20 ms each way
      '2798 refused', // retried after e seconds
      '10227 connected', // after e² more seconds
      '10267 heard ping',
      '17758 connected', // the delay went back to e seconds once connected
      '17798 heard ping',
    ]);
    client.unsubscribe();
  });
});

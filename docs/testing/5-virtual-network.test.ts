import { merge, of, Subscription, switchMap, takeUntil, tap } from 'rxjs';
import {
  broadcast,
  closeOn,
  countConnections,
  greet,
  lineEquals,
  sendEvery,
  serveConnections,
  type Behaviour,
} from 'rxnet';
import { VirtualNetwork } from 'rxnet/testing';

const spread: Behaviour = (events) =>
  events.pipe(
    countConnections(),
    greet((event) => `you are number ${event.count}\n`),
    closeOn(lineEquals('close')),
    broadcast(),
  );

describe('the Spread server on a virtual network', () => {
  it('relays a hello every 5 s between two clients for a minute, in milliseconds', async () => {
    const net = new VirtualNetwork();
    const heard: string[] = [];

    // The real server: serveConnections over the network's listen(), as serve() does over TCP.
    const server = serveConnections(net.listen('spread'), spread).subscribe();

    // A client that prints what it hears and says hello every 5 s, on the network's clock.
    const client = (name: string) =>
      net.connect('spread').pipe(
        switchMap((connection) => {
          const hello = of(connection).pipe(
            sendEvery(5000, (index) => `${name} #${index}`, { scheduler: net.scheduler }),
          );
          return merge(
            connection.data$.pipe(
              tap((chunk) => heard.push(`${net.now()} ${name} heard ${chunk}`)),
            ),
            connection.send(hello).pipe(takeUntil(connection.closed$)),
          );
        }),
      );
    const clients = new Subscription();
    clients.add(client('alice').subscribe());
    net.at(2500, () => clients.add(client('bob').subscribe()));

    await net.run(60_000);

    expect(heard.slice(0, 5)).toEqual([
      '0 alice heard you are number 1\n',
      '2500 bob heard you are number 2\n',
      '2500 alice heard bob #0',
      '5000 bob heard alice #1',
      '7500 alice heard bob #1',
    ]);
    // Alice says hello 13 times (0 s to 60 s), Bob 12 times (2.5 s to 57.5 s); each hears the other.
    expect(heard).toHaveLength(2 + 12 + 12);
    clients.unsubscribe();
    server.unsubscribe();
  });
});

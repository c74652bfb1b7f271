import { filter, firstValueFrom, map, ReplaySubject, switchMap, take, toArray } from 'rxjs';
import {
  closeOn,
  connect,
  connectAsync,
  echo,
  framed,
  greet,
  lineEquals,
  netstrings,
  serve,
  type Behaviour,
  type ServerNotification,
} from 'rxnet';
import { LOOPBACK } from '../helpers/sockets';

/** Greets, echoes each frame, and closes on `bye`. */
const greeter: Behaviour<Buffer, string | Buffer> = (events) =>
  events.pipe(greet('welcome'), closeOn(lineEquals('bye')), echo());

/** Serves {@link greeter} with netstrings on a loopback port, once it is listening. */
async function serveGreeter() {
  const notifications$ = new ReplaySubject<ServerNotification<Buffer>>();
  const subscription = serve(LOOPBACK, greeter, { framing: netstrings() }).subscribe(
    notifications$,
  );
  const listening = await firstValueFrom(
    notifications$.pipe(
      filter((notification) => notification.type === 'listening'),
      map(({ address }) => address),
    ),
  );
  return {
    notifications$,
    subscription,
    port: listening._tag === 'TcpAddress' ? listening.port : 0,
  };
}

describe('framing over real sockets', () => {
  it('serve encodes and decodes with one codec, and a client speaks it through framed', async () => {
    const { notifications$, subscription, port } = await serveGreeter();
    const client = framed(await connectAsync(`tcp:127.0.0.1:${port}`), netstrings());
    const frames = firstValueFrom(
      client.frames$.pipe(
        map((frame) => frame.toString()),
        take(3),
        toArray(),
      ),
    );
    client.write('hello');
    client.write('again');
    expect(await frames).toEqual(['welcome', 'hello', 'again']);

    client.write('bye');
    const lost = await firstValueFrom(client.connection.closed$);
    expect(lost).toEqual({ type: 'done' });
    const served = await firstValueFrom(
      notifications$.pipe(
        filter((notification) => notification.type === 'data'),
        map(({ data }) => data.toString()),
        take(2),
        toArray(),
      ),
    );
    expect(served).toEqual(['hello', 'again']);
    subscription.unsubscribe();
  });

  it('connect takes the same framing option and gives the connection framed', async () => {
    const { subscription, port } = await serveGreeter();
    const frames = await firstValueFrom(
      connect(`tcp:127.0.0.1:${port}`, { framing: netstrings() }).pipe(
        switchMap((client) => {
          client.write('ping');
          return client.frames$.pipe(
            map((frame) => frame.toString()),
            take(2),
            toArray(),
          );
        }),
      ),
    );
    expect(frames).toEqual(['welcome', 'ping']);
    subscription.unsubscribe();
  });
});

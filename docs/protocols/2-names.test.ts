import { concat, map, mergeMap, of, take, type Observable } from 'rxjs';
import {
  broadcast,
  forward,
  protocol,
  type Forwarded,
  type ProtocolContext,
  type ServerEvent,
} from 'rxnet';
import { data, lost, made, testBehaviour, write } from 'rxnet/testing';

/**
 * The first line names the connection and is answered with a welcome; every later line is
 * forwarded to the rest of the server, signed with that name.
 */
function named(conn: ProtocolContext<string>): Observable<string | Forwarded<string>> {
  return conn.frames$.pipe(
    take(1),
    mergeMap((name) =>
      concat(
        of(`welcome, ${name}`),
        // frames$ is shared: subscribing again reads on from the next line.
        conn.frames$.pipe(map((line) => forward(`${name}: ${line}`))),
      ),
    ),
  );
}

/** A chat room: the names are per connection, the audience is the whole server's. */
const chat = (events: Observable<ServerEvent<string>>) => events.pipe(protocol(named), broadcast());

describe('chat', () => {
  it('welcomes each client by name, then relays its lines to the others, signed', () => {
    testBehaviour(chat, {
      events: '-a-b-c-d-e-f-g-',
      values: {
        a: made(1),
        b: made(2),
        c: data(1, 'ada'),
        d: data(2, 'bob'),
        e: data(1, 'hi bob'),
        f: lost(1),
        g: data(2, 'ada?'),
      },
    }).toEmitCommands('-----w-x-y-----', {
      w: write(1, 'welcome, ada'),
      x: write(2, 'welcome, bob'),
      y: write([2], 'ada: hi bob'),
    });
  });
});

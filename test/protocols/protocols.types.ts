/**
 * Type tests for the protocol helpers, checked by `tsc --noEmit` (never run): a per-connection
 * protocol takes its frame and `connectionMade` types from the pipeline it is put in, inline or
 * annotated, and the request/response helpers keep their request and reply types. Each
 * `@ts-expect-error` fails the type check if the line below it compiles.
 */
import { map, type Observable, scan } from 'rxjs';
import {
  broadcast,
  countConnections,
  forward,
  protocol,
  requester,
  respond,
  runProtocol,
  type Behaviour,
  type Connection,
  type ConnectionCount,
  type ConnectionMade,
  type ProtocolContext,
  type ServerEvent,
} from 'rxnet';

declare const connection: Connection;

// Inline: the frames are the server's frame type, and `made` carries what countConnections added.
export const numbered: Behaviour<string, string> = (events) =>
  events.pipe(
    countConnections(),
    protocol((conn) =>
      conn.frames$.pipe(
        scan((n, line) => n + line.length, 0),
        map((n) => `${conn.made.count}: ${n}`),
      ),
    ),
  );

// Annotated: the callback may ask for the count too.
const counted = (
  conn: ProtocolContext<string, ConnectionMade & ConnectionCount>,
): Observable<string> => conn.frames$.pipe(map((line) => `${conn.made.count} ${line}`));
export const annotated: Behaviour<string, string> = (events) =>
  events.pipe(countConnections(), protocol(counted));

// Forwarded messages continue as data events that broadcast() relays.
export const room: Behaviour<string, string> = (events) =>
  events.pipe(
    protocol((conn) => conn.frames$.pipe(map((line) => forward(`${conn.id}: ${line}`)))),
    broadcast(),
  );

export const wrongFrames = (events: Observable<ServerEvent<string>>): Observable<unknown> =>
  events.pipe(
    // @ts-expect-error the frames are strings, not numbers
    protocol((conn: ProtocolContext<number>) => conn.frames$),
  );

export const notCounted = (events: Observable<ServerEvent<string>>): Observable<unknown> =>
  events.pipe(
    // @ts-expect-error without countConnections() the connectionMade event has no count
    protocol((conn) => conn.frames$.pipe(map(() => conn.made.count))),
  );

// respond keeps the reply type: a number handler gives numbers.
export const replies: Observable<number> = (null as unknown as Observable<string>).pipe(
  respond((request) => Promise.resolve(request.length)),
);
// @ts-expect-error the replies are numbers
export const wrongReplies: Observable<string> = (null as unknown as Observable<string>).pipe(
  respond((request) => request.length),
);

// A requester's protocol runs on a connection with runProtocol.
const rpc = requester<{ id: number }, { id: number; ok: boolean }>({
  correlate: { requestId: (request) => request.id, replyId: (reply) => reply.id },
});
export const run: Observable<never> = runProtocol(connection, rpc.protocol, {
  decode: map((chunk: Buffer) => JSON.parse(chunk.toString()) as { id: number; ok: boolean }),
  encode: (request) => JSON.stringify(request),
});
export const reply: Promise<{ ok: boolean }> = rpc.requestAsync({ id: 1 });
// @ts-expect-error a request needs its id
rpc.request({});

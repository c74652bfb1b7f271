/**
 * Type tests for what a server emits, checked by `tsc --noEmit` (never run): the events a
 * behaviour passes on carry the frame type, so `serve` and `serveConnections` notifications are
 * typed with it. Each `@ts-expect-error` fails the type check if the line below it compiles.
 */
import { map, type Observable } from 'rxjs';
import {
  countConnections,
  echo,
  greet,
  lines,
  serve,
  serveConnections,
  type Behaviour,
  type Codec,
  type Connection,
  type ServerNotification,
  type ServerOutput,
} from 'rxnet';

declare const connections$: Observable<Connection>;

const echoLines: Behaviour<string, string> = (events) => events.pipe(countConnections(), echo());

export const served: Observable<ServerNotification<string>> = serve('tcp:0', echoLines, {
  decode: lines({ encoding: 'utf8' }),
});
export const overConnections: Observable<ServerOutput<string>> = serveConnections(
  connections$,
  echoLines,
  { decode: lines({ encoding: 'utf8' }) },
);
// Without a type argument, a notification is one of any server.
export const anyServer: Observable<ServerNotification> = served;

// @ts-expect-error: the lines are strings, not Buffers.
export const buffers: Observable<ServerNotification<Buffer>> = served;

export function lineOf(notification: ServerNotification<string>): string | undefined {
  if (notification.type !== 'data') return undefined;
  // @ts-expect-error: a line is a string, which has no byteLength.
  void notification.data.byteLength;
  return notification.data;
}

export const retyped: Behaviour<string, string> = (events) =>
  // @ts-expect-error: a behaviour passes on the server's own events, whose data is of the frame type.
  events.pipe(map((event) => (event.type === 'data' ? { ...event, data: 1 } : event)));

export const withFraming: Observable<ServerNotification<string>> = serve('tcp:0', echoLines, {
  framing: lines({ encoding: 'utf8' }),
});
export const withFramingOverConnections: Observable<ServerOutput<string>> = serveConnections(
  connections$,
  echoLines,
  { framing: lines({ encoding: 'utf8' }) },
);
// @ts-expect-error: this framing decodes Buffers, and the behaviour reads strings.
serve('tcp:0', echoLines, { framing: lines() });

interface Hello {
  readonly hello: string;
}
declare const helloCodec: Codec<Hello>;
const hello: Behaviour<Hello, Hello> = (events) => events.pipe(greet({ hello: 'world' }));
export const structured: Observable<ServerNotification<Hello>> = serve('tcp:0', hello, {
  framing: helloCodec,
});

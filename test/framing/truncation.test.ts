/**
 * A frame cut short by the peer's FIN, over real loopback sockets with serve(): every decoder
 * fails with TruncatedFrameError, and the server reports the connection as aborted with it (the
 * README's error table), not as a clean close. With `allowTruncation` it is not an error: the
 * delimiter-based decoders deliver the unfinished frame, the length-based ones drop it, and the
 * connection closes as done.
 */
import { type OperatorFunction, ReplaySubject, filter, firstValueFrom, map, merge } from 'rxjs';
import {
  delimited,
  lengthPrefixed,
  lines,
  modal,
  netstrings,
  serve,
  type Behaviour,
  type ServerNotification,
  type TruncationOptions,
} from 'rxnet';
import { within } from '../examples/harness';
import { LOOPBACK, rawClient } from '../helpers/sockets';

interface Case {
  /** The decoder, with or without `allowTruncation`. */
  readonly decode: (options: TruncationOptions) => OperatorFunction<Buffer, unknown>;
  /** A whole frame, then the start of another, which the FIN cuts short. */
  readonly input: Buffer;
  /** How many bytes of the cut frame arrived (TruncatedFrameError's `buffered`). */
  readonly buffered: number;
  /** The frames, as text, that arrive with `allowTruncation`. */
  readonly allowed: readonly string[];
}

/** The data of a frame as text: a Buffer, or a modal frame's `data`. */
function text(frame: unknown): string {
  return Buffer.isBuffer(frame) ? frame.toString() : String((frame as { data: Buffer }).data);
}

const cases: ReadonlyArray<[string, Case]> = [
  [
    'lines',
    {
      decode: (options) => lines({ delimiter: '\n', ...options }),
      input: Buffer.from('whole\npart'),
      buffered: 4,
      allowed: ['whole', 'part'],
    },
  ],
  [
    'delimited',
    {
      decode: (options) => delimited('\0', options),
      input: Buffer.from('whole\0part'),
      buffered: 4,
      allowed: ['whole', 'part'],
    },
  ],
  [
    'netstrings',
    {
      decode: (options) => netstrings(options),
      input: Buffer.from('5:whole,9:part'),
      buffered: 6,
      allowed: ['whole'],
    },
  ],
  [
    'lengthPrefixed',
    {
      decode: (options) => lengthPrefixed({ prefixBytes: 2, ...options }),
      input: Buffer.concat([Buffer.from([0, 5]), Buffer.from('whole'), Buffer.from([0, 9, 112])]),
      buffered: 3,
      allowed: ['whole'],
    },
  ],
  [
    'modal (line mode)',
    {
      decode: (options) =>
        modal({ seed: 0, mode: () => 'line', next: (n) => n + 1, delimiter: '\n', ...options }),
      input: Buffer.from('whole\npart'),
      buffered: 4,
      allowed: ['whole', 'part'],
    },
  ],
];

/**
 * Passes every event through and closes a connection at its FIN (`readConnectionLost`), so a clean
 * end shows up as `done` at once rather than after halfOpenTimeout.
 */
const closeAtFin: Behaviour<unknown> = (events) =>
  merge(
    events,
    events.pipe(
      filter((event) => event.type === 'readConnectionLost'),
      map((event) => ({ type: 'close', id: event.id }) as const),
    ),
  );

/**
 * Serves `decode` on port 0, sends `input` from a raw client followed by FIN, and resolves with
 * the frames the behaviour saw and the server's `connectionLost` reason.
 */
async function sendThenFin(
  decode: OperatorFunction<Buffer, unknown>,
  input: Buffer,
): Promise<{ frames: string[]; lost: Extract<ServerNotification, { type: 'connectionLost' }> }> {
  const notifications$ = new ReplaySubject<ServerNotification>();
  const subscription = serve(LOOPBACK, closeAtFin, { decode }).subscribe({
    next: (notification) => notifications$.next(notification),
    error: (error: unknown) => notifications$.error(error),
  });
  try {
    const listening = await firstValueFrom(notifications$);
    if (listening.type !== 'listening' || listening.address._tag !== 'TcpAddress')
      throw new Error(`expected listening first, got ${listening.type}`);
    const client = await rawClient(listening.address.port);
    client.on('error', () => undefined);
    client.end(input);
    const lost = await within(
      firstValueFrom(
        notifications$.pipe(
          filter(
            (n): n is Extract<ServerNotification, { type: 'connectionLost' }> =>
              n.type === 'connectionLost',
          ),
        ),
      ),
      'the connection to be lost',
    );
    // The server resets an aborted connection; the client only has to let go of its socket.
    client.destroy();
    const frames: string[] = [];
    notifications$.complete();
    notifications$.subscribe((n) => {
      if (n.type === 'data') frames.push(text(n.data));
    });
    return { frames, lost };
  } finally {
    subscription.unsubscribe();
  }
}

describe('a frame cut short by the peer FIN, over a real socket', () => {
  describe.each(cases)('%s', (_name, { decode, input, buffered, allowed }) => {
    it('aborts the connection with TruncatedFrameError, after delivering the whole frames', async () => {
      const { frames, lost } = await sendThenFin(decode({}), input);
      expect(frames).toEqual(['whole']);
      expect(lost.reason).toMatchObject({
        type: 'aborted',
        error: { name: 'TruncatedFrameError', code: 'RXNET_ERR_TRUNCATED_FRAME', buffered },
      });
    });

    it('closes cleanly with allowTruncation', async () => {
      const { frames, lost } = await sendThenFin(decode({ allowTruncation: true }), input);
      expect(frames).toEqual(allowed);
      expect(lost.reason).toEqual({ type: 'done' });
    });
  });
});

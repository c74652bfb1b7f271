import { type OperatorFunction, Subject } from 'rxjs';
import {
  echo,
  lengthPrefixed,
  lines,
  modal,
  netstrings,
  serveConnections,
  type CloseReason,
  type Connection,
} from 'rxnet';
import { memoryConnection } from 'rxnet/testing';
import { frameDecoderOf } from '../../src/framing/decoder';

/**
 * A server reads its connections' frames in one of two ways: rxnet's own decoders are fed each
 * chunk directly (src/transport/frameFeed.ts), any other operator is subscribed as an operator
 * chain. Both must behave the same: the same frames, the same events, the same close reasons,
 * whatever the chunking, down to one byte per chunk.
 */

interface Run {
  readonly events: string[];
  readonly written: string;
  readonly reason: CloseReason | undefined;
}

/** Serves one memory connection with `decode`, feeds it `input` in `chunkSize` chunks, then a FIN. */
function serveOnce(
  decode: OperatorFunction<Buffer, unknown>,
  input: Buffer,
  chunkSize: number,
): Run {
  const connection = memoryConnection({ id: 1 });
  const connections$ = new Subject<Connection>();
  const events: string[] = [];
  let reason: CloseReason | undefined;
  connection.closed$.subscribe((r) => (reason = r));
  const subscription = serveConnections(connections$, (events$) => events$.pipe(echo()), {
    decode,
    encode: (data: unknown) => (Buffer.isBuffer(data) ? data : Buffer.from(JSON.stringify(data))),
  }).subscribe((output) => {
    const data = 'data' in output ? output.data : undefined;
    events.push(
      `${output.type}${data === undefined ? '' : ` ${Buffer.isBuffer(data) ? data.toString() : JSON.stringify(data)}`}`,
    );
  });
  connections$.next(connection);
  for (let at = 0; at < input.length && connection.state === 'open'; at += chunkSize) {
    connection.receive(input.subarray(at, at + chunkSize));
  }
  if (connection.state === 'open') connection.closeFromPeer('clean');
  const run = { events, written: connection.writtenText, reason };
  subscription.unsubscribe();
  return run;
}

/** The reason as a comparable value: its type and its error's code. */
function describe_(reason: CloseReason | undefined): string {
  if (reason === undefined) return 'open';
  const error = 'error' in reason ? reason.error : undefined;
  return `${reason.type}${error === undefined ? '' : ` ${error.code}`}`;
}

const frame = (payload: string): Buffer => {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length);
  return Buffer.concat([header, Buffer.from(payload)]);
};

const CASES: readonly {
  readonly name: string;
  readonly decode: OperatorFunction<Buffer, unknown>;
  readonly input: Buffer;
}[] = [
  { name: 'lines, then a FIN', decode: lines().decode, input: Buffer.from('one\r\ntwo\r\nthr') },
  {
    name: 'lines, a line over the limit, then more',
    decode: lines({ maxLineBytes: 8 }).decode,
    input: Buffer.from('one\r\nmuch too long a line\r\nnever\r\n'),
  },
  {
    name: 'lengthPrefixed, then a truncated frame at the FIN',
    decode: lengthPrefixed().decode,
    input: Buffer.concat([frame('alpha'), frame('beta'), frame('gamma').subarray(0, 6)]),
  },
  {
    name: 'netstrings, then garbage',
    decode: netstrings().decode,
    input: Buffer.from('5:hello,3:abc,x:nope,2:no,'),
  },
  {
    name: 'modal, a line then two raw frames of 3 bytes',
    decode: modal<number>({
      seed: 0,
      mode: (n) => (n === 0 ? 'line' : { bytes: 3 }),
      next: (n) => n + 1,
    }),
    input: Buffer.from('HEAD\r\nabcdefgh'),
  },
];

describe('a served connection read directly and through an operator chain', () => {
  it.each(CASES)(
    '$name: the same events, replies and close reason at every chunk size',
    ({ decode, input }) => {
      expect(frameDecoderOf(decode)).toBeDefined();
      const chained: OperatorFunction<Buffer, unknown> = (source) => source.pipe(decode);
      expect(frameDecoderOf(chained)).toBeUndefined();
      for (let size = 1; size <= input.length; size++) {
        const direct = serveOnce(decode, input, size);
        const viaChain = serveOnce(chained, input, size);
        expect({ size, ...direct, reason: describe_(direct.reason) }).toEqual({
          size,
          ...viaChain,
          reason: describe_(viaChain.reason),
        });
      }
    },
  );

  it('aborts at a bad frame and delivers nothing after it, on the direct path', () => {
    const run = serveOnce(lines({ maxLineBytes: 8 }).decode, CASES[1]!.input, 64);
    expect(run.events).toEqual(['connectionMade', 'data one', 'connectionLost']);
    expect(describe_(run.reason)).toBe('aborted RXNET_ERR_FRAME_TOO_LONG');
  });

  it('takes the operator chain for a decoder that is not rxnet’s own', () => {
    expect(frameDecoderOf((source) => source.pipe(lines().decode))).toBeUndefined();
    expect(frameDecoderOf(lines({ encoding: 'utf8' }).decode)).toBeUndefined();
  });
});

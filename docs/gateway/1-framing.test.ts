import { from, lastValueFrom, toArray, type Observable } from 'rxjs';
import { FrameTooLongError, lengthPrefixed } from 'rxnet';
import { chunkings } from 'rxnet/testing';

/**
 * SBMP's frames as bytes: a u32 length that counts the whole 16-byte header, then the body.
 * lengthPrefixed() reads the length, waits for the whole frame and checks the cap as soon as the
 * length is known, before it buffers a byte of the body.
 */
const frames = lengthPrefixed({
  prefixBytes: 4,
  headerBytes: 16,
  lengthIncludesHeader: true,
  includeHeader: true,
  maxFrameBytes: 65_536,
});

/** The header's four fields, and the JSON body when there is one. */
function parse(frame: Buffer) {
  return {
    commandId: frame.readUInt32BE(4),
    status: frame.readUInt32BE(8),
    seq: frame.readUInt32BE(12),
    body: frame.length > 16 ? JSON.parse(frame.toString('utf8', 16)) : undefined,
  };
}

const decode = (chunks: readonly Buffer[]): Promise<unknown[]> =>
  lastValueFrom((from(chunks) as Observable<Buffer>).pipe(frames, toArray())).then((all) =>
    all.map(parse),
  );

// PROTOCOL.md §3: a HeartBeat (16 bytes, no body), then a relayer's login (71 bytes).
const heartbeat = Buffer.from('00000010' + '00000002' + '00000000' + '00000001', 'hex');
const body = '{"terminal_type": "relayer", "sb_code": "test_relayer"}';
const login = Buffer.concat([
  Buffer.from('00000047' + '00000001' + '00000000' + '00000007', 'hex'),
  Buffer.from(body),
]);

describe('SBMP framing', () => {
  it.each(chunkings(Buffer.concat([heartbeat, login])))(
    'gives the same two frames however TCP cuts them: $name',
    async ({ chunks }) => {
      expect(await decode(chunks)).toEqual([
        { commandId: 2, status: 0, seq: 1, body: undefined },
        {
          commandId: 1,
          status: 0,
          seq: 7,
          body: { terminal_type: 'relayer', sb_code: 'test_relayer' },
        },
      ]);
    },
  );

  it('fails as soon as a header announces more than the cap', async () => {
    const huge = Buffer.from('00100000' + '00000001' + '00000000' + '00000001', 'hex');
    await expect(decode([huge])).rejects.toBeInstanceOf(FrameTooLongError);
  });
});

/**
 * The SBMP codec (examples/iot/sbmp.ts): the golden frames of PROTOCOL.md §3, every decoder case
 * at every chunking, the codec-level bad-input rows of §9.6, and random input.
 */
import fc from 'fast-check';
import { concat, from, NEVER, type Subscription } from 'rxjs';
import {
  FrameTooLongError,
  InvalidFrameError,
  RxnetError,
  serve,
  TruncatedFrameError,
  type ConnectionLost,
  type ServerNotification,
} from 'rxnet';
import { chunkings, rechunk } from 'rxnet/testing';
import {
  BOOK_MAX_SBMP_FRAME_BYTES,
  Cmd,
  DEFAULT_MAX_SBMP_FRAME_BYTES,
  encodeSbmp,
  HEADER_BYTES,
  isResponse,
  RESPONSE_BIT,
  responseIdOf,
  sbmp,
  SbmpFrameTooShortError,
  Status,
  type SbmpFrame,
} from '../../../examples/iot/sbmp';
import { RawClient, Resources, within } from '../harness';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');
/** A frame's bytes with a body written by hand, as a peer other than the encoder would send it. */
const raw = (commandId: number, status: number, seq: number, body: Buffer | string): Buffer => {
  const payload = typeof body === 'string' ? utf8(body) : body;
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(HEADER_BYTES + payload.length, 0);
  header.writeUInt32BE(commandId, 4);
  header.writeUInt32BE(status, 8);
  header.writeUInt32BE(seq, 12);
  return Buffer.concat([header, payload]);
};

/** What the decoder did with `chunks` fed synchronously; `complete` ends the source after them. */
function decode(
  chunks: readonly Buffer[],
  options: { complete?: boolean; maxFrameBytes?: number } = {},
): { frames: SbmpFrame[]; error: unknown; completed: boolean } {
  const frames: SbmpFrame[] = [];
  let error: unknown;
  let completed = false;
  const source = options.complete === false ? concat(from(chunks), NEVER) : from(chunks);
  const framing =
    options.maxFrameBytes === undefined ? sbmp() : sbmp({ maxFrameBytes: options.maxFrameBytes });
  const subscription = source.pipe(framing).subscribe({
    next: (frame) => frames.push(frame),
    error: (caught: unknown) => (error = caught),
    complete: () => (completed = true),
  });
  subscription.unsubscribe();
  return { frames, error, completed };
}

// PROTOCOL.md §3's examples, byte for byte (the book's bodies are Python's json.dumps: ", " and ": ").
const golden = {
  heartBeat: hex('00000010 00000002 00000000 00000001'),
  heartBeatReply: hex('00000010 80000002 00000000 00000001'),
  relayerLogin: Buffer.concat([
    hex('00000047 00000001 00000000 00000007'),
    utf8('{"terminal_type": "relayer", "sb_code": "test_relayer"}'),
  ]),
  relayerLoginReply: Buffer.concat([
    hex('0000001d 80000001 00000000 00000007'),
    utf8('{"result": 0}'),
  ]),
  controlTimedOut: Buffer.concat([
    hex('00000031 80060001 00000012 00000009'),
    utf8('{"error": "relayer resp timeout"}'),
  ]),
};

describe('sbmp', () => {
  describe('golden frames (PROTOCOL.md §3)', () => {
    it('has the §3 examples at the lengths §3 gives', () => {
      expect(golden.heartBeat).toHaveLength(16);
      expect(golden.relayerLogin).toHaveLength(71);
      expect(golden.relayerLoginReply).toHaveLength(0x1d);
      expect(golden.controlTimedOut).toHaveLength(0x31);
    });

    it('encodes a HeartBeat and its reply as the exact 16 bytes of §3', () => {
      expect(encodeSbmp({ commandId: Cmd.HeartBeat, status: 0, seq: 1 })).toEqual(golden.heartBeat);
      expect(encodeSbmp({ commandId: 0x80000002, status: 0, seq: 1 })).toEqual(
        golden.heartBeatReply,
      );
    });

    it('encodes the §3 login, its reply and the timed-out control with §3 headers and compact JSON', () => {
      // The encoder writes JSON.stringify's compact form, so the length differs from the book's
      // spaced bodies by the spaces; the other header fields are §3's bytes.
      const cases: [SbmpFrame, Buffer, string][] = [
        [
          {
            commandId: Cmd.Authorize,
            status: 0,
            seq: 7,
            body: { terminal_type: 'relayer', sb_code: 'test_relayer' },
          },
          golden.relayerLogin,
          '{"terminal_type":"relayer","sb_code":"test_relayer"}',
        ],
        [
          { commandId: 0x80000001, status: 0, seq: 7, body: { result: 0 } },
          golden.relayerLoginReply,
          '{"result":0}',
        ],
        [
          {
            commandId: 0x80060001,
            status: Status.RelayerTimeout,
            seq: 9,
            body: { error: 'relayer resp timeout' },
          },
          golden.controlTimedOut,
          '{"error":"relayer resp timeout"}',
        ],
      ];
      for (const [frame, book, json] of cases) {
        const expected = Buffer.concat([Buffer.alloc(4), book.subarray(4, 16), utf8(json)]);
        expected.writeUInt32BE(16 + Buffer.byteLength(json), 0);
        expect(encodeSbmp(frame)).toEqual(expected);
      }
    });

    it.each([
      ['HeartBeat', golden.heartBeat, { commandId: 2, status: 0, seq: 1 }],
      ['HeartBeat reply', golden.heartBeatReply, { commandId: 0x80000002, status: 0, seq: 1 }],
      [
        'relayer login',
        golden.relayerLogin,
        {
          commandId: 1,
          status: 0,
          seq: 7,
          body: { terminal_type: 'relayer', sb_code: 'test_relayer' },
        },
      ],
      [
        'login reply',
        golden.relayerLoginReply,
        { commandId: 0x80000001, status: 0, seq: 7, body: { result: 0 } },
      ],
      [
        'control timed out',
        golden.controlTimedOut,
        { commandId: 0x80060001, status: 18, seq: 9, body: { error: 'relayer resp timeout' } },
      ],
    ])('decodes the §3 %s', (_name, bytes, expected) => {
      const { frames, error } = decode([bytes]);
      expect(error).toBeUndefined();
      expect(frames).toEqual([expected]);
    });

    it('writes a response id made with | as the unsigned id the decoder reports', () => {
      const id = Cmd.HeartBeat | RESPONSE_BIT;
      expect(id).toBeLessThan(0);
      expect(encodeSbmp({ commandId: id, status: 0, seq: 1 })).toEqual(golden.heartBeatReply);
      expect(responseIdOf(Cmd.HeartBeat)).toBe(decode([golden.heartBeatReply]).frames[0].commandId);
    });

    it('tells responses from requests by bit 31', () => {
      expect(isResponse({ commandId: 0x80000002, status: 0, seq: 1 })).toBe(true);
      expect(isResponse({ commandId: Cmd.HeartBeat, status: 0, seq: 1 })).toBe(false);
    });
  });

  describe('decoder at every chunking', () => {
    const stream = Buffer.concat([
      golden.heartBeat,
      golden.relayerLogin,
      // Python 2's json.dumps: non-ASCII as \u escapes.
      raw(Cmd.AddApartment, 0, 8, '{"name": "\\u5ba2\\u5385"}'),
      // The encoder's raw UTF-8, a character of 4 bytes included.
      raw(Cmd.AddApartment, 0, 9, '{"name":"客厅 🏠"}'),
      raw(0x80010002, 0, 10, '{"scene_id": null, "apartment_info": {"relayers": []}}'),
      raw(Cmd.KeepAlive, 0, 0, ''),
    ]);
    const expected: SbmpFrame[] = [
      { commandId: 2, status: 0, seq: 1 },
      {
        commandId: 1,
        status: 0,
        seq: 7,
        body: { terminal_type: 'relayer', sb_code: 'test_relayer' },
      },
      { commandId: Cmd.AddApartment, status: 0, seq: 8, body: { name: '客厅' } },
      { commandId: Cmd.AddApartment, status: 0, seq: 9, body: { name: '客厅 🏠' } },
      {
        commandId: 0x80010002,
        status: 0,
        seq: 10,
        body: { scene_id: null, apartment_info: { relayers: [] } },
      },
      { commandId: 0, status: 0, seq: 0 },
    ];

    it.each(chunkings(stream))(
      'decodes bare frames, \\u escapes and raw UTF-8 ($name)',
      ({ chunks }) => {
        const { frames, error, completed } = decode(chunks);
        expect(error).toBeUndefined();
        expect(frames).toEqual(expected);
        expect(completed).toBe(true);
      },
    );

    const malformed = Buffer.concat([
      raw(Cmd.AddDevice, 0, 1, '{"apartment_id": 1'),
      raw(Cmd.AddDevice, 0, 2, '[1, 2]'),
      raw(Cmd.AddDevice, 0, 3, 'null'),
      raw(Cmd.AddDevice, 0, 4, '42'),
      raw(Cmd.AddDevice, 0, 5, '"text"'),
      raw(Cmd.AddDevice, 0, 6, Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])),
      // A UTF-8 character cut short at the body's end.
      raw(Cmd.AddDevice, 0, 7, Buffer.concat([utf8('{"a":"'), Buffer.from([0xe5, 0xae])])),
      raw(Cmd.AddDevice, 0, 8, ' '),
      golden.heartBeat,
    ]);

    it.each(chunkings(malformed))(
      'flags bodies that are not one UTF-8 JSON object as malformed and goes on ($name)',
      ({ chunks }) => {
        const { frames, error } = decode(chunks);
        expect(error).toBeUndefined();
        expect(frames).toEqual([
          ...[1, 2, 3, 4, 5, 6, 7, 8].map((seq) => ({
            commandId: Cmd.AddDevice,
            status: 0,
            seq,
            malformed: true,
          })),
          { commandId: 2, status: 0, seq: 1 },
        ]);
      },
    );

    const tooShort = Buffer.concat([
      golden.heartBeat,
      hex('0000000f 00000002 00000000 00000002'),
      golden.heartBeat,
    ]);

    it.each(chunkings(tooShort))(
      'fails with ERR_SBMP_FRAME_TOO_SHORT on a length below 16 and delivers nothing after it ($name)',
      ({ chunks }) => {
        const { frames, error } = decode(chunks);
        expect(frames).toEqual([{ commandId: 2, status: 0, seq: 1 }]);
        expect(error).toBeInstanceOf(SbmpFrameTooShortError);
        expect(error).toMatchObject({ code: 'ERR_SBMP_FRAME_TOO_SHORT', length: 15 });
        expect((error as SbmpFrameTooShortError).cause).toBeInstanceOf(InvalidFrameError);
      },
    );

    const garbage = Buffer.concat([golden.heartBeat, utf8('GET / HTTP/1.0\r\n\r\n')]);

    it.each(chunkings(garbage))(
      'fails with FrameTooLongError on text garbage, whose length is far above the cap ($name)',
      ({ chunks }) => {
        const { frames, error } = decode(chunks);
        expect(frames).toEqual([{ commandId: 2, status: 0, seq: 1 }]);
        expect(error).toBeInstanceOf(FrameTooLongError);
      },
    );

    const zero = hex('00000000 00000002 00000000 00000001 00000010 00000002 00000000 00000002');

    it.each(chunkings(zero))(
      'fails with ERR_SBMP_FRAME_TOO_SHORT on a zero length, where the book stalled ($name)',
      ({ chunks }) => {
        const { frames, error } = decode(chunks);
        expect(frames).toEqual([]);
        expect(error).toMatchObject({ code: 'ERR_SBMP_FRAME_TOO_SHORT', length: 0 });
      },
    );

    // The dead sync tag 01 BB (§3) makes the first length 0x01BB0000 (about 29 MB), above even the
    // book mode's cap: §9.6 files it under "length < 16", but the length check that stops it is the cap.
    const tagged = Buffer.concat([hex('01bb'), golden.heartBeat]);

    it.each(chunkings(tagged))(
      'fails with FrameTooLongError on a stream that starts with the 01 BB tag ($name)',
      ({ chunks }) => {
        for (const maxFrameBytes of [DEFAULT_MAX_SBMP_FRAME_BYTES, BOOK_MAX_SBMP_FRAME_BYTES]) {
          const { frames, error } = decode(chunks, { maxFrameBytes });
          expect(frames).toEqual([]);
          expect(error).toBeInstanceOf(FrameTooLongError);
          expect(error).toMatchObject({ limit: maxFrameBytes, received: 0x01bb0000 });
        }
      },
    );

    const tooLong = Buffer.concat([
      golden.heartBeat,
      hex('00010001 00060001 00000000 00000003'),
      Buffer.alloc(64, 0x20),
    ]);

    it.each(chunkings(tooLong))(
      'fails with FrameTooLongError on a length above the default cap of 65 536 ($name)',
      ({ chunks }) => {
        const { frames, error } = decode(chunks);
        expect(frames).toEqual([{ commandId: 2, status: 0, seq: 1 }]);
        expect(error).toBeInstanceOf(FrameTooLongError);
        expect(error).toMatchObject({ limit: 65_536, received: 65_537 });
      },
    );

    const partial = Buffer.concat([golden.heartBeat, golden.relayerLogin.subarray(0, 40)]);

    it.each(chunkings(partial))(
      'emits nothing for a partial frame while the stream is open ($name)',
      ({ chunks }) => {
        const { frames, error, completed } = decode(chunks, { complete: false });
        expect(frames).toEqual([{ commandId: 2, status: 0, seq: 1 }]);
        expect(error).toBeUndefined();
        expect(completed).toBe(false);
      },
    );

    it.each(chunkings(partial))(
      'fails with TruncatedFrameError when the stream ends inside a frame ($name)',
      ({ chunks }) => {
        const { frames, error } = decode(chunks);
        expect(frames).toEqual([{ commandId: 2, status: 0, seq: 1 }]);
        expect(error).toBeInstanceOf(TruncatedFrameError);
      },
    );
  });

  describe('maxFrameBytes', () => {
    it('fails as soon as the length field is read, before the rest of the header arrives', () => {
      const { frames, error } = decode([hex('00010001')], { complete: false });
      expect(frames).toEqual([]);
      expect(error).toBeInstanceOf(FrameTooLongError);
    });

    it('accepts a frame of exactly the cap and refuses one byte more', () => {
      const body = `{"a":"${'x'.repeat(100 - 16 - 8)}"}`;
      const frame = raw(Cmd.EventDev, 0, 1, body);
      expect(frame).toHaveLength(100);
      expect(decode([frame], { maxFrameBytes: 100 }).frames).toHaveLength(1);
      expect(decode([frame], { maxFrameBytes: 99 }).error).toMatchObject({
        code: 'RXNET_ERR_FRAME_TOO_LONG',
        limit: 99,
        received: 100,
      });
    });

    it('is 65 536 by default and 16 MiB in book mode', () => {
      expect(DEFAULT_MAX_SBMP_FRAME_BYTES).toBe(65_536);
      expect(BOOK_MAX_SBMP_FRAME_BYTES).toBe(16 * 1024 * 1024);
    });

    it('throws TypeError at call time for a cap below the header', () => {
      expect(() => sbmp({ maxFrameBytes: 15 })).toThrow(TypeError);
    });
  });

  describe('encoder', () => {
    it('writes raw UTF-8, not \\u escapes', () => {
      const bytes = encodeSbmp({
        commandId: Cmd.AddApartment,
        status: 0,
        seq: 3,
        body: { name: '客厅' },
      });
      expect(bytes.subarray(16).toString('utf8')).toBe('{"name":"客厅"}');
      expect(bytes.readUInt32BE(0)).toBe(bytes.length);
    });

    it('gives serve a bare frame as one part and a frame with a body as header and body', () => {
      const { encode } = sbmp();
      expect(encode({ commandId: 2, status: 0, seq: 1 })).toEqual([golden.heartBeat]);
      const parts = encode({ commandId: 0x80000001, status: 0, seq: 7, body: { result: 0 } });
      expect(parts).toHaveLength(2);
      expect(Buffer.concat(parts as Buffer[])).toEqual(raw(0x80000001, 0, 7, '{"result":0}'));
    });

    it('writes a malformed frame as a bare header', () => {
      expect(encodeSbmp({ commandId: 2, status: 0, seq: 1, malformed: true })).toEqual(
        golden.heartBeat,
      );
    });

    it('refuses a frame its peer would refuse with FrameTooLongError', () => {
      const body = { blob: 'x'.repeat(DEFAULT_MAX_SBMP_FRAME_BYTES) };
      expect(() => encodeSbmp({ commandId: 1, status: 0, seq: 1, body })).toThrow(
        FrameTooLongError,
      );
      expect(() => sbmp().encode({ commandId: 1, status: 0, seq: 1, body })).toThrow(
        FrameTooLongError,
      );
      expect(
        encodeSbmp(
          { commandId: 1, status: 0, seq: 1, body },
          { maxFrameBytes: BOOK_MAX_SBMP_FRAME_BYTES },
        ),
      ).toHaveLength(16 + 11 + DEFAULT_MAX_SBMP_FRAME_BYTES);
    });

    it.each([
      ['a seq above 32 bits', { commandId: 1, status: 0, seq: 2 ** 32 }],
      ['a seq below -2^31', { commandId: 1, status: 0, seq: -(2 ** 31) - 1 }],
      ['a fractional status', { commandId: 1, status: 0.5, seq: 1 }],
      ['a NaN command id', { commandId: NaN, status: 0, seq: 1 }],
    ])('throws TypeError for %s', (_name, frame) => {
      expect(() => encodeSbmp(frame)).toThrow(TypeError);
    });
  });

  describe('random input', () => {
    const arbitraryBody = fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: undefined });
    const arbitraryFrame = fc.record({
      commandId: fc.nat({ max: 0xffffffff }),
      status: fc.nat({ max: 0xffffffff }),
      seq: fc.nat({ max: 0xffffffff }),
      body: arbitraryBody,
    });

    it('decodes what it encodes, under any rechunking', () => {
      fc.assert(
        fc.property(fc.array(arbitraryFrame, { maxLength: 8 }), fc.integer(), (frames, seed) => {
          const wanted = frames.map(({ body, ...header }) =>
            body === undefined
              ? header
              : { ...header, body: JSON.parse(JSON.stringify(body)) as unknown },
          );
          const bytes = Buffer.concat(frames.map((frame) => encodeSbmp(frame as SbmpFrame)));
          const { frames: decoded, error } = decode(rechunk(bytes, seed, { maxChunkBytes: 32 }));
          expect(error).toBeUndefined();
          expect(decoded).toEqual(wanted);
        }),
      );
    });

    it('ends random bytes in frames or a typed error, never a throw', () => {
      const garbage = fc.uint8Array({ maxLength: 200 }).map((array) => Buffer.from(array));
      // Lengths near the header's size, so that short, bare and small frames all come up.
      const nearHeader = fc
        .tuple(fc.integer({ min: 0, max: 40 }), fc.uint8Array({ maxLength: 60 }))
        .map(([length, rest]) => {
          const prefix = Buffer.alloc(4);
          prefix.writeUInt32BE(length);
          return Buffer.concat([prefix, Buffer.from(rest)]);
        });
      fc.assert(
        fc.property(
          fc.array(fc.oneof(garbage, nearHeader), { maxLength: 6 }),
          fc.integer(),
          (parts, seed) => {
            const bytes = Buffer.concat(parts);
            let outcome: ReturnType<typeof decode> | undefined;
            expect(
              () => (outcome = decode(rechunk(bytes, seed, { maxChunkBytes: 24 }))),
            ).not.toThrow();
            const { frames, error, completed } = outcome!;
            if (error === undefined) expect(completed).toBe(true);
            else
              expect(error instanceof RxnetError || error instanceof SbmpFrameTooShortError).toBe(
                true,
              );
            for (const frame of frames) {
              expect(frame.body === undefined || typeof frame.body === 'object').toBe(true);
            }
          },
        ),
      );
    });
  });

  describe('served', () => {
    const resources = new Resources();
    afterEach(() => resources.disposeAll());

    /** Serves a behaviour that passes events through, on port 0; resolves with the port and events. */
    async function server(): Promise<{ port: number; lost: Promise<ConnectionLost> }> {
      let subscription: Subscription | undefined;
      let onLost: (event: ConnectionLost) => void = () => undefined;
      const lost = new Promise<ConnectionLost>((resolve) => (onLost = resolve));
      const port = await new Promise<number>((resolve, reject) => {
        subscription = serve('tcp:0:interface=127.0.0.1', (events) => events, {
          framing: sbmp(),
        }).subscribe({
          next(notification: ServerNotification) {
            if (notification.type === 'listening' && notification.address._tag === 'TcpAddress') {
              resolve(notification.address.port);
            }
            if (notification.type === 'connectionLost') onLost(notification);
          },
          error: reject,
        });
      });
      resources.add({ dispose: async () => subscription?.unsubscribe() });
      return { port, lost };
    }

    it('closes the connection with InvalidFrameError caused by ERR_SBMP_FRAME_TOO_SHORT', async () => {
      const { port, lost } = await server();
      const client = await RawClient.connect(resources, port);
      await client.write(hex('00000008 00000002 00000000 00000001'));
      const { reason } = await within(lost, 'the connection to close');
      expect(reason.type).toBe('aborted');
      const error = reason.type === 'aborted' ? reason.error : undefined;
      expect(error).toBeInstanceOf(InvalidFrameError);
      expect(error?.cause).toBeInstanceOf(SbmpFrameTooShortError);
      expect((error?.cause as SbmpFrameTooShortError).code).toBe('ERR_SBMP_FRAME_TOO_SHORT');
      await within(client.closed, 'the client to see the close');
    });

    it('closes the connection with FrameTooLongError as its reason on a length above the cap', async () => {
      const { port, lost } = await server();
      const client = await RawClient.connect(resources, port);
      await client.write(hex('7fffffff'));
      const { reason } = await within(lost, 'the connection to close');
      expect(reason).toMatchObject({
        type: 'aborted',
        error: { code: 'RXNET_ERR_FRAME_TOO_LONG' },
      });
    });
  });
});

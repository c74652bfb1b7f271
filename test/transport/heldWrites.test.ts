import { Writable } from 'node:stream';
import { HeldWrites, WRITEV_MIN_AVERAGE_BYTES } from '../../src/transport/connection/heldWrites';

/** A real Writable that records each `_write` and `_writev` call with the chunks it was given. */
function recordingStream(): { stream: Writable; calls: Buffer[][] } {
  const calls: Buffer[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      calls.push([chunk]);
      callback();
    },
    writev(chunks, callback) {
      calls.push(chunks.map(({ chunk }) => chunk as Buffer));
      callback();
    },
  });
  return { stream, calls };
}

describe('HeldWrites', () => {
  it('writes one held chunk as it is, with its callback', async () => {
    const { stream, calls } = recordingStream();
    const held = new HeldWrites();
    const chunk = Buffer.from('one line\n');
    const flushed = new Promise<void>((resolve) => held.hold(chunk, () => resolve()));
    held.flushTo(stream);
    await flushed;
    expect(calls).toEqual([[chunk]]);
    expect(calls[0]![0]).toBe(chunk);
    expect(held.bytes).toBe(0);
  });

  it('joins small chunks into one write, in order, and calls every callback once', async () => {
    const { stream, calls } = recordingStream();
    const held = new HeldWrites();
    const called: number[] = [];
    held.hold('a\n', () => called.push(1));
    held.hold(Buffer.from('b\n'), undefined);
    const last = new Promise<void>((resolve) =>
      held.hold('c\n', () => {
        called.push(3);
        resolve();
      }),
    );
    expect(held.bytes).toBe(6);
    held.flushTo(stream);
    await last;
    expect(calls.map((call) => Buffer.concat(call).toString())).toEqual(['a\nb\nc\n']);
    expect(calls[0]).toHaveLength(1);
    expect(called).toEqual([1, 3]);
  });

  it('writes large chunks as they are, without a copy, in one writev', async () => {
    const { stream, calls } = recordingStream();
    const held = new HeldWrites();
    const big = [1, 2, 3].map((n) => Buffer.alloc(WRITEV_MIN_AVERAGE_BYTES, n));
    let callbacks = 0;
    const done = new Promise<void>((resolve) => {
      for (const chunk of big)
        held.hold(chunk, () => {
          callbacks += 1;
          if (callbacks === big.length) resolve();
        });
    });
    held.flushTo(stream);
    await done;
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(3);
    calls[0]!.forEach((chunk, i) => expect(chunk).toBe(big[i]));
  });

  it('drops what it holds, failing the callbacks on the next tick', async () => {
    const { stream, calls } = recordingStream();
    const held = new HeldWrites();
    const failure = new Promise<unknown>((resolve) => held.hold('x', resolve));
    held.drop();
    held.flushTo(stream);
    expect(await failure).toMatchObject({ code: 'ERR_STREAM_DESTROYED' });
    expect(calls).toEqual([]);
    expect(held.bytes).toBe(0);
  });
});

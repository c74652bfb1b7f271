import { Subject, filter, map, mergeMap, of } from 'rxjs';
import { lines } from '../../src/framing/lines';
import { broadcast } from '../../src/operators/broadcast';
import { memoryConnection, type MemoryConnection } from '../../src/testing/memoryConnection';
import { FAN_OUT_BATCH_BYTES } from '../../src/transport/fanOutBatch';
import { serveConnections } from '../../src/transport/serveConnections';
import type { Behaviour, Connection, Output, ServerCommand, ServerEvent } from '../../src/types';

const NEWLINE = Buffer.from('\n');
const encode = (line: Output): Output =>
  typeof line === 'string' ? `${line}\n` : Buffer.concat([line, NEWLINE]);

/** Serves `count` memory connections (ids 1..count) with `behaviour`, framed in '\n' lines. */
function serveLines(
  count: number,
  behaviour: Behaviour<Buffer, Output>,
): { conns: MemoryConnection[]; stop(): void } {
  const connections = new Subject<Connection>();
  const subscription = serveConnections<Buffer, Output>(connections, behaviour, {
    decode: lines({ delimiter: '\n' }),
    encode,
  }).subscribe();
  const conns = Array.from({ length: count }, (_, index) => memoryConnection({ id: index + 1 }));
  for (const conn of conns) connections.next(conn);
  return { conns, stop: () => subscription.unsubscribe() };
}

describe('the fan-out batch', () => {
  it('writes the lines of one received chunk to each receiver as one write, before receive() returns', () => {
    const { conns, stop } = serveLines(4, (events) => events.pipe(broadcast()));
    const [sender, ...receivers] = conns;
    sender!.receive('one\ntwo\nthree\n');
    for (const receiver of receivers) {
      expect(receiver.writes.map(String)).toEqual(['one\ntwo\nthree\n']);
    }
    expect(sender!.writes).toEqual([]);
    stop();
  });

  it('keeps a write to one receiver in order between the lines around it', () => {
    // Each line is broadcast; the broadcast of 'ping' is followed by a note to 2 alone.
    const behaviour: Behaviour<Buffer, Output> = (events) =>
      events.pipe(
        broadcast(),
        mergeMap((item: ServerEvent<Buffer> | ServerCommand<Output>) =>
          item.type === 'write' && item.data.toString() === 'ping'
            ? of(item, { type: 'write', to: 2, data: 'note' } as const)
            : of(item),
        ),
      );
    const { conns, stop } = serveLines(3, behaviour);
    conns[0]!.receive('a\nping\nb\n');
    expect(conns[1]!.writtenText).toBe('a\nping\nnote\nb\n');
    expect(conns[2]!.writtenText).toBe('a\nping\nb\n');
    stop();
  });

  it('delivers the lines before a close command in the same chunk, then the FIN', () => {
    const behaviour: Behaviour<Buffer, Output> = (events) =>
      events.pipe(
        broadcast(),
        mergeMap((item: ServerEvent<Buffer> | ServerCommand<Output>) =>
          item.type === 'write' && item.data.toString() === 'bye'
            ? of(item, { type: 'close', id: 2 } as const)
            : of(item),
        ),
      );
    const { conns, stop } = serveLines(3, behaviour);
    conns[0]!.receive('x\nbye\ny\n');
    expect(conns[1]!.writtenText).toBe('x\nbye\n');
    expect(conns[1]!.closedBy).toBe('end');
    expect(conns[2]!.writtenText).toBe('x\nbye\ny\n');
    stop();
  });

  it('writes at once what is broadcast outside a received chunk', () => {
    const ticks = new Subject<void>();
    const behaviour: Behaviour<Buffer, Output> = () =>
      ticks.pipe(map(() => ({ type: 'write', to: [1, 2], data: 'tick' }) as const));
    const { conns, stop } = serveLines(2, behaviour);
    ticks.next();
    expect(conns.map((conn) => conn.writtenText)).toEqual(['tick\n', 'tick\n']);
    stop();
  });

  it('writes out what it holds at FAN_OUT_BATCH_BYTES, within one chunk', () => {
    const { conns, stop } = serveLines(2, (events) => events.pipe(broadcast()));
    const line = 'x'.repeat(1023);
    const count = (2 * FAN_OUT_BATCH_BYTES) / 1024 + 1;
    conns[0]!.receive(`${line}\n`.repeat(count));
    const writes = conns[1]!.writes;
    expect(writes.length).toBe(3);
    expect(writes[0]!.length).toBe(FAN_OUT_BATCH_BYTES);
    expect(Buffer.concat(writes).toString()).toBe(`${line}\n`.repeat(count));
    stop();
  });

  it('pauses the sender whose lines fill a receiver, until the receiver drains', () => {
    const connections = new Subject<Connection>();
    const subscription = serveConnections<Buffer, Output>(
      connections,
      (events) => events.pipe(broadcast()),
      { decode: lines({ delimiter: '\n' }), encode },
    ).subscribe();
    const sender = memoryConnection({ id: 1 });
    const slow = memoryConnection({ id: 2, manualFlush: true, writeHighWaterMark: 8 });
    connections.next(sender);
    connections.next(slow);
    sender.receive('0123\n4567\n');
    expect(slow.pendingWriteBytes).toBe(10);
    // Paused: what the sender sends now waits, undelivered, until the receiver drains.
    sender.receive('later\n');
    expect(slow.pendingWriteBytes).toBe(10);
    slow.flush();
    expect(slow.writtenText).toBe('0123\n4567\nlater\n');
    subscription.unsubscribe();
  });

  it('ignores a receiver that left while the lines were held', () => {
    const behaviour: Behaviour<Buffer, Output> = (events) =>
      events.pipe(
        broadcast(),
        filter((item) => item.type !== 'data' || item.data.toString() !== 'drop'),
        mergeMap((item: ServerEvent<Buffer> | ServerCommand<Output>) =>
          item.type === 'write' && item.data.toString() === 'drop'
            ? of({ type: 'abort', id: 3 } as const)
            : of(item),
        ),
      );
    const { conns, stop } = serveLines(3, behaviour);
    conns[0]!.receive('a\ndrop\nb\n');
    expect(conns[1]!.writtenText).toBe('a\nb\n');
    expect(conns[2]!.writtenText).toBe('a\n');
    expect(conns[2]!.state).toBe('closed');
    stop();
  });
});

import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  filter,
  firstValueFrom,
  map,
  of,
  ReplaySubject,
  Subject,
  type Subscription,
  toArray,
  VirtualTimeScheduler,
} from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { FrameTooLongError } from '../../src/errors';
import { listen } from '../../src/net/listen';
import { echo } from '../../src/operators/echo';
import { serveConnections, type ServerOutput } from '../../src/transport/serveConnections';
import {
  DEFAULT_WIRETAP_MAX_DUMP_BYTES,
  wiretap,
  type WiretapRecord,
} from '../../src/observability/wiretap';
import { memoryConnection } from '../../src/testing/memoryConnection';
import { observableMatcher } from '../../src/testing/observableMatcher';
import { record } from '../../src/testing/recorder';
import type { Address, Connection } from '../../src/types';
import { rawClient, receiveAll } from '../helpers/sockets';

/** A record without its time, as one short string: `read hello`, `closed done`. */
function brief(record: WiretapRecord): string {
  switch (record.type) {
    case 'read':
    case 'write':
      return `${record.type} ${record.data.toString('utf8')}`;
    case 'abort':
      return `abort ${record.reason?.code ?? ''}`.trim();
    case 'connectionLost':
      return `connectionLost ${record.reason.type}`;
    default:
      return record.type;
  }
}

/** Wiretaps a memory connection in hex format on a virtual clock, collecting what it logs. */
function tapped(options: { maxDumpBytes?: number; format?: 'hex' | 'text' } = {}) {
  const scheduler = new VirtualTimeScheduler();
  const lines: string[] = [];
  const inner = memoryConnection({ scheduler });
  const connection = wiretap(inner, { ...options, scheduler, log: (line) => lines.push(line) });
  return { scheduler, lines, inner, connection };
}

describe('wiretap', () => {
  let testScheduler: TestScheduler;
  beforeEach(() => {
    testScheduler = new TestScheduler(observableMatcher);
  });

  describe("format 'records'", () => {
    it('records the tap, each read before the reply it causes, the FIN, end() and the close, in virtual time', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const records = new ReplaySubject<WiretapRecord>();
        const input = cold('-a------b---|', { a: 'hello', b: 'bye' });
        const connection = wiretap(memoryConnection({ scheduler: testScheduler, input }), {
          format: 'records',
          log: records,
          scheduler: testScheduler,
        });
        connection.data$.subscribe({
          next: (chunk) => connection.write(chunk.toString('utf8').toUpperCase()),
          complete: () => connection.end(),
        });
        expectObservable(records.pipe(map(brief))).toBe('t(rw)---(xy)(fec|)', {
          t: 'tapped',
          r: 'read hello',
          w: 'write HELLO',
          x: 'read bye',
          y: 'write BYE',
          f: 'readConnectionLost',
          e: 'end',
          c: 'connectionLost done',
        });
      });
    });

    it("stamps each record with the scheduler's time and the connection's id and addresses", () => {
      testScheduler.run(({ cold, flush }) => {
        const records: WiretapRecord[] = [];
        const inner = memoryConnection({
          scheduler: testScheduler,
          id: 7,
          input: cold('---a', { a: 'x' }),
        });
        const connection = wiretap(inner, {
          format: 'records',
          log: (entry) => records.push(entry),
          scheduler: testScheduler,
        });
        connection.data$.subscribe();
        flush();
        expect(records).toEqual([
          {
            type: 'tapped',
            time: 0,
            id: 7,
            state: 'open',
            local: { _tag: 'MemoryAddress', name: 'local' },
            remote: { _tag: 'MemoryAddress', name: 'remote' },
          },
          { type: 'read', time: 3, id: 7, data: Buffer.from('x') },
        ]);
      });
    });

    it('can be recorded by the testing kit: record() takes the records and ends at the close', async () => {
      const scheduler = new VirtualTimeScheduler();
      const records = new Subject<WiretapRecord>();
      const recording = record(records.pipe(map(brief)), { scheduler });
      const inner = memoryConnection({ scheduler });
      const connection = wiretap(inner, { format: 'records', log: records, scheduler });
      connection.data$.subscribe({ next: (chunk) => connection.write(chunk), error: () => {} });
      scheduler.schedule(() => inner.receive('ping'), 3);
      scheduler.schedule(() => connection.abort(new FrameTooLongError(1, 2)), 20);
      scheduler.flush();
      const { marbles, values } = await recording;
      expect(marbles).toBe('a--(bc) 13ms (de|)');
      expect(values).toEqual({
        a: 'tapped',
        b: 'read ping',
        c: 'write ping',
        d: 'abort RXNET_ERR_FRAME_TOO_LONG',
        e: 'connectionLost aborted',
      });
    });

    it('gives record() whole records too, with their bytes, pasteable as a marble test', async () => {
      const scheduler = new VirtualTimeScheduler();
      const records = new Subject<WiretapRecord>();
      const recording = record(records, { scheduler });
      const inner = memoryConnection({ scheduler, id: 2 });
      const connection = wiretap(inner, { format: 'records', log: records, scheduler });
      connection.data$.subscribe({ error: () => {} });
      scheduler.schedule(() => inner.receive('hi\n'), 2);
      scheduler.schedule(() => inner.closeFromPeer('reset'), 4);
      scheduler.flush();
      const result = await recording;
      expect(result.marbles).toBe('a-b-(c|)');
      expect(result.values['b']).toEqual({
        type: 'read',
        time: 2,
        id: 2,
        data: Buffer.from('hi\n'),
      });
      expect(result.toString()).toContain(
        "b: { type: 'read', time: 2, id: 2, data: Buffer.from('hi\\n') },",
      );
    });
  });

  describe("format 'hex'", () => {
    it('prints a timestamped header and hexdump -C rows for each read and write', () => {
      const { scheduler, lines, inner, connection } = tapped();
      connection.data$.subscribe((chunk) => connection.write(chunk));
      scheduler.schedule(() => inner.receive('hello\n'), 1500);
      scheduler.flush();
      expect(lines).toEqual([
        '1970-01-01T00:00:00.000Z #1 tapped (open) L:local R:remote',
        '1970-01-01T00:00:01.500Z #1 < 6 bytes\n' +
          '0000  68 65 6c 6c 6f 0a                                 |hello.|',
        '1970-01-01T00:00:01.500Z #1 > 6 bytes\n' +
          '0000  68 65 6c 6c 6f 0a                                 |hello.|',
      ]);
    });

    it('writes 16 bytes a row, split 8 and 8, with non-printable bytes as dots', () => {
      const { lines, connection } = tapped();
      connection.write(Buffer.from([...Buffer.from('0123456789abcdef'), 0x00, 0x7f, 0xe4, 0xbd]));
      expect(lines[1]!.split('\n')).toEqual([
        '1970-01-01T00:00:00.000Z #1 > 20 bytes',
        '0000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|',
        '0010  00 7f e4 bd                                       |....|',
      ]);
    });

    it('prints at most maxDumpBytes of a chunk and counts the rest', () => {
      const { lines, connection } = tapped({ maxDumpBytes: 4 });
      connection.write('abcdefg');
      expect(lines[1]!.split('\n')).toEqual([
        '1970-01-01T00:00:00.000Z #1 > 7 bytes',
        '0000  61 62 63 64                                       |abcd|',
        '… 3 more bytes',
      ]);
    });

    it(`prints up to DEFAULT_WIRETAP_MAX_DUMP_BYTES (${DEFAULT_WIRETAP_MAX_DUMP_BYTES}) bytes by default`, () => {
      const { lines, connection } = tapped();
      connection.write(Buffer.alloc(DEFAULT_WIRETAP_MAX_DUMP_BYTES + 1, 0x41));
      const rows = lines[1]!.split('\n');
      expect(rows).toHaveLength(1 + DEFAULT_WIRETAP_MAX_DUMP_BYTES / 16 + 1);
      expect(rows[rows.length - 2]).toMatch(/^0ff0 {2}41/);
      expect(rows[rows.length - 1]).toBe('… 1 more byte');
    });

    it('widens the offset column past 0xffff when maxDumpBytes allows', () => {
      const { lines, connection } = tapped({ maxDumpBytes: Infinity });
      connection.write(Buffer.alloc(0x10001));
      const rows = lines[1]!.split('\n');
      expect(rows[1]).toMatch(/^00000 {2}00/);
      expect(rows[rows.length - 1]).toBe(`10000  00${' '.repeat(46)}  |.|`);
    });

    it('prints the FIN, end(), abort() with its code, and the close with its reason', () => {
      const { lines, inner, connection } = tapped();
      connection.data$.subscribe();
      inner.closeFromPeer('clean');
      connection.abort(new FrameTooLongError(1, 2));
      expect(lines.slice(1)).toEqual([
        '1970-01-01T00:00:00.000Z #1 < FIN',
        '1970-01-01T00:00:00.000Z #1 abort(RXNET_ERR_FRAME_TOO_LONG)',
        '1970-01-01T00:00:00.000Z #1 closed: aborted: RXNET_ERR_FRAME_TOO_LONG (Frame of 2 bytes exceeds the limit of 1 bytes)',
      ]);
    });

    it('prints TCP addresses as host:port and IPv6 ones in brackets', () => {
      const lines: string[] = [];
      wiretap(
        memoryConnection({
          local: { _tag: 'TcpAddress', hostname: '::1', port: 8007, family: 'IPv6' },
          remote: { _tag: 'TcpAddress', hostname: '127.0.0.1', port: 5000, family: 'IPv4' },
        }),
        { log: (line) => lines.push(line), scheduler: new VirtualTimeScheduler() },
      );
      expect(lines).toEqual([
        '1970-01-01T00:00:00.000Z #1 tapped (open) L:[::1]:8007 R:127.0.0.1:5000',
      ]);
    });

    it('logs to console.error by default', () => {
      const error = jest.spyOn(console, 'error').mockImplementation(() => undefined);
      try {
        wiretap(memoryConnection()).write('hi');
        expect(error).toHaveBeenCalledTimes(2);
        expect(error.mock.calls[1]![0]).toMatch(
          /^\d{4}-\d\d-\d\dT[\d:.]+Z #1 > 2 bytes\n0000 {2}68 69 /,
        );
      } finally {
        error.mockRestore();
      }
    });
  });

  describe("format 'text'", () => {
    it('prints the bytes as UTF-8 in JSON quotes on the header line', () => {
      const { lines, connection } = tapped({ format: 'text' });
      connection.write('héllo\r\n');
      expect(lines[1]).toBe('1970-01-01T00:00:00.000Z #1 > 8 bytes "héllo\\r\\n"');
    });

    it('prints at most maxDumpBytes and counts the rest', () => {
      const { lines, connection } = tapped({ format: 'text', maxDumpBytes: 2 });
      connection.write('hello');
      expect(lines[1]).toBe('1970-01-01T00:00:00.000Z #1 > 5 bytes "he" … 3 more bytes');
    });
  });

  describe('the wrapped connection', () => {
    it('forwards every member of Connection to the connection it wraps', () => {
      const inner = memoryConnection({ id: 4 });
      // As a connection over TLS has it (a memory connection has none).
      Object.defineProperty(inner, 'tls', { value: { protocol: 'TLSv1.3' } });
      const connection = wiretap(inner, { format: 'records', log: () => undefined });
      expect(connection.tls).toEqual({ protocol: 'TLSv1.3' });
      // A compile error here means Connection gained a member: forward it in wiretap, then list it.
      const members: Record<keyof Connection, 'value' | 'method' | 'stream'> = {
        id: 'value',
        local: 'value',
        remote: 'value',
        tls: 'value',
        state: 'value',
        pendingWriteBytes: 'value',
        data$: 'stream',
        closed$: 'stream',
        drain$: 'stream',
        write: 'method',
        end: 'method',
        abort: 'method',
        send: 'method',
        pause: 'method',
        resume: 'method',
      };
      for (const [name, kind] of Object.entries(members)) {
        const key = name as keyof Connection;
        if (kind === 'value') {
          expect(connection[key]).toBe(inner[key]);
        } else {
          expect(typeof connection[key]).toBe(kind === 'method' ? 'function' : 'object');
        }
      }
      expect(Object.keys(members).sort()).toEqual(
        [...Object.getOwnPropertyNames(Object.getPrototypeOf(connection)), 'data$']
          .filter(
            (name) => name !== 'constructor' && !['now', 'writable', 'logWrite'].includes(name),
          )
          .sort(),
      );
    });

    it('logs a chunk once however many subscribers data$ has, and delivers it to each', () => {
      const { lines, inner, connection } = tapped({ format: 'text' });
      const seen: string[] = [];
      connection.data$.subscribe((chunk) => seen.push(`1:${chunk}`));
      connection.data$.subscribe((chunk) => seen.push(`2:${chunk}`));
      inner.receive('x');
      expect(seen).toEqual(['1:x', '2:x']);
      expect(lines.filter((line) => line.includes(' < '))).toHaveLength(1);
    });

    it('reads only while data$ has subscribers, and delivers bytes that waited to the first one', () => {
      const { lines, inner, connection } = tapped({ format: 'text' });
      inner.receive('early');
      expect(lines).toHaveLength(1);
      const seen: string[] = [];
      const reading = connection.data$.subscribe((chunk) => seen.push(String(chunk)));
      expect(seen).toEqual(['early']);
      reading.unsubscribe();
      inner.receive('late');
      expect(lines.slice(1)).toEqual(['1970-01-01T00:00:00.000Z #1 < 5 bytes "early"']);
      connection.data$.subscribe((chunk) => seen.push(String(chunk)));
      expect(seen).toEqual(['early', 'late']);
    });

    it('completes data$ at the FIN for a late subscriber too, logging the FIN once', () => {
      const { lines, inner, connection } = tapped();
      connection.data$.subscribe();
      inner.closeFromPeer('clean');
      let completed = false;
      connection.data$.subscribe({ complete: () => (completed = true) });
      expect(completed).toBe(true);
      expect(lines.filter((line) => line.endsWith('< FIN'))).toHaveLength(1);
    });

    it('logs each value send() writes, from an Observable and from an AsyncIterable', async () => {
      const { lines, inner, connection } = tapped({ format: 'text' });
      await firstValueFrom(connection.send(of('a', 'b')), { defaultValue: undefined });
      async function* parts() {
        yield 'c';
        yield Buffer.from('d');
      }
      await firstValueFrom(connection.send(parts()), { defaultValue: undefined });
      expect(inner.writtenText).toBe('abcd');
      expect(lines.slice(1).map((line) => line.slice(25))).toEqual([
        '#1 > 1 byte "a"',
        '#1 > 1 byte "b"',
        '#1 > 1 byte "c"',
        '#1 > 1 byte "d"',
      ]);
    });

    it("stops pulling send()'s AsyncIterable when unsubscribed, returning its iterator", async () => {
      const { connection } = tapped({ format: 'text' });
      let returned = false;
      const source: AsyncIterable<string> = {
        [Symbol.asyncIterator]: () => ({
          next: () => new Promise<IteratorResult<string>>(() => undefined),
          return: async () => {
            returned = true;
            return { done: true, value: undefined };
          },
        }),
      };
      const sending = connection.send(source).subscribe();
      await new Promise((resolve) => setImmediate(resolve));
      sending.unsubscribe();
      await new Promise((resolve) => setImmediate(resolve));
      expect(returned).toBe(true);
    });

    it('logs no write, end() or abort() the connection ignores, and returns what it returns', () => {
      const { lines, connection } = tapped({ format: 'text' });
      connection.end();
      expect(connection.write('late')).toBe(false);
      connection.end();
      connection.abort();
      connection.abort();
      expect(lines.slice(1).map((line) => line.slice(25))).toEqual(['#1 end()', '#1 closed: done']);
    });

    it('logs nothing read after end(), as data$ delivers nothing then', () => {
      const scheduler = new VirtualTimeScheduler();
      const lines: string[] = [];
      const inner = memoryConnection({ scheduler, peerAnswersFin: false });
      const connection = wiretap(inner, { scheduler, log: (line) => lines.push(line) });
      const seen: Buffer[] = [];
      connection.data$.subscribe((chunk) => seen.push(chunk));
      connection.end();
      inner.receive('ignored');
      expect(seen).toEqual([]);
      expect(lines.slice(1).map((line) => line.slice(25))).toEqual(['#1 end()']);
      inner.closeFromPeer('clean');
    });

    it('forwards pause() and resume()', () => {
      const { inner, connection } = tapped();
      const seen: string[] = [];
      connection.data$.subscribe((chunk) => seen.push(String(chunk)));
      connection.pause();
      inner.receive('held');
      expect(seen).toEqual([]);
      connection.resume();
      expect(seen).toEqual(['held']);
    });

    it('completes an Observer log after the close, and a function log is simply called', async () => {
      const records = new Subject<WiretapRecord>();
      const all = firstValueFrom(records.pipe(map(brief), toArray()));
      wiretap(memoryConnection(), { format: 'records', log: records }).abort();
      await expect(all).resolves.toEqual(['tapped', 'abort', 'connectionLost aborted']);
    });
  });

  describe('options', () => {
    it("throws a TypeError for an unknown format and for 'records' without a log", () => {
      const connection = memoryConnection();
      expect(() => wiretap(connection, { format: 'json' as 'hex' })).toThrow(TypeError);
      expect(() =>
        wiretap(connection, { format: 'records' } as unknown as { format: 'hex' }),
      ).toThrow(TypeError);
    });

    it.each([-1, 1.5, NaN])('throws a RangeError for maxDumpBytes %p', (maxDumpBytes) => {
      expect(() => wiretap(memoryConnection(), { maxDumpBytes })).toThrow(RangeError);
    });
  });

  describe('over a real socket', () => {
    it('taps every connection of a server: what the client sent, the echo, its FIN and the close', async () => {
      const lines: string[] = [];
      const accepted = new ReplaySubject<Connection>();
      let server: Subscription | undefined;
      const listening = new Promise<number>((resolve) => {
        const options = {
          onListening: (address: Address) =>
            resolve(address._tag === 'TcpAddress' ? address.port : 0),
        };
        server = listen('tcp:0:interface=127.0.0.1', options)
          .pipe(map((connection) => wiretap(connection, { log: (line) => lines.push(line) })))
          .subscribe((connection) => {
            accepted.next(connection);
            connection.data$.subscribe({
              next: (chunk) => connection.write(chunk),
              complete: () => connection.end(),
            });
          });
      });
      try {
        const client = await rawClient(await listening);
        const received = receiveAll(client);
        client.end('hello\n');
        expect((await received).toString()).toBe('hello\n');
        // wiretap subscribed to closed$ first, so its line is logged by the time this resolves.
        await firstValueFrom((await firstValueFrom(accepted)).closed$);
        const events = lines.map((line) => line.split('\n')[0]!.replace(/^\S+ /, ''));
        expect(events).toEqual([
          expect.stringMatching(/^#1 tapped \(open\) L:127\.0\.0\.1:\d+ R:127\.0\.0\.1:\d+$/),
          '#1 < 6 bytes',
          '#1 > 6 bytes',
          '#1 < FIN',
          '#1 end()',
          '#1 closed: done',
        ]);
        expect(lines[1]!.split('\n')[1]).toBe(
          '0000  68 65 6c 6c 6f 0a                                 |hello.|',
        );
        // Real time by default: asyncScheduler's clock, as an ISO timestamp.
        const times = lines.map((line) => Date.parse(line.slice(0, 24)));
        expect(times.every((time) => Math.abs(time - Date.now()) < 60_000)).toBe(true);
      } finally {
        server?.unsubscribe();
      }
    });

    it('taps a served behaviour through serveConnections, as the README shows', async () => {
      const lines: string[] = [];
      const events = new ReplaySubject<ServerOutput>();
      let server: Subscription | undefined;
      const port = await new Promise<number>((resolve) => {
        const connections = listen('tcp:0:interface=127.0.0.1', {
          onListening: (address) => resolve(address._tag === 'TcpAddress' ? address.port : 0),
        }).pipe(map((connection) => wiretap(connection, { log: (line) => lines.push(line) })));
        server = serveConnections(connections, echo()).subscribe(events);
      });
      try {
        const client = await rawClient(port);
        const received = receiveAll(client);
        client.write('hello\n');
        await once(client, 'data');
        client.end();
        expect((await received).toString()).toBe('hello\n');
        // wiretap watched closed$ before the server did, so its last line precedes this event.
        await firstValueFrom(events.pipe(filter((event) => event.type === 'connectionLost')));
        const ports = /(\d+\.\d+\.\d+\.\d+):\d+/g;
        expect(lines.map((line) => line.replace(/^\S+ /, '').replace(ports, '$1:PORT'))).toEqual([
          '#1 tapped (open) L:127.0.0.1:PORT R:127.0.0.1:PORT',
          '#1 < 6 bytes\n0000  68 65 6c 6c 6f 0a                                 |hello.|',
          '#1 > 6 bytes\n0000  68 65 6c 6c 6f 0a                                 |hello.|',
          '#1 < FIN',
          '#1 end()',
          '#1 closed: done',
        ]);
      } finally {
        server?.unsubscribe();
      }
    });
  });

  it('is imported by nothing else in rxnet, so it costs nothing unless used', () => {
    const src = join(__dirname, '../../src');
    const importers = readdirSync(src, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts') && !file.startsWith('observability'))
      .filter((file) =>
        /from '(\.\.?\/)+observability\/(wiretap|tappedConnection|format)'/.test(
          readFileSync(join(src, file), 'utf8'),
        ),
      );
    expect(importers).toEqual(['index.ts']);
  });
});

/**
 * Framing decode throughput: each rxnet decoder beside a hand-written loop over the same bytes,
 * cut into the same chunks, in one run. Not a test: run it with `npx ts-node bench/framing.bench.ts`
 * (`--quick`, `--only=lines`), or through `npm run bench`, which calls {@link run}.
 *
 * The hand-written loops are what one would write without rxnet: `indexOf`/`readUInt32BE` over
 * each chunk and `subarray` per frame inside it, and the parts of a frame that spans chunks kept
 * in a list and joined once with `Buffer.concat` when it is complete (the same one copy rxnet
 * makes). Both sides hand every frame's bytes straight to the same sink, which reads its length so
 * neither can be optimised away: the rxnet side subscribes with the sink itself (modal's with a
 * function that reads the frame's `data`, since a `ModalFrame` is what it emits).
 *
 * @packageDocumentation
 */
import { performance } from 'node:perf_hooks';
import { from, type OperatorFunction } from 'rxjs';
import {
  encodeLengthPrefixedFrame,
  encodeLine,
  encodeNetstring,
  lengthPrefixed,
  lines,
  modal,
  netstrings,
} from 'rxnet';

/** One decoder at one frame size and chunk size; `raw` and `rxnet` are MB of wire bytes per CPU second. */
export interface FramingCase {
  readonly name: string;
  readonly unit: 'MB/s';
  /** The hand-written loop's throughput. */
  readonly raw: number;
  /** The rxnet operator's throughput. */
  readonly rxnet: number;
  /** `rxnet / raw`; the target is at least 0.8. */
  readonly ratio: number;
  /**
   * The median over rounds of rxnet's run divided by the hand-written run just before it: less
   * sensitive than `ratio` to one lucky run on a busy machine.
   */
  readonly pairedRatio: number;
  readonly decoder: string;
  readonly frameBytes: number;
  readonly chunkBytes: number;
  readonly wireBytes: number;
  readonly frames: number;
}

/** Options of {@link run}. */
export interface FramingBenchOptions {
  /** Fewer bytes and repetitions, for a smoke run. */
  readonly quick?: boolean;
  /** Only this decoder (`lines`, `lengthPrefixed`, `netstrings`, `modal (line mode)`). */
  readonly only?: string;
}

type HandLoop = (chunks: readonly Buffer[], sink: (frame: Buffer) => void) => void;

interface Codec {
  readonly name: string;
  readonly encode: (payload: Buffer) => readonly Buffer[];
  /**
   * Builds the rxnet operator once and returns a pass with it: each pass subscribes to the chunks
   * and hands each frame's bytes to the sink, as the hand-written loop does.
   */
  readonly rxnet: () => HandLoop;
  readonly hand: HandLoop;
}

const NEWLINE = Buffer.from('\n');

// A frame that spans chunks is kept as a list of its parts and copied once, when it is complete,
// as rxnet's decoders do: joining the pending bytes to every chunk would copy a long frame many times.

const handLines: HandLoop = (chunks, sink) => {
  let parts: Buffer[] = [];
  for (const chunk of chunks) {
    let start = 0;
    if (parts.length > 0) {
      const at = chunk.indexOf(0x0a);
      if (at < 0) {
        parts.push(chunk);
        continue;
      }
      parts.push(chunk.subarray(0, at));
      sink(Buffer.concat(parts));
      parts = [];
      start = at + 1;
    }
    for (let at = chunk.indexOf(0x0a, start); at >= 0; at = chunk.indexOf(0x0a, start)) {
      sink(chunk.subarray(start, at));
      start = at + 1;
    }
    if (start < chunk.length) parts.push(chunk.subarray(start));
  }
};

/**
 * A hand-written mode-switching decoder, as a user writes Twisted's `LineReceiver` with
 * `setRawMode` by hand: before each frame it asks `mode(state)`, after it `next(state, frame)`,
 * and it hands the consumer the frame with the mode and state it was read in, which is the work
 * `modal`'s contract asks of it; only line mode is exercised (by {@link handLines}'s loop), as on
 * the rxnet side. Comparing `modal` with `handLines` alone, which asks nothing per frame, charged
 * rxnet for its API.
 */
function handModal<S>(
  seed: S,
  mode: (state: S) => 'line',
  next: (state: S, frame: Buffer) => S,
): HandLoop {
  return (chunks, sink) => {
    let state = seed;
    const emit = (data: Buffer): void => {
      const current = mode(state);
      const before = state;
      state = next(state, data);
      const frame = { mode: current, state: before, data };
      sink(frame.data);
    };
    handLines(chunks, emit);
  };
}

const handLengthPrefixed: HandLoop = (chunks, sink) => {
  let parts: Buffer[] = [];
  let have = 0;
  /** The pending frame's size, header included, once its header has arrived. */
  let end = -1;
  for (const chunk of chunks) {
    let start = 0;
    if (have > 0) {
      if (end < 0 && have + chunk.length >= 4) {
        // Without a size, the pending bytes are a part of the header: fewer than 4 to join.
        const head = have >= 4 ? parts[0] : Buffer.concat([...parts, chunk.subarray(0, 4 - have)]);
        end = 4 + head.readUInt32BE(0);
      }
      if (end < 0 || have + chunk.length < end) {
        parts.push(chunk);
        have += chunk.length;
        continue;
      }
      start = end - have;
      parts.push(chunk.subarray(0, start));
      sink(Buffer.concat(parts, end).subarray(4));
      parts = [];
      have = 0;
      end = -1;
    }
    while (chunk.length - start >= 4) {
      const frameEnd = start + 4 + chunk.readUInt32BE(start);
      if (frameEnd > chunk.length) break;
      sink(chunk.subarray(start + 4, frameEnd));
      start = frameEnd;
    }
    if (start < chunk.length) {
      parts.push(chunk.subarray(start));
      have = chunk.length - start;
    }
  }
};

const handNetstrings: HandLoop = (chunks, sink) => {
  let parts: Buffer[] = [];
  let have = 0;
  /** Where the pending frame's colon and comma are, once its length has arrived. */
  let colon = -1;
  let comma = -1;
  for (const chunk of chunks) {
    let start = 0;
    if (have > 0) {
      if (comma < 0) {
        // Without a length, the pending bytes are digits (at most 6 here), so the colon is within
        // the first bytes of the chunk if not pending.
        const head = Buffer.concat([...parts, chunk.subarray(0, 8)]);
        colon = head.indexOf(0x3a);
        if (colon >= 0) comma = colon + 1 + Number(head.toString('latin1', 0, colon));
      }
      if (comma < 0 || comma >= have + chunk.length) {
        parts.push(chunk);
        have += chunk.length;
        continue;
      }
      start = comma + 1 - have;
      parts.push(chunk.subarray(0, start));
      const frame = Buffer.concat(parts, comma + 1);
      if (frame[comma] !== 0x2c) throw new Error('missing comma');
      sink(frame.subarray(colon + 1, comma));
      parts = [];
      have = 0;
      comma = -1;
    }
    for (;;) {
      let at = start;
      let length = 0;
      for (; at < chunk.length && chunk[at] !== 0x3a; at++) length = length * 10 + chunk[at] - 0x30;
      if (at === chunk.length) break;
      const end = at + 1 + length;
      if (end >= chunk.length) break;
      if (chunk[end] !== 0x2c) throw new Error('missing comma');
      sink(chunk.subarray(at + 1, end));
      start = end + 1;
    }
    if (start < chunk.length) {
      parts.push(chunk.subarray(start));
      have = chunk.length - start;
    }
  }
};

const codecs: readonly Codec[] = [
  {
    name: 'lines',
    encode: (p) => encodeLine(p, { delimiter: '\n', maxLineBytes: 65536 }),
    rxnet: () => buffers(lines({ delimiter: '\n', maxLineBytes: 65536 })),
    hand: handLines,
  },
  {
    name: 'lengthPrefixed',
    encode: (p) => encodeLengthPrefixedFrame(p),
    rxnet: () => buffers(lengthPrefixed()),
    hand: handLengthPrefixed,
  },
  {
    name: 'netstrings',
    encode: (p) => encodeNetstring(p),
    rxnet: () => buffers(netstrings()),
    hand: handNetstrings,
  },
  {
    name: 'modal (line mode)',
    encode: (p) => encodeLine(p, { delimiter: '\n', maxLineBytes: 65536 }),
    rxnet: () => {
      const decode = modal({
        seed: 0,
        mode: () => 'line',
        next: (s) => s,
        delimiter: NEWLINE,
        maxLineBytes: 65536,
      });
      return (chunks, sink) => {
        from(chunks)
          .pipe(decode)
          .subscribe((frame) => sink(frame.data));
      };
    },
    hand: handModal(
      0,
      () => 'line',
      (s) => s,
    ),
  },
];

/** A pass of a decoder that emits Buffers: the sink is its subscriber, with no wrapper between. */
function buffers(decode: OperatorFunction<Buffer, Buffer>): HandLoop {
  return (chunks, sink) => {
    from(chunks).pipe(decode).subscribe(sink);
  };
}

/** Printable payloads without `\n`, so every codec can carry them. */
function payload(size: number, seed: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) bytes[i] = 0x20 + ((i * 31 + seed) % 90);
  return bytes;
}

function wire(
  codec: Codec,
  frameBytes: number,
  totalBytes: number,
): { wire: Buffer; frames: number } {
  const parts: Buffer[] = [];
  let size = 0;
  let frames = 0;
  while (size < totalBytes) {
    for (const part of codec.encode(payload(frameBytes, frames))) {
      parts.push(part);
      size += part.length;
    }
    frames++;
  }
  return { wire: Buffer.concat(parts), frames };
}

function cut(bytes: Buffer, chunkBytes: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunkBytes)
    chunks.push(bytes.subarray(at, at + chunkBytes));
  return chunks;
}

/**
 * MB/s of one run that repeats `pass` until `minMs` have elapsed, over the CPU time this process
 * used rather than wall time: the machine is shared, and time spent descheduled is not the code's.
 */
function measure(bytes: number, minMs: number, pass: () => void): number {
  let passes = 0;
  const start = performance.now();
  const cpu = process.cpuUsage();
  do {
    pass();
    passes++;
  } while (performance.now() - start < minMs);
  const { user, system } = process.cpuUsage(cpu);
  return (bytes * passes) / 1e6 / ((user + system) / 1e6);
}

/**
 * Runs every case and resolves to one {@link FramingCase} each (the shape `bench/run.ts` reads).
 *
 * @param options `quick` for a smoke run.
 * @returns The cases, in a fixed order.
 */
export async function run(options: FramingBenchOptions = {}): Promise<FramingCase[]> {
  const quick = options.quick ?? false;
  const totalBytes = quick ? 2 * 1024 * 1024 : 8 * 1024 * 1024;
  const rounds = quick ? 3 : 10;
  const minMs = quick ? 30 : 60;
  const results: FramingCase[] = [];
  let sinkFrames = 0;
  let sinkBytes = 0;
  const sink = (frame: Buffer): void => {
    sinkFrames++;
    sinkBytes += frame.length;
  };
  for (const codec of codecs.filter((c) => options.only === undefined || c.name === options.only)) {
    for (const frameBytes of [64, 4096]) {
      const { wire: bytes, frames } = wire(codec, frameBytes, totalBytes);
      for (const chunkBytes of [65536, 1460]) {
        const chunks = cut(bytes, chunkBytes);
        const rxnetLoop = codec.rxnet();
        const check = (label: string, pass: () => void): void => {
          sinkFrames = 0;
          sinkBytes = 0;
          pass();
          if (sinkFrames !== frames || sinkBytes !== frames * frameBytes) {
            throw new Error(
              `${codec.name} (${label}) decoded ${sinkFrames} frames, expected ${frames}`,
            );
          }
        };
        const handPass = (): void => codec.hand(chunks, sink);
        const rxnetPass = (): void => rxnetLoop(chunks, sink);
        check('hand-written', handPass);
        check('rxnet', rxnetPass);
        // Alternate short runs and keep each side's best: on a shared machine the best run is the
        // one least disturbed by other processes, and alternating gives both sides the same chances.
        let raw = 0;
        let rxnet = 0;
        const pairs: number[] = [];
        for (let round = 0; round < rounds; round++) {
          const rawRound = measure(bytes.length, minMs, handPass);
          const rxnetRound = measure(bytes.length, minMs, rxnetPass);
          raw = Math.max(raw, rawRound);
          rxnet = Math.max(rxnet, rxnetRound);
          pairs.push(rxnetRound / rawRound);
        }
        pairs.sort((a, b) => a - b);
        results.push({
          name: `${codec.name}, ${frameBytes} B frames, ${chunkBytes} B chunks`,
          unit: 'MB/s',
          raw: round1(raw),
          rxnet: round1(rxnet),
          ratio: Math.round((rxnet / raw) * 100) / 100,
          pairedRatio: Math.round(pairs[pairs.length >> 1] * 100) / 100,
          decoder: codec.name,
          frameBytes,
          chunkBytes,
          wireBytes: bytes.length,
          frames,
        });
      }
    }
  }
  return results;
}

function round1(value: number): number {
  return Math.round(value * 10) / 10;
}

if (require.main === module) {
  const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);
  run({ quick: process.argv.includes('--quick'), ...(only === undefined ? {} : { only }) }).then(
    (results) => {
      console.table(
        results.map(({ name, raw, rxnet, ratio, pairedRatio }) => ({
          case: name,
          'hand-written MB/s': raw,
          'rxnet MB/s': rxnet,
          ratio,
          'paired ratio': pairedRatio,
        })),
      );
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}

/**
 * The load generator's Spread jobs beyond the fan-out burst: the trickle (many clients, a byte
 * now and then each, and the time a newcomer waits for its greeting) and fairness (several
 * senders at full speed, and how evenly the server reads them). Exported so the benchmark smoke
 * test can run them in-process against the real benchmark servers.
 *
 * @packageDocumentation
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { CpuMeter, HOST, closeAll, delay, openMany } from './clients';
import { Histogram } from './histogram';
import type { FairnessJob, FairnessResult, TrickleJob, TrickleResult } from './protocol';

const NEWLINE = 0x0a;
/** The first byte of sender 0's lines in the fairness job ('A'); sender i's is `FIRST_ID + i`. */
const FIRST_ID = 0x41;
/** The trickle's send timer: each tick sends the bytes that fell due since the last one. */
const TRICKLE_TICK_MS = 10;

/** Called when the measured window opens and closes (the runner samples the server's CPU then). */
export type OnPhase = (phase: 'measureStart' | 'measureEnd') => void;

/** Opens `count` clients and resolves once each has read its greeting line. */
async function openGreeted(
  port: number,
  count: number,
  onData: (index: number, chunk: Buffer) => void,
): Promise<Socket[]> {
  let greeted = 0;
  let allGreeted: (() => void) | undefined;
  const done = new Promise<void>((resolve) => (allGreeted = resolve));
  const sockets = await openMany(port, count, (socket, index) => {
    let seen = false;
    socket.on('data', (chunk: Buffer) => {
      if (seen) {
        onData(index, chunk);
        return;
      }
      const newline = chunk.indexOf(NEWLINE);
      if (newline === -1) return;
      seen = true;
      greeted += 1;
      if (newline + 1 < chunk.length) onData(index, chunk.subarray(newline + 1));
      if (greeted === count) allGreeted?.();
    });
  });
  if (count > 0) await done;
  return sockets;
}

/**
 * Connects one new client and resolves with the µs it waited for its greeting line, and whether
 * the greeting came (a client still waiting at `timeoutMs`, or refused, waited at least that long).
 */
function timeGreeting(port: number, timeoutMs: number): Promise<{ us: number; greeted: boolean }> {
  return new Promise((resolve) => {
    const start = performance.now();
    const socket = connect({ port, host: HOST, noDelay: true });
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(greeted: boolean): void {
      clearTimeout(timer);
      socket.destroy();
      resolve({ us: (performance.now() - start) * 1000, greeted });
    }
    socket.on('error', () => finish(false));
    socket.on('data', (chunk: Buffer) => {
      if (chunk.indexOf(NEWLINE) !== -1) finish(true);
    });
  });
}

export async function trickle(job: TrickleJob, onPhase: OnPhase = noPhase): Promise<TrickleResult> {
  let measuring = false;
  let sent = 0;
  let received = 0;
  let errors = 0;
  const sockets = await openGreeted(job.port, job.connections, (_index, chunk) => {
    if (measuring) received += chunk.length;
  });
  for (const socket of sockets) socket.on('error', () => (errors += 1));
  const byte = Buffer.from('x');
  const start = performance.now();
  // Client i sends at start + (i / n + k) × intervalMs: evenly spread, each once per interval.
  let due = 0;
  const ticker = setInterval(() => {
    const target = Math.floor(((performance.now() - start) / job.intervalMs) * job.connections);
    for (; due < target; due += 1) {
      const socket = sockets[due % job.connections]!;
      if (!socket.destroyed) {
        socket.write(byte);
        if (measuring) sent += 1;
      }
    }
  }, TRICKLE_TICK_MS);
  await delay(job.warmupMs);
  const histogram = new Histogram();
  let probes = 0;
  let maxUs = 0;
  let ungreeted = 0;
  measuring = true;
  onPhase('measureStart');
  const meter = new CpuMeter();
  const end = performance.now() + job.durationMs;
  while (performance.now() < end) {
    const probeStart = performance.now();
    // A newcomer that is never greeted counts with the time it waited: that is what it saw.
    const { us, greeted } = await timeGreeting(
      job.port,
      Math.max(job.probeEveryMs, end - probeStart + 1000),
    );
    if (!greeted) ungreeted += 1;
    histogram.record(us);
    maxUs = Math.max(maxUs, us);
    probes += 1;
    const rest = job.probeEveryMs - (performance.now() - probeStart);
    if (rest > 0) await delay(Math.min(rest, end - performance.now()));
  }
  measuring = false;
  const { seconds, cpu } = meter.stop();
  onPhase('measureEnd');
  clearInterval(ticker);
  await closeAll(sockets);
  return {
    kind: 'trickle',
    connections: job.connections,
    seconds,
    sent,
    received,
    probes,
    greetP50Us: histogram.quantile(0.5),
    greetP99Us: histogram.quantile(0.99),
    greetMaxUs: maxUs,
    ungreeted,
    cpu,
    errors,
  };
}

export async function fairness(
  job: FairnessJob,
  onPhase: OnPhase = noPhase,
): Promise<FairnessResult> {
  // Each sender's lines start with its own byte, so a receiver can tell whose line it got.
  const payloads = Array.from({ length: job.senders }, (_, index) => {
    const line = Buffer.alloc(job.size, 'x');
    line[0] = FIRST_ID + index;
    line[job.size - 1] = NEWLINE;
    return Buffer.concat(Array.from({ length: Math.ceil(job.chunk / job.size) }, () => line));
  });
  let measuring = false;
  const delivered = new Float64Array(job.senders);
  // Whether each receiver's next byte starts a line. A chunk-forwarding server may split a line
  // between reads and interleave another sender's chunk, so each line start is found after a
  // newline (native indexOf, no byte loop) rather than by counting: a cut line miscounts only
  // itself.
  const atLineStart = new Uint8Array(job.senders).fill(1);
  function onData(index: number, chunk: Buffer): void {
    let at = 0;
    let start = atLineStart[index] === 1;
    while (at < chunk.length) {
      if (start && measuring) {
        const sender = chunk[at]! - FIRST_ID;
        if (sender >= 0 && sender < job.senders) delivered[sender] += job.size;
      }
      const newline = chunk.indexOf(NEWLINE, at);
      if (newline === -1) {
        start = false;
        break;
      }
      at = newline + 1;
      start = true;
    }
    atLineStart[index] = start ? 1 : 0;
  }
  const sockets = await openGreeted(job.port, job.senders, onData);
  let running = true;
  function pump(socket: Socket, payload: Buffer): void {
    while (running && !socket.destroyed && socket.write(payload));
  }
  sockets.forEach((socket, index) => {
    socket.on('drain', () => pump(socket, payloads[index]!));
    pump(socket, payloads[index]!);
  });
  await delay(job.warmupMs);
  measuring = true;
  onPhase('measureStart');
  const meter = new CpuMeter();
  await delay(job.durationMs);
  measuring = false;
  const { seconds, cpu } = meter.stop();
  onPhase('measureEnd');
  running = false;
  await closeAll(sockets);
  // What the others received of each sender's lines, per receiver.
  const perSender = Array.from(delivered, (bytes) => bytes / Math.max(1, job.senders - 1));
  return { kind: 'fairness', seconds, perSender, jain: jainIndex(perSender), cpu };
}

/** Jain's fairness index: (Σx)² / (n · Σx²); 1 for equal shares, 1/n when one takes everything. */
export function jainIndex(values: readonly number[]): number {
  let sum = 0;
  let squares = 0;
  for (const value of values) {
    sum += value;
    squares += value * value;
  }
  return squares === 0 ? 1 : (sum * sum) / (values.length * squares);
}

function noPhase(): void {
  // Run outside the runner: nobody samples the server's CPU.
}

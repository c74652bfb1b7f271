/**
 * The load generator: a separate process, forked by `bench/run.ts`, that opens client connections
 * and measures. It runs one {@link Job} at a time and reports its own CPU use for each, so the
 * report can show whether the generator or the server was the busier process.
 *
 * Hot paths do no per-message allocation: payloads are preallocated and never change, latencies go
 * into a fixed-size histogram, and each chunk is timed once rather than each message in it.
 *
 * @packageDocumentation
 */
import { connect, type Socket } from 'node:net';
import { CpuMeter, HOST, closeAll, delay, openMany } from './lib/clients';
import { performance } from 'node:perf_hooks';
import { Histogram } from './lib/histogram';
import { fairness, trickle } from './lib/spreadJobs';
import type {
  ConnectionRateJob,
  ConnectionRateResult,
  EchoJob,
  EchoResult,
  FanOutJob,
  FanOutResult,
  IdleCloseResult,
  IdleOpenJob,
  IdleOpenResult,
  JobReply,
  LockstepJob,
  LockstepResult,
  JobRequest,
  JobResult,
} from './lib/protocol';

const NEWLINE = 0x0a;
/** How long the idle job waits for a server to read the partial lines it cannot acknowledge. */
const PARTIAL_LINE_SETTLE_MS = 500;

function send(reply: JobReply): void {
  process.send?.(reply);
}

async function echo(id: number, job: EchoJob): Promise<EchoResult> {
  const depth = job.mode === 'pipelined' ? job.depth : 1;
  // Every message is the same bytes, so one buffer serves every write, however many are pending.
  const payload = Buffer.alloc(depth * job.size, 'x');
  const histogram = new Histogram();
  let measuring = false;
  let running = true;
  let messages = 0;
  let errors = 0;

  interface Client {
    socket: Socket;
    /** Bytes received towards the oldest incomplete message. */
    partial: number;
    /** Send time and message count of each batch in flight, oldest first (a ring of `depth`). */
    readonly sentAt: Float64Array;
    readonly sentCount: Uint32Array;
    head: number;
    size: number;
  }

  function sendBatch(client: Client, count: number, now: number): void {
    const slot = (client.head + client.size) % depth;
    client.sentAt[slot] = now;
    client.sentCount[slot] = count;
    client.size += 1;
    client.socket.write(count === depth ? payload : payload.subarray(0, count * job.size));
  }

  function onData(client: Client, chunk: Buffer): void {
    let available = client.partial + chunk.length;
    if (available < job.size) {
      client.partial = available;
      return;
    }
    const now = performance.now();
    let completed = 0;
    while (available >= job.size && client.size > 0) {
      const inBatch = client.sentCount[client.head]!;
      const done = Math.min(inBatch, Math.floor(available / job.size));
      if (measuring) histogram.record((now - client.sentAt[client.head]!) * 1000, done);
      available -= done * job.size;
      completed += done;
      if (done === inBatch) {
        client.head = (client.head + 1) % depth;
        client.size -= 1;
      } else {
        client.sentCount[client.head] = inBatch - done;
      }
    }
    client.partial = available;
    if (measuring) messages += completed;
    if (running && completed > 0) sendBatch(client, completed, now);
  }

  const clients: Client[] = [];
  const sockets = await openMany(job.port, job.connections, (socket) => {
    const client: Client = {
      socket,
      partial: 0,
      sentAt: new Float64Array(depth),
      sentCount: new Uint32Array(depth),
      head: 0,
      size: 0,
    };
    clients.push(client);
    socket.on('data', (chunk: Buffer) => onData(client, chunk));
    socket.on('error', () => {
      errors += 1;
    });
  });
  const start = performance.now();
  for (const client of clients) sendBatch(client, depth, start);
  await delay(job.warmupMs);
  histogram.reset();
  messages = 0;
  measuring = true;
  send({ id, phase: 'measureStart' });
  const meter = new CpuMeter();
  await delay(job.durationMs);
  measuring = false;
  running = false;
  const { seconds, cpu } = meter.stop();
  send({ id, phase: 'measureEnd' });
  await closeAll(sockets);
  return {
    kind: 'echo',
    messages,
    bytes: messages * job.size,
    seconds,
    p50Us: histogram.quantile(0.5),
    p99Us: histogram.quantile(0.99),
    cpu,
    errors,
  };
}

async function connectionRate(id: number, job: ConnectionRateJob): Promise<ConnectionRateResult> {
  const histogram = new Histogram();
  let measuring = false;
  let running = true;
  let completed = 0;
  let errors = 0;
  let inFlight = 0;
  let allClosed: (() => void) | undefined;

  function startOne(): void {
    inFlight += 1;
    const startedAt = performance.now();
    let greeted = false;
    let failed = false;
    const socket = connect({ port: job.port, host: HOST, noDelay: true });
    socket.on('error', () => {
      failed = true;
    });
    socket.on('data', (chunk: Buffer) => {
      if (greeted || chunk.indexOf(NEWLINE) === -1) return;
      greeted = true;
      if (measuring) histogram.record((performance.now() - startedAt) * 1000);
      socket.end();
    });
    socket.on('close', () => {
      inFlight -= 1;
      if (measuring) {
        if (greeted && !failed) completed += 1;
        else errors += 1;
      }
      if (running) startOne();
      else if (inFlight === 0) allClosed?.();
    });
  }

  for (let i = 0; i < job.concurrency; i += 1) startOne();
  await delay(job.warmupMs);
  histogram.reset();
  measuring = true;
  send({ id, phase: 'measureStart' });
  const meter = new CpuMeter();
  await delay(job.durationMs);
  measuring = false;
  running = false;
  const { seconds, cpu } = meter.stop();
  send({ id, phase: 'measureEnd' });
  if (inFlight > 0) await new Promise<void>((resolve) => (allClosed = resolve));
  return {
    kind: 'connectionRate',
    connections: completed,
    seconds,
    p50Us: histogram.quantile(0.5),
    p99Us: histogram.quantile(0.99),
    cpu,
    errors,
  };
}

/**
 * A fan-out job's audience: `count` receivers, each counted from after its greeting line (before
 * it a receiver is not yet known to the server), then one sender, counted the same way so that
 * anything echoed back to it shows. `expect(bytes)` raises every receiver's target by `bytes` and
 * resolves once all have reached it; `onReached` hears of each receiver as it does.
 */
async function openAudience(
  port: number,
  count: number,
  onReached?: (index: number) => void,
): Promise<{
  readonly sender: Socket;
  expect(bytes: number): Promise<void>;
  extremes(): { readonly minReceivedBytes: number; readonly maxReceivedBytes: number };
  verified(minReceivedBytes: number, maxReceivedBytes: number): boolean;
  close(): Promise<void>;
}> {
  const received = new Float64Array(count).fill(-1);
  let greeted = 0;
  let target = 0;
  let pending = 0;
  let onAllGreeted: (() => void) | undefined;
  let onRoundDone: (() => void) | undefined;

  function onReceiverData(index: number, chunk: Buffer): void {
    let bytes = chunk.length;
    if (received[index]! < 0) {
      const newline = chunk.indexOf(NEWLINE);
      if (newline === -1) return;
      received[index] = 0;
      bytes -= newline + 1;
      greeted += 1;
      if (greeted === count) onAllGreeted?.();
    }
    const before = received[index]!;
    received[index] = before + bytes;
    if (before < target && before + bytes >= target) {
      onReached?.(index);
      pending -= 1;
      if (pending === 0) onRoundDone?.();
    }
  }

  const allGreeted = new Promise<void>((resolve) => (onAllGreeted = resolve));
  const receivers = await openMany(port, count, (socket, index) => {
    socket.on('data', (chunk: Buffer) => onReceiverData(index, chunk));
  });
  await allGreeted;
  const [sender] = await openMany(port, 1, () => undefined);
  let senderBytes = -1;
  await new Promise<void>((resolve) => {
    sender!.on('data', (chunk: Buffer) => {
      if (senderBytes >= 0) senderBytes += chunk.length;
      else if (chunk.indexOf(NEWLINE) !== -1) {
        senderBytes = chunk.length - chunk.indexOf(NEWLINE) - 1;
        resolve();
      }
    });
  });
  return {
    sender: sender!,
    expect(bytes: number): Promise<void> {
      target += bytes;
      pending = count;
      return new Promise<void>((resolve) => (onRoundDone = resolve));
    },
    extremes() {
      let minReceivedBytes = Infinity;
      let maxReceivedBytes = 0;
      for (const bytes of received) {
        minReceivedBytes = Math.min(minReceivedBytes, bytes);
        maxReceivedBytes = Math.max(maxReceivedBytes, bytes);
      }
      return { minReceivedBytes, maxReceivedBytes };
    },
    verified: (minReceivedBytes, maxReceivedBytes) =>
      minReceivedBytes === target && maxReceivedBytes === target && senderBytes === 0,
    close: () => closeAll([...receivers, sender!]),
  };
}

async function fanOut(id: number, job: FanOutJob): Promise<FanOutResult> {
  const line = Buffer.alloc(job.size, 'x');
  line[job.size - 1] = NEWLINE;
  const batch = Buffer.concat(Array.from({ length: job.batch }, () => line));
  const doneAt = new Float64Array(job.receivers);
  const audience = await openAudience(job.port, job.receivers, (index) => {
    doneAt[index] = performance.now();
  });
  const sender = audience.sender;

  async function round(messages: number): Promise<number> {
    const done = audience.expect(messages * job.size);
    const start = performance.now();
    for (let sent = 0; sent < messages; sent += job.batch) {
      const ok = sender.write(
        sent + job.batch <= messages ? batch : batch.subarray(0, (messages - sent) * job.size),
      );
      if (!ok) await new Promise((resolve) => sender.once('drain', resolve));
    }
    await done;
    return start;
  }

  // Warm-up rounds, growing until one lasts a quarter of the measured window; its rate sizes the
  // measured round, so a server that takes 10 ms for `messages` lines is still timed for measureMs.
  let warmup = Math.min(job.warmupMessages, job.maxMessages);
  let warmupTotal = 0;
  let warmupMs = 0;
  for (;;) {
    const warmupStart = await round(warmup);
    warmupMs = performance.now() - warmupStart;
    warmupTotal += warmup;
    if (warmupMs >= job.measureMs / 4 || warmup >= job.maxMessages) break;
    warmup = Math.min(warmup * 4, job.maxMessages);
  }
  const messages = Math.min(
    job.maxMessages,
    Math.max(job.messages, Math.ceil((warmup / warmupMs) * job.measureMs)),
  );
  send({ id, phase: 'measureStart' });
  const meter = new CpuMeter();
  const start = await round(messages);
  const { cpu } = meter.stop();
  send({ id, phase: 'measureEnd' });
  const times = Array.from(doneAt, (t) => (t - start) / 1000).sort((a, b) => a - b);
  const { minReceivedBytes, maxReceivedBytes } = audience.extremes();
  const seconds = times[times.length - 1]!;
  await audience.close();
  return {
    kind: 'fanOut',
    receivers: job.receivers,
    messages,
    warmupMessages: warmupTotal,
    deliveries: job.receivers * messages,
    seconds,
    medianReceiverSeconds: times[Math.floor(times.length / 2)]!,
    verified: audience.verified(minReceivedBytes, maxReceivedBytes),
    minReceivedBytes,
    maxReceivedBytes,
    cpu,
  };
}

/** One line at a time: each is written only once every receiver has the one before. */
async function lockstep(id: number, job: LockstepJob): Promise<LockstepResult> {
  const line = Buffer.alloc(job.size, 'x');
  line[job.size - 1] = NEWLINE;
  const histogram = new Histogram();
  const audience = await openAudience(job.port, job.receivers);

  /** One round: the line's round trip to the last receiver, in microseconds. */
  async function round(): Promise<number> {
    const done = audience.expect(job.size);
    const start = performance.now();
    audience.sender.write(line);
    await done;
    return (performance.now() - start) * 1000;
  }

  let warmupRounds = 0;
  const warmupEnd = performance.now() + job.warmupMs;
  while (performance.now() < warmupEnd) {
    await round();
    warmupRounds += 1;
  }
  send({ id, phase: 'measureStart' });
  const meter = new CpuMeter();
  const start = performance.now();
  const end = start + job.durationMs;
  let rounds = 0;
  while (performance.now() < end) {
    histogram.record(await round());
    rounds += 1;
  }
  const seconds = (performance.now() - start) / 1000;
  const { cpu } = meter.stop();
  send({ id, phase: 'measureEnd' });
  const { minReceivedBytes, maxReceivedBytes } = audience.extremes();
  await audience.close();
  return {
    kind: 'lockstep',
    receivers: job.receivers,
    rounds,
    warmupRounds,
    seconds,
    p50Us: histogram.quantile(0.5),
    p99Us: histogram.quantile(0.99),
    verified: audience.verified(minReceivedBytes, maxReceivedBytes),
    minReceivedBytes,
    maxReceivedBytes,
    cpu,
  };
}

let idleSockets: Socket[] = [];

async function idleOpen(job: IdleOpenJob): Promise<IdleOpenResult> {
  const meter = new CpuMeter();
  const echoed: Promise<void>[] = [];
  const opened = await openMany(job.port, job.connections, (socket) => {
    if (job.partialLine === true) {
      // After the greeting, a byte that starts a line the server must hold.
      echoed.push(
        new Promise<void>((resolve) =>
          socket.once('data', () => {
            socket.write('x');
            resolve();
          }),
        ),
      );
      return;
    }
    // One echoed byte proves the server has accepted the connection and is reading it.
    echoed.push(new Promise<void>((resolve) => socket.once('data', () => resolve())));
    socket.write('x');
  });
  await Promise.all(echoed);
  // Nothing answers a partial line: give the server a moment to read the bytes.
  if (job.partialLine === true) await delay(PARTIAL_LINE_SETTLE_MS);
  idleSockets = idleSockets.concat(opened);
  return { kind: 'idleOpen', opened: opened.length, seconds: meter.stop().seconds };
}

async function idleClose(): Promise<IdleCloseResult> {
  const closed = idleSockets.length;
  await closeAll(idleSockets);
  idleSockets = [];
  return { kind: 'idleClose', closed };
}

function runJob({ id, job }: JobRequest): Promise<JobResult> {
  switch (job.kind) {
    case 'echo':
      return echo(id, job);
    case 'connectionRate':
      return connectionRate(id, job);
    case 'fanOut':
      return fanOut(id, job);
    case 'lockstep':
      return lockstep(id, job);
    case 'idleOpen':
      return idleOpen(job);
    case 'idleClose':
      return idleClose();
    case 'trickle':
      return trickle(job, (phase) => send({ id, phase }));
    case 'fairness':
      return fairness(job, (phase) => send({ id, phase }));
  }
}

process.on('message', function onJob(request: JobRequest) {
  runJob(request).then(
    (result) => send({ id: request.id, result }),
    (error: unknown) =>
      send({
        id: request.id,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
  );
});
process.on('disconnect', function onRunnerGone() {
  process.exit(0);
});

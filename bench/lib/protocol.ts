/**
 * The messages between the runner and the load generator (a `child_process.fork` IPC channel):
 * the runner sends one {@link Job} at a time; the load generator answers with progress phases and
 * one result. Keeping the generator in its own process means its CPU is not the server's.
 *
 * @packageDocumentation
 */

/** Persistent connections that echo fixed-size messages back. */
export interface EchoJob {
  readonly kind: 'echo';
  readonly port: number;
  readonly connections: number;
  readonly size: number;
  /** `requestResponse`: one message in flight per connection; `pipelined`: `depth` in flight. */
  readonly mode: 'requestResponse' | 'pipelined';
  readonly depth: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** Connect, read the greeting line, close; `concurrency` of these at a time. */
export interface ConnectionRateJob {
  readonly kind: 'connectionRate';
  readonly port: number;
  readonly concurrency: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/**
 * One sender's lines fanned out by the server to every receiver (the Spread pattern).
 *
 * The measured round is sized to the server, so that a fast one is not timed over a few
 * milliseconds: warm-up rounds start at `warmupMessages` lines and grow fourfold until one lasts a
 * quarter of `measureMs`; the measured round then sends as many lines as the last warm-up's rate
 * fills `measureMs` with, at least `messages` and at most `maxMessages`.
 */
export interface FanOutJob {
  readonly kind: 'fanOut';
  readonly port: number;
  readonly receivers: number;
  /** The fewest lines in the measured round. */
  readonly messages: number;
  readonly maxMessages: number;
  /** How long the measured round should last, from the warm-up's rate. */
  readonly measureMs: number;
  readonly warmupMessages: number;
  /** Bytes per line, newline included. */
  readonly size: number;
  /** Lines per `write()` on the sender. */
  readonly batch: number;
}

/**
 * Lockstep fan-out: one sender writes one `size`-byte line, waits until every one of `receivers`
 * has it, then writes the next; rounds run for `warmupMs` unmeasured, then for `durationMs`.
 */
export interface LockstepJob {
  readonly kind: 'lockstep';
  readonly port: number;
  readonly receivers: number;
  /** Bytes per line, newline included. */
  readonly size: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/**
 * Opens `connections` more connections and holds them open: each confirmed by one echoed byte, or
 * with `partialLine` (a line-framed Spread server), each sends one byte without a newline after
 * its greeting, which the server must hold as the start of a line.
 */
export interface IdleOpenJob {
  readonly kind: 'idleOpen';
  readonly port: number;
  readonly connections: number;
  readonly partialLine?: boolean;
}

/** Closes the connections an {@link IdleOpenJob} opened. */
export interface IdleCloseJob {
  readonly kind: 'idleClose';
}

/**
 * Many clients of an unframed Spread server, each sending one byte every `intervalMs` (staggered
 * evenly), every byte relayed to all the others; meanwhile a new client connects every
 * `probeEveryMs`, one at a time, and is timed until its greeting arrives.
 */
export interface TrickleJob {
  readonly kind: 'trickle';
  readonly port: number;
  readonly connections: number;
  readonly intervalMs: number;
  readonly probeEveryMs: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/**
 * `senders` clients of a Spread server, each writing `size`-byte lines in `chunk`-byte writes as
 * fast as the server takes them (and reading, and discarding, what the others send).
 */
export interface FairnessJob {
  readonly kind: 'fairness';
  readonly port: number;
  readonly senders: number;
  readonly size: number;
  readonly chunk: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export type Job =
  | EchoJob
  | ConnectionRateJob
  | FanOutJob
  | LockstepJob
  | IdleOpenJob
  | IdleCloseJob
  | TrickleJob
  | FairnessJob;

/** The load generator's own CPU use during the measured window. */
export interface CpuUse {
  readonly userMs: number;
  readonly systemMs: number;
  /** (user + system) / wall time: 1 means one core fully busy. */
  readonly fraction: number;
}

export interface EchoResult {
  readonly kind: 'echo';
  readonly messages: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly cpu: CpuUse;
  readonly errors: number;
}

export interface ConnectionRateResult {
  readonly kind: 'connectionRate';
  readonly connections: number;
  readonly seconds: number;
  /** From connect() to the greeting's arrival. */
  readonly p50Us: number;
  readonly p99Us: number;
  readonly cpu: CpuUse;
  readonly errors: number;
}

export interface FanOutResult {
  readonly kind: 'fanOut';
  readonly receivers: number;
  /** Lines in the measured round (sized to the server; see {@link FanOutJob}). */
  readonly messages: number;
  /** Lines in all warm-up rounds together. */
  readonly warmupMessages: number;
  readonly deliveries: number;
  /** From the sender's first write until every receiver has every line of the measured round. */
  readonly seconds: number;
  /** When half of the receivers had every line. */
  readonly medianReceiverSeconds: number;
  /** Every receiver got exactly `messages × size` bytes, and the sender got nothing back. */
  readonly verified: boolean;
  readonly minReceivedBytes: number;
  readonly maxReceivedBytes: number;
  readonly cpu: CpuUse;
}

export interface LockstepResult {
  readonly kind: 'lockstep';
  readonly receivers: number;
  /** Lines sent in the measured window, each received by every receiver before the next. */
  readonly rounds: number;
  readonly warmupRounds: number;
  readonly seconds: number;
  /** From the line's write until the last receiver has it. */
  readonly p50Us: number;
  readonly p99Us: number;
  /** Every receiver got exactly one line per round (warm-up included), the sender nothing back. */
  readonly verified: boolean;
  readonly minReceivedBytes: number;
  readonly maxReceivedBytes: number;
  readonly cpu: CpuUse;
}

export interface IdleOpenResult {
  readonly kind: 'idleOpen';
  readonly opened: number;
  readonly seconds: number;
}

export interface IdleCloseResult {
  readonly kind: 'idleClose';
  readonly closed: number;
}

export interface TrickleResult {
  readonly kind: 'trickle';
  readonly connections: number;
  readonly seconds: number;
  /** Bytes the trickling clients sent in the measured window. */
  readonly sent: number;
  /** Bytes they received in it: `sent × (connections − 1)` when the server keeps up. */
  readonly received: number;
  /** New clients timed in the window, and from connect() to their greeting. */
  readonly probes: number;
  readonly greetP50Us: number;
  readonly greetP99Us: number;
  readonly greetMaxUs: number;
  /** Newcomers not greeted before they gave up (counted above with the time they waited). */
  readonly ungreeted: number;
  readonly cpu: CpuUse;
  readonly errors: number;
}

export interface FairnessResult {
  readonly kind: 'fairness';
  readonly seconds: number;
  /** Bytes of each sender's lines that reached the other clients in the window, per receiver. */
  readonly perSender: readonly number[];
  /** Jain's fairness index over `perSender`: 1 when all are equal, 1/n when one sender has all. */
  readonly jain: number;
  readonly cpu: CpuUse;
}

export type JobResult =
  | EchoResult
  | ConnectionRateResult
  | FanOutResult
  | LockstepResult
  | IdleOpenResult
  | IdleCloseResult
  | TrickleResult
  | FairnessResult;

/** Runner → load generator. */
export interface JobRequest {
  readonly id: number;
  readonly job: Job;
}

/** Load generator → runner: the measured window opens and closes (the runner samples the server's CPU then), then the result. */
export type JobReply =
  | { readonly id: number; readonly phase: 'measureStart' | 'measureEnd' }
  | { readonly id: number; readonly result: JobResult }
  | { readonly id: number; readonly error: string };

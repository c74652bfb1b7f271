/**
 * `npm run bench`: every workload against the rxnet server, the raw `net` server and, for echo,
 * connection rate and fan-out, a Twisted server (bench/servers/*.py, run by /usr/bin/python3) in
 * turn, in one run, with the load generator in its own process. Fan-out runs against two raw
 * servers: chunk-forwarding (the headline) and per-line. Prints a table of rxnet/raw and
 * rxnet/Twisted ratios on stdout and progress on stderr, and writes bench/results/latest.{json,md}
 * and chart.svg. Without Twisted the Twisted column says why instead of the run failing.
 *
 * Flags:
 * - `--quick`: a smoke run of about a minute (short windows, one round, fewer idle connections);
 * - `--only=echo,connectionRate,fanOut,lockstep,trickle,fairness,idleMemory,framing`: a subset of the
 *   workloads;
 * - `--rounds=N`: measure each case N times, alternating which server goes first, and keep each
 *   server's best round (noise on a shared machine only ever slows a run down);
 * - `--profile`: run every server under `node --cpu-prof` (profiles in bench/results/profiles; read
 *   them with `bench/profile-summary.ts`);
 * - `--docs`: also rewrite the results section of docs/benchmarks.md and docs/bench-chart.svg;
 * - `--loadgen=c|node`: the load generator, bench/loadgen.c (the default, compiled with gcc on
 *   demand; the Node one when it cannot be) or bench/loadgen.ts.
 *
 * With `taskset` and two CPUs, the server runs pinned to the first and the load generator to the
 * second (the issue's setup); `BENCH_PIN=0` turns that off.
 *
 * @packageDocumentation
 */
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  BENCH_DIR,
  REPO_DIR,
  buildCLoadGenerator,
  compileServers,
  openFileLimit,
  pinning,
  startCLoadGenerator,
  startLoadGenerator,
  startServer,
  twistedVersion,
  type LoadGenerator,
  type ServerProcess,
  type StartServerOptions,
} from './lib/processes';
import type {
  ConnectionRateResult,
  CpuUse,
  EchoJob,
  EchoResult,
  FairnessResult,
  FanOutResult,
  IdleOpenResult,
  LockstepResult,
  Job,
  JobResult,
  TrickleResult,
} from './lib/protocol';
import {
  baselineLegend,
  compare,
  human,
  markdownDetails,
  markdownSummary,
  svgChart,
  targetsMet,
  textTable,
  unicodeChart,
  type Comparison,
  type Target,
  type Figures,
  type TwistedFigure,
} from './lib/report';

const WORKLOADS = [
  'echo',
  'connectionRate',
  'fanOut',
  'lockstep',
  'trickle',
  'fairness',
  'idleMemory',
  'framing',
] as const;
type Workload = (typeof WORKLOADS)[number];
/**
 * The servers of a row: `raw` is the row's raw `net` baseline, `rawPerLine` the fan-out
 * workload's second raw server, `twisted` the Twisted one.
 */
type Impl = 'raw' | 'rawPerLine' | 'rxnet' | 'twisted';
/** The order of a round; the next round runs it backwards. */
const IMPLS: readonly Impl[] = ['raw', 'rawPerLine', 'rxnet', 'twisted'];

/** How the Node servers run, for the report's header. */
const SERVER_RUNTIME =
  'Node servers run as compiled JavaScript on the built package (`dist`), not under ts-node';

/** What each server is, for the report's list of baselines (keyed by bench/servers file name). */
const SERVER_DESCRIPTIONS: Readonly<Record<string, string>> = {
  'raw-echo': '`socket.pipe(socket)`',
  'raw-greet': 'a counter and `socket.write(greeting)`',
  'raw-spread-chunks':
    'chunk-forwarding: each received chunk written as is to every other client, the strongest simple raw design',
  'raw-spread': 'per-line: splits lines, one `write()` per line per receiver',
  'rxnet-spread': '`lines()`, `countConnections()`, `greet()`, `broadcast()`',
  'rxnet-spread-chunks': '`countConnections()`, `greet()`, `broadcast()` over raw chunks',
  twisted_echo: "`self.transport.write(data)`, Twisted's own echo example",
  twisted_spread:
    'the Spread fixture: greets each client, `client.transport.write(data)` per received chunk per other client',
};

/** Issue 12: echo at least 1.0 × raw `net` in every case of the matrix. */
const ECHO_TARGET: Target = { op: '>=', value: 1.0 };
/** Issue 12: connection rate at least 0.95 × raw. */
const CONNECTION_RATE_TARGET: Target = { op: '>=', value: 0.95 };
/**
 * Issue 12: line-framed fan-out burst at least 0.5 × the chunk-forwarding raw server in
 * deliveries per second. Its second target, every receiver done within 2 × raw's time for the
 * same lines, is the same condition: for a fixed number of lines the time is inversely
 * proportional to the rate.
 */
const FAN_OUT_TARGET: Target = { op: '>=', value: 0.5 };
/** Issue 12: lockstep fan-out at least 1.0 × the chunk-forwarding raw server, in rounds per second. */
const LOCKSTEP_TARGET: Target = { op: '>=', value: 1.0 };
/** The framing engineer's in-process decode comparisons (not an issue 12 target). */
const FRAMING_TARGET: Target = { op: '>=', value: 0.9 };
/** Issue 12: idle memory at most 2.5 KB per connection (an absolute figure, not a ratio). */
const MEMORY_TARGET: Target = { op: '<=', value: 2500, absolute: true };

interface Settings {
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly rounds: number;
  readonly echoConnections: readonly number[];
  readonly echoSizes: readonly number[];
  readonly pipelineDepth: number;
  readonly connectConcurrency: number;
  /**
   * Fan-out cases: `messages` is the fewest lines in a measured round; the load generator sizes
   * each round to last about `durationMs` at the server's own pace, up to {@link FAN_OUT_MAX_MESSAGES}.
   */
  readonly fanOut: readonly { readonly receivers: number; readonly messages: number }[];
  readonly fanOutSize: number;
  readonly fanOutBatch: number;
  /** Lockstep fan-out: receivers per case; lines of `fanOutSize` bytes, one round at a time. */
  readonly lockstep: readonly number[];
  readonly idleConnections: number;
  /** The trickle: `connections` clients, one byte each every `intervalMs`, one round per server. */
  readonly trickle: {
    readonly connections: number;
    readonly intervalMs: number;
    readonly probeEveryMs: number;
    readonly warmupMs: number;
    readonly durationMs: number;
  };
  /** Fairness: `senders` clients broadcasting as fast as they can, one round per server. */
  readonly fairness: {
    readonly senders: number;
    readonly warmupMs: number;
    readonly durationMs: number;
  };
}

/** The issue's fan-out workload sends 500 000 lines; no measured round sends more. */
const FAN_OUT_MAX_MESSAGES = 500_000;

const FULL: Settings = {
  warmupMs: 1000,
  durationMs: 3000,
  rounds: 3,
  echoConnections: [1, 100, 1000],
  echoSizes: [64, 4096],
  pipelineDepth: 16,
  connectConcurrency: 64,
  fanOut: [
    { receivers: 100, messages: 2_000 },
    { receivers: 1000, messages: 200 },
  ],
  fanOutSize: 64,
  fanOutBatch: 16,
  lockstep: [100],
  idleConnections: 10_000,
  trickle: {
    connections: 2000,
    intervalMs: 5000,
    probeEveryMs: 250,
    warmupMs: 5000,
    durationMs: 10_000,
  },
  fairness: { senders: 10, warmupMs: 1000, durationMs: 5000 },
};

const QUICK: Settings = {
  ...FULL,
  warmupMs: 250,
  durationMs: 750,
  rounds: 1,
  fanOut: [
    { receivers: 100, messages: 1_000 },
    { receivers: 1000, messages: 100 },
  ],
  idleConnections: 2_000,
  trickle: {
    connections: 100,
    intervalMs: 1000,
    probeEveryMs: 100,
    warmupMs: 1000,
    durationMs: 2000,
  },
  fairness: { senders: 10, warmupMs: 500, durationMs: 1500 },
};

interface Options {
  readonly loadgen: 'c' | 'node';
  readonly quick: boolean;
  readonly only: ReadonlySet<Workload>;
  readonly rounds: number | undefined;
  readonly profile: boolean;
  readonly docs: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  let quick = false;
  let profile = false;
  let docs = false;
  let rounds: number | undefined;
  let loadgen: Options['loadgen'] = 'c';
  let only: Set<Workload> = new Set(WORKLOADS);
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg === '--loadgen=c' || arg === '--loadgen=node')
      loadgen = arg.slice('--loadgen='.length) as Options['loadgen'];
    else if (arg === '--profile') profile = true;
    else if (arg === '--docs') docs = true;
    else if (arg.startsWith('--rounds=')) rounds = Number(arg.slice('--rounds='.length));
    else if (arg.startsWith('--only=')) {
      const names = arg.slice('--only='.length).split(',');
      const unknown = names.filter((n) => !(WORKLOADS as readonly string[]).includes(n));
      if (unknown.length > 0) usage(`unknown workload ${unknown.join(', ')}`);
      only = new Set(names as Workload[]);
    } else usage(`unknown argument ${arg}`);
  }
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds > 0))
    usage('--rounds takes a positive integer');
  return { loadgen, quick, only, rounds, profile, docs };
}

function usage(problem: string): never {
  process.stderr.write(
    `${problem}\nusage: npm run bench -- [--quick] [--only=${WORKLOADS.join(',')}] [--rounds=N] [--profile] [--docs] [--loadgen=c|node]\n`,
  );
  process.exit(2);
}

/** Progress on stderr: one line per step, rewritten in place on a terminal. */
class Progress {
  private done = 0;
  private readonly start = performance.now();
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly total: number,
    private estimatedSeconds: number,
  ) {}

  step(label: string): void {
    this.write(`${this.prefix()} ${label} …`, false);
  }

  finish(label: string, outcome: string, estimatedSeconds: number): void {
    this.estimatedSeconds -= estimatedSeconds;
    this.write(`${this.prefix()} ${label}: ${outcome}`, true);
    this.done += 1;
  }

  note(text: string): void {
    this.write(text, true);
  }

  private prefix(): string {
    const elapsed = (performance.now() - this.start) / 1000;
    return `[${String(this.done + 1).padStart(String(this.total).length)}/${this.total} ${clock(elapsed)} eta ${clock(Math.max(0, this.estimatedSeconds))}]`;
  }

  private write(text: string, final: boolean): void {
    if (this.tty) process.stderr.write(`\r\x1b[K${text}${final ? '\n' : ''}`);
    else if (final) process.stderr.write(`${text}\n`);
  }
}

function clock(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** One job's result and the server's CPU use during its measured window. */
interface Measured<R extends JobResult> {
  readonly impl: Impl;
  readonly result: R;
  /** Server CPU seconds per wall second during the measured window (1 = one core). */
  readonly serverCpu: number;
}

/** A server's best round by score, and separately its best score per server CPU-second. */
interface Kept<R extends JobResult> {
  readonly best: Measured<R>;
  readonly perCpu: number;
  readonly server: string;
}

interface Context {
  readonly settings: Settings;
  readonly options: Options;
  readonly loadgen: LoadGenerator;
  readonly progress: Progress;
  readonly comparisons: Comparison[];
  readonly measurements: {
    workload: Workload;
    case: string;
    round: number;
    impl: Impl;
    server: string;
    serverCpu: number;
    result: JobResult;
  }[];
  readonly servers: Set<ServerProcess>;
  readonly timeLimitSeconds: number;
  /** Whether the Twisted column can run on this machine. */
  readonly twisted: ReturnType<typeof twistedVersion>;
  /** The CPUs of the server and the load generator, or why they are not pinned. */
  readonly pin: ReturnType<typeof pinning>;
  /** The Node servers' compiled JavaScript (see `compileServers`). */
  readonly compiledDir: string;
}

async function launch(
  ctx: Context,
  name: string,
  extra: Pick<StartServerOptions, 'appHeapMb'> = {},
): Promise<ServerProcess> {
  const profiled = ctx.options.profile;
  const server = await startServer(name, {
    ...extra,
    timeLimitSeconds: ctx.timeLimitSeconds,
    compiledDir: ctx.compiledDir,
    ...('server' in ctx.pin ? { cpu: ctx.pin.server } : {}),
    ...(profiled ? { cpuProfileDir: join(BENCH_DIR, 'results', 'profiles') } : {}),
  });
  ctx.servers.add(server);
  return server;
}

/** A server missing from a row, and why: the Twisted column is optional. */
interface Missing {
  readonly missing: string;
}

/** Starts a Twisted server, or says why there is none, so the column reports it instead of failing. */
async function launchTwisted(ctx: Context, name: string): Promise<ServerProcess | Missing> {
  if ('missing' in ctx.twisted) return ctx.twisted;
  try {
    return await launch(ctx, name);
  } catch (error: unknown) {
    const missing = `${name}.py did not start: ${error instanceof Error ? error.message : String(error)}`;
    ctx.progress.note(missing);
    return { missing };
  }
}

/** The servers of a row, the Twisted one only when it is running. */
function withTwisted(
  servers: Partial<Record<Impl, ServerProcess>>,
  twisted: ServerProcess | Missing,
): Partial<Record<Impl, ServerProcess>> {
  return 'missing' in twisted ? servers : { ...servers, twisted };
}

function running(servers: readonly (ServerProcess | Missing)[]): ServerProcess[] {
  return servers.filter((s): s is ServerProcess => !('missing' in s));
}

async function stopAll(ctx: Context, servers: readonly ServerProcess[]): Promise<void> {
  await Promise.all(servers.map((s) => s.stop()));
  for (const s of servers) ctx.servers.delete(s);
}

async function measure<R extends JobResult>(
  ctx: Context,
  server: ServerProcess,
  impl: Impl,
  job: Job,
): Promise<Measured<R>> {
  let cpuStart = Number.NaN;
  let cpuEnd = Number.NaN;
  let wallStart = 0;
  let wallEnd = 0;
  const result = await ctx.loadgen.run<R>(job, (phase) => {
    if (phase === 'measureStart') {
      cpuStart = server.cpuSeconds();
      wallStart = performance.now();
    } else {
      cpuEnd = server.cpuSeconds();
      wallEnd = performance.now();
    }
  });
  return { impl, result, serverCpu: (cpuEnd - cpuStart) / ((wallEnd - wallStart) / 1000) };
}

/** How many times a round is tried before its failure ends the run. */
const ATTEMPTS_PER_ROUND = 3;

/**
 * One round of a case, tried again when the load generator gives up on it. On a slow machine
 * (seen on a virtual one), a server can take longer than the generator's stall limit to echo to
 * all of a 1000-connection burst; one such spell should cost a round, not a 20-minute run.
 */
async function measureWithRetries<R extends JobResult>(
  ctx: Context,
  server: ServerProcess,
  impl: Impl,
  job: (port: number) => Job,
  stepLabel: string,
): Promise<Measured<R>> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await measure<R>(ctx, server, impl, job(server.port));
    } catch (error: unknown) {
      if (attempt >= ATTEMPTS_PER_ROUND) throw error;
      const message = error instanceof Error ? error.message : String(error);
      process.stderr.write(`${stepLabel}: ${message}; trying the round again\n`);
    }
  }
}

/**
 * Runs one case `rounds` times against every server given, alternating the order (forwards, then
 * backwards) so that a slow spell on the shared machine does not always hit the same server, and
 * keeps each server's best round by `score`, and separately its best score per server CPU-second.
 */
async function roundsOf<R extends JobResult>(
  ctx: Context,
  workload: Workload,
  label: string,
  servers: Readonly<Partial<Record<Impl, ServerProcess>>>,
  job: (port: number) => Job,
  score: (r: R) => number,
  describe: (r: R) => string,
  estimatedSeconds: number,
): Promise<Partial<Record<Impl, Kept<R>>>> {
  const rounds = ctx.options.rounds ?? ctx.settings.rounds;
  const impls = IMPLS.filter((impl) => servers[impl] !== undefined);
  const kept: Partial<Record<Impl, Kept<R>>> = {};
  for (let round = 0; round < rounds; round += 1) {
    for (const impl of round % 2 === 0 ? impls : [...impls].reverse()) {
      const server = servers[impl]!;
      const stepLabel = `${workload} ${label} · ${impl}${rounds > 1 ? ` · round ${round + 1}` : ''}`;
      ctx.progress.step(stepLabel);
      const measured = await measureWithRetries<R>(ctx, server, impl, job, stepLabel);
      ctx.measurements.push({
        workload,
        case: label,
        round,
        impl,
        server: server.name,
        serverCpu: measured.serverCpu,
        result: measured.result,
      });
      ctx.progress.finish(stepLabel, describe(measured.result), estimatedSeconds);
      const previous = kept[impl];
      const perCpu = score(measured.result) / measured.serverCpu;
      kept[impl] = {
        best:
          previous === undefined || score(measured.result) > score(previous.best.result)
            ? measured
            : previous.best,
        perCpu: Math.max(previous?.perCpu ?? 0, perCpu),
        server: server.name,
      };
    }
  }
  return kept;
}

/**
 * A comparison row from the kept rounds: rxnet against `raw` (the row's raw baseline) and, when
 * `twisted` ran, against Twisted; `twisted` is the reason when it did not. Details get a third
 * figure for Twisted, and the row the load generator's CPU in the busiest kept round.
 */
function row<R extends JobResult & { readonly cpu: CpuUse }>(
  workload: Workload,
  label: string,
  metric: string,
  kept: { raw: Kept<R>; rxnet: Kept<R>; twisted: Kept<R> | Missing | undefined },
  rate: (r: R) => number,
  target: Target | undefined,
  details: Readonly<Record<string, (m: Measured<R>) => number>>,
  notes: { readonly verified?: boolean } = {},
): Comparison {
  const { raw, rxnet } = kept;
  const twisted = kept.twisted !== undefined && 'best' in kept.twisted ? kept.twisted : undefined;
  const all = [raw, rxnet, ...(twisted === undefined ? [] : [twisted])];
  const loadgenCpu = Math.max(...all.map((k) => k.best.result.cpu.fraction));
  const figures = (f: (m: Measured<R>) => number): Figures =>
    twisted === undefined
      ? [f(raw.best), f(rxnet.best)]
      : [f(raw.best), f(rxnet.best), f(twisted.best)];
  const rxnetRate = rate(rxnet.best.result);
  const twistedFigure: TwistedFigure | undefined =
    twisted !== undefined
      ? {
          server: twisted.server,
          value: rate(twisted.best.result),
          ratio: rxnetRate / rate(twisted.best.result),
          perCpuRatio: rxnet.perCpu / twisted.perCpu,
        }
      : kept.twisted !== undefined && 'missing' in kept.twisted
        ? { missing: kept.twisted.missing }
        : undefined;
  const note =
    notes.verified === false
      ? 'COUNTS NOT VERIFIED'
      : loadgenCpu >= GENERATOR_BOUND
        ? `load generator at ${cpuPercent(loadgenCpu)} % CPU`
        : undefined;
  return compare(
    workload,
    label,
    metric,
    rate(raw.best.result),
    rxnetRate,
    target,
    Object.fromEntries(Object.entries(details).map(([name, f]) => [name, figures(f)])),
    {
      rawServer: raw.server,
      perCpu: [raw.perCpu, rxnet.perCpu],
      loadgenCpu,
      ...(twistedFigure === undefined ? {} : { twisted: twistedFigure }),
      ...(note === undefined ? {} : { note }),
    },
  );
}

/** The kept Twisted rounds, or why there are none. */
function twistedKept<R extends JobResult>(
  kept: Partial<Record<Impl, Kept<R>>>,
  twisted: ServerProcess | Missing,
): Kept<R> | Missing {
  return 'missing' in twisted ? twisted : kept.twisted!;
}

/**
 * A spread workload's two rows (fan-out, lockstep): the headline one against the chunk-forwarding
 * raw server, carrying the target, and an informational one against the per-line server. A row
 * whose byte counts did not add up in any of its kept rounds is marked so.
 */
function spreadRows<R extends JobResult & { readonly cpu: CpuUse; readonly verified: boolean }>(
  workload: Workload,
  label: string,
  metric: string,
  kept: Partial<Record<Impl, Kept<R>>>,
  twisted: ServerProcess | Missing,
  rate: (r: R) => number,
  target: Target,
  details: Readonly<Record<string, (m: Measured<R>) => number>>,
): Comparison[] {
  const twistedRounds = twistedKept(kept, twisted);
  const verified = (...rows: (Kept<R> | Missing)[]): boolean =>
    rows.every((k) => !('best' in k) || k.best.result.verified);
  return [
    row<R>(
      workload,
      `${label} · vs chunk-forwarding raw`,
      metric,
      { raw: kept.raw!, rxnet: kept.rxnet!, twisted: twistedRounds },
      rate,
      target,
      details,
      { verified: verified(kept.raw!, kept.rxnet!, twistedRounds) },
    ),
    row<R>(
      workload,
      `${label} · vs per-line raw`,
      metric,
      { raw: kept.rawPerLine!, rxnet: kept.rxnet!, twisted: undefined },
      rate,
      undefined,
      details,
      { verified: verified(kept.rawPerLine!, kept.rxnet!) },
    ),
  ];
}

interface EchoCase {
  readonly connections: number;
  readonly size: number;
  readonly mode: EchoJob['mode'];
}

function echoCases(s: Settings): EchoCase[] {
  return s.echoConnections.flatMap((connections) =>
    s.echoSizes.flatMap((size) =>
      (['requestResponse', 'pipelined'] as const).map((mode) => ({ connections, size, mode })),
    ),
  );
}

/**
 * Load generator CPU above which a case is flagged: the ratio may then measure the generator. The
 * flag looks at every server in the row, Twisted included.
 */
const GENERATOR_BOUND = 0.9;

function sizeLabel(bytes: number): string {
  return bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`;
}

function cpuPercent(fraction: number): number {
  return Math.round(fraction * 100);
}

/** Cases also run against `serve(echo())`, to show the cost of the behaviour pipeline over `listen`. */
const SERVE_ECHO_CASES: readonly EchoCase[] = [
  { connections: 100, size: 64, mode: 'requestResponse' },
  { connections: 100, size: 64, mode: 'pipelined' },
  { connections: 1000, size: 4096, mode: 'pipelined' },
];

/**
 * Cases run again with both Node servers holding {@link APP_HEAP_MB} of live objects, as an
 * application does (`holdApplicationHeap` in bench/servers/harness.ts says why). Without a
 * target: the matrix above is the issue's; these rows show the regime a user's server is in.
 */
const APP_HEAP_CASES: readonly EchoCase[] = [{ connections: 1000, size: 4096, mode: 'pipelined' }];
const APP_HEAP_MB = 16;

async function echoCase(
  ctx: Context,
  c: EchoCase,
  servers: { raw: ServerProcess; rxnet: ServerProcess; twisted?: ServerProcess | Missing },
  suffix: string,
  target: Target | undefined,
): Promise<void> {
  const s = ctx.settings;
  const label = `${c.connections} conn · ${sizeLabel(c.size)} · ${c.mode === 'pipelined' ? `pipelined ×${s.pipelineDepth}` : 'req/resp'}${suffix}`;
  const { raw, rxnet, twisted } = servers;
  const kept = await roundsOf<EchoResult>(
    ctx,
    'echo',
    label,
    twisted === undefined ? { raw, rxnet } : withTwisted({ raw, rxnet }, twisted),
    (port) => ({
      kind: 'echo',
      port,
      connections: c.connections,
      size: c.size,
      mode: c.mode,
      depth: s.pipelineDepth,
      warmupMs: s.warmupMs,
      durationMs: s.durationMs,
    }),
    (r) => r.messages / r.seconds,
    (r) =>
      `${human(r.messages / r.seconds)} msg/s, p99 ${human(r.p99Us)} µs, loadgen CPU ${cpuPercent(r.cpu.fraction)} %`,
    (s.warmupMs + s.durationMs) / 1000 + 0.3,
  );
  ctx.comparisons.push(
    row<EchoResult>(
      'echo',
      label,
      'msg/s',
      {
        raw: kept.raw!,
        rxnet: kept.rxnet!,
        twisted: twisted === undefined ? undefined : twistedKept(kept, twisted),
      },
      (r) => r.messages / r.seconds,
      target,
      {
        'MB/s': (m) => m.result.bytes / m.result.seconds / 1e6,
        'p50 µs': (m) => m.result.p50Us,
        'p99 µs': (m) => m.result.p99Us,
        'server CPU %': (m) => cpuPercent(m.serverCpu),
        'loadgen CPU %': (m) => cpuPercent(m.result.cpu.fraction),
      },
    ),
  );
}

async function echoWorkload(ctx: Context): Promise<void> {
  const raw = await launch(ctx, 'raw-echo');
  const rxnet = await launch(ctx, 'rxnet-echo');
  const twisted = await launchTwisted(ctx, 'twisted_echo');
  for (const c of echoCases(ctx.settings))
    await echoCase(ctx, c, { raw, rxnet, twisted }, '', ECHO_TARGET);
  await stopAll(ctx, running([rxnet, twisted]));
  // serve(echo()) against raw only: these rows compare two rxnet styles, not frameworks.
  const serveEcho = await launch(ctx, 'rxnet-serve-echo');
  for (const c of SERVE_ECHO_CASES)
    await echoCase(ctx, c, { raw, rxnet: serveEcho }, ' · serve(echo())', ECHO_TARGET);
  await stopAll(ctx, [raw, serveEcho]);
  const heap = { appHeapMb: APP_HEAP_MB };
  const rawWithHeap = await launch(ctx, 'raw-echo', heap);
  const rxnetWithHeap = await launch(ctx, 'rxnet-echo', heap);
  const suffix = ` · ${APP_HEAP_MB} MB application heap in each server`;
  for (const c of APP_HEAP_CASES)
    await echoCase(ctx, c, { raw: rawWithHeap, rxnet: rxnetWithHeap }, suffix, undefined);
  await stopAll(ctx, [rawWithHeap, rxnetWithHeap]);
}

async function connectionRateWorkload(ctx: Context): Promise<void> {
  const s = ctx.settings;
  const raw = await launch(ctx, 'raw-greet');
  const rxnet = await launch(ctx, 'rxnet-greet');
  // The Twisted Spread server: with no data, it is a counter and a greeting like the other two.
  const twisted = await launchTwisted(ctx, 'twisted_spread');
  const label = `${s.connectConcurrency} concurrent · connect, greeting, close`;
  const kept = await roundsOf<ConnectionRateResult>(
    ctx,
    'connectionRate',
    label,
    withTwisted({ raw, rxnet }, twisted),
    (port) => ({
      kind: 'connectionRate',
      port,
      concurrency: s.connectConcurrency,
      warmupMs: s.warmupMs,
      durationMs: s.durationMs,
    }),
    (r) => r.connections / r.seconds,
    (r) =>
      `${human(r.connections / r.seconds)} conn/s, ${r.errors} errors, loadgen CPU ${cpuPercent(r.cpu.fraction)} %`,
    (s.warmupMs + s.durationMs) / 1000 + 0.5,
  );
  ctx.comparisons.push(
    row<ConnectionRateResult>(
      'connectionRate',
      label,
      'conn/s',
      { raw: kept.raw!, rxnet: kept.rxnet!, twisted: twistedKept(kept, twisted) },
      (r) => r.connections / r.seconds,
      CONNECTION_RATE_TARGET,
      {
        'p50 µs to greeting': (m) => m.result.p50Us,
        'p99 µs to greeting': (m) => m.result.p99Us,
        errors: (m) => m.result.errors,
        'server CPU %': (m) => cpuPercent(m.serverCpu),
        'loadgen CPU %': (m) => cpuPercent(m.result.cpu.fraction),
      },
    ),
  );
  await stopAll(ctx, running([raw, rxnet, twisted]));
}

/** About how long one fan-out step takes: warm-up rounds, then a measured round of `durationMs`. */
function fanOutStepSeconds(s: Settings): number {
  return (2 * s.durationMs) / 1000 + 1;
}

/**
 * Broadcast fan-out against two raw servers: the headline row compares rxnet with the
 * chunk-forwarding server (the strongest simple raw design) and carries the target; a second,
 * informational row compares it with the per-line server, which writes every line separately.
 */
async function fanOutWorkload(ctx: Context): Promise<void> {
  const s = ctx.settings;
  for (const c of s.fanOut) {
    // Fresh servers per case: the previous case's receivers must be gone from the audience.
    const raw = await launch(ctx, 'raw-spread-chunks');
    const rawPerLine = await launch(ctx, 'raw-spread');
    const rxnet = await launch(ctx, 'rxnet-spread');
    const twisted = await launchTwisted(ctx, 'twisted_spread');
    const label = `${c.receivers} receivers · ${sizeLabel(s.fanOutSize)} lines`;
    const kept = await roundsOf<FanOutResult>(
      ctx,
      'fanOut',
      label,
      withTwisted({ raw, rawPerLine, rxnet }, twisted),
      (port) => ({
        kind: 'fanOut',
        port,
        receivers: c.receivers,
        messages: c.messages,
        maxMessages: FAN_OUT_MAX_MESSAGES,
        measureMs: s.durationMs,
        warmupMessages: Math.ceil(c.messages / 10),
        size: s.fanOutSize,
        batch: s.fanOutBatch,
      }),
      (r) => (r.verified ? r.deliveries / r.seconds : 0),
      (r) =>
        `${human(r.deliveries / r.seconds)} deliveries/s, ${human(r.messages)} lines all in ${(r.seconds * 1000).toFixed(0)} ms, loadgen CPU ${cpuPercent(r.cpu.fraction)} %, ${r.verified ? 'counts verified' : `COUNTS WRONG (${r.minReceivedBytes}..${r.maxReceivedBytes} B)`}`,
      fanOutStepSeconds(s),
    );
    const details = {
      'lines measured': (m: Measured<FanOutResult>) => m.result.messages,
      'ms until all have all': (m: Measured<FanOutResult>) => m.result.seconds * 1000,
      'ms until half have all': (m: Measured<FanOutResult>) =>
        m.result.medianReceiverSeconds * 1000,
      'server CPU %': (m: Measured<FanOutResult>) => cpuPercent(m.serverCpu),
      'loadgen CPU %': (m: Measured<FanOutResult>) => cpuPercent(m.result.cpu.fraction),
    };
    const rate = (r: FanOutResult): number => r.deliveries / r.seconds;
    ctx.comparisons.push(
      ...spreadRows<FanOutResult>(
        'fanOut',
        label,
        'deliveries/s',
        kept,
        twisted,
        rate,
        FAN_OUT_TARGET,
        details,
      ),
    );
    await stopAll(ctx, running([raw, rawPerLine, rxnet, twisted]));
  }
}

/**
 * Lockstep fan-out: one line at a time, each sent only once every receiver has the one before, so
 * the rate is the inverse of a broadcast's round trip (issue 12's "lockstep fan-out"). The same
 * servers as the burst: the headline row against the chunk-forwarding raw server, with the
 * target, and an informational one against the per-line server.
 */
async function lockstepWorkload(ctx: Context): Promise<void> {
  const s = ctx.settings;
  for (const receivers of s.lockstep) {
    const raw = await launch(ctx, 'raw-spread-chunks');
    const rawPerLine = await launch(ctx, 'raw-spread');
    const rxnet = await launch(ctx, 'rxnet-spread');
    const twisted = await launchTwisted(ctx, 'twisted_spread');
    const label = `${receivers} receivers · ${sizeLabel(s.fanOutSize)} lines, one at a time`;
    const kept = await roundsOf<LockstepResult>(
      ctx,
      'lockstep',
      label,
      withTwisted({ raw, rawPerLine, rxnet }, twisted),
      (port) => ({
        kind: 'lockstep',
        port,
        receivers,
        size: s.fanOutSize,
        warmupMs: s.warmupMs,
        durationMs: s.durationMs,
      }),
      (r) => (r.verified ? r.rounds / r.seconds : 0),
      (r) =>
        `${human(r.rounds / r.seconds)} rounds/s, p50 ${human(r.p50Us)} µs, p99 ${human(r.p99Us)} µs, loadgen CPU ${cpuPercent(r.cpu.fraction)} %, ${r.verified ? 'counts verified' : `COUNTS WRONG (${r.minReceivedBytes}..${r.maxReceivedBytes} B)`}`,
      (s.warmupMs + s.durationMs) / 1000 + 0.5,
    );
    const details = {
      'rounds measured': (m: Measured<LockstepResult>) => m.result.rounds,
      'p50 µs round trip': (m: Measured<LockstepResult>) => m.result.p50Us,
      'p99 µs round trip': (m: Measured<LockstepResult>) => m.result.p99Us,
      'server CPU %': (m: Measured<LockstepResult>) => cpuPercent(m.serverCpu),
      'loadgen CPU %': (m: Measured<LockstepResult>) => cpuPercent(m.result.cpu.fraction),
    };
    const rate = (r: LockstepResult): number => r.rounds / r.seconds;
    ctx.comparisons.push(
      ...spreadRows<LockstepResult>(
        'lockstep',
        label,
        'rounds/s',
        kept,
        twisted,
        rate,
        LOCKSTEP_TARGET,
        details,
      ),
    );
    await stopAll(ctx, running([raw, rawPerLine, rxnet, twisted]));
  }
}

/** Measures one job once against each server given (in `IMPLS` order), with the server's CPU. */
async function onceEach<R extends JobResult>(
  ctx: Context,
  workload: Workload,
  label: string,
  servers: Readonly<Partial<Record<Impl, ServerProcess>>>,
  job: (port: number) => Job,
  describe: (r: R, serverCpu: number) => string,
  estimatedSeconds: number,
): Promise<Partial<Record<Impl, Measured<R>>>> {
  const measured: Partial<Record<Impl, Measured<R>>> = {};
  for (const impl of IMPLS) {
    const server = servers[impl];
    if (server === undefined) continue;
    const stepLabel = `${workload} ${label} · ${impl}`;
    ctx.progress.step(stepLabel);
    const m = await measure<R>(ctx, server, impl, job(server.port));
    ctx.measurements.push({
      workload,
      case: label,
      round: 0,
      impl,
      server: server.name,
      serverCpu: m.serverCpu,
      result: m.result,
    });
    ctx.progress.finish(stepLabel, describe(m.result, m.serverCpu), estimatedSeconds);
    measured[impl] = m;
  }
  return measured;
}

/** The issue's trickle targets: no more server CPU than Twisted's, and greetings within 50 ms. */
const TRICKLE_GREETING_TARGET_MS = 50;

function trickleStepSeconds(s: Settings): number {
  return (s.trickle.warmupMs + s.trickle.durationMs) / 1000 + 2;
}

/**
 * Many quiet clients on the unframed Spread server: each sends a byte every few seconds, relayed
 * to all the others, while newcomers are timed to their greeting. Reports server CPU (lower is
 * better, so the ratios here are CPU ratios) and the greeting latency; one round per server, as a
 * round is long and CPU use does not depend on the load as throughput does.
 */
async function trickleWorkload(ctx: Context): Promise<void> {
  const t = ctx.settings.trickle;
  const raw = await launch(ctx, 'raw-spread-chunks');
  const rxnet = await launch(ctx, 'rxnet-spread-chunks');
  const twisted = await launchTwisted(ctx, 'twisted_spread');
  const label = `${t.connections} clients · 1 B every ${t.intervalMs / 1000} s each, relayed to all`;
  const measured = await onceEach<TrickleResult>(
    ctx,
    'trickle',
    label,
    withTwisted({ raw, rxnet }, twisted),
    (port) => ({ kind: 'trickle', port, ...t }),
    (r, cpu) =>
      `server CPU ${cpuPercent(cpu)} %, greeting p50 ${human(r.greetP50Us / 1000)} ms, p99 ${human(r.greetP99Us / 1000)} ms, max ${human(r.greetMaxUs / 1000)} ms over ${r.probes} clients, ${(delivered(r) * 100).toFixed(1)} % relayed`,
    trickleStepSeconds(ctx.settings),
  );
  const r = measured.raw!;
  const x = measured.rxnet!;
  const tw = measured.twisted;
  const all = [r, x, ...(tw === undefined ? [] : [tw])];
  const figures = (f: (m: Measured<TrickleResult>) => number): Figures =>
    tw === undefined ? [f(r), f(x)] : [f(r), f(x), f(tw)];
  const p99Ms = x.result.greetP99Us / 1000;
  const greetMet = p99Ms <= TRICKLE_GREETING_TARGET_MS && x.result.ungreeted === 0;
  const cpuMet = tw === undefined ? undefined : x.serverCpu <= tw.serverCpu;
  ctx.comparisons.push(
    compare(
      'trickle',
      label,
      'server CPU %',
      cpuPercent(r.serverCpu),
      cpuPercent(x.serverCpu),
      undefined,
      {
        'greeting p50 ms': figures((m) => m.result.greetP50Us / 1000),
        'greeting p99 ms': figures((m) => m.result.greetP99Us / 1000),
        'greeting max ms': figures((m) => m.result.greetMaxUs / 1000),
        'new clients timed': figures((m) => m.result.probes),
        'of them never greeted': figures((m) => m.result.ungreeted),
        '% of bytes relayed in the window': figures((m) => delivered(m.result) * 100),
        'loadgen CPU %': figures((m) => cpuPercent(m.result.cpu.fraction)),
      },
      {
        rawServer: raw.name,
        loadgenCpu: Math.max(...all.map((m) => m.result.cpu.fraction)),
        ...(tw === undefined
          ? 'missing' in twisted
            ? { twisted: { missing: twisted.missing } }
            : {}
          : {
              twisted: {
                server: 'twisted_spread',
                value: cpuPercent(tw.serverCpu),
                ratio: x.serverCpu / tw.serverCpu,
              },
            }),
        note: `lower is better; targets: rxnet CPU ≤ Twisted's (${cpuMet === undefined ? 'no Twisted' : cpuMet ? 'met' : 'NOT met'}), greeting p99 ≤ ${TRICKLE_GREETING_TARGET_MS} ms (${greetMet ? 'met' : 'NOT met'}: ${human(p99Ms)} ms)`,
      },
    ),
  );
  await stopAll(ctx, running([raw, rxnet, twisted]));
}

/** The share of the relayed bytes the trickling clients received within the window. */
function delivered(r: TrickleResult): number {
  const expected = r.sent * (r.connections - 1);
  return expected === 0 ? 1 : r.received / expected;
}

/** The issue's fairness target: Jain's index over the senders' throughput at least 0.9. */
const FAIRNESS_TARGET = 0.9;
/** The same target on the row: rxnet's own index, not its ratio to raw's. */
const FAIRNESS_ROW_TARGET: Target = { op: '>=', value: FAIRNESS_TARGET, absolute: true };

function fairnessStepSeconds(s: Settings): number {
  return (s.fairness.warmupMs + s.fairness.durationMs) / 1000 + 1;
}

/**
 * Ten senders broadcasting 64-byte lines as fast as the server reads them, each also receiving
 * the others' lines: Jain's index over the bytes each sender got into the server. Both rxnet
 * Spread servers (line-framed and unframed) against the chunk-forwarding raw one and Twisted.
 */
async function fairnessWorkload(ctx: Context): Promise<void> {
  const f = ctx.settings.fairness;
  for (const rxnetServer of ['rxnet-spread', 'rxnet-spread-chunks'] as const) {
    const raw = await launch(ctx, 'raw-spread-chunks');
    const rxnet = await launch(ctx, rxnetServer);
    const twisted = await launchTwisted(ctx, 'twisted_spread');
    const label = `${f.senders} senders · 64 B lines · ${rxnetServer === 'rxnet-spread' ? 'rxnet line-framed' : 'rxnet unframed'}`;
    const measured = await onceEach<FairnessResult>(
      ctx,
      'fairness',
      label,
      withTwisted({ raw, rxnet }, twisted),
      (port) => ({ kind: 'fairness', port, size: 64, chunk: 16 * 1024, ...f }),
      (r, cpu) =>
        `Jain ${r.jain.toFixed(3)}, ${human(sum(r.perSender) / r.seconds / 1e6)} MB/s in all (per sender ${human(Math.min(...r.perSender) / r.seconds / 1e6)}..${human(Math.max(...r.perSender) / r.seconds / 1e6)} MB/s), server CPU ${cpuPercent(cpu)} %`,
      fairnessStepSeconds(ctx.settings),
    );
    const r = measured.raw!;
    const x = measured.rxnet!;
    const tw = measured.twisted;
    const all = [r, x, ...(tw === undefined ? [] : [tw])];
    const figures = (g: (m: Measured<FairnessResult>) => number): Figures =>
      tw === undefined ? [g(r), g(x)] : [g(r), g(x), g(tw)];
    const mbps = (m: Measured<FairnessResult>, v: number): number => v / m.result.seconds / 1e6;
    ctx.comparisons.push(
      compare(
        'fairness',
        label,
        "Jain's index",
        r.result.jain,
        x.result.jain,
        FAIRNESS_ROW_TARGET,
        {
          'MB/s from all senders': figures((m) => mbps(m, sum(m.result.perSender))),
          'slowest sender MB/s': figures((m) => mbps(m, Math.min(...m.result.perSender))),
          'fastest sender MB/s': figures((m) => mbps(m, Math.max(...m.result.perSender))),
          'server CPU %': figures((m) => cpuPercent(m.serverCpu)),
          'loadgen CPU %': figures((m) => cpuPercent(m.result.cpu.fraction)),
        },
        {
          rawServer: raw.name,
          loadgenCpu: Math.max(...all.map((m) => m.result.cpu.fraction)),
          ...(tw === undefined
            ? 'missing' in twisted
              ? { twisted: { missing: twisted.missing } }
              : {}
            : {
                twisted: {
                  server: 'twisted_spread',
                  value: tw.result.jain,
                  ratio: x.result.jain / tw.result.jain,
                },
              }),
          note: `target: rxnet's index ≥ ${FAIRNESS_TARGET} (${x.result.jain >= FAIRNESS_TARGET ? 'met' : 'NOT met'})`,
        },
      ),
    );
    await stopAll(ctx, running([raw, rxnet, twisted]));
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

async function idleMemoryWorkload(ctx: Context): Promise<void> {
  // Each process holds one descriptor per connection, and the limit cannot be raised without
  // CAP_SYS_RESOURCE here, so stay a little under it rather than fail.
  const connections = Math.min(ctx.settings.idleConnections, openFileLimit() - 500);
  await idleMemoryCase(
    ctx,
    `${connections} idle echo connections`,
    connections,
    { raw: 'raw-echo', rxnet: 'rxnet-echo' },
    false,
    MEMORY_TARGET,
  );
  await idleMemoryCase(
    ctx,
    `${connections} idle Spread connections, each with a partial line`,
    connections,
    { raw: 'raw-spread', rxnet: 'rxnet-spread' },
    true,
    PARTIAL_LINE_MEMORY_TARGET,
  );
}

/** Issue 12: at most 4 KB per idle connection with a partial line buffered. */
const PARTIAL_LINE_MEMORY_TARGET: Target = { op: '<=', value: 4000, absolute: true };

/**
 * Idle memory per connection for one pair of servers: echo connections that each had a byte
 * echoed, or (`partialLine`) line-framed Spread connections that each sent a byte without a
 * newline, which the server holds as the start of a line.
 */
async function idleMemoryCase(
  ctx: Context,
  label: string,
  connections: number,
  names: { readonly raw: string; readonly rxnet: string },
  partialLine: boolean,
  target: Target,
): Promise<void> {
  const figures: Partial<
    Record<'raw' | 'rxnet', { rss: number; heap: number; external: number; seconds: number }>
  > = {};
  for (const impl of ['raw', 'rxnet'] as const) {
    const stepLabel = `idleMemory ${label} · ${impl}`;
    ctx.progress.step(stepLabel);
    const server = await launch(ctx, names[impl]);
    // The marginal cost of the second half of the connections: the first half absorbs the
    // one-off growth of a young process (code, pools, heap spaces that GC does not hand back).
    const half = Math.floor(connections / 2);
    await ctx.loadgen.run<IdleOpenResult>({
      kind: 'idleOpen',
      port: server.port,
      connections: half,
      partialLine,
    });
    const before = await server.memory();
    const opened = await ctx.loadgen.run<IdleOpenResult>({
      kind: 'idleOpen',
      port: server.port,
      connections: half,
      partialLine,
    });
    const after = await server.memory();
    await ctx.loadgen.run({ kind: 'idleClose' });
    await stopAll(ctx, [server]);
    const perConnection = {
      rss: (after.rss - before.rss) / opened.opened,
      heap: (after.heapUsed - before.heapUsed) / opened.opened,
      external: (after.external - before.external) / opened.opened,
      seconds: opened.seconds,
    };
    figures[impl] = perConnection;
    ctx.measurements.push({
      workload: 'idleMemory',
      case: label,
      round: 0,
      impl,
      server: names[impl],
      serverCpu: Number.NaN,
      result: opened,
    });
    ctx.progress.finish(
      stepLabel,
      `${human(perConnection.rss)} B RSS and ${human(perConnection.heap)} B heap per connection`,
      4,
    );
  }
  const raw = figures.raw!;
  const rxnet = figures.rxnet!;
  // rxnet's RSS delta is not comparable: its process committed a larger heap at startup
  // (compiling rxjs and rxnet), and new connections fill those pages without raising RSS, so its
  // RSS per connection comes out below its live heap per connection. Both servers use the same
  // net.Socket and libuv handle, so the native part is the same: the estimate is raw's measured
  // RSS per connection plus the extra live heap rxnet holds per connection.
  const estimate = (f: typeof raw): number =>
    raw.rss + (f.heap + f.external - raw.heap - raw.external);
  ctx.comparisons.push(
    compare(
      'idleMemory',
      label,
      'B/conn (est.)',
      estimate(raw),
      estimate(rxnet),
      target,
      {
        'RSS B/conn': [raw.rss, rxnet.rss],
        'heap B/conn': [raw.heap, rxnet.heap],
        'external B/conn': [raw.external, rxnet.external],
        's to open the second half': [raw.seconds, rxnet.seconds],
      },
      { rawServer: names.raw },
    ),
  );
}

/** What bench/framing.bench.ts's `run()` is expected to resolve to: one entry per codec case. */
interface FramingCase {
  readonly name: string;
  readonly raw: number;
  readonly rxnet: number;
  readonly unit?: string;
  /** The median over rounds of rxnet's run over the hand-written run beside it. */
  readonly pairedRatio?: number;
}

function isFramingCases(value: unknown): value is FramingCase[] {
  return (
    Array.isArray(value) &&
    value.every(
      (v: unknown) =>
        typeof v === 'object' &&
        v !== null &&
        'name' in v &&
        'raw' in v &&
        'rxnet' in v &&
        typeof v.raw === 'number' &&
        typeof v.rxnet === 'number',
    )
  );
}

async function framingWorkload(ctx: Context): Promise<unknown> {
  const file = join(BENCH_DIR, 'framing.bench.ts');
  if (!existsSync(file)) {
    ctx.progress.note('framing: bench/framing.bench.ts is not there yet; skipped');
    return { skipped: 'bench/framing.bench.ts missing' };
  }
  ctx.progress.step('framing decode throughput');
  const mod = (await import(file)) as { run?: (options?: { quick?: boolean }) => unknown };
  if (typeof mod.run !== 'function') {
    ctx.progress.note('framing: bench/framing.bench.ts exports no run(); skipped');
    return { skipped: 'no run() export' };
  }
  const result: unknown = await mod.run({ quick: ctx.options.quick });
  const cases = isFramingCases(result) ? result : undefined;
  for (const c of cases ?? []) {
    ctx.comparisons.push(
      compare(
        'framing',
        c.name,
        c.unit ?? 'MB/s',
        c.raw,
        c.rxnet,
        FRAMING_TARGET,
        {},
        typeof c.pairedRatio === 'number'
          ? { note: `median paired ratio ${c.pairedRatio.toFixed(2)}` }
          : {},
      ),
    );
  }
  ctx.progress.finish(
    'framing decode throughput',
    cases === undefined
      ? 'done (result shape not recognised; kept in JSON only)'
      : `${cases.length} cases`,
    10,
  );
  return result;
}

function gitCommit(): string {
  try {
    return execSync('git rev-parse --short HEAD', { cwd: REPO_DIR, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const DOCS_BEGIN = '<!-- bench:results:begin (written by `npm run bench -- --docs`) -->';
const DOCS_END = '<!-- bench:results:end -->';

function writeDocs(markdown: string, svg: string): void {
  const docs = join(REPO_DIR, 'docs', 'benchmarks.md');
  writeFileSync(join(REPO_DIR, 'docs', 'bench-chart.svg'), svg);
  const current = existsSync(docs)
    ? readFileSync(docs, 'utf8')
    : `# Benchmarks\n\n${DOCS_BEGIN}\n${DOCS_END}\n`;
  const begin = current.indexOf(DOCS_BEGIN);
  const end = current.indexOf(DOCS_END);
  const section = `${DOCS_BEGIN}\n\n${markdown.replace('](chart.svg)', '](bench-chart.svg)')}\n\n${DOCS_END}`;
  const next =
    begin === -1 || end === -1
      ? `${current.trimEnd()}\n\n${section}\n`
      : `${current.slice(0, begin)}${section}${current.slice(end + DOCS_END.length)}`;
  writeFileSync(docs, next);
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const settings = options.quick ? QUICK : FULL;
  const rounds = options.rounds ?? settings.rounds;
  const twisted = twistedVersion();
  const withTwisted = 'missing' in twisted ? 0 : 1;
  const echoSteps =
    (echoCases(settings).length * (2 + withTwisted) +
      (SERVE_ECHO_CASES.length + APP_HEAP_CASES.length) * 2) *
    rounds;
  const casePlan: Record<Workload, [steps: number, seconds: number]> = {
    echo: [echoSteps, echoSteps * ((settings.warmupMs + settings.durationMs) / 1000 + 0.3)],
    connectionRate: [
      (2 + withTwisted) * rounds,
      (2 + withTwisted) * rounds * ((settings.warmupMs + settings.durationMs) / 1000 + 0.5),
    ],
    fanOut: [
      settings.fanOut.length * (3 + withTwisted) * rounds,
      settings.fanOut.length * (3 + withTwisted) * rounds * fanOutStepSeconds(settings),
    ],
    lockstep: [
      settings.lockstep.length * (3 + withTwisted) * rounds,
      settings.lockstep.length *
        (3 + withTwisted) *
        rounds *
        ((settings.warmupMs + settings.durationMs) / 1000 + 0.5),
    ],
    trickle: [2 + withTwisted, (2 + withTwisted) * trickleStepSeconds(settings)],
    fairness: [2 * (2 + withTwisted), 2 * (2 + withTwisted) * fairnessStepSeconds(settings)],
    idleMemory: [4, 16],
    framing: [1, 10],
  };
  const selected = WORKLOADS.filter((w) => options.only.has(w));
  const progress = new Progress(
    selected.reduce((n, w) => n + casePlan[w][0], 0),
    selected.reduce((n, w) => n + casePlan[w][1], 0),
  );
  const startedAt = new Date();
  const loadAtStart = loadavg();
  const pin = pinning();
  const loadgenCpu = 'loadgen' in pin ? pin.loadgen : undefined;
  // The C generator unless asked otherwise or it cannot be built; the report says which ran.
  const built = options.loadgen === 'c' ? buildCLoadGenerator() : { missing: '--loadgen=node' };
  const loadgen =
    'binary' in built
      ? startCLoadGenerator(built.binary, loadgenCpu)
      : startLoadGenerator(loadgenCpu);
  const loadgenText =
    'binary' in built
      ? 'load generator bench/loadgen.c (gcc -O2, one epoll thread)'
      : `load generator bench/loadgen.ts (Node; the C one was not used: ${built.missing})`;
  progress.note('compiling the package and the servers (tsc)');
  const compiledDir = compileServers();
  const pinText =
    'server' in pin
      ? `server pinned to CPU ${pin.server}, load generator to CPU ${pin.loadgen} (taskset)`
      : `not pinned (${pin.unpinned})`;
  const ctx: Context = {
    settings,
    options: { ...options, rounds },
    loadgen,
    progress,
    comparisons: [],
    measurements: [],
    servers: new Set(),
    timeLimitSeconds: options.quick ? 600 : 3600,
    twisted,
    pin,
    compiledDir,
  };
  function onInterrupt(): void {
    for (const server of ctx.servers) process.kill(server.pid, 'SIGTERM');
    process.kill(loadgen.pid, 'SIGTERM');
    process.exit(130);
  }
  process.on('SIGINT', onInterrupt);
  const started = performance.now();
  progress.note(
    `rxnet benchmarks${options.quick ? ' (quick)' : ''}: ${selected.join(', ')}; ${loadgenText}, pid ${loadgen.pid}; ${pinText}; ${'version' in twisted ? `Twisted ${twisted.version}` : `${twisted.missing}: no Twisted column`}`,
  );
  let framing: unknown;
  try {
    for (const workload of selected) {
      if (workload === 'echo') await echoWorkload(ctx);
      else if (workload === 'connectionRate') await connectionRateWorkload(ctx);
      else if (workload === 'fanOut') await fanOutWorkload(ctx);
      else if (workload === 'lockstep') await lockstepWorkload(ctx);
      else if (workload === 'trickle') await trickleWorkload(ctx);
      else if (workload === 'fairness') await fairnessWorkload(ctx);
      else if (workload === 'idleMemory') await idleMemoryWorkload(ctx);
      else framing = await framingWorkload(ctx);
    }
  } finally {
    await stopAll(ctx, [...ctx.servers]);
    await loadgen.stop();
    process.off('SIGINT', onInterrupt);
  }
  const totalSeconds = (performance.now() - started) / 1000;
  const meta = {
    date: startedAt.toISOString(),
    commit: gitCommit(),
    node: process.version,
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: loadavg(),
    quick: options.quick,
    twisted,
    loadgen: loadgenText,
    pinning: pinText,
    runtime: SERVER_RUNTIME,
    servers: SERVER_DESCRIPTIONS,
    settings,
    rounds,
    totalSeconds,
  };
  const resultsDir = join(BENCH_DIR, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    join(resultsDir, 'latest.json'),
    `${JSON.stringify({ meta, comparisons: ctx.comparisons, measurements: ctx.measurements, framing }, null, 2)}\n`,
  );
  const title = `rxnet vs raw net — ${meta.date.slice(0, 16).replace('T', ' ')} UTC, ${meta.commit}${options.quick ? ' (quick)' : ''}`;
  const svg = svgChart(ctx.comparisons, title);
  writeFileSync(join(resultsDir, 'chart.svg'), svg);
  const { met, total } = targetsMet(ctx.comparisons);
  const legend = baselineLegend(ctx.comparisons, SERVER_DESCRIPTIONS);
  const markdown = [
    '## Results',
    `Run of ${meta.date} on commit \`${meta.commit}\`: Node ${meta.node}, ${'version' in twisted ? `Twisted ${twisted.version}, ` : ''}${meta.cpu}, ${meta.memoryGiB} GiB; load average ${loadAtStart.map((l) => l.toFixed(2)).join(' / ')} at the start and ${meta.loadAverageAtEnd.map((l) => l.toFixed(2)).join(' / ')} at the end; ${options.quick ? 'quick run, ' : ''}${settings.warmupMs} ms warm-up and ${settings.durationMs} ms measured per case, best of ${rounds} round${rounds > 1 ? 's' : ''}; ${totalSeconds.toFixed(0)} s in all; ${loadgenText}; ${pinText}; ${SERVER_RUNTIME}. ${met} of ${total} targets met.`,
    '![rxnet / raw ratios](chart.svg)',
    `rxnet ÷ raw at a glance (█ = 0.1×, │ marks 1.0×; ✅ met, ❌ missed, · no target):\n\n\`\`\`text\n${unicodeChart(ctx.comparisons)}\n\`\`\``,
    '### Baselines',
    legend.map((l) => `- ${l}`).join('\n'),
    '### Summary',
    markdownSummary(ctx.comparisons),
    '### Details',
    markdownDetails(ctx.comparisons),
  ].join('\n\n');
  writeFileSync(join(resultsDir, 'latest.md'), `# rxnet benchmarks\n\n${markdown}\n`);
  if (options.docs) writeDocs(markdown, svg);
  process.stdout.write(
    `${textTable(ctx.comparisons)}\n\n${legend.join('\n')}\n\n${met}/${total} targets met in ${totalSeconds.toFixed(0)} s; bench/results/latest.json, latest.md and chart.svg written${options.docs ? ', docs/benchmarks.md updated' : ''}.\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});

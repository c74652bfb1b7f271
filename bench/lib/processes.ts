/**
 * The runner's handles on its child processes: benchmark servers (spawned, reporting on stdout)
 * and the load generator (forked, talking over IPC). Every child is started with a time limit and
 * stopped by its own pid, so a crashed runner leaves nothing behind for long.
 *
 * @packageDocumentation
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ServerReport } from '../servers/harness';
import type { Job, JobReply, JobResult } from './protocol';

export const BENCH_DIR = join(__dirname, '..');
export const REPO_DIR = join(BENCH_DIR, '..');
/** ts-node with the repo's tsconfig (transpile-only, `rxnet` mapped to src). */
const TS_NODE = ['-r', 'ts-node/register'];
const STARTUP_TIMEOUT_MS = 30_000;
/**
 * The Python that has Debian's python3-twisted (what .ci/run installs and the interop tests use),
 * not whatever `python3` a version manager puts first on the PATH; `BENCH_PYTHON` overrides it.
 */
export const PYTHON = process.env['BENCH_PYTHON'] ?? '/usr/bin/python3';

/**
 * Twisted's version as {@link PYTHON} imports it, or why it cannot: the Twisted servers are an
 * optional baseline, so a machine without Twisted gets a report that says so rather than a failure.
 */
export function twistedVersion(): { readonly version: string } | { readonly missing: string } {
  try {
    const version = execFileSync(PYTHON, ['-c', 'import twisted; print(twisted.__version__)'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 10_000,
    }).trim();
    return { version };
  } catch (error: unknown) {
    const stderr = (error as { stderr?: unknown }).stderr;
    const lastLine =
      typeof stderr === 'string' ? stderr.trim().split('\n').pop() : (error as Error).message;
    return { missing: `Twisted not available to ${PYTHON} (${lastLine ?? 'unknown error'})` };
  }
}

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

/** A running benchmark server. */
export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  /** CPU seconds (user + system) the server has used so far, from /proc. */
  cpuSeconds(): number;
  /** Asks the server to collect garbage and report its memory. */
  memory(): Promise<Extract<ServerReport, { event: 'memory' }>>;
  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Options for {@link startServer}. */
export interface StartServerOptions {
  readonly timeLimitSeconds: number;
  /** Directory for `--cpu-prof` output; no profiling when absent. */
  readonly cpuProfileDir?: string;
  /** The CPU to pin the server to (`taskset -c`); not pinned when absent. */
  readonly cpu?: number;
  /**
   * The directory of the servers compiled by {@link compileServers}: run as plain JavaScript on
   * the built package, as a user deploys. When absent they run under ts-node, as the smoke tests
   * do, which keeps TypeScript and every transpiled module in the server's heap.
   */
  readonly compiledDir?: string;
  /** Megabytes of live objects a Node server holds, as an application would (`--app-heap-mb`); none when absent. */
  readonly appHeapMb?: number;
}

/** Where {@link compileServers} writes the servers' JavaScript (git-ignored). */
export const COMPILED_SERVERS_DIR = join(BENCH_DIR, 'results', 'js');

/**
 * Builds the package (`dist`, as `npm run build` does) and compiles `bench/servers/*.ts` against
 * it into {@link COMPILED_SERVERS_DIR}: their `import 'rxnet'` then resolves to `dist` through the
 * package's own name (Node's self-reference), so a benchmarked server runs the code a user runs,
 * without ts-node. Under ts-node the TypeScript compiler and the transpiled sources of every module
 * stay in the server's heap, several megabytes that each major garbage collection walks, and more
 * of them for the server that loads more code (measured: a 4 KiB echo under ts-node spent a quarter
 * of rxnet's busy time collecting garbage, with a mark-compact every 260 ms; compiled, none).
 */
export function compileServers(): string {
  const tsc = require.resolve('typescript/bin/tsc');
  const run = (project: string): void => {
    execFileSync(process.execPath, [tsc, '-p', project], { cwd: REPO_DIR, stdio: 'inherit' });
  };
  run('tsconfig.build.json');
  run(join('bench', 'tsconfig.servers.json'));
  return COMPILED_SERVERS_DIR;
}

/**
 * Where the server and the load generator run when they are pinned: the issue's setup, the
 * server on one core and the generator on the other, so neither takes the other's CPU.
 */
export interface Pinning {
  readonly server: number;
  readonly loadgen: number;
}

/**
 * The CPUs to pin to, or why the run is not pinned: pinning needs `taskset` and two CPUs this
 * process may use. `BENCH_PIN=0` turns it off (on a machine shared with other work, a pinned
 * process cannot move away from a busy core).
 */
export function pinning(): Pinning | { readonly unpinned: string } {
  if (process.env['BENCH_PIN'] === '0') return { unpinned: 'BENCH_PIN=0' };
  try {
    const allowed = execFileSync('taskset', ['-cp', String(process.pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const cpus = parseCpuList(allowed.slice(allowed.lastIndexOf(':') + 1).trim());
    if (cpus.length < 2) return { unpinned: `only CPU ${cpus.join(',')} available` };
    return { server: cpus[0]!, loadgen: cpus[1]! };
  } catch {
    return { unpinned: 'no taskset' };
  }
}

/** `0-2,5` → [0, 1, 2, 5]. */
function parseCpuList(list: string): number[] {
  return list.split(',').flatMap((part) => {
    const [from, to] = part.split('-').map(Number);
    if (from === undefined || !Number.isInteger(from)) return [];
    const last = to === undefined ? from : to;
    return Array.from({ length: last - from + 1 }, (_, i) => from + i);
  });
}

/** `[command, args]` run under `taskset -c cpu` when `cpu` is given (taskset execs it: same pid). */
function pinned(cpu: number | undefined, command: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [command, args] : ['taskset', ['-c', String(cpu), command, ...args]];
}

/**
 * The command that runs a server: Node with its compiled `<name>.js` or with ts-node for `<name>.ts`,
 * {@link PYTHON} for `<name>.py`.
 */
function serverCommand(name: string, options: StartServerOptions): [string, string[]] {
  const serverArgs = [
    'tcp:0:interface=127.0.0.1:backlog=1024',
    `--time-limit=${options.timeLimitSeconds}`,
  ];
  const python = join(BENCH_DIR, 'servers', `${name}.py`);
  // -u: the listening line must not wait in a pipe buffer; -B: no __pycache__ in bench/servers.
  if (existsSync(python)) return [PYTHON, ['-u', '-B', python, ...serverArgs]];
  const compiled = options.compiledDir;
  const nodeArgs = compiled === undefined ? ['--expose-gc', ...TS_NODE] : ['--expose-gc'];
  if (options.cpuProfileDir !== undefined) {
    nodeArgs.unshift(
      '--cpu-prof',
      `--cpu-prof-dir=${options.cpuProfileDir}`,
      `--cpu-prof-name=${name}.${Date.now()}.cpuprofile`,
    );
  }
  const script =
    compiled === undefined
      ? join(BENCH_DIR, 'servers', `${name}.ts`)
      : join(compiled, `${name}.js`);
  const appHeap = options.appHeapMb === undefined ? [] : [`--app-heap-mb=${options.appHeapMb}`];
  return [process.execPath, [...nodeArgs, script, ...serverArgs, ...appHeap]];
}

/**
 * Starts `bench/servers/<name>.ts` (or `<name>.py`, a Twisted server, which is never profiled) on
 * an ephemeral loopback port and waits until it listens.
 */
export function startServer(name: string, options: StartServerOptions): Promise<ServerProcess> {
  const [command, args] = pinned(options.cpu, ...serverCommand(name, options));
  const child = spawn(command, args, { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const memoryWaiters: ((report: Extract<ServerReport, { event: 'memory' }>) => void)[] = [];
  return new Promise<ServerProcess>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not report listening within ${STARTUP_TIMEOUT_MS} ms`));
    }, STARTUP_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before listening`));
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${name} could not be started: ${error.message}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: ServerReport;
      try {
        parsed = JSON.parse(line) as ServerReport;
      } catch {
        process.stderr.write(`[${name}] ${line}\n`);
        return;
      }
      if (parsed.event === 'memory') memoryWaiters.shift()?.(parsed);
      else if (parsed.event === 'listening') {
        clearTimeout(timer);
        const pid = child.pid!;
        resolve({
          name,
          pid,
          port: parsed.port,
          cpuSeconds: () => readCpuSeconds(pid),
          memory: () =>
            new Promise((resolveMemory) => {
              memoryWaiters.push(resolveMemory);
              child.kill('SIGUSR2');
            }),
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            await exited;
          },
        });
      }
    });
  });
}

function readCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** The load generator process, running one job at a time. */
export interface LoadGenerator {
  readonly pid: number;
  /** Runs a job; `onPhase` is called when its measured window opens and closes. */
  run<R extends JobResult>(
    job: Job,
    onPhase?: (phase: 'measureStart' | 'measureEnd') => void,
  ): Promise<R>;
  stop(): Promise<void>;
}

/** Where the runner compiles bench/loadgen.c (bench/results/ is git-ignored). */
export const C_LOADGEN_BINARY = join(BENCH_DIR, 'results', 'bin', 'loadgen');

/**
 * Compiles bench/loadgen.c with `gcc -O2` unless the binary is newer than the source, and returns
 * its path, or why there is none (no compiler, a compile error): the runner then falls back to
 * the Node generator and the report says so.
 */
export function buildCLoadGenerator(): { readonly binary: string } | { readonly missing: string } {
  const source = join(BENCH_DIR, 'loadgen.c');
  try {
    if (
      existsSync(C_LOADGEN_BINARY) &&
      statSync(C_LOADGEN_BINARY).mtimeMs >= statSync(source).mtimeMs
    )
      return { binary: C_LOADGEN_BINARY };
    mkdirSync(join(BENCH_DIR, 'results', 'bin'), { recursive: true });
    const cc = process.env['CC'] ?? 'gcc';
    execFileSync(cc, ['-O2', '-Wall', '-o', C_LOADGEN_BINARY, source, '-lm'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 60_000,
    });
    return { binary: C_LOADGEN_BINARY };
  } catch (error: unknown) {
    const stderr = (error as { stderr?: unknown }).stderr;
    const detail =
      stderr instanceof Buffer && stderr.length > 0
        ? stderr.toString('utf8').trim().split('\n')[0]
        : (error as Error).message;
    return { missing: `bench/loadgen.c not compiled (${detail ?? 'unknown error'})` };
  }
}

/**
 * A load generator's `run`: numbers each job, hands it to `send`, and settles with its result,
 * passing its phases to `onPhase` on the way. `listen` subscribes to the generator's replies
 * (however they travel) and returns how to unsubscribe. The generator exiting first rejects.
 */
function jobRunner(
  child: ChildProcess,
  listen: (onReply: (reply: JobReply) => void) => () => void,
  send: (id: number, job: Job) => void,
): LoadGenerator['run'] {
  let nextId = 1;
  return <R extends JobResult>(
    job: Job,
    onPhase?: (phase: 'measureStart' | 'measureEnd') => void,
  ): Promise<R> => {
    const id = nextId;
    nextId += 1;
    return new Promise<R>((resolve, reject) => {
      function onReply(reply: JobReply): void {
        if (reply.id !== id) return;
        if ('phase' in reply) {
          onPhase?.(reply.phase);
          return;
        }
        unlisten();
        child.off('exit', onExit);
        if ('error' in reply) reject(new Error(`load generator: ${reply.error}`));
        else resolve(reply.result as R);
      }
      function onExit(code: number | null): void {
        unlisten();
        reject(new Error(`load generator exited with code ${code} during a ${job.kind} job`));
      }
      const unlisten = listen(onReply);
      child.once('exit', onExit);
      send(id, job);
    });
  };
}

/**
 * The load generator in C (bench/loadgen.c, built by {@link buildCLoadGenerator}): the same jobs
 * and results as the Node one, a job as one line of `key=value` pairs on its stdin, the phases
 * and the result as JSON lines on its stdout.
 */
export function startCLoadGenerator(binary: string, cpu?: number): LoadGenerator {
  const [command, args] = pinned(cpu, binary, []);
  const child = spawn(command, args, { cwd: REPO_DIR, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const listeners = new Set<(reply: JobReply) => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let reply: JobReply;
    try {
      reply = JSON.parse(line) as JobReply;
    } catch {
      process.stderr.write(`[loadgen.c] ${line}\n`);
      return;
    }
    for (const listener of listeners) listener(reply);
  });
  return {
    pid: child.pid!,
    run: jobRunner(
      child,
      (onReply) => {
        listeners.add(onReply);
        return () => listeners.delete(onReply);
      },
      (id, job) => {
        const fields = Object.entries({ id, ...job }).map(([key, value]) => `${key}=${value}`);
        child.stdin!.write(`${fields.join(' ')}\n`);
      },
    ),
    stop: async () => {
      child.stdin!.end();
      await exited;
    },
  };
}

/** The load generator in Node (bench/loadgen.ts), forked and driven over IPC. */
export function startLoadGenerator(cpu?: number): LoadGenerator {
  const child: ChildProcess =
    cpu === undefined
      ? fork(join(BENCH_DIR, 'loadgen.ts'), [], {
          cwd: REPO_DIR,
          execArgv: TS_NODE,
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        })
      : spawn(
          'taskset',
          ['-c', String(cpu), process.execPath, ...TS_NODE, join(BENCH_DIR, 'loadgen.ts')],
          { cwd: REPO_DIR, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
        );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!,
    run: jobRunner(
      child,
      (onReply) => {
        child.on('message', onReply);
        return () => child.off('message', onReply);
      },
      (id, job) => child.send({ id, job }),
    ),
    stop: async () => {
      if (child.connected) child.disconnect();
      await exited;
    },
  };
}

/** The soft limit on open files, which bounds how many idle connections one process can hold. */
export function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3] ?? Number.NaN);
}

/**
 * `npm run bench:gateway`: the IoT gateway under the load of issue 15. RELAYERS relayer
 * connections log in and send heartbeats while APPS apps issue ControlDevice requests, each
 * forwarded by the gateway to the device's relayer, which answers (the lean peers of
 * bench/iot-clients.ts); the gateway runs in a process of its own (bench/iot-server.ts).
 *
 * Reported: control round trips per second (app → gateway → relayer → gateway → app), their p50
 * and p99, heartbeats answered per second, the gateway's CPU over the window (from /proc), and the memory each relayer connection costs the
 * gateway: the RSS and the live heap (after a forced collection) with every relayer logged in,
 * minus the same before the first relayer connected, divided by the number of relayers. The
 * accounts, homes and bindings are made before the first measure, so the delta is the
 * connections' and their sessions', not the store's.
 *
 * Not part of `npm test` (test/examples/iot/load.test.ts runs it small). Flags: `--quick`
 * (1 000 relayers, 5 s), `--relayers=N`, `--apps=N`, `--seconds=N`, `--heartbeat=SECONDS`,
 * `--concurrency=N` (controls in flight per app).
 *
 * @packageDocumentation
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Cmd } from '../examples/iot/sbmp';
import { app, bindHome, inBatches, relayer, type SbmpPeer } from './iot-clients';
import { Histogram } from './lib/histogram';
import type { ServerReport } from './servers/harness';

/** What one run is asked to do. */
export interface GatewayBenchConfig {
  readonly relayers: number;
  readonly apps: number;
  /** The measured window, after a warm-up of a fifth of it (at least 1 s). */
  readonly seconds: number;
  /** Each relayer's heartbeat interval (the example relayer's default is 60 s). */
  readonly heartbeatSeconds: number;
  /** Controls each app keeps in flight. */
  readonly concurrency: number;
  /** Where progress lines go. */
  readonly log?: (line: string) => void;
}

/** What one run measured. */
export interface GatewayBenchResult {
  readonly config: Omit<GatewayBenchConfig, 'log'>;
  readonly controls: number;
  readonly controlsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Controls answered with a status other than 0 (each a failure of the run's premise). */
  readonly failedControls: number;
  readonly heartbeatsPerSecond: number;
  /** Relayer connections the gateway closed during the run. */
  readonly relayersLost: number;
  readonly rssPerRelayerBytes: number;
  readonly heapPerRelayerBytes: number;
  readonly rssBytes: number;
  /** The gateway's CPU time over the measured window, as a share of one core (1 = 100 %). */
  readonly gatewayCpu: number;
}

/** A gateway process: its port, its memory probe and its stop. */
interface GatewayProcess {
  readonly port: number;
  /** CPU seconds (user + system) the gateway has used so far, from /proc. */
  cpuSeconds(): number;
  memory(): Promise<Extract<ServerReport, { event: 'memory' }>>;
  stop(): Promise<void>;
}

const REPO_DIR = join(__dirname, '..');

/**
 * Starts bench/iot-server.ts in its own process, its descriptor limit raised to the hard limit
 * (each relayer is one descriptor in the gateway), and resolves once it listens.
 */
export function startGatewayProcess(
  maxConnections: number,
  timeLimitSeconds = 600,
): Promise<GatewayProcess> {
  const node = [
    process.execPath,
    '--expose-gc',
    '-r',
    'ts-node/register',
    join(REPO_DIR, 'bench', 'iot-server.ts'),
    'tcp:0:interface=127.0.0.1:backlog=4096',
    `--time-limit=${timeLimitSeconds}`,
    `--max-connections=${maxConnections}`,
  ];
  const quoted = node.map((arg) => `'${arg.replace(/'/g, "'\\''")}'`).join(' ');
  const child = spawn('bash', ['-c', `ulimit -n "$(ulimit -Hn)" && exec ${quoted}`], {
    cwd: REPO_DIR,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const memoryWaiters: ((report: Extract<ServerReport, { event: 'memory' }>) => void)[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the gateway did not listen within 60 s'));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited with code ${code} before listening`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: ServerReport;
      try {
        parsed = JSON.parse(line) as ServerReport;
      } catch {
        process.stderr.write(`[gateway] ${line}\n`);
        return;
      }
      if (parsed.event === 'memory') memoryWaiters.shift()?.(parsed);
      else {
        clearTimeout(timer);
        const pid = child.pid!;
        resolve({
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

/** Runs the workload once against a fresh gateway process. */
export async function runGatewayBench(config: GatewayBenchConfig): Promise<GatewayBenchResult> {
  const log = config.log ?? (() => undefined);
  const gateway = await startGatewayProcess(config.relayers + config.apps + 100);
  const peers: SbmpPeer[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    const { port } = gateway;
    const run = `${process.pid}-${Date.now()}`;
    const sbCode = (index: number): string => `bench-${run}-r${index}`;
    const devCode = (index: number): string => `bench-${run}-d${index}`;

    log(`${config.apps} apps register and bind ${config.relayers} homes`);
    const apps = await Promise.all(
      Array.from({ length: config.apps }, (_, index) => app(port, `bench-${run}-u${index}`, true)),
    );
    for (const { peer } of apps) peers.push(peer);
    const owned: number[][] = apps.map(() => []);
    await inBatches(apps, apps.length, async ({ peer }, appIndex) => {
      for (let index = appIndex; index < config.relayers; index += config.apps) {
        await bindHome(peer, sbCode(index), devCode(index));
        owned[appIndex]!.push(index);
      }
    });

    const before = await gateway.memory();
    log(`${config.relayers} relayers connect and log in`);
    const relayers: SbmpPeer[] = [];
    let relayersLost = 0;
    let stopping = false;
    await inBatches(
      Array.from({ length: config.relayers }, (_, index) => index),
      200,
      async (index) => {
        const peer = await relayer(port, sbCode(index));
        relayers.push(peer);
        peers.push(peer);
        void peer.closed.then(() => {
          if (!stopping) relayersLost += 1;
        });
      },
    );
    const after = await gateway.memory();

    let heartbeats = 0;
    const heartbeatMs = config.heartbeatSeconds * 1000;
    for (const peer of relayers) {
      // Spread over the interval, as boxes switched on at different times would be.
      const first = setTimeout(() => {
        const beat = (): void => {
          peer.request(Cmd.HeartBeat).then(
            (reply) => {
              if (reply.status === 0) heartbeats += 1;
            },
            () => undefined,
          );
        };
        beat();
        timers.push(setInterval(beat, heartbeatMs));
      }, Math.random() * heartbeatMs);
      timers.push(first);
    }

    const histogram = new Histogram();
    let controls = 0;
    let failedControls = 0;
    let measuring = false;
    const warmUpMs = Math.max(1000, (config.seconds * 1000) / 5);
    const loops = apps.flatMap(({ peer }, appIndex) =>
      Array.from({ length: config.concurrency }, async () => {
        const mine = owned[appIndex]!;
        while (!stopping) {
          const index = mine[Math.floor(Math.random() * mine.length)]!;
          const sent = performance.now();
          const reply = await peer.request(Cmd.ControlDevice, {
            dev_model: 'light',
            dev_code: devCode(index),
            dev_key_seq: 0,
            value: controls % 2,
          });
          if (!measuring) continue;
          if (reply.status === 0) {
            histogram.record((performance.now() - sent) * 1000);
            controls += 1;
          } else failedControls += 1;
        }
      }),
    );

    log(`warm-up ${warmUpMs / 1000} s, then ${config.seconds} s measured`);
    await delay(warmUpMs);
    measuring = true;
    const heartbeatsAtStart = heartbeats;
    const cpuAtStart = gateway.cpuSeconds();
    const started = performance.now();
    await delay(config.seconds * 1000);
    measuring = false;
    const elapsed = (performance.now() - started) / 1000;
    const gatewayCpu = (gateway.cpuSeconds() - cpuAtStart) / elapsed;
    const heartbeatsMeasured = heartbeats - heartbeatsAtStart;
    const rssBytes = (await gateway.memory()).rss;
    stopping = true;
    await Promise.all(loops);

    return {
      config: {
        relayers: config.relayers,
        apps: config.apps,
        seconds: config.seconds,
        heartbeatSeconds: config.heartbeatSeconds,
        concurrency: config.concurrency,
      },
      controls,
      controlsPerSecond: controls / elapsed,
      p50Ms: histogram.quantile(0.5) / 1000,
      p99Ms: histogram.quantile(0.99) / 1000,
      failedControls,
      heartbeatsPerSecond: heartbeatsMeasured / elapsed,
      relayersLost,
      rssPerRelayerBytes: (after.rss - before.rss) / config.relayers,
      heapPerRelayerBytes: (after.heapUsed - before.heapUsed) / config.relayers,
      rssBytes,
      gatewayCpu,
    };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    for (const peer of peers) peer.socket.destroy();
    await gateway.stop();
  }
}

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

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

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The result as the Markdown table row of docs/benchmarks.md's "IoT gateway" section. */
export function formatResult(result: GatewayBenchResult): string {
  const { config } = result;
  const kib = (bytes: number): string => (bytes / 1024).toFixed(1);
  return [
    '| relayers | apps × in flight | heartbeat | controls/s | p50 ms | p99 ms | heartbeats/s | gateway CPU | RSS per relayer KiB | heap per relayer KiB | failed | lost |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    `| ${config.relayers} | ${config.apps} × ${config.concurrency} | ${config.heartbeatSeconds} s | ${Math.round(result.controlsPerSecond)} | ${result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} | ${Math.round(result.heartbeatsPerSecond)} | ${Math.round(result.gatewayCpu * 100)} % | ${kib(result.rssPerRelayerBytes)} | ${kib(result.heapPerRelayerBytes)} | ${result.failedControls} | ${result.relayersLost} |`,
  ].join('\n');
}

function flag(name: string, fallback: number): number {
  const text = process.argv.find((arg) => arg.startsWith(`--${name}=`))?.split('=')[1];
  return text === undefined ? fallback : Number(text);
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const config: GatewayBenchConfig = {
    relayers: flag('relayers', quick ? 1000 : 10_000),
    apps: flag('apps', 10),
    seconds: flag('seconds', quick ? 5 : 30),
    heartbeatSeconds: flag('heartbeat', 10),
    concurrency: flag('concurrency', 8),
    log: (line) => process.stderr.write(`${line}\n`),
  };
  const result = await runGatewayBench(config);
  process.stdout.write(`${formatResult(result)}\n\n${JSON.stringify(result)}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}

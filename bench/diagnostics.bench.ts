/**
 * `npm run bench:diagnostics`: what rxnet's `diagnostics_channel` events cost a server, on the
 * echo workload of `npm run bench`, three servers side by side in one run:
 *
 * - `raw`: `socket.pipe(socket)` on `node:net` (bench/servers/raw-echo.ts), the baseline;
 * - `unsubscribed`: `serve(echo())` with nobody listening to rxnet's channels
 *   (bench/servers/rxnet-serve-echo.ts): what every rxnet server pays, a `hasSubscribers` read
 *   per connection and a counter increment per frame;
 * - `subscribed`: the same server with `rxnet/metrics` subscribed to every channel and scraped
 *   once a second (bench/servers/rxnet-serve-echo-observed.ts).
 *
 * Each case runs `--rounds` times, the servers' order alternating between rounds, and each
 * server's best round is kept (as `npm run bench` does). Prints a Markdown table: messages per
 * second, the ratios, and the server's CPU time per message. Not part of `npm test`.
 *
 * Flags: `--rounds=N` (default 3), `--seconds=S` measured per round (default 3, after 1 s of
 * warm-up), `--loadgen=node` to use bench/loadgen.ts instead of the C generator.
 *
 * @packageDocumentation
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import {
  buildCLoadGenerator,
  compileServers,
  pinning,
  startCLoadGenerator,
  startLoadGenerator,
  startServer,
  type LoadGenerator,
  type ServerProcess,
} from './lib/processes';
import type { EchoJob, EchoResult } from './lib/protocol';
import { human } from './lib/report';

const SERVERS = {
  raw: 'raw-echo',
  unsubscribed: 'rxnet-serve-echo',
  subscribed: 'rxnet-serve-echo-observed',
} as const;
type Variant = keyof typeof SERVERS;
const VARIANTS = Object.keys(SERVERS) as Variant[];

/** The `serve(echo())` cases of `npm run bench`. */
const CASES: readonly Pick<EchoJob, 'connections' | 'size' | 'mode'>[] = [
  { connections: 100, size: 64, mode: 'requestResponse' },
  { connections: 100, size: 64, mode: 'pipelined' },
  { connections: 1000, size: 4096, mode: 'pipelined' },
];
const PIPELINE_DEPTH = 16;
const WARMUP_MS = 1000;

function flag(name: string): string | undefined {
  return process.argv.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
}

interface Kept {
  readonly rate: number;
  readonly serverCpu: number;
  readonly loadgenCpu: number;
  /** Server CPU time per message, in microseconds: what the server spent, whatever else ran. */
  readonly cpuUs: number;
}

async function measure(loadgen: LoadGenerator, server: ServerProcess, job: EchoJob): Promise<Kept> {
  let cpuStart = Number.NaN;
  let cpuEnd = Number.NaN;
  let wallStart = 0;
  let wallEnd = 0;
  const result = await loadgen.run<EchoResult>(job, (phase) => {
    if (phase === 'measureStart') {
      cpuStart = server.cpuSeconds();
      wallStart = performance.now();
    } else {
      cpuEnd = server.cpuSeconds();
      wallEnd = performance.now();
    }
  });
  const rate = result.messages / result.seconds;
  const serverCpu = (cpuEnd - cpuStart) / ((wallEnd - wallStart) / 1000);
  return { rate, serverCpu, loadgenCpu: result.cpu.fraction, cpuUs: (serverCpu / rate) * 1e6 };
}

function caseLabel(c: (typeof CASES)[number]): string {
  const size = c.size >= 1024 ? `${c.size / 1024} KiB` : `${c.size} B`;
  const mode = c.mode === 'pipelined' ? `pipelined ×${PIPELINE_DEPTH}` : 'req/resp';
  return `${c.connections} conn · ${size} · ${mode}`;
}

const percent = (fraction: number): string => `${Math.round(fraction * 100)} %`;
const ratio = (value: number): string => value.toFixed(2);

async function main(): Promise<void> {
  const rounds = Number(flag('rounds') ?? 3);
  const durationMs = Number(flag('seconds') ?? 3) * 1000;
  const pin = pinning();
  const built = flag('loadgen') === 'node' ? { missing: '--loadgen=node' } : buildCLoadGenerator();
  const loadgenCpu = 'loadgen' in pin ? pin.loadgen : undefined;
  const loadgen =
    'binary' in built
      ? startCLoadGenerator(built.binary, loadgenCpu)
      : startLoadGenerator(loadgenCpu);
  const servers = {} as Record<Variant, ServerProcess>;
  const compiledDir = compileServers();
  for (const variant of VARIANTS) {
    servers[variant] = await startServer(SERVERS[variant], {
      timeLimitSeconds: 3600,
      compiledDir,
      ...('server' in pin ? { cpu: pin.server } : {}),
    });
  }
  const load = loadavg()[0]!.toFixed(1);
  const rows: string[] = [];
  try {
    for (const c of CASES) {
      const kept: Partial<Record<Variant, Kept>> = {};
      /** The least server CPU per message of any round: on a busy machine, the steadier figure. */
      const leastCpu: Partial<Record<Variant, number>> = {};
      for (let round = 0; round < rounds; round += 1) {
        for (const variant of round % 2 === 0 ? VARIANTS : [...VARIANTS].reverse()) {
          const server = servers[variant];
          const measured = await measure(loadgen, server, {
            kind: 'echo',
            port: server.port,
            ...c,
            depth: PIPELINE_DEPTH,
            warmupMs: WARMUP_MS,
            durationMs,
          });
          process.stderr.write(
            `${caseLabel(c)} · ${variant} · round ${round + 1}: ${human(measured.rate)} msg/s, server CPU ${percent(measured.serverCpu)}\n`,
          );
          if (measured.rate > (kept[variant]?.rate ?? 0)) kept[variant] = measured;
          leastCpu[variant] = Math.min(leastCpu[variant] ?? Infinity, measured.cpuUs);
        }
      }
      const { raw, unsubscribed, subscribed } = kept as Record<Variant, Kept>;
      const cpu = leastCpu as Record<Variant, number>;
      rows.push(
        `| ${caseLabel(c)} | ${human(raw.rate)} | ${human(unsubscribed.rate)} | ${human(subscribed.rate)} | ${ratio(unsubscribed.rate / raw.rate)} | ${ratio(subscribed.rate / raw.rate)} | ${ratio(subscribed.rate / unsubscribed.rate)} | ${cpu.raw.toFixed(1)} / ${cpu.unsubscribed.toFixed(1)} / ${cpu.subscribed.toFixed(1)} |`,
      );
    }
  } finally {
    for (const variant of VARIANTS) await servers[variant].stop();
    await loadgen.stop();
  }
  const generator = 'binary' in built ? 'bench/loadgen.c' : 'bench/loadgen.ts';
  const pinned =
    'server' in pin ? `server on CPU ${pin.server}, generator on CPU ${pin.loadgen}` : pin.unpinned;
  process.stdout.write(
    [
      `Echo, msg/s, best of ${rounds} round(s) of ${durationMs / 1000} s, and the least server CPU per message of any round; ${generator}; ${pinned}; load average ${load} at the start.`,
      '',
      '| case | raw `net` | rxnet, unsubscribed | rxnet, subscribed | unsubscribed / raw | subscribed / raw | subscribed / unsubscribed | server CPU µs/msg: raw / unsubscribed / subscribed |',
      '| --- | --: | --: | --: | --: | --: | --: | --: |',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});

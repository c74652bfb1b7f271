import {
  buildCLoadGenerator,
  startCLoadGenerator,
  startServer,
  type LoadGenerator,
  type ServerProcess,
} from '../../bench/lib/processes';
import type {
  ConnectionRateResult,
  EchoResult,
  FairnessResult,
  FanOutResult,
  IdleCloseResult,
  IdleOpenResult,
  TrickleResult,
} from '../../bench/lib/protocol';
import { jainIndex } from '../../bench/lib/spreadJobs';

/**
 * A smoke run of the C load generator (bench/loadgen.c, compiled with gcc as `npm run bench`
 * compiles it) against the real benchmark servers: every job kind, tiny and without timing
 * assertions, so the generator and its protocol with the runner cannot rot between runs.
 */
describe('the C load generator (smoke)', () => {
  let loadgen: LoadGenerator;
  const servers: ServerProcess[] = [];

  beforeAll(() => {
    const built = buildCLoadGenerator();
    if ('missing' in built) throw new Error(built.missing);
    loadgen = startCLoadGenerator(built.binary);
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await loadgen?.stop();
  });

  const started = new Map<string, Promise<ServerProcess>>();

  /** One server of each kind for the whole file: each job closes its connections when it ends. */
  function start(name: string): Promise<ServerProcess> {
    let server = started.get(name);
    if (server === undefined) {
      server = startServer(name, { timeLimitSeconds: 120 });
      started.set(name, server);
      void server.then((s) => servers.push(s));
    }
    return server;
  }

  it.each([
    ['requestResponse', 64],
    ['pipelined', 4096],
  ] as const)(
    'echoes %s messages of %i B over several connections and reports them with latencies',
    async (mode, size) => {
      const server = await start('rxnet-echo');
      const phases: string[] = [];
      const result = await loadgen.run<EchoResult>(
        {
          kind: 'echo',
          port: server.port,
          connections: 3,
          size,
          mode,
          depth: 4,
          warmupMs: 50,
          durationMs: 200,
        },
        (phase) => phases.push(phase),
      );
      expect(phases).toEqual(['measureStart', 'measureEnd']);
      expect(result.kind).toBe('echo');
      expect(result.messages).toBeGreaterThan(0);
      expect(result.bytes).toBe(result.messages * size);
      expect(result.errors).toBe(0);
      expect(result.p99Us).toBeGreaterThanOrEqual(result.p50Us);
      expect(result.cpu.fraction).toBeGreaterThanOrEqual(0);
    },
    60_000,
  );

  it('connects, reads the greeting and closes, again and again', async () => {
    const server = await start('rxnet-greet');
    const result = await loadgen.run<ConnectionRateResult>({
      kind: 'connectionRate',
      port: server.port,
      concurrency: 4,
      warmupMs: 50,
      durationMs: 200,
    });
    expect(result.connections).toBeGreaterThan(0);
    expect(result.errors).toBe(0);
    expect(result.p50Us).toBeGreaterThan(0);
  }, 60_000);

  it('fans lines out to every receiver and verifies the counts', async () => {
    const server = await start('rxnet-spread');
    const result = await loadgen.run<FanOutResult>({
      kind: 'fanOut',
      port: server.port,
      receivers: 5,
      messages: 100,
      maxMessages: 2000,
      measureMs: 100,
      warmupMessages: 10,
      size: 64,
      batch: 16,
    });
    expect(result.verified).toBe(true);
    expect(result.messages).toBeGreaterThanOrEqual(100);
    expect(result.deliveries).toBe(5 * result.messages);
    expect(result.minReceivedBytes).toBe(result.maxReceivedBytes);
  }, 60_000);

  it('holds idle connections open, each confirmed by an echoed byte, and closes them', async () => {
    const server = await start('raw-echo');
    const first = await loadgen.run<IdleOpenResult>({
      kind: 'idleOpen',
      port: server.port,
      connections: 20,
    });
    const second = await loadgen.run<IdleOpenResult>({
      kind: 'idleOpen',
      port: server.port,
      connections: 20,
    });
    const closed = await loadgen.run<IdleCloseResult>({ kind: 'idleClose' });
    expect([first.opened, second.opened, closed.closed]).toEqual([20, 20, 40]);
  }, 60_000);

  it('holds idle connections to a line-framed server, each with a partial line', async () => {
    const server = await start('rxnet-spread');
    const opened = await loadgen.run<IdleOpenResult>({
      kind: 'idleOpen',
      port: server.port,
      connections: 10,
      partialLine: true,
    });
    const closed = await loadgen.run<IdleCloseResult>({ kind: 'idleClose' });
    expect([opened.opened, closed.closed]).toEqual([10, 10]);
  }, 60_000);

  it('trickles bytes that the Spread server relays, and times newcomers to their greeting', async () => {
    const server = await start('rxnet-spread-chunks');
    const result = await loadgen.run<TrickleResult>({
      kind: 'trickle',
      port: server.port,
      connections: 5,
      intervalMs: 100,
      probeEveryMs: 50,
      warmupMs: 100,
      durationMs: 300,
    });
    expect(result.sent).toBeGreaterThan(0);
    expect(result.received).toBeGreaterThan(0);
    // Bytes in flight at the window's edges may be missing or extra, but never a whole round more.
    expect(result.received).toBeLessThanOrEqual(result.sent * 4 + 5 * 4);
    expect(result.probes).toBeGreaterThan(0);
    expect(result.ungreeted).toBe(0);
    expect(result.errors).toBe(0);
  }, 60_000);

  it("counts each sender's lines at the others and reports Jain's index over them", async () => {
    const server = await start('rxnet-spread');
    const result = await loadgen.run<FairnessResult>({
      kind: 'fairness',
      port: server.port,
      senders: 3,
      size: 64,
      chunk: 4096,
      warmupMs: 100,
      durationMs: 300,
    });
    expect(result.perSender).toHaveLength(3);
    for (const bytes of result.perSender) expect((bytes * 2) % 64).toBe(0);
    expect(result.jain).toBeCloseTo(jainIndex(result.perSender), 10);
  }, 60_000);

  it('answers a job it does not know with an error, and goes on serving', async () => {
    await expect(
      loadgen.run({ kind: 'nonsense' } as unknown as Parameters<LoadGenerator['run']>[0]),
    ).rejects.toThrow('unknown job kind nonsense');
    const closed = await loadgen.run<IdleCloseResult>({ kind: 'idleClose' });
    expect(closed.closed).toBe(0);
  });
});

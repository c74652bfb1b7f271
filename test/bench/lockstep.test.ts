import {
  buildCLoadGenerator,
  startCLoadGenerator,
  startLoadGenerator,
  startServer,
  type LoadGenerator,
  type ServerProcess,
} from '../../bench/lib/processes';
import type { LockstepResult } from '../../bench/lib/protocol';

/**
 * A smoke run of the lockstep fan-out job (one line at a time, each sent once every receiver has
 * the one before) in both load generators, against the real Spread servers: tiny and without
 * timing assertions, so the job and its protocol with the runner cannot rot between runs.
 */
describe('the lockstep fan-out job (smoke)', () => {
  const servers = new Map<string, Promise<ServerProcess>>();
  const generators: LoadGenerator[] = [];

  function server(name: string): Promise<ServerProcess> {
    let started = servers.get(name);
    if (started === undefined) {
      started = startServer(name, { timeLimitSeconds: 120 });
      servers.set(name, started);
    }
    return started;
  }

  function generator(kind: 'c' | 'node'): LoadGenerator {
    if (kind === 'node') {
      const node = startLoadGenerator();
      generators.push(node);
      return node;
    }
    const built = buildCLoadGenerator();
    if ('missing' in built) throw new Error(built.missing);
    const c = startCLoadGenerator(built.binary);
    generators.push(c);
    return c;
  }

  afterAll(async () => {
    await Promise.all([...servers.values()].map(async (s) => (await s).stop()));
    await Promise.all(generators.map((g) => g.stop()));
  });

  it.each([
    ['c', 'rxnet-spread'],
    ['c', 'raw-spread-chunks'],
    ['node', 'rxnet-spread'],
    ['node', 'raw-spread'],
  ] as const)(
    'with the %s generator, gives every receiver of %s each line once, and times each round',
    async (kind, name) => {
      const { port } = await server(name);
      const loadgen = generator(kind);
      const phases: string[] = [];
      const result = await loadgen.run<LockstepResult>(
        { kind: 'lockstep', port, receivers: 4, size: 64, warmupMs: 20, durationMs: 100 },
        (phase) => phases.push(phase),
      );
      expect(phases).toEqual(['measureStart', 'measureEnd']);
      expect(result.kind).toBe('lockstep');
      expect(result.receivers).toBe(4);
      expect(result.rounds).toBeGreaterThan(0);
      // Every round's line, warm-up included, reached every receiver exactly once.
      expect(result.verified).toBe(true);
      expect(result.minReceivedBytes).toBe((result.rounds + result.warmupRounds) * 64);
      expect(result.maxReceivedBytes).toBe(result.minReceivedBytes);
      expect(result.p50Us).toBeGreaterThan(0);
      expect(result.p99Us).toBeGreaterThanOrEqual(result.p50Us);
    },
    60_000,
  );
});

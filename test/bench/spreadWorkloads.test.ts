import { startServer, type ServerProcess } from '../../bench/lib/processes';
import { fairness, jainIndex, trickle } from '../../bench/lib/spreadJobs';

/**
 * A smoke run of the benchmark's trickle and fairness workloads, tiny and without timing
 * assertions, so that the jobs and the servers they drive cannot rot between benchmark runs:
 * each job runs in-process against the real bench/servers programs (started as `npm run bench`
 * starts them), and its result must add up.
 */
describe('the Spread benchmark workloads (smoke)', () => {
  const servers: ServerProcess[] = [];

  async function start(name: string): Promise<ServerProcess> {
    const server = await startServer(name, { timeLimitSeconds: 120 });
    servers.push(server);
    return server;
  }

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
  });

  describe('trickle', () => {
    it.each(['raw-spread-chunks', 'rxnet-spread-chunks'])(
      'relays trickled bytes to the other clients of %s, never more than each once, and times newcomers to their greeting',
      async (name) => {
        const server = await start(name);
        const result = await trickle({
          kind: 'trickle',
          port: server.port,
          connections: 5,
          intervalMs: 100,
          probeEveryMs: 50,
          warmupMs: 100,
          durationMs: 300,
        });
        expect(result.connections).toBe(5);
        expect(result.sent).toBeGreaterThan(0);
        // Bytes still in flight when the window closes are missing; nothing arrives twice.
        expect(result.received).toBeGreaterThan(0);
        expect(result.received).toBeLessThanOrEqual(result.sent * 4 + 5 * 4);
        expect(result.probes).toBeGreaterThan(0);
        expect(result.greetMaxUs).toBeGreaterThan(0);
        expect(result.errors).toBe(0);
        await server.stop();
      },
      60_000,
    );
  });

  describe('fairness', () => {
    it.each(['raw-spread-chunks', 'rxnet-spread', 'rxnet-spread-chunks'])(
      "reports each sender's bytes into %s and Jain's index over them",
      async (name) => {
        const server = await start(name);
        const result = await fairness({
          kind: 'fairness',
          port: server.port,
          senders: 3,
          size: 64,
          chunk: 4096,
          warmupMs: 100,
          durationMs: 300,
        });
        expect(result.perSender).toHaveLength(3);
        // Whole 64-byte lines, counted at the other two clients and averaged over them.
        for (const bytes of result.perSender) {
          expect(bytes).toBeGreaterThanOrEqual(0);
          expect((bytes * 2) % 64).toBe(0);
        }
        expect(result.jain).toBeCloseTo(jainIndex(result.perSender), 10);
        expect(result.jain).toBeGreaterThanOrEqual(1 / 3 - 1e-9);
        expect(result.jain).toBeLessThanOrEqual(1 + 1e-9);
        await server.stop();
      },
      60_000,
    );
  });

  describe("Jain's index", () => {
    it('is 1 for equal shares, 1/n when one takes everything, and between for the rest', () => {
      expect(jainIndex([5, 5, 5, 5])).toBe(1);
      expect(jainIndex([8, 0, 0, 0])).toBe(0.25);
      expect(jainIndex([3, 1])).toBeCloseTo(16 / 20, 12);
    });
  });
});

/**
 * `npm run bench:gateway`, small, so the benchmark cannot rot: 50 relayers heartbeating while 2
 * apps control their devices through the gateway running in a process of its own. It checks what
 * the benchmark reports is there and sound, not how fast anything is.
 */
import { formatResult, runGatewayBench } from '../../../bench/iot.bench';

jest.setTimeout(120_000);

describe('bench/iot.bench.ts', () => {
  it('runs the gateway workload: every control answered, no relayer lost, a report row', async () => {
    const result = await runGatewayBench({
      relayers: 50,
      apps: 2,
      seconds: 1,
      heartbeatSeconds: 0.5,
      concurrency: 2,
    });

    expect(result.controls).toBeGreaterThan(0);
    expect(result.failedControls).toBe(0);
    expect(result.relayersLost).toBe(0);
    expect(result.heartbeatsPerSecond).toBeGreaterThan(0);
    expect(result.p50Ms).toBeLessThanOrEqual(result.p99Ms);
    expect(Number.isFinite(result.heapPerRelayerBytes)).toBe(true);
    expect(Number.isFinite(result.gatewayCpu)).toBe(true);
    expect(formatResult(result)).toMatch(/^\| 50 \| 2 × 2 \| 0\.5 s \| \d+ \|/m);
  });
});

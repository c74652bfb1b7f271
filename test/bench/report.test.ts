import { compare, targetsMet, unicodeChart } from '../../bench/lib/report';

/** The benchmark report's targets and its text chart, without running a benchmark. */
describe('the benchmark report', () => {
  it('judges a ratio target on rxnet ÷ raw and an absolute target on rxnet alone', () => {
    const ratio = compare('echo', 'a', 'msg/s', 100, 95, { op: '>=', value: 1 });
    const memory = compare('idleMemory', 'b', 'B/conn', 2000, 2400, {
      op: '<=',
      value: 2500,
      absolute: true,
    });
    expect([ratio.met, memory.met]).toEqual([false, true]);
    expect(memory.ratio).toBeCloseTo(1.2, 10);
    expect(targetsMet([ratio, memory])).toEqual({ met: 1, total: 2 });
  });

  it('draws one cell per 0.1×, marks 1.0×, cuts bars beyond 2× and says whether each target is met', () => {
    const chart = unicodeChart([
      compare('echo', 'half', 'msg/s', 100, 50, { op: '>=', value: 1 }),
      compare('echo', 'more', 'msg/s', 100, 150, { op: '>=', value: 1 }),
      compare('fanOut', 'far', 'deliveries/s', 1, 30, undefined),
      compare('idleMemory', 'mem', 'B/conn', 2000, 1000, { op: '<=', value: 2500, absolute: true }),
    ]).split('\n');
    expect(chart).toHaveLength(4);
    expect(chart[0]).toContain(`${'█'.repeat(5)}${' '.repeat(5)}│`);
    expect(chart[0]).toMatch(/0\.50× ❌ \(target ≥ 1\.00×\)$/);
    expect(chart[1]).toContain(`${'█'.repeat(10)}┼${'█'.repeat(4)} `);
    expect(chart[1]).toMatch(/1\.50× ✅/);
    expect(chart[2]).toMatch(/»\s+30\.00× ·$/);
    // An absolute target is drawn where it falls on the ratio axis: 2500 B ÷ raw's 2000 B.
    expect(chart[3]).toMatch(/0\.50× ✅ \(target ≤ 1\.25×\)$/);
  });
});

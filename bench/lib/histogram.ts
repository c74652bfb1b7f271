/**
 * A log-linear latency histogram: constant memory and one array increment per sample, so the load
 * generator can record every message without the recording becoming the bottleneck.
 *
 * @packageDocumentation
 */

/** Sub-buckets per power of two: a bucket is at most 1/32 (about 3 %) wide. */
const SUB_BUCKETS = 32;
/** Powers of two covered, in microseconds: 1 µs up to about 70 minutes. */
const OCTAVES = 32;

/** Latency samples in microseconds, bucketed; quantiles are accurate to about 3 %. */
export class Histogram {
  private readonly counts = new Float64Array(OCTAVES * SUB_BUCKETS);
  count = 0;

  /** Forgets every sample, so warm-up samples do not count. */
  reset(): void {
    this.counts.fill(0);
    this.count = 0;
  }

  /** Records `n` samples of `micros` microseconds (n > 1 when one chunk completes several messages). */
  record(micros: number, n = 1): void {
    const v = micros < 1 ? 1 : micros;
    const octave = Math.min(OCTAVES - 1, Math.floor(Math.log2(v)));
    const sub = Math.min(SUB_BUCKETS - 1, Math.floor((v / 2 ** octave - 1) * SUB_BUCKETS));
    this.counts[octave * SUB_BUCKETS + sub]! += n;
    this.count += n;
  }

  /** The q-quantile (0 < q ≤ 1) in microseconds, as the upper edge of its bucket; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i += 1) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const octave = Math.floor(i / SUB_BUCKETS);
        return 2 ** octave * (1 + ((i % SUB_BUCKETS) + 1) / SUB_BUCKETS);
      }
    }
    return Number.NaN;
  }
}

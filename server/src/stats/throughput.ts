/** Completed subtasks per second over the last minutes, kept in a ring of one-second buckets. */
import type { ThroughputPoint } from '@edgeswarm/shared';

export class ThroughputMeter {
  private readonly counts: Float64Array;
  private readonly seconds: Float64Array;

  constructor(private readonly windowSeconds = 300) {
    this.counts = new Float64Array(windowSeconds);
    this.seconds = new Float64Array(windowSeconds).fill(-1);
  }

  record(count: number, nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const slot = second % this.windowSeconds;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.counts[slot] = 0;
    }
    this.counts[slot] = (this.counts[slot] ?? 0) + count;
  }

  /** One point per second, oldest first, ending with the current (partial) second. */
  series(nowMs: number, seconds = this.windowSeconds): ThroughputPoint[] {
    const last = Math.floor(nowMs / 1000);
    const points: ThroughputPoint[] = [];
    for (let t = last - Math.min(seconds, this.windowSeconds) + 1; t <= last; t++) {
      const slot = t % this.windowSeconds;
      points.push({ t, n: this.seconds[slot] === t ? (this.counts[slot] ?? 0) : 0 });
    }
    return points;
  }

  /** Mean rate over the last `seconds` one-second buckets, the current (partial) one included. */
  ratePerSecond(nowMs: number, seconds = 10): number {
    const points = this.series(nowMs, seconds);
    const total = points.reduce((sum, p) => sum + p.n, 0);
    return total / points.length;
  }
}

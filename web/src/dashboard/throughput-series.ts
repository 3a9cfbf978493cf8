// Turns the feed's sparse throughput points into dense per-second series for the chart.
import type { ThroughputPoint } from '@edgeswarm/shared';

/** Seconds shown on the throughput chart. */
export const THROUGHPUT_WINDOW_S = 300;

/**
 * One value per second from `endS - windowS + 1` to `endS` inclusive, zero where the hub
 * reported nothing (a second without completions may be absent from the feed).
 */
export function throughputSeries(
  points: readonly ThroughputPoint[],
  endS: number,
  windowS = THROUGHPUT_WINDOW_S,
): [number[], number[]] {
  const startS = endS - windowS + 1;
  const xs: number[] = [];
  const ys: number[] = new Array<number>(windowS).fill(0);
  for (let i = 0; i < windowS; i++) xs.push(startS + i);
  for (const { t, n } of points) {
    const i = Math.floor(t) - startS;
    if (i >= 0 && i < windowS && Number.isFinite(n)) ys[i] = (ys[i] ?? 0) + n;
  }
  return [xs, ys];
}

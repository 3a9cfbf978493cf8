import { describe, expect, it } from 'vitest';
import { throughputSeries } from './throughput-series.ts';

describe('throughputSeries', () => {
  it('has one slot per second ending at endS, zero where the feed had nothing', () => {
    const [xs, ys] = throughputSeries([{ t: 98, n: 5 }, { t: 100, n: 7 }], 100, 5);
    expect(xs).toEqual([96, 97, 98, 99, 100]);
    expect(ys).toEqual([0, 0, 5, 0, 7]);
  });

  it('drops points outside the window', () => {
    const [, ys] = throughputSeries([{ t: 10, n: 1 }, { t: 200, n: 1 }], 100, 3);
    expect(ys).toEqual([0, 0, 0]);
  });
});

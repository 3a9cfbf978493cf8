import { describe, expect, it } from 'vitest';
import { timeModel } from '@edgeswarm/shared';
import { durationBars, timeSplit } from './time-model-bars.ts';

const timing = timeModel({
  startedAt: 0,
  finishedAt: 1000,
  now: 0,
  completed: 10,
  verified: false,
  devices: [{ deviceId: 'a', name: 'a', threads: 2, runs: 10, computeMs: 1000, extraMs: 100, messages: 20, rttSumMs: 100, rttCount: 20 }],
})!;

describe('the time model chart', () => {
  it('draws every duration on the scale of the longest', () => {
    const bars = durationBars(timing);
    expect(bars.map((b) => [b.key, b.ms])).toEqual([
      ['wall', 1000],
      ['ideal', 500],
      ['edge', 100 * 1 + 5 * 20],
      ['serverless', 100],
    ]);
    expect(bars.map((b) => b.percent)).toEqual([100, 50, 20, 10]);
    expect(bars[0]?.text).toBe('1000 ms');
  });

  it('splits device time between compute, communication and discarded runs', () => {
    const split = timeSplit(timing);
    expect(split.map((p) => [p.key, p.ms])).toEqual([
      ['compute', 1000],
      ['comm', 100],
      ['wasted', 100],
    ]);
    expect(split.reduce((s, p) => s + p.percent, 0)).toBeCloseTo(100);
  });
});

import { describe, expect, it } from 'vitest';
import { ThroughputMeter } from './throughput.ts';

const T0 = Date.UTC(2026, 0, 1); // a whole second
const at = (second: number, ms = 0): number => T0 + second * 1000 + ms;
const s0 = T0 / 1000;

describe('ThroughputMeter.record and series', () => {
  it('reads all zeros before anything is recorded', () => {
    const meter = new ThroughputMeter(5);
    expect(meter.series(at(0))).toEqual([
      { t: s0 - 4, n: 0 },
      { t: s0 - 3, n: 0 },
      { t: s0 - 2, n: 0 },
      { t: s0 - 1, n: 0 },
      { t: s0, n: 0 },
    ]);
  });

  it('adds counts recorded within the same second into one bucket', () => {
    const meter = new ThroughputMeter(5);
    meter.record(2, at(3, 0));
    meter.record(5, at(3, 999));
    expect(meter.series(at(3, 500)).at(-1)).toEqual({ t: s0 + 3, n: 7 });
  });

  it('puts a count in the second its time falls in, and the next millisecond in the next second', () => {
    const meter = new ThroughputMeter(10);
    meter.record(1, at(2, 999));
    meter.record(4, at(3, 0));
    expect(meter.series(at(4), 3)).toEqual([
      { t: s0 + 2, n: 1 },
      { t: s0 + 3, n: 4 },
      { t: s0 + 4, n: 0 },
    ]);
  });

  it('lists one point per second, oldest first, ending with the current second', () => {
    const meter = new ThroughputMeter(300);
    meter.record(3, at(0));
    meter.record(1, at(2));
    const series = meter.series(at(2, 400));
    expect(series).toHaveLength(300);
    expect(series[0]).toEqual({ t: s0 + 2 - 299, n: 0 });
    expect(series.slice(-3)).toEqual([
      { t: s0, n: 3 },
      { t: s0 + 1, n: 0 },
      { t: s0 + 2, n: 1 },
    ]);
  });

  it('gives at most windowSeconds points even when asked for more', () => {
    const meter = new ThroughputMeter(4);
    expect(meter.series(at(0), 100)).toHaveLength(4);
  });

  it('reads buckets older than the window as 0 after the ring wraps', () => {
    const meter = new ThroughputMeter(5);
    meter.record(9, at(0));
    meter.record(2, at(1));
    // Seconds 0 and 1 share slots with 5 and 6; nothing was recorded then.
    expect(meter.series(at(5))).toEqual([
      { t: s0 + 1, n: 2 },
      { t: s0 + 2, n: 0 },
      { t: s0 + 3, n: 0 },
      { t: s0 + 4, n: 0 },
      { t: s0 + 5, n: 0 },
    ]);
    expect(meter.series(at(6)).every((p) => p.n === 0)).toBe(true);
  });

  it('starts a reused slot from zero instead of adding to the old count', () => {
    const meter = new ThroughputMeter(5);
    meter.record(9, at(0));
    meter.record(4, at(5)); // same slot as second 0
    expect(meter.series(at(5)).at(-1)).toEqual({ t: s0 + 5, n: 4 });
  });

  it('does not show a count recorded a full window ago as the current second', () => {
    const meter = new ThroughputMeter(60);
    meter.record(100, at(0));
    expect(meter.series(at(60), 1)).toEqual([{ t: s0 + 60, n: 0 }]);
    expect(meter.series(at(59))[0]).toEqual({ t: s0, n: 100 });
  });
});

describe('ThroughputMeter.ratePerSecond', () => {
  it('is 0 when nothing was recorded', () => {
    expect(new ThroughputMeter().ratePerSecond(at(0))).toBe(0);
  });

  it('averages the last 10 seconds, including the current one, over 10', () => {
    const meter = new ThroughputMeter();
    for (let s = 0; s < 10; s++) meter.record(s + 1, at(s, 500)); // 1 + 2 + ... + 10 = 55
    expect(meter.ratePerSecond(at(9, 900))).toBe(5.5);
  });

  it('leaves out seconds before the window it averages over', () => {
    const meter = new ThroughputMeter();
    meter.record(1000, at(0));
    meter.record(20, at(10));
    expect(meter.ratePerSecond(at(10))).toBe(2);
    expect(meter.ratePerSecond(at(20))).toBe(0);
  });

  it('averages over the number of seconds asked for', () => {
    const meter = new ThroughputMeter();
    meter.record(30, at(1));
    meter.record(30, at(2));
    expect(meter.ratePerSecond(at(2), 3)).toBe(20);
    expect(meter.ratePerSecond(at(2), 60)).toBe(1);
  });

  it('counts the current partial second', () => {
    const meter = new ThroughputMeter();
    meter.record(50, at(5, 10));
    expect(meter.ratePerSecond(at(5, 20))).toBe(5);
  });
});

import { describe, expect, it } from 'vitest';
import { LONG_RUN_MS, RunPace, TARGET_HELD_MS } from './run-pace.ts';
import { MAX_HELD_PER_THREAD } from '../domain/limits.ts';

function paced(...runs: number[]): RunPace {
  const pace = new RunPace();
  for (const ms of runs) pace.record(ms);
  return pace;
}

describe('RunPace', () => {
  it('holds one input per thread until a run time is known', () => {
    expect(new RunPace().holdTarget(4)).toBe(4);
  });

  it('holds about a second of work per thread at the measured speed', () => {
    expect(paced(20).holdTarget(2)).toBe(2 * (TARGET_HELD_MS / 20));
    expect(paced(100).holdTarget(3)).toBe(3 * 10);
  });

  it('never holds more than the hub allows per thread, however short the runs', () => {
    expect(paced(0).holdTarget(2)).toBe(2 * MAX_HELD_PER_THREAD);
    expect(paced(0.001).holdTarget(1)).toBe(MAX_HELD_PER_THREAD);
  });

  it('keeps one spare per thread for runs up to LONG_RUN_MS, and none beyond', () => {
    expect(paced(900).holdTarget(2)).toBe(4);
    expect(paced(LONG_RUN_MS - 1).holdTarget(2)).toBe(4);
    expect(paced(LONG_RUN_MS).holdTarget(2)).toBe(2);
    expect(paced(60_000).holdTarget(8)).toBe(8);
  });

  it('follows a change of speed gradually and ignores nonsense times', () => {
    const pace = paced(1000);
    pace.record(Number.NaN);
    pace.record(-5);
    expect(pace.averageRunMs).toBe(1000);
    expect(pace.holdTarget(1)).toBe(2);
    pace.record(50);
    expect(pace.averageRunMs).toBe(1000 * 0.8 + 50 * 0.2);
    expect(pace.holdTarget(1)).toBe(2);
    for (let i = 0; i < 30; i++) pace.record(50);
    expect(pace.holdTarget(1)).toBe(TARGET_HELD_MS / 50);
    pace.reset();
    expect(pace.holdTarget(1)).toBe(1);
  });

  it('asks once half of its held work has run, so requests come in batches; for any slot when it holds one per thread', () => {
    const short = paced(1); // holds 4 x 128
    expect(short.worthAsking(4, 255)).toBe(false);
    expect(short.worthAsking(4, 256)).toBe(true);
    expect(paced(500).worthAsking(4, 3)).toBe(false); // holds 4 x 2
    expect(paced(500).worthAsking(4, 4)).toBe(true);
    expect(paced(60_000).worthAsking(4, 1)).toBe(true);
    expect(new RunPace().worthAsking(4, 0)).toBe(false);
  });

  it('holds up to its own per-thread maximum, and asks for half its hold target at most, so it holds two leases', () => {
    const fast = paced(0.01);
    expect(fast.holdTarget(2)).toBe(2 * MAX_HELD_PER_THREAD);
    expect(fast.askFor(2, 2 * MAX_HELD_PER_THREAD)).toBe(MAX_HELD_PER_THREAD);
    expect(fast.askFor(2, 100)).toBe(100);
    expect(fast.request(2, 2 * MAX_HELD_PER_THREAD - 1)).toBe(MAX_HELD_PER_THREAD); // half has run: ask for half
    expect(fast.request(2, MAX_HELD_PER_THREAD - 1)).toBeNull(); // not yet worth a request
    const capped = new RunPace(16);
    capped.record(0.01);
    expect(capped.holdTarget(2)).toBe(32);
    expect(capped.askFor(2, 32)).toBe(16);
    expect(paced(60_000).askFor(4, 3)).toBe(3); // one per thread: every free slot
  });
});

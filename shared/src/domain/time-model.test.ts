import { describe, expect, it } from 'vitest';
import { timeModel, type DeviceTimingStats } from './time-model.ts';

const device = (id: string, over: Partial<DeviceTimingStats> = {}): DeviceTimingStats => ({
  deviceId: id,
  name: id,
  threads: 1,
  runs: 0,
  computeMs: 0,
  extraMs: 0,
  messages: 0,
  rttSumMs: 0,
  rttCount: 0,
  ...over,
});

describe('the time model of a job', () => {
  it('has no timing before an accepted result', () => {
    expect(timeModel({ startedAt: 0, finishedAt: null, now: 10, completed: 0, verified: false, devices: [device('a', { messages: 1 })] })).toBeUndefined();
  });

  it('computes the seed formulas, the ideal parallel time and the efficiency from known run times', () => {
    // Two devices: a (2 threads) ran 6 inputs of 100 ms, b (1 thread) ran 4 of 150 ms; 10 exchanges of 5 ms each.
    const t = timeModel({
      startedAt: 1_000,
      finishedAt: 1_500,
      now: 99_999,
      completed: 10,
      verified: false,
      devices: [
        device('a', { threads: 2, runs: 6, computeMs: 600, messages: 6, rttSumMs: 30, rttCount: 6 }),
        device('b', { threads: 1, runs: 4, computeMs: 600, messages: 4, rttSumMs: 20, rttCount: 4 }),
      ],
    });
    expect(t).toBeDefined();
    if (!t) return;
    expect(t.wallMs).toBe(500);
    expect(t.computeMs).toBe(1200);
    expect(t.meanRunMs).toBe(120);
    expect(t.devices).toBe(2);
    expect(t.messages).toBe(10);
    expect(t.commMs).toBe(5);
    expect(t.threads).toBe(3);
    expect(t.model.serverlessMs).toBe(120 * 2 + 5 * 1);
    expect(t.model.edgeMs).toBe(120 * 2 + 5 * 10);
    expect(t.model.idealParallelMs).toBe(400);
    expect(t.efficiency).toBeCloseTo(0.8);
    expect(t.byDevice.map((d) => [d.deviceId, d.share, d.meanRunMs])).toEqual([
      ['a', 0.6, 100],
      ['b', 0.4, 150],
    ]);
  });

  it('measures a running job up to now', () => {
    const t = timeModel({ startedAt: 1_000, finishedAt: null, now: 3_000, completed: 1, verified: false, devices: [device('a', { runs: 1, computeMs: 500 })] });
    expect(t?.wallMs).toBe(2_000);
    expect(t?.efficiency).toBe(0.25);
  });

  it('counts a verified job’s extra replicas as compute spent, shown apart', () => {
    // 4 inputs done by 2 replicas each: 8 accepted runs of 10 ms, half of them replicas.
    const t = timeModel({ startedAt: 0, finishedAt: 100, now: 100, completed: 4, verified: true, devices: [device('a', { runs: 4, computeMs: 40 }), device('b', { runs: 4, computeMs: 40 })] });
    expect(t?.computeMs).toBe(80);
    expect(t?.replicaMs).toBe(40);
  });

  it('advises grouping inputs when subtasks are short next to an exchange, and not when they are long', () => {
    const run = (runMs: number) =>
      timeModel({
        startedAt: 0,
        finishedAt: 10_000,
        now: 0,
        completed: 100,
        verified: false,
        devices: [device('a', { threads: 1, runs: 100, computeMs: 100 * runMs, messages: 200, rttSumMs: 3 * 200, rttCount: 200 })],
      })?.advice ?? '';
    expect(run(0.4)).toBe('subtasks average 0.4 ms and each exchange costs 3 ms: group inputs so a subtask runs ≥ 100 ms');
    expect(run(95)).toMatch(/^subtasks average 95 ms and each exchange costs 3 ms \(3% of a cycle\): compute-bound/);
    // Long subtasks but most of the wall time idle: the devices waited.
    expect(run(40)).toMatch(/^the job ran at 40% of its ideal parallel time on 1 thread/);
  });

  it('points at wasted replicas when they are a large part of the compute', () => {
    const t = timeModel({ startedAt: 0, finishedAt: 1000, now: 0, completed: 10, verified: true, devices: [device('a', { runs: 30, computeMs: 3000 })] });
    expect(t?.advice).toMatch(/^67% of the compute went to replicas/);
  });
});

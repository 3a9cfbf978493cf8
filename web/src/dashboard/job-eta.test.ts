import { describe, expect, it } from 'vitest';
import type { JobStatus } from '@edgeswarm/shared';
import { ETA_FORGET_MS, ETA_MIN_SPAN_MS, ETA_WINDOW_MS, JobEtas, formatEta, type EtaJob } from './job-eta.ts';

const job = (completed: number, total = 1000, status: JobStatus = 'running', failed = 0, id = 'j'): EtaJob => ({
  id,
  status,
  progress: { total, completed, failed },
});

/** Records `job(done(t))` once a second from `fromS` to `toS` inclusive and returns the last job recorded. */
function feed(etas: JobEtas, fromS: number, toS: number, done: (s: number) => number, total = 1000): EtaJob {
  let last = job(0, total);
  for (let s = fromS; s <= toS; s++) {
    last = job(done(s), total);
    etas.record(s * 1000, [last]);
  }
  return last;
}

describe('JobEtas', () => {
  it('has no estimate for a job seen once, or over less than the minimum span', () => {
    const etas = new JobEtas();
    etas.record(0, [job(0)]);
    expect(etas.secondsLeft(job(0))).toBeNull();
    etas.record(ETA_MIN_SPAN_MS - 1, [job(10)]);
    expect(etas.secondsLeft(job(10))).toBeNull();
    etas.record(ETA_MIN_SPAN_MS, [job(20)]);
    expect(etas.secondsLeft(job(20))).not.toBeNull();
  });

  it('divides what is left by a steady rate', () => {
    const etas = new JobEtas();
    const last = feed(etas, 0, 10, (s) => s * 10); // 10 per second, 100 done at 10 s
    expect(etas.rate('j')).toBeCloseTo(10, 9);
    expect(etas.secondsLeft(last)).toBeCloseTo(90, 9);
  });

  it('counts failed subtasks as finished', () => {
    const etas = new JobEtas();
    etas.record(0, [job(0, 100, 'running', 0)]);
    etas.record(5000, [job(40, 100, 'running', 10)]);
    expect(etas.rate('j')).toBeCloseTo(10, 9);
    expect(etas.secondsLeft(job(40, 100, 'running', 10))).toBeCloseTo(5, 9);
  });

  it('follows a change of rate within about one window', () => {
    const etas = new JobEtas();
    feed(etas, 0, 60, (s) => s * 2);
    expect(etas.rate('j')).toBeCloseTo(2, 9);
    const last = feed(etas, 61, 61 + ETA_WINDOW_MS / 1000, (s) => 120 + (s - 60) * 20, 100_000);
    // The total changed with the second call, so the history started over at 61 s; either way the rate is the new one.
    expect(etas.rate('j')).toBeCloseTo(20, 9);
    expect(etas.secondsLeft(last)).toBeGreaterThan(0);
  });

  it('smooths over the window: the old rate still weighs right after a change', () => {
    const etas = new JobEtas();
    feed(etas, 0, 40, (s) => s * 10);
    feed(etas, 41, 45, (s) => 400 + (s - 40) * 40);
    const rate = etas.rate('j') ?? 0;
    expect(rate).toBeGreaterThan(10);
    expect(rate).toBeLessThan(40);
  });

  it('lets a stall lengthen the estimate, and shows none once nothing moved for a whole window', () => {
    const etas = new JobEtas();
    feed(etas, 0, 30, (s) => s * 10);
    const before = etas.secondsLeft(job(300)) ?? 0;
    feed(etas, 31, 35, () => 300);
    const during = etas.secondsLeft(job(300)) ?? 0;
    expect(during).toBeGreaterThan(before);
    feed(etas, 36, 31 + ETA_WINDOW_MS / 1000, () => 300);
    expect(etas.rate('j')).toBeNull();
    expect(etas.secondsLeft(job(300))).toBeNull();
    // Progress resumes: an estimate comes back.
    const last = feed(etas, 52, 56, (s) => 300 + (s - 51) * 10);
    expect(etas.secondsLeft(last)).not.toBeNull();
  });

  it('starts over when the count goes down (progress restarted)', () => {
    const etas = new JobEtas();
    feed(etas, 0, 10, (s) => s * 50);
    etas.record(11_000, [job(5)]);
    expect(etas.rate('j')).toBeNull();
    expect(etas.secondsLeft(job(5))).toBeNull();
    etas.record(11_000 + ETA_MIN_SPAN_MS, [job(25)]);
    expect(etas.rate('j')).toBeCloseTo(10, 9);
  });

  it('starts over when the total changes', () => {
    const etas = new JobEtas();
    feed(etas, 0, 10, (s) => s * 10, 1000);
    expect(etas.secondsLeft(job(100, 2000))).toBeNull();
    etas.record(11_000, [job(110, 2000)]);
    expect(etas.rate('j')).toBeNull();
  });

  it('has no estimate for queued or finished jobs, and forgets a job once it finished', () => {
    const etas = new JobEtas();
    feed(etas, 0, 10, (s) => s * 10);
    for (const status of ['queued', 'completed', 'failed', 'cancelled'] as const) {
      expect(etas.secondsLeft(job(100, 1000, status))).toBeNull();
    }
    etas.record(11_000, [job(1000, 1000, 'completed')]);
    expect(etas.rate('j')).toBeNull();
    // Should it be listed as running again, it starts from scratch.
    etas.record(12_000, [job(1000, 1000, 'running')]);
    expect(etas.rate('j')).toBeNull();
  });

  it('says less than a second for a running job whose subtasks are all done', () => {
    const etas = new JobEtas();
    etas.record(0, [job(0, 100)]);
    etas.record(5000, [job(100, 100)]);
    expect(etas.secondsLeft(job(100, 100))).toBe(0);
    expect(formatEta(0)).toBe('< 1 s');
  });

  it('replaces a sample recorded twice at the same time, and ignores older observations', () => {
    const etas = new JobEtas();
    etas.record(0, [job(0)]);
    etas.record(4000, [job(40)]);
    etas.record(4000, [job(40)]);
    expect(etas.rate('j')).toBeCloseTo(10, 9);
    etas.record(4000, [job(80)]); // a fresher answer stamped at the same millisecond wins
    expect(etas.rate('j')).toBeCloseTo(20, 9);
    etas.record(3000, [job(10)]); // late answer to an earlier request: not a restart
    expect(etas.rate('j')).toBeCloseTo(20, 9);
  });

  it('keeps each job separately and forgets jobs it has not seen for a while', () => {
    const etas = new JobEtas();
    etas.record(0, [job(0, 1000, 'running', 0, 'a'), job(0, 1000, 'running', 0, 'b')]);
    etas.record(5000, [job(50, 1000, 'running', 0, 'a'), job(100, 1000, 'running', 0, 'b')]);
    expect(etas.rate('a')).toBeCloseTo(10, 9);
    expect(etas.rate('b')).toBeCloseTo(20, 9);
    // Only `a` is observed from now on (b scrolled off the shown page).
    etas.record(5000 + ETA_FORGET_MS + 1, [job(700, 1000, 'running', 0, 'a')]);
    expect(etas.rate('a')).not.toBeNull();
    expect(etas.rate('b')).toBeNull();
  });

  it('holds a bounded number of samples however often it is fed', () => {
    const etas = new JobEtas();
    for (let t = 0; t <= 3 * ETA_WINDOW_MS; t += 10) etas.record(t, [job(t / 10, 1_000_000)]);
    expect(etas.rate('j')).toBeCloseTo(100, 6);
    const kept = (etas as unknown as { history: Map<string, { samples: unknown[] }> }).history.get('j')?.samples.length ?? 0;
    expect(kept).toBeGreaterThan(2);
    expect(kept).toBeLessThanOrEqual(ETA_WINDOW_MS / 250 + 5);
  });
});

describe('formatEta', () => {
  it('formats seconds, minutes, hours and days', () => {
    expect(formatEta(null)).toBe('—');
    expect(formatEta(Number.POSITIVE_INFINITY)).toBe('—');
    expect(formatEta(0.4)).toBe('< 1 s');
    expect(formatEta(1)).toBe('~1 s');
    expect(formatEta(35)).toBe('~35 s');
    expect(formatEta(59.4)).toBe('~59 s');
    expect(formatEta(59.6)).toBe('~1 min');
    expect(formatEta(120)).toBe('~2 min');
    expect(formatEta(149)).toBe('~2 min');
    expect(formatEta(59 * 60 + 40)).toBe('~1 h');
    expect(formatEta(3600 + 5 * 60)).toBe('~1 h 5 min');
    expect(formatEta(2 * 3600)).toBe('~2 h');
    expect(formatEta(23 * 3600 + 59 * 60)).toBe('~23 h 59 min');
    expect(formatEta(24 * 3600)).toBe('~1 d');
    expect(formatEta(2 * 86_400 + 3 * 3600)).toBe('~2 d 3 h');
  });
});

/**
 * The time model's terms as a hub sees them (lease and result messages, run times, the round trips devices
 * measured), gathered per job and device in memory and written to the store in one call about once a second (with
 * the sweep), so the devices' hot path pays no extra write.
 */
import type { RunResult } from '@edgeswarm/shared';
import type { JobTimingDelta } from '../store/job-store.ts';

export class JobTimingBook {
  private pending = new Map<string, JobTimingDelta>();

  private entry(jobId: string, deviceId: string, threads: number): JobTimingDelta {
    const key = `${jobId}\u0000${deviceId}`;
    let d = this.pending.get(key);
    if (!d) {
      d = { jobId, deviceId, threads, runs: 0, computeMs: 0, extraMs: 0, messages: 0, rttSumMs: 0, rttCount: 0 };
      this.pending.set(key, d);
    }
    d.threads = Math.max(d.threads, threads);
    return d;
  }

  /** A lease went to the device: one message. */
  leased(jobId: string, deviceId: string, threads: number): void {
    this.entry(jobId, deviceId, threads).messages++;
  }

  /**
   * A batch of results arrived (one message) and the store counted `accepted` of them. Which ones is not known when
   * it counted some but not all (a duplicate among them, rare): their run time is then split in proportion. Results
   * without a run time (devices older than the time model) count nowhere.
   */
  reported(jobId: string, deviceId: string, threads: number, results: readonly Pick<RunResult, 'ms'>[], accepted: number, rttMs?: number): void {
    const d = this.entry(jobId, deviceId, threads);
    d.messages++;
    if (rttMs !== undefined) {
      d.rttSumMs += rttMs;
      d.rttCount++;
    }
    let timed = 0;
    let ms = 0;
    for (const r of results) {
      if (r.ms === undefined) continue;
      timed++;
      ms += r.ms;
    }
    if (timed === 0) return;
    const share = results.length === 0 ? 0 : Math.min(1, Math.max(0, accepted / results.length));
    d.runs += Math.round(timed * share);
    d.computeMs += ms * share;
    d.extraMs += ms * (1 - share);
  }

  /** What was gathered since the last call (then forgotten). */
  take(): JobTimingDelta[] {
    if (this.pending.size === 0) return [];
    const out = [...this.pending.values()];
    this.pending = new Map();
    return out;
  }
}

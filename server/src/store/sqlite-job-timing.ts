/** The SQLite store's table of what each device did for each job (the time model's terms, `job_device_timing`). */
import type Database from 'better-sqlite3';
import type { DeviceTimingStats } from '@edgeswarm/shared';
import type { JobTimingDelta } from './job-store.ts';
import { toDeviceTimingStats, type TimingRow } from './job-timing-rows.ts';

export class SqliteJobTiming {
  private readonly add;
  private readonly ofJobs;
  constructor(db: Database.Database) {
    this.add = db.prepare<[string, number, number, number, number, number, number, number, string]>(
      `INSERT INTO job_device_timing (job_seq, device_id, threads, runs, compute_ms, extra_ms, messages, rtt_sum_ms, rtt_count)
       SELECT seq, ?, ?, ?, ?, ?, ?, ?, ? FROM jobs WHERE id = ? AND deleted = 0
       ON CONFLICT (job_seq, device_id) DO UPDATE SET threads = max(threads, excluded.threads), runs = runs + excluded.runs,
         compute_ms = compute_ms + excluded.compute_ms, extra_ms = extra_ms + excluded.extra_ms, messages = messages + excluded.messages,
         rtt_sum_ms = rtt_sum_ms + excluded.rtt_sum_ms, rtt_count = rtt_count + excluded.rtt_count`,
    );
    // Read for every job the API or the dashboard's feed shows: prepared once.
    this.ofJobs = db.prepare<[string], TimingRow>(
      `SELECT j.id AS job_id, t.device_id, d.name, t.threads, t.runs, t.compute_ms, t.extra_ms, t.messages, t.rtt_sum_ms, t.rtt_count
         FROM json_each(?) AS k JOIN jobs j ON j.id = k.value JOIN job_device_timing t ON t.job_seq = j.seq
         LEFT JOIN devices d ON d.id = t.device_id`,
    );
  }

  /** Inside the caller's transaction. */
  addAll(deltas: JobTimingDelta[]): void {
    for (const d of deltas) {
      this.add.run(d.deviceId, d.threads, d.runs, d.computeMs, d.extraMs, d.messages, d.rttSumMs, d.rttCount, d.jobId);
    }
  }

  statsOf(jobIds: string[]): Map<string, DeviceTimingStats[]> {
    const out = new Map<string, DeviceTimingStats[]>();
    if (jobIds.length === 0) return out;
    const rows = this.ofJobs.all(JSON.stringify(jobIds));
    for (const r of rows) {
      const list = out.get(r.job_id);
      if (list) list.push(toDeviceTimingStats(r));
      else out.set(r.job_id, [toDeviceTimingStats(r)]);
    }
    return out;
  }
}

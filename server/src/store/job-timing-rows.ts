/** Rows of `job_device_timing` (the time model's terms per device and job) as both engines read them. */
import type { DeviceTimingStats } from '@edgeswarm/shared';

/** A row of `job_device_timing` with its job's id and its device's name (both engines read this shape). */
export interface TimingRow {
  job_id: string;
  device_id: string;
  name: string | null;
  threads: number;
  runs: number;
  compute_ms: number;
  extra_ms: number;
  messages: number;
  rtt_sum_ms: number;
  rtt_count: number;
}

export function toDeviceTimingStats(r: Omit<TimingRow, 'job_id'>): DeviceTimingStats {
  return {
    deviceId: r.device_id,
    name: r.name ?? '',
    threads: r.threads,
    runs: r.runs,
    computeMs: r.compute_ms,
    extraMs: r.extra_ms,
    messages: r.messages,
    rttSumMs: r.rtt_sum_ms,
    rttCount: r.rtt_count,
  };
}


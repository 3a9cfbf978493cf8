/** HubMetrics and the instrumented store on fakes: what is counted, under which labels, and that metrics never break a store call. */
import { describe, expect, it, vi } from 'vitest';
import type { HubStats, JobStatus } from '@edgeswarm/shared';
import type { CheckedResult, RecordOutcome } from '../store/job-store.ts';
import type { JobStore } from '../store/async-store.ts';
import { HubMetrics } from './hub-metrics.ts';
import { instrumentStore } from './instrumented-store.ts';
import { hubSeries, parsePrometheusText, sampleValue, type Sample } from '../../test/support/prometheus-text.ts';

const stats: HubStats = { devices: 3, threads: 12, subtasksPerSecond: 0, completed: 5, queued: 40, running: 7 };

function fakeJobs(statuses: JobStatus[]): () => Promise<Partial<Record<JobStatus, number>>> {
  const counts: Partial<Record<JobStatus, number>> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return async () => counts;
}

function metricsWith(statuses: JobStatus[] = []): HubMetrics {
  return new HubMetrics({ stats: async () => stats, jobCountsByStatus: fakeJobs(statuses) });
}

async function render(metrics: HubMetrics): Promise<Sample[]> {
  return parsePrometheusText(await metrics.render());
}

const outcome = (o: Partial<RecordOutcome>): RecordOutcome => ({ accepted: 0, completed: 0, failedRuns: 0, dropped: 0, rejected: 0, jobsToFinalize: [], jobsFailed: [], jobsReopened: [], requeued: 0, quarantined: 0, ...o });
const fail = (index: number, code: 'work_error' | 'timeout' | 'invalid_result' | 'result_too_large'): CheckedResult => ({ index, ok: false, code, message: 'x' });
const ok = (index: number): CheckedResult => ({ index, ok: true, json: '1', value: 1 });

describe('HubMetrics', () => {
  it('reads gauges and job counts by status at render', async () => {
    const statuses: JobStatus[] = [];
    for (let i = 0; i < 2500; i++) statuses.push(i % 5 === 0 ? 'failed' : i % 2 === 0 ? 'completed' : 'running');
    const m = await render(metricsWith(statuses));
    expect(sampleValue(m, 'edgeswarm_devices_connected')).toBe(3);
    expect(sampleValue(m, 'edgeswarm_threads_connected')).toBe(12);
    expect(sampleValue(m, 'edgeswarm_subtasks_queued')).toBe(40);
    expect(sampleValue(m, 'edgeswarm_subtasks_running')).toBe(7);
    expect(sampleValue(m, 'edgeswarm_jobs', { status: 'failed' })).toBe(500);
    expect(sampleValue(m, 'edgeswarm_jobs', { status: 'completed' })).toBe(1000);
    expect(sampleValue(m, 'edgeswarm_jobs', { status: 'running' })).toBe(1000);
    expect(sampleValue(m, 'edgeswarm_jobs', { status: 'queued' })).toBe(0);
    expect(sampleValue(m, 'edgeswarm_jobs', { status: 'cancelled' })).toBe(0);
  });

  it('writes valid text on scrapes in quick succession (no "Nan" from the event loop monitor)', async () => {
    const metrics = metricsWith();
    for (let i = 0; i < 5; i++) {
      const text = await metrics.render();
      expect(text).not.toMatch(/ Nan$/m);
      parsePrometheusText(text);
    }
  });

  it('attributes failed runs to their codes and counts retries, drops and rejections', async () => {
    const metrics = metricsWith();
    metrics.resultsRecorded([ok(0), fail(1, 'work_error'), fail(2, 'timeout'), fail(3, 'invalid_result')], outcome({ accepted: 3, completed: 1, failedRuns: 2, dropped: 1 }));
    metrics.resultsRecorded([fail(4, 'result_too_large'), fail(5, 'work_error')], outcome({ accepted: 1, failedRuns: 1, dropped: 1, jobsFailed: ['job_x'] }));
    metrics.resultsRecorded([ok(6), ok(7)], outcome({ rejected: 2 }));
    const m = await render(metrics);
    expect(sampleValue(m, 'edgeswarm_subtasks_completed_total')).toBe(1);
    expect(sampleValue(m, 'edgeswarm_subtask_runs_failed_total', { code: 'work_error' })).toBe(1);
    expect(sampleValue(m, 'edgeswarm_subtask_runs_failed_total', { code: 'timeout' })).toBe(1);
    expect(sampleValue(m, 'edgeswarm_subtask_runs_failed_total', { code: 'invalid_result' })).toBe(0);
    expect(sampleValue(m, 'edgeswarm_subtask_runs_failed_total', { code: 'result_too_large' })).toBe(1);
    expect(sampleValue(m, 'edgeswarm_subtasks_retried_total')).toBe(2); // 2 from the first batch; the second failed its job
    expect(sampleValue(m, 'edgeswarm_results_dropped_total', { reason: 'dropped' })).toBe(2);
    expect(sampleValue(m, 'edgeswarm_results_dropped_total', { reason: 'rejected' })).toBe(2);
  });

  it('keeps its series whatever it counts', async () => {
    const metrics = metricsWith(['queued']);
    const before = hubSeries(await render(metrics));
    for (let i = 0; i < 100; i++) {
      metrics.leaseGranted(1 + (i % 300));
      metrics.resultsRecorded([ok(i), fail(i + 1, 'timeout')], outcome({ accepted: 2, completed: 1, failedRuns: 1 }));
      metrics.leasesReleased(i % 2 ? 'expired' : 'disconnected', { requeued: i, jobsFailed: [`job_${i}`] });
      metrics.storeWriteTook('recordResults', i / 1000);
    }
    expect(hubSeries(await render(metrics))).toEqual(before);
  });
});

describe('instrumentStore', () => {
  class FakeStore {
    #secret = 'private fields work through the proxy';
    readonly calls: string[] = [];
    async getJob(): Promise<string> {
      return this.#secret;
    }
    async leaseWork() {
      return { lease: { id: 'lease_1' }, items: [{ index: 0 }, { index: 1 }, { index: 2 }] };
    }
    async recordResults(): Promise<RecordOutcome> {
      return outcome({ accepted: 2, completed: 2 });
    }
    async expireLeases() {
      return { requeued: 4, jobsFailed: [] };
    }
    async createJob(): Promise<never> {
      throw new Error('disk full');
    }
  }

  it('times writes, counts what they did and passes every other call through', async () => {
    const metrics = metricsWith();
    const store = instrumentStore(new FakeStore() as unknown as JobStore, metrics);
    expect(await store.getJob('x')).toBe('private fields work through the proxy');
    await store.leaseWork({ deviceId: 'd', connId: 'c', max: 3, deadline: 0, now: 0 });
    await store.recordResults('lease_1', 'd', [ok(0), ok(1)], 0);
    await store.expireLeases(0, 0);
    await expect(store.createJob({} as never, 0)).rejects.toThrow('disk full');
    const m = await render(metrics);
    expect(sampleValue(m, 'edgeswarm_leases_granted_total')).toBe(1);
    expect(sampleValue(m, 'edgeswarm_lease_batch_size_sum')).toBe(3);
    expect(sampleValue(m, 'edgeswarm_subtasks_leased_total')).toBe(3);
    expect(sampleValue(m, 'edgeswarm_subtasks_completed_total')).toBe(2);
    expect(sampleValue(m, 'edgeswarm_subtasks_lease_lost_total', { reason: 'expired' })).toBe(4);
    expect(sampleValue(m, 'edgeswarm_store_write_seconds_count', { op: 'leaseWork' })).toBe(1);
    expect(sampleValue(m, 'edgeswarm_store_write_seconds_count', { op: 'recordResults' })).toBe(1);
    expect(sampleValue(m, 'edgeswarm_store_write_seconds_count', { op: 'createJob' })).toBe(0);
    expect(sampleValue(m, 'edgeswarm_store_write_failures_total', { op: 'createJob' })).toBe(1);
    expect(m.some((s) => s.labels.op === 'getJob')).toBe(false);
  });

  it('returns a committed write even when recording its metrics fails', async () => {
    const metrics = metricsWith();
    vi.spyOn(metrics, 'resultsRecorded').mockImplementation(() => {
      throw new Error('metrics bug');
    });
    const log = vi.fn();
    const store = instrumentStore(new FakeStore() as unknown as JobStore, metrics, log);
    expect((await store.recordResults('lease_1', 'd', [], 0)).completed).toBe(2);
    expect(log).toHaveBeenCalledWith('recording metrics for store.recordResults failed', expect.any(Error));
  });
});

/** GET /metrics on a real hub: the token, the Prometheus text format, counts after real jobs, and bounded labels. */
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '@edgeswarm/shared';
import { ManualClock } from '../src/clock.ts';
import { startTestHub, waitFor, type TestHub } from './support/test-hub.ts';
import { DeviceFleet, TestDevice, type TestDeviceOptions } from './support/test-device.ts';
import { hubSeries, parsePrometheusText as parse, sampleValue as value, type Sample } from './support/prometheus-text.ts';

let hub: TestHub;
const fleet = new DeviceFleet();

afterEach(async () => {
  fleet.closeAll();
  await hub?.close();
});

const device = (options: TestDeviceOptions = {}): Promise<TestDevice> => fleet.join(hub.url, options);

async function submit(spec: Record<string, unknown>): Promise<Job> {
  const res = await hub.api<Job>('POST', '/api/jobs', spec);
  expect(res.status).toBe(201);
  return res.body;
}

async function finished(id: string): Promise<Job> {
  return waitFor(async () => {
    const { body } = await hub.api<Job>('GET', `/api/jobs/${id}`);
    return ['completed', 'failed', 'cancelled'].includes(body.status) ? body : undefined;
  }, 20_000, `job ${id} to finish`);
}

async function scrape(): Promise<Sample[]> {
  const res = await fetch(`${hub.url}/metrics`, { headers: { Authorization: `Bearer ${hub.token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(await res.text());
}

describe('GET /metrics', () => {
  it.each([
    ['no header', undefined],
    ['a wrong token', 'Bearer nope'],
  ])('refuses a request with %s with 401 and the contract error body', async (_what, header) => {
    hub = await startTestHub();
    const res = await fetch(`${hub.url}/metrics`, { headers: header ? { Authorization: header } : {} });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('unauthorized');
    expect(body.error.message).toMatch(/Bearer TOKEN/);
  });

  it('counts a job run by devices, with gauges read at the scrape and process metrics', async () => {
    hub = await startTestHub();
    await device({ threads: 2 });
    await device({ threads: 3 });
    const job = await submit({ code: '(n) => n * n', inputs: { range: { start: 0, end: 50 } }, reduce: 'sum' });
    expect((await finished(job.id)).status).toBe('completed');
    const res = await fetch(`${hub.url}/metrics`, { headers: { Authorization: `Bearer ${hub.token}` } });
    const text = await res.text();
    expect(text).toMatch(/^# TYPE edgeswarm_lease_batch_size histogram$/m);
    expect(text).toMatch(/^# TYPE edgeswarm_subtasks_completed_total counter$/m);
    expect(text).toMatch(/^# TYPE edgeswarm_devices_connected gauge$/m);
    const m = parse(text);

    expect(value(m, 'edgeswarm_subtasks_completed_total')).toBe(50);
    // Leased: each input once, plus any copies idle devices got at the end of the job.
    const copies = value(m, 'edgeswarm_subtasks_tail_copies_total');
    expect(value(m, 'edgeswarm_subtasks_leased_total')).toBe(50 + copies);
    const leases = value(m, 'edgeswarm_leases_granted_total');
    expect(leases).toBeGreaterThanOrEqual(2);
    expect(value(m, 'edgeswarm_lease_batch_size_count')).toBe(leases);
    expect(value(m, 'edgeswarm_lease_batch_size_sum')).toBe(50 + copies);
    expect(value(m, 'edgeswarm_lease_batch_size_bucket', { le: '+Inf' })).toBe(leases);
    for (const code of ['work_error', 'timeout', 'invalid_result', 'result_too_large']) {
      expect(value(m, 'edgeswarm_subtask_runs_failed_total', { code })).toBe(0);
    }
    expect(value(m, 'edgeswarm_subtasks_retried_total')).toBe(0);
    expect(value(m, 'edgeswarm_subtasks_lease_lost_total', { reason: 'expired' })).toBe(0);

    expect(value(m, 'edgeswarm_store_write_seconds_count', { op: 'createJob' })).toBe(1);
    expect(value(m, 'edgeswarm_store_write_seconds_count', { op: 'completeJob' })).toBe(1);
    const leaseCalls = ['leaseWork', 'leaseTail'].map((op) => value(m, 'edgeswarm_store_write_seconds_count', { op }));
    expect(leaseCalls[0]! + leaseCalls[1]!).toBeGreaterThanOrEqual(leases);
    expect(value(m, 'edgeswarm_store_write_seconds_count', { op: 'recordResults' })).toBe(leases);
    expect(value(m, 'edgeswarm_store_write_seconds_sum', { op: 'recordResults' })).toBeGreaterThan(0);

    expect(value(m, 'edgeswarm_devices_connected')).toBe(2);
    expect(value(m, 'edgeswarm_threads_connected')).toBe(5);
    expect(value(m, 'edgeswarm_subtasks_queued')).toBe(0);
    expect(value(m, 'edgeswarm_subtasks_running')).toBe(0);
    expect(value(m, 'edgeswarm_jobs', { status: 'completed' })).toBe(1);
    expect(value(m, 'edgeswarm_jobs', { status: 'queued' })).toBe(0);

    expect(m.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
    expect(m.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
  });

  it('shows queued work and jobs by status before any device connects', async () => {
    hub = await startTestHub();
    await submit({ code: '(n) => n', inputs: { range: { start: 0, end: 1000 } } });
    const cancelled = await submit({ code: '(n) => n', inputs: [1, 2] });
    expect((await hub.api('POST', `/api/jobs/${cancelled.id}/cancel`)).status).toBe(200);
    const m = await scrape();
    expect(value(m, 'edgeswarm_subtasks_queued')).toBe(1000);
    expect(value(m, 'edgeswarm_jobs', { status: 'queued' })).toBe(1);
    expect(value(m, 'edgeswarm_jobs', { status: 'cancelled' })).toBe(1);
    expect(value(m, 'edgeswarm_devices_connected')).toBe(0);
  });

  it('gives the queue depth of each running job, and drops the series of a job once it ends', async () => {
    hub = await startTestHub();
    const big = await submit({ code: '(n) => n', inputs: { range: { start: 0, end: 1000 } } });
    const small = await submit({ code: '(n) => n', inputs: [1, 2, 3] });
    let m = await scrape();
    expect(value(m, 'edgeswarm_job_subtasks_queued', { job: big.id })).toBe(1000);
    expect(value(m, 'edgeswarm_job_subtasks_queued', { job: small.id })).toBe(3);
    expect(value(m, 'edgeswarm_job_subtasks_running', { job: small.id })).toBe(0);
    expect((await hub.api('POST', `/api/jobs/${small.id}/cancel`)).status).toBe(200);
    m = await scrape();
    expect(m.filter((s) => s.labels['job'] === small.id)).toEqual([]);
    expect(value(m, 'edgeswarm_job_subtasks_queued', { job: big.id })).toBe(1000);
  });

  it('counts failed runs by code and the retries they caused', async () => {
    hub = await startTestHub();
    await device({ threads: 1 });
    const throws = await submit({ code: '(n) => { throw new Error("boom " + n); }', inputs: [7], maxAttempts: 3 });
    expect((await finished(throws.id)).status).toBe('failed');
    const nan = await submit({ code: '() => NaN', inputs: [1], maxAttempts: 2 });
    expect((await finished(nan.id)).status).toBe('failed');
    const big = await submit({ code: '() => "x".repeat(1100000)', inputs: [1], maxAttempts: 1 });
    expect((await finished(big.id)).status).toBe('failed');

    const m = await scrape();
    expect(value(m, 'edgeswarm_subtask_runs_failed_total', { code: 'work_error' })).toBe(3);
    expect(value(m, 'edgeswarm_subtask_runs_failed_total', { code: 'invalid_result' })).toBe(2);
    expect(value(m, 'edgeswarm_subtask_runs_failed_total', { code: 'result_too_large' })).toBe(1);
    expect(value(m, 'edgeswarm_subtask_runs_failed_total', { code: 'timeout' })).toBe(0);
    expect(value(m, 'edgeswarm_subtasks_retried_total')).toBe(2 + 1);
    expect(value(m, 'edgeswarm_subtasks_completed_total')).toBe(0);
    expect(value(m, 'edgeswarm_subtasks_leased_total')).toBe(6);
    expect(value(m, 'edgeswarm_jobs', { status: 'failed' })).toBe(3);
  });

  it('counts leases lost to expiry and to a disconnect', async () => {
    const clock = new ManualClock(Date.now());
    hub = await startTestHub({ clock, sweepIntervalMs: 20 });
    const hoarder = await device({ onLease: () => false }); // takes leases and never answers
    const job = await submit({ code: '(n) => n + 1', inputs: [41] });
    await waitFor(() => (hoarder.leases.length === 1 ? true : undefined), 5000, 'the first lease');
    clock.advance(60_000); // past the lease TTL: the next sweep expires it
    await waitFor(async () => (value(await scrape(), 'edgeswarm_subtasks_lease_lost_total', { reason: 'expired' }) === 1 ? true : undefined), 5000, 'the expiry');
    await waitFor(() => (hoarder.leases.length === 2 ? true : undefined), 5000, 'the lease handed out again');
    hoarder.close();
    await waitFor(async () => (value(await scrape(), 'edgeswarm_subtasks_lease_lost_total', { reason: 'disconnected' }) === 1 ? true : undefined), 5000, 'the disconnect');
    await device();
    expect((await finished(job.id)).status).toBe('completed');

    const m = await scrape();
    expect(value(m, 'edgeswarm_subtasks_lease_lost_total', { reason: 'expired' })).toBe(1);
    expect(value(m, 'edgeswarm_subtasks_lease_lost_total', { reason: 'disconnected' })).toBe(1);
    expect(value(m, 'edgeswarm_subtasks_lease_lost_total', { reason: 'restart' })).toBe(0);
    expect(value(m, 'edgeswarm_leases_granted_total')).toBe(3);
    expect(value(m, 'edgeswarm_subtasks_completed_total')).toBe(1);
    expect(value(m, 'edgeswarm_store_write_seconds_count', { op: 'expireLeases' })).toBeGreaterThan(0);
    expect(value(m, 'edgeswarm_store_write_seconds_count', { op: 'releaseConnectionLeases' })).toBe(1);
  });

  it('keeps the same series when many jobs and devices come and go', async () => {
    hub = await startTestHub();
    const first = await device();
    expect((await finished((await submit({ code: '(n) => n', inputs: [1, 2, 3] })).id)).status).toBe('completed');
    first.close();
    const before = hubSeries(await scrape());
    expect(before.length).toBeGreaterThan(50);

    const codes = ['(n) => n * 2', '(n) => { if (n === 3) throw new Error("no"); return n; }', '() => NaN'];
    for (let round = 0; round < 10; round++) {
      const d = await device({ threads: 1 + (round % 3), deviceId: `metrics_device_${round}` });
      const jobs = [];
      for (let j = 0; j < 3; j++) {
        jobs.push(await submit({ name: `job ${round}.${j}`, code: codes[j]!, inputs: { range: { start: 0, end: 20 } }, maxAttempts: 1 }));
      }
      for (const job of jobs) await finished(job.id);
      d.close();
    }
    const after = await scrape();
    expect(value(after, 'edgeswarm_jobs', { status: 'completed' })).toBe(11);
    expect(value(after, 'edgeswarm_jobs', { status: 'failed' })).toBe(20);
    expect(hubSeries(after)).toEqual(before);
    expect(after.filter((s) => s.name.startsWith('edgeswarm_') && Object.values(s.labels).some((v) => /job_|metrics_device_|test_/.test(v)))).toEqual([]);
  });
});

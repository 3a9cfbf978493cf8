/** Result verification through a real hub: replicated jobs wait for distinct devices, liars are quarantined, bad fields are named. */
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceInfo, Job } from '@edgeswarm/shared';
import { startTestHub, waitFor, type TestHub } from './support/test-hub.ts';
import { DeviceFleet } from './support/test-device.ts';
import { parsePrometheusText, sampleValue } from './support/prometheus-text.ts';
import { hashToken, newSubmitterToken } from '../src/auth/principal.ts';

let hub: TestHub;
const fleet = new DeviceFleet();

afterEach(async () => {
  fleet.closeAll();
  await hub?.close();
});

const getJob = async (id: string) => (await hub.api<Job>('GET', `/api/jobs/${id}`)).body;
/** The job once `ready(job)` holds. */
const jobWhen = (id: string, ready: (job: Job) => boolean, what: string, ms = 15_000) =>
  waitFor(async () => {
    const job = await getJob(id);
    return ready(job) ? job : undefined;
  }, ms, what);
const devices = async () => (await hub.api<{ devices: DeviceInfo[] }>('GET', '/api/devices')).body.devices;

describe('result verification through the hub', () => {
  it('a replicated job waits for a second device, says so, and completes once one joins', async () => {
    hub = await startTestHub();
    await fleet.join(hub.url);
    const { status, body: job } = await hub.api<Job>('POST', '/api/jobs', {
      code: '(n) => n * 2',
      inputs: [1, 2, 3, 4],
      reduce: 'sum',
      verify: 'replicate',
    });
    expect(status).toBe(201);
    expect(job).toMatchObject({ verify: 'replicate', replication: 2, quorum: 2, tolerance: 0 });
    const waiting = await jobWhen(job.id, (j) => j.waitingForDevices === true, 'the job to wait for devices');
    expect(waiting).toMatchObject({ status: 'running', progress: { completed: 0, failed: 0 } });
    await fleet.join(hub.url);
    const done = await jobWhen(job.id, (j) => j.status === 'completed', 'the job to complete');
    expect(done.result).toBe(20);
    expect(done.waitingForDevices).toBeUndefined();
    const record = await devices();
    expect(record.map((d) => d.valid)).toEqual([4, 4]);
  });

  it('quarantines a device that returns wrong results, and keeps the right answer', async () => {
    hub = await startTestHub();
    const liar = await fleet.join(hub.url, { tamper: (json) => JSON.stringify(Number(json) + 1) });
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', {
      code: '(n) => n * n',
      inputs: Array.from({ length: 20 }, (_, i) => i),
      reduce: 'sum',
      verify: 'replicate',
    });
    await fleet.join(hub.url);
    await fleet.join(hub.url);
    const done = await jobWhen(job.id, (j) => j.status === 'completed', 'the job to complete');
    expect(done.result).toBe(2470);
    const record = await devices();
    const caught = record.find((d) => d.id === liar.deviceId);
    expect(caught).toMatchObject({ quarantined: true });
    expect(caught?.invalid).toBeGreaterThan(0);
    expect(record.filter((d) => d.id !== liar.deviceId).every((d) => !d.quarantined && d.invalid === 0)).toBe(true);
    // It asks for work and is told why it gets none.
    await expect(liar.request(4)).rejects.toThrow(/^quarantined: this device returned a result that disagreed/);
    const metrics = parsePrometheusText(await (await fetch(`${hub.url}/metrics`, { headers: { Authorization: `Bearer ${hub.token}` } })).text());
    expect(sampleValue(metrics, 'edgeswarm_devices_quarantined_total')).toBe(1);
    // Replicas waiting for their quorum are not failed runs.
    expect(sampleValue(metrics, 'edgeswarm_subtasks_retried_total')).toBe(0);
    // The admin lifts the quarantine; a submitter may not, and an unknown or free device is a 404.
    const lift = (id: string, token = hub.token) =>
      fetch(`${hub.url}/api/devices/${id}/quarantine`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    expect((await lift(liar.deviceId, 'not-a-token')).status).toBe(401);
    const submitter = newSubmitterToken();
    hub.store.createSubmitter('verifier', hashToken(submitter), { maxRunning: 1, maxInputs: 10, perMinute: 1, maxBlobBytes: 0 }, Date.now());
    expect((await lift(liar.deviceId, submitter)).status).toBe(403);
    expect((await lift(liar.deviceId)).status).toBe(204);
    expect((await lift(liar.deviceId)).status).toBe(404);
    expect((await devices()).find((d) => d.id === liar.deviceId)).toMatchObject({ quarantined: false });
    await expect(liar.request(4)).resolves.toBeNull(); // asks again, and is refused no more (no work left)
    const results = (await hub.api<{ results: number[] }>('GET', `/api/jobs/${job.id}/results`)).body.results;
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i * i));
  });

  it('names the field when verification settings do not fit together', async () => {
    hub = await startTestHub();
    const { status, body } = await hub.api<{ error: { code: string; message: string } }>('POST', '/api/jobs', {
      code: '(n) => n',
      inputs: [1],
      verify: 'replicate',
      replication: 2,
      quorum: 3,
    });
    expect(status).toBe(400);
    expect(body.error).toEqual({ code: 'invalid_job', message: 'quorum must be from 1 to replication (2); it is 3' });
  });
});

/** The hub on a real port with real socket.io-client devices and a real SQLite file: whole flows through HTTP and Socket.IO. */
import { afterEach, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { DASHBOARD_NAMESPACE, DEVICE_NAMESPACE, PROTOCOL_VERSION, type FeedSnapshot, type Job } from '@edgeswarm/shared';
import { startTestHub, waitFor, type TestHub } from './support/test-hub.ts';
import { DeviceFleet, TestDevice, type TestDeviceOptions } from './support/test-device.ts';

let hub: TestHub;
const fleet = new DeviceFleet();

afterEach(async () => {
  fleet.closeAll();
  await hub?.close();
});

const device = (options: TestDeviceOptions = {}): Promise<TestDevice> => fleet.join(hub.url, options);

async function finished(id: string): Promise<Job> {
  return waitFor(async () => {
    const { body } = await hub.api<Job>('GET', `/api/jobs/${id}`);
    return ['completed', 'failed', 'cancelled'].includes(body.status) ? body : undefined;
  }, 20_000, `job ${id} to finish`);
}

describe('hub with real devices', () => {
  it('completes a squares job over a range with results in input order', async () => {
    hub = await startTestHub();
    await device();
    await device();
    const { status, body: job } = await hub.api<Job>('POST', '/api/jobs', {
      code: '(n) => n * n',
      inputs: { range: { start: 0, end: 10000 } },
    });
    expect(status).toBe(201);
    const done = await finished(job.id);
    expect(done.status).toBe('completed');
    expect(done.progress).toEqual({ total: 10000, completed: 10000, failed: 0 });
    const { body: page } = await hub.api<{ total: number; results: number[]; missing: number[] }>(
      'GET',
      `/api/jobs/${job.id}/results?offset=0&limit=10000`,
    );
    expect(page.total).toBe(10000);
    expect(page.missing).toEqual([]);
    expect(page.results).toEqual(Array.from({ length: 10000 }, (_, i) => i * i));
    expect(fleet.devices.every((d) => d.runs > 0)).toBe(true);
  });

  it('computes the exact sum with reduce "sum"', async () => {
    hub = await startTestHub();
    await device({ threads: 3 });
    await device({ threads: 1 });
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', {
      code: '(n) => n * n',
      inputs: { range: { start: 0, end: 10000 } },
      reduce: 'sum',
    });
    const done = await finished(job.id);
    expect(done.status).toBe('completed');
    expect(done.result).toBe(333283335000);
  });

  it('runs an inputs array and keeps each result with its input', async () => {
    hub = await startTestHub();
    await device();
    const inputs = Array.from({ length: 3000 }, (_, i) => ({ s: `w${i}` }));
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', { code: '(x) => x.s.toUpperCase()', inputs });
    await finished(job.id);
    const { body } = await hub.api<{ results: string[] }>('GET', `/api/jobs/${job.id}/results?offset=2990&limit=20`);
    expect(body.results).toEqual(Array.from({ length: 10 }, (_, i) => `W${2990 + i}`));
  });

  it('gives the work of a device that disconnects mid-job to the others, counting every result once', async () => {
    hub = await startTestHub();
    let held = 0;
    const quitter = await device({
      onLease: () => {
        held++;
        return false; // takes work and never answers
      },
    });
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', {
      code: '(n) => n + 1',
      inputs: { range: { start: 0, end: 500 } },
      reduce: 'sum',
    });
    await waitFor(() => (held > 0 ? true : undefined), 5000, 'the quitter to hold a lease');
    await device();
    quitter.close();
    const done = await finished(job.id);
    expect(done.status).toBe('completed');
    expect(done.progress.completed).toBe(500);
    expect(done.result).toBe((500 * 501) / 2);
  });

  it('finishes a job whose inputs a silent device holds, by copies to an idle device, without waiting for its leases to expire', async () => {
    hub = await startTestHub();
    let held = 0;
    const silent = await device({
      onLease: (grant) => {
        held += grant.items.length;
        return false; // holds its leases and never answers, while staying connected
      },
    });
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', {
      code: '(n) => n * 2',
      inputs: { range: { start: 0, end: 100 } },
      reduce: 'sum',
    });
    // Slow start: until the job's first success the silent device holds one input.
    await waitFor(() => (held >= 1 ? true : undefined), 5000, 'the silent device to hold an input');
    const helper = await device();
    const done = await finished(job.id);
    expect(done.status).toBe('completed');
    expect(done.progress).toEqual({ total: 100, completed: 100, failed: 0 });
    expect(done.result).toBe(2 * ((99 * 100) / 2));
    expect(helper.runs).toBe(100);
    // The helper ran everything, the silent device's input as a copy; no lease was lost or expired meanwhile.
    expect(silent.socket.connected).toBe(true);
    const losses = hub.store.db.prepare<[], { n: number }>('SELECT coalesce(sum(losses), 0) AS n FROM subtasks').get()?.n;
    expect(losses).toBe(0);
  });

  it('fails a job whose code throws, naming the input and the error, after maxAttempts runs', async () => {
    hub = await startTestHub();
    const d = await device({ threads: 1 });
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', {
      code: '(n) => { if (n === 3) throw new Error("boom at three"); return n; }',
      inputs: [0, 1, 2, 3, 4],
      maxAttempts: 2,
    });
    const done = await finished(job.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('work_error');
    expect(done.error?.input).toBe(3);
    expect(done.error?.message).toContain('boom at three');
    expect(d.stopped).toContain(job.id);
  });

  it('fails a job whose code throws for every input after a handful of runs, not after trying every input', async () => {
    hub = await startTestHub();
    const fleet = [await device(), await device(), await device()];
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', {
      code: '(n) => { throw new TypeError("no good: " + n); }',
      inputs: { range: { start: 0, end: 10000 } },
      maxAttempts: 3,
    });
    const done = await finished(job.id);
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('work_error');
    expect(done.error?.message).toMatch(new RegExp(`input ${done.error?.input} failed 3 time\\(s\\); last error: TypeError: no good: ${done.error?.input}`));
    const runs = fleet.reduce((sum, d) => sum + d.runs, 0);
    // Slow start: each connection holds one input of an unproven job, so runs <= maxAttempts x connections.
    expect(runs).toBeLessThanOrEqual(3 * fleet.length);
    expect(runs).toBeGreaterThanOrEqual(3);
  });

  it('fails a job with invalid_result when a numeric reducer gets a non-number', async () => {
    hub = await startTestHub();
    await device({ threads: 1 });
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', {
      code: '(n) => (n === 2 ? "two" : n)',
      inputs: [0, 1, 2],
      reduce: 'max',
      maxAttempts: 1,
    });
    const done = await finished(job.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'invalid_result', input: 2 });
  });

  it('cancels a running job, tells devices, and refuses to cancel it twice', async () => {
    hub = await startTestHub();
    const d = await device({ onLease: () => false });
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', { code: '(n) => n', inputs: { range: { start: 0, end: 100 } } });
    await waitFor(() => (d.leases.length > 0 ? true : undefined));
    const cancel = await hub.api<Job>('POST', `/api/jobs/${job.id}/cancel`);
    expect(cancel.status).toBe(200);
    expect(cancel.body.status).toBe('cancelled');
    await waitFor(() => (d.stopped.includes(job.id) ? true : undefined), 5000, 'job:stopped');
    const again = await hub.api<{ error: { code: string } }>('POST', `/api/jobs/${job.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('conflict');
  });

  it('drops a late result of a cancelled job without counting it', async () => {
    hub = await startTestHub();
    const d = await device({ autoWork: false });
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', { code: '(n) => n', inputs: [1, 2] });
    const grant = await d.request(2);
    expect(grant?.items[0]?.index).toBe(0);
    await hub.api('POST', `/api/jobs/${job.id}/cancel`);
    const ack = await d.submit(grant!.leaseId, [{ index: 0, ok: true, json: '1' }]);
    expect(ack).toEqual({ ok: true, data: { accepted: 0, dropped: 1 } });
    const { body } = await hub.api<Job>('GET', `/api/jobs/${job.id}`);
    expect(body.progress.completed).toBe(0);
  });

  it('acknowledges a duplicate result but counts it once', async () => {
    hub = await startTestHub();
    const d = await device({ autoWork: false });
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', { code: '(n) => n', inputs: [5, 6] });
    const grant = await d.request(2);
    const first = await d.submit(grant!.leaseId, [{ index: 0, ok: true, json: '5' }]);
    const second = await d.submit(grant!.leaseId, [{ index: 0, ok: true, json: '5' }]);
    expect(first).toEqual({ ok: true, data: { accepted: 1, dropped: 0 } });
    expect(second).toEqual({ ok: true, data: { accepted: 0, dropped: 1 } });
    const { body } = await hub.api<Job>('GET', `/api/jobs/${job.id}`);
    expect(body.progress.completed).toBe(1);
  });

  it('drops, without counting against the device, a result for a job deleted and purged meanwhile', async () => {
    hub = await startTestHub();
    const d = await device({ autoWork: false });
    const { body: job } = await hub.api<Job>('POST', '/api/jobs', { code: '(n) => n', inputs: [1, 2] });
    const grant = (await d.request(1))!;
    expect((await hub.api('DELETE', `/api/jobs/${job.id}`)).status).toBe(204);
    await waitFor(() => ((hub.store.db.prepare('SELECT count(*) AS n FROM leases').get() as { n: number }).n === 0 ? true : undefined));
    const ack = await d.submit(grant.leaseId, [{ index: 0, ok: true, json: '1' }]);
    expect(ack).toEqual({ ok: true, data: { accepted: 0, dropped: 1 } });
    expect(hub.store.db.prepare('SELECT rejected FROM devices WHERE id = ?').get(d.deviceId)).toEqual({ rejected: 0 });
  });

  it('rejects results for inputs the device never held', async () => {
    hub = await startTestHub();
    const a = await device({ autoWork: false });
    const b = await device({ autoWork: false });
    await hub.api<Job>('POST', '/api/jobs', { code: '(n) => n', inputs: [1, 2, 3, 4] });
    const grant = await a.request(1);
    const stolen = await b.submit(grant!.leaseId, [{ index: grant!.items[0]!.index, ok: true, json: '1' }]);
    expect(stolen).toEqual({ ok: true, data: { accepted: 0, dropped: 1 } });
    const outside = await a.submit(grant!.leaseId, [{ index: 3, ok: true, json: '4' }]);
    expect(outside.ok && outside.data.accepted).toBe(0);
    const rejected = (id: string) => (hub.store.db.prepare('SELECT rejected FROM devices WHERE id = ?').get(id) as { rejected: number }).rejected;
    expect([rejected(a.deviceId), rejected(b.deviceId)]).toEqual([1, 1]);
  });

  it('answers a malformed device payload with an error ack instead of crashing', async () => {
    hub = await startTestHub();
    const d = await device({ autoWork: false });
    const ack = await d.socket.timeout(2000).emitWithAck('work:request', { slots: 'many' });
    expect(ack).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    const ack2 = await d.socket.timeout(2000).emitWithAck('work:submit', 'garbage');
    expect(ack2).toMatchObject({ ok: false, error: { code: 'invalid_payload' } });
    expect((await fetch(`${hub.url}/healthz`)).status).toBe(200);
  });

  it('refuses a device that speaks an older protocol with client_too_old', async () => {
    hub = await startTestHub();
    const d = new TestDevice(hub.url, { protocol: PROTOCOL_VERSION - 1 });
    fleet.track(d);
    await expect(d.connected()).rejects.toThrow('client_too_old');
  });

  it('lists connected devices and drops them when they leave', async () => {
    hub = await startTestHub();
    const d = await device({ threads: 3, autoWork: false });
    const listed = await hub.api<{ total: number; devices: { id: string; threads: number; kind: string }[] }>('GET', '/api/devices');
    expect(listed.body.total).toBe(1);
    expect(listed.body.devices[0]).toMatchObject({ id: d.deviceId, threads: 3, kind: 'node', state: 'idle' });
    const stats = await hub.api<{ devices: number; threads: number }>('GET', '/api/stats');
    expect(stats.body).toMatchObject({ devices: 1, threads: 3 });
    d.close();
    await waitFor(async () => ((await hub.api<{ total: number }>('GET', '/api/devices')).body.total === 0 ? true : undefined));
  });

  it('shows a device as working once it holds a lease', async () => {
    hub = await startTestHub();
    const d = await device({ autoWork: false });
    await hub.api('POST', '/api/jobs', { code: '(n) => n', inputs: [1] });
    await d.request(1);
    const listed = await hub.api<{ devices: { state: string }[] }>('GET', '/api/devices');
    expect(listed.body.devices[0]?.state).toBe('working');
  });

  it('pushes feed snapshots to a dashboard with the token and refuses one without', async () => {
    hub = await startTestHub();
    const good = io(hub.url + DASHBOARD_NAMESPACE, { auth: { protocol: PROTOCOL_VERSION, token: hub.token }, transports: ['websocket'], forceNew: true });
    const bad = io(hub.url + DASHBOARD_NAMESPACE, { auth: { protocol: PROTOCOL_VERSION, token: 'wrong' }, transports: ['websocket'], forceNew: true, reconnection: false });
    try {
      const snapshot = await new Promise<FeedSnapshot>((ok) => good.once('feed:snapshot', ok));
      expect(snapshot.stats).toMatchObject({ devices: 0, completed: 0 });
      expect(snapshot.throughput.length).toBe(300);
      const err = await new Promise<Error>((ok) => bad.once('connect_error', ok));
      expect(err.message).toBe('unauthorized');
    } finally {
      good.close();
      bad.close();
    }
  });

  it('refuses a device handshake without a valid device id', async () => {
    hub = await startTestHub();
    const s = io(hub.url + DEVICE_NAMESPACE, { auth: { protocol: PROTOCOL_VERSION, deviceId: 'x', kind: 'browser', threads: 1 }, transports: ['websocket'], forceNew: true, reconnection: false });
    try {
      const err = await new Promise<Error>((ok) => s.once('connect_error', ok));
      expect(err.message).toBe('invalid_handshake');
    } finally {
      s.close();
    }
  });
});

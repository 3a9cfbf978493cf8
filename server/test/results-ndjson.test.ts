/** GET /api/jobs/:id/results with `Accept: application/x-ndjson`: every result streamed, one JSON value per line, in input order. */
import { request } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Job } from '@edgeswarm/shared';
import type { CheckedResult } from '../src/store/job-store.ts';
import { startTestHub, waitFor, type TestHub } from './support/test-hub.ts';
import { TestDevice } from './support/test-device.ts';

let hub: TestHub;
const devices: TestDevice[] = [];

afterEach(async () => {
  vi.restoreAllMocks();
  for (const d of devices.splice(0)) d.close();
  await hub?.close();
});

const NDJSON = { Accept: 'application/x-ndjson' };

function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(hub.url + path, { headers: { Authorization: `Bearer ${hub.token}`, ...headers } });
}

async function submit(spec: Record<string, unknown>): Promise<Job> {
  const res = await hub.api<Job>('POST', '/api/jobs', spec);
  expect(res.status).toBe(201);
  return res.body;
}

/** Stores results straight through the store, as a device would, for the inputs `value` gives one for. */
function storeResults(total: number, value: (index: number) => unknown): void {
  const now = Date.now();
  hub.store.registerDevice({ id: 'ndjson_device', kind: 'node', name: 'ndjson', threads: 1, now });
  const lease = hub.store.leaseWork({ deviceId: 'ndjson_device', connId: 'ndjson_conn', max: total, deadline: performance.now() + 600_000, now, slowStart: false });
  expect(lease?.items.length).toBe(total);
  const results: CheckedResult[] = [];
  for (const item of lease!.items) {
    const v = value(item.index);
    if (v !== undefined) results.push({ index: item.index, ok: true, json: JSON.stringify(v), value: v as never });
  }
  hub.store.recordResults(lease!.lease.id, 'ndjson_device', results, now);
}

describe('results as NDJSON', () => {
  it('streams N lines for N inputs, in input order, with null for the missing ones, across many pages', async () => {
    hub = await startTestHub();
    const total = 25_000;
    const job = await submit({ code: '(n) => n', inputs: { range: { start: 0, end: total } } });
    // Strings with line breaks and objects: each must still be one line of JSON.
    const expected = (i: number) => (i % 3 === 0 ? undefined : i % 3 === 1 ? `line\nbreak ${i}` : { i, square: i * i });
    storeResults(total, expected);

    const res = await get(`/api/jobs/${job.id}/results`, NDJSON);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    const text = await res.text();
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    expect(lines).toHaveLength(total);
    for (let i = 0; i < total; i++) {
      const want = expected(i) ?? null;
      if (JSON.stringify(JSON.parse(lines[i]!)) !== JSON.stringify(want)) {
        expect(lines[i], `line ${i}`).toBe(JSON.stringify(want));
      }
    }
  });

  it('gives the same results as the JSON pages for a job run by a device', async () => {
    hub = await startTestHub();
    const d = new TestDevice(hub.url);
    devices.push(d);
    await d.connected();
    const job = await submit({ code: '(n) => (n % 5 === 0 ? null : { n, half: n / 2 })', inputs: { range: { start: 0, end: 300 } } });
    await waitFor(async () => ((await hub.api<Job>('GET', `/api/jobs/${job.id}`)).body.status === 'completed' ? true : undefined));
    const page = await hub.api<{ results: unknown[]; missing: number[] }>('GET', `/api/jobs/${job.id}/results?limit=1000`);
    expect(page.body.missing).toEqual([]);
    const text = await (await get(`/api/jobs/${job.id}/results`, { Accept: 'application/json, application/x-ndjson' })).text();
    expect(text.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual(page.body.results);
  });

  it('answers an unknown job with a 404 JSON error, and a missing token with 401', async () => {
    hub = await startTestHub();
    const res = await get('/api/jobs/job_nope/results', NDJSON);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
    const anonymous = await fetch(`${hub.url}/api/jobs/job_nope/results`, { headers: NDJSON });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
  });

  it('keeps the JSON page without that Accept header or with q=0', async () => {
    hub = await startTestHub();
    const job = await submit({ code: '(n) => n', inputs: [1, 2, 3] });
    for (const headers of [{}, { Accept: 'application/json' } as Record<string, string>, { Accept: 'application/x-ndjson;q=0, application/json' }]) {
      const res = await get(`/api/jobs/${job.id}/results`, headers);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({ total: 3, offset: 0, results: [null, null, null], missing: [0, 1, 2] });
    }
  });

  it('stops reading the store when the client goes away', async () => {
    hub = await startTestHub();
    const job = await submit({ code: '(n) => n', inputs: { range: { start: 0, end: 10_000_000 } } });
    const reads = vi.spyOn(hub.store, 'getResults');
    // node:http rather than fetch: destroying the request closes the connection at once, as a client that dies would.
    await new Promise<void>((resolve, reject) => {
      const req = request(`${hub.url}/api/jobs/${job.id}/results`, { headers: { Authorization: `Bearer ${hub.token}`, ...NDJSON } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
      req.end();
    });
    await new Promise((r) => setTimeout(r, 200));
    const afterAbort = reads.mock.calls.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(reads.mock.calls.length).toBe(afterAbort);
    expect(afterAbort).toBeLessThan(100); // the whole job is 1,000 pages of 10,000
    expect((await hub.api<Job>('GET', `/api/jobs/${job.id}`)).status).toBe(200); // the hub is fine
  });

  it('cuts the response off, rather than ending it cleanly, when the job is deleted midway', async () => {
    hub = await startTestHub();
    const job = await submit({ code: '(n) => n', inputs: { range: { start: 0, end: 10_000_000 } } });
    const res = await get(`/api/jobs/${job.id}/results`, NDJSON);
    const reader = res.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    expect((await hub.api('DELETE', `/api/jobs/${job.id}`)).status).toBe(204);
    const drain = async () => {
      for (;;) if ((await reader.read()).done) return 'ended cleanly';
    };
    await expect(drain()).rejects.toThrow();
  });
});

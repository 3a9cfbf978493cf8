/** The HTTP API of a real hub: auth, limits, contract errors, and that bad input stores nothing. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '@edgeswarm/shared';
import { startTestHub, type TestHub } from './support/test-hub.ts';

let hub: TestHub;
type ErrorBody = { error: { code: string; message: string } };

beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(async () => {
  await hub.close();
});

describe('HTTP API', () => {
  it('answers /healthz without a token', async () => {
    const res = await fetch(`${hub.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it.each([
    ['no header', undefined],
    ['a wrong token', 'Bearer nope'],
    ['a header without the Bearer scheme', 'Token test-admin-token-0123456789'],
  ])('refuses a request with %s with 401 unauthorized', async (_what, header) => {
    const res = await fetch(`${hub.url}/api/jobs`, { headers: header ? { Authorization: header } : {} });
    expect(res.status).toBe(401);
    expect(((await res.json()) as ErrorBody).error.code).toBe('unauthorized');
  });

  it('refuses a body over 16 MiB with 413 and stores nothing', async () => {
    const before = (await hub.api<{ total: number }>('GET', '/api/jobs')).body.total;
    const huge = JSON.stringify({ code: '(x) => x', inputs: ['x'.repeat(17 * 1024 * 1024)] });
    const res = await hub.api<ErrorBody>('POST', '/api/jobs', huge);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    expect((await hub.api<{ total: number }>('GET', '/api/jobs')).body.total).toBe(before);
  });

  it.each([
    ['{"code": ', 'invalid_json', /not valid JSON/],
    ['', 'invalid_json', /empty/],
    [JSON.stringify({ code: '(n) => n', inputs: [1], colour: 'red' }), 'invalid_job', /unknown field "colour"/],
    [JSON.stringify({ code: '(n) => n', inputs: { range: { start: 3, end: 3 } } }), 'invalid_job', /inputs\.range\.end must be greater than start/],
    [JSON.stringify({ code: '(n) => n', inputs: [1], timeoutMs: 50 }), 'invalid_job', /timeoutMs must be an integer from 100 to 3600000/],
    [JSON.stringify({ code: '(n) => {', inputs: [1] }), 'invalid_code', /syntax error at line 1, column \d+/],
    [JSON.stringify({ code: 'console.log(1)', inputs: [1] }), 'invalid_code', /function expression/],
  ])('rejects %s with 400 %s', async (body, code, message) => {
    const before = (await hub.api<{ total: number }>('GET', '/api/jobs')).body.total;
    const res = await hub.api<ErrorBody>('POST', '/api/jobs', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.message).toMatch(message);
    expect((await hub.api<{ total: number }>('GET', '/api/jobs')).body.total).toBe(before);
  });

  it('answers JSON nested 200,000 deep with 400 naming the field, not a crash', async () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    const res = await hub.api<ErrorBody>('POST', '/api/jobs', `{"code": "(x) => x", "inputs": [${deep}]}`);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/^inputs\[0\].* nests arrays and objects more than 100 levels deep$/);
  });

  it('accepts a 10,000,000-input range and deletes it', async () => {
    const created = await hub.api<Job>('POST', '/api/jobs', { code: '(n) => n', inputs: { range: { start: 0, end: 10_000_000 } } });
    expect(created.status).toBe(201);
    expect(created.body.progress.total).toBe(10_000_000);
    const del = await fetch(`${hub.url}/api/jobs/${created.body.id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${hub.token}` } });
    expect(del.status).toBe(204);
    const gone = await hub.api<ErrorBody>('GET', `/api/jobs/${created.body.id}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('not_found');
  });

  it('returns a job with its defaults and lists jobs newest first', async () => {
    const a = await hub.api<Job>('POST', '/api/jobs', { name: 'first', code: '(n) => n', inputs: [1], meta: { view: 'x' } });
    const b = await hub.api<Job>('POST', '/api/jobs', { name: 'second', code: '(n) => n', inputs: [1] });
    expect(a.body).toMatchObject({ name: 'first', status: 'queued', reduce: 'collect', meta: { view: 'x' }, timeoutMs: 60000, maxAttempts: 3 });
    const list = await hub.api<{ total: number; jobs: Job[] }>('GET', '/api/jobs?offset=0&limit=2');
    expect(list.body.jobs.map((j) => j.id)).toEqual([b.body.id, a.body.id]);
  });

  it.each(['/api/jobs?limit=0', '/api/jobs?limit=abc', '/api/jobs?offset=-1'])('rejects bad paging %s with 400', async (path) => {
    const res = await hub.api<ErrorBody>('GET', path);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(res.body.error.message).toMatch(/offset|limit/);
  });

  it('answers unknown jobs and routes with 404 not_found', async () => {
    for (const [method, path] of [['GET', '/api/jobs/job_nope'], ['GET', '/api/jobs/job_nope/results'], ['POST', '/api/jobs/job_nope/cancel'], ['DELETE', '/api/jobs/job_nope'], ['GET', '/api/nothing']] as const) {
      const res = await hub.api<ErrorBody>(method, path);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
  });
});

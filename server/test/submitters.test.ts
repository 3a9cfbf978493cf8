/** Named submitter tokens: made with `npm run token` (a real process) while the hub runs; each sees and controls only its jobs, within its limits. */
import { afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { io } from 'socket.io-client';
import { DASHBOARD_NAMESPACE, PROTOCOL_VERSION, type FeedSnapshot, type Job } from '@edgeswarm/shared';
import { startTestHub, TEST_TOKEN, waitFor, type TestHub } from './support/test-hub.ts';

const run = promisify(execFile);
const SERVER_DIR = resolve(import.meta.dirname, '..');
let hub: TestHub;

afterEach(async () => {
  await hub?.close();
});

/** `npm run token -- ARGS` as its own process against the hub's data dir. */
async function tokenCli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/token-cli.ts', ...args, '--data-dir', hub.dataDir], { cwd: SERVER_DIR });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function createToken(name: string, ...limits: string[]): Promise<string> {
  const out = await tokenCli('create', name, ...limits);
  expect(out.code, out.stderr).toBe(0);
  const last = out.stdout.trim().split('\n').at(-1) ?? '';
  expect(last).toMatch(/^esk_[A-Za-z0-9_-]{32}$/);
  return last;
}

async function call<T>(token: string, method: string, path: string, body?: unknown) {
  const res = await fetch(hub.url + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T, retryAfter: res.headers.get('retry-after') };
}

const job = (name: string, inputs: unknown = [1, 2]) => ({ name, code: '(n) => n', inputs });

describe('submitter tokens', () => {
  it('are honoured by a running hub as soon as they are made, and refused as soon as they are revoked', async () => {
    hub = await startTestHub();
    const alice = await createToken('alice');
    const created = await call<Job>(alice, 'POST', '/api/jobs', job('first'));
    expect(created.status).toBe(201);
    expect(created.body.owner).toBe('alice');
    const listed = await tokenCli('list');
    expect(listed.stdout).toMatch(/^alice\tactive\t/m);
    expect(listed.stdout).not.toContain(alice); // only the hash is kept
    expect((await tokenCli('revoke', 'alice')).code).toBe(0);
    const refused = await call(alice, 'GET', '/api/stats');
    expect(refused.status).toBe(401);
    // The admin still sees the job of a revoked token.
    expect((await hub.api<Job>('GET', `/api/jobs/${created.body.id}`)).body.owner).toBe('alice');
  });

  it('refuses a name in use, an invalid name, and a bad limit, with exit code 2 and the reason', async () => {
    hub = await startTestHub();
    await createToken('alice');
    expect(await tokenCli('create', 'alice')).toMatchObject({ code: 2, stderr: expect.stringContaining('"alice" is taken') });
    // Not even after revoking: a new token must not inherit the old one's jobs.
    expect((await tokenCli('revoke', 'alice')).code).toBe(0);
    expect(await tokenCli('create', 'alice')).toMatchObject({ code: 2, stderr: expect.stringContaining('"alice" is taken') });
    expect(await tokenCli('create', 'no spaces')).toMatchObject({ code: 2, stderr: expect.stringContaining('NAME must be') });
    expect(await tokenCli('create', 'bob', '--per-minute', '0')).toMatchObject({ code: 2, stderr: expect.stringContaining('--per-minute must be') });
    expect(await tokenCli('revoke', 'nobody')).toMatchObject({ code: 2, stderr: expect.stringContaining('no active token') });
  });

  it('lets a submitter see and control only its own jobs; devices and stats are visible to all; the admin sees everything', async () => {
    hub = await startTestHub();
    const alice = await createToken('alice');
    const bob = await createToken('bob');
    const mine = (await call<Job>(alice, 'POST', '/api/jobs', job('alice job'))).body;
    const theirs = (await call<Job>(bob, 'POST', '/api/jobs', job('bob job'))).body;
    const adminJob = (await hub.api<Job>('POST', '/api/jobs', job('admin job'))).body;
    const list = await call<{ total: number; jobs: Job[] }>(alice, 'GET', '/api/jobs');
    expect(list.body.total).toBe(1);
    expect(list.body.jobs.map((j) => j.id)).toEqual([mine.id]);
    for (const id of [theirs.id, adminJob.id]) {
      expect((await call(alice, 'GET', `/api/jobs/${id}`)).status).toBe(404);
      expect((await call(alice, 'GET', `/api/jobs/${id}/results`)).status).toBe(404);
      expect((await call(alice, 'POST', `/api/jobs/${id}/cancel`)).status).toBe(404);
      expect((await call(alice, 'DELETE', `/api/jobs/${id}`)).status).toBe(404);
    }
    expect((await hub.api<Job>('GET', `/api/jobs/${theirs.id}`)).body.status).toBe('queued'); // untouched
    expect((await call(alice, 'POST', `/api/jobs/${mine.id}/cancel`)).status).toBe(200);
    expect((await call(alice, 'GET', '/api/devices')).status).toBe(200);
    expect((await call(alice, 'GET', '/api/stats')).status).toBe(200);
    expect((await call(alice, 'GET', '/metrics')).status).toBe(401);
    expect((await hub.api<{ total: number }>('GET', '/api/jobs')).body.total).toBe(3);
  });

  it('limits jobs at once and per minute with 429 and Retry-After, and inputs per job with 400 naming inputs', async () => {
    hub = await startTestHub();
    const one = await createToken('one-at-a-time', '--max-running', '1');
    expect((await call(one, 'POST', '/api/jobs', job('a'))).status).toBe(201);
    const busy = await call<{ error: { code: string; message: string } }>(one, 'POST', '/api/jobs', job('b'));
    expect(busy.status).toBe(429);
    expect(busy.body.error.code).toBe('rate_limited');
    expect(busy.body.error.message).toMatch(/at most 1 jobs queued or running/);
    expect(Number(busy.retryAfter)).toBeGreaterThan(0);

    const twice = await createToken('twice-a-minute', '--per-minute', '2');
    expect((await call(twice, 'POST', '/api/jobs', job('a'))).status).toBe(201);
    expect((await call(twice, 'POST', '/api/jobs', job('b'))).status).toBe(201);
    const third = await call<{ error: { message: string } }>(twice, 'POST', '/api/jobs', job('c'));
    expect(third.status).toBe(429);
    expect(third.body.error.message).toMatch(/at most 2 jobs a minute/);
    expect(Number(third.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(third.retryAfter)).toBeLessThanOrEqual(60);
    // Deleting its jobs does not make room within the minute.
    const mine = (await call<{ jobs: Job[] }>(twice, 'GET', '/api/jobs')).body.jobs;
    for (const j of mine) expect((await call(twice, 'DELETE', `/api/jobs/${j.id}`)).status).toBe(204);
    await new Promise((ok) => setTimeout(ok, 300)); // the purge runs in the background
    expect((await call(twice, 'POST', '/api/jobs', job('d'))).status).toBe(429);

    const small = await createToken('small', '--max-inputs', '10');
    const big = await call<{ error: { code: string; message: string } }>(small, 'POST', '/api/jobs', job('big', { range: { start: 0, end: 11 } }));
    expect(big.status).toBe(400);
    expect(big.body.error).toEqual({ code: 'invalid_job', message: 'inputs: this token may submit at most 10 inputs per job; this job has 11' });
  });

  it("shows a submitter's dashboard feed only its jobs, and drops the feed when its token is revoked", async () => {
    hub = await startTestHub();
    const alice = await createToken('alice');
    await call(alice, 'POST', '/api/jobs', job('alice job'));
    await hub.api('POST', '/api/jobs', job('admin job'));
    const socket = io(hub.url + DASHBOARD_NAMESPACE, { auth: { protocol: PROTOCOL_VERSION, token: alice }, transports: ['websocket'], forceNew: true, reconnection: false });
    try {
      const snapshot = await new Promise<FeedSnapshot>((ok) => socket.once('feed:snapshot', ok));
      expect(snapshot.jobs.map((j) => j.name)).toEqual(['alice job']);
      expect(snapshot.jobsTotal).toBe(1);
      const admin = io(hub.url + DASHBOARD_NAMESPACE, { auth: { protocol: PROTOCOL_VERSION, token: TEST_TOKEN }, transports: ['websocket'], forceNew: true, reconnection: false });
      const adminView = await new Promise<FeedSnapshot>((ok) => admin.once('feed:snapshot', ok));
      admin.close();
      expect(adminView.jobsTotal).toBe(2);
      const dropped = new Promise<string>((ok) => socket.once('disconnect', ok));
      await tokenCli('revoke', 'alice');
      expect(await waitFor(() => dropped, 5000, 'the revoked feed to be dropped')).toBe('io server disconnect');
    } finally {
      socket.close();
    }
  });
});

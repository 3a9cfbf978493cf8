/**
 * Several hubs on one PostgreSQL database, as real processes on real ports: any hub serves any job and device, a hub
 * killed mid-job (SIGKILL at crash points) loses nothing acknowledged and its devices carry on through another, a
 * PostgreSQL restart makes the hubs answer 503 meanwhile and lose nothing, and a cancel through one hub stops the
 * job's runs on another's devices.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { DeviceInfo, HubStats, Job } from '@edgeswarm/shared';
import { freshDatabase, startPostgres, type PostgresServer } from './support/postgres-server.ts';
import { freePort, SERVER_DIR, startHubProcess, type HubProcess } from './support/hub-process.ts';
import { startTestAgent } from './support/test-agent.ts';
import { TestDevice } from './support/test-device.ts';
import { waitFor } from './support/test-hub.ts';
import type { Agent } from '../src/agent/agent.ts';

const TOKEN = 'several-hubs-token-0123456789';
let pg: PostgresServer;
const hubs: HubProcess[] = [];
const agents: Agent[] = [];
const devices: TestDevice[] = [];

beforeAll(async () => {
  pg = await startPostgres();
}, 60_000);
afterAll(async () => {
  await pg.stop();
});
afterEach(async () => {
  for (const d of devices.splice(0)) d.close();
  await Promise.all(agents.splice(0).map((a) => a.stop(0)));
  for (const h of hubs.splice(0)) if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill('SIGKILL');
});

interface RunningHub {
  name: string;
  url: string;
  process: HubProcess;
}

async function startHub(database: string, name: string, env: Record<string, string> = {}): Promise<RunningHub> {
  const port = await freePort();
  const hub = startHubProcess(['--port', String(port), '--host', '127.0.0.1', '--database-url', database, '--hub-name', name, '--token', TOKEN], env);
  hubs.push(hub);
  await hub.ready;
  return { name, url: `http://127.0.0.1:${port}`, process: hub };
}

async function call(hub: RunningHub, method: string, path: string, body?: unknown, token = TOKEN): Promise<Response> {
  return fetch(hub.url + path, { method, headers: { Authorization: `Bearer ${token}` }, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function api<T>(hub: RunningHub, method: string, path: string, body?: unknown): Promise<T> {
  const res = await call(hub, method, path, body);
  if (!res.ok) throw new Error(`${method} ${path} through ${hub.name}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const finished = (hub: RunningHub, id: string, timeoutMs = 60_000) =>
  waitFor(
    async () => {
      const job = await api<Job>(hub, 'GET', `/api/jobs/${id}`).catch(() => undefined);
      return job && ['completed', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
    },
    timeoutMs,
    `job ${id} to finish`,
  );

const N = 1500;
const SPEC = {
  code: '(n) => { const end = Date.now() + 2; while (Date.now() < end) {} return n * 3; }',
  inputs: { range: { start: 0, end: N } },
  reduce: 'sum',
};
const EXPECTED_SUM = 3 * (((N - 1) * N) / 2);

async function expectExactResults(hub: RunningHub, id: string): Promise<void> {
  const page = await api<{ results: number[]; missing: number[] }>(hub, 'GET', `/api/jobs/${id}/results?limit=${N}`);
  expect(page.missing).toEqual([]);
  expect(page.results).toEqual(Array.from({ length: N }, (_, i) => i * 3));
}

describe('several hubs on one PostgreSQL database', () => {
  it('leases a job submitted through hub A to devices on hub B, and reads it through B', async () => {
    const db = await freshDatabase(pg);
    const [a, b] = [await startHub(db, 'A'), await startHub(db, 'B')];
    agents.push(startTestAgent(b.url, { threads: 2, name: 'on B' }));
    const job = await api<Job>(a, 'POST', '/api/jobs', SPEC);
    expect(await finished(b, job.id)).toMatchObject({ status: 'completed', result: EXPECTED_SUM, progress: { completed: N, failed: 0 } });
    await expectExactResults(b, job.id);
    const listed = await api<{ devices: DeviceInfo[] }>(a, 'GET', '/api/devices');
    expect(listed.devices.map((d) => d.hub)).toEqual(['B']);
    const stats = await waitFor(async () => {
      const s = await api<HubStats>(a, 'GET', '/api/stats');
      return s.hubs === 2 && s.threads === 2 ? s : undefined;
    }, 10_000, 'hub A to count both hubs and B\'s threads');
    expect(stats).toMatchObject({ devices: 1, completed: N });
  });

  it.each(['lease:committed:15', 'results:committed:15'])(
    'when hub A is killed at %s, every job completes exactly through B and A\'s devices carry on through B',
    async (crashAt) => {
      const db = await freshDatabase(pg);
      const a = await startHub(db, 'A', { EDGESWARM_CRASH_AT: crashAt });
      const b = await startHub(db, 'B');
      agents.push(startTestAgent([a.url, b.url], { threads: 2, name: 'first on A' }));
      agents.push(startTestAgent([b.url, a.url], { threads: 2, name: 'first on B' }));
      const jobs = [await api<Job>(b, 'POST', '/api/jobs', SPEC), await api<Job>(b, 'POST', '/api/jobs', { ...SPEC, priority: 2 })];
      const killed = await a.process.exited;
      expect(killed.signal).toBe('SIGKILL');
      const diedAt = Date.now();
      // A's devices move to B: both devices listed under B, within 60 s.
      await waitFor(async () => {
        const listed = await api<{ devices: DeviceInfo[] }>(b, 'GET', '/api/devices');
        return listed.devices.length === 2 && listed.devices.every((d) => d.hub === 'B') ? true : undefined;
      }, 60_000, 'A\'s device to work through B');
      expect(Date.now() - diedAt).toBeLessThan(60_000);
      for (const job of jobs) {
        expect(await finished(b, job.id)).toMatchObject({ status: 'completed', result: EXPECTED_SUM, progress: { completed: N, failed: 0 } });
        await expectExactResults(b, job.id);
      }
    },
    120_000,
  );

  it('answers 503 while PostgreSQL is down, and finishes the job exactly once it is back', async () => {
    const db = await freshDatabase(pg);
    const a = await startHub(db, 'A');
    agents.push(startTestAgent(a.url, { threads: 2 }));
    const job = await api<Job>(a, 'POST', '/api/jobs', SPEC);
    await waitFor(async () => ((await api<Job>(a, 'GET', `/api/jobs/${job.id}`)).progress.completed > 100 ? true : undefined));
    pg.crash();
    try {
      const res = await waitFor(async () => {
        const r = await call(a, 'GET', `/api/jobs/${job.id}`);
        return r.status === 503 ? r : undefined;
      }, 10_000, 'a 503 while the database is down');
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unavailable');
    } finally {
      pg.start();
    }
    expect(await finished(a, job.id)).toMatchObject({ status: 'completed', result: EXPECTED_SUM, progress: { completed: N } });
    await expectExactResults(a, job.id);
  }, 120_000);

  it('stops the runs of a job cancelled through hub B on hub A\'s devices within 5 s', async () => {
    const db = await freshDatabase(pg);
    const [a, b] = [await startHub(db, 'A'), await startHub(db, 'B')];
    const device = new TestDevice(a.url, { threads: 1 });
    devices.push(device);
    await device.connected();
    const job = await api<Job>(b, 'POST', '/api/jobs', { ...SPEC, code: '(n) => { const end = Date.now() + 20; while (Date.now() < end) {} return n; }' });
    await waitFor(() => (device.runs > 5 ? true : undefined), 30_000, 'the device on A to run the job');
    const cancelledAt = Date.now();
    await api<Job>(b, 'POST', `/api/jobs/${job.id}/cancel`);
    await waitFor(() => (device.stopped.includes(job.id) ? true : undefined), 5_000, 'hub A to tell its device the job stopped');
    expect(Date.now() - cancelledAt).toBeLessThan(5_000);
  });

  it('takes a token made with npm run token against the database on every hub, with its limits across hubs, and labels each hub\'s metrics', async () => {
    const db = await freshDatabase(pg);
    const [a, b] = [await startHub(db, 'A'), await startHub(db, 'B')];
    const made = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/token-cli.ts', 'create', 'alice', '--max-running', '1', '--database-url', db], {
      cwd: SERVER_DIR,
    });
    const alice = made.stdout.trim().split('\n').at(-1) ?? '';
    expect(alice).toMatch(/^esk_/);
    expect((await call(a, 'POST', '/api/jobs', SPEC, alice)).status).toBe(201);
    const second = await call(b, 'POST', '/api/jobs', SPEC, alice);
    expect(second.status).toBe(429); // one job at a time, whichever hub is asked
    await api<Job>(b, 'POST', '/api/jobs', { ...SPEC, name: 'admin job' });
    const mine = (await (await call(b, 'GET', '/api/jobs', undefined, alice)).json()) as { jobs: Job[] };
    expect(mine.jobs.map((j) => j.owner)).toEqual(['alice']);
    const metrics = await waitFor(async () => {
      const text = await (await call(a, 'GET', '/metrics')).text();
      return text.includes('edgeswarm_hubs{hub="A"} 2') ? text : undefined;
    }, 10_000, 'hub A\'s metrics to count two hubs');
    expect(metrics).toMatch(/edgeswarm_jobs\{status="queued",hub="A"\} 2/);
  });
});

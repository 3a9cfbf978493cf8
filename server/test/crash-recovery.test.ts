/**
 * The hub process killed (SIGKILL) at crash points, or stopped with SIGTERM, then restarted on the same data (its SQLite
 * file, or its PostgreSQL database under the same --hub-name): nothing acknowledged is lost and jobs complete.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { Job } from '@edgeswarm/shared';
import { TestDevice } from './support/test-device.ts';
import { waitFor } from './support/test-hub.ts';
import { freePort, startHubProcess, type HubProcess } from './support/hub-process.ts';
import { freshDatabase, startPostgres, type PostgresServer } from './support/postgres-server.ts';

const TOKEN = 'crash-test-token-0123456789';
const running: HubProcess[] = [];
const devices: TestDevice[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const d of devices.splice(0)) d.close();
  for (const h of running.splice(0)) if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

type Engine = 'SQLite' | 'PostgreSQL';
let postgres: Promise<PostgresServer> | undefined;
afterAll(async () => {
  if (postgres) await (await postgres).stop();
});

/** SQLite: integrity_check. PostgreSQL (which checks its own pages): every job's count of completed inputs matches its done subtasks. */
async function integrity(engine: Engine, dataDir: string, databaseUrl: string | undefined): Promise<{ check: string; maxLosses: number }> {
  if (engine === 'SQLite') {
    const db = new Database(join(dataDir, 'edgeswarm.db'), { readonly: true });
    try {
      return {
        check: String(db.pragma('integrity_check', { simple: true })),
        maxLosses: (db.prepare('SELECT coalesce(max(losses), 0) AS n FROM subtasks').get() as { n: number }).n,
      };
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const wrong = await client.query<{ id: string }>(
      `SELECT j.id FROM jobs j WHERE j.completed <> (SELECT count(*) FROM subtasks s WHERE s.job_seq = j.seq AND s.state = 'done')`,
    );
    const losses = await client.query<{ n: number }>('SELECT coalesce(max(losses), 0)::int AS n FROM subtasks');
    return { check: wrong.rows.length === 0 ? 'ok' : `counters off for ${wrong.rows.map((r) => r.id).join(', ')}`, maxLosses: losses.rows[0]?.n ?? -1 };
  } finally {
    await client.end();
  }
}

async function setup(engine: Engine) {
  const dataDir = mkdtempSync(join(tmpdir(), 'edgeswarm-crash-'));
  dirs.push(dataDir);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const databaseUrl = engine === 'PostgreSQL' ? await freshDatabase(await (postgres ??= startPostgres())) : undefined;
  const database = databaseUrl ? ['--database-url', databaseUrl, '--hub-name', 'crash-hub'] : [];
  const start = async (env: Record<string, string> = {}) => {
    const hub = startHubProcess(['--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, '--token', TOKEN, ...database], env);
    running.push(hub);
    await hub.ready;
    return hub;
  };
  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(url + path, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await res.json()) as T;
  };
  const join_ = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const d = new TestDevice(url, { reconnect: true, threads: 2 });
      devices.push(d);
      await d.connected();
    }
  };
  const finished = (id: string, timeoutMs = 30_000) =>
    waitFor(async () => {
      const job = await api<Job>('GET', `/api/jobs/${id}`).catch(() => undefined);
      return job && ['completed', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
    }, timeoutMs, `job ${id} to finish`);
  return { start, api, join: join_, finished, integrity: () => integrity(engine, dataDir, databaseUrl) };
}

const SPEC = {
  code: '(n) => { const end = Date.now() + 1; while (Date.now() < end) {} return n * 3; }',
  inputs: { range: { start: 0, end: 2000 } },
  reduce: 'sum',
};
const EXPECTED_SUM = 3 * ((1999 * 2000) / 2);

describe.each<Engine>(['SQLite', 'PostgreSQL'])('crash and restart (%s)', (engine) => {
  it.each(['lease:committed:5', 'results:committed:5', 'job:finalizing:1'])(
    'loses nothing when killed at %s and completes the job after a restart',
    async (crashAt) => {
      const t = await setup(engine);
      const first = await t.start({ EDGESWARM_CRASH_AT: crashAt });
      await t.join(2);
      const job = await t.api<Job>('POST', '/api/jobs', SPEC);
      const { signal } = await first.exited;
      expect(signal).toBe('SIGKILL');
      const before = await t.integrity();
      expect(before.check).toBe('ok');
      const second = await t.start();
      const done = await t.finished(job.id);
      expect(done).toMatchObject({ status: 'completed', result: EXPECTED_SUM, progress: { total: 2000, completed: 2000, failed: 0 } });
      const page = await t.api<{ results: number[]; missing: number[] }>('GET', `/api/jobs/${job.id}/results?limit=2000`);
      expect(page.missing).toEqual([]);
      expect(page.results).toEqual(Array.from({ length: 2000 }, (_, i) => i * 3));
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
      expect((await t.integrity()).check).toBe('ok');
    },
    60_000,
  );

  it('keeps an acknowledged job and the one committed when killed before answering its submission', async () => {
    const t = await setup(engine);
    const first = await t.start({ EDGESWARM_CRASH_AT: 'job:committed:2' });
    const acknowledged = await t.api<Job>('POST', '/api/jobs', { ...SPEC, name: 'acknowledged' });
    await expect(t.api('POST', '/api/jobs', { ...SPEC, name: 'unanswered' })).rejects.toThrow();
    await first.exited;
    await t.start();
    const { jobs } = await t.api<{ jobs: Job[] }>('GET', '/api/jobs');
    expect(jobs.map((j) => j.name).sort()).toEqual(['acknowledged', 'unanswered']);
    await t.join(2);
    expect(await t.finished(acknowledged.id)).toMatchObject({ status: 'completed', result: EXPECTED_SUM });
  });
});

describe.each<Engine>(['SQLite', 'PostgreSQL'])('graceful stop (%s)', (engine) => {
  it('exits 0 on SIGTERM mid-job; devices reconnect to the restarted hub and finish the job, with no lease counted as lost', async () => {
    const t = await setup(engine);
    const first = await t.start();
    await t.join(2);
    const job = await t.api<Job>('POST', '/api/jobs', SPEC);
    await waitFor(async () => ((await t.api<Job>('GET', `/api/jobs/${job.id}`)).progress.completed > 200 ? true : undefined));
    first.child.kill('SIGTERM');
    const stopped = await first.exited;
    expect(stopped.code).toBe(0);
    expect(first.output()).toContain('stopped');
    expect((await t.integrity()).check).toBe('ok');
    await t.start();
    const done = await t.finished(job.id);
    expect(done).toMatchObject({ status: 'completed', result: EXPECTED_SUM, progress: { completed: 2000 } });
    expect((await t.integrity()).maxLosses).toBe(0);
  });
});

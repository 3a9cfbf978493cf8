/** The SQLite store against a real file in a temp dir: lazy subtasks, paging, chunked deletion, reopening. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJobSpec, type JobSpec } from '@edgeswarm/shared';
import { SqliteJobStore, INPUT_CHUNK } from './sqlite-job-store.ts';
import { SCHEMA_VERSION } from './sqlite-schema.ts';

let dir: string;
let file: string;
let store: SqliteJobStore;
const NOW = Date.UTC(2026, 0, 1);

function spec(body: Record<string, unknown>): JobSpec {
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}
const rows = (table: string) => (store.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
const lease = (max: number) => store.leaseWork({ deviceId: 'dev', connId: 'c1', max, deadline: NOW + 1000, now: NOW });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeswarm-store-'));
  file = join(dir, 'edgeswarm.db');
  store = new SqliteJobStore(file);
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteJobStore', () => {
  it('runs in WAL mode with synchronous=FULL', () => {
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
  });

  it('stores a 10,000,000-input range as its bounds, creating subtask rows only as work is leased', () => {
    const job = store.createJob(spec({ code: '(n) => n', inputs: { range: { start: 5, end: 20_000_005, step: 2 } } }), NOW);
    expect(job.progress.total).toBe(10_000_000);
    expect(rows('subtasks')).toBe(0);
    expect(rows('input_chunks')).toBe(0);
    const grant = lease(3)!;
    expect(grant.items).toEqual([
      { index: 0, input: 5 },
      { index: 1, input: 7 },
      { index: 2, input: 9 },
    ]);
    expect(rows('subtasks')).toBe(3);
    expect(store.workCounts()).toEqual({ completed: 0, queued: 9_999_997, running: 3 });
  });

  it('stores an inputs array once in chunks and hands out the right elements', () => {
    const values = Array.from({ length: INPUT_CHUNK * 2 + 5 }, (_, i) => ({ i }));
    store.createJob(spec({ code: '(x) => x', inputs: values }), NOW);
    expect(rows('input_chunks')).toBe(3);
    let last = null;
    for (let i = 0; i < 3; i++) last = lease(INPUT_CHUNK);
    expect(last?.items.at(-1)).toEqual({ index: INPUT_CHUNK * 2 + 4, input: { i: INPUT_CHUNK * 2 + 4 } });
  });

  it('pages results with null slots and their positions listed as missing', () => {
    const job = store.createJob(spec({ code: '(x) => x', inputs: [1, 2, 3, 4] }), NOW);
    const grant = lease(4)!;
    store.recordResults(grant.lease.id, 'dev', [
      { index: 1, ok: true, json: '"b"', value: 'b' },
      { index: 3, ok: true, json: '"d"', value: 'd' },
    ], NOW);
    expect(store.getResults(job.id, 0, 10)).toEqual({ total: 4, offset: 0, results: [null, 'b', null, 'd'], missing: [0, 2] });
    expect(store.getResults(job.id, 2, 2)).toEqual({ total: 4, offset: 2, results: [null, 'd'], missing: [0] });
    expect(store.getResults(job.id, 10, 5)).toEqual({ total: 4, offset: 10, results: [], missing: [] });
  });

  it('lists jobs newest first with a total', () => {
    const ids = [1, 2, 3].map((n) => store.createJob(spec({ name: `j${n}`, code: '(x) => x', inputs: [n] }), NOW + n).id);
    const page = store.listJobs(0, 2);
    expect(page.total).toBe(3);
    expect(page.items.map((j) => j.id)).toEqual([ids[2], ids[1]]);
  });

  it('hides a deleted job at once and removes its rows in bounded steps', () => {
    const job = store.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: 100_000 } } }), NOW);
    for (let i = 0; i < 10; i++) lease(1000);
    expect(rows('subtasks')).toBe(10_000);
    expect(store.deleteJob(job.id)).toBe(true);
    expect(store.getJob(job.id)).toBeNull();
    expect(store.listJobs(0, 10).total).toBe(0);
    const steps: number[] = [];
    for (let n = store.purgeStep(3000); n > 0; n = store.purgeStep(3000)) steps.push(n);
    expect(Math.max(...steps)).toBeLessThanOrEqual(3000);
    expect(rows('subtasks') + rows('leases') + rows('jobs')).toBe(0);
    expect(store.deleteJob(job.id)).toBe(false);
  });

  it('keeps jobs and results after the database is closed and opened again', () => {
    const job = store.createJob(spec({ code: '(x) => x', inputs: [1, 2], reduce: 'sum' }), NOW);
    const grant = lease(2)!;
    store.recordResults(grant.lease.id, 'dev', [{ index: 0, ok: true, json: '1', value: 1 }], NOW);
    store.close();
    store = new SqliteJobStore(file);
    expect(store.getJob(job.id)?.progress.completed).toBe(1);
    expect(store.getResults(job.id, 0, 2)?.results).toEqual([1, null]);
    expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('purges finished jobs older than the retention cutoff and keeps running ones', () => {
    const old = store.createJob(spec({ code: '(x) => x', inputs: [1] }), NOW);
    const running = store.createJob(spec({ code: '(x) => x', inputs: [1] }), NOW);
    store.cancelJob(old.id, NOW);
    expect(store.purgeFinishedBefore(NOW + 1)).toBe(1);
    expect(store.getJob(old.id)).toBeNull();
    expect(store.getJob(running.id)).not.toBeNull();
  });

  it('shares leases among running jobs in turn, by priority weight, without starving any', () => {
    const make = (name: string, priority: number) =>
      store.createJob(spec({ name, code: '(x) => x', inputs: { range: { start: 0, end: 100_000 } }, priority }), NOW).id;
    const a = make('a', 0);
    const b = make('b', 0);
    const hi = make('hi', 4);
    const lo = make('lo', -10);
    const got = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const grant = lease(10)!;
      got.set(grant.lease.jobId, (got.get(grant.lease.jobId) ?? 0) + grant.items.length);
    }
    const [na, nb, nhi, nlo] = [a, b, hi, lo].map((id) => got.get(id) ?? 0) as [number, number, number, number];
    expect(Math.abs(na - nb)).toBeLessThanOrEqual(10);
    expect(nhi / na).toBeGreaterThan(3.5); // 2^(4/2) = 4
    expect(nhi / na).toBeLessThan(4.5);
    expect(nlo).toBeGreaterThan(0); // 1/32 of a share, but never nothing
    expect(na / nlo).toBeGreaterThan(25);
  });

  it('lets a job submitted later take its turn at once instead of waiting behind older ones', () => {
    const old = store.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: 100_000 } } }), NOW);
    for (let i = 0; i < 50; i++) lease(10);
    const late = store.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: 100 } } }), NOW);
    const next = [lease(10)!, lease(10)!].map((g) => g.lease.jobId);
    expect(next).toContain(late.id);
    expect(next).toContain(old.id);
  });

  it('migrates a version 1 database to the current schema, keeping its jobs, with priority 0', () => {
    const job = store.createJob(spec({ code: '(x) => x', inputs: [1] }), NOW);
    store.db.exec(`DROP TABLE blob_chunks; DROP TABLE blob_owners; DROP TABLE job_blobs; DROP TABLE blobs;
      ALTER TABLE jobs DROP COLUMN bundle; ALTER TABLE jobs DROP COLUMN bundle_size; ALTER TABLE jobs DROP COLUMN shared;
      DROP TABLE replicas; ALTER TABLE jobs DROP COLUMN verify; ALTER TABLE jobs DROP COLUMN replication;
      ALTER TABLE jobs DROP COLUMN quorum; ALTER TABLE jobs DROP COLUMN tolerance; ALTER TABLE jobs DROP COLUMN rechecked;
      ALTER TABLE subtasks DROP COLUMN target; ALTER TABLE devices DROP COLUMN valid; ALTER TABLE devices DROP COLUMN invalid;
      ALTER TABLE devices DROP COLUMN streak; ALTER TABLE devices DROP COLUMN quarantined_at; ALTER TABLE devices DROP COLUMN address;
      DROP TABLE submissions; DROP TABLE submitters; DROP INDEX jobs_by_owner; ALTER TABLE jobs DROP COLUMN owner;
      ALTER TABLE jobs DROP COLUMN priority; ALTER TABLE jobs DROP COLUMN vtime;
      DROP INDEX leases_open_by_job; ALTER TABLE leases DROP COLUMN reported;
      ALTER TABLE leases DROP COLUMN speculative; ALTER TABLE subtasks DROP COLUMN copies`);
    store.db.pragma('user_version = 1');
    store.close();
    store = new SqliteJobStore(file);
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(store.getJob(job.id)).toMatchObject({ id: job.id, priority: 0, owner: null, verify: 'none', replication: 1, quorum: 1 });
  });

  it('refuses a database written by a newer schema', () => {
    store.db.pragma('user_version = 99');
    store.close();
    expect(() => new SqliteJobStore(file)).toThrow(/newer Edgeswarm/);
    store = new SqliteJobStore(join(dir, 'other.db'));
  });
});

/** What only the SQLite engine has: its pragmas, reopening its file, and its schema migrations (the contract's cases are in the conformance suite). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJobSpec, type JobSpec } from '@edgeswarm/shared';
import { SqliteJobStore } from './sqlite-job-store.ts';
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
      ALTER TABLE leases DROP COLUMN speculative; ALTER TABLE subtasks DROP COLUMN copies; DROP TABLE job_device_timing`);
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

/** Group commit of the SQLite store: device writes of one event-loop turn share one commit, and nobody is told before it. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { parseJobSpec, type JobSpec } from '@edgeswarm/shared';
import { SqliteJobStore } from './sqlite-job-store.ts';
import { StoreUnavailableError } from './job-store.ts';
import { ManualClock } from '../clock.ts';
import { sqliteStore } from './async-store.ts';
import { WorkService } from '../scheduler/work-service.ts';

let dir: string;
let file: string;
let store: SqliteJobStore;
let reader: Database.Database;
const NOW = Date.UTC(2026, 0, 1);

function spec(body: Record<string, unknown>): JobSpec {
  const parsed = parseJobSpec(body);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.value;
}
const lease = (conn: string, max: number) => store.leaseWork({ deviceId: `dev-${conn}`, connId: conn, max, deadline: NOW + 1000, now: NOW });
/** What another connection (or the file after a crash) sees: committed rows only. */
const committedSubtasks = () => (reader.prepare('SELECT count(*) AS n FROM subtasks').get() as { n: number }).n;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgeswarm-group-'));
  file = join(dir, 'edgeswarm.db');
  store = new SqliteJobStore(file, { groupCommit: true });
  reader = new Database(file, { readonly: true });
});
afterEach(() => {
  reader.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SqliteJobStore group commit', () => {
  it('commits the device writes of one turn together, and calls afterCommit only once they are durable', async () => {
    store.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: 100 } } }), NOW);
    const commits: number[] = [];
    store.observeCommits((_seconds, calls) => commits.push(calls));
    const told: string[] = [];
    for (const conn of ['a', 'b', 'c']) {
      expect(lease(conn, 5)?.items).toHaveLength(5);
      store.afterCommit((err) => told.push(`${conn}:${err === null ? 'ok' : err.message}`));
    }
    // The writer sees its own writes; nothing is committed or acknowledged yet.
    expect(store.heldCount('a')).toBe(5);
    expect(committedSubtasks()).toBe(0);
    expect(told).toEqual([]);
    await nextTurn();
    expect(committedSubtasks()).toBe(15);
    expect(told).toEqual(['a:ok', 'b:ok', 'c:ok']);
    expect(commits).toEqual([4]); // 3 leases and a read
  });

  it('commits the open group before any other call, so HTTP reads and writes never see uncommitted work', () => {
    store.createJob(spec({ code: '(x) => x', inputs: [1, 2, 3] }), NOW);
    lease('a', 2);
    let told = false;
    store.afterCommit(() => (told = true));
    expect(committedSubtasks()).toBe(0);
    store.createJob(spec({ code: '(x) => x', inputs: [4] }), NOW);
    expect(committedSubtasks()).toBe(2);
    expect(told).toBe(true);
  });

  it('calls afterCommit at once when nothing waits', () => {
    let told: Error | null | undefined;
    store.afterCommit((err) => (told = err));
    expect(told).toBeNull();
  });

  it('acknowledges exactly the writes that were saved when the disk fills up mid-group', async () => {
    store.createJob(spec({ code: '(x) => x', inputs: { range: { start: 0, end: 100_000 } } }), NOW);
    const pages = store.db.pragma('page_count', { simple: true }) as number;
    store.db.pragma(`max_page_count = ${pages + 8}`);
    const outcomes: (Error | null)[] = [];
    let thrown: unknown = null;
    try {
      for (let i = 0; i < 200; i++) {
        lease(`conn-${i}`, 256);
        store.afterCommit((err) => outcomes.push(err));
      }
    } catch (err) {
      thrown = err;
    }
    await nextTurn();
    expect(thrown).toBeInstanceOf(StoreUnavailableError);
    expect(outcomes.length).toBeGreaterThan(0);
    // Told "ok" if and only if saved: SQLite either kept the group's earlier writes or rolled them all back.
    const ok = outcomes.filter((err) => err === null).length;
    expect(outcomes.filter((err) => err !== null).every((err) => err instanceof StoreUnavailableError)).toBe(true);
    expect(committedSubtasks()).toBe(ok * 256);
    // The store recovers once there is room again.
    store.db.pragma('max_page_count = 1073741823');
    const before = committedSubtasks();
    expect(lease('again', 3)?.items).toHaveLength(3);
    await nextTurn();
    expect(committedSubtasks()).toBe(before + 3);
  });

  it('tells a device nothing was saved when the commit of its results fails, and completes nothing meanwhile', async () => {
    const clock = new ManualClock();
    const completed: number[] = [];
    const work = new WorkService({
      store: sqliteStore(store),
      clock,
      events: { jobStopped: () => {}, workAvailable: () => {}, subtasksCompleted: (n) => completed.push(n), jobFinished: () => {} },
      fleetThreads: () => 0,
      slowStart: false,
    });
    const job = store.createJob(spec({ code: '(x) => x', inputs: [4, 5], reduce: 'sum' }), NOW);
    const conn = { deviceId: 'device-a', connId: 'conn-a', threads: 1 };
    const grant = await work.requestWork(conn, 2);
    expect(grant?.items).toHaveLength(2);
    // The next COMMIT fails, as on an I/O error.
    const exec = store.db.exec.bind(store.db);
    let failNext = true;
    store.db.exec = ((sql: string) => {
      if (sql === 'COMMIT' && failNext) {
        failNext = false;
        throw Object.assign(new Database.SqliteError('disk I/O error', 'SQLITE_IOERR'), {});
      }
      return exec(sql);
    }) as typeof store.db.exec;
    // The answer waits for the commit, which fails: the device is told nothing was saved.
    const refused = await work.submitResults(conn, { leaseId: grant!.leaseId, results: [{ index: 0, ok: true, json: '4' }, { index: 1, ok: true, json: '5' }] }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(StoreUnavailableError);
    expect(completed).toEqual([]);
    expect(store.getJob(job.id)).toMatchObject({ status: 'running', progress: { completed: 0 } });
    // Sent again, the results are saved and the job completes.
    const receipt = await work.submitResults(conn, { leaseId: grant!.leaseId, results: [{ index: 0, ok: true, json: '4' }, { index: 1, ok: true, json: '5' }] });
    expect(receipt.accepted).toBe(2);
    await work.settled();
    expect(completed).toEqual([2]);
    expect(store.getJob(job.id)).toMatchObject({ status: 'completed', result: 9 });
  });
});

/**
 * Results of many leases recorded together (one group-commit batch): the leases, their jobs (locked, in order: every
 * change to a job's subtasks happens under its row lock) and their subtasks are read in three statements and written
 * in a few more, whatever the number of calls, with the same
 * rules as `recordResults` one call at a time. Calls that need more (verified jobs, tail copies, unknown leases,
 * another device's lease) are recorded one at a time after the others, in the same transaction.
 */
import type { JobError } from '@edgeswarm/shared';
import type { CheckedResult, RecordOutcome } from '../job-store.ts';
import type { BatchGroup } from './pg-batch.ts';
import type { Queryable } from './pg-session.ts';
import { failRow, isActive, recordResults, renewLeases, type JobRow, type LeaseRow } from './pg-work.ts';

export interface ResultsCall {
  leaseId: string;
  deviceId: string;
  results: CheckedResult[];
  now: number;
}

interface SubRow {
  job_seq: number;
  idx: number;
  state: string;
  attempts: number;
  lease_id: string | null;
}

const emptyOutcome = (): RecordOutcome => ({
  accepted: 0,
  completed: 0,
  dropped: 0,
  rejected: 0,
  jobsToFinalize: [],
  jobsFailed: [],
  jobsReopened: [],
  requeued: 0,
  failedRuns: 0,
  quarantined: 0,
});

async function recordMany(q: Queryable, calls: ResultsCall[]): Promise<RecordOutcome[]> {
  const leases = new Map(
    (await q.query<LeaseRow>('SELECT * FROM leases WHERE id = ANY($1)', [[...new Set(calls.map((c) => c.leaseId))]])).rows.map((l) => [l.id, l]),
  );
  const seqs = [...new Set([...leases.values()].map((l) => l.job_seq))].sort((a, b) => a - b);
  // The jobs are read, not locked: what a result needs of them does not change while they run (their code, reducer,
  // attempts), and their counters are added to at the end. The subtasks are what is locked (below), so hubs recording
  // results of one job at the same time wait for each other only on the same inputs, and on the counters' row at the end.
  const jobs = new Map((await q.query<JobRow>('SELECT * FROM jobs WHERE seq = ANY($1)', [seqs])).rows.map((j) => [j.seq, j]));
  const simple = (c: ResultsCall): boolean => {
    const lease = leases.get(c.leaseId);
    const job = lease ? jobs.get(lease.job_seq) : undefined;
    return lease !== undefined && job !== undefined && lease.device_id === c.deviceId && job.verify === 'none' && !lease.speculative;
  };
  // Every subtask the simple calls report on, locked.
  const pairs: { seq: number[]; idx: number[] } = { seq: [], idx: [] };
  for (const c of calls) {
    if (!simple(c)) continue;
    const lease = leases.get(c.leaseId) as LeaseRow;
    const held = new Set(JSON.parse(lease.items) as number[]);
    for (const r of c.results) {
      if (!held.has(r.index)) continue;
      pairs.seq.push(lease.job_seq);
      pairs.idx.push(r.index);
    }
  }
  const subs = new Map<string, SubRow>();
  // One indexed lookup per job (a batch's results are mostly of one job).
  const byJob = new Map<number, number[]>();
  pairs.seq.forEach((seq, i) => {
    const list = byJob.get(seq);
    if (list) list.push(pairs.idx[i] ?? 0);
    else byJob.set(seq, [pairs.idx[i] ?? 0]);
  });
  for (const [seq, indexes] of [...byJob.entries()].sort((a, b) => a[0] - b[0])) {
    // Locked in index order (every hub does so): a result for an input another hub is recording waits, then reads
    // the input as that hub left it (done: the result is dropped).
    const rows = await q.query<SubRow>(
      'SELECT job_seq, idx, state, attempts, lease_id FROM subtasks WHERE job_seq = $1 AND idx = ANY($2) ORDER BY idx FOR UPDATE',
      [seq, indexes],
    );
    for (const r of rows.rows) subs.set(`${r.job_seq}:${r.idx}`, r);
  }

  const done: { seq: number[]; idx: number[]; json: string[] } = { seq: [], idx: [], json: [] };
  const retried: { seq: number[]; idx: number[]; state: string[]; attempts: number[] } = { seq: [], idx: [], state: [], attempts: [] };
  const counters = new Map<number, { completed: number; leased: number; queued: number }>();
  const deviceCounts = new Map<string, { completed: number; failed: number; rejected: number }>();
  const failed = new Map<number, { error: JobError; now: number }>();
  /** For each job, the outcome of the last call that completed some of its inputs (it reports the job done, if it is). */
  const lastCompleting = new Map<number, RecordOutcome>();
  const outcomes: (RecordOutcome | null)[] = [];
  const touchedLeases: string[] = [];
  for (const c of calls) {
    if (!simple(c)) {
      outcomes.push(null);
      continue;
    }
    const outcome = emptyOutcome();
    const lease = leases.get(c.leaseId) as LeaseRow;
    const job = jobs.get(lease.job_seq) as JobRow;
    const held = new Set(JSON.parse(lease.items) as number[]);
    const counter = counters.get(job.seq) ?? { completed: 0, leased: 0, queued: 0 };
    counters.set(job.seq, counter);
    let completed = 0;
    let failedRuns = 0;
    for (const r of c.results) {
      if (!held.has(r.index)) {
        outcome.rejected++;
        continue;
      }
      const sub = subs.get(`${job.seq}:${r.index}`);
      if (!isActive(job) || failed.has(job.seq) || !sub || sub.state === 'done' || sub.state === 'failed') {
        outcome.dropped++;
        continue;
      }
      if (r.ok) {
        done.seq.push(job.seq);
        done.idx.push(r.index);
        done.json.push(r.json);
        if (sub.state === 'leased') counter.leased--;
        else counter.queued--;
        sub.state = 'done';
        sub.lease_id = null;
        completed++;
        outcome.accepted++;
        continue;
      }
      // An error counts as an attempt only from the lease that currently holds the subtask.
      if (sub.state !== 'leased' || sub.lease_id !== c.leaseId) {
        outcome.dropped++;
        continue;
      }
      failedRuns++;
      outcome.accepted++;
      counter.leased--;
      const attempts = sub.attempts + 1;
      const state = attempts >= job.max_attempts ? 'failed' : 'queued';
      retried.seq.push(job.seq);
      retried.idx.push(r.index);
      retried.state.push(state);
      retried.attempts.push(attempts);
      sub.state = state;
      sub.attempts = attempts;
      sub.lease_id = null;
      if (state === 'failed') {
        failed.set(job.seq, { error: { code: r.code, message: `input ${r.index} failed ${attempts} time(s); last error: ${r.message}`, input: r.index }, now: c.now });
        outcome.jobsFailed.push(job.id);
      } else {
        counter.queued++;
        outcome.requeued++;
      }
    }
    counter.completed += completed;
    outcome.completed = completed;
    outcome.failedRuns = failedRuns;
    const device = deviceCounts.get(c.deviceId) ?? { completed: 0, failed: 0, rejected: 0 };
    device.completed += completed;
    device.failed += failedRuns;
    device.rejected += outcome.rejected;
    deviceCounts.set(c.deviceId, device);
    if (completed > 0) lastCompleting.set(job.seq, outcome);
    if (lease.open) touchedLeases.push(lease.id);
    outcomes.push(outcome);
  }

  if (done.seq.length > 0) {
    await q.query(
      `UPDATE subtasks s SET state = 'done', result = u.json, lease_id = NULL FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(seq, idx, json)
        WHERE s.job_seq = u.seq AND s.idx = u.idx`,
      [done.seq, done.idx, done.json],
    );
  }
  if (retried.seq.length > 0) {
    await q.query(
      `UPDATE subtasks s SET state = u.state, attempts = u.attempts, lease_id = NULL
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::int[]) AS u(seq, idx, state, attempts)
        WHERE s.job_seq = u.seq AND s.idx = u.idx`,
      [retried.seq, retried.idx, retried.state, retried.attempts],
    );
  }
  const devices = [...deviceCounts.entries()].filter(([, d]) => d.completed || d.failed || d.rejected);
  if (devices.length > 0) {
    await q.query(
      `UPDATE devices d SET completed = d.completed + u.completed, failed = d.failed + u.failed, rejected = d.rejected + u.rejected
         FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, completed, failed, rejected) WHERE d.id = u.id`,
      [devices.map(([id]) => id), devices.map(([, d]) => d.completed), devices.map(([, d]) => d.failed), devices.map(([, d]) => d.rejected)],
    );
  }
  for (const [seq, { error, now }] of failed) await failRow(q, seq, error, now);
  // Leases with nothing left to report close.
  if (touchedLeases.length > 0) {
    await q.query(
      `UPDATE leases l SET open = false WHERE l.id = ANY($1) AND l.open
         AND NOT EXISTS (SELECT 1 FROM subtasks s WHERE s.lease_id = l.id AND s.state = 'leased')`,
      [[...new Set(touchedLeases)]],
    );
  }
  const changed = [...counters.entries()].filter(([, d]) => d.completed || d.leased || d.queued).sort((a, b) => a[0] - b[0]);
  if (changed.length > 0) {
    const seqsChanged = changed.map(([seq]) => seq);
    // The counters' rows, locked in seq order as every batch locks jobs, last (held to the commit: other hubs'
    // batches of these jobs wait for them from here on).
    await q.query('SELECT seq FROM jobs WHERE seq = ANY($1) ORDER BY seq FOR UPDATE', [seqsChanged]);
    const after = await q.query<{ seq: number; completed: number; total: number }>(
      `UPDATE jobs j SET completed = j.completed + u.completed, leased = j.leased + u.leased, queued = j.queued + u.queued
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(seq, completed, leased, queued) WHERE j.seq = u.seq
       RETURNING j.seq, j.completed, j.total`,
      [seqsChanged, changed.map(([, d]) => d.completed), changed.map(([, d]) => d.leased), changed.map(([, d]) => d.queued)],
    );
    // Every input done: the batch whose results made it so (one, whichever hub) reports the job for finalizing.
    for (const row of after.rows) {
      const added = counters.get(row.seq)?.completed ?? 0;
      const outcome = lastCompleting.get(row.seq);
      const job = jobs.get(row.seq);
      if (outcome && job && added > 0 && !failed.has(row.seq) && row.completed >= row.total && row.completed - added < row.total) {
        outcome.jobsToFinalize.push(job.id);
      }
    }
  }
  // The rest, one at a time, now that the others are written.
  const out: RecordOutcome[] = [];
  for (const [i, c] of calls.entries()) out.push(outcomes[i] ?? (await recordResults(q, c.leaseId, c.deviceId, c.results, c.now)));
  return out;
}

export const RESULTS: BatchGroup<ResultsCall, RecordOutcome> = {
  name: 'results',
  many: recordMany,
  one: (q, c) => recordResults(q, c.leaseId, c.deviceId, c.results, c.now),
};

export interface RenewCall {
  connId: string;
  deadline: number;
}

/** Lease renewals of many connections in one statement. */
export const RENEWALS: BatchGroup<RenewCall, number> = {
  name: 'renewals',
  async many(q, calls) {
    const rows = await q.query<{ conn_id: string; n: number }>(
      `WITH u AS (SELECT DISTINCT ON (conn) conn, deadline FROM unnest($1::text[], $2::float8[]) AS x(conn, deadline) ORDER BY conn, deadline DESC),
            renewed AS (UPDATE leases l SET deadline = least(u.deadline, l.max_deadline) FROM u WHERE l.conn_id = u.conn AND l.open RETURNING l.conn_id)
       SELECT conn_id, count(*) AS n FROM renewed GROUP BY conn_id`,
      [calls.map((c) => c.connId), calls.map((c) => c.deadline)],
    );
    const counts = new Map(rows.rows.map((r) => [r.conn_id, Number(r.n)]));
    return calls.map((c) => counts.get(c.connId) ?? 0);
  },
  one: (q, c) => renewLeases(q, c.connId, c.deadline),
};

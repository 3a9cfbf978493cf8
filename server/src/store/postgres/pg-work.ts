/**
 * The work plane on PostgreSQL: leases (fair share, slow start, tail copies), results (attempts, failures), renewals
 * and releases (losses, `device_lost`), as the SQLite engine does them; verified jobs' replicas are handed to
 * `pg-verified.ts`. Every function runs inside the caller's transaction; a job's row is locked (FOR UPDATE) while its
 * counters change, so hubs on one database serialize per job and never count an input twice.
 */
import { randomBytes } from 'node:crypto';
import { limits, rangeAt, type JobError, type JsonValue, type LeaseItem, type SharedFile } from '@edgeswarm/shared';
import type { ActiveLease, CheckedResult, LeaseContext, LeaseRecord, LeaseRequest, RecordOutcome, ReleaseOutcome } from '../job-store.ts';
import { priorityWeight, slowStartMax } from '../store-policy.ts';
import type { Queryable } from './pg-session.ts';
import * as verified from './pg-verified.ts';

export const ACTIVE = `status IN ('queued', 'running') AND NOT deleted`;
/** Elements of an inputs array stored per row (as the SQLite engine). */
const INPUT_CHUNK = 1024;

/** A lease request and the hub that grants it. */
export type HubLeaseRequest = LeaseRequest & { hub: string };

export interface JobRow {
  seq: number;
  id: string;
  name: string;
  code: string;
  inputs_kind: 'array' | 'range';
  range_start: number | null;
  range_step: number | null;
  total: number;
  reduce: LeaseContext['reduce'];
  timeout_ms: number;
  max_attempts: number;
  status: string;
  next_index: number;
  queued: number;
  leased: number;
  completed: number;
  deleted: boolean;
  priority: number;
  owner: string | null;
  verify: string;
  bundle: string | null;
  bundle_size: number | null;
  shared: string | null;
  replication: number;
  quorum: number;
  tolerance: number;
  vtime: number;
}

export interface LeaseRow {
  id: string;
  job_seq: number;
  device_id: string;
  conn_id: string;
  deadline: number;
  items: string;
  open: boolean;
  speculative: boolean;
  reported: number;
}

export const newId = (prefix: string): string => prefix + randomBytes(12).toString('base64url');
export const isActive = (job: JobRow) => (job.status === 'queued' || job.status === 'running') && !job.deleted;

async function lockJob(q: Queryable, seq: number): Promise<JobRow | undefined> {
  return (await q.query<JobRow>('SELECT * FROM jobs WHERE seq = $1 FOR UPDATE', [seq])).rows[0];
}

export async function inputsOf(q: Queryable, job: JobRow, indexes: number[]): Promise<LeaseItem[]> {
  if (job.inputs_kind === 'range') {
    const range = { start: job.range_start ?? 0, end: 0, step: job.range_step ?? 1 };
    return indexes.map((index) => ({ index, input: rangeAt(range, index) }));
  }
  const wanted = [...new Set(indexes.map((i) => Math.floor(i / INPUT_CHUNK)))];
  const rows = await q.query<{ chunk: number; items: string }>('SELECT chunk, items FROM input_chunks WHERE job_seq = $1 AND chunk = ANY($2)', [job.seq, wanted]);
  const chunks = new Map(rows.rows.map((r) => [r.chunk, JSON.parse(r.items) as JsonValue[]]));
  return indexes.map((index) => {
    const values = chunks.get(Math.floor(index / INPUT_CHUNK));
    if (!values) throw new Error(`input chunk ${Math.floor(index / INPUT_CHUNK)} of job ${job.id} is missing`);
    return { index, input: values[index % INPUT_CHUNK] ?? null };
  });
}

/** Inserts a lease of `indexes` (its lifetime capped at TTL + one timeout per input) and marks the device working. */
async function openLease(q: Queryable, job: JobRow, request: HubLeaseRequest, indexes: number[], speculative: boolean): Promise<ActiveLease> {
  const lease: LeaseRecord = { id: newId('lease_'), jobId: job.id, deviceId: request.deviceId, connId: request.connId, deadline: request.deadline, items: indexes };
  await q.query(
    `INSERT INTO leases (id, job_seq, device_id, conn_id, deadline, max_deadline, items, speculative, hub) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [
      lease.id,
      job.seq,
      lease.deviceId,
      lease.connId,
      lease.deadline,
      request.deadline + indexes.length * job.timeout_ms,
      JSON.stringify(indexes),
      speculative,
      request.hub,
    ],
  );
  await q.query(`UPDATE devices SET state = 'working' WHERE id = $1 AND state <> 'working'`, [request.deviceId]);
  const active: ActiveLease = {
    lease,
    items: await inputsOf(q, job, indexes),
    code: job.code,
    bundle: job.bundle === null ? null : { blob: job.bundle, size: job.bundle_size ?? 0 },
    shared: job.shared === null ? [] : (JSON.parse(job.shared) as SharedFile[]),
    timeoutMs: job.timeout_ms,
    jobName: job.name,
    owner: job.owner,
  };
  if (speculative) active.speculative = true;
  return active;
}

async function quarantined(q: Queryable, deviceId: string): Promise<boolean> {
  return (await q.query('SELECT 1 FROM devices WHERE id = $1 AND quarantined_at IS NOT NULL', [deviceId])).rowCount !== 0;
}

export async function leaseWork(q: Queryable, request: HubLeaseRequest, random: () => number): Promise<ActiveLease | null> {
  if (await quarantined(q, request.deviceId)) return null;
  const room = request.maxHeld === undefined ? Infinity : request.maxHeld - (await heldCount(q, request.connId));
  if (room <= 0) return null;
  const slow = request.slowStart === true;
  const address = request.address ?? null;
  // Jobs with work this device may take: a verified job's queued inputs count only when one has a slot open that this
  // device may fill (the rules of `verified.pick`), so jobs waiting for other devices do not crowd out the rest. The
  // address rule's measure is counted only when a verified job runs.
  const spread = (await q.query(`SELECT 1 FROM jobs WHERE ${ACTIVE} AND verify <> 'none' LIMIT 1`)).rowCount ? await verified.spreadAddresses(q) : 0;
  const candidates = await q.query<{ seq: number }>(
    `SELECT seq FROM jobs j WHERE ${ACTIVE} AND (next_index < total OR (queued > 0 AND (verify = 'none' OR EXISTS (
        SELECT 1 FROM subtasks s WHERE s.job_seq = j.seq AND s.state = 'queued'
          AND NOT EXISTS (SELECT 1 FROM replicas r WHERE ${verified.BLOCKS('$1', '$2', '$3')})))))
      ORDER BY vtime, seq LIMIT 20`,
    [request.deviceId, address, spread],
  );
  for (const { seq } of candidates.rows) {
    const job = await lockJob(q, seq);
    if (!job || !isActive(job) || !(job.next_index < job.total || job.queued > 0)) continue;
    const isVerified = job.verify !== 'none';
    if (slow && job.completed === 0) {
      const held = await q.query<{ n: number }>(
        isVerified
          ? `SELECT count(*) AS n FROM leases l JOIN replicas r ON r.lease_id = l.id AND r.state = 'leased' WHERE l.conn_id = $1 AND l.job_seq = $2 AND l.open`
          : `SELECT count(*) AS n FROM leases l JOIN subtasks s ON s.lease_id = l.id AND s.state = 'leased' WHERE l.conn_id = $1 AND l.job_seq = $2 AND l.open`,
        [request.connId, seq],
      );
      if ((held.rows[0]?.n ?? 0) > 0) continue;
    }
    const max = Math.min(room, slow ? slowStartMax(request.max, job.completed) : request.max);
    if (isVerified) {
      const leased = await leaseReplicas(q, job, request, max, spread, random);
      if (leased) return leased;
      continue; // this device already runs or ran every open input of this job
    }
    const queued = (
      await q.query<{ idx: number }>(`SELECT idx FROM subtasks WHERE job_seq = $1 AND state = 'queued' ORDER BY idx LIMIT $2 FOR UPDATE SKIP LOCKED`, [seq, max])
    ).rows.map((r) => r.idx);
    const fresh = Math.min(max - queued.length, job.total - job.next_index);
    const indexes = [...queued];
    for (let i = 0; i < fresh; i++) indexes.push(job.next_index + i);
    if (indexes.length === 0) continue;
    const active = await openLease(q, job, request, indexes, false);
    if (queued.length > 0) await q.query(`UPDATE subtasks SET state = 'leased', lease_id = $1 WHERE job_seq = $2 AND idx = ANY($3)`, [active.lease.id, seq, queued]);
    if (fresh > 0) {
      await q.query(`INSERT INTO subtasks (job_seq, idx, state, lease_id) SELECT $1, i, 'leased', $2 FROM generate_series($3::bigint, $4::bigint) AS i`, [
        seq,
        active.lease.id,
        job.next_index,
        job.next_index + fresh - 1,
      ]);
    }
    await q.query(
      `UPDATE jobs SET queued = queued - $1, next_index = next_index + $2, leased = leased + $3, status = 'running',
         started_at = coalesce(started_at, $4), vtime = vtime + $5 WHERE seq = $6`,
      [queued.length, fresh, indexes.length, request.now, indexes.length / priorityWeight(job.priority), seq],
    );
    return active;
  }
  return null;
}

/** A lease of replicas of a verified job's inputs, each on a device that has not run it; null when none fits. */
async function leaseReplicas(q: Queryable, job: JobRow, request: HubLeaseRequest, max: number, spread: number, random: () => number): Promise<ActiveLease | null> {
  const spot: verified.DeviceSpot = { deviceId: request.deviceId, address: request.address ?? null };
  const picks = await verified.pick(q, job, spot, max, spread, random);
  if (picks.length === 0) return null;
  const active = await openLease(q, job, request, picks.map((p) => p.idx), false);
  const delta = await verified.hold(q, job, active.lease.id, spot, picks);
  // Counters: `queued` and `leased` count inputs by state (a fresh input may stay queued, with slots open).
  await q.query(
    `UPDATE jobs SET queued = queued + $1, next_index = next_index + $2, leased = leased + $3, status = 'running',
       started_at = coalesce(started_at, $4), vtime = vtime + $5 WHERE seq = $6`,
    [delta.queued, delta.fresh, delta.leased, request.now, picks.length / priorityWeight(job.priority), job.seq],
  );
  return active;
}

export async function leaseTail(q: Queryable, request: HubLeaseRequest): Promise<ActiveLease | null> {
  if (await quarantined(q, request.deviceId)) return null;
  const open = await q.query<{ n: number }>('SELECT count(*) AS n FROM leases WHERE conn_id = $1 AND open', [request.connId]);
  if ((open.rows[0]?.n ?? 0) > 0) return null;
  const jobs = await q.query<{ seq: number }>(
    `SELECT seq FROM jobs WHERE ${ACTIVE} AND verify = 'none' AND queued = 0 AND next_index >= total AND leased > 0 ORDER BY vtime, seq LIMIT 20`,
  );
  for (const { seq } of jobs.rows) {
    const job = await lockJob(q, seq);
    if (!job || !isActive(job)) continue;
    const indexes = (
      await q.query<{ idx: number }>(
        // Driven from the job's open leases (few at the end of a job), each lease's inputs by its index.
        `SELECT s.idx FROM leases l CROSS JOIN LATERAL (
            SELECT idx FROM subtasks WHERE lease_id = l.id AND state = 'leased' AND copies = 0 FOR UPDATE SKIP LOCKED) AS s
          WHERE l.job_seq = $1 AND l.open AND NOT l.speculative AND l.device_id <> $2
          ORDER BY l.granted, s.idx LIMIT $3`,
        [seq, request.deviceId, request.max],
      )
    ).rows.map((r) => r.idx);
    if (indexes.length === 0) continue;
    const active = await openLease(q, job, request, indexes, true);
    await q.query('UPDATE subtasks SET copies = 1 WHERE job_seq = $1 AND idx = ANY($2)', [seq, indexes]);
    return active;
  }
  return null;
}

export async function heldCount(q: Queryable, connId: string): Promise<number> {
  const row = await q.query<{ n: number }>(
    // Counted per open lease (a join lets the planner scan every leased input of every lease; see HELD_BY_CONN).
    `SELECT coalesce(sum((SELECT count(*) FROM subtasks s WHERE s.lease_id = l.id AND s.state = 'leased')
          + (SELECT count(*) FROM replicas r WHERE r.lease_id = l.id AND r.state = 'leased')), 0)::bigint AS n
       FROM leases l WHERE l.conn_id = $1 AND l.open`,
    [connId],
  );
  return row.rows[0]?.n ?? 0;
}

/** The leases with these ids, their job's id, reducer and whether it still runs (one statement for them all). */
export async function getLeaseContexts(q: Queryable, leaseIds: string[]): Promise<Map<string, LeaseContext>> {
  const rows = (
    await q.query<LeaseRow & { job_id: string; reduce: LeaseContext['reduce']; status: string; deleted: boolean }>(
      `SELECT l.*, j.id AS job_id, j.reduce, j.status, j.deleted FROM leases l JOIN jobs j ON j.seq = l.job_seq WHERE l.id = ANY($1)`,
      [leaseIds],
    )
  ).rows;
  return new Map(
    rows.map((row) => [
      row.id,
      {
        lease: { id: row.id, jobId: row.job_id, deviceId: row.device_id, connId: row.conn_id, deadline: row.deadline, items: JSON.parse(row.items) as number[] },
        jobId: row.job_id,
        reduce: row.reduce,
        jobActive: (row.status === 'queued' || row.status === 'running') && !row.deleted,
      },
    ]),
  );
}

/** Fails a job (one more failed input) and ends its leases and running replicas. */
export async function failRow(q: Queryable, seq: number, error: JobError, now: number): Promise<void> {
  // Only a job that still runs fails (another hub may have cancelled it while results were recorded).
  const ended = await q.query(
    `UPDATE jobs SET failed = failed + 1, status = 'failed', finished_at = $1, result = NULL, error = $2 WHERE seq = $3 AND status IN ('queued', 'running')`,
    [now, JSON.stringify(error), seq],
  );
  if (ended.rowCount === 0) return;
  await q.query('UPDATE leases SET open = false WHERE job_seq = $1 AND open', [seq]);
  await q.query(`DELETE FROM replicas WHERE job_seq = $1 AND state = 'leased'`, [seq]);
}

async function addDeviceCounts(q: Queryable, id: string, completed: number, failed: number, rejected: number): Promise<void> {
  if (completed || failed || rejected) {
    await q.query('UPDATE devices SET completed = completed + $1, failed = failed + $2, rejected = rejected + $3 WHERE id = $4', [completed, failed, rejected, id]);
  }
}

/** Closes a tail copy's lease; its inputs that still wait for a result may get another copy. */
async function closeCopy(q: Queryable, row: LeaseRow): Promise<void> {
  await q.query('UPDATE leases SET open = false WHERE id = $1', [row.id]);
  await q.query('UPDATE subtasks SET copies = 0 WHERE job_seq = $1 AND copies = 1 AND idx = ANY($2)', [row.job_seq, JSON.parse(row.items) as number[]]);
}

export async function recordResults(q: Queryable, leaseId: string, deviceId: string, results: CheckedResult[], now: number): Promise<RecordOutcome> {
  const outcome: RecordOutcome = { accepted: 0, completed: 0, dropped: 0, rejected: 0, jobsToFinalize: [], jobsFailed: [], jobsReopened: [], requeued: 0, failedRuns: 0, quarantined: 0 };
  const leaseRow = (await q.query<LeaseRow>('SELECT * FROM leases WHERE id = $1', [leaseId])).rows[0];
  const job = leaseRow ? await lockJob(q, leaseRow.job_seq) : undefined;
  if (!leaseRow || !job) {
    // Unknown lease: its job was deleted and purged (or the id is made up). Nothing to count.
    outcome.dropped = results.length;
    return outcome;
  }
  if (leaseRow.device_id !== deviceId) {
    outcome.rejected = results.length;
    await addDeviceCounts(q, deviceId, 0, 0, results.length);
    return outcome;
  }
  const held = new Set(JSON.parse(leaseRow.items) as number[]);
  const active = isActive(job);
  if (job.verify !== 'none') return recordReplicas(q, job, leaseRow, deviceId, held, active, results, now);
  const indexes = [...new Set(results.map((r) => r.index).filter((i) => held.has(i)))];
  const subs = new Map(
    (
      await q.query<{ idx: number; state: string; attempts: number; lease_id: string | null }>(
        'SELECT idx, state, attempts, lease_id FROM subtasks WHERE job_seq = $1 AND idx = ANY($2) FOR UPDATE',
        [job.seq, indexes],
      )
    ).rows.map((r) => [r.idx, r]),
  );
  let completed = 0;
  let failedRuns = 0;
  let leasedDelta = 0;
  let queuedDelta = 0;
  let failedForGood: JobError | null = null;
  // The rows change in one statement per kind of change (not one per result): a batch of 64 results costs 3 statements.
  const done: { idx: number[]; json: string[] } = { idx: [], json: [] };
  const retried: { idx: number[]; state: string[]; attempts: number[] } = { idx: [], state: [], attempts: [] };
  const copiesFailed: number[] = [];
  for (const r of results) {
    if (!held.has(r.index)) {
      outcome.rejected++;
      continue;
    }
    const sub = subs.get(r.index);
    if (!active || failedForGood || !sub || sub.state === 'done' || sub.state === 'failed') {
      outcome.dropped++;
      continue;
    }
    if (r.ok) {
      done.idx.push(r.index);
      done.json.push(r.json);
      if (sub.state === 'leased') leasedDelta--;
      else queuedDelta--;
      sub.state = 'done';
      completed++;
      outcome.accepted++;
      continue;
    }
    // An error counts as an attempt only from the lease that currently holds the subtask.
    if (sub.state !== 'leased' || sub.lease_id !== leaseId) {
      // A tail copy that failed: the holder still runs the input; copying it again would likely fail again.
      if (leaseRow.speculative) copiesFailed.push(r.index);
      outcome.dropped++;
      continue;
    }
    failedRuns++;
    outcome.accepted++;
    leasedDelta--;
    const attempts = sub.attempts + 1;
    const state = attempts >= job.max_attempts ? 'failed' : 'queued';
    retried.idx.push(r.index);
    retried.state.push(state);
    retried.attempts.push(attempts);
    sub.state = state;
    sub.attempts = attempts;
    if (state === 'failed') {
      failedForGood = { code: r.code, message: `input ${r.index} failed ${attempts} time(s); last error: ${r.message}`, input: r.index };
    } else {
      queuedDelta++;
      outcome.requeued++;
    }
  }
  if (done.idx.length > 0) {
    await q.query(
      `UPDATE subtasks s SET state = 'done', result = u.json, lease_id = NULL FROM unnest($2::bigint[], $3::text[]) AS u(idx, json)
        WHERE s.job_seq = $1 AND s.idx = u.idx`,
      [job.seq, done.idx, done.json],
    );
  }
  if (retried.idx.length > 0) {
    await q.query(
      `UPDATE subtasks s SET state = u.state, attempts = u.attempts, lease_id = NULL FROM unnest($2::bigint[], $3::text[], $4::int[]) AS u(idx, state, attempts)
        WHERE s.job_seq = $1 AND s.idx = u.idx`,
      [job.seq, retried.idx, retried.state, retried.attempts],
    );
  }
  if (copiesFailed.length > 0) await q.query('UPDATE subtasks SET copies = 2 WHERE job_seq = $1 AND idx = ANY($2)', [job.seq, copiesFailed]);
  if (completed || leasedDelta || queuedDelta) {
    await q.query('UPDATE jobs SET completed = completed + $1, leased = leased + $2, queued = queued + $3 WHERE seq = $4', [completed, leasedDelta, queuedDelta, job.seq]);
  }
  outcome.completed = completed;
  outcome.failedRuns = failedRuns;
  await addDeviceCounts(q, deviceId, completed, failedRuns, outcome.rejected);
  if (failedForGood) {
    await failRow(q, job.seq, failedForGood, now);
    outcome.jobsFailed.push(job.id);
  } else if (completed > 0 && job.completed + completed >= job.total) {
    outcome.jobsToFinalize.push(job.id);
  }
  if (leaseRow.open && leaseRow.speculative) {
    // A copy is done once it has reported each of its inputs (over all its batches), or once none of them still waits.
    const reported = leaseRow.reported + new Set(results.filter((r) => held.has(r.index)).map((r) => r.index)).size;
    const waiting = (
      await q.query<{ n: number }>(`SELECT count(*) AS n FROM subtasks WHERE job_seq = $1 AND state = 'leased' AND idx = ANY($2)`, [job.seq, [...held]])
    ).rows[0]?.n ?? 0;
    if (reported >= held.size || waiting === 0) await closeCopy(q, leaseRow);
    else await q.query('UPDATE leases SET reported = reported + $1 WHERE id = $2', [reported - leaseRow.reported, leaseId]);
  } else if (leaseRow.open) {
    const still = (await q.query<{ n: number }>(`SELECT count(*) AS n FROM subtasks WHERE lease_id = $1 AND state = 'leased'`, [leaseId])).rows[0]?.n ?? 0;
    if (still === 0) await q.query('UPDATE leases SET open = false WHERE id = $1', [leaseId]);
  }
  return outcome;
}

/** Results of a verified job's lease: replicas compared, inputs accepted by quorum, liars quarantined. */
async function recordReplicas(
  q: Queryable,
  job: JobRow,
  leaseRow: LeaseRow,
  deviceId: string,
  held: ReadonlySet<number>,
  active: boolean,
  results: CheckedResult[],
  now: number,
): Promise<RecordOutcome> {
  const v = await verified.record(q, job, leaseRow.id, deviceId, held, active, results, now);
  const outcome: RecordOutcome = {
    accepted: v.accepted,
    completed: v.completed,
    dropped: v.dropped,
    rejected: v.rejected,
    jobsToFinalize: [],
    jobsFailed: [],
    jobsReopened: v.reopened,
    requeued: v.requeued,
    failedRuns: v.failedRuns,
    quarantined: v.quarantined.length,
  };
  await addDeviceCounts(q, deviceId, v.succeeded, v.failedRuns, v.rejected);
  for (const caught of v.quarantined) {
    // A caught device's running work goes to others at once instead of waiting for its leases to run out.
    outcome.requeued += (await releaseRows(q, await openLeases(q, 'device_id = $1', [caught]), now, false)).requeued;
  }
  if (v.failedForGood) {
    await failRow(q, job.seq, v.failedForGood, now);
    outcome.jobsFailed.push(job.id);
  } else if (active && v.completed > 0) {
    const after = (await q.query<{ completed: number; total: number }>('SELECT completed, total FROM jobs WHERE seq = $1', [job.seq])).rows[0];
    if (after && after.completed >= after.total) outcome.jobsToFinalize.push(job.id);
  }
  if (leaseRow.open && (await verified.stillLeased(q, leaseRow.id)) === 0) await q.query('UPDATE leases SET open = false WHERE id = $1', [leaseRow.id]);
  return outcome;
}

export async function renewLeases(q: Queryable, connId: string, deadline: number): Promise<number> {
  return (await q.query('UPDATE leases SET deadline = least($1, max_deadline) WHERE conn_id = $2 AND open', [deadline, connId])).rowCount ?? 0;
}

/** Open leases matching `where` (locked; leases another hub is releasing now are skipped). */
async function openLeases(q: Queryable, where: string, params: unknown[]): Promise<LeaseRow[]> {
  return (await q.query<LeaseRow>(`SELECT * FROM leases WHERE open AND ${where} ORDER BY granted FOR UPDATE SKIP LOCKED`, params)).rows;
}

export const connectionLeases = (q: Queryable, connId: string) => openLeases(q, 'conn_id = $1', [connId]);
export const expiredLeases = (q: Queryable, monotonicNow: number) => openLeases(q, 'deadline < $1', [monotonicNow]);
/** Open leases granted by `hub`. */
export const hubLeases = (q: Queryable, hub: string) => openLeases(q, 'hub = $1', [hub]);

/** Closes leases; their unfinished subtasks go back to the queue, counting a loss when `countLoss`. */
export async function releaseRows(q: Queryable, rows: LeaseRow[], now: number, countLoss: boolean): Promise<ReleaseOutcome> {
  const outcome: ReleaseOutcome = { requeued: 0, jobsFailed: [] };
  for (const row of rows) {
    if (row.speculative) {
      // A lost copy: the input's own holder still runs it, so nothing is queued or counted.
      await closeCopy(q, row);
      continue;
    }
    const job = await lockJob(q, row.job_seq);
    await q.query('UPDATE leases SET open = false WHERE id = $1', [row.id]);
    if (!job) continue;
    if (job.verify !== 'none') {
      const released = await verified.release(q, job, row.id, countLoss);
      outcome.requeued += released.requeued;
      if (released.lost && isActive(job)) await failLost(q, job, released.lost, now, outcome);
      continue;
    }
    // Back to the queue in one statement, a loss counted on each.
    const stranded = (
      await q.query<{ idx: number; losses: number }>(
        `UPDATE subtasks SET state = 'queued', lease_id = NULL, losses = losses + $2 WHERE lease_id = $1 AND state = 'leased' RETURNING idx, losses`,
        [row.id, countLoss ? 1 : 0],
      )
    ).rows.sort((a, b) => a.idx - b.idx);
    if (stranded.length === 0) continue;
    let lost: { idx: number; losses: number } | null = null;
    for (const s of stranded) if (s.losses > limits.MAX_LEASE_LOSSES && !lost) lost = { idx: s.idx, losses: s.losses };
    await q.query('UPDATE jobs SET leased = leased - $1, queued = queued + $1 WHERE seq = $2', [stranded.length, row.job_seq]);
    outcome.requeued += stranded.length;
    if (lost && isActive(job)) await failLost(q, job, lost, now, outcome);
  }
  return outcome;
}

/** Fails a job one of whose inputs was lost too often. */
async function failLost(q: Queryable, job: JobRow, lost: { idx: number; losses: number }, now: number, outcome: ReleaseOutcome): Promise<void> {
  const message = `input ${lost.idx} was lost ${lost.losses} times by devices that disconnected or stopped renewing their lease`;
  await failRow(q, job.seq, { code: 'device_lost', message, input: lost.idx }, now);
  outcome.jobsFailed.push(job.id);
}

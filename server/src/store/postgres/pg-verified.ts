/**
 * Result verification on PostgreSQL: the `replicas` table and the verification columns of subtasks, jobs and devices,
 * written by the rules of `verification/quorum.ts` (the same the SQLite engine follows). Every function runs inside
 * the caller's transaction with the job's row locked; jobs reopened by a caught device's recheck are locked as they
 * are touched (a deadlock with another hub rolls back and runs again, see `PgSession.tx`).
 */
import { limits, type JobError, type JsonValue } from '@edgeswarm/shared';
import type { CheckedResult } from '../job-store.ts';
import * as quorum from '../../verification/quorum.ts';
import type { Queryable } from './pg-session.ts';

/** The job columns verification reads. */
export interface VerifiedJobRow {
  seq: number;
  id: string;
  total: number;
  next_index: number;
  verify: string;
  replication: number;
  quorum: number;
  tolerance: number;
  max_attempts: number;
  status: string;
  deleted: boolean;
}

interface SubtaskRow {
  state: quorum.InputState;
  attempts: number;
  losses: number;
  target: number;
}

interface ReplicaRow {
  lease_id: string;
  device_id: string;
  state: 'leased' | 'ok' | 'error' | 'void';
  result: string | null;
}

/** One input picked for a device: `target` is set for inputs leased for the first time. */
export interface ReplicaPick {
  idx: number;
  fresh: boolean;
  target: number;
}

export interface DeviceSpot {
  deviceId: string;
  address: string | null;
}

export interface VerifiedRecord {
  accepted: number;
  completed: number;
  dropped: number;
  rejected: number;
  failedRuns: number;
  requeued: number;
  succeeded: number;
  failedForGood: JobError | null;
  reopened: string[];
  quarantined: string[];
}

/**
 * Whether replica `r` of subtask `s` keeps device `$dev` (at address `$addr`) off that input: the device runs or ran
 * it, or, while at least `target` eligible addresses are connected (`$spread`), a device at its address does.
 */
export const BLOCKS = (dev: string, addr: string, spread: string) =>
  `r.job_seq = s.job_seq AND r.idx = s.idx AND r.state IN ('leased', 'ok') AND (r.device_id = ${dev} OR (r.address = ${addr} AND s.target <= ${spread}))`;

/** Distinct addresses of connected devices that are not quarantined (the address rule's measure). */
export async function spreadAddresses(q: Queryable): Promise<number> {
  const row = await q.query<{ n: number }>(
    'SELECT count(DISTINCT address) AS n FROM devices WHERE connections > 0 AND quarantined_at IS NULL AND address IS NOT NULL',
  );
  return row.rows[0]?.n ?? 0;
}

const quorumOf = (job: VerifiedJobRow): quorum.QuorumJob => ({
  verify: job.verify as quorum.QuorumJob['verify'],
  replication: job.replication,
  quorum: job.quorum,
  tolerance: job.tolerance,
  maxAttempts: job.max_attempts,
});

async function subtask(q: Queryable, seq: number, idx: number): Promise<SubtaskRow | undefined> {
  return (await q.query<SubtaskRow>('SELECT state, attempts, losses, target FROM subtasks WHERE job_seq = $1 AND idx = $2', [seq, idx])).rows[0];
}

async function bump(q: Queryable, seq: number, change: quorum.CounterChange, completed = 0): Promise<void> {
  if (change.queued || change.leased || completed) {
    await q.query('UPDATE jobs SET queued = queued + $1, leased = leased + $2, completed = completed + $3 WHERE seq = $4', [
      change.queued,
      change.leased,
      completed,
      seq,
    ]);
  }
}

/** Sets an open subtask's state from its replicas; returns the counter change. */
async function settle(q: Queryable, seq: number, idx: number, target?: number): Promise<quorum.CounterChange> {
  const sub = await subtask(q, seq, idx);
  if (!sub || sub.state === 'done' || sub.state === 'failed') return quorum.NO_CHANGE;
  const taken = (
    await q.query<{ out: number; ok: number }>(
      `SELECT count(*) FILTER (WHERE state = 'leased') AS out, count(*) FILTER (WHERE state = 'ok') AS ok FROM replicas WHERE job_seq = $1 AND idx = $2`,
      [seq, idx],
    )
  ).rows[0] ?? { out: 0, ok: 0 };
  const next = quorum.settle(sub, taken, target);
  if (!next) return quorum.NO_CHANGE;
  await q.query('UPDATE subtasks SET state = $1, target = $2 WHERE job_seq = $3 AND idx = $4', [next.state, next.target, seq, idx]);
  return next.change;
}

async function resettle(q: Queryable, seq: number, idx: number, target: number | undefined, out: VerifiedRecord, opened: boolean): Promise<void> {
  await bump(q, seq, await settle(q, seq, idx, target));
  if (opened) out.requeued++;
}

/**
 * Up to `max` inputs for this device: inputs already started first (their other replicas are out), then fresh ones,
 * each with the replicas `quorum.freshTargets` wants.
 */
export async function pick(q: Queryable, job: VerifiedJobRow, spot: DeviceSpot, max: number, spread: number, random: () => number): Promise<ReplicaPick[]> {
  const open = await q.query<{ idx: number }>(
    `SELECT s.idx FROM subtasks s WHERE s.job_seq = $1 AND s.state = 'queued'
        AND NOT EXISTS (SELECT 1 FROM replicas r WHERE ${BLOCKS('$2', '$3', '$4')})
      ORDER BY s.idx LIMIT $5`,
    [job.seq, spot.deviceId, spot.address, spread, max],
  );
  const picks: ReplicaPick[] = open.rows.map((r) => ({ idx: r.idx, fresh: false, target: 0 }));
  const fresh = Math.max(0, Math.min(max - picks.length, job.total - job.next_index));
  let streak = 0;
  if (job.verify === 'adaptive' && fresh > 0) {
    streak = (await q.query<{ streak: number }>('SELECT streak FROM devices WHERE id = $1', [spot.deviceId])).rows[0]?.streak ?? 0;
  }
  quorum.freshTargets(quorumOf(job), streak, fresh, random).forEach((target, i) => picks.push({ idx: job.next_index + i, fresh: true, target }));
  return picks;
}

/** Records the replicas of a new lease; returns the job counter changes (queued, leased, fresh). */
export async function hold(q: Queryable, job: VerifiedJobRow, leaseId: string, spot: DeviceSpot, picks: ReplicaPick[]): Promise<{ queued: number; leased: number; fresh: number }> {
  const delta = { queued: 0, leased: 0, fresh: 0 };
  const fresh = picks.filter((p) => p.fresh);
  if (fresh.length > 0) {
    const states = fresh.map((p) => (p.target > 1 ? 'queued' : 'leased'));
    await q.query('INSERT INTO subtasks (job_seq, idx, state, target) SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::int[])', [
      job.seq,
      fresh.map((p) => p.idx),
      states,
      fresh.map((p) => p.target),
    ]);
    for (const state of states) {
      if (state === 'queued') delta.queued++;
      else delta.leased++;
    }
    delta.fresh = fresh.length;
  }
  await q.query(`INSERT INTO replicas (job_seq, idx, lease_id, device_id, address, state) SELECT $1, i, $2, $3, $4, 'leased' FROM unnest($5::bigint[]) AS i`, [
    job.seq,
    leaseId,
    spot.deviceId,
    spot.address,
    picks.map((p) => p.idx),
  ]);
  for (const p of picks) {
    if (p.fresh) continue;
    const change = await settle(q, job.seq, p.idx);
    delta.queued += change.queued;
    delta.leased += change.leased;
  }
  return delta;
}

async function isQuarantined(q: Queryable, deviceId: string): Promise<boolean> {
  return (await q.query('SELECT 1 FROM devices WHERE id = $1 AND quarantined_at IS NOT NULL', [deviceId])).rowCount !== 0;
}

async function dropReplica(q: Queryable, seq: number, idx: number, leaseId: string): Promise<void> {
  await q.query('DELETE FROM replicas WHERE job_seq = $1 AND idx = $2 AND lease_id = $3', [seq, idx, leaseId]);
}

/** Results of one lease of a verified job. `held`: the lease's inputs; `active`: the job still runs. */
export async function record(
  q: Queryable,
  job: VerifiedJobRow,
  leaseId: string,
  deviceId: string,
  held: ReadonlySet<number>,
  active: boolean,
  results: readonly CheckedResult[],
  now: number,
): Promise<VerifiedRecord> {
  const out: VerifiedRecord = { accepted: 0, completed: 0, dropped: 0, rejected: 0, failedRuns: 0, requeued: 0, succeeded: 0, failedForGood: null, reopened: [], quarantined: [] };
  const wasQuarantined = await isQuarantined(q, deviceId);
  for (const r of results) {
    if (!held.has(r.index)) {
      out.rejected++;
      continue;
    }
    const rep = (
      await q.query<ReplicaRow>('SELECT lease_id, device_id, state, result FROM replicas WHERE job_seq = $1 AND idx = $2 AND lease_id = $3', [job.seq, r.index, leaseId])
    ).rows[0];
    if (!rep || rep.state !== 'leased') {
      out.dropped++;
      continue;
    }
    const sub = await subtask(q, job.seq, r.index);
    // Caught before or by an earlier result of this batch: what it says now counts for nothing.
    const caught = wasQuarantined || out.quarantined.includes(deviceId);
    if (!active || out.failedForGood || !sub || sub.state === 'failed' || caught) {
      await dropReplica(q, job.seq, r.index, leaseId);
      if (active && sub && sub.state !== 'failed' && sub.state !== 'done') await resettle(q, job.seq, r.index, quorum.afterLoss(job, sub.target), out, true);
      out.dropped++;
      continue;
    }
    if (!r.ok) {
      await recordError(q, job, r.index, leaseId, sub, r, out);
      continue;
    }
    await q.query(
      `UPDATE replicas SET state = 'ok', result = $1,
          arrival = (SELECT count(*) FROM replicas WHERE job_seq = $2 AND idx = $3 AND state = 'ok') + 1
        WHERE job_seq = $2 AND idx = $3 AND lease_id = $4`,
      [r.json, job.seq, r.index, leaseId],
    );
    out.succeeded++;
    if (sub.state === 'done') {
      // A late replica of an accepted input: judged against the results that were accepted.
      await judgeLate(q, job, r.index, leaseId, deviceId, r.json, now, out);
      out.dropped++;
      continue;
    }
    out.accepted++;
    if ((await decide(q, job, r.index, sub, now, out)) === 'accepted') out.completed++;
  }
  return out;
}

async function recordError(
  q: Queryable,
  job: VerifiedJobRow,
  idx: number,
  leaseId: string,
  sub: SubtaskRow,
  r: { code: JobError['code']; message: string },
  out: VerifiedRecord,
): Promise<void> {
  if (sub.state === 'done') {
    await dropReplica(q, job.seq, idx, leaseId);
    out.dropped++;
    return;
  }
  await q.query(`UPDATE replicas SET state = 'error' WHERE job_seq = $1 AND idx = $2 AND lease_id = $3`, [job.seq, idx, leaseId]);
  out.accepted++;
  out.failedRuns++;
  const attempts = sub.attempts + 1;
  await q.query('UPDATE subtasks SET attempts = $1 WHERE job_seq = $2 AND idx = $3', [attempts, job.seq, idx]);
  const devices =
    (await q.query<{ n: number }>(`SELECT count(DISTINCT device_id) AS n FROM replicas WHERE job_seq = $1 AND idx = $2 AND state = 'error'`, [job.seq, idx])).rows[0]
      ?.n ?? 0;
  const error = quorum.failedForGood(quorumOf(job), idx, attempts, devices, r);
  if (error) {
    await failSubtask(q, job.seq, idx, sub);
    out.failedForGood = error;
    return;
  }
  await resettle(q, job.seq, idx, quorum.afterLoss(job, sub.target), out, true);
}

async function failSubtask(q: Queryable, seq: number, idx: number, sub: SubtaskRow): Promise<void> {
  await q.query(`UPDATE subtasks SET state = 'failed' WHERE job_seq = $1 AND idx = $2`, [seq, idx]);
  await bump(q, seq, quorum.leaving(sub.state));
}

async function reported(q: Queryable, seq: number, idx: number): Promise<ReplicaRow[]> {
  return (
    await q.query<ReplicaRow>(`SELECT lease_id, device_id, state, result FROM replicas WHERE job_seq = $1 AND idx = $2 AND state = 'ok' ORDER BY arrival`, [seq, idx])
  ).rows;
}

async function decide(q: Queryable, job: VerifiedJobRow, idx: number, sub: SubtaskRow, now: number, out: VerifiedRecord): Promise<'accepted' | 'waiting' | 'failed'> {
  const reps = await reported(q, job.seq, idx);
  const decision = quorum.decide(quorumOf(job), idx, sub.target, reps.map((r) => JSON.parse(r.result ?? 'null') as JsonValue));
  if (decision.kind === 'accept') {
    await q.query(`UPDATE subtasks SET state = 'done', result = $1 WHERE job_seq = $2 AND idx = $3`, [(reps[decision.value] as ReplicaRow).result ?? 'null', job.seq, idx]);
    await bump(q, job.seq, quorum.leaving(sub.state), 1);
    for (const [i, rep] of reps.entries()) await judge(q, rep, job.seq, idx, decision.verdicts[i] ?? 'unchecked', now, out);
    return 'accepted';
  }
  if (decision.kind === 'fail') {
    await failSubtask(q, job.seq, idx, sub);
    out.failedForGood = decision.error;
    return 'failed';
  }
  await resettle(q, job.seq, idx, decision.target, out, decision.target > sub.target);
  return 'waiting';
}

async function judgeLate(q: Queryable, job: VerifiedJobRow, idx: number, leaseId: string, deviceId: string, json: string, now: number, out: VerifiedRecord): Promise<void> {
  const accepted = (
    await q.query<{ result: string | null }>(`SELECT result FROM replicas WHERE job_seq = $1 AND idx = $2 AND state = 'ok' AND verdict = 'valid'`, [job.seq, idx])
  ).rows.map((r) => JSON.parse(r.result ?? 'null') as JsonValue);
  await judge(q, { lease_id: leaseId, device_id: deviceId }, job.seq, idx, quorum.judgeLate(job, accepted, JSON.parse(json) as JsonValue), now, out);
}

/** Records a verdict on one device's result; an invalid one quarantines its device (and rechecks its unchecked results). */
async function judge(q: Queryable, rep: { lease_id: string; device_id: string }, seq: number, idx: number, verdict: quorum.Verdict, now: number, out: VerifiedRecord): Promise<void> {
  await q.query('UPDATE replicas SET verdict = $1 WHERE job_seq = $2 AND idx = $3 AND lease_id = $4', [verdict, seq, idx, rep.lease_id]);
  if (verdict === 'valid') await q.query('UPDATE devices SET valid = valid + 1, streak = streak + 1 WHERE id = $1', [rep.device_id]);
  if (verdict !== 'invalid') return;
  await q.query('UPDATE devices SET invalid = invalid + 1, streak = 0 WHERE id = $1', [rep.device_id]);
  const caught = await q.query('UPDATE devices SET quarantined_at = $1 WHERE id = $2 AND quarantined_at IS NULL', [now, rep.device_id]);
  if ((caught.rowCount ?? 0) > 0) {
    out.quarantined.push(rep.device_id);
    await recheck(q, rep.device_id, out);
  }
}

async function voidReplica(q: Queryable, seq: number, idx: number, leaseId: string): Promise<void> {
  await q.query(`UPDATE replicas SET state = 'void', verdict = 'void' WHERE job_seq = $1 AND idx = $2 AND lease_id = $3`, [seq, idx, leaseId]);
}

/** Throws away an input's accepted value: it runs again on k devices or, in a job that no longer runs, stays missing. */
async function rerun(q: Queryable, job: Pick<VerifiedJobRow, 'seq' | 'replication'>, idx: number, live: boolean): Promise<void> {
  await q.query(`UPDATE subtasks SET state = 'queued', target = $1, result = NULL WHERE job_seq = $2 AND idx = $3`, [job.replication, job.seq, idx]);
  await q.query('UPDATE jobs SET rechecked = rechecked + 1 WHERE seq = $1', [job.seq]);
  await bump(q, job.seq, { queued: live ? 1 : 0, leased: 0 }, -1);
}

/**
 * A device was caught: every result of it that was accepted unchecked runs again (its job reopens if it had
 * completed), and its results on inputs not yet decided are thrown away.
 */
async function recheck(q: Queryable, deviceId: string, out: VerifiedRecord): Promise<void> {
  const reps = await q.query<{ job_seq: number; idx: number; lease_id: string; verdict: string | null }>(
    `SELECT job_seq, idx, lease_id, verdict FROM replicas WHERE device_id = $1 AND state = 'ok' AND (verdict IS NULL OR verdict = 'unchecked') ORDER BY job_seq, idx`,
    [deviceId],
  );
  for (const rep of reps.rows) {
    const job = (await q.query<VerifiedJobRow>('SELECT * FROM jobs WHERE seq = $1 FOR UPDATE', [rep.job_seq])).rows[0];
    if (!job) continue;
    const sub = await subtask(q, rep.job_seq, rep.idx);
    await voidReplica(q, rep.job_seq, rep.idx, rep.lease_id);
    if (!sub || job.deleted || sub.state === 'failed') continue;
    // A failed or cancelled job runs nothing more, but does not keep the caught device's value either.
    const live = job.status === 'queued' || job.status === 'running' || job.status === 'completed';
    if (rep.verdict === 'unchecked' && sub.state === 'done') {
      await rerun(q, job, rep.idx, live);
      if (!live) continue;
      out.requeued++;
      await q.query(`UPDATE jobs SET status = 'running', finished_at = NULL, result = NULL WHERE seq = $1 AND status = 'completed'`, [rep.job_seq]);
      if (!out.reopened.includes(job.id)) out.reopened.push(job.id);
    } else if (live && sub.state !== 'done' && rep.verdict === null) {
      await resettle(q, rep.job_seq, rep.idx, undefined, out, true);
    }
  }
}

/** A lease of a verified job was lost: its replicas still running are given back (a loss each). */
export async function release(q: Queryable, job: VerifiedJobRow, leaseId: string, countLoss: boolean): Promise<{ requeued: number; lost: { idx: number; losses: number } | null }> {
  let requeued = 0;
  let lost: { idx: number; losses: number } | null = null;
  const leased = await q.query<{ idx: number }>(`SELECT idx FROM replicas WHERE lease_id = $1 AND state = 'leased' ORDER BY idx`, [leaseId]);
  for (const { idx } of leased.rows) {
    await dropReplica(q, job.seq, idx, leaseId);
    const sub = await subtask(q, job.seq, idx);
    if (!sub || sub.state === 'done' || sub.state === 'failed') continue;
    const losses = sub.losses + (countLoss ? 1 : 0);
    await q.query('UPDATE subtasks SET losses = $1 WHERE job_seq = $2 AND idx = $3', [losses, job.seq, idx]);
    if (losses > limits.MAX_LEASE_LOSSES && !lost) lost = { idx, losses };
    await bump(q, job.seq, await settle(q, job.seq, idx, quorum.afterLoss(job, sub.target)));
    requeued++;
  }
  return { requeued, lost };
}

/** An adaptive job's aggregate failed: its results accepted unchecked run again on k devices. Returns how many. */
export async function reopenUnchecked(q: Queryable, job: Pick<VerifiedJobRow, 'seq' | 'replication'>): Promise<number> {
  const singles = await q.query<{ idx: number }>(`SELECT idx FROM subtasks WHERE job_seq = $1 AND state = 'done' AND target = 1 ORDER BY idx`, [job.seq]);
  for (const { idx } of singles.rows) {
    for (const r of await reported(q, job.seq, idx)) await voidReplica(q, job.seq, idx, r.lease_id);
    await rerun(q, job, idx, true);
  }
  return singles.rows.length;
}

/** Whether a running verified job waits for devices: no eligible connected device may take its first open input. */
export async function waitingForDevices(q: Queryable, seq: number): Promise<boolean> {
  const first = (await q.query<{ idx: number; target: number }>(`SELECT idx, target FROM subtasks WHERE job_seq = $1 AND state = 'queued' ORDER BY idx LIMIT 1`, [seq]))
    .rows[0];
  if (!first) return false;
  const spread = await spreadAddresses(q);
  const idle = await q.query(
    `SELECT 1 FROM devices d WHERE d.connections > 0 AND d.quarantined_at IS NULL AND NOT EXISTS (
        SELECT 1 FROM replicas r WHERE r.job_seq = $1 AND r.idx = $2 AND r.state IN ('leased', 'ok')
          AND (r.device_id = d.id OR (r.address = d.address AND $3::int <= $4::int)))
      LIMIT 1`,
    [seq, first.idx, first.target, spread],
  );
  return idle.rowCount === 0;
}

/** Replicas of this lease still running. */
export async function stillLeased(q: Queryable, leaseId: string): Promise<number> {
  return (await q.query<{ n: number }>(`SELECT count(*) AS n FROM replicas WHERE lease_id = $1 AND state = 'leased'`, [leaseId])).rows[0]?.n ?? 0;
}

/**
 * Result verification in the SQLite store: replicas of one input on distinct devices, quorum with
 * tolerance, more replicas on disagreement (up to 2k, then `no_quorum`), device records,
 * quarantine, and adaptive single runs with spot checks, by the rules of `verification/quorum.ts`.
 * Called by SqliteJobStore inside its transactions; it owns the `replicas` table and the
 * verification columns.
 */
import type Database from 'better-sqlite3';
import { type JobError, type JsonValue, limits } from '@edgeswarm/shared';
import type { CheckedResult } from './job-store.ts';
import * as quorum from '../verification/quorum.ts';

/** The job columns verification reads. */
export interface VerifiedJobRow {
  seq: number;
  id: string;
  total: number;
  next_index: number;
  verify: 'none' | 'replicate' | 'adaptive';
  replication: number;
  quorum: number;
  tolerance: number;
  max_attempts: number;
  status: string;
  deleted: number;
}

interface SubtaskRow {
  state: 'leased' | 'queued' | 'done' | 'failed';
  attempts: number;
  losses: number;
  target: number;
  result: string | null;
}

interface ReplicaRow {
  lease_id: string;
  device_id: string;
  state: 'leased' | 'ok' | 'error' | 'void';
  result: string | null;
}

/** One input picked for a device: `target` is set for inputs leased for the first time. */
export interface Pick {
  idx: number;
  fresh: boolean;
  target: number;
}

export interface VerifiedRecord {
  accepted: number;
  completed: number;
  dropped: number;
  rejected: number;
  failedRuns: number;
  /** Replica slots that opened again: idle devices should ask. */
  requeued: number;
  /** Successful runs this device reported (for its record). */
  succeeded: number;
  failedForGood: JobError | null;
  /** Jobs that had finished (or had results accepted) and must run inputs again: a liar was caught. */
  reopened: string[];
  /** Devices quarantined during this call: their open leases must be released. */
  quarantined: string[];
}

export interface DeviceSpot {
  deviceId: string;
  /** The request's address: replicas of one input go to distinct addresses while enough eligible devices have them. */
  address: string | null;
}

export class VerifiedWork {
  private readonly q;

  constructor(
    private readonly db: Database.Database,
    private readonly random: () => number,
  ) {
    // The queries' address rule reads the count through this function (a query cannot run inside
    // another on one connection, so it is counted beforehand, and only for verified jobs). Not counted
    // yet reads as 0: no address rule, which only lets more devices be considered.
    db.function('spread_addresses', { deterministic: false }, () => this.addresses ?? 0);
    this.q = {
      // Inputs with a replica slot open that this device has not run and is not running (and, while
      // enough eligible devices are at other addresses, no device at this address). A device whose run
      // failed may take the input again.
      openFor: db.prepare<[number, string, string | null, number], { idx: number }>(
        `SELECT s.idx FROM subtasks s WHERE s.job_seq = ? AND s.state = 'queued' AND NOT EXISTS (
            SELECT 1 FROM replicas r WHERE r.job_seq = s.job_seq AND r.idx = s.idx AND r.state IN ('leased', 'ok')
              AND (r.device_id = ? OR (r.address = ? AND s.target <= spread_addresses())))
          ORDER BY s.idx LIMIT ?`,
      ),
      addresses: db.prepare<[], { n: number }>(
        `SELECT count(DISTINCT address) AS n FROM devices WHERE connections > 0 AND quarantined_at IS NULL AND address IS NOT NULL`,
      ),
      insertFresh: db.prepare<[number, number, string, number]>(
        'INSERT INTO subtasks (job_seq, idx, state, target) VALUES (?, ?, ?, ?)',
      ),
      insertReplica: db.prepare<[number, number, string, string, string | null]>(
        `INSERT INTO replicas (job_seq, idx, lease_id, device_id, address, state) VALUES (?, ?, ?, ?, ?, 'leased')`,
      ),
      subtask: db.prepare<[number, number], SubtaskRow>(
        'SELECT state, attempts, losses, target, result FROM subtasks WHERE job_seq = ? AND idx = ?',
      ),
      replica: db.prepare<[number, number, string], ReplicaRow>(
        'SELECT lease_id, device_id, state, result FROM replicas WHERE job_seq = ? AND idx = ? AND lease_id = ?',
      ),
      taken: db.prepare<[number, number], { out: number; ok: number }>(
        `SELECT coalesce(sum(state = 'leased'), 0) AS out, coalesce(sum(state = 'ok'), 0) AS ok
           FROM replicas WHERE job_seq = ? AND idx = ?`,
      ),
      reported: db.prepare<[number, number], ReplicaRow>(
        `SELECT lease_id, device_id, state, result FROM replicas WHERE job_seq = ? AND idx = ? AND state = 'ok' ORDER BY arrival`,
      ),
      report: db.prepare<[string, number, number, number, number, string]>(
        `UPDATE replicas SET state = 'ok', result = ?, arrival = (
            SELECT count(*) FROM replicas WHERE job_seq = ? AND idx = ? AND state = 'ok') + 1
          WHERE job_seq = ? AND idx = ? AND lease_id = ?`,
      ),
      firstOpen: db.prepare<[number], { idx: number; target: number }>(
        `SELECT idx, target FROM subtasks WHERE job_seq = ? AND state = 'queued' ORDER BY idx LIMIT 1`,
      ),
      // Connected devices that are not quarantined and that `openFor` would give this input.
      idleDevicesFor: db.prepare<[number, number, number], { n: number }>(
        `SELECT count(*) AS n FROM devices d, (SELECT ? AS target) p
          WHERE d.connections > 0 AND d.quarantined_at IS NULL AND NOT EXISTS (
            SELECT 1 FROM replicas r WHERE r.job_seq = ? AND r.idx = ? AND r.state IN ('leased', 'ok')
              AND (r.device_id = d.id OR (r.address = d.address AND p.target <= spread_addresses())))`,
      ),
      uncheckedOfJob: db.prepare<[number], { idx: number }>(`SELECT idx FROM subtasks WHERE job_seq = ? AND state = 'done' AND target = 1`),
      markError: db.prepare<[number, number, string]>(`UPDATE replicas SET state = 'error' WHERE job_seq = ? AND idx = ? AND lease_id = ?`),
      errorDevices: db.prepare<[number, number], { n: number }>(
        `SELECT count(DISTINCT device_id) AS n FROM replicas WHERE job_seq = ? AND idx = ? AND state = 'error'`,
      ),
      validResults: db.prepare<[number, number], { result: string | null }>(
        `SELECT result FROM replicas WHERE job_seq = ? AND idx = ? AND state = 'ok' AND verdict = 'valid'`,
      ),
      dropLeasedOfJob: db.prepare<[number]>(`DELETE FROM replicas WHERE job_seq = ? AND state = 'leased'`),
      dropReplica: db.prepare<[number, number, string]>('DELETE FROM replicas WHERE job_seq = ? AND idx = ? AND lease_id = ?'),
      verdict: db.prepare<[string, number, number, string]>('UPDATE replicas SET verdict = ? WHERE job_seq = ? AND idx = ? AND lease_id = ?'),
      setState: db.prepare<[string, number, number, number]>('UPDATE subtasks SET state = ?, target = ? WHERE job_seq = ? AND idx = ?'),
      accept: db.prepare<[string, number, number]>(`UPDATE subtasks SET state = 'done', result = ? WHERE job_seq = ? AND idx = ?`),
      attempt: db.prepare<[number, number, number]>('UPDATE subtasks SET attempts = ? WHERE job_seq = ? AND idx = ?'),
      loss: db.prepare<[number, number, number]>('UPDATE subtasks SET losses = ? WHERE job_seq = ? AND idx = ?'),
      fail: db.prepare<[number, number]>(`UPDATE subtasks SET state = 'failed' WHERE job_seq = ? AND idx = ?`),
      counters: db.prepare<[number, number, number, number]>(
        'UPDATE jobs SET queued = queued + ?, leased = leased + ?, completed = completed + ? WHERE seq = ?',
      ),
      leasedOfLease: db.prepare<[string], { job_seq: number; idx: number }>(
        `SELECT job_seq, idx FROM replicas WHERE lease_id = ? AND state = 'leased'`,
      ),
      stillLeased: db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM replicas WHERE lease_id = ? AND state = 'leased'`),
      device: db.prepare<[string], { streak: number; quarantined_at: number | null }>(
        'SELECT streak, quarantined_at FROM devices WHERE id = ?',
      ),
      valid: db.prepare<[string]>('UPDATE devices SET valid = valid + 1, streak = streak + 1 WHERE id = ?'),
      invalid: db.prepare<[string]>('UPDATE devices SET invalid = invalid + 1, streak = 0 WHERE id = ?'),
      quarantine: db.prepare<[number, string]>('UPDATE devices SET quarantined_at = ? WHERE id = ? AND quarantined_at IS NULL'),
      unjudgedOf: db.prepare<[string], { job_seq: number; idx: number; lease_id: string; verdict: string | null }>(
        `SELECT job_seq, idx, lease_id, verdict FROM replicas WHERE device_id = ? AND state = 'ok' AND (verdict IS NULL OR verdict = 'unchecked')`,
      ),
      voidReplica: db.prepare<[number, number, string]>(
        `UPDATE replicas SET state = 'void', verdict = 'void' WHERE job_seq = ? AND idx = ? AND lease_id = ?`,
      ),
      job: db.prepare<[number], VerifiedJobRow & { completed: number }>('SELECT * FROM jobs WHERE seq = ?'),
      reopenSubtask: db.prepare<[number, number, number]>(
        `UPDATE subtasks SET state = 'queued', target = ?, result = NULL WHERE job_seq = ? AND idx = ?`,
      ),
      reopenJob: db.prepare<[number]>(
        `UPDATE jobs SET status = 'running', finished_at = NULL, result = NULL WHERE seq = ? AND status = 'completed'`,
      ),
      rechecked: db.prepare<[number]>('UPDATE jobs SET rechecked = rechecked + 1 WHERE seq = ?'),
    };
  }

  isQuarantined(deviceId: string): boolean {
    const row = this.q.device.get(deviceId);
    return row !== undefined && row.quarantined_at !== null;
  }

  /** Distinct addresses of connected devices that are not quarantined; null once they changed. */
  private addresses: number | null = null;

  /** Devices connected, left, or were quarantined or released: their addresses are counted again when needed. */
  devicesChanged(): void {
    this.addresses = null;
  }

  /** Counts the addresses if they changed since (before a query of a verified job reads them). */
  private countAddresses(): void {
    this.addresses ??= this.q.addresses.get()?.n ?? 0;
  }

  /**
   * Up to `max` inputs for this device: inputs already started first (their other replicas are out),
   * then fresh ones, each with the replicas `quorum.freshTargets` wants.
   */
  pick(job: VerifiedJobRow, spot: DeviceSpot, max: number): Pick[] {
    this.countAddresses();
    const picks: Pick[] = this.q.openFor
      .all(job.seq, spot.deviceId, spot.address, max)
      .map((r) => ({ idx: r.idx, fresh: false, target: 0 }));
    const fresh = Math.max(0, Math.min(max - picks.length, job.total - job.next_index));
    const streak = job.verify === 'adaptive' && fresh > 0 ? (this.q.device.get(spot.deviceId)?.streak ?? 0) : 0;
    quorum.freshTargets(job, streak, fresh, this.random).forEach((target, i) => picks.push({ idx: job.next_index + i, fresh: true, target }));
    return picks;
  }

  /** Records the replicas of a new lease; returns the job counter changes (queued, leased, fresh). */
  hold(job: VerifiedJobRow, leaseId: string, spot: DeviceSpot, picks: Pick[]): { queued: number; leased: number; fresh: number } {
    const delta = { queued: 0, leased: 0, fresh: 0 };
    for (const p of picks) {
      if (p.fresh) {
        const state = p.target > 1 ? 'queued' : 'leased';
        this.q.insertFresh.run(job.seq, p.idx, state, p.target);
        if (state === 'queued') delta.queued++;
        else delta.leased++;
        delta.fresh++;
      }
      this.q.insertReplica.run(job.seq, p.idx, leaseId, spot.deviceId, spot.address);
      if (!p.fresh) {
        const change = this.settle(job.seq, p.idx);
        delta.queued += change.queued;
        delta.leased += change.leased;
      }
    }
    return delta;
  }

  /** Sets an open subtask's state from its replicas: queued while a slot is open, else leased. */
  private settle(seq: number, idx: number, target?: number): quorum.CounterChange {
    const sub = this.q.subtask.get(seq, idx);
    if (!sub || sub.state === 'done' || sub.state === 'failed') return quorum.NO_CHANGE;
    const next = quorum.settle(sub, this.q.taken.get(seq, idx) ?? { out: 0, ok: 0 }, target);
    if (!next) return quorum.NO_CHANGE;
    this.q.setState.run(next.state, next.target, seq, idx);
    return next.change;
  }

  /** Settles and books the change; `opened`: a replica slot opened (idle devices should ask). */
  private resettle(seq: number, idx: number, target: number | undefined, out: VerifiedRecord, opened: boolean): void {
    this.bump(seq, this.settle(seq, idx, target));
    if (opened) out.requeued++;
  }

  private bump(seq: number, change: quorum.CounterChange, completed = 0): void {
    if (change.queued || change.leased || completed) this.q.counters.run(change.queued, change.leased, completed, seq);
  }

  /** Results of one lease of a verified job. `held`: the lease's inputs; `active`: the job still runs. */
  record(
    job: VerifiedJobRow,
    leaseId: string,
    deviceId: string,
    held: ReadonlySet<number>,
    active: boolean,
    results: readonly CheckedResult[],
    now: number,
  ): VerifiedRecord {
    const out: VerifiedRecord = { accepted: 0, completed: 0, dropped: 0, rejected: 0, failedRuns: 0, requeued: 0, succeeded: 0, failedForGood: null, reopened: [], quarantined: [] };
    const wasQuarantined = this.isQuarantined(deviceId);
    for (const r of results) {
      if (!held.has(r.index)) {
        out.rejected++;
        continue;
      }
      const rep = this.q.replica.get(job.seq, r.index, leaseId);
      if (!rep || rep.state !== 'leased') {
        out.dropped++;
        continue;
      }
      const sub = this.q.subtask.get(job.seq, r.index);
      // Caught before or by an earlier result of this batch: what it says now counts for nothing.
      const caught = wasQuarantined || out.quarantined.includes(deviceId);
      if (!active || out.failedForGood || !sub || sub.state === 'failed' || caught) {
        this.q.dropReplica.run(job.seq, r.index, leaseId);
        if (active && sub && sub.state !== 'failed' && sub.state !== 'done') this.resettle(job.seq, r.index, this.afterLoss(job, sub), out, true);
        out.dropped++;
        continue;
      }
      if (!r.ok) {
        this.recordError(job, r.index, leaseId, sub, r, out);
        continue;
      }
      this.q.report.run(r.json, job.seq, r.index, job.seq, r.index, leaseId);
      out.succeeded++;
      if (sub.state === 'done') {
        // A late replica of an accepted input: judged against the results that were accepted.
        this.judgeLate(job, r.index, leaseId, deviceId, r.json, now, out);
        out.dropped++;
        continue;
      }
      out.accepted++;
      if (this.decide(job, r.index, sub, now, out) === 'accepted') out.completed++;
    }
    return out;
  }

  /**
   * A failed run: its slot opens again (any device may take it, this one too) and the input counts an
   * attempt, until `quorum.failedForGood` says it fails.
   */
  private recordError(
    job: VerifiedJobRow,
    idx: number,
    leaseId: string,
    sub: SubtaskRow,
    r: { code: JobError['code']; message: string },
    out: VerifiedRecord,
  ): void {
    if (sub.state === 'done') {
      this.q.dropReplica.run(job.seq, idx, leaseId);
      out.dropped++;
      return;
    }
    this.q.markError.run(job.seq, idx, leaseId);
    out.accepted++;
    out.failedRuns++;
    const attempts = sub.attempts + 1;
    this.q.attempt.run(attempts, job.seq, idx);
    const devices = this.q.errorDevices.get(job.seq, idx)?.n ?? 0;
    const error = quorum.failedForGood(quorumOf(job), idx, attempts, devices, r);
    if (error) {
      this.failSubtask(job.seq, idx, sub);
      out.failedForGood = error;
      return;
    }
    this.resettle(job.seq, idx, this.afterLoss(job, sub), out, true);
  }

  private afterLoss(job: VerifiedJobRow, sub: SubtaskRow): number {
    return quorum.afterLoss(job, sub.target);
  }

  private failSubtask(seq: number, idx: number, sub: SubtaskRow): void {
    this.q.fail.run(seq, idx);
    this.bump(seq, quorum.leaving(sub.state));
  }

  /**
   * Throws away an input's accepted value (one device's unchecked word): it runs again on k devices,
   * or, in a job that no longer runs, stays missing from its results.
   */
  private rerun(job: VerifiedJobRow, idx: number, live: boolean): void {
    this.q.reopenSubtask.run(job.replication, job.seq, idx);
    this.q.rechecked.run(job.seq);
    this.bump(job.seq, { queued: live ? 1 : 0, leased: 0 }, -1);
  }

  /** Applies `quorum.decide` to an undecided input's reported results: accept, wait for more, or fail. */
  private decide(job: VerifiedJobRow, idx: number, sub: SubtaskRow, now: number, out: VerifiedRecord): 'accepted' | 'waiting' | 'failed' {
    const reps = this.q.reported.all(job.seq, idx);
    const decision = quorum.decide(quorumOf(job), idx, sub.target, reps.map((r) => JSON.parse(r.result ?? 'null') as JsonValue));
    if (decision.kind === 'accept') {
      this.q.accept.run((reps[decision.value] as ReplicaRow).result ?? 'null', job.seq, idx);
      this.bump(job.seq, quorum.leaving(sub.state), 1);
      reps.forEach((rep, i) => this.judge(rep, job.seq, idx, decision.verdicts[i] ?? 'unchecked', now, out));
      return 'accepted';
    }
    if (decision.kind === 'fail') {
      this.failSubtask(job.seq, idx, sub);
      out.failedForGood = decision.error;
      return 'failed';
    }
    this.resettle(job.seq, idx, decision.target, out, decision.target > sub.target);
    return 'waiting';
  }

  /** A replica reported after its input was accepted: compared with the results that were. */
  private judgeLate(job: VerifiedJobRow, idx: number, leaseId: string, deviceId: string, json: string, now: number, out: VerifiedRecord): void {
    const accepted = this.q.validResults.all(job.seq, idx).map((r) => JSON.parse(r.result ?? 'null') as JsonValue);
    const verdict = quorum.judgeLate(job, accepted, JSON.parse(json) as JsonValue);
    this.judge({ lease_id: leaseId, device_id: deviceId }, job.seq, idx, verdict, now, out);
  }

  /** Records a verdict on one device's result; an invalid one quarantines its device (and rechecks its unchecked results). */
  private judge(rep: { lease_id: string; device_id: string }, seq: number, idx: number, verdict: quorum.Verdict, now: number, out: VerifiedRecord): void {
    this.q.verdict.run(verdict, seq, idx, rep.lease_id);
    if (verdict === 'valid') this.q.valid.run(rep.device_id);
    if (verdict !== 'invalid') return;
    this.q.invalid.run(rep.device_id);
    if (this.q.quarantine.run(now, rep.device_id).changes > 0) {
      this.devicesChanged();
      out.quarantined.push(rep.device_id);
      this.recheck(rep.device_id, out);
    }
  }

  /**
   * A device was caught: every result of it that was accepted unchecked runs again (its job reopens
   * if it had completed), and its results on inputs not yet decided are thrown away. (Its running
   * replicas are released by the store with its open leases.)
   */
  private recheck(deviceId: string, out: VerifiedRecord): void {
    for (const rep of this.q.unjudgedOf.all(deviceId)) {
      const job = this.q.job.get(rep.job_seq);
      if (!job) continue;
      const sub = this.q.subtask.get(rep.job_seq, rep.idx);
      this.q.voidReplica.run(rep.job_seq, rep.idx, rep.lease_id);
      if (!sub || job.deleted !== 0 || sub.state === 'failed') continue;
      // A failed or cancelled job runs nothing more, but does not keep the caught device's value either.
      const live = job.status === 'queued' || job.status === 'running' || job.status === 'completed';
      if (rep.verdict === 'unchecked' && sub.state === 'done') {
        this.rerun(job, rep.idx, live);
        if (!live) continue;
        out.requeued++;
        this.q.reopenJob.run(rep.job_seq);
        if (!out.reopened.includes(job.id)) out.reopened.push(job.id);
      } else if (live && sub.state !== 'done' && rep.verdict === null) {
        this.resettle(rep.job_seq, rep.idx, undefined, out, true);
      }
    }
  }

  /**
   * A lease of a verified job was lost: its replicas still running are given back (a loss each).
   * Returns the requeued count and the first input lost too often.
   */
  release(job: VerifiedJobRow, leaseId: string, countLoss: boolean): { requeued: number; lost: { idx: number; losses: number } | null } {
    let requeued = 0;
    let lost: { idx: number; losses: number } | null = null;
    for (const { idx } of this.q.leasedOfLease.all(leaseId)) {
      this.q.dropReplica.run(job.seq, idx, leaseId);
      const sub = this.q.subtask.get(job.seq, idx);
      if (!sub || sub.state === 'done' || sub.state === 'failed') continue;
      const losses = sub.losses + (countLoss ? 1 : 0);
      this.q.loss.run(losses, job.seq, idx);
      if (losses > limits.MAX_LEASE_LOSSES && !lost) lost = { idx, losses };
      this.bump(job.seq, this.settle(job.seq, idx, this.afterLoss(job, sub)));
      requeued++;
    }
    return { requeued, lost };
  }

  /**
   * An adaptive job's aggregate failed: every result it accepted unchecked (one device's word) runs
   * again on k devices instead of failing the job. Returns how many inputs were reopened (0: every
   * result was checked, the failure stands).
   */
  reopenUnchecked(job: VerifiedJobRow): number {
    const singles = this.q.uncheckedOfJob.all(job.seq);
    for (const { idx } of singles) {
      for (const r of this.q.reported.all(job.seq, idx)) this.q.voidReplica.run(job.seq, idx, r.lease_id);
      this.rerun(job, idx, true);
    }
    return singles.length;
  }

  /** A verified job ended: replicas still running are dropped (their late results are not needed). */
  endJob(seq: number): void {
    this.q.dropLeasedOfJob.run(seq);
  }

  /**
   * Whether a running verified job waits for devices: no connected device that is not quarantined
   * may take the first input with a replica slot open (by the same rules as `pick`).
   */
  waitingForDevices(seq: number): boolean {
    const first = this.q.firstOpen.get(seq);
    if (!first) return false;
    this.countAddresses();
    return (this.q.idleDevicesFor.get(first.target, seq, first.idx)?.n ?? 0) === 0;
  }

  /** Replicas of this lease still running. */
  stillLeased(leaseId: string): number {
    return this.q.stillLeased.get(leaseId)?.n ?? 0;
  }
}

/** The verification settings of a job row. */
function quorumOf(job: VerifiedJobRow): quorum.QuorumJob {
  return { verify: job.verify, replication: job.replication, quorum: job.quorum, tolerance: job.tolerance, maxAttempts: job.max_attempts };
}

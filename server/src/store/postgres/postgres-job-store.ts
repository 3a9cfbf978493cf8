/**
 * The store contract (`JobStore`) on PostgreSQL, for several hubs on one database: jobs, inputs, results,
 * submitters, devices and blobs here, the work plane in ./pg-work.ts and verification in ./pg-verified.ts. The
 * device calls that write (leases, results, renewals) are group-committed (./pg-batch.ts); every other call is its
 * own transaction.
 */
import { randomBytes, randomInt } from 'node:crypto';
import {
  blobRef,
  inputCount,
  type DeviceTimingStats,
  type Job,
  type JobError,
  type JobErrorCode,
  type JobSpec,
  type JobStatus,
  type JsonValue,
  type Reducer,
  type SharedFile,
} from '@edgeswarm/shared';
import type { JobStore } from '../async-store.ts';
import { toDeviceTimingStats, type TimingRow } from '../job-timing-rows.ts';
import { MissingBlobError, type JobTimingDelta, type CancelOutcome, type LeaseContext, type Page, type ResultsPage, type WorkCounts } from '../job-store.ts';
import { ReadCoalescer } from './pg-read-batch.ts';
import { migrate } from './postgres-schema.ts';
import { PgSession, type Queryable } from './pg-session.ts';
import * as blobs from './pg-blobs.ts';
import * as directory from './pg-directory.ts';
import * as work from './pg-work.ts';
import * as verified from './pg-verified.ts';
import { PgBatcher } from './pg-batch.ts';
import { RENEWALS, RESULTS } from './pg-results-batch.ts';
import { leaseGroup, TAILS } from './pg-lease-batch.ts';

/** A hub that took a job to aggregate and has not completed it after this long is taken for dead: another may. */
const FINALIZER_STALE_MS = 60_000;
/** Now, in the database's time (milliseconds). */
const DB_NOW = 'extract(epoch from clock_timestamp()) * 1000';
/** How long an answer of `unleasedCount` serves. */
const UNLEASED_FRESH_MS = 50;
/** Submissions of submitter tokens are remembered this long (the per-minute limit needs one minute). */
const SUBMISSIONS_KEPT_MS = 3_600_000;
/** Elements of an inputs array stored per row (as the SQLite engine). */
const INPUT_CHUNK = 1024;
const ACTIVE = `status IN ('queued', 'running') AND NOT deleted`;

interface JobRow {
  seq: number;
  id: string;
  name: string;
  total: number;
  reduce: Reducer;
  timeout_ms: number;
  max_attempts: number;
  meta: string;
  status: JobStatus;
  completed: number;
  failed: number;
  result: string | null;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  priority: number;
  owner: string | null;
  verify: 'none' | 'replicate' | 'adaptive';
  replication: number;
  quorum: number;
  tolerance: number;
  rechecked: number;
  bundle: string | null;
  bundle_size: number | null;
  shared: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function toJob(row: JobRow): Job {
  const job: Job = {
    id: row.id,
    name: row.name,
    status: row.status,
    progress: { total: row.total, completed: row.completed, failed: row.failed },
    reduce: row.reduce,
    meta: JSON.parse(row.meta) as Record<string, JsonValue>,
    timeoutMs: row.timeout_ms,
    maxAttempts: row.max_attempts,
    priority: row.priority,
    verify: row.verify,
    replication: row.replication,
    quorum: row.quorum,
    tolerance: row.tolerance,
    owner: row.owner,
    createdAt: new Date(row.created_at).toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  };
  if (row.status === 'completed' && row.reduce !== 'collect' && row.result !== null) job.result = JSON.parse(row.result) as JsonValue;
  if (row.error !== null) job.error = JSON.parse(row.error) as JobError;
  if (row.rechecked > 0) job.rechecked = row.rechecked;
  if (row.bundle !== null) job.bundle = { blob: blobRef(row.bundle), size: row.bundle_size ?? 0 };
  const shared = row.shared === null ? [] : (JSON.parse(row.shared) as SharedFile[]);
  if (shared.length > 0) job.shared = shared.map((f) => ({ ...f, blob: blobRef(f.blob) }));
  return job;
}

const newId = (prefix: string): string => prefix + randomBytes(12).toString('base64url');

async function jobById(q: Queryable, id: string, lock = false): Promise<JobRow | undefined> {
  return (await q.query<JobRow>(`SELECT * FROM jobs WHERE id = $1 AND NOT deleted${lock ? ' FOR UPDATE' : ''}`, [id])).rows[0];
}

/** A job ended or was deleted: its leases close, and its replicas still running are dropped. */
async function closeJob(q: Queryable, seq: number): Promise<void> {
  await q.query('UPDATE leases SET open = false WHERE job_seq = $1 AND open', [seq]);
  await q.query(`DELETE FROM replicas WHERE job_seq = $1 AND state = 'leased'`, [seq]);
}

async function setStatus(q: Queryable, seq: number, status: JobStatus, now: number, result: string | null, error: string | null): Promise<void> {
  await q.query('UPDATE jobs SET status = $1, finished_at = $2, result = $3, error = $4 WHERE seq = $5', [status, now, result, error, seq]);
}

export class PostgresJobStore implements JobStore {
  private constructor(
    /** The pool; the hub's network registry (./pg-network.ts) shares it. */
    readonly session: PgSession,
    private readonly random: () => number,
    /** The name of the hub this store serves: its device connections and leases are marked with it. */
    readonly hub: string,
  ) {
    this.batch = new PgBatcher(session);
    // Leases, results and releases change what is left to lease.
    this.batch.onSettled(() => {
      this.unleased = null;
    });
    this.leases = leaseGroup(random);
  }

  /** Lease requests of one batch, granted together. */
  private readonly leases: ReturnType<typeof leaseGroup>;

  /** One transaction, one commit, for the device calls of one turn of the event loop. */
  private readonly batch: PgBatcher;

  observeCommits(observer: (seconds: number, calls: number) => void): void {
    this.batch.observe(observer);
  }

  /**
   * Connects to `url` (a `postgres://` URL whose role owns the database) and creates or migrates the schema.
   * `max`: connections in the pool; `random`: draws for spot checks (tests fix them); `hub`: the name of the hub
   * this store serves (unique per network; default "hub").
   */
  static async open(url: string, options: { max?: number; random?: () => number; hub?: string } = {}): Promise<PostgresJobStore> {
    const session = new PgSession(url, options);
    try {
      await migrate(session.pool);
    } catch (err) {
      await session.close().catch(() => undefined);
      throw err;
    }
    return new PostgresJobStore(session, options.random ?? (() => randomInt(0, 2 ** 47) / 2 ** 47), options.hub ?? 'hub');
  }

  // ---- jobs -------------------------------------------------------------------------------

  async createJob(spec: JobSpec, now: number, owner: string | null = null): Promise<Job> {
    const job = await this.insertJob(spec, now, owner);
    this.unleased = null; // the devices told of it next must see its inputs
    return job;
  }

  private insertJob(spec: JobSpec, now: number, owner: string | null): Promise<Job> {
    return this.session.tx(async (q) => {
      const sizeOf = async (field: string, hex: string): Promise<number> => {
        const size = await blobs.blobSize(q, hex, owner, now);
        if (size === null) throw new MissingBlobError(field, hex);
        return size;
      };
      const bundleSize = spec.bundle === null ? null : await sizeOf('bundle', spec.bundle);
      const shared: SharedFile[] = [];
      for (const f of spec.shared) shared.push({ ...f, size: await sizeOf(`shared.${f.name}`, f.blob) });
      const id = newId('job_');
      const inputs = spec.inputs;
      const row = (
        await q.query<JobRow>(
          `INSERT INTO jobs (id, name, code, inputs_kind, range_start, range_step, total, reduce, timeout_ms, max_attempts, meta,
             status, created_at, priority, owner, verify, replication, quorum, tolerance, bundle, bundle_size, shared, vtime)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'queued', $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
             (SELECT coalesce(min(vtime), 0) FROM jobs WHERE ${ACTIVE}))
           RETURNING *`,
          [
            id,
            spec.name,
            spec.code ?? '',
            inputs.kind,
            inputs.kind === 'range' ? inputs.range.start : null,
            inputs.kind === 'range' ? inputs.range.step : null,
            inputCount(inputs),
            spec.reduce,
            spec.timeoutMs,
            spec.maxAttempts,
            JSON.stringify(spec.meta),
            now,
            spec.priority,
            owner,
            spec.verify,
            spec.replication,
            spec.quorum,
            spec.tolerance,
            spec.bundle,
            bundleSize,
            shared.length > 0 ? JSON.stringify(shared) : null,
          ],
        )
      ).rows[0];
      if (!row) throw new Error('job vanished right after insert');
      for (const hex of new Set([...(spec.bundle === null ? [] : [spec.bundle]), ...shared.map((f) => f.blob)])) {
        await blobs.referBlob(q, row.seq, hex, owner, now);
      }
      if (owner !== null) {
        await q.query('DELETE FROM submissions WHERE at < $1', [now - SUBMISSIONS_KEPT_MS]);
        await q.query('INSERT INTO submissions (owner, at) VALUES ($1, $2)', [owner, now]);
      }
      if (inputs.kind === 'array') {
        const values = inputs.values;
        for (let c = 0; c * INPUT_CHUNK < values.length; c++) {
          await q.query('INSERT INTO input_chunks (job_seq, chunk, items) VALUES ($1, $2, $3)', [
            row.seq,
            c,
            JSON.stringify(values.slice(c * INPUT_CHUNK, (c + 1) * INPUT_CHUNK)),
          ]);
        }
      }
      return toJob(row);
    });
  }

  async getJob(id: string): Promise<Job | null> {
    const row = await jobById(this.session, id);
    return row ? this.toJob(row) : null;
  }

  /** The Job, with whether a running verified job waits for more distinct devices. */
  private async toJob(row: JobRow): Promise<Job> {
    const job = toJob(row);
    if (row.verify !== 'none' && (row.status === 'queued' || row.status === 'running') && (await verified.waitingForDevices(this.session, row.seq))) {
      job.waitingForDevices = true;
    }
    return job;
  }

  async listJobs(offset: number, limit: number, owner?: string): Promise<Page<Job>> {
    const mine = owner !== undefined;
    const where = mine ? 'NOT deleted AND owner = $1' : 'NOT deleted';
    const params = mine ? [owner] : [];
    const total = (await this.session.query<{ n: number }>(`SELECT count(*) AS n FROM jobs WHERE ${where}`, params)).rows[0]?.n ?? 0;
    const n = params.length;
    const rows = await this.session.query<JobRow>(`SELECT * FROM jobs WHERE ${where} ORDER BY seq DESC LIMIT $${n + 1} OFFSET $${n + 2}`, [
      ...params,
      limit,
      offset,
    ]);
    return { total, items: await Promise.all(rows.rows.map((row) => this.toJob(row))) };
  }

  async jobCountsByStatus(): Promise<Partial<Record<JobStatus, number>>> {
    const rows = await this.session.query<{ status: JobStatus; n: number }>('SELECT status, count(*) AS n FROM jobs WHERE NOT deleted GROUP BY status');
    return Object.fromEntries(rows.rows.map((r) => [r.status, r.n]));
  }

  cancelJob(id: string, now: number): Promise<CancelOutcome> {
    return this.changingUnleased(async (q): Promise<CancelOutcome> => {
      const row = await jobById(q, id, true);
      if (!row) return 'not_found';
      if (row.status !== 'queued' && row.status !== 'running') return 'already_finished';
      await setStatus(q, row.seq, 'cancelled', now, null, null);
      await closeJob(q, row.seq);
      return 'cancelled';
    });
  }

  deleteJob(id: string): Promise<boolean> {
    return this.changingUnleased(async (q) => {
      const row = await jobById(q, id, true);
      if (!row) return false;
      await q.query('UPDATE jobs SET deleted = true WHERE seq = $1', [row.seq]);
      await closeJob(q, row.seq);
      return true;
    });
  }

  purgeStep(maxRows: number): Promise<number> {
    return this.session.tx(async (q) => {
      const job = (await q.query<{ seq: number }>('SELECT seq FROM jobs WHERE deleted LIMIT 1 FOR UPDATE SKIP LOCKED')).rows[0];
      if (!job) return 0;
      let removed = 0;
      const tables: [string, string][] = [
        ['replicas', 'idx'],
        ['subtasks', 'idx'],
        ['input_chunks', 'chunk'],
        ['leases', 'id'],
        ['job_blobs', 'sha256'],
        ['job_device_timing', 'device_id'],
      ];
      for (const [table, key] of tables) {
        const info = await q.query(`DELETE FROM ${table} WHERE job_seq = $1 AND ${key} IN (SELECT ${key} FROM ${table} WHERE job_seq = $1 LIMIT $2)`, [
          job.seq,
          maxRows - removed,
        ]);
        removed += info.rowCount ?? 0;
        if (removed >= maxRows) return removed;
      }
      await q.query('DELETE FROM jobs WHERE seq = $1', [job.seq]);
      return removed + 1;
    });
  }

  async purgeFinishedBefore(cutoff: number): Promise<number> {
    const info = await this.session.query(
      `UPDATE jobs SET deleted = true WHERE NOT deleted AND status IN ('completed', 'failed', 'cancelled') AND finished_at < $1`,
      [cutoff],
    );
    return info.rowCount ?? 0;
  }

  async addJobTiming(deltas: JobTimingDelta[]): Promise<void> {
    if (deltas.length === 0) return;
    // In key order, so two hubs writing rows of a device that moved between them cannot deadlock.
    const sorted = [...deltas].sort((a, b) => a.jobId.localeCompare(b.jobId) || a.deviceId.localeCompare(b.deviceId));
    await this.session.query(
      `INSERT INTO job_device_timing AS t (job_seq, device_id, threads, runs, compute_ms, extra_ms, messages, rtt_sum_ms, rtt_count)
       SELECT j.seq, u.device, u.threads, u.runs, u.compute, u.extra, u.messages, u.rtt_sum, u.rtt_count
         FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::float8[], $6::float8[], $7::bigint[], $8::float8[], $9::bigint[])
              WITH ORDINALITY AS u(job, device, threads, runs, compute, extra, messages, rtt_sum, rtt_count, n)
         JOIN jobs j ON j.id = u.job AND NOT j.deleted
        ORDER BY u.n
       ON CONFLICT (job_seq, device_id) DO UPDATE SET threads = greatest(t.threads, excluded.threads), runs = t.runs + excluded.runs,
         compute_ms = t.compute_ms + excluded.compute_ms, extra_ms = t.extra_ms + excluded.extra_ms, messages = t.messages + excluded.messages,
         rtt_sum_ms = t.rtt_sum_ms + excluded.rtt_sum_ms, rtt_count = t.rtt_count + excluded.rtt_count`,
      [
        sorted.map((d) => d.jobId),
        sorted.map((d) => d.deviceId),
        sorted.map((d) => d.threads),
        sorted.map((d) => d.runs),
        sorted.map((d) => d.computeMs),
        sorted.map((d) => d.extraMs),
        sorted.map((d) => d.messages),
        sorted.map((d) => d.rttSumMs),
        sorted.map((d) => d.rttCount),
      ],
    );
  }

  async jobTimingStats(jobIds: string[]): Promise<Map<string, DeviceTimingStats[]>> {
    const out = new Map<string, DeviceTimingStats[]>();
    if (jobIds.length === 0) return out;
    const rows = await this.session.query<TimingRow>(
      `SELECT j.id AS job_id, t.device_id, d.name, t.threads, t.runs, t.compute_ms, t.extra_ms, t.messages, t.rtt_sum_ms, t.rtt_count
         FROM jobs j JOIN job_device_timing t ON t.job_seq = j.seq LEFT JOIN devices d ON d.id = t.device_id
        WHERE j.id = ANY($1)`,
      [jobIds],
    );
    for (const r of rows.rows) {
      const list = out.get(r.job_id);
      if (list) list.push(toDeviceTimingStats(r));
      else out.set(r.job_id, [toDeviceTimingStats(r)]);
    }
    return out;
  }

  async getResults(jobId: string, offset: number, limit: number): Promise<ResultsPage | null> {
    const job = await jobById(this.session, jobId);
    if (!job) return null;
    const end = Math.min(job.total, offset + limit);
    const size = Math.max(0, end - offset);
    const results: (JsonValue | null)[] = new Array<JsonValue | null>(size).fill(null);
    const present = new Uint8Array(size);
    const rows = await this.session.query<{ idx: number; result: string }>(
      `SELECT idx, result FROM subtasks WHERE job_seq = $1 AND idx >= $2 AND idx < $3 AND state = 'done'`,
      [job.seq, offset, end],
    );
    for (const row of rows.rows) {
      results[row.idx - offset] = JSON.parse(row.result) as JsonValue;
      present[row.idx - offset] = 1;
    }
    const missing: number[] = [];
    for (let i = 0; i < size; i++) if (present[i] === 0) missing.push(i);
    return { total: job.total, offset, results, missing };
  }

  async resultsChunk(jobId: string, fromIndex: number, limit: number): Promise<string[]> {
    const job = await jobById(this.session, jobId);
    if (!job) return [];
    const rows = await this.session.query<{ result: string }>(
      `SELECT result FROM subtasks WHERE job_seq = $1 AND idx >= $2 AND state = 'done' ORDER BY idx LIMIT $3`,
      [job.seq, fromIndex, limit],
    );
    return rows.rows.map((r) => r.result);
  }

  /**
   * Jobs whose every input is done and that this hub may aggregate: those no hub has taken, those it took itself
   * (a previous process of it, or a try that failed), and those another hub took over FINALIZER_STALE_MS ago (it
   * died meanwhile). Taking them is what is returned.
   */
  async jobsAwaitingFinalize(): Promise<string[]> {
    const rows = await this.session.query<{ id: string }>(
      `UPDATE jobs SET finalizer = $1, finalizer_since = ${DB_NOW}
        WHERE ${ACTIVE} AND completed >= total
          AND (finalizer IS NULL OR finalizer = $1 OR finalizer_since < ${DB_NOW} - $2)
        RETURNING id`,
      [this.hub, FINALIZER_STALE_MS],
    );
    return rows.rows.map((r) => r.id);
  }

  completeJob(jobId: string, result: JsonValue | undefined, now: number, rechecked = 0): Promise<boolean> {
    return this.session.tx(async (q) => {
      const row = await jobById(q, jobId, true);
      if (!row || (row.status !== 'queued' && row.status !== 'running') || row.completed < row.total) return false;
      // Inputs were run again since the aggregate was started: it may hold a caught device's values.
      if (row.rechecked !== rechecked) return false;
      await setStatus(q, row.seq, 'completed', now, result === undefined ? null : JSON.stringify(result), null);
      await closeJob(q, row.seq);
      return true;
    });
  }

  failJob(jobId: string, error: { code: JobErrorCode; message: string; input: number }, now: number, rechecked?: number): Promise<boolean> {
    return this.changingUnleased(async (q) => {
      const row = await jobById(q, jobId, true);
      if (!row || (row.status !== 'queued' && row.status !== 'running')) return false;
      if (rechecked !== undefined && row.rechecked !== rechecked) return false;
      await q.query('UPDATE jobs SET failed = failed + 1 WHERE seq = $1', [row.seq]);
      await setStatus(q, row.seq, 'failed', now, null, JSON.stringify(error));
      await closeJob(q, row.seq);
      return true;
    });
  }

  async workCounts(): Promise<WorkCounts> {
    const done = (await this.session.query<{ n: number }>('SELECT coalesce(sum(completed), 0)::bigint AS n FROM jobs WHERE NOT deleted')).rows[0]?.n ?? 0;
    const active = (
      await this.session.query<{ queued: number; running: number }>(
        `SELECT coalesce(sum(total - next_index + queued), 0)::bigint AS queued, coalesce(sum(leased), 0)::bigint AS running FROM jobs WHERE ${ACTIVE}`,
      )
    ).rows[0];
    return { completed: done, queued: active?.queued ?? 0, running: active?.running ?? 0 };
  }

  async activeJobDepths(limit: number): Promise<{ jobId: string; queued: number; running: number }[]> {
    const rows = await this.session.query<{ jobId: string; queued: number; running: number }>(
      `SELECT id AS "jobId", total - next_index + queued AS queued, leased AS running FROM jobs WHERE ${ACTIVE} ORDER BY queued DESC, seq LIMIT $1`,
      [limit],
    );
    return rows.rows;
  }

  /**
   * Asked before every lease (to size it), so calls made while one is on its way share its answer, and an answer
   * serves for UNLEASED_FRESH_MS: leases are sized from a figure at most that old (the lease itself is exact).
   */
  unleasedCount(): Promise<number> {
    const now = performance.now();
    if (this.unleased && now - this.unleased.at < UNLEASED_FRESH_MS) return this.unleased.value;
    const value = this.session
      .query<{ n: number }>(`SELECT coalesce(sum((total - next_index) * replication + queued), 0)::bigint AS n FROM jobs WHERE ${ACTIVE}`)
      .then((r) => r.rows[0]?.n ?? 0);
    const entry = { at: now, value };
    this.unleased = entry;
    value.catch(() => {
      if (this.unleased === entry) this.unleased = null;
    });
    return value;
  }

  private unleased: { at: number; value: Promise<number> } | null = null;

  /**
   * A transaction of its own (not of the batch) that may change what is left to lease: ending a job, deleting it,
   * running inputs again. Once it has committed (or failed), this hub's next `unleasedCount` asks the database again,
   * as after every batch and `createJob`; a cached answer would still count the inputs of a job that ended.
   */
  private async changingUnleased<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    try {
      return await this.session.tx(fn);
    } finally {
      this.unleased = null;
    }
  }

  // ---- submitters and devices -------------------------------------------------------------

  findSubmitter = (tokenHash: string) => directory.findSubmitter(this.session, tokenHash);
  createSubmitter = (name: string, tokenHash: string, limits: Parameters<JobStore['createSubmitter']>[2], now: number) =>
    directory.createSubmitter(this.session, name, tokenHash, limits, now);
  listSubmitters = () => directory.listSubmitters(this.session);
  revokeSubmitter = (name: string, now: number) => directory.revokeSubmitter(this.session, name, now);
  submitterActivity = (name: string, since: number) => directory.submitterActivity(this.session, name, since);
  // Writes to devices and leases go through the hub's one batch at a time, so this hub's transactions never wait
  // for each other (row locks taken in different orders would deadlock).
  registerDevice = (device: Parameters<JobStore['registerDevice']>[0]) => this.batch.run((q) => directory.registerDevice(q, device, this.hub));
  devicesSeen = (updates: Parameters<JobStore['devicesSeen']>[0]) => this.batch.run((q) => directory.devicesSeen(q, updates));
  deviceOffline = (id: string, now: number) => this.batch.run((q) => directory.deviceOffline(q, id, now, this.hub));
  /** This hub's connections (those of its previous process) end; other hubs' stay. */
  markAllDevicesOffline = async () => void (await this.batch.run((q) => directory.hubDevicesOffline(q, this.hub)));
  listDevices = (offset: number, limit: number) => directory.listDevices(this.session, offset, limit);
  onlineDeviceCount = () => directory.onlineDeviceCount(this.session);
  isQuarantined = (deviceId: string) => directory.isQuarantined(this.session, deviceId);
  releaseQuarantine = (deviceId: string) => directory.releaseQuarantine(this.session, deviceId);

  // ---- blobs ------------------------------------------------------------------------------

  beginBlob = (now: number) => blobs.beginBlob(this.session, now);
  appendBlobChunk = (upload: number, index: number, bytes: Uint8Array) => this.session.tx((q) => blobs.appendBlobChunk(q, upload, index, bytes));
  finishBlob = (upload: number, hex: string, owner: string | null, now: number, quota: number | null) =>
    this.session.tx((q) => blobs.finishBlob(q, upload, hex, owner, now, quota));
  abortBlob = (upload: number) => this.session.tx((q) => blobs.abortBlob(q, upload));
  claimBlob = (hex: string, owner: string | null, now: number, quota: number | null) => this.session.tx((q) => blobs.claimBlob(q, hex, owner, now, quota));
  blobStored = (hex: string) => blobs.blobStored(this.session, hex);
  blobSize = (hex: string, owner: string | null, now: number) => this.session.tx((q) => blobs.blobSize(q, hex, owner, now));
  claimedBlobBytes = (owner: string | null) => blobs.claimedBlobBytes(this.session, owner);
  readBlobChunk = (hex: string, index: number) => blobs.readBlobChunk(this.session, hex, index);
  leasedBlobSize = (connId: string, hex: string) => blobs.leasedBlobSize(this.session, connId, hex);
  purgeBlobs = (cutoff: number, now: number, maxRows: number) => this.session.tx((q) => blobs.purgeBlobs(q, cutoff, now, maxRows));

  // ---- the work plane (jobs without verification) -------------------------------------------

  leaseWork = (request: Parameters<JobStore['leaseWork']>[0]) => this.batch.add(this.leases, { ...request, hub: this.hub });
  leaseTail = (request: Parameters<JobStore['leaseTail']>[0]) => this.batch.add(TAILS, { ...request, hub: this.hub });
  heldCount = (connId: string) => work.heldCount(this.session, connId);
  /** Read by every result batch: the reads of one turn share one statement. */
  private readonly leaseContexts = new ReadCoalescer<string, LeaseContext>((ids) => work.getLeaseContexts(this.session, ids));
  getLeaseContext = (leaseId: string) => this.leaseContexts.get(leaseId);
  /** The results' batch reports a job done once; this hub aggregates it unless another hub's sweep took it first. */
  recordResults = async (leaseId: string, deviceId: string, results: Parameters<JobStore['recordResults']>[2], now: number) => {
    const outcome = await this.batch.add(RESULTS, { leaseId, deviceId, results, now });
    if (outcome.jobsToFinalize.length === 0) return outcome;
    const taken = await this.session.query<{ id: string }>(
      `UPDATE jobs SET finalizer = $1, finalizer_since = ${DB_NOW} WHERE id = ANY($2) AND (finalizer IS NULL OR finalizer = $1) RETURNING id`,
      [this.hub, outcome.jobsToFinalize],
    );
    const mine = new Set(taken.rows.map((r) => r.id));
    return { ...outcome, jobsToFinalize: outcome.jobsToFinalize.filter((id) => mine.has(id)) };
  };
  renewLeases = (connId: string, deadline: number) => this.batch.add(RENEWALS, { connId, deadline });
  releaseConnectionLeases = (connId: string, now: number) =>
    this.batch.run(async (q) => work.releaseRows(q, await work.connectionLeases(q, connId), now, true));
  expireLeases = (monotonicNow: number, now: number) => this.batch.run(async (q) => work.releaseRows(q, await work.expiredLeases(q, monotonicNow), now, true));
  /** The leases this hub granted (those of its previous process) are voided; other hubs' stay. */
  releaseAllLeases = (now: number) => this.batch.run(async (q) => work.releaseRows(q, await work.hubLeases(q, this.hub), now, false));

  reopenUnchecked(jobId: string): Promise<number> {
    return this.changingUnleased(async (q) => {
      const row = await jobById(q, jobId, true);
      if (!row || row.verify === 'none' || (row.status !== 'queued' && row.status !== 'running')) return 0;
      const reopened = await verified.reopenUnchecked(q, row);
      // Done again later, it is aggregated again, by whichever hub then takes it.
      if (reopened > 0) await q.query('UPDATE jobs SET finalizer = NULL, finalizer_since = NULL WHERE seq = $1', [row.seq]);
      return reopened;
    });
  }

  async close(): Promise<void> {
    await this.session.close();
  }
}

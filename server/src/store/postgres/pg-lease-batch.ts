/**
 * Leases of many devices granted together (one group-commit batch), as graphile-worker claims jobs in batches: the
 * jobs with work are read and locked once, the inputs are handed out in memory by the same rules as `leaseWork` one
 * request at a time (fair share by virtual time, queued inputs first, then fresh ones), and the leases, subtasks, jobs
 * and devices are written in a few set-based statements for the whole batch. While a verified job runs, the batch's
 * requests are served one at a time instead.
 */
import type { LeaseItem, SharedFile } from '@edgeswarm/shared';
import type { ActiveLease } from '../job-store.ts';
import { priorityWeight, slowStartMax } from '../store-policy.ts';
import type { BatchGroup } from './pg-batch.ts';
import type { Queryable } from './pg-session.ts';
import { ACTIVE, inputsOf, leaseTail, leaseWork, newId, type HubLeaseRequest, type JobRow } from './pg-work.ts';

/** Jobs read for one batch: enough that requests rarely find all of them out of work. */
const CANDIDATES = 50;

interface Claim {
  request: HubLeaseRequest;
  job: JobRow;
  indexes: number[];
  fromQueue: number;
  leaseId: string;
}

async function one(q: Queryable, request: HubLeaseRequest, random: () => number): Promise<ActiveLease | null> {
  return leaseWork(q, request, random);
}

/**
 * Inputs each connection holds, counted lease by lease through `subtasks_by_lease`. Written as a join, the planner
 * (which cannot tell how few of the open leases a batch asks about) hashes every entry of that index, most of them
 * dead after a busy minute (every recorded input leaves one): 30–250 ms a batch instead of about 1 ms.
 */
const HELD_BY_CONN = `SELECT l.conn_id, sum((SELECT count(*) FROM subtasks s WHERE s.lease_id = l.id AND s.state = 'leased'))::bigint AS n
  FROM leases l WHERE l.conn_id = ANY($1) AND l.open GROUP BY l.conn_id`;

/** What a lease batch reads of its devices and connections: no lock needed, only this hub's batches write them. */
interface DeviceReads {
  quarantined: Set<string>;
  /** Inputs each connection holds (of its open leases, not yet reported). */
  held: Map<string, number>;
}

async function readDevices(q: Queryable, requests: HubLeaseRequest[]): Promise<DeviceReads> {
  const quarantined = new Set(
    (await q.query<{ id: string }>('SELECT id FROM devices WHERE id = ANY($1) AND quarantined_at IS NOT NULL', [[...new Set(requests.map((r) => r.deviceId))]])).rows.map(
      (r) => r.id,
    ),
  );
  // What each connection may still hold (inputs of its open leases not yet reported count against it).
  const limited = [...new Set(requests.filter((r) => r.maxHeld !== undefined).map((r) => r.connId))];
  const held = new Map<string, number>();
  if (limited.length > 0) {
    const rows = await q.query<{ conn_id: string; n: number }>(
      HELD_BY_CONN,
      [limited],
    );
    for (const r of rows.rows) held.set(r.conn_id, Number(r.n));
  }
  return { quarantined, held };
}

async function leaseMany(q: Queryable, requests: HubLeaseRequest[], random: () => number, prepared?: DeviceReads): Promise<(ActiveLease | null)[]> {
  const { quarantined, held } = prepared ?? (await readDevices(q, requests));
  const jobs = (
    await q.query<JobRow>(
      // Locked in the order of their seq, as every other batch locks jobs, so two hubs' batches cannot deadlock on them.
      `SELECT * FROM jobs WHERE seq IN (
         SELECT seq FROM jobs WHERE ${ACTIVE} AND (next_index < total OR queued > 0) ORDER BY vtime, seq LIMIT ${CANDIDATES})
       ORDER BY seq FOR UPDATE`,
    )
  ).rows;
  if (jobs.some((j) => j.verify !== 'none')) {
    const out: (ActiveLease | null)[] = [];
    for (const r of requests) out.push(await one(q, r, random));
    return out;
  }
  // Queued inputs of each job, as many as the batch could take, locked (another hub's batch skips them).
  const need = requests.reduce((sum, r) => sum + r.max, 0);
  const withQueue = jobs.filter((j) => j.queued > 0).map((j) => j.seq);
  const queued = new Map<number, number[]>();
  if (withQueue.length > 0) {
    const rows = await q.query<{ seq: number; idx: number }>(
      `SELECT j.seq, s.idx FROM unnest($1::bigint[]) AS j(seq),
         LATERAL (SELECT idx FROM subtasks WHERE job_seq = j.seq AND state = 'queued' ORDER BY idx LIMIT $2 FOR UPDATE SKIP LOCKED) AS s`,
      [withQueue, need],
    );
    for (const r of rows.rows) {
      const list = queued.get(r.seq);
      if (list) list.push(r.idx);
      else queued.set(r.seq, [r.idx]);
    }
  }
  // Slow start: a connection that holds an input of a job without a success yet gets none of it.
  const starting = jobs.filter((j) => j.completed === 0).map((j) => j.seq);
  const slowConns = [...new Set(requests.filter((r) => r.slowStart === true).map((r) => r.connId))];
  const holding = new Set<string>();
  if (starting.length > 0 && slowConns.length > 0) {
    const rows = await q.query<{ conn_id: string; job_seq: number }>(
      `SELECT DISTINCT l.conn_id, l.job_seq FROM leases l
        WHERE l.conn_id = ANY($1) AND l.job_seq = ANY($2) AND l.open
          AND EXISTS (SELECT 1 FROM subtasks s WHERE s.lease_id = l.id AND s.state = 'leased')`,
      [slowConns, starting],
    );
    for (const r of rows.rows) holding.add(`${r.conn_id}:${r.job_seq}`);
  }
  // Fair share in memory: each request goes to the job with the lowest virtual time that still has work.
  const state = jobs.map((job) => ({ job, vtime: job.vtime, next: job.next_index, queue: queued.get(job.seq) ?? [] }));
  const claims: (Claim | null)[] = [];
  for (const request of requests) {
    if (quarantined.has(request.deviceId)) {
      claims.push(null);
      continue;
    }
    const room = request.maxHeld === undefined ? Infinity : request.maxHeld - (held.get(request.connId) ?? 0);
    if (room <= 0) {
      claims.push(null);
      continue;
    }
    const slow = request.slowStart === true;
    const open = state
      .filter((s) => s.queue.length > 0 || s.next < s.job.total)
      .filter((s) => !(slow && s.job.completed === 0 && holding.has(`${request.connId}:${s.job.seq}`)))
      .sort((a, b) => a.vtime - b.vtime || a.job.seq - b.job.seq)[0];
    if (!open) {
      claims.push(null);
      continue;
    }
    const max = Math.min(room, slow ? slowStartMax(request.max, open.job.completed) : request.max);
    if (slow && open.job.completed === 0) holding.add(`${request.connId}:${open.job.seq}`);
    const fromQueue = open.queue.splice(0, max);
    const fresh = Math.min(max - fromQueue.length, open.job.total - open.next);
    const indexes = [...fromQueue];
    for (let i = 0; i < fresh; i++) indexes.push(open.next + i);
    open.next += fresh;
    held.set(request.connId, (held.get(request.connId) ?? 0) + indexes.length);
    open.vtime += indexes.length / priorityWeight(open.job.priority);
    claims.push({ request, job: open.job, indexes, fromQueue: fromQueue.length, leaseId: newId('lease_') });
  }
  const granted = claims.filter((c): c is Claim => c !== null && c.indexes.length > 0);
  if (granted.length === 0) return claims.map(() => null);

  await q.query(
    `INSERT INTO leases (id, job_seq, device_id, conn_id, deadline, max_deadline, items, speculative, hub)
     SELECT * , false, $8 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::text[])`,
    [
      granted.map((c) => c.leaseId),
      granted.map((c) => c.job.seq),
      granted.map((c) => c.request.deviceId),
      granted.map((c) => c.request.connId),
      granted.map((c) => c.request.deadline),
      granted.map((c) => c.request.deadline + c.indexes.length * c.job.timeout_ms),
      granted.map((c) => JSON.stringify(c.indexes)),
      granted[0]?.request.hub ?? '',
    ],
  );
  await q.query(`UPDATE devices SET state = 'working' WHERE id = ANY($1) AND state <> 'working'`, [[...new Set(granted.map((c) => c.request.deviceId))]]);
  const requeued = { seq: [] as number[], idx: [] as number[], lease: [] as string[] };
  const fresh = { seq: [] as number[], lease: [] as string[], from: [] as number[], to: [] as number[] };
  for (const c of granted) {
    for (const idx of c.indexes.slice(0, c.fromQueue)) {
      requeued.seq.push(c.job.seq);
      requeued.idx.push(idx);
      requeued.lease.push(c.leaseId);
    }
    if (c.indexes.length > c.fromQueue) {
      fresh.seq.push(c.job.seq);
      fresh.lease.push(c.leaseId);
      fresh.from.push(c.indexes[c.fromQueue] ?? 0);
      fresh.to.push(c.indexes[c.indexes.length - 1] ?? 0);
    }
  }
  if (requeued.seq.length > 0) {
    await q.query(
      `UPDATE subtasks s SET state = 'leased', lease_id = u.lease FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(seq, idx, lease)
        WHERE s.job_seq = u.seq AND s.idx = u.idx`,
      [requeued.seq, requeued.idx, requeued.lease],
    );
  }
  if (fresh.seq.length > 0) {
    await q.query(
      `INSERT INTO subtasks (job_seq, idx, state, lease_id)
       SELECT u.seq, i, 'leased', u.lease FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[]) AS u(seq, lease, a, b), generate_series(u.a, u.b) AS i`,
      [fresh.seq, fresh.lease, fresh.from, fresh.to],
    );
  }
  const perJob = new Map<number, { queued: number; fresh: number; leased: number; vtime: number; now: number }>();
  for (const c of granted) {
    const d = perJob.get(c.job.seq) ?? { queued: 0, fresh: 0, leased: 0, vtime: 0, now: c.request.now };
    d.queued += c.fromQueue;
    d.fresh += c.indexes.length - c.fromQueue;
    d.leased += c.indexes.length;
    d.vtime += c.indexes.length / priorityWeight(c.job.priority);
    perJob.set(c.job.seq, d);
  }
  const changes = [...perJob.entries()];
  await q.query(
    `UPDATE jobs j SET queued = j.queued - u.queued, next_index = j.next_index + u.fresh, leased = j.leased + u.leased, status = 'running',
       started_at = coalesce(j.started_at, u.now), vtime = j.vtime + u.vtime
     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::float8[], $6::bigint[]) AS u(seq, queued, fresh, leased, vtime, now)
     WHERE j.seq = u.seq`,
    [changes.map(([s]) => s), changes.map(([, d]) => d.queued), changes.map(([, d]) => d.fresh), changes.map(([, d]) => d.leased), changes.map(([, d]) => d.vtime), changes.map(([, d]) => d.now)],
  );
  const out: (ActiveLease | null)[] = [];
  for (const c of claims) {
    if (!c || c.indexes.length === 0) {
      out.push(null);
      continue;
    }
    const items: LeaseItem[] = await inputsOf(q, c.job, c.indexes);
    out.push({
      lease: { id: c.leaseId, jobId: c.job.id, deviceId: c.request.deviceId, connId: c.request.connId, deadline: c.request.deadline, items: c.indexes },
      items,
      code: c.job.code,
      bundle: c.job.bundle === null ? null : { blob: c.job.bundle, size: c.job.bundle_size ?? 0 },
      shared: c.job.shared === null ? [] : (JSON.parse(c.job.shared) as SharedFile[]),
      timeoutMs: c.job.timeout_ms,
      jobName: c.job.name,
      owner: c.job.owner,
    });
  }
  return out;
}

/** Lease requests, granted together; `random` draws spot checks when a verified job's requests go one at a time. */
export function leaseGroup(random: () => number): BatchGroup<HubLeaseRequest, ActiveLease | null> {
  return {
    name: 'leases',
    order: 2,
    // Read at the start of the batch's transaction, before the results' counters lock the jobs' rows.
    prepare: (q, requests) => readDevices(q, requests),
    many: (q, requests, prepared) => leaseMany(q, requests, random, prepared as DeviceReads | undefined),
    one: (q, request) => one(q, request, random),
  };
}

/**
 * Tail-copy requests of one batch: one statement finds whether any job is in its tail at all (most of the time none
 * is, and every request gets null at once); otherwise the requests of connections without an open lease are served
 * one at a time, until a few in a row find nothing left to copy.
 */
export const TAILS: BatchGroup<HubLeaseRequest, ActiveLease | null> = {
  name: 'tail copies',
  order: 3,
  async many(q, requests) {
    const inTail = await q.query(`SELECT 1 FROM jobs WHERE ${ACTIVE} AND verify = 'none' AND queued = 0 AND next_index >= total AND leased > 0 LIMIT 1`);
    if (inTail.rowCount === 0) return requests.map(() => null);
    const busy = new Set(
      (await q.query<{ conn_id: string }>('SELECT DISTINCT conn_id FROM leases WHERE conn_id = ANY($1) AND open', [requests.map((r) => r.connId)])).rows.map(
        (r) => r.conn_id,
      ),
    );
    const out: (ActiveLease | null)[] = [];
    let misses = 0;
    for (const request of requests) {
      if (busy.has(request.connId) || misses >= 3) {
        out.push(null);
        continue;
      }
      const active = await leaseTail(q, request);
      if (active) busy.add(request.connId);
      misses = active ? 0 : misses + 1;
      out.push(active);
    }
    return out;
  },
  one: (q, request) => leaseTail(q, request),
};

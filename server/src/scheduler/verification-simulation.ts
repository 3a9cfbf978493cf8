/**
 * A seeded fleet of virtual devices, some of them lying, that drives the real WorkService over a
 * real SqliteJobStore file and counts what result verification lets through: wrong results in
 * completed jobs, devices quarantined, and what replication cost (runs per input).
 *
 * Test and bench only: nothing in the hub imports this.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJobSpec, type RunResult, type VerifyMode } from '@edgeswarm/shared';
import { ManualClock } from '../clock.ts';
import { SqliteJobStore } from '../store/sqlite-job-store.ts';
import { sqliteStore } from '../store/async-store.ts';
import { Rng } from './sim-random.ts';
import { DeviceQuarantinedError, WorkService, type DeviceConnection } from './work-service.ts';

export type Behaviour =
  /** Always right. */
  | { kind: 'honest' }
  /** Wrong at `rate`, each time a different random wrong value. */
  | { kind: 'liar'; rate: number }
  /** Wrong on the same inputs as every other colluder (a hash of job and input below `rate`), with the same wrong value. */
  | { kind: 'colluder'; rate: number }
  /** Right for its first `after` results, then wrong on its next `lies` results, then right again. */
  | { kind: 'turncoat'; after: number; lies: number };

export interface VerifySimOptions {
  seed: number;
  verify: VerifyMode;
  replication?: number;
  quorum?: number;
  fleet: Behaviour[];
  jobs: number;
  inputsPerJob: number;
  /** Inputs a device asks for at a time. */
  slots?: number;
  /** Chance that a device vanishes with its lease in a step (it comes back next step). */
  lossRate?: number;
  /** Chance that a device keeps a lease and never answers (the lease expires after its TTL). */
  silentRate?: number;
  /** Chance per step that the hub restarts: same file, leases of the old process void. */
  restartRate?: number;
  maxSteps?: number;
  /** Check the store's verification invariants after every step (default true; off for pure measurements). */
  checkInvariants?: boolean;
}

export interface VerifySimReport {
  seed: number;
  inputs: number;
  /** Successful runs reported, over inputs: 1 for no verification, k for plain replication. */
  runsPerInput: number;
  /** Results in completed jobs that differ from the right answer. */
  wrongAccepted: number;
  /** Wrong results devices returned. */
  liesTold: number;
  /** Completed jobs whose aggregate (sum) is wrong. */
  wrongAggregates: number;
  completedJobs: number;
  failedJobs: number;
  /** Error codes of the failed jobs. */
  failedCodes: string[];
  unfinishedJobs: number;
  /** Quarantined devices by behaviour. */
  quarantined: Record<Behaviour['kind'], number>;
  /** Devices that lied at least once but were never quarantined, and the wrong results they returned. */
  liarsFree: number;
  liesByFree: number;
  rechecked: number;
  steps: number;
  restarts: number;
}

const CODE = '(x) => x * x';
const right = (x: number) => x * x;

/** A stable hash in [0, 1) of a job and input, shared by colluders. */
function sharedChance(jobId: string, index: number): number {
  let h = 2166136261;
  for (const ch of `${jobId}:${index}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return (h >>> 0) / 4294967296;
}

interface SimDevice {
  id: string;
  behaviour: Behaviour;
  conn: DeviceConnection;
  reported: number;
  lies: number;
  away: boolean;
}

export async function runVerification(options: VerifySimOptions): Promise<VerifySimReport> {
  const rng = new Rng(options.seed);
  const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-verify-sim-'));
  const file = join(dir, 'edgeswarm.db');
  const clock = new ManualClock();
  // Seeded throughout, so a run is the same every time.
  const open = () => new SqliteJobStore(file, { random: () => rng.float() });
  let store = open();
  const deferred: (() => void)[] = [];
  try {
    const devices: SimDevice[] = options.fleet.map((behaviour, i) => ({
      id: `dev-${i}-${behaviour.kind}`,
      behaviour,
      conn: { deviceId: `dev-${i}-${behaviour.kind}`, connId: `conn-${i}-0`, threads: 1, address: `10.0.${i >> 8}.${i & 255}` },
      reported: 0,
      lies: 0,
      away: false,
    }));
    const service = () =>
      new WorkService({
        store: sqliteStore(store),
        clock,
        fleetThreads: () => devices.length,
        defer: (step) => deferred.push(step),
        events: { jobStopped: () => {}, workAvailable: () => {}, subtasksCompleted: () => {}, jobFinished: () => {} },
      });
    let work = service();
    let restarts = 0;
    for (const d of devices) store.registerDevice({ id: d.id, kind: 'node', name: d.id, threads: 1, now: clock.now(), address: d.conn.address });
    const jobIds: string[] = [];
    for (let j = 0; j < options.jobs; j++) {
      const parsed = parseJobSpec({
        code: CODE,
        inputs: { range: { start: j * options.inputsPerJob, end: (j + 1) * options.inputsPerJob } },
        reduce: 'sum',
        verify: options.verify,
        ...(options.replication !== undefined ? { replication: options.replication } : {}),
        ...(options.quorum !== undefined ? { quorum: options.quorum } : {}),
        maxAttempts: 20,
      });
      if (!parsed.ok) throw new Error(parsed.message);
      jobIds.push(store.createJob(parsed.value, clock.now()).id);
    }

    let runs = 0;
    let liesTold = 0;
    const answer = (d: SimDevice, jobId: string, index: number, x: number): number => {
      d.reported++;
      const b = d.behaviour;
      let lie = false;
      let wrong = right(x) + 1 + rng.int(1, 1_000_000);
      if (b.kind === 'liar') lie = rng.chance(b.rate);
      else if (b.kind === 'colluder') {
        lie = sharedChance(String(jobIds.indexOf(jobId)), index) < b.rate; // job ids are random; their order is not
        wrong = right(x) + 1;
      } else if (b.kind === 'turncoat') lie = d.reported > b.after && d.lies < b.lies;
      if (!lie) return right(x);
      d.lies++;
      liesTold++;
      return wrong;
    };

    const finished = () => jobIds.every((id) => {
      const s = store.getJob(id)?.status;
      return s === 'completed' || s === 'failed';
    });
    const maxSteps = options.maxSteps ?? 20_000;
    let steps = 0;
    let idleSteps = 0;
    for (; steps < maxSteps && !finished(); steps++) {
      let progressed = false;
      for (const d of rng.shuffle([...devices])) {
        if (d.away) {
          d.away = false;
          d.conn = { ...d.conn, connId: `${d.conn.connId.split('#')[0]}#${steps}` };
          store.registerDevice({ id: d.id, kind: 'node', name: d.id, threads: 1, now: clock.now(), address: d.conn.address });
        }
        let grant;
        try {
          grant = await work.requestWork(d.conn, options.slots ?? 4);
        } catch (err) {
          if (err instanceof DeviceQuarantinedError) continue; // caught: it asks, and gets nothing
          throw err;
        }
        if (!grant) continue;
        progressed = true;
        if (options.lossRate !== undefined && rng.chance(options.lossRate)) {
          d.away = true;
          await work.disconnected(d.conn);
          continue;
        }
        if (options.silentRate !== undefined && rng.chance(options.silentRate)) continue;
        const results: RunResult[] = grant.items.map((it) => ({
          index: it.index,
          ok: true,
          json: JSON.stringify(answer(d, grant.jobId, it.index, it.input as number)),
        }));
        runs += results.length;
        await work.submitResults(d.conn, { leaseId: grant.leaseId, results });
      }
      // Aggregations go on until they end (each deferred step continues in the next turn).
      await settle();
      while (deferred.length > 0) {
        deferred.shift()?.();
        await settle();
      }
      clock.advance(1000);
      await work.sweep();
      await settle();
      while (deferred.length > 0) {
        deferred.shift()?.();
        await settle();
      }
      if (options.checkInvariants !== false) checkVerifiedInvariants(store);
      if (options.restartRate !== undefined && rng.chance(options.restartRate)) {
        // The hub process dies and comes back on the same file; every device reconnects.
        restarts++;
        deferred.length = 0;
        store.close();
        store = open();
        work = service();
        await work.recover();
        await settle();
        while (deferred.length > 0) {
          deferred.shift()?.();
          await settle();
        }
        for (const d of devices) {
          d.conn = { ...d.conn, connId: `${d.conn.connId.split('#')[0]}#r${restarts}` };
          store.registerDevice({ id: d.id, kind: 'node', name: d.id, threads: 1, now: clock.now(), address: d.conn.address });
        }
        checkVerifiedInvariants(store);
      }
      idleSteps = progressed ? 0 : idleSteps + 1;
      if (idleSteps > 100) break; // nothing can run: waiting for devices that will not come
    }

    let wrongAccepted = 0;
    let wrongAggregates = 0;
    let completedJobs = 0;
    let failedJobs = 0;
    let rechecked = 0;
    const failedCodes: string[] = [];
    for (const id of jobIds) {
      const job = store.getJob(id);
      rechecked += job?.rechecked ?? 0;
      if (job?.status === 'failed') {
        failedJobs++;
        failedCodes.push(job.error?.code ?? 'none');
      }
      if (job?.status !== 'completed') continue;
      completedJobs++;
      const page = store.getResults(id, 0, options.inputsPerJob);
      const start = jobIds.indexOf(id) * options.inputsPerJob;
      let sum = 0;
      page?.results.forEach((value, i) => {
        sum += right(start + i);
        if (value !== right(start + i)) wrongAccepted++;
      });
      if (job.result !== sum) wrongAggregates++;
    }
    const quarantined = { honest: 0, liar: 0, colluder: 0, turncoat: 0 };
    let liarsFree = 0;
    let liesByFree = 0;
    const record = new Map(store.listDevices(0, 10_000).items.map((d) => [d.id, d]));
    for (const d of devices) {
      const q = record.get(d.id)?.quarantined === true;
      if (q) quarantined[d.behaviour.kind]++;
      else if (d.lies > 0) {
        liarsFree++;
        liesByFree += d.lies;
      }
    }
    const inputs = options.jobs * options.inputsPerJob;
    return {
      seed: options.seed,
      inputs,
      runsPerInput: runs / inputs,
      wrongAccepted,
      liesTold,
      wrongAggregates,
      completedJobs,
      failedJobs,
      failedCodes,
      unfinishedJobs: options.jobs - completedJobs - failedJobs,
      quarantined,
      liarsFree,
      liesByFree,
      rechecked,
      steps,
      restarts,
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `n` devices of one behaviour. */
/** Lets work the service started without a caller go on until it waits for a deferred step. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

export function many(n: number, behaviour: Behaviour): Behaviour[] {
  return Array.from({ length: n }, () => behaviour);
}

/**
 * The store's verification state is consistent: job counters match subtask rows; an open input's
 * state matches its replicas; no device holds two replicas of one input; a running replica belongs
 * to an open lease of its job that holds the input; an accepted input has a quorum of valid results
 * from distinct devices agreeing with it (or one unchecked result); the hub's counts add up.
 */
export function checkVerifiedInvariants(store: SqliteJobStore): void {
  const db = store.db;
  const fail = (message: string): never => {
    throw new Error(`verification invariant: ${message}`);
  };
  const jobs = db
    .prepare<[], { seq: number; status: string; total: number; next_index: number; queued: number; leased: number; completed: number; replication: number; quorum: number; tolerance: number }>(
      `SELECT * FROM jobs WHERE deleted = 0 AND verify <> 'none'`,
    )
    .all();
  let unleased = 0;
  for (const job of jobs) {
    const where = `job ${job.seq} (${job.status})`;
    const subs = db
      .prepare<[number], { idx: number; state: string; target: number; result: string | null }>('SELECT idx, state, target, result FROM subtasks WHERE job_seq = ?')
      .all(job.seq);
    const count = (state: string) => subs.filter((x) => x.state === state).length;
    if (subs.length !== job.next_index) fail(`${where}: ${subs.length} subtask rows, next_index ${job.next_index}`);
    if (count('done') !== job.completed) fail(`${where}: completed ${job.completed}, ${count('done')} done rows`);
    const active = job.status === 'queued' || job.status === 'running';
    if (active) {
      if (count('queued') !== job.queued) fail(`${where}: queued ${job.queued}, ${count('queued')} queued rows`);
      if (count('leased') !== job.leased) fail(`${where}: leased ${job.leased}, ${count('leased')} leased rows`);
      unleased += (job.total - job.next_index) * job.replication + job.queued;
    }
    if (job.status === 'completed' && job.completed !== job.total) fail(`${where}: completed with ${job.completed}/${job.total}`);
    const reps = db
      .prepare<[number], { idx: number; lease_id: string; device_id: string; state: string; verdict: string | null; result: string | null; l_open: number | null; l_job: number | null; l_items: string | null }>(
        `SELECT r.idx, r.lease_id, r.device_id, r.state, r.verdict, r.result, l.open AS l_open, l.job_seq AS l_job, l.items AS l_items
           FROM replicas r LEFT JOIN leases l ON l.id = r.lease_id WHERE r.job_seq = ?`,
      )
      .all(job.seq);
    const byIdx = new Map<number, typeof reps>();
    for (const r of reps) {
      const list = byIdx.get(r.idx) ?? [];
      list.push(r);
      byIdx.set(r.idx, list);
      if (r.state === 'leased' && active) {
        if (r.l_open !== 1 || r.l_job !== job.seq) fail(`${where} input ${r.idx}: running replica of lease ${r.lease_id}, which is ${r.l_open === 1 ? 'of another job' : 'closed'}`);
        if (!(JSON.parse(r.l_items ?? '[]') as number[]).includes(r.idx)) fail(`${where} input ${r.idx}: lease ${r.lease_id} never held it`);
      }
    }
    for (const sub of subs) {
      const list = (byIdx.get(sub.idx) ?? []).filter((r) => r.state === 'leased' || r.state === 'ok');
      const devicesOf = new Set(list.map((r) => r.device_id));
      if (devicesOf.size !== list.length) fail(`${where} input ${sub.idx}: two replicas on one device`);
      const here = `${where} input ${sub.idx} (${sub.state}, target ${sub.target})`;
      if (active && (sub.state === 'queued' || sub.state === 'leased')) {
        const expected = list.length < sub.target ? 'queued' : 'leased';
        if (sub.state !== expected) fail(`${here}: ${list.length} replicas taken, so it should be ${expected}`);
        if (sub.target > 2 * job.replication) fail(`${here}: more than 2k replicas wanted`);
      }
      if (sub.state === 'done') {
        const unchecked = list.filter((r) => r.verdict === 'unchecked');
        const valid = list.filter((r) => r.verdict === 'valid');
        if (unchecked.length === 1 && sub.target === 1) continue;
        if (new Set(valid.map((r) => r.device_id)).size < job.quorum) fail(`${here}: accepted with ${valid.length} valid results, quorum ${job.quorum}`);
        if (valid.some((r) => r.result !== sub.result && job.tolerance === 0)) fail(`${here}: a valid result differs from the accepted one`);
      }
    }
  }
  const plain = db
    .prepare<[], { n: number }>(`SELECT coalesce(sum(total - next_index + queued), 0) AS n FROM jobs WHERE deleted = 0 AND verify = 'none' AND status IN ('queued', 'running')`)
    .get()?.n ?? 0;
  if (store.unleasedCount() !== unleased + plain) fail(`unleasedCount() ${store.unleasedCount()}, rows say ${unleased + plain}`);
  const openEmpty = db
    .prepare<[], { n: number }>(
      `SELECT count(*) AS n FROM leases l JOIN jobs j ON j.seq = l.job_seq WHERE l.open = 1 AND j.verify <> 'none'
         AND NOT EXISTS (SELECT 1 FROM replicas r WHERE r.lease_id = l.id AND r.state = 'leased')`,
    )
    .get()?.n ?? 0;
  if (openEmpty > 0) fail(`${openEmpty} open lease(s) of verified jobs run no replica`);
}

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
import { Rng } from './swarm-simulation.ts';
import { WorkService, type DeviceConnection } from './work-service.ts';

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
  maxSteps?: number;
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

export function runVerification(options: VerifySimOptions): VerifySimReport {
  const rng = new Rng(options.seed);
  const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-verify-sim-'));
  const store = new SqliteJobStore(join(dir, 'edgeswarm.db'), { random: () => rng.float() });
  const clock = new ManualClock();
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
    const work = new WorkService({
      store,
      clock,
      fleetThreads: () => devices.length,
      distinctAddresses: () => devices.length,
      defer: (step) => deferred.push(step),
      events: { jobStopped: () => {}, workAvailable: () => {}, subtasksCompleted: () => {}, jobFinished: () => {} },
    });
    for (const d of devices) store.registerDevice({ id: d.id, kind: 'node', name: d.id, threads: 1, now: clock.now() });
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
        lie = sharedChance(jobId, index) < b.rate;
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
          store.registerDevice({ id: d.id, kind: 'node', name: d.id, threads: 1, now: clock.now() });
        }
        const grant = work.requestWork(d.conn, options.slots ?? 4);
        if (!grant) continue;
        progressed = true;
        if (options.lossRate !== undefined && rng.chance(options.lossRate)) {
          d.away = true;
          work.disconnected(d.conn);
          continue;
        }
        const results: RunResult[] = grant.items.map((it) => ({
          index: it.index,
          ok: true,
          json: JSON.stringify(answer(d, grant.jobId, it.index, it.input as number)),
        }));
        runs += results.length;
        work.submitResults(d.conn, { leaseId: grant.leaseId, results });
      }
      while (deferred.length > 0) deferred.shift()?.();
      clock.advance(100);
      work.sweep();
      idleSteps = progressed ? 0 : idleSteps + 1;
      if (idleSteps > 50) break; // nothing can run: waiting for devices that will not come
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
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `n` devices of one behaviour. */
export function many(n: number, behaviour: Behaviour): Behaviour[] {
  return Array.from({ length: n }, () => behaviour);
}

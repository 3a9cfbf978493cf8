/**
 * A seeded swarm of virtual devices that drives the real WorkService over a real store with a ManualClock, and
 * checks the store's invariants after every step. The same run goes on either engine: the embedded SQLite file
 * (`{ kind: 'sqlite' }`) or a PostgreSQL database (`{ kind: 'postgres', url }`, an empty database per run), through
 * the asynchronous store contract (`JobStore`), with the same checks reading the same tables through a `SimProbe`.
 *
 * Everything random comes from one mulberry32 stream seeded by `seed`, so a failing run is
 * replayed exactly by running the same seed again. Test-only: nothing in the hub imports this.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  LEASE_TTL_MS,
  limits,
  parseJobSpec,
  type JobError,
  type JsonValue,
  type Reducer,
  type RunResult,
} from '@edgeswarm/shared';
import { ManualClock } from '../clock.ts';
import type { JobStore } from '../store/async-store.ts';
import { MAX_LEASE_ITEMS, WorkService, type DeviceConnection } from './work-service.ts';
import { Rng } from './sim-random.ts';
import { openBackend, type SimBackend, type SimEngine, type SimProbe } from './sim-backends.ts';

// ---- the job function the devices "run" -----------------------------------------------------

/** What every simulated job computes; devices run it and the checks compare stored results to it. */
export function jobFunction(x: JsonValue): JsonValue {
  return typeof x === 'number' ? x * 3 + 1 : `${JSON.stringify(x)}!`;
}
const JOB_CODE = '(x) => typeof x === "number" ? x * 3 + 1 : JSON.stringify(x) + "!"';

// ---- the engines: ./sim-backends.ts ---------------------------------------------------------


/**
 * The store as the hub and the simulator use it, counting the calls in flight: `SwarmSimulation.settle` waits until
 * the hub has stopped working on its own (finalizing jobs), which on PostgreSQL takes round trips to the server.
 */
class CallTracker {
  private readonly pending = new Set<Promise<unknown>>();
  /** Calls made so far. */
  started = 0;

  get inFlight(): number {
    return this.pending.size;
  }

  wrap(store: JobStore): JobStore {
    return new Proxy(store, {
      get: (target, prop) => {
        const value: unknown = Reflect.get(target, prop, target);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]): unknown => {
          const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (result instanceof Promise) this.track(result);
          return result;
        };
      },
    });
  }

  private track(call: Promise<unknown>): void {
    this.started++;
    this.pending.add(call);
    const done = () => void this.pending.delete(call);
    call.then(done, done);
  }

  /** Resolves once no call is in flight (settled, or failed: the caller sees its failure). */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}

// ---- model --------------------------------------------------------------------------------

export class SimulationFailure extends Error {
  override readonly name = 'SimulationFailure';
}

interface SimJob {
  id: string;
  seq: number;
  inputs: JsonValue[];
  /** JSON text of jobFunction(inputs[i]): what the store must hold for a done input. */
  expected: string[];
  reduce: Reducer;
  maxAttempts: number;
  timeoutMs: number;
  /** Input index -> probability that a flaky device fails it. */
  flaky: Map<number, number>;
  /** Inputs whose success the hub acknowledged as accepted: must stay done forever. */
  acceptedOk: Set<number>;
  cancelled: boolean;
  /** Deleted from the dashboard: gone from every listing; its rows are purged in steps. */
  deleted: boolean;
  /** Status once the job ended; it must never change afterwards. */
  ended: 'completed' | 'failed' | 'cancelled' | null;
  finishedEvents: number;
  stoppedEvents: number;
}

interface HeldItem {
  leaseId: string;
  jobId: string;
  index: number;
  input: JsonValue;
  /** Simulated time at which the device has the result ready. */
  readyAt: number;
}

interface SimDevice {
  id: string;
  threads: number;
  conn: DeviceConnection | null;
  /** Fails flaky inputs with their probability. */
  flaky: boolean;
  /** Takes long over each item (holds work across many clock advances while heartbeating). */
  slow: boolean;
  crashed: boolean;
  held: HeldItem[];
  /** Results already sent, for late duplicate replays. */
  sent: { leaseId: string; results: RunResult[] }[];
}

interface SimConn {
  conn: DeviceConnection;
  epoch: number;
  /** open: the socket is up; zombie: the device died but the hub has not noticed; closed: disconnected() ran. */
  state: 'open' | 'zombie' | 'closed';
  lastBeat: number;
}

interface SimLease {
  id: string;
  jobId: string;
  connId: string;
  deviceId: string;
  epoch: number;
  items: number[];
  grantMono: number;
  cap: number;
}

interface JobRow {
  seq: number;
  id: string;
  status: string;
  total: number;
  reduce: Reducer;
  max_attempts: number;
  next_index: number;
  queued: number;
  leased: number;
  completed: number;
  failed: number;
  result: string | null;
  error: string | null;
  finished_at: number | null;
  deleted: number;
}

interface SubRow {
  idx: number;
  state: string;
  attempts: number;
  losses: number;
  lease_id: string | null;
}

interface LeaseRow {
  id: string;
  job_seq: number;
  device_id: string;
  conn_id: string;
  deadline: number;
  max_deadline: number;
  items: string;
  open: number;
}

export interface SimOptions {
  seed: number;
  /** The store engine; default SQLite. */
  engine?: SimEngine;
  /** Chaos steps (each picks 1 to 4 random events), followed by the drain phase. */
  steps?: number;
  /** Most drain steps (only well-behaved devices, time moving) before "every job ends" is judged. */
  drainBudget?: number;
  maxJobs?: number;
  maxDevices?: number;
}

export interface SimReport {
  seed: number;
  engine: SimEngine['kind'];
  steps: number;
  drainSteps: number;
  jobs: number;
  deleted: number;
  completed: number;
  failed: number;
  cancelled: number;
  failedBy: Record<string, number>;
  devices: number;
  restarts: number;
  grants: number;
  /** Inputs copied to idle devices at the end of a job. */
  tailCopies: number;
  submits: number;
  accepted: number;
  dropped: number;
  lateAccepted: number;
  duplicatesDropped: number;
  rejected: number;
  expiredLeases: number;
  lostResults: number;
  duplicatedCounts: number;
  unexpectedResults: number;
}

const TTL = LEASE_TTL_MS;
/** Inputs read per statement by `subRows` (bounds the distinct statements SQLite keeps prepared). */
const SUB_ROWS_PER_READ = 64;
const ACTIVE = new Set(['queued', 'running']);
const BEAT_MS = 5_000;

// ---- the simulation -------------------------------------------------------------------------

export class SwarmSimulation {
  readonly seed: number;
  private readonly rng: Rng;
  private readonly backend: SimBackend;
  private readonly calls = new CallTracker();
  /** The backend's store, through `calls`. */
  private store: JobStore;
  private clock: ManualClock;
  private work: WorkService;
  private epoch = 0;
  /** Absolute simulated time; unlike the monotonic clock it does not restart with the hub. */
  private simTime = 0;
  private deferred: (() => void)[] = [];
  private readonly jobs: SimJob[] = [];
  private readonly jobsById = new Map<string, SimJob>();
  private readonly jobsBySeq = new Map<number, SimJob>();
  private readonly devices: SimDevice[] = [];
  private readonly conns = new Map<string, SimConn>();
  private readonly leases = new Map<string, SimLease>();
  private connCounter = 0;
  private step = 0;
  private phase: 'chaos' | 'drain' | 'final' = 'chaos';
  private readonly recent: string[] = [];
  private readonly steps: number;
  private readonly drainBudget: number;
  private readonly maxJobs: number;
  private readonly maxDevices: number;
  private completedEvents = 0;
  private retiredDone = 0;
  private retiredAttempts = 0;
  private slowStart = true;
  private readonly stats = {
    restarts: 0,
    grants: 0,
    tailCopies: 0,
    submits: 0,
    accepted: 0,
    dropped: 0,
    lateAccepted: 0,
    duplicatesDropped: 0,
    rejected: 0,
    expiredLeases: 0,
    drainSteps: 0,
  };

  private constructor(options: SimOptions, backend: SimBackend) {
    this.seed = options.seed >>> 0;
    this.rng = new Rng(this.seed);
    this.steps = options.steps ?? 200;
    this.drainBudget = options.drainBudget ?? 400;
    this.maxJobs = options.maxJobs ?? 14;
    this.maxDevices = options.maxDevices ?? 8;
    this.backend = backend;
    this.store = this.calls.wrap(backend.store);
    this.clock = new ManualClock();
    this.work = this.service();
  }

  /** A simulation on a new store of `options.engine` (SQLite by default). */
  static async open(options: SimOptions): Promise<SwarmSimulation> {
    return new SwarmSimulation(options, await openBackend(options.engine ?? { kind: 'sqlite' }));
  }

  /** Runs the chaos phase, then the drain phase, then the final checks; always closes the store and removes its files. */
  async run(): Promise<SimReport> {
    try {
      try {
        await this.submitJob();
        for (let i = 0; i < 3; i++) await this.join();
        for (this.step = 1; this.step <= this.steps; this.step++) {
          const events = this.rng.int(1, 4);
          for (let e = 0; e < events; e++) await this.chaosEvent();
          await this.checkInvariants();
        }
        await this.drain();
        return await this.finalChecks();
      } catch (err) {
        if (err instanceof SimulationFailure) throw err;
        const e = err instanceof Error ? err : new Error(String(err));
        throw this.failure(`unexpected exception: ${e.stack ?? e.message}`);
      }
    } finally {
      await this.calls.idle();
      await this.backend.close();
    }
  }

  // ---- plumbing ----------------------------------------------------------------------------

  private service(): WorkService {
    this.slowStart = this.rng.chance(0.7);
    return new WorkService({
      slowStart: this.slowStart,
      store: this.store,
      clock: this.clock,
      fleetThreads: () => {
        let threads = 0;
        for (const c of this.conns.values()) if (c.state !== 'closed' && c.epoch === this.epoch) threads += c.conn.threads;
        return threads;
      },
      defer: (step) => this.deferred.push(step),
      aggregationChunk: this.rng.int(3, 64),
      events: {
        jobStopped: (id) => void (this.jobsById.get(id) ?? this.fail(`jobStopped for unknown job ${id}`)).stoppedEvents++,
        workAvailable: () => {},
        subtasksCompleted: (n) => {
          if (!(n > 0)) this.fail(`subtasksCompleted(${n})`);
          this.completedEvents += n;
        },
        jobFinished: (id) => void (this.jobsById.get(id) ?? this.fail(`jobFinished for unknown job ${id}`)).finishedEvents++,
      },
    });
  }

  private note(event: string): void {
    this.recent.push(`#${this.step} ${this.phase} t=${this.simTime}: ${event}`);
    if (this.recent.length > 40) this.recent.shift();
  }

  private failure(message: string): SimulationFailure {
    return new SimulationFailure(
      `[swarm seed ${this.seed} on ${this.backend.engine} (replay: SWARM_SEED=${this.seed}), ${this.phase} step ${this.step}] ${message}\n` +
        `recent events:\n  ${this.recent.join('\n  ')}`,
    );
  }

  private fail(message: string): never {
    throw this.failure(message);
  }

  private check(condition: boolean, message: () => string): void {
    if (!condition) this.fail(message());
  }

  /** Reads the store's tables (the same SQL on both engines). */
  private get db(): SimProbe {
    return this.backend.probe;
  }

  private jobRow(seq: number): Promise<JobRow | undefined> {
    return this.db.get<JobRow>('SELECT * FROM jobs WHERE seq = ?', [seq]);
  }

  private subRow(jobSeq: number, idx: number): Promise<SubRow | undefined> {
    return this.db.get<SubRow>('SELECT idx, state, attempts, losses, lease_id FROM subtasks WHERE job_seq = ? AND idx = ?', [jobSeq, idx]);
  }

  /** The rows of inputs `idxs` of a job, by index (a few statements, not one per input: each is a round trip on PostgreSQL). */
  private async subRows(jobSeq: number, idxs: Iterable<number>): Promise<Map<number, SubRow>> {
    const wanted = [...new Set(idxs)];
    const rows = new Map<number, SubRow>();
    for (let i = 0; i < wanted.length; i += SUB_ROWS_PER_READ) {
      const part = wanted.slice(i, i + SUB_ROWS_PER_READ);
      const found = await this.db.all<SubRow>(
        `SELECT idx, state, attempts, losses, lease_id FROM subtasks WHERE job_seq = ? AND idx IN (${part.map(() => '?').join(', ')})`,
        [jobSeq, ...part],
      );
      for (const row of found) rows.set(row.idx, row);
    }
    return rows;
  }

  /**
   * Runs up to `max` deferred aggregation steps, letting each continue (its promise chain) until it defers
   * again or ends, as the event loop would.
   */
  private async drainDeferred(max = Infinity): Promise<void> {
    await this.settle();
    for (let n = 0; n < max && this.deferred.length > 0; n++) {
      this.deferred.shift()?.();
      await this.settle();
    }
  }

  /**
   * Lets work the hub started without a caller (finalizing) go on until it waits for a deferred step or ends: until
   * a turn of the event loop passes with no store call in flight and none started (on SQLite the calls settle at
   * once; on PostgreSQL each is a round trip to the server).
   */
  private async settle(): Promise<void> {
    for (;;) {
      const started = this.calls.started;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.calls.inFlight === 0 && this.calls.started === started) return;
      await this.calls.idle();
    }
  }

  private liveDevices(): SimDevice[] {
    return this.devices.filter((d) => d.conn !== null && !d.crashed);
  }

  // ---- events ------------------------------------------------------------------------------

  private async chaosEvent(): Promise<void> {
    const live = this.liveDevices();
    const activeJobs = this.jobs.filter((j) => j.ended === null && !j.cancelled && !j.deleted).length;
    const event = this.rng.weighted<() => unknown>([
      [this.jobs.length < this.maxJobs ? (activeJobs === 0 ? 6 : 1.2) : 0, () => this.submitJob()],
      [this.devices.length < this.maxDevices ? 1.2 : 0, () => this.join()],
      [2, () => this.reconnect(this.rng.pick(this.devices))],
      [live.length ? 9 : 0, () => this.requestWork(this.rng.pick(live))],
      [live.length ? 9 : 0, () => this.complete(this.rng.pick(live))],
      [live.length ? 1.5 : 0, () => this.replay(this.rng.pick(live))],
      [live.length ? 1 : 0, () => this.foreignSubmit(this.rng.pick(live))],
      [live.length > 1 ? 0.8 : 0, () => this.crash(this.rng.pick(live))],
      [live.length > 1 ? 1.2 : 0, () => this.disconnect(this.rng.pick(live))],
      [0.8, () => this.hubNoticesZombies()],
      [6, () => this.advance()],
      [0.08, () => this.cancel()],
      [0.04, () => this.deleteJob()],
      [0.5, () => this.purge()],
      [live.length ? 0.4 : 0, () => this.flap(this.rng.pick(live))],
      [0.35, () => this.restart()],
      [1, () => this.drainDeferred(this.rng.int(1, 3))],
    ]);
    await event();
  }

  private async submitJob(): Promise<void> {
    const rng = this.rng;
    const reduce: Reducer = rng.chance(0.55) ? 'sum' : 'collect';
    const size = rng.chance(0.12) ? rng.int(1020, 1400) : rng.chance(0.3) ? rng.int(1, 8) : rng.int(9, 160);
    let inputs: JsonValue[];
    let specInputs: unknown;
    if (rng.chance(0.5)) {
      const start = rng.int(-5_000, 5_000);
      const step = rng.int(1, 5);
      const end = start + (size - 1) * step + rng.int(1, step);
      inputs = Array.from({ length: size }, (_, i) => start + i * step);
      specInputs = { range: { start, end, step } };
    } else {
      inputs = Array.from({ length: size }, (): JsonValue => {
        if (reduce === 'collect' && rng.chance(0.3)) return rng.chance(0.5) ? `s${rng.int(0, 999)}` : { k: rng.int(0, 9) };
        return rng.int(-1_000_000, 1_000_000);
      });
      specInputs = inputs;
    }
    const maxAttempts = rng.int(1, 4);
    const timeoutMs = rng.pick([100, 250, 1_000, 5_000, 60_000]);
    const parsed = parseJobSpec({
      name: `swarm-${this.jobs.length}`,
      code: JOB_CODE,
      inputs: specInputs,
      reduce,
      maxAttempts,
      timeoutMs,
      meta: { seed: this.seed },
    });
    if (!parsed.ok) this.fail(`the simulator built an invalid spec: ${parsed.message}`);
    const job = await this.store.createJob(parsed.value, this.clock.now());
    const row = await this.db.get<{ seq: number }>('SELECT seq FROM jobs WHERE id = ?', [job.id]);
    if (!row) this.fail(`created job ${job.id} has no row`);
    const flaky = new Map<number, number>();
    if (rng.chance(0.7)) {
      for (let k = rng.int(1, 3); k > 0; k--) flaky.set(rng.int(0, size - 1), rng.pick([0.2, 0.5, 0.9]));
    }
    const sim: SimJob = {
      id: job.id,
      seq: row.seq,
      inputs,
      expected: inputs.map((x) => JSON.stringify(jobFunction(x))),
      reduce,
      maxAttempts,
      timeoutMs,
      flaky,
      acceptedOk: new Set(),
      cancelled: false,
      deleted: false,
      ended: null,
      finishedEvents: 0,
      stoppedEvents: 0,
    };
    this.jobs.push(sim);
    this.jobsById.set(sim.id, sim);
    this.jobsBySeq.set(sim.seq, sim);
    this.note(`submit job ${sim.seq} (${size} inputs, ${reduce}, maxAttempts ${maxAttempts}, timeout ${timeoutMs}, flaky ${JSON.stringify([...flaky])})`);
  }

  private async join(): Promise<void> {
    const n = this.devices.length;
    const device: SimDevice = {
      id: `device-${this.seed.toString(36)}-${n}`,
      threads: this.rng.int(1, 4),
      conn: null,
      flaky: this.rng.chance(0.5),
      slow: this.rng.chance(0.25),
      crashed: false,
      held: [],
      sent: [],
    };
    this.devices.push(device);
    await this.connect(device);
    this.note(`join ${device.id} threads ${device.threads}${device.flaky ? ' flaky' : ''}${device.slow ? ' slow' : ''}`);
  }

  private async connect(device: SimDevice): Promise<void> {
    const conn: DeviceConnection = { deviceId: device.id, connId: `conn-${++this.connCounter}`, threads: device.threads };
    await this.store.registerDevice({ id: device.id, kind: 'node', name: '', threads: device.threads, now: this.clock.now() });
    this.conns.set(conn.connId, { conn, epoch: this.epoch, state: 'open', lastBeat: -Infinity });
    device.conn = conn;
    device.crashed = false;
  }

  /** A page reloads or its socket drops and comes back: same deviceId, new connId; it keeps what it was running. */
  private async reconnect(device: SimDevice): Promise<void> {
    const old = device.conn;
    if (old) {
      const sc = this.conns.get(old.connId);
      if (sc && this.rng.chance(0.6)) {
        await this.hubDisconnected(old, 'the old socket of a reconnecting page');
      } else if (sc) {
        sc.state = 'zombie'; // the old socket lingers until the hub notices
      }
    }
    if (this.rng.chance(0.3)) device.threads = this.rng.int(1, 4);
    await this.connect(device);
    this.note(`reconnect ${device.id} -> ${device.conn?.connId} (was ${old?.connId ?? 'offline'}), holds ${device.held.length}`);
  }

  /** A page that dies right after taking work, again and again: the head of the queue is lost each time. */
  private async flap(device: SimDevice): Promise<void> {
    const reps = this.rng.int(1, 6);
    for (let i = 0; i < reps; i++) {
      const conn = device.conn;
      if (!conn) return;
      const before = device.held.length;
      await this.requestWork(device, 1);
      device.held.length = before; // it never ran what it took
      this.note(`flap: ${conn.connId} (${device.id}) took work and dropped`);
      await this.hubDisconnected(conn, 'a flapping page');
      await this.connect(device);
    }
  }

  private crash(device: SimDevice): void {
    const conn = device.conn;
    if (!conn) return;
    const sc = this.conns.get(conn.connId);
    if (sc) sc.state = 'zombie';
    device.conn = null;
    device.crashed = true;
    device.held = [];
    device.sent = [];
    this.note(`crash ${device.id} (${conn.connId} is now a zombie)`);
  }

  private async disconnect(device: SimDevice): Promise<void> {
    const conn = device.conn;
    if (!conn) return;
    this.note(`disconnect ${device.id} ${conn.connId}, keeps ${device.held.length} items to submit late`);
    await this.hubDisconnected(conn, 'a disconnected page');
    device.conn = null;
  }

  private async hubNoticesZombies(): Promise<void> {
    for (const sc of this.conns.values()) {
      if (sc.state !== 'zombie' || sc.epoch !== this.epoch || !this.rng.chance(0.5)) continue;
      this.note(`hub notices dead ${sc.conn.connId}`);
      await this.hubDisconnected(sc.conn, 'a dead socket');
    }
  }

  /** The hub sees a socket close: every lease of the connection ends, each input it still held is lost once. */
  private async hubDisconnected(conn: DeviceConnection, what: string): Promise<void> {
    await this.released('l.conn_id = ?', [conn.connId], true, `disconnected() of ${conn.connId} (${what})`, () => this.work.disconnected(conn));
    const sc = this.conns.get(conn.connId);
    if (sc) sc.state = 'closed';
    const n = (await this.db.get<{ n: number }>('SELECT count(*) AS n FROM leases WHERE conn_id = ? AND open', [conn.connId]))?.n;
    this.check(n === 0, () => `${n} open lease(s) of ${conn.connId} after disconnected() of ${what}`);
  }

  /**
   * Runs a call that releases open leases matching `filter` and checks what it did to the inputs
   * they still held: each is queued again with one more loss (none when the hub restarts).
   */
  private async released(filter: string, params: unknown[], countLoss: boolean, what: string, call: () => Promise<void>): Promise<void> {
    const stranded = await this.db.all<{ job_seq: number; idx: number; losses: number; lease_id: string }>(
      `SELECT s.job_seq, s.idx, s.losses, s.lease_id FROM subtasks s JOIN leases l ON l.id = s.lease_id
        WHERE s.state = 'leased' AND l.open AND ${filter}`,
      params,
    );
    await call();
    await this.settle();
    const after = new Map<number, Map<number, SubRow>>();
    for (const seq of new Set(stranded.map((b) => b.job_seq))) {
      after.set(seq, await this.subRows(seq, stranded.filter((b) => b.job_seq === seq).map((b) => b.idx)));
    }
    for (const b of stranded) {
      const a = after.get(b.job_seq)?.get(b.idx);
      const losses = b.losses + (countLoss ? 1 : 0);
      this.check(
        a !== undefined && a.state === 'queued' && a.lease_id === null && a.losses === losses,
        () => `after ${what}, job ${b.job_seq} input ${b.idx} (leased by ${b.lease_id}, ${b.losses} losses) is ${JSON.stringify(a)}; expected queued with ${losses} losses`,
      );
    }
  }

  private async requestWork(device: SimDevice, slotsArg?: number): Promise<void> {
    const conn = device.conn;
    if (!conn) return;
    const slots = slotsArg ?? this.rng.pick([1, 2, 3, 8, 16, 64, 500]);
    const unleased = await this.store.unleasedCount();
    const heldBefore = await this.store.heldCount(conn.connId);
    const room = conn.threads * limits.MAX_HELD_PER_THREAD;
    // Slow start (JobStore.leaseWork): a job with no success yet gives a connection one input at a time.
    const waiting = await this.db.all<{ seq: number; completed: number; held: number }>(
      `SELECT j.seq, j.completed, (SELECT count(*) FROM leases l JOIN subtasks s ON s.lease_id = l.id AND s.state = 'leased'
          WHERE l.conn_id = ? AND l.job_seq = j.seq AND l.open) AS held
         FROM jobs j WHERE j.status IN ('queued', 'running') AND NOT j.deleted AND (j.queued > 0 OR j.next_index < j.total)`,
      [conn.connId],
    );
    const openBefore = (await this.db.get<{ n: number }>('SELECT count(*) AS n FROM leases WHERE conn_id = ? AND open', [conn.connId]))?.n ?? 0;
    const grant = await this.work.requestWork(conn, slots);
    await this.settle();
    if (!grant) {
      const slowStart = this.slowStart && waiting.every((j) => j.completed === 0 && j.held > 0);
      this.check(
        unleased === 0 || heldBefore >= room || slowStart,
        () =>
          `requestWork(${conn.connId}, ${slots}) gave nothing with ${unleased} inputs unleased and ${heldBefore}/${room} held ` +
          `(jobs with work: ${JSON.stringify(waiting)})`,
      );
      return;
    }
    this.stats.grants++;
    const job = this.jobsById.get(grant.jobId) ?? this.fail(`grant for unknown job ${grant.jobId}`);
    const n = grant.items.length;
    const indexes = grant.items.map((it) => it.index);
    this.check(n >= 1 && n <= Math.min(slots, MAX_LEASE_ITEMS), () => `grant of ${n} items for ${slots} slots`);
    this.check(new Set(indexes).size === n, () => `grant ${grant.leaseId} repeats an input: ${indexes.join(',')}`);
    this.check(job.ended === null && !job.cancelled && !job.deleted, () => `grant for job ${job.seq} which has ended (${job.ended ?? (job.deleted ? 'deleted' : 'cancelled')})`);
    this.check(grant.timeoutMs === job.timeoutMs, () => `grant timeoutMs ${grant.timeoutMs} != ${job.timeoutMs}`);
    for (const it of grant.items) {
      this.check(
        it.index >= 0 && it.index < job.inputs.length && isDeepStrictEqual(it.input, job.inputs[it.index]),
        () => `grant ${grant.leaseId} of job ${job.seq} hands input ${JSON.stringify(it.input)} as index ${it.index}; that index holds ${JSON.stringify(job.inputs[it.index])}`,
      );
    }
    const heldAfter = await this.store.heldCount(conn.connId);
    this.check(heldAfter <= room, () => `${conn.connId} holds ${heldAfter} inputs; at most ${room} allowed`);
    const copy = await this.db.get<{ speculative: number }>('SELECT speculative FROM leases WHERE id = ?', [grant.leaseId]);
    if (copy?.speculative === 1) {
      await this.checkTailCopy(conn, grant.leaseId, job.seq, indexes, unleased, openBefore);
      this.check(heldAfter === heldBefore, () => `${conn.connId} held ${heldBefore}, got a tail copy, now holds ${heldAfter}`);
    } else {
      this.check(heldAfter === heldBefore + n, () => `${conn.connId} held ${heldBefore}, got ${n}, now holds ${heldAfter}`);
    }
    const rows =
      copy?.speculative === 1
        ? [...indexes].sort((a, b) => a - b)
        : (await this.db.all<{ idx: number }>(`SELECT idx FROM subtasks WHERE lease_id = ? AND state = 'leased' ORDER BY idx`, [grant.leaseId])).map(
            (r) => r.idx,
          );
    this.check(
      isDeepStrictEqual(rows, [...indexes].sort((a, b) => a - b)),
      () => `lease ${grant.leaseId} rows ${rows.join(',')} differ from its items ${indexes.join(',')}`,
    );
    const mono = this.clock.monotonic();
    this.leases.set(grant.leaseId, {
      id: grant.leaseId,
      jobId: job.id,
      connId: conn.connId,
      deviceId: conn.deviceId,
      epoch: this.epoch,
      items: indexes,
      grantMono: mono,
      cap: mono + TTL + n * job.timeoutMs,
    });
    const spread = device.slow ? 120_000 : 10_000;
    for (const it of grant.items) {
      device.held.push({ leaseId: grant.leaseId, jobId: job.id, index: it.index, input: it.input, readyAt: this.simTime + this.rng.int(0, spread) });
    }
    this.note(`${conn.connId} (${device.id}) asks ${slots}, gets ${n} of job ${job.seq} in ${grant.leaseId.slice(0, 12)}`);
  }

  /** A tail copy goes to a connection with no open lease, only when nothing is left to lease, of inputs other devices hold, each once. */
  private async checkTailCopy(conn: DeviceConnection, leaseId: string, jobSeq: number, indexes: number[], unleased: number, openBefore: number): Promise<void> {
    const where = `tail copy ${leaseId} to ${conn.connId}`;
    this.stats.tailCopies += indexes.length;
    this.check(unleased === 0, () => `${where} while ${unleased} inputs were unleased`);
    this.check(openBefore === 0, () => `${where}, which held ${openBefore} open lease(s)`);
    this.check(indexes.length <= conn.threads, () => `${where}: ${indexes.length} copies for ${conn.threads} threads`);
    for (const idx of indexes) {
      const row = await this.db.get<{ state: string; copies: number; device_id: string | null }>(
        `SELECT s.state, s.copies, l.device_id FROM subtasks s LEFT JOIN leases l ON l.id = s.lease_id WHERE s.job_seq = ? AND s.idx = ?`,
        [jobSeq, idx],
      );
      this.check(
        row?.state === 'leased' && row.copies === 1 && row.device_id !== null && row.device_id !== conn.deviceId,
        () => `${where}: input ${idx} of job ${jobSeq} is ${JSON.stringify(row)}; expected leased by another device, with one copy`,
      );
      const others = await this.db.openCopies(jobSeq, leaseId, idx);
      this.check(others === 0, () => `${where}: input ${idx} of job ${jobSeq} already has ${others} other open copies`);
    }
  }

  /** The device's result for one held item: usually f(input); on flaky inputs a flaky device may fail. */
  private resultFor(device: SimDevice, item: HeldItem, honest = false): RunResult {
    const job = this.jobsById.get(item.jobId);
    const p = job?.flaky.get(item.index);
    if (!honest && device.flaky && p !== undefined && this.rng.chance(p)) {
      const kind = this.rng.float();
      if (kind < 0.05) return { index: item.index, ok: true, json: '{"truncated": ' }; // not JSON: invalid_result
      if (kind < 0.1 && job?.reduce === 'sum') return { index: item.index, ok: true, json: '1e400' }; // Infinity
      if (kind < 0.15 && job?.reduce === 'sum') return { index: item.index, ok: true, json: '"not a number"' };
      if (kind < 0.35) return { index: item.index, ok: false, code: 'timeout', message: 'took too long' };
      return { index: item.index, ok: false, code: 'work_error', message: `flaky input ${item.index}` };
    }
    return { index: item.index, ok: true, json: JSON.stringify(jobFunction(item.input)) };
  }

  /** A device finishes some of its ready items and submits them: out of order, split, sometimes duplicated. */
  private async complete(device: SimDevice, everything = false): Promise<void> {
    const conn = device.conn;
    if (!conn) return;
    const ready = everything ? device.held : device.held.filter((h) => h.readyAt <= this.simTime);
    if (ready.length === 0) return;
    const chosen = everything ? [...ready] : this.rng.shuffle([...ready]).slice(0, this.rng.int(1, ready.length));
    const chosenSet = new Set(chosen);
    device.held = device.held.filter((h) => !chosenSet.has(h));
    const byLease = new Map<string, HeldItem[]>();
    for (const h of chosen) byLease.set(h.leaseId, [...(byLease.get(h.leaseId) ?? []), h]);
    for (const [leaseId, items] of byLease) {
      let results = items.map((h) => this.resultFor(device, h));
      if (!everything && this.rng.chance(0.5)) results = this.rng.shuffle(results);
      if (!everything && this.rng.chance(0.08) && results.length > 0) {
        // The same input twice in one submit (a retried run whose first result was not yet acked).
        results.push({ ...this.rng.pick(results) });
      }
      const parts = everything ? 1 : Math.min(results.length, this.rng.int(1, 3));
      const size = Math.ceil(results.length / parts);
      for (let i = 0; i < results.length; i += size) {
        const part = results.slice(i, i + size);
        await this.submit(device, conn, leaseId, part, 'complete');
        device.sent.push({ leaseId, results: part });
        if (device.sent.length > 30) device.sent.shift();
        if (!everything && this.rng.chance(0.1)) await this.submit(device, conn, leaseId, part, 'duplicate');
      }
    }
  }

  /** A late copy of results already sent (lost ack, page resend after a reconnect or a hub restart). */
  private async replay(device: SimDevice): Promise<void> {
    const conn = device.conn;
    if (!conn || device.sent.length === 0) return;
    const past = this.rng.pick(device.sent);
    const results = this.rng.shuffle([...past.results]).slice(0, this.rng.int(1, past.results.length));
    await this.submit(device, conn, past.leaseId, results, 'replay');
  }

  /** Results for inputs the lease never held, or for another device's lease: rejected, never counted. */
  private async foreignSubmit(device: SimDevice): Promise<void> {
    const conn = device.conn;
    if (!conn) return;
    const others = [...this.leases.values()].filter((l) => l.deviceId !== device.id);
    const own = [...this.leases.values()].filter((l) => l.deviceId === device.id);
    if (others.length > 0 && this.rng.chance(0.5)) {
      const lease = this.rng.pick(others);
      const job = this.jobsById.get(lease.jobId);
      const index = this.rng.pick(lease.items);
      const input = job?.inputs[index] ?? null;
      await this.submit(device, conn, lease.id, [{ index, ok: true, json: JSON.stringify(jobFunction(input)) }], 'foreign lease');
    } else if (own.length > 0) {
      const lease = this.rng.pick(own);
      const job = this.jobsById.get(lease.jobId);
      if (!job) return;
      const held = new Set(lease.items);
      const index = this.rng.int(0, job.inputs.length + 2);
      if (held.has(index)) return;
      const json = JSON.stringify(jobFunction(job.inputs[index] ?? 0));
      await this.submit(device, conn, lease.id, [{ index, ok: true, json }], 'index outside lease');
    }
  }

  /**
   * Submits and checks the receipt and the rows against the documented rules: the first success
   * for an input not yet done wins (from any lease that held it); an error counts only from the
   * lease holding the input now; an input failing maxAttempts times fails its job.
   */
  private async submit(device: SimDevice, conn: DeviceConnection, leaseId: string, results: RunResult[], why: string): Promise<void> {
    const lease = await this.db.get<LeaseRow>('SELECT * FROM leases WHERE id = ?', [leaseId]);
    const jobBefore = lease ? await this.jobRow(lease.job_seq) : undefined;
    const simJob = jobBefore ? this.jobsBySeq.get(jobBefore.seq) : undefined;
    let expAccepted = 0;
    let expDropped = 0;
    let expRejected = 0;
    const newlyDone = new Set<number>();
    const expect = new Map<number, SubRow>();
    let failedFor: { input: number; code: string } | null = null;
    if (!lease || !jobBefore || !simJob) {
      expDropped = results.length;
    } else if (lease.device_id !== conn.deviceId) {
      expRejected = results.length;
    } else {
      const items = new Set(JSON.parse(lease.items) as number[]);
      const active = ACTIVE.has(jobBefore.status) && jobBefore.deleted === 0;
      const rows = await this.subRows(
        jobBefore.seq,
        results.filter((r) => items.has(r.index)).map((r) => r.index),
      );
      for (const r of results) {
        if (!items.has(r.index)) {
          expRejected++;
          continue;
        }
        let s = expect.get(r.index);
        if (!s) {
          const row = rows.get(r.index);
          if (row) expect.set(r.index, (s = { ...row }));
        }
        if (!active || failedFor || !s || s.state === 'done' || s.state === 'failed') {
          expDropped++;
          continue;
        }
        let ok = r.ok;
        let code = r.ok ? '' : r.code;
        if (r.ok) {
          let value: unknown;
          try {
            value = JSON.parse(r.json);
          } catch {
            value = undefined;
          }
          const numeric = typeof value === 'number' && Number.isFinite(value);
          if (value === undefined || (jobBefore.reduce === 'sum' && !numeric)) {
            ok = false;
            code = 'invalid_result';
          }
        }
        if (ok) {
          s.state = 'done';
          s.lease_id = null;
          expAccepted++;
          newlyDone.add(r.index);
          continue;
        }
        if (s.state !== 'leased' || s.lease_id !== leaseId) {
          expDropped++;
          continue;
        }
        expAccepted++;
        s.attempts++;
        s.lease_id = null;
        if (s.attempts >= jobBefore.max_attempts) {
          s.state = 'failed';
          failedFor = { input: r.index, code };
        } else {
          s.state = 'queued';
        }
      }
    }
    const receipt = await this.work.submitResults(conn, { leaseId, results });
    await this.settle();
    this.stats.submits++;
    this.stats.accepted += receipt.accepted;
    this.stats.dropped += receipt.dropped;
    this.stats.rejected += expRejected;
    if (lease && lease.open === 0 && newlyDone.size > 0) this.stats.lateAccepted += newlyDone.size;
    if (why === 'duplicate' || why === 'replay') this.stats.duplicatesDropped += receipt.dropped;
    const summary = results.map((r) => `${r.index}${r.ok ? '' : '!'}`).join(',');
    this.note(
      `${why}: ${conn.connId} (${device.id}) -> ${leaseId.slice(0, 12)} [${summary}] (lease ${lease?.open === 1 ? 'open' : 'closed'}) => accepted ${receipt.accepted}, dropped ${receipt.dropped}`,
    );
    this.check(
      receipt.accepted === expAccepted && receipt.dropped === expDropped + expRejected,
      () =>
        `receipt for ${why} on lease ${leaseId} of job ${jobBefore?.seq} [${summary}] is ${JSON.stringify(receipt)}; ` +
        `expected accepted ${expAccepted}, dropped ${expDropped + expRejected}`,
    );
    if (!jobBefore || !simJob) return;
    const rows = await this.subRows(jobBefore.seq, expect.keys());
    for (const [idx, want] of expect) {
      const got = rows.get(idx);
      this.check(
        got !== undefined && got.state === want.state && got.attempts === want.attempts && got.lease_id === want.lease_id,
        () => `after ${why}, job ${jobBefore.seq} input ${idx} is ${JSON.stringify(got)}; expected ${JSON.stringify(want)}`,
      );
    }
    for (const idx of newlyDone) simJob.acceptedOk.add(idx);
    const after = await this.jobRow(jobBefore.seq);
    if (failedFor) {
      const error = after?.error ? (JSON.parse(after.error) as JobError) : null;
      this.check(
        after?.status === 'failed' && error?.input === failedFor.input && error.code === failedFor.code,
        () => `input ${failedFor?.input} failed ${jobBefore.max_attempts} time(s) but job ${jobBefore.seq} is ${after?.status} with ${after?.error}`,
      );
    }
  }

  private async cancel(): Promise<void> {
    const candidates = this.jobs.filter((j) => !j.cancelled);
    if (candidates.length === 0) return;
    const job = this.rng.pick(candidates);
    const before = await this.jobRow(job.seq);
    const outcome = await this.store.cancelJob(job.id, this.clock.now());
    const expected = job.deleted ? 'not_found' : before && ACTIVE.has(before.status) ? 'cancelled' : 'already_finished';
    this.check(outcome === expected, () => `cancelJob(${job.seq}) with status ${before?.status} gave ${outcome}`);
    if (outcome === 'cancelled') job.cancelled = true;
    this.note(`cancel job ${job.seq}: ${outcome}`);
  }

  /** The dashboard deletes a job, running or not: it vanishes at once, its rows go in purge steps, late results are dropped. */
  private async deleteJob(): Promise<void> {
    const candidates = this.jobs.filter((j) => !j.deleted);
    if (candidates.length === 0) return;
    const job = this.rng.pick(candidates);
    const counts = (await this.db.get<{ done: number; attempts: number }>(
      `SELECT coalesce(sum(CASE WHEN state = 'done' THEN 1 ELSE 0 END), 0) AS done, coalesce(sum(attempts), 0) AS attempts
         FROM subtasks WHERE job_seq = ?`,
      [job.seq],
    )) ?? { done: 0, attempts: 0 };
    const ok = await this.store.deleteJob(job.id);
    this.check(ok, () => `deleteJob(${job.seq}) found nothing to delete`);
    job.deleted = true;
    this.retiredDone += counts.done;
    this.retiredAttempts += counts.attempts;
    this.note(`delete job ${job.seq} (${counts.done} done, ${counts.attempts} attempts)`);
    this.check((await this.store.getJob(job.id)) === null, () => `job ${job.seq} still visible after deleteJob`);
    const open = (await this.db.get<{ n: number }>('SELECT count(*) AS n FROM leases WHERE job_seq = ? AND open', [job.seq]))?.n;
    this.check(open === 0, () => `${open} open lease(s) of deleted job ${job.seq}`);
  }

  private async purge(): Promise<void> {
    const removed = await this.store.purgeStep(this.rng.int(1, 400));
    if (removed > 0) this.note(`purge step removed ${removed} rows`);
  }

  /** Time passes: in beats of at most 5 s with heartbeats, or (a frozen hub or network) in one jump without. */
  private async advance(): Promise<void> {
    const total = this.rng.int(0, 30_000);
    if (this.rng.chance(0.05)) {
      const step = this.rng.int(-3_600_000, 3_600_000);
      this.clock.stepWallClock(step); // NTP or a user moves the wall clock; leases go by the monotonic one
      this.note(`wall clock steps ${step} ms`);
    }
    if (this.rng.chance(0.12)) {
      this.note(`clock jumps ${total} ms without heartbeats`);
      await this.tick(total, false);
      return;
    }
    this.note(`clock advances ${total} ms`);
    let left = total;
    do {
      const d = Math.min(left, this.rng.int(3_000, BEAT_MS));
      await this.tick(d, true);
      left -= d;
    } while (left > 0);
  }

  private async tick(ms: number, beats: boolean, everyBeat = false): Promise<void> {
    this.clock.advance(ms);
    this.simTime += ms;
    if (beats) {
      for (const d of this.liveDevices()) {
        if (!everyBeat && this.rng.chance(0.03)) continue;
        const conn = d.conn;
        if (!conn) continue;
        await this.work.heartbeat(conn, { state: d.held.length ? 'working' : 'idle', threads: conn.threads });
        const sc = this.conns.get(conn.connId);
        if (sc) sc.lastBeat = this.clock.monotonic();
      }
    }
    const openBefore = new Set((await this.db.all<{ id: string }>('SELECT id FROM leases WHERE open')).map((r) => r.id));
    await this.released('l.deadline < ?', [this.clock.monotonic()], true, 'sweep()', () => this.work.sweep());
    await this.drainDeferred();
    const mono = this.clock.monotonic();
    const stale = (await this.db.get<{ n: number }>('SELECT count(*) AS n FROM leases WHERE open AND deadline < ?', [mono]))?.n;
    this.check(stale === 0, () => `${stale} open lease(s) past their deadline after sweep()`);
    const awaiting = await this.store.jobsAwaitingFinalize();
    this.check(awaiting.length === 0, () => `jobs with every input done still not completed after sweep(): ${awaiting.join(', ')}`);
    const openAfter = new Set((await this.db.all<{ id: string }>('SELECT id FROM leases WHERE open')).map((r) => r.id));
    for (const id of openBefore) if (!openAfter.has(id)) this.stats.expiredLeases++;
  }

  /** The hub process restarts: same database, new store, new WorkService, a new monotonic clock, every socket gone. */
  private async restart(): Promise<void> {
    this.stats.restarts++;
    this.deferred = []; // aggregation steps of the old process die with it
    // Nothing of the old process is in flight here (every hub call above was settled); the store closes cleanly.
    await this.calls.idle();
    await this.backend.restart();
    this.store = this.calls.wrap(this.backend.store);
    this.epoch++;
    for (const sc of this.conns.values()) sc.state = 'closed';
    this.clock = new ManualClock(this.clock.now() + this.rng.int(0, 5_000));
    this.work = this.service();
    await this.released('1 = 1', [], false, 'recover()', () => this.work.recover());
    await this.drainDeferred();
    const open = (await this.db.get<{ n: number }>('SELECT count(*) AS n FROM leases WHERE open'))?.n;
    this.check(open === 0, () => `${open} lease(s) still open after recover()`);
    const awaiting = await this.store.jobsAwaitingFinalize();
    this.check(awaiting.length === 0, () => `jobs awaiting finalize after recover(): ${awaiting.join(', ')}`);
    const back: string[] = [];
    for (const d of this.devices) {
      const wasOnline = d.conn !== null;
      d.conn = null;
      if (!d.crashed && (wasOnline || this.rng.chance(0.3)) && this.rng.chance(0.85)) {
        await this.connect(d);
        back.push(d.id);
      }
    }
    this.note(`hub restarts (epoch ${this.epoch}); reconnected: ${back.join(', ')}`);
  }

  // ---- drain -------------------------------------------------------------------------------

  /** Only well-behaved devices from here on: everyone online, everything held is submitted, time moves. */
  private async drain(): Promise<void> {
    this.phase = 'drain';
    this.step = 0;
    for (const d of this.devices) if (!d.conn) await this.connect(d);
    this.note('drain: every device online and well-behaved');
    while (this.step < this.drainBudget) {
      if (await this.everyJobEnded()) break;
      this.step++;
      for (const d of this.liveDevices()) {
        await this.complete(d, true);
        const conn = d.conn;
        if (conn) await this.requestWork(d, conn.threads * 8);
      }
      await this.hubNoticesZombies();
      await this.tick(BEAT_MS, true, true);
      await this.checkInvariants();
    }
    this.stats.drainSteps = this.step;
  }

  /** Whether every job the dashboard still shows has ended. */
  private async everyJobEnded(): Promise<boolean> {
    for (const j of this.jobs) {
      if (j.deleted) continue;
      if (ACTIVE.has((await this.jobRow(j.seq))?.status ?? '')) return false;
    }
    return true;
  }

  // ---- invariants --------------------------------------------------------------------------

  private async checkInvariants(): Promise<void> {
    const db = this.db;
    const all = await db.all<JobRow>('SELECT * FROM jobs ORDER BY seq');
    for (const row of all) {
      const job = this.jobsBySeq.get(row.seq);
      this.check(job !== undefined && job.deleted === (row.deleted === 1), () => `job ${row.seq}: deleted = ${row.deleted}, but the simulator ${job?.deleted ? 'deleted' : 'did not delete'} it`);
    }
    const jobs = all.filter((r) => r.deleted === 0);
    const kept = this.jobs.filter((j) => !j.deleted).length;
    this.check(jobs.length === kept, () => `${jobs.length} job rows for ${kept} submitted, undeleted jobs`);
    const listed = (await this.store.listJobs(0, 1000)).total;
    this.check(listed === kept, () => `listJobs counts ${listed} jobs, not ${kept}`);
    for (const table of ['subtasks', 'leases', 'input_chunks']) {
      const orphans = (await db.get<{ n: number }>(`SELECT count(*) AS n FROM ${table} WHERE job_seq NOT IN (SELECT seq FROM jobs)`))?.n;
      this.check(orphans === 0, () => `${orphans} row(s) of ${table} belong to no job`);
    }
    const agg = new Map(
      (
        await db.all<{ job_seq: number; n: number; done: number; leased: number; queued: number; failed: number; min_idx: number; max_idx: number; max_losses: number }>(
          `SELECT job_seq, count(*) AS n, sum(CASE WHEN state = 'done' THEN 1 ELSE 0 END) AS done,
             sum(CASE WHEN state = 'leased' THEN 1 ELSE 0 END) AS leased, sum(CASE WHEN state = 'queued' THEN 1 ELSE 0 END) AS queued,
             sum(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed, min(idx) AS min_idx, max(idx) AS max_idx, max(losses) AS max_losses
             FROM subtasks GROUP BY job_seq`,
        )
      ).map((r) => [r.job_seq, r]),
    );
    let doneRows = 0;
    for (const row of jobs) {
      const job = this.jobsBySeq.get(row.seq) ?? this.fail(`job row ${row.seq} the simulator never submitted`);
      const a = agg.get(row.seq) ?? { n: 0, done: 0, leased: 0, queued: 0, failed: 0, min_idx: 0, max_idx: -1, max_losses: 0 };
      doneRows += a.done;
      const where = `job ${row.seq} (${row.status}, ${row.total} inputs)`;
      this.check(['queued', 'running', 'completed', 'failed', 'cancelled'].includes(row.status), () => `${where}: unknown status`);
      this.check(row.deleted === 0, () => `${where} is deleted, but nothing deleted it`);
      this.check(row.completed === a.done, () => `${where}: completed counter ${row.completed} but ${a.done} done rows`);
      this.check(row.completed <= row.total, () => `${where}: completed ${row.completed} > total`);
      this.check(row.next_index >= 0 && row.next_index <= row.total, () => `${where}: next_index ${row.next_index}`);
      this.check(a.n === 0 || (a.min_idx >= 0 && a.max_idx < row.next_index), () => `${where}: subtask rows ${a.min_idx}..${a.max_idx} beyond next_index ${row.next_index}`);
      this.check(a.n === row.next_index, () => `${where}: ${a.n} subtask rows but next_index ${row.next_index}`);
      if (job.ended !== null) {
        this.check(row.status === job.ended, () => `${where} had ended as ${job.ended} and is now ${row.status}`);
      }
      if (ACTIVE.has(row.status)) {
        this.check(!job.cancelled, () => `${where} was cancelled but is active again`);
        this.check(row.leased === a.leased, () => `${where}: leased counter ${row.leased} but ${a.leased} leased rows`);
        this.check(row.queued === a.queued, () => `${where}: queued counter ${row.queued} but ${a.queued} queued rows`);
        this.check(a.failed === 0, () => `${where}: ${a.failed} input(s) failed for good yet the job is active`);
        this.check(a.max_losses <= limits.MAX_LEASE_LOSSES, () => `${where}: an input was lost ${a.max_losses} times yet the job is active`);
        this.check(row.finished_at === null && row.result === null && row.error === null, () => `${where}: active with finished_at/result/error set`);
      } else {
        this.check(row.finished_at !== null, () => `${where}: ended without finished_at`);
        if (job.ended === null) {
          job.ended = row.status as 'completed' | 'failed' | 'cancelled';
          this.note(`job ${row.seq} ended: ${row.status}${row.error ? ` ${row.error}` : ''}`);
          await this.checkDoneRows(job);
        }
      }
      if (row.status === 'completed') await this.checkCompleted(row, job);
      if (row.status === 'failed') await this.checkFailed(row, job);
      if (row.status === 'cancelled') this.check(job.cancelled && row.error === null, () => `${where}: cancelled by nobody`);
    }
    // Per-row checks of active jobs (a job's rows are checked once more as it ends, and all again at the end).
    const leaseItems = new Map<string, Set<number>>();
    const rows = await db.all<{
      job_seq: number;
      status: string;
      idx: number;
      state: string;
      lease_id: string | null;
      result: string | null;
      attempts: number;
      max_attempts: number;
      l_open: number | null;
      l_job: number | null;
      l_items: string | null;
    }>(
      `SELECT s.job_seq, j.status, s.idx, s.state, s.lease_id, s.result, s.attempts, j.max_attempts,
              l.open AS l_open, l.job_seq AS l_job, l.items AS l_items
         FROM subtasks s JOIN jobs j ON j.seq = s.job_seq LEFT JOIN leases l ON l.id = s.lease_id
        WHERE NOT j.deleted AND j.status IN ('queued', 'running')`,
    );
    const doneByJob = new Map<number, Set<number>>();
    for (const r of rows) {
      const job = this.jobsBySeq.get(r.job_seq) ?? this.fail(`subtask of unknown job ${r.job_seq}`);
      const where = `job ${r.job_seq} input ${r.idx} (${r.state})`;
      this.check(r.attempts >= 0 && r.attempts <= r.max_attempts, () => `${where}: ${r.attempts} attempts of ${r.max_attempts}`);
      if (r.state === 'done') {
        let set = doneByJob.get(r.job_seq);
        if (!set) doneByJob.set(r.job_seq, (set = new Set()));
        set.add(r.idx);
        this.check(r.result === job.expected[r.idx], () => `${where}: stored result ${r.result}, but f(${JSON.stringify(job.inputs[r.idx])}) = ${job.expected[r.idx]}`);
        this.check(r.lease_id === null, () => `${where}: done but still names lease ${r.lease_id}`);
      } else if (r.state === 'leased') {
        this.check(r.lease_id !== null && r.l_open === 1, () => `${where}: leased by ${r.lease_id}, whose lease row is ${r.l_open === null ? 'missing' : 'closed'}`);
        this.check(r.l_job === r.job_seq, () => `${where}: leased by a lease of job ${r.l_job}`);
        const id = r.lease_id ?? '';
        let items = leaseItems.get(id);
        if (!items) leaseItems.set(id, (items = new Set(JSON.parse(r.l_items ?? '[]') as number[])));
        this.check(items.has(r.idx), () => `${where}: its lease ${id} never held it`);
      } else if (r.state === 'queued') {
        this.check(r.lease_id === null && r.result === null, () => `${where}: queued with lease ${r.lease_id} / result ${r.result}`);
      } else if (r.state !== 'done') {
        this.fail(`${where}: unexpected state in an active job`);
      }
    }
    for (const job of this.jobs) {
      const row = jobs.find((j) => j.seq === job.seq);
      if (!row || !ACTIVE.has(row.status)) continue;
      const done = doneByJob.get(job.seq) ?? new Set<number>();
      for (const idx of job.acceptedOk) this.check(done.has(idx), () => `job ${job.seq} input ${idx}: its accepted result is gone (row no longer done)`);
    }
    // Global accounting: every accepted receipt is a done row or a counted attempt, exactly once.
    // (Deleted jobs are frozen at deletion and counted as retired.)
    const attempts =
      (await db.get<{ n: number }>('SELECT coalesce(sum(s.attempts), 0) AS n FROM subtasks s JOIN jobs j ON j.seq = s.job_seq WHERE NOT j.deleted'))?.n ?? -1;
    const done = doneRows + this.retiredDone;
    const counted = attempts + this.retiredAttempts;
    this.check(
      this.stats.accepted === done + counted,
      () => `receipts accepted ${this.stats.accepted} results, but there are ${done} done rows and ${counted} counted attempts`,
    );
    this.check(this.completedEvents === done, () => `subtasksCompleted reported ${this.completedEvents}, but there are ${done} done rows`);
    await this.checkLeases();
    await this.checkCounts(jobs, agg);
  }

  /** The dashboard's numbers and the device presence counts agree with the rows. */
  private async checkCounts(jobs: JobRow[], agg: Map<number, { done: number; leased: number; queued: number }>): Promise<void> {
    let completed = 0;
    let queued = 0;
    let running = 0;
    for (const row of jobs) {
      const a = agg.get(row.seq);
      completed += a?.done ?? 0;
      if (!ACTIVE.has(row.status)) continue;
      queued += row.total - row.next_index + (a?.queued ?? 0);
      running += a?.leased ?? 0;
    }
    const counts = await this.store.workCounts();
    this.check(
      counts.completed === completed && counts.queued === queued && counts.running === running,
      () => `workCounts() ${JSON.stringify(counts)}; rows say ${JSON.stringify({ completed, queued, running })}`,
    );
    const unleased = await this.store.unleasedCount();
    this.check(unleased === queued, () => `unleasedCount() ${unleased}; rows say ${queued}`);
    const expected = new Map<string, number>();
    for (const sc of this.conns.values()) {
      if (sc.epoch === this.epoch && sc.state !== 'closed') expected.set(sc.conn.deviceId, (expected.get(sc.conn.deviceId) ?? 0) + 1);
    }
    for (const d of await this.db.all<{ id: string; connections: number }>('SELECT id, connections FROM devices')) {
      this.check(
        d.connections === (expected.get(d.id) ?? 0),
        () => `device ${d.id} has ${d.connections} connection(s) in the store; ${expected.get(d.id) ?? 0} sockets are up`,
      );
    }
    const online = await this.store.onlineDeviceCount();
    this.check(online === expected.size, () => `onlineDeviceCount() ${online}; ${expected.size} devices have sockets up`);
  }

  /** Every done row of a job holds f(input), and every accepted success is still there. Returns the done count. */
  private async checkDoneRows(job: SimJob): Promise<number> {
    const done = await this.db.all<{ idx: number; result: string | null; lease_id: string | null }>(
      `SELECT idx, result, lease_id FROM subtasks WHERE job_seq = ? AND state = 'done'`,
      [job.seq],
    );
    const doneSet = new Set<number>();
    for (const d of done) {
      doneSet.add(d.idx);
      this.check(d.result === job.expected[d.idx], () => `job ${job.seq} input ${d.idx}: stored result ${d.result}, but f(${JSON.stringify(job.inputs[d.idx])}) = ${job.expected[d.idx]}`);
      this.check(d.lease_id === null, () => `job ${job.seq} input ${d.idx}: done but still names lease ${d.lease_id}`);
    }
    for (const idx of job.acceptedOk) this.check(doneSet.has(idx), () => `job ${job.seq} input ${idx}: its accepted result is gone (row no longer done)`);
    this.check(done.length === job.acceptedOk.size, () => `job ${job.seq}: ${done.length} done rows but ${job.acceptedOk.size} accepted successes`);
    return done.length;
  }

  private async checkCompleted(row: JobRow, job: SimJob): Promise<void> {
    const where = `job ${row.seq} (completed)`;
    this.check(row.completed === row.total && row.error === null, () => `${where}: completed ${row.completed}/${row.total}, error ${row.error}`);
    if (job.reduce === 'sum') {
      const exact = job.inputs.reduce<number>((s, x) => s + (jobFunction(x) as number), 0);
      this.check(row.result !== null && JSON.parse(row.result) === exact, () => `${where}: sum ${row.result}, exact sum ${exact}`);
      const api = await this.store.getJob(job.id);
      this.check(api?.result === exact, () => `${where}: getJob().result ${JSON.stringify(api?.result)}, exact sum ${exact}`);
    } else {
      this.check(row.result === null, () => `${where}: collect job with an aggregate ${row.result}`);
    }
  }

  private async checkFailed(row: JobRow, job: SimJob): Promise<void> {
    const where = `job ${row.seq} (failed)`;
    this.check(row.result === null && row.error !== null, () => `${where}: result ${row.result}, error ${row.error}`);
    const error = JSON.parse(row.error ?? 'null') as JobError;
    const sub = await this.subRow(row.seq, error.input);
    if (error.code === 'device_lost') {
      this.check((sub?.losses ?? 0) > limits.MAX_LEASE_LOSSES, () => `${where}: device_lost on input ${error.input} lost only ${sub?.losses} times`);
    } else if (error.code === 'work_error' || error.code === 'timeout' || error.code === 'invalid_result') {
      this.check(job.flaky.has(error.input), () => `${where}: ${error.code} on input ${error.input}, which no device ever fails`);
      this.check(
        sub?.state === 'failed' && sub.attempts === job.maxAttempts,
        () => `${where}: ${error.code} on input ${error.input}, whose row is ${JSON.stringify(sub)} (maxAttempts ${job.maxAttempts})`,
      );
    } else {
      this.fail(`${where}: unexpected error ${row.error}`);
    }
  }

  private async checkLeases(): Promise<void> {
    const mono = this.clock.monotonic();
    const open = await this.db.all<LeaseRow & { status: string; job_deleted: number }>(
      'SELECT l.*, j.status, j.deleted AS job_deleted FROM leases l JOIN jobs j ON j.seq = l.job_seq WHERE l.open',
    );
    const held = new Map<string, number>();
    for (const l of open) {
      const where = `open lease ${l.id} of job ${l.job_seq} (${l.conn_id})`;
      this.check(ACTIVE.has(l.status) && l.job_deleted === 0, () => `${where}: its job is ${l.job_deleted ? 'deleted' : l.status}`);
      const model = this.leases.get(l.id);
      const sc = this.conns.get(l.conn_id);
      this.check(model !== undefined && model.epoch === this.epoch, () => `${where}: not granted by this hub process`);
      this.check(sc !== undefined && sc.state !== 'closed', () => `${where}: its connection is ${sc?.state ?? 'unknown'}`);
      if (!model || !sc) continue;
      this.check(l.max_deadline === model.cap, () => `${where}: max_deadline ${l.max_deadline}, expected ${model.cap} (TTL + ${model.items.length} x timeout)`);
      const expected = Math.min(Math.max(model.grantMono, sc.lastBeat) + TTL, model.cap);
      this.check(l.deadline === expected, () => `${where}: deadline ${l.deadline}, expected ${expected} (granted ${model.grantMono}, last beat ${sc.lastBeat}, now ${mono})`);
      held.set(l.conn_id, (held.get(l.conn_id) ?? 0) + 1);
    }
    for (const connId of held.keys()) {
      const sc = this.conns.get(connId);
      const n = await this.store.heldCount(connId);
      const cap = (sc?.conn.threads ?? 0) * limits.MAX_HELD_PER_THREAD;
      this.check(n <= cap, () => `${connId} holds ${n} inputs; at most ${cap} allowed`);
    }
  }

  // ---- the end -----------------------------------------------------------------------------

  private async finalChecks(): Promise<SimReport> {
    this.phase = 'final';
    await this.checkInvariants();
    const rows = await this.db.all<JobRow>('SELECT * FROM jobs WHERE NOT deleted ORDER BY seq');
    const unfinished = rows.filter((r) => ACTIVE.has(r.status));
    this.check(
      unfinished.length === 0,
      () =>
        `${unfinished.length} job(s) never ended after ${this.drainBudget} drain steps with devices connected: ` +
        unfinished.map((r) => `job ${r.seq} ${r.status} completed ${r.completed}/${r.total} queued ${r.queued} leased ${r.leased} next ${r.next_index}`).join('; '),
    );
    let lost = 0;
    let duplicated = 0;
    let unexpected = 0;
    const failedBy: Record<string, number> = {};
    for (const row of rows) {
      const job = this.jobsBySeq.get(row.seq) ?? this.fail(`unknown job ${row.seq}`);
      const done = await this.db.all<{ idx: number; result: string }>(`SELECT idx, result FROM subtasks WHERE job_seq = ? AND state = 'done'`, [
        row.seq,
      ]);
      const doneSet = new Set(done.map((d) => d.idx));
      for (const idx of job.acceptedOk) if (!doneSet.has(idx)) lost++;
      for (const d of done) if (d.result !== job.expected[d.idx]) unexpected++;
      duplicated += Math.max(0, row.completed - done.length) + Math.max(0, done.length - job.acceptedOk.size);
      if (row.status === 'completed') {
        const page = await this.store.getResults(job.id, 0, row.total);
        this.check(page !== null && page.missing.length === 0, () => `job ${row.seq} completed with missing results ${page?.missing.slice(0, 10).join(',')}`);
        if (page) {
          for (let i = 0; i < row.total; i++) {
            if (!isDeepStrictEqual(page.results[i], jobFunction(job.inputs[i] ?? null))) unexpected++;
          }
        }
      }
      if (row.status === 'completed' || row.status === 'failed') {
        this.check(job.finishedEvents === 1, () => `job ${row.seq} ${row.status}: jobFinished fired ${job.finishedEvents} times`);
        this.check(job.stoppedEvents === (row.status === 'failed' ? 1 : 0), () => `job ${row.seq} ${row.status}: jobStopped fired ${job.stoppedEvents} times`);
      }
      if (row.status === 'failed') {
        const code = (JSON.parse(row.error ?? '{}') as JobError).code;
        failedBy[code] = (failedBy[code] ?? 0) + 1;
      }
    }
    this.check(lost === 0, () => `${lost} accepted result(s) lost`);
    this.check(duplicated === 0, () => `${duplicated} result(s) counted twice or stored without an accepted receipt`);
    this.check(unexpected === 0, () => `${unexpected} stored result(s) differ from f(input)`);
    const count = (s: string) => rows.filter((r) => r.status === s).length;
    return {
      seed: this.seed,
      engine: this.backend.engine,
      steps: this.steps,
      drainSteps: this.stats.drainSteps,
      jobs: this.jobs.length,
      deleted: this.jobs.filter((j) => j.deleted).length,
      completed: count('completed'),
      failed: count('failed'),
      cancelled: count('cancelled'),
      failedBy,
      devices: this.devices.length,
      restarts: this.stats.restarts,
      grants: this.stats.grants,
      tailCopies: this.stats.tailCopies,
      submits: this.stats.submits,
      accepted: this.stats.accepted,
      dropped: this.stats.dropped,
      lateAccepted: this.stats.lateAccepted,
      duplicatesDropped: this.stats.duplicatesDropped,
      rejected: this.stats.rejected,
      expiredLeases: this.stats.expiredLeases,
      lostResults: lost,
      duplicatedCounts: duplicated,
      unexpectedResults: unexpected,
    };
  }
}

/** Runs one seeded simulation; throws a SimulationFailure naming the seed when an invariant breaks. */
export async function runSwarm(options: SimOptions): Promise<SimReport> {
  return (await SwarmSimulation.open(options)).run();
}

/**
 * Capacity model of a network of hubs on one PostgreSQL server: what it can do (an analytic bound built from
 * measured costs per device call and per subtask) and a discrete-event simulation of devices, hubs and the database
 * that checks the bound, up to 100,000 devices.
 */

/** CPU microseconds per subtask and per device call (a lease, a result batch, a renewal), on a hub and in PostgreSQL. */
export interface Costs {
  hubUsPerSubtask: number;
  hubUsPerCall: number;
  pgUsPerSubtask: number;
  pgUsPerCall: number;
  /** Time a commit waits for its WAL flush (not CPU: the next batch waits, the cores do not). */
  flushMs: number;
}

export interface Network {
  devices: number;
  /** Worker threads per device. */
  threads: number;
  /** Run time of one input. */
  itemMs: number;
  hubs: number;
  hubCores: number;
  pgCores: number;
  /** Device to hub and back. */
  networkMs: number;
}

export type Bound = 'devices' | 'hubs' | 'database';

export interface Prediction {
  subtasksPerSecond: number;
  bound: Bound;
  /** Device calls per subtask: leases, result batches and heartbeats. */
  callsPerSubtask: number;
  /** Subtasks per second each bound allows. */
  limits: Record<Bound, number>;
}

/** A device holds about one second of work per thread (at least 2 inputs per thread) and asks for more at half. */
export function holdTarget(net: Pick<Network, 'threads' | 'itemMs'>): number {
  return Math.max(2 * net.threads, Math.min(64 * net.threads, Math.round((net.threads * 1000) / net.itemMs)));
}

export const HEARTBEAT_S = 5;

/** Lease and result calls per subtask of a device that is never starved: two calls per half of what it holds. */
export function workCallsPerSubtask(net: Pick<Network, 'threads' | 'itemMs'>): number {
  return 2 / (holdTarget(net) / 2);
}

/**
 * The analytic bound: the smallest of what the devices ask, what the hubs' cores allow and what the database
 * allows. Heartbeats (devices / 5 calls per second) come off the top of each. A hub has one commit in flight at a
 * time, so its writes use at most one of the database's cores: the database's bound counts min(cores, hubs) cores,
 * and no hub may write more than one core's worth.
 */
export function predict(costs: Costs, net: Network): Prediction {
  const k = workCallsPerSubtask(net);
  const beats = net.devices / HEARTBEAT_S;
  const hubCost = costs.hubUsPerSubtask + costs.hubUsPerCall * k;
  const pgCost = costs.pgUsPerSubtask + costs.pgUsPerCall * k;
  const limits: Record<Bound, number> = {
    devices: (net.devices * net.threads * 1000) / net.itemMs,
    hubs: Math.max(0, net.hubs * net.hubCores * 1e6 - costs.hubUsPerCall * beats) / hubCost,
    database: Math.min(
      Math.max(0, net.pgCores * 1e6 - costs.pgUsPerCall * beats) / pgCost,
      (net.hubs * Math.max(0, 1e6 - (costs.pgUsPerCall * beats) / net.hubs)) / pgCost,
    ),
  };
  const bound = (Object.keys(limits) as Bound[]).reduce((a, b) => (limits[b] < limits[a] ? b : a));
  const rate = limits[bound];
  return { subtasksPerSecond: rate, bound, callsPerSubtask: k + (rate > 0 ? beats / rate : 0), limits };
}

export interface Simulated {
  subtasksPerSecond: number;
  callsPerSubtask: number;
  /** Share of the hubs' and of the database's cores busy. */
  hubBusy: number;
  pgBusy: number;
  commitsPerSecond: number;
  /** Mean device calls per commit. */
  callsPerCommit: number;
  /** Mean time from a device's call to its answer. */
  meanAnswerMs: number;
  events: number;
}

/** A binary min-heap of events ordered by time; an event is (time, kind, subject) packed in parallel arrays. */
class EventQueue {
  private times: number[] = [];
  private kinds: number[] = [];
  private subjects: number[] = [];

  get size(): number {
    return this.times.length;
  }

  push(time: number, kind: number, subject: number): void {
    const { times, kinds, subjects } = this;
    let i = times.length;
    times.push(time);
    kinds.push(kind);
    subjects.push(subject);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((times[parent] as number) <= time) break;
      times[i] = times[parent] as number;
      kinds[i] = kinds[parent] as number;
      subjects[i] = subjects[parent] as number;
      i = parent;
    }
    times[i] = time;
    kinds[i] = kind;
    subjects[i] = subject;
  }

  /** Removes the earliest event into `out` (time, kind, subject). */
  pop(out: [number, number, number]): void {
    const { times, kinds, subjects } = this;
    out[0] = times[0] as number;
    out[1] = kinds[0] as number;
    out[2] = subjects[0] as number;
    const time = times.pop() as number;
    const kind = kinds.pop() as number;
    const subject = subjects.pop() as number;
    const n = times.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && (times[right] as number) < (times[left] as number) ? right : left;
      if ((times[child] as number) >= time) break;
      times[i] = times[child] as number;
      kinds[i] = kinds[child] as number;
      subjects[i] = subjects[child] as number;
      i = child;
    }
    times[i] = time;
    kinds[i] = kind;
    subjects[i] = subject;
  }
}

/** A group of identical cores serving work in arrival order: each piece starts on the core that frees first. */
class Cores {
  private free: Float64Array;
  busyMs = 0;

  constructor(count: number) {
    this.free = new Float64Array(count);
  }

  /** When work of `ms` arriving at `now` is done. */
  serve(now: number, ms: number): number {
    let best = 0;
    for (let i = 1; i < this.free.length; i++) if ((this.free[i] as number) < (this.free[best] as number)) best = i;
    const done = Math.max(now, this.free[best] as number) + ms;
    this.free[best] = done;
    this.busyMs += ms;
    return done;
  }
}

const ASK = 0; // a device sends its results and asks for more
const HUB_DONE = 1; // a hub has handled a device's calls; they wait for the hub's next commit
const COMMITTED = 2; // a hub's batch is committed; its devices get their answers
const ANSWER = 3; // a device gets its new inputs
const HEARTBEATS = 4; // a hub's devices' heartbeats of the last tick arrive

const HEARTBEAT_TICK_MS = 50;

/**
 * Simulates `seconds` of the network (after a warm-up: devices join over its first second): each device runs its inputs on its threads,
 * and when half of what it holds has run it sends its results and a lease request (two calls) to its hub and waits
 * for the answer (one request in flight per device, as the real ones). A hub spends CPU on each call on one of its
 * cores, then adds it to its next commit; one commit per hub is in flight at a time (group commit), and a commit
 * costs the database CPU for each of its calls and subtasks plus a WAL flush. Heartbeats (one call per device every
 * 5 s) go the same way, without subtasks.
 */
export function simulate(costs: Costs, net: Network, seconds: number, seed = 1, warmupMs = 5000): Simulated {
  const endMs = warmupMs + seconds * 1000;
  const hold = holdTarget(net);
  const n = net.devices;
  // Per device: inputs held (not yet run, fractional while they run), when that was last brought up to date, the
  // inputs run since its last call, and the subtasks its pending call carries.
  const held = new Float64Array(n);
  const updated = new Float64Array(n);
  const ran = new Float64Array(n);
  const carried = new Float64Array(n);
  const asked = new Float64Array(n);
  const askedAt = new Float64Array(n);
  const hubOf = (d: number) => d % net.hubs;
  const hubCores = Array.from({ length: net.hubs }, () => new Cores(net.hubCores));
  const pg = new Cores(net.pgCores);
  const pending: number[][] = Array.from({ length: net.hubs }, () => []);
  const pendingHeartbeats = new Float64Array(net.hubs);
  const inFlight: (number[] | null)[] = Array.from({ length: net.hubs }, () => null);
  const queue = new EventQueue();
  let random = seed >>> 0 || 1;
  const rand = () => {
    random ^= random << 13;
    random ^= random >>> 17;
    random ^= random << 5;
    return (random >>> 0) / 4294967296;
  };

  let subtasks = 0;
  let commits = 0;
  let committedCalls = 0;
  let answers = 0;
  let answerMs = 0;
  let events = 0;
  let hubBusy0 = 0;
  let pgBusy0 = 0;
  let measuring = false;

  /** Brings a device's held inputs up to `now`: its threads run min(held, threads) inputs at a time. */
  const advance = (d: number, now: number) => {
    const h = held[d] as number;
    const dt = now - (updated[d] as number);
    updated[d] = now;
    if (h <= 0 || dt <= 0) return;
    const done = Math.min(h, (dt * Math.min(h, net.threads)) / net.itemMs);
    held[d] = h - done;
    ran[d] = (ran[d] as number) + done;
  };
  /** When a device holding `h` inputs is down to half of its target. */
  const halfAt = (d: number, now: number) => {
    const h = held[d] as number;
    const excess = h - hold / 2;
    return excess <= 0 ? now : now + (excess * net.itemMs) / Math.min(h, net.threads);
  };
  const startCommit = (hub: number, now: number): void => {
    const batch = pending[hub] as number[];
    const beats = pendingHeartbeats[hub] as number;
    if (batch.length === 0 && beats === 0) return;
    pending[hub] = [];
    pendingHeartbeats[hub] = 0;
    inFlight[hub] = batch;
    let batchCalls = beats;
    let batchSubtasks = 0;
    for (const d of batch) {
      batchCalls += 2;
      batchSubtasks += carried[d] as number;
    }
    const cpuMs = (costs.pgUsPerCall * batchCalls + costs.pgUsPerSubtask * batchSubtasks) / 1000;
    if (measuring) {
      commits++;
      committedCalls += batchCalls;
    }
    queue.push(pg.serve(now, cpuMs) + costs.flushMs, COMMITTED, hub);
  };

  for (let d = 0; d < n; d++) {
    // Devices join over the first half of the warm-up, each with a first lease already answered.
    queue.push(rand() * 1000, ANSWER, d);
    asked[d] = hold;
    carried[d] = 0;
  }
  for (let hub = 0; hub < net.hubs; hub++) queue.push(HEARTBEAT_TICK_MS, HEARTBEATS, hub);

  const event: [number, number, number] = [0, 0, 0];
  while (queue.size > 0) {
    queue.pop(event);
    const [now, kind, subject] = event;
    if (now > endMs) break;
    events++;
    if (!measuring && now >= warmupMs) {
      measuring = true;
      hubBusy0 = hubCores.reduce((sum, c) => sum + c.busyMs, 0);
      pgBusy0 = pg.busyMs;
    }
    if (kind === ASK) {
      const d = subject;
      advance(d, now);
      const results = Math.floor(ran[d] as number);
      ran[d] = (ran[d] as number) - results;
      carried[d] = results;
      asked[d] = Math.max(0, hold - Math.round(held[d] as number) - 0);
      askedAt[d] = now;
      const hub = hubOf(d);
      const cpuMs = (2 * costs.hubUsPerCall + costs.hubUsPerSubtask * results) / 1000;
      queue.push((hubCores[hub] as Cores).serve(now + net.networkMs / 2, cpuMs), HUB_DONE, d);
    } else if (kind === HUB_DONE) {
      const hub = hubOf(subject);
      (pending[hub] as number[]).push(subject);
      if (inFlight[hub] === null) startCommit(hub, now);
    } else if (kind === HEARTBEATS) {
      const hub = subject;
      const devicesOfHub = Math.floor(n / net.hubs) + (hub < n % net.hubs ? 1 : 0);
      const beats = (devicesOfHub * HEARTBEAT_TICK_MS) / (HEARTBEAT_S * 1000);
      const done = (hubCores[hub] as Cores).serve(now, (costs.hubUsPerCall * beats) / 1000);
      pendingHeartbeats[hub] = (pendingHeartbeats[hub] as number) + beats;
      if (inFlight[hub] === null) startCommit(hub, Math.max(now, done));
      queue.push(now + HEARTBEAT_TICK_MS, HEARTBEATS, hub);
    } else if (kind === COMMITTED) {
      const hub = subject;
      const batch = inFlight[hub] as number[];
      inFlight[hub] = null;
      for (const d of batch) {
        if (measuring) subtasks += carried[d] as number;
        queue.push(now + net.networkMs / 2, ANSWER, d);
      }
      startCommit(hub, now);
    } else {
      const d = subject;
      advance(d, now);
      held[d] = (held[d] as number) + (asked[d] as number);
      if (measuring && (askedAt[d] as number) > 0) {
        answers++;
        answerMs += now - (askedAt[d] as number);
      }
      queue.push(halfAt(d, now), ASK, d);
    }
  }
  const measuredMs = endMs - warmupMs;
  const hubBusy = hubCores.reduce((sum, c) => sum + c.busyMs, 0) - hubBusy0;
  return {
    subtasksPerSecond: subtasks / (measuredMs / 1000),
    callsPerSubtask: committedCalls / Math.max(1, subtasks),
    hubBusy: Math.min(1, hubBusy / (measuredMs * net.hubs * net.hubCores)),
    pgBusy: Math.min(1, (pg.busyMs - pgBusy0) / (measuredMs * net.pgCores)),
    commitsPerSecond: commits / (measuredMs / 1000),
    callsPerCommit: committedCalls / Math.max(1, commits),
    meanAnswerMs: answerMs / Math.max(1, answers),
    events,
  };
}

/**
 * Per-subtask and per-call costs from two measured runs of the same engine with different calls per subtask (the
 * 1,000-device run: small leases; the dispatch run: large ones): cost = perSubtask + perCall × calls per subtask.
 */
export function fitCosts(
  small: { callsPerSubtask: number; hubUs: number; pgUs: number },
  large: { callsPerSubtask: number; hubUs: number; pgUs: number },
  flushMs: number,
): Costs {
  const dk = small.callsPerSubtask - large.callsPerSubtask;
  const line = (a: number, b: number) => {
    const perCall = dk > 0 ? Math.max(0, (a - b) / dk) : 0;
    return { perCall, perSubtask: Math.max(0, a - perCall * small.callsPerSubtask) };
  };
  const hub = line(small.hubUs, large.hubUs);
  const pg = line(small.pgUs, large.pgUs);
  return { hubUsPerSubtask: hub.perSubtask, hubUsPerCall: hub.perCall, pgUsPerSubtask: pg.perSubtask, pgUsPerCall: pg.perCall, flushMs };
}

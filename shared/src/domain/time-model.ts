/**
 * The design's time model of a job (contract, "Time model"), computed from what its devices reported: wall time,
 * compute time, T_p, n, m, T_comm, the two seed formulas, the ideal parallel time, the efficiency, and one sentence
 * of advice. Pure: the hub builds `Job.timing` with it, the dashboard draws it.
 */

/** What one device did for one job, as the hub recorded it. */
export interface DeviceTimingStats {
  deviceId: string;
  name: string;
  /** Threads the device ran with (the most it reported while working on the job). */
  threads: number;
  /** Runs whose results the hub accepted (a verified job's replicas included). */
  runs: number;
  /** Their run times, as the device measured them, summed. */
  computeMs: number;
  /** Run time of results the hub did not count (a copy's duplicate, a result for a stopped job). */
  extraMs: number;
  /** Lease and result messages exchanged for the job. */
  messages: number;
  /** Round trips to the hub the device measured, summed, and how many. */
  rttSumMs: number;
  rttCount: number;
}

export interface DeviceShare {
  deviceId: string;
  name: string;
  threads: number;
  runs: number;
  /** Of the job's accepted runs, 0–1. */
  share: number;
  computeMs: number;
  /** Mean run time on this device (its speed: lower is faster). */
  meanRunMs: number;
}

/** `Job.timing`, once the job has results. */
export interface JobTiming {
  /** From the job's start to its end (or to now while it runs). */
  wallMs: number;
  /** Sum of device run times of accepted results. */
  computeMs: number;
  /** T_p: mean run time of one input. */
  meanRunMs: number;
  /** n: distinct devices that returned accepted results. */
  devices: number;
  /** m: lease and result messages exchanged for the job. */
  messages: number;
  /** T_comm: mean round trip to the hub, as devices measured it (0 until one is measured). */
  commMs: number;
  model: {
    /** T_p·n + T_comm·(n−1) */
    serverlessMs: number;
    /** T_p·n + T_comm·m */
    edgeMs: number;
    /** computeMs ÷ threads used */
    idealParallelMs: number;
  };
  /** idealParallelMs ÷ wallMs */
  efficiency: number;
  /** Threads of the devices that returned accepted results. */
  threads: number;
  /** Accepted runs (more than the inputs done when a verified job runs replicas). */
  runs: number;
  /** Part of computeMs spent on a verified job's extra replicas (runs beyond one per input done). */
  replicaMs: number;
  /** Run time spent on results the hub did not count (duplicates of copies, results of a stopped job). */
  extraMs: number;
  /** T_comm · m: what the exchanges cost, summed. */
  commTotalMs: number;
  advice: string;
  /** The devices that did the most, largest share first (at most `MAX_TIMING_DEVICES`). */
  byDevice: DeviceShare[];
}

export const MAX_TIMING_DEVICES = 20;

export interface TimeModelInput {
  /** Epoch ms, or null before the job started. */
  startedAt: number | null;
  finishedAt: number | null;
  now: number;
  /** Inputs done. */
  completed: number;
  /** Whether the job runs replicas (verify is not `none`). */
  verified: boolean;
  devices: readonly DeviceTimingStats[];
}

/** The job's time model, or undefined while it has no accepted result. */
export function timeModel(input: TimeModelInput): JobTiming | undefined {
  const active = input.devices.filter((d) => d.runs > 0);
  const runs = sum(active, (d) => d.runs);
  if (runs === 0) return undefined;
  const computeMs = sum(active, (d) => d.computeMs);
  const meanRunMs = computeMs / runs;
  const n = active.length;
  const messages = sum(input.devices, (d) => d.messages);
  const rttCount = sum(input.devices, (d) => d.rttCount);
  const commMs = rttCount > 0 ? sum(input.devices, (d) => d.rttSumMs) / rttCount : 0;
  const threads = Math.max(1, sum(active, (d) => Math.max(1, d.threads)));
  const end = input.finishedAt ?? input.now;
  const wallMs = input.startedAt === null ? 0 : Math.max(0, end - input.startedAt);
  const idealParallelMs = computeMs / threads;
  const replicaRuns = input.verified ? Math.max(0, runs - input.completed) : 0;
  const timing: JobTiming = {
    wallMs,
    computeMs,
    meanRunMs,
    devices: n,
    messages,
    commMs,
    model: {
      serverlessMs: meanRunMs * n + commMs * (n - 1),
      edgeMs: meanRunMs * n + commMs * messages,
      idealParallelMs,
    },
    efficiency: wallMs > 0 ? idealParallelMs / wallMs : 0,
    threads,
    runs,
    replicaMs: replicaRuns * meanRunMs,
    extraMs: sum(input.devices, (d) => d.extraMs),
    commTotalMs: commMs * messages,
    advice: '',
    byDevice: active
      .map((d) => ({
        deviceId: d.deviceId,
        name: d.name,
        threads: d.threads,
        runs: d.runs,
        share: d.runs / runs,
        computeMs: d.computeMs,
        meanRunMs: d.computeMs / d.runs,
      }))
      .sort((a, b) => b.runs - a.runs || a.deviceId.localeCompare(b.deviceId))
      .slice(0, MAX_TIMING_DEVICES),
  };
  timing.advice = timingAdvice(timing);
  return timing;
}

/** Subtasks shorter than this many exchanges leave most of a device's time to communication. */
const COMPUTE_TO_COMM = 10;
/** Below this efficiency the job's devices mostly waited. */
const LOW_EFFICIENCY = 0.5;

/** One sentence: what most limits this job, and what to change. */
export function timingAdvice(t: JobTiming): string {
  const tp = formatMs(t.meanRunMs);
  const tc = formatMs(t.commMs);
  if (t.commMs > 0 && t.meanRunMs < COMPUTE_TO_COMM * t.commMs) {
    const target = niceCeil(Math.max(50, 20 * t.commMs));
    return `subtasks average ${tp} and each exchange costs ${tc}: group inputs so a subtask runs ≥ ${target} ms`;
  }
  const wasted = t.replicaMs + t.extraMs;
  if (wasted > 0.25 * (t.computeMs + t.extraMs)) {
    const pct = Math.round((100 * wasted) / (t.computeMs + t.extraMs));
    return `${pct}% of the compute went to replicas and duplicate copies: lower the replication or the verification's sampling if you can trust fewer runs`;
  }
  if (t.wallMs > 0 && t.efficiency < LOW_EFFICIENCY) {
    return `the job ran at ${Math.round(100 * t.efficiency)}% of its ideal parallel time on ${t.threads} thread${t.threads === 1 ? '' : 's'}: devices waited for work (too few inputs, a slow tail, or devices joining late); give it more inputs than threads`;
  }
  const commShare = t.meanRunMs + t.commMs > 0 ? Math.round((100 * t.commMs) / (t.meanRunMs + t.commMs)) : 0;
  return `subtasks average ${tp} and each exchange costs ${tc} (${commShare}% of a cycle): compute-bound, so more devices will speed it up`;
}

function sum<T>(items: readonly T[], f: (item: T) => number): number {
  let total = 0;
  for (const item of items) total += f(item);
  return total;
}

/** 1, 2 or 5 times a power of ten, at least `x`. */
function niceCeil(x: number): number {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/** A duration for a sentence: "0.4 ms", "12 ms", "3.2 s". */
export function formatMs(ms: number): string {
  if (ms < 10) return `${Number(ms.toFixed(1))} ms`;
  if (ms < 10_000) return `${Math.round(ms)} ms`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}

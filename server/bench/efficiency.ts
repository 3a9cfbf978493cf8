/**
 * Efficiency benchmark: a CPU-bound job (seeded Monte Carlo π with a mulberry32 PRNG, about 1 ms or
 * 10 ms of work per input) through a hub process and one real device agent with 2 threads, against
 * a local pool of 2 worker_threads running the same function on the same inputs.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Agent } from '../src/agent/agent.ts';
import { JobSandbox } from '../src/agent/job-sandbox.ts';
import { api, sleep, type ServerProcess } from './harness.ts';

export const THREADS = 2;

/**
 * The job's code: `iterations` points per input, drawn from mulberry32 seeded with the input.
 * With `hoisted` (what the efficiency figures use) `Math.imul` is read once per call: in the agent's
 * `vm` context every read of a global such as `Math` goes through the context's interceptor, which
 * makes the textbook form about 25 times slower there (see `vmGlobalSlowdown`).
 */
export function monteCarloCode(iterations: number, hoisted = true): string {
  const imul = hoisted ? 'imul' : 'Math.imul';
  return `(seed) => {
  const imul = Math.imul;
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = ${imul}(a ^ (a >>> 15), 1 | a);
    t = (t + ${imul}(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let inside = 0;
  for (let i = 0; i < ${iterations}; i++) {
    const x = next();
    const y = next();
    if (x * x + y * y < 1) inside++;
  }
  return (4 * inside) / ${iterations};
}`;
}

/** Points per millisecond of one worker thread of `pool` on this machine (the first probe warms the code up). */
export async function calibrate(pool: LocalPool): Promise<number> {
  const probe = 100_000;
  const code = monteCarloCode(probe);
  const count = THREADS * 20;
  await pool.run(code, count);
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) rates.push(await pool.run(code, count));
  const inputsPerSecondPerThread = (rates.sort((x, y) => x - y)[1] ?? NaN) / THREADS;
  return (probe * inputsPerSecondPerThread) / 1000;
}

/**
 * A plain worker: compiles each code string once and keeps the function, as the agent does
 * (evaluating the same code again each round gave a fresh, slower-to-optimise function: rounds after
 * the first ran up to 1.5 times slower, which flattered the hub).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const compiled = new Map();
let fn = null;
parentPort.on('message', (m) => {
  if (m.code !== undefined) {
    fn = compiled.get(m.code);
    if (!fn) { fn = (0, eval)(m.code); compiled.set(m.code, fn); }
    parentPort.postMessage({ loaded: true });
    return;
  }
  parentPort.postMessage({ result: fn(m.input) });
});`;

/** The baseline: THREADS plain worker_threads, each kept 2 inputs ahead, no hub, no sandbox. */
export class LocalPool {
  private readonly workers = Array.from({ length: THREADS }, () => new Worker(WORKER_SOURCE, { eval: true }));

  /** Loads `code` in every worker (outside the timing), then returns inputs per second over `count` inputs. */
  async run(code: string, count: number): Promise<number> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((ok) => {
            w.once('message', () => ok());
            w.postMessage({ code });
          }),
      ),
    );
    let next = 0;
    let done = 0;
    const t0 = performance.now();
    await new Promise<void>((ok, fail) => {
      for (const w of this.workers) {
        w.on('message', () => {
          done++;
          if (next < count) w.postMessage({ input: next++ });
          if (done === count) ok();
        });
        w.once('error', fail);
        for (let k = 0; k < 2 && next < count; k++) w.postMessage({ input: next++ });
      }
    });
    const seconds = (performance.now() - t0) / 1000;
    for (const w of this.workers) w.removeAllListeners('message').removeAllListeners('error');
    return count / seconds;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

interface JobView {
  id: string;
  status: string;
  progress: { total: number; completed: number; failed: number };
  error?: { code: string; message: string };
  finishedAt?: string | null;
}

/** One real agent (2 threads, in this process) connected to `hub`. */
export function startAgent(hub: ServerProcess): Agent {
  const agent = new Agent({
    config: { hubUrls: [hub.url], threads: THREADS, devices: 1, name: 'bench agent', memoryMb: 256 },
    deviceIds: [`bench_agent_${randomBytes(6).toString('hex')}`],
  });
  agent.start();
  return agent;
}

/**
 * How often the bench asks whether the job is done. The time measured ends at the job's `finishedAt` (the hub's
 * clock, on this machine), so polling adds nothing to it: it only has to cost the hub and this process little CPU,
 * which the agent's threads would otherwise lose on a 2-core machine (at 20 polls a second, about 4% of it).
 */
const POLL_MS = 250;

/** Submits a job of `count` inputs to the hub and returns inputs per second from the POST until the hub says it completed. */
/** Runs `count` inputs of `work` (inline code, or `{ bundle: 'sha256:HEX' }`) through the hub; returns inputs per second. */
export async function runThroughHub(hub: ServerProcess, work: string | { bundle: string }, count: number, budgetMs: number): Promise<number> {
  const t0 = performance.now();
  const submittedAt = Date.now();
  const job = await api<JobView>(hub.url, 'POST', '/api/jobs', {
    name: 'bench efficiency',
    ...(typeof work === 'string' ? { code: work } : work),
    inputs: { range: { start: 0, end: count } },
    reduce: 'sum',
  });
  let finishedAt: number | null = null;
  for (;;) {
    const view = await api<JobView>(hub.url, 'GET', `/api/jobs/${job.id}`);
    if (view.status === 'completed') {
      finishedAt = view.finishedAt ? Date.parse(view.finishedAt) : null;
      break;
    }
    if (view.status === 'failed' || view.status === 'cancelled') throw new Error(`bench job ${view.status}: ${view.error?.message ?? ''}`);
    if (performance.now() - t0 > budgetMs) {
      await api(hub.url, 'POST', `/api/jobs/${job.id}/cancel`).catch(() => {});
      throw new Error(`bench job not done after ${budgetMs} ms (${view.progress.completed}/${count})`);
    }
    await sleep(POLL_MS);
  }
  // From the POST to the hub's completion of the job (the poll's own delay is not the job's).
  const seconds = finishedAt === null ? (performance.now() - t0) / 1000 : Math.max(0.001, (finishedAt - submittedAt) / 1000);
  await api(hub.url, 'DELETE', `/api/jobs/${job.id}`).catch(() => {});
  return count / seconds;
}

/** How much slower one call of the textbook (un-hoisted) code runs in the agent's sandbox than as a plain function, median of a few calls each. */
export async function vmGlobalSlowdown(iterations: number): Promise<number> {
  const code = monteCarloCode(iterations, false);
  const compiled = JobSandbox.compile(code, 60_000);
  if (!compiled.ok) throw new Error(compiled.message);
  const plain = (0, eval)(code) as (seed: number) => number;
  const time = async (run: (seed: number) => unknown): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      await run(i);
      times.push(performance.now() - t0);
    }
    return times.sort((x, y) => x - y)[3] ?? NaN;
  };
  const budget = { timeoutMs: 60_000, syncTimeoutMs: null };
  const vmMs = await time((seed) => compiled.sandbox.run(String(seed), budget));
  const plainMs = await time(plain);
  return vmMs / plainMs;
}

/**
 * `npm run bench [-- --json] [-- --only NAME,...]`: runs each benchmark several rounds and prints
 * medians (min, max); with --json the last line is one JSON object of every figure. Sections:
 * sqlite, dispatch, efficiency, browser, idle, active, range, verify, blobs, scale.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measure } from './sqlite-durability.ts';
import { startEchoServer, startHub, summarise, type Figure } from './harness.ts';
import { measureEcho, measureHubDispatch, type Window } from './dispatch.ts';
import { agentDispatchRate, startAgentProcess } from './agent-dispatch.ts';
import { LocalPool, THREADS, calibrate, monteCarloCode, runThroughHub, startAgent, vmGlobalSlowdown } from './efficiency.ts';
import { rssPerIdleClient } from './idle.ts';
import { SimFleet, hubPeakRssMib, runRangeJob } from './fleet.ts';
import { cpuMicros, dirBytes, rssKib, sleep } from './harness.ts';
import { many, runVerification } from '../src/scheduler/verification-simulation.ts';
import { BROWSER_THREADS, chromiumPath, ensureWebBuild, nodeCallMs, openVolunteerPage, type BrowserDevice } from './browser.ts';
import { SPOT_CHECK_RATE } from '../src/verification/quorum.ts';
import { measureDelivery, uploadBlob, type Delivery } from './blobs.ts';
import { hubCounts, hubsCpuMicros, postgresSetup, sqliteSetup, type ScaleSetup } from './scale.ts';
import { capacityRows, type MeasuredRun } from './capacity-report.ts';

const ROUNDS = 5;
/** Rounds of the scenarios that run a hub process (each a few seconds). */
const HUB_ROUNDS = 3;
const json = process.argv.includes('--json');
const SECTIONS = ['sqlite', 'dispatch', 'efficiency', 'browser', 'idle', 'active', 'range', 'verify', 'blobs', 'scale'] as const;
type SectionName = (typeof SECTIONS)[number];
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg >= 0 ? (process.argv[onlyArg + 1] ?? '').split(',').filter(Boolean) : [...SECTIONS];
for (const name of only) {
  if (!(SECTIONS as readonly string[]).includes(name)) {
    console.error(`--only: unknown section ${JSON.stringify(name)}; the sections are ${SECTIONS.join(', ')}`);
    process.exit(2);
  }
}
const started = performance.now();

const figures: Record<string, Figure> = {};
const sections: { title: string; rows: string[] }[] = [];

const fmt = (v: number, digits: number): string => (Number.isFinite(v) ? v.toFixed(digits) : String(v));
function row(label: string, key: string, values: number[], unit: string, digits = 0): string {
  const f = summarise(values);
  figures[key] = f;
  return `${label.padEnd(34)} ${fmt(f.median, digits).padStart(10)} ${unit.padEnd(14)} (${fmt(f.min, digits)}–${fmt(f.max, digits)})  ${key}`;
}

async function section(name: SectionName, title: string, run: (rows: string[]) => Promise<void> | void): Promise<void> {
  if (!only.includes(name)) return;
  const t0 = performance.now();
  const rows: string[] = [];
  sections.push({ title, rows });
  try {
    await run(rows);
  } catch (err) {
    rows.push(`FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exitCode = 1;
  }
  console.log(`\n${title}`);
  for (const r of rows) console.log(`  ${r}`);
  console.log(`  (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}

await section('sqlite', `SQLite commit-before-ack, WAL, medians of ${ROUNDS} rounds (min–max):`, (rows) => {
  for (const batch of [1, 64]) {
    for (const mode of ['FULL', 'NORMAL'] as const) {
      const runs = Array.from({ length: ROUNDS }, () => measure(mode, batch, batch === 1 ? 400 : 100));
      const commits = summarise(runs.map((r) => r.commitsPerSecond));
      const results = summarise(runs.map((r) => r.resultsPerSecond));
      const key = `sqlite_${mode.toLowerCase()}_batch${batch}`;
      figures[`${key}_commits_per_s`] = commits;
      figures[`${key}_results_per_s`] = results;
      rows.push(
        `${mode.padEnd(7)} batch ${String(batch).padStart(3)}  ${commits.median.toFixed(0).padStart(8)} commits/s (${commits.min.toFixed(0)}–${commits.max.toFixed(0)})  ${results.median.toFixed(0).padStart(9)} results/s`,
      );
    }
  }
});

const DISPATCH_WARMUP_MS = 500;
/** The real agent's dispatch run: devices of one thread each, and a job of this many `(x) => x` inputs. */
const AGENT_DEVICES = 10;
const AGENT_INPUTS = 300_000;
const DISPATCH_MEASURE_MS = 2_000;
await section(
  'dispatch',
  `Dispatch: echo subtasks ((x) => x, sum) through a hub process vs raw Socket.IO round trips (8 in flight per client) to an echo process, same clients; medians of ${HUB_ROUNDS} rounds of ${DISPATCH_MEASURE_MS / 1000} s (min–max):`,
  async (rows) => {
    const hub = await startHub();
    const echo = await startEchoServer();
    try {
      // Unrecorded warm-up of both servers' code paths.
      await measureHubDispatch(hub, 10, 300, 500);
      await measureEcho(echo, 10, 300, 500);
      const sizes = [10, 100] as const;
      const hubRuns = new Map<number, Window[]>(sizes.map((n) => [n, []]));
      const echoRuns = new Map<number, Window[]>(sizes.map((n) => [n, []]));
      for (let round = 0; round < HUB_ROUNDS; round++) {
        for (const n of sizes) {
          hubRuns.get(n)?.push(await measureHubDispatch(hub, n, DISPATCH_WARMUP_MS, DISPATCH_MEASURE_MS));
          echoRuns.get(n)?.push(await measureEcho(echo, n, DISPATCH_WARMUP_MS, DISPATCH_MEASURE_MS));
        }
      }
      for (const n of sizes) {
        const h = hubRuns.get(n) ?? [];
        const e = echoRuns.get(n) ?? [];
        rows.push(row(`hub subtasks/s, ${n} devices`, `dispatch_subtasks_per_s_n${n}`, h.map((w) => w.perSecond), 'subtasks/s'));
        rows.push(row(`raw round trips/s, ${n} clients`, `raw_roundtrips_per_s_n${n}`, e.map((w) => w.perSecond), 'round trips/s'));
        rows.push(row(`ratio (same round), n=${n}`, `dispatch_ratio_n${n}`, h.map((w, i) => w.perSecond / (e[i]?.perSecond ?? NaN)), '', 2));
        const suffix = n === 10 ? '' : `_n${n}`;
        rows.push(row(`hub CPU per subtask, n=${n}`, `hub_cpu_us_per_subtask${suffix}`, h.map((w) => w.cpuUsPerOp), 'µs', 1));
        rows.push(row(`echo CPU per round trip, n=${n}`, `raw_cpu_us_per_roundtrip${suffix}`, e.map((w) => w.cpuUsPerOp), 'µs', 1));
      }
      // The real agent (`npm run device -- --devices 10 --threads 1`, its own process) against the same raw round trips.
      const agent = await startAgentProcess(hub, AGENT_DEVICES);
      try {
        await agentDispatchRate(hub, 20_000, 60_000); // warm-up: threads start, code compiles
        const agentRates: number[] = [];
        const echoRates: number[] = [];
        for (let round = 0; round < HUB_ROUNDS; round++) {
          agentRates.push(await agentDispatchRate(hub, AGENT_INPUTS, 180_000));
          echoRates.push((await measureEcho(echo, AGENT_DEVICES, DISPATCH_WARMUP_MS, DISPATCH_MEASURE_MS)).perSecond);
        }
        rows.push(row(`agent inputs/s, ${AGENT_DEVICES} devices × 1 thread`, `agent_dispatch_inputs_per_s_n${AGENT_DEVICES}`, agentRates, 'inputs/s'));
        rows.push(row(`raw round trips/s, ${AGENT_DEVICES} clients (same rounds)`, `agent_raw_roundtrips_per_s_n${AGENT_DEVICES}`, echoRates, 'round trips/s'));
        rows.push(row(`agent ÷ raw (same round), n=${AGENT_DEVICES} (≥ 1.0)`, `agent_dispatch_ratio_n${AGENT_DEVICES}`, agentRates.map((a, i) => a / (echoRates[i] ?? NaN)), '', 2));
      } finally {
        await agent.stop();
      }
    } finally {
      await hub.stop();
      await echo.stop();
    }
  },
);

/** Inputs per run: about 10 s of the local pool's wall time (20 s of CPU work on 2 threads) at each size; two runs per side a round. */
const EFFICIENCY_WORK_MS = 10_000;
const EFFICIENCY_SIZES = [
  { ms: 1, key: 'efficiency_1ms' },
  { ms: 10, key: 'efficiency_10ms' },
  { ms: 100, key: 'efficiency_100ms' },
] as const;
await section(
  'efficiency',
  `Efficiency: Monte Carlo π (mulberry32) through hub + one agent with ${THREADS} threads vs a local pool of ${THREADS} worker_threads, same inputs; medians of ${HUB_ROUNDS} rounds (min–max):`,
  async (rows) => {
    const pool = new LocalPool();
    let hub: Awaited<ReturnType<typeof startHub>> | null = null;
    let agent: ReturnType<typeof startAgent> | null = null;
    try {
      const pointsPerMs = await calibrate(pool);
      rows.push(`calibrated: ${pointsPerMs.toFixed(0)} points per ms in a worker thread`);
      hub = await startHub();
      agent = startAgent(hub);
      // Unrecorded warm-up: the agent's threads start on first use.
      await runThroughHub(hub, monteCarloCode(Math.round(pointsPerMs)), 100, 30_000);
      await pool.run(monteCarloCode(Math.round(pointsPerMs)), 100);
      for (const { ms, key } of EFFICIENCY_SIZES) {
        const code = monteCarloCode(Math.round(pointsPerMs * ms));
        const count = Math.round((THREADS * EFFICIENCY_WORK_MS) / ms);
        const hubRates: number[] = [];
        const localRates: number[] = [];
        for (let round = 0; round < HUB_ROUNDS; round++) {
          // Hub, local, local, hub (ABBA): a steady drift in the machine's speed, which on a shared machine moves the
          // local pool by 20% within a minute, weighs on both sides alike. Each side's rate is over both of its runs.
          const hubFirst = await runThroughHub(hub, code, count, 120_000);
          const localFirst = await pool.run(code, count);
          const localSecond = await pool.run(code, count);
          const hubSecond = await runThroughHub(hub, code, count, 120_000);
          hubRates.push(2 / (1 / hubFirst + 1 / hubSecond));
          localRates.push(2 / (1 / localFirst + 1 / localSecond));
        }
        rows.push(row(`hub + agent inputs/s, ${ms} ms each`, `${key}_hub_inputs_per_s`, hubRates, 'inputs/s', 1));
        rows.push(row(`local pool inputs/s, ${ms} ms each`, `${key}_local_inputs_per_s`, localRates, 'inputs/s', 1));
        rows.push(row(`efficiency (same round), ${ms} ms`, key, hubRates.map((h, i) => h / (localRates[i] ?? NaN)), '', 3));
      }
      const slowdowns: number[] = [];
      for (let round = 0; round < HUB_ROUNDS; round++) slowdowns.push(await vmGlobalSlowdown(Math.round(pointsPerMs)));
      rows.push(row('agent vm / plain, Math.imul per call', 'vm_global_math_slowdown_1ms', slowdowns, '×', 1));
    } finally {
      await agent?.stop(0);
      await pool.close();
      await hub?.stop();
    }
  },
);

const IDLE = 10_000;
await section(
  'idle',
  `Idle devices: RSS growth per idle connection, ${IDLE} clients from a child process, hub process vs echo process (fresh server each round); medians of ${HUB_ROUNDS} rounds (min–max):`,
  async (rows) => {
    const hubKib: number[] = [];
    const echoKib: number[] = [];
    for (let round = 0; round < HUB_ROUNDS; round++) {
      const hub = await startHub();
      try {
        hubKib.push(await rssPerIdleClient(hub, IDLE, 'device'));
      } finally {
        await hub.stop();
      }
      const echo = await startEchoServer();
      try {
        echoKib.push(await rssPerIdleClient(echo, IDLE, 'plain'));
      } finally {
        await echo.stop();
      }
    }
    rows.push(row('idle devices connected', 'idle_devices', hubKib.map(() => IDLE), 'devices'));
    rows.push(row('hub RSS per idle device', 'rss_kib_per_idle_device', hubKib, 'KiB', 1));
    rows.push(row('echo RSS per idle client', 'raw_rss_kib_per_idle_client', echoKib, 'KiB', 1));
  },
);

const ACTIVE_DEVICES = 1_000;
const ACTIVE_SUBTASKS = 200_000;
const ACTIVE_ITEM_MS = 1;
await section(
  'active',
  `Active devices: ${ACTIVE_DEVICES.toLocaleString('en')} simulated devices (1 thread, ${ACTIVE_ITEM_MS} ms per input, heartbeats) in a child process run jobs of ${ACTIVE_SUBTASKS.toLocaleString('en')} subtasks ((x) => x, sum) through one hub process, submission to completion; medians of ${HUB_ROUNDS} rounds (min–max):`,
  async (rows) => {
    const hub = await startHub();
    let fleet: SimFleet | null = null;
    try {
      fleet = await SimFleet.start({ url: hub.url, count: ACTIVE_DEVICES, threads: 1, slots: 64, itemMs: ACTIVE_ITEM_MS });
      const rates: number[] = [];
      const cpu: number[] = [];
      for (let round = 0; round < HUB_ROUNDS; round++) {
        const cpu0 = cpuMicros(hub.pid);
        const run = await runRangeJob(hub, ACTIVE_SUBTASKS, 300_000);
        cpu.push((cpuMicros(hub.pid) - cpu0) / ACTIVE_SUBTASKS);
        rates.push(run.subtasksPerSecond);
      }
      const { disconnects, errors } = await fleet.stop();
      fleet = null;
      if (errors.length > 0) throw new Error(`simulated devices failed: ${errors.join('; ')}`);
      rows.push(row(`subtasks/s, ${ACTIVE_DEVICES} devices`, 'active_1000_subtasks_per_s', rates, 'subtasks/s'));
      rows.push(row('hub CPU per subtask', 'active_1000_hub_cpu_us_per_subtask', cpu, 'µs', 1));
      rows.push(row('disconnects during the rounds', 'active_1000_disconnects', [disconnects], 'disconnects'));
    } finally {
      await fleet?.stop().catch(() => {});
      await hub.stop();
    }
  },
);

const RANGE_INPUTS = 10_000_000;
const RANGE_DEVICES = 20;
await section(
  'range',
  `Big job: a range of ${RANGE_INPUTS.toLocaleString('en')} inputs ((x) => x, sum) through a fresh hub process with ${RANGE_DEVICES} simulated devices (4 threads each, no run time), submission to completion, run once:`,
  async (rows) => {
    const hub = await startHub();
    let fleet: SimFleet | null = null;
    try {
      const idleRss = rssKib(hub.pid) / 1024;
      fleet = await SimFleet.start({ url: hub.url, count: RANGE_DEVICES, threads: 4, slots: 256, itemMs: 0 });
      let sampledPeak = 0;
      const run = await runRangeJob(hub, RANGE_INPUTS, 900_000, () => {
        sampledPeak = Math.max(sampledPeak, rssKib(hub.pid) / 1024);
      });
      const peak = hubPeakRssMib(hub);
      const { errors } = await fleet.stop();
      fleet = null;
      if (errors.length > 0) throw new Error(`simulated devices failed: ${errors.join('; ')}`);
      rows.push(`hub RSS before the job: ${idleRss.toFixed(0)} MiB; the job's sum checked: ${String(run.job.result)}`);
      rows.push(row('seconds to complete', 'range_10m_seconds', [run.seconds], 's', 1));
      rows.push(row('subtasks/s', 'range_10m_subtasks_per_s', [run.subtasksPerSecond], 'subtasks/s'));
      rows.push(row('hub peak RSS (VmHWM)', 'range_10m_peak_rss_mib', [peak], 'MiB'));
      const bytes = hub.dataDir === undefined ? NaN : dirBytes(hub.dataDir);
      rows.push(row('data dir size after the job', 'range_10m_data_mib', [bytes / 2 ** 20], 'MiB'));
      rows.push(row('stored bytes per subtask', 'range_10m_bytes_per_subtask', [bytes / RANGE_INPUTS], 'bytes', 1));
    } finally {
      await fleet?.stop().catch(() => {});
      await hub.stop();
    }
  },
);

/** Inputs per browser round: about 5 s of the local pool's wall time at each size. */
const BROWSER_WORK_MS = 5_000;
await section(
  'browser',
  `Browser: one headless Chromium volunteer page with ${BROWSER_THREADS} threads (sandboxed runner frames) through a hub process; medians of ${HUB_ROUNDS} rounds (min–max):`,
  async (rows) => {
    const executablePath = chromiumPath();
    if (executablePath === null) {
      rows.push('skipped: no Chromium at /usr/bin/chromium (set CHROMIUM_PATH)');
      return;
    }
    ensureWebBuild();
    const pool = new LocalPool();
    let hub: Awaited<ReturnType<typeof startHub>> | null = null;
    let page: BrowserDevice | null = null;
    try {
      const pointsPerMs = await calibrate(pool);
      hub = await startHub();
      page = await openVolunteerPage(hub, executablePath);
      await runThroughHub(hub, '(x) => x', 1000, 60_000); // warm-up: runners start on first use
      const trivial: number[] = [];
      for (let round = 0; round < HUB_ROUNDS; round++) trivial.push(await runThroughHub(hub, '(x) => x', 10_000, 120_000));
      rows.push(row('(x) => x inputs/s', 'browser_trivial_inputs_per_s', trivial, 'inputs/s'));
      for (const ms of [1, 10]) {
        const code = monteCarloCode(Math.round(pointsPerMs * ms));
        const count = Math.round((BROWSER_THREADS * BROWSER_WORK_MS) / ms);
        const pageRates: number[] = [];
        const localRates: number[] = [];
        const plainRates: number[] = [];
        for (let round = 0; round < HUB_ROUNDS; round++) {
          pageRates.push(await runThroughHub(hub, code, count, 120_000));
          localRates.push(await pool.run(code, count));
          // What this Chromium's plain workers do alone, THREADS at a time on this machine, in the same round.
          plainRates.push(await page.plainWorkersPerS(code, BROWSER_THREADS, count));
        }
        // The former ideal: THREADS times one plain worker's median call, measured alone (it leaves out what two threads
        // cost each other on this machine).
        const callMs = await page.workerCallMs(code, Math.max(20, Math.round(1000 / ms)));
        const soloIdeal = (BROWSER_THREADS * 1000) / callMs;
        rows.push(row(`page inputs/s, ${ms} ms each`, `browser_${ms}ms_inputs_per_s`, pageRates, 'inputs/s', 1));
        rows.push(row(`${BROWSER_THREADS} plain workers inputs/s, ${ms} ms`, `browser_plain_workers_${ms}ms_inputs_per_s`, plainRates, 'inputs/s', 1));
        rows.push(row(`page / plain workers, ${ms} ms`, `browser_pipeline_efficiency_${ms}ms`, pageRates.map((p, i) => p / (plainRates[i] ?? NaN)), '', 3));
        rows.push(row(`page / ${BROWSER_THREADS} x one worker alone, ${ms} ms`, `browser_pipeline_efficiency_solo_${ms}ms`, pageRates.map((p) => p / soloIdeal), '', 3));
        rows.push(row(`page / local pool (Node), ${ms} ms`, `browser_efficiency_${ms}ms`, pageRates.map((p, i) => p / (localRates[i] ?? NaN)), '', 3));
      }
      // How fast this Chromium runs the same function as Node, without Edgeswarm: the ceiling of page / local pool.
      const probe = monteCarloCode(Math.round(pointsPerMs * 10));
      const speed: number[] = [];
      for (let round = 0; round < HUB_ROUNDS; round++) speed.push(nodeCallMs(probe, 100) / (await page.workerCallMs(probe, 100)));
      rows.push(row('Chromium worker / Node, JS speed', 'browser_js_speed_vs_node', speed, '×', 3));
    } finally {
      await page?.close();
      await pool.close();
      await hub?.stop();
    }
  },
);

const VERIFY_SEEDS = 5;
await section(
  'verify',
  `Result verification, simulated fleets over the real WorkService and SQLite store; medians of ${VERIFY_SEEDS} seeds (min–max):`,
  async (rows) => {
    const seeds = Array.from({ length: VERIFY_SEEDS }, (_, i) => 1000 + i);
    const honest = many(10, { kind: 'honest' });
    const cost = async (verify: 'none' | 'replicate' | 'adaptive') => {
      const runs: number[] = [];
      for (const seed of seeds) runs.push((await runVerification({ seed, verify, fleet: honest, jobs: 10, inputsPerJob: 1000, checkInvariants: false })).runsPerInput);
      return runs;
    };
    rows.push(row('runs per input, none', 'verify_runs_per_input_none', await cost('none'), 'runs', 3));
    const plain = await cost('replicate');
    const adaptive = await cost('adaptive');
    rows.push(row('runs per input, replicate k=2', 'verify_runs_per_input_replicate_k2', plain, 'runs', 3));
    rows.push(row('runs per input, adaptive k=2', 'verify_runs_per_input_adaptive_k2', adaptive, 'runs', 3));
    rows.push(row('adaptive cost / replicate cost', 'verify_adaptive_over_replicate', adaptive.map((a, i) => a / (plain[i] ?? NaN)), '', 3));
    const LIES = 5;
    const escapes: number[] = [];
    for (const seed of seeds) {
      const r = await runVerification({
        seed,
        verify: 'adaptive',
        fleet: [...many(8, { kind: 'honest' }), ...many(10, { kind: 'turncoat', after: 30, lies: LIES })],
        jobs: 6,
        inputsPerJob: 500,
        checkInvariants: false,
      });
      escapes.push(1 - r.quarantined.turncoat / 10);
    }
    rows.push(
      row(`turncoats (${LIES} lies) never caught`, 'verify_adaptive_escape_rate_5_lies', escapes, `(bound ${((1 - SPOT_CHECK_RATE) ** LIES).toFixed(2)})`, 3),
    );
  },
);

/** Trivial inputs per round of the bundle-vs-inline comparison (about a second each through one agent). */
const OVERHEAD_INPUTS = 40_000;
await section(
  'blobs',
  `Blobs: one 64 MiB shared file to 10 simulated devices at once (each pulls 1 MiB chunks, 4 in flight), the hub's event-loop lag meanwhile, and a bundled work module vs the same code inline ((x) => x through a hub and one agent with ${THREADS} threads, ${OVERHEAD_INPUTS} inputs, ${ROUNDS} rounds); medians of ${HUB_ROUNDS} rounds unless said (min–max):`,
  async (rows) => {
    const hub = await startHub();
    let agent: ReturnType<typeof startAgent> | null = null;
    const dir = mkdtempSync(join(tmpdir(), 'edgeswarm-bench-bundle-'));
    try {
      const deliveries: Delivery[] = [];
      for (let round = 0; round < HUB_ROUNDS; round++) deliveries.push(await measureDelivery(hub));
      rows.push(row('upload of 64 MiB (one PUT)', 'blob_upload_seconds', deliveries.map((d) => d.uploadSeconds), 's', 2));
      rows.push(row('hub event-loop lag p99, upload', 'blob_upload_lag_p99_ms', deliveries.map((d) => d.uploadLagP99Ms), 'ms', 1));
      rows.push(row('64 MiB to 10 devices', 'blob_delivery_seconds', deliveries.map((d) => d.seconds), 's', 2));
      rows.push(row('bytes delivered, all devices', 'blob_delivery_mib_per_s', deliveries.map((d) => d.mibPerSecond), 'MiB/s'));
      rows.push(row('hub event-loop lag p99', 'blob_hub_lag_p99_ms', deliveries.map((d) => d.lagP99Ms), 'ms (< 50)', 1));
      rows.push(row('hub event-loop lag max', 'blob_hub_lag_max_ms', deliveries.map((d) => d.lagMaxMs), 'ms', 1));

      const { buildWorkModule } = await import('@edgeswarm/client');
      writeFileSync(join(dir, 'identity.js'), 'export default (x) => x;\n');
      const built = await buildWorkModule(join(dir, 'identity.js'));
      const bundle = { bundle: `sha256:${await uploadBlob(hub, built.bytes)}` };
      agent = startAgent(hub);
      await runThroughHub(hub, '(x) => x', 2000, 60_000); // warm-up: threads start on first use
      await runThroughHub(hub, bundle, 2000, 60_000);
      const inline: number[] = [];
      const bundled: number[] = [];
      // Alternating which goes first, so a drift of the machine's speed does not favour either.
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? (['inline', 'bundled'] as const) : (['bundled', 'inline'] as const);
        for (const kind of order) {
          if (kind === 'inline') inline.push(await runThroughHub(hub, '(x) => x', OVERHEAD_INPUTS, 120_000));
          else bundled.push(await runThroughHub(hub, bundle, OVERHEAD_INPUTS, 120_000));
        }
      }
      rows.push(row('inline (x) => x', 'inline_trivial_inputs_per_s', inline, 'inputs/s'));
      rows.push(row('bundled work module, same code', 'bundle_trivial_inputs_per_s', bundled, 'inputs/s'));
      rows.push(row('bundled ÷ inline (same round)', 'bundle_vs_inline_ratio', bundled.map((b, i) => b / (inline[i] ?? NaN)), '(≥ 0.95)', 3));
    } finally {
      await agent?.stop(0);
      await hub.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

const SCALE_DISPATCH_DEVICES = 100;
const median = (values: number[]) => summarise(values).median;
await section(
  'scale',
  `Scale: one SQLite hub, one PostgreSQL hub, two PostgreSQL hubs on one database (devices split between them). Active: ${ACTIVE_DEVICES.toLocaleString('en')} simulated devices run jobs of ${ACTIVE_SUBTASKS.toLocaleString('en')} subtasks as in "active"; dispatch: ${SCALE_DISPATCH_DEVICES} echo devices as in "dispatch"; CPU per subtask of the hubs together and of PostgreSQL's processes; commits (transactions) and WAL flushes per subtask; medians of ${HUB_ROUNDS} rounds (min–max):`,
  async (rows) => {
    const setups: [string, () => Promise<ScaleSetup>][] = [
      ['sqlite1', sqliteSetup],
      ['pg1', () => postgresSetup(1)],
      ['pg2', () => postgresSetup(2)],
    ];
    const wanted = process.env['SCALE_SETUPS']?.split(',');
    const measured = new Map<string, { active: MeasuredRun; dispatch: MeasuredRun }>();
    for (const [key, open] of setups) {
      if (wanted && !wanted.includes(key)) continue;
      console.error(`scale: ${key}…`);
      const setup = await open();
      const fleets: SimFleet[] = [];
      try {
        const share = Math.ceil(ACTIVE_DEVICES / setup.hubs.length);
        for (const hub of setup.hubs) fleets.push(await SimFleet.start({ url: hub.url, count: share, threads: 1, slots: 64, itemMs: ACTIVE_ITEM_MS }));
        const [first] = setup.hubs;
        if (!first) throw new Error('no hub');
        const rates: number[] = [];
        const hubCpu: number[] = [];
        const dbCpu: number[] = [];
        const commits: number[] = [];
        const syncs: number[] = [];
        const commitsPerSecond: number[] = [];
        const callsPerSubtask: number[] = [];
        const writesPerSubtask: number[] = [];
        for (let round = 0; round < HUB_ROUNDS; round++) {
          const cpu0 = hubsCpuMicros(setup);
          const db0 = await setup.database();
          const counts0 = await hubCounts(setup);
          const run = await runRangeJob(first, ACTIVE_SUBTASKS, 300_000);
          // PostgreSQL reports its counters about once a second: wait for this round's to arrive.
          await sleep(1500);
          const db1 = await setup.database();
          const counts1 = await hubCounts(setup);
          callsPerSubtask.push((counts1.calls - counts0.calls) / ACTIVE_SUBTASKS);
          writesPerSubtask.push((counts1.commits - counts0.commits) / ACTIVE_SUBTASKS);
          hubCpu.push((hubsCpuMicros(setup) - cpu0) / ACTIVE_SUBTASKS);
          dbCpu.push((db1.cpuMicros - db0.cpuMicros) / ACTIVE_SUBTASKS);
          commits.push((db1.commits - db0.commits) / ACTIVE_SUBTASKS);
          syncs.push((db1.walSyncs - db0.walSyncs) / ACTIVE_SUBTASKS);
          commitsPerSecond.push((db1.walSyncs - db0.walSyncs) / run.seconds);
          rates.push(run.subtasksPerSecond);
        }
        let disconnects = 0;
        for (const fleet of fleets.splice(0)) {
          const stopped = await fleet.stop();
          if (stopped.errors.length > 0) throw new Error(`simulated devices failed: ${stopped.errors.join('; ')}`);
          disconnects += stopped.disconnects;
        }
        const dispatch: number[] = [];
        const dispatchCpu: number[] = [];
        const dispatchRuns: MeasuredRun[] = [];
        const per = Math.ceil(SCALE_DISPATCH_DEVICES / setup.hubs.length);
        for (let round = 0; round < HUB_ROUNDS; round++) {
          const cpu0 = hubsCpuMicros(setup);
          const db0 = await setup.database();
          const counts0 = await hubCounts(setup);
          const windows = await Promise.all(setup.hubs.map((hub) => measureHubDispatch(hub, per, DISPATCH_WARMUP_MS, DISPATCH_MEASURE_MS)));
          await sleep(1500);
          const db1 = await setup.database();
          const counts1 = await hubCounts(setup);
          const done = counts1.completed - counts0.completed;
          dispatchRuns.push({
            callsPerSubtask: (counts1.calls - counts0.calls) / done,
            hubUs: (hubsCpuMicros(setup) - cpu0) / done,
            pgUs: (db1.cpuMicros - db0.cpuMicros) / done,
          });
          const total = windows.reduce((sum, w) => sum + w.perSecond, 0);
          dispatch.push(total);
          // Each window's CPU is its own hub's; together, weighted by the subtasks each hub did.
          dispatchCpu.push(windows.reduce((sum, w) => sum + w.cpuUsPerOp * w.perSecond, 0) / total);
        }
        measured.set(key, {
          active: { callsPerSubtask: median(callsPerSubtask), hubUs: median(hubCpu), pgUs: median(dbCpu) },
          dispatch: {
            callsPerSubtask: median(dispatchRuns.map((r) => r.callsPerSubtask)),
            hubUs: median(dispatchRuns.map((r) => r.hubUs)),
            pgUs: median(dispatchRuns.map((r) => r.pgUs)),
          },
        });
        rows.push(`${setup.name}:`);
        rows.push(row(`  active subtasks/s, ${ACTIVE_DEVICES} devices`, `scale_${key}_active_subtasks_per_s`, rates, 'subtasks/s'));
        rows.push(row('  hub CPU per subtask (all hubs)', `scale_${key}_hub_cpu_us_per_subtask`, hubCpu, 'µs', 1));
        if (key !== 'sqlite1') {
          rows.push(row('  PostgreSQL CPU per subtask', `scale_${key}_pg_cpu_us_per_subtask`, dbCpu, 'µs', 1));
          rows.push(row('  PostgreSQL WAL flushes per subtask', `scale_${key}_pg_commits_per_subtask`, syncs, '(≤ 0.05)', 4));
          rows.push(row('  PostgreSQL WAL flushes per second', `scale_${key}_pg_commits_per_s`, commitsPerSecond, '/s'));
          rows.push(row('  transactions per subtask (reads too)', `scale_${key}_pg_xacts_per_subtask`, commits, '', 3));
          rows.push(row('  write transactions (group commits) per subtask', `scale_${key}_write_commits_per_subtask`, writesPerSubtask, '', 4));
        }
        rows.push(row('  device calls per subtask', `scale_${key}_calls_per_subtask`, callsPerSubtask, '', 3));
        rows.push(row('  disconnects during the rounds', `scale_${key}_disconnects`, [disconnects], 'disconnects'));
        rows.push(row(`  dispatch subtasks/s, ${SCALE_DISPATCH_DEVICES} devices`, `scale_${key}_dispatch_subtasks_per_s`, dispatch, 'subtasks/s'));
        rows.push(row('  dispatch hub CPU per subtask', `scale_${key}_dispatch_hub_cpu_us_per_subtask`, dispatchCpu, 'µs', 1));
      } finally {
        for (const fleet of fleets) await fleet.stop().catch(() => {});
        await setup.stop();
      }
    }
    const ratio = (a: string, b: string) => (figures[a]?.median ?? NaN) / (figures[b]?.median ?? NaN);
    const pg1 = measured.get('pg1');
    if (pg1) rows.push(...capacityRows(pg1.active, pg1.dispatch));
    rows.push(`one PostgreSQL hub ÷ one SQLite hub, active: ${ratio('scale_pg1_active_subtasks_per_s', 'scale_sqlite1_active_subtasks_per_s').toFixed(2)} (≥ 0.5); two PostgreSQL hubs ÷ one: ${ratio('scale_pg2_active_subtasks_per_s', 'scale_pg1_active_subtasks_per_s').toFixed(2)} (≥ 1.0)`);
  },
);

console.log(`\ntotal: ${((performance.now() - started) / 1000).toFixed(0)} s`);
if (json) console.log(JSON.stringify(figures));
